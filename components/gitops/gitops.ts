import * as github from "@pulumi/github";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { stringify } from "yaml";
import { APP_NAMESPACE_LABEL } from "../../policy/rules";

/** The in-cluster API server, as Argo CD names it. */
export const IN_CLUSTER = "https://kubernetes.default.svc";

/** Retry policy of every Application: 5 attempts, 10s doubling to at most 3 minutes. */
export const SYNC_RETRY = { limit: 5, backoff: { duration: "10s", factor: 2, maxDuration: "3m" } };

/** The kinds the demo-app chart renders, and nothing else, may be synced into app namespaces. */
export const APP_RESOURCE_KINDS = [
  { group: "apps", kind: "Deployment" },
  { group: "", kind: "Service" },
  { group: "", kind: "ServiceAccount" },
  { group: "", kind: "ConfigMap" },
  { group: "policy", kind: "PodDisruptionBudget" },
  { group: "autoscaling", kind: "HorizontalPodAutoscaler" },
  { group: "networking.k8s.io", kind: "NetworkPolicy" },
  { group: "monitoring.coreos.com", kind: "ServiceMonitor" },
];

/** Arguments of {@link GitOps}. */
export interface GitOpsArgs {
  /** Environment name; selects gitops/envs/<env>/. */
  environment: string;
  /** Stack name; part of the deploy key title so keys of different stacks never clash. */
  stack: string;
  /** Repository URL Argo CD reads: SSH (`git@github.com:o/r.git`) with GitHub management, else public HTTPS. */
  repoUrl: string;
  /** Branch or tag Argo CD tracks. */
  revision: string;
  /** Namespace of Argo CD. Default: "argocd". */
  argocdNamespace?: string;
  /** Namespaces the apps deploy into. Default: ["demo-app"]. */
  appNamespaces?: string[];
  /** Path of the app-of-apps chart in the repository. Default: "gitops/apps". */
  appsPath?: string;
  /** GitHub management; omit when disabled (then Argo CD reads the public repository anonymously). */
  github?: {
    /** Repository name (the owner comes from the GitHub provider). */
    repository: string;
    /** Argo CD's public URL; a webhook is registered only when it is reachable from GitHub. */
    argocdPublicUrl?: pulumi.Input<string>;
    /** Shared webhook secret (argocd-secret `webhook.github.secret`). */
    webhookSecret?: pulumi.Input<string>;
  };
  /** The app image; written to gitops/envs/<env>/image.yaml when GitHub is managed. */
  image: {
    repository: pulumi.Input<string>;
    tag: pulumi.Input<string>;
    digest: pulumi.Input<string>;
    /** Time of the commit the image was built from (RFC 3339 UTC), for the lead-time metric. Default: none. */
    commitTime?: string;
  };
  /** Cluster facts for git-side charts, set as annotations on Argo CD's in-cluster cluster Secret. */
  clusterFacts?: Record<string, pulumi.Input<string>>;
  /** The stack's Kubernetes provider. */
  provider: k8s.Provider;
  /** Resources Argo CD objects must wait for (the Argo CD release that installs the CRDs). */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/**
 * Registers the GitOps repository with Argo CD and hands the app to it: a read-only deploy key (GitHub
 * managed) or anonymous HTTPS, the repository and cluster secrets, an AppProject limited to that
 * repository and the app namespaces, the root Application (app-of-apps over gitops/apps), the image
 * reference committed to git and the GitHub webhook.
 */
export class GitOps extends pulumi.ComponentResource {
  public readonly projectName: string;
  public readonly rootApplicationName: string;
  /** Public half of the deploy key (GitHub managed only). */
  public readonly deployPublicKey?: pulumi.Output<string>;
  /** Path of the image values file in the repository. */
  public readonly imageFile: string;

  constructor(name: string, args: GitOpsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:gitops:GitOps", name, {}, opts);
    const namespace = args.argocdNamespace ?? "argocd";
    const appNamespaces = args.appNamespaces ?? ["demo-app"];
    const k8sOpts = { parent: this, provider: args.provider, dependsOn: args.dependsOn };
    this.projectName = args.environment;
    this.rootApplicationName = `${args.environment}-apps`;
    this.imageFile = `gitops/envs/${args.environment}/image.yaml`;

    // App namespaces exist before Argo CD syncs into them: restricted Pod Security, and a default-deny
    // NetworkPolicy that the chart's own policy opens for exactly the traffic the app needs.
    for (const ns of appNamespaces) {
      const appNamespace = new k8s.core.v1.Namespace(
        `${name}-ns-${ns}`,
        {
          metadata: {
            name: ns,
            labels: {
              [APP_NAMESPACE_LABEL]: "true",
              "pod-security.kubernetes.io/enforce": "restricted",
              "pod-security.kubernetes.io/audit": "restricted",
              "pod-security.kubernetes.io/warn": "restricted",
            },
          },
        },
        { parent: this, provider: args.provider },
      );
      new k8s.networking.v1.NetworkPolicy(
        `${name}-default-deny-${ns}`,
        {
          metadata: { name: "default-deny", namespace: appNamespace.metadata.name },
          spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] },
        },
        { parent: this, provider: args.provider },
      );
    }

    let repositoryCredentials: Record<string, pulumi.Input<string>> = {};
    if (args.github) {
      const key = new tls.PrivateKey(`${name}-deploy-key`, { algorithm: "ED25519" }, { parent: this });
      new github.RepositoryDeployKey(
        `${name}-deploy-key`,
        {
          repository: args.github.repository,
          title: `argocd ${args.stack} (${args.environment}) read-only`,
          key: key.publicKeyOpenssh,
          readOnly: true,
        },
        { parent: this, deleteBeforeReplace: true },
      );
      this.deployPublicKey = key.publicKeyOpenssh;
      repositoryCredentials = { sshPrivateKey: pulumi.secret(key.privateKeyOpenssh) };

      // The image reaches Argo CD through git: every deployed version is a commit, rollback is a revert.
      new github.RepositoryFile(
        `${name}-image-file`,
        {
          repository: args.github.repository,
          branch: args.revision,
          file: this.imageFile,
          content: imageValuesFile(args.image),
          commitMessage: pulumi.interpolate`deploy(${args.environment}): ${args.image.repository}:${args.image.tag}`,
          overwriteOnCreate: true,
        },
        { parent: this },
      );

      if (args.github.argocdPublicUrl && args.github.webhookSecret) {
        new github.RepositoryWebhook(
          `${name}-webhook`,
          {
            repository: args.github.repository,
            events: ["push"],
            active: true,
            configuration: {
              url: pulumi.interpolate`${args.github.argocdPublicUrl}/api/webhook`,
              contentType: "json",
              secret: pulumi.secret(args.github.webhookSecret),
              insecureSsl: false,
            },
          },
          { parent: this },
        );
      }
    }

    new k8s.core.v1.Secret(
      `${name}-repository`,
      {
        metadata: {
          name: `${name}-repository`,
          namespace,
          labels: { "argocd.argoproj.io/secret-type": "repository" },
        },
        stringData: { type: "git", url: args.repoUrl, ...repositoryCredentials },
      },
      k8sOpts,
    );

    // gitops-bridge: cluster facts as annotations that ApplicationSets and git-side charts can read.
    new k8s.core.v1.Secret(
      `${name}-in-cluster`,
      {
        metadata: {
          name: "in-cluster",
          namespace,
          labels: { "argocd.argoproj.io/secret-type": "cluster", environment: args.environment },
          annotations: {
            environment: args.environment,
            gitops_repo_url: args.repoUrl,
            gitops_repo_revision: args.revision,
            ...args.clusterFacts,
          },
        },
        stringData: {
          name: "in-cluster",
          server: IN_CLUSTER,
          config: JSON.stringify({ tlsClientConfig: { insecure: false } }),
        },
      },
      k8sOpts,
    );

    const project = new k8s.apiextensions.CustomResource(
      `${name}-project`,
      {
        apiVersion: "argoproj.io/v1alpha1",
        kind: "AppProject",
        metadata: { name: this.projectName, namespace },
        spec: {
          description: `Apps of the ${args.environment} environment, from ${args.repoUrl} only`,
          sourceRepos: [args.repoUrl],
          destinations: [
            ...appNamespaces.map((ns) => ({ server: IN_CLUSTER, namespace: ns })),
            // The app-of-apps renders the child Applications into Argo CD's own namespace.
            { server: IN_CLUSTER, namespace },
          ],
          clusterResourceWhitelist: [{ group: "", kind: "Namespace" }],
          namespaceResourceWhitelist: [...APP_RESOURCE_KINDS, { group: "argoproj.io", kind: "Application" }],
          orphanedResources: { warn: true },
        },
      },
      k8sOpts,
    );

    new k8s.apiextensions.CustomResource(
      `${name}-root`,
      {
        apiVersion: "argoproj.io/v1alpha1",
        kind: "Application",
        metadata: {
          name: this.rootApplicationName,
          namespace,
          // Deleting the root Application deletes what it deployed before Argo CD itself goes.
          finalizers: ["resources-finalizer.argocd.argoproj.io"],
        },
        spec: {
          project: this.projectName,
          source: {
            repoURL: args.repoUrl,
            targetRevision: args.revision,
            path: args.appsPath ?? "gitops/apps",
            helm: {
              valuesObject: {
                env: args.environment,
                repoURL: args.repoUrl,
                targetRevision: args.revision,
                project: this.projectName,
                argocdNamespace: namespace,
                // Without GitHub management nothing commits image.yaml: hand Argo CD the fresh image here.
                ...(args.github ? {} : { imageOverride: args.image }),
              },
            },
          },
          destination: { server: IN_CLUSTER, namespace },
          syncPolicy: {
            automated: { prune: true, selfHeal: true },
            syncOptions: ["CreateNamespace=true", "ServerSideApply=true"],
            retry: SYNC_RETRY,
          },
        },
      },
      { ...k8sOpts, dependsOn: [project] },
    );

    this.registerOutputs({ projectName: this.projectName, rootApplicationName: this.rootApplicationName });
  }
}

/** The image values file Argo CD layers over the env values: repository, tag and the pinning digest. */
export function imageValuesFile(image: GitOpsArgs["image"]): pulumi.Output<string> {
  return pulumi
    .all([image.repository, image.tag, image.digest])
    .apply(
      ([repository, tag, digest]) =>
        `# Written by Pulumi (gitops-platform) on every deploy; do not edit by hand.\n${stringify({ image: { repository, tag, digest, ...(image.commitTime ? { commitTime: image.commitTime } : {}) } })}`,
    );
}

import * as github from "@pulumi/github";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { stringify } from "yaml";
import { APP_NAMESPACE_LABEL } from "../../policy/rules";
import { treeDigest, type GitRepositoryWriter } from "./git-writer";

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
  { group: "networking.k8s.io", kind: "Ingress" },
  { group: "monitoring.coreos.com", kind: "ServiceMonitor" },
  { group: "external-secrets.io", kind: "ExternalSecret" },
  // Progressive delivery (Argo Rollouts): the workload in staging and prod, and its analysis.
  { group: "argoproj.io", kind: "Rollout" },
  { group: "argoproj.io", kind: "AnalysisTemplate" },
];

/**
 * The marker in every image commit's message. deploy.yml skips a push whose head commit carries it, on
 * top of ignoring pushes that only touch image files: an image commit never starts a deploy.
 */
export const IMAGE_COMMIT_MARKER = "[image-commit]";

/** The branch the image file of an environment is committed to (Argo CD reads it as the `$values` source). */
export const imageBranch = (environment: string) => `deploy/${environment}`;

/** Name of the image pull secret in every app namespace (GHCR). */
export const IMAGE_PULL_SECRET = "image-pull";

/** An AppProject that admits nothing: no source, no destination, no kind. */
export const LOCKED_PROJECT_SPEC = {
  description: "Locked by gitops-platform: use the environment's projects",
  sourceRepos: [],
  destinations: [],
  clusterResourceWhitelist: [],
  namespaceResourceWhitelist: [],
  // An empty namespaced whitelist means "any kind" to Argo CD; the blacklist says none.
  namespaceResourceBlacklist: [{ group: "*", kind: "*" }],
};

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
  /**
   * Registry credentials for pulling the app image (GHCR with a read:packages token): a
   * kubernetes.io/dockerconfigjson Secret in every app namespace, named in the image values. Default:
   * none (ECR pulls through the node role, the local registry needs none).
   */
  imagePullCredentials?: { registry: string; username: pulumi.Input<string>; password: pulumi.Input<string> };
  /** The app image; committed to gitops/envs/<env>/image.yaml through `writer`, on `imageBranch`. */
  image: {
    repository: pulumi.Input<string>;
    tag: pulumi.Input<string>;
    digest: pulumi.Input<string>;
    /** Time of the last commit that changed the app's source (RFC 3339 UTC), for the lead-time metric. Default: none. */
    commitTime?: string;
  };
  /**
   * Where the image came from when this stack did not build it, named in the image commit's message
   * before the marker, e.g. `promoted from staging`. Default: none (built by this stack).
   */
  imageOrigin?: string;
  /**
   * Writes the image file (and `pushTree`) to the repository: GitHub's API or the local git server.
   * Omit where nothing may write (a fork read anonymously): Argo CD then deploys the image the
   * repository's own image.yaml names. Default: none.
   */
  writer?: GitRepositoryWriter;
  /** Branch the image file is committed to. Default: `revision`. */
  imageBranch?: string;
  /**
   * A working-tree directory pushed as `gitops/` before the image file, for a repository that Pulumi
   * fills itself (the local git server starts empty). Needs `writer`. Default: none.
   */
  pushTree?: { sourceDir: string };
  /**
   * Values the platform hands every app chart (gitops/apps `appValues`), e.g. the app's ingress host and
   * load balancer annotations: facts of the platform, not of git. Default: none.
   */
  appValues?: pulumi.Input<Record<string, unknown>>;
  /** Cluster facts for git-side charts, set as annotations on Argo CD's in-cluster cluster Secret. */
  clusterFacts?: Record<string, pulumi.Input<string>>;
  /** The stack's Kubernetes provider. */
  provider: k8s.Provider;
  /** Resources Argo CD objects must wait for (the Argo CD release that installs the CRDs). */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/**
 * Registers the GitOps repository with Argo CD and hands the app to it: a read-only deploy key (GitHub
 * managed) or anonymous HTTPS, the repository and cluster secrets, two AppProjects (the bootstrap
 * project of the root Application: Applications in Argo CD's namespace only; the app project: the app
 * namespaces and the app's kinds only) with `default` locked, the root Application (app-of-apps over
 * gitops/apps), the image reference committed (through a {@link GitRepositoryWriter}) to the environment's
 * deploy/<env> branch, the image pull
 * secret where the registry needs one, and the GitHub webhook.
 */
export class GitOps extends pulumi.ComponentResource {
  /** The app project: app namespaces and the app's kinds only. */
  public readonly projectName: string;
  /** The bootstrap project of the root Application: Applications in the Argo CD namespace only. */
  public readonly bootstrapProjectName: string;
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
    this.bootstrapProjectName = `${args.environment}-bootstrap`;
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
      if (args.imagePullCredentials) {
        const { registry, username, password } = args.imagePullCredentials;
        new k8s.core.v1.Secret(
          `${name}-image-pull-${ns}`,
          {
            metadata: { name: IMAGE_PULL_SECRET, namespace: appNamespace.metadata.name },
            type: "kubernetes.io/dockerconfigjson",
            stringData: {
              ".dockerconfigjson": pulumi.secret(
                pulumi.all([username, password]).apply(([user, token]) =>
                  JSON.stringify({
                    auths: {
                      [registry]: { auth: Buffer.from(`${user}:${token}`).toString("base64") },
                    },
                  }),
                ),
              ),
            },
          },
          { parent: this, provider: args.provider },
        );
      }
    }
    const imagePullSecrets = args.imagePullCredentials ? [{ name: IMAGE_PULL_SECRET }] : [];

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

    // The image reaches Argo CD through git: every deployed version is a commit, rollback is a revert.
    // On GitHub it goes to the environment's own branch (created from the tracked revision on first
    // write), so a protected main never takes a bot commit; Argo CD reads it there as the $values source.
    const imageBranchName = args.imageBranch ?? args.revision;
    const commits: pulumi.Resource[] = [];
    if (args.pushTree && !args.writer) throw new Error(`${name}: pushTree needs a writer`);
    if (args.writer) {
      if (args.pushTree) {
        const keep = [`envs/${args.environment}/image.yaml`];
        const digest = treeDigest(args.pushTree.sourceDir, keep).slice(0, 12);
        commits.push(
          args.writer.commit(
            `${name}-gitops-tree`,
            {
              branch: args.revision,
              message: `gitops: gitops/ from the working tree (${digest})`,
              // The image file belongs to the commit below; the tree never resets it to the placeholder.
              change: { tree: "gitops", sourceDir: args.pushTree.sourceDir, keep },
            },
            { parent: this },
          ),
        );
      }
      commits.push(
        args.writer.commit(
          `${name}-image-file`,
          {
            branch: imageBranchName,
            createFrom: args.revision,
            message: imageCommitMessage(args.environment, args.image, args.imageOrigin),
            change: { file: this.imageFile, content: imageValuesFile(args.image, imagePullSecrets) },
          },
          { parent: this, dependsOn: commits.slice() },
        ),
      );
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

    const appProject = new k8s.apiextensions.CustomResource(
      `${name}-project`,
      {
        apiVersion: "argoproj.io/v1alpha1",
        kind: "AppProject",
        metadata: { name: this.projectName, namespace },
        spec: {
          description: `Apps of the ${args.environment} environment, from ${args.repoUrl} only`,
          sourceRepos: [args.repoUrl],
          // Never Argo CD's own namespace, and no cluster-scoped kind: the namespaces are Pulumi's.
          destinations: appNamespaces.map((ns) => ({ server: IN_CLUSTER, namespace: ns })),
          clusterResourceWhitelist: [],
          namespaceResourceWhitelist: APP_RESOURCE_KINDS,
          orphanedResources: { warn: true },
        },
      },
      k8sOpts,
    );
    const bootstrapProject = new k8s.apiextensions.CustomResource(
      `${name}-bootstrap-project`,
      {
        apiVersion: "argoproj.io/v1alpha1",
        kind: "AppProject",
        metadata: { name: this.bootstrapProjectName, namespace },
        spec: {
          description: `The root Application of ${args.environment}: Applications in ${namespace}, nothing else`,
          sourceRepos: [args.repoUrl],
          destinations: [{ server: IN_CLUSTER, namespace }],
          clusterResourceWhitelist: [],
          namespaceResourceWhitelist: [{ group: "argoproj.io", kind: "Application" }],
        },
      },
      k8sOpts,
    );
    // Argo CD creates `default` allowing everything; an Application naming it could deploy anywhere.
    // Pulumi takes the fields over (server-side apply, forced) and empties them.
    new k8s.apiextensions.CustomResourcePatch(
      `${name}-default-project`,
      {
        apiVersion: "argoproj.io/v1alpha1",
        kind: "AppProject",
        metadata: { name: "default", namespace, annotations: { "pulumi.com/patchForce": "true" } },
        spec: LOCKED_PROJECT_SPEC,
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
          project: this.bootstrapProjectName,
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
                ...(args.appValues ? { appValues: args.appValues } : {}),
                // The image values come from the environment's branch when it is not the tracked one.
                ...(imageBranchName !== args.revision ? { imageRevision: imageBranchName } : {}),
              },
            },
          },
          destination: { server: IN_CLUSTER, namespace },
          syncPolicy: {
            automated: { prune: true, selfHeal: true },
            // Argo CD's namespace exists (the bootstrap project may not create namespaces).
            syncOptions: ["ServerSideApply=true"],
            retry: SYNC_RETRY,
          },
        },
      },
      // Argo CD first sees the repository once it holds the tree and the image file.
      { ...k8sOpts, dependsOn: [appProject, bootstrapProject, ...commits] },
    );

    this.registerOutputs({
      projectName: this.projectName,
      bootstrapProjectName: this.bootstrapProjectName,
      rootApplicationName: this.rootApplicationName,
    });
  }
}

/**
 * The image values file Argo CD layers over the env values: repository, tag, the pinning digest and the
 * source's commit time, and the pull secret where the registry needs one.
 */
export function imageValuesFile(
  image: GitOpsArgs["image"],
  imagePullSecrets: { name: string }[] = [],
): pulumi.Output<string> {
  return pulumi.all([image.repository, image.tag, image.digest]).apply(([repository, tag, digest]) => {
    const values = {
      image: { repository, tag, digest, ...(image.commitTime ? { commitTime: image.commitTime } : {}) },
      ...(imagePullSecrets.length ? { imagePullSecrets } : {}),
    };
    return `# Written by Pulumi (gitops-platform) on every deploy; do not edit by hand.\n${stringify(values)}`;
  });
}

/**
 * The image commit's message: `deploy(<env>): <repository>:<tag>@<digest>`, then where the image came
 * from when this stack did not build it (`promoted from staging`), the marker last.
 */
export function imageCommitMessage(
  environment: string,
  image: GitOpsArgs["image"],
  origin?: string,
): pulumi.Output<string> {
  const note = origin ? ` ${origin}` : "";
  return pulumi.interpolate`deploy(${environment}): ${image.repository}:${image.tag}@${image.digest}${note} ${IMAGE_COMMIT_MARKER}`;
}

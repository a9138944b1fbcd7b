import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { APP_NAMESPACE_LABEL } from "../../policy/rules";
import { addonNamespace, pinnedRelease, type ChartSource } from "./helm-release";

export const POLICY_CONTROLLER_CHART: ChartSource = {
  repo: "https://sigstore.github.io/helm-charts",
  chart: "policy-controller",
};
export const POLICY_CONTROLLER_NAMESPACE = "cosign-system";
/** The OIDC issuer of GitHub Actions tokens: the identity Fulcio certifies for keyless signatures. */
export const GITHUB_ACTIONS_ISSUER = "https://token.actions.githubusercontent.com";
/** Sigstore's public-good Fulcio and Rekor, where the workflow's keyless signatures are recorded. */
const FULCIO_URL = "https://fulcio.sigstore.dev";
const REKOR_URL = "https://rekor.sigstore.dev";

/**
 * The certificate subject of a keyless signature made by `workflowFile` of `owner/repo` on `ref`, as a
 * regular expression anchored at both ends (Fulcio's SAN is the workflow's job_workflow_ref).
 */
export function workflowSubjectRegExp(
  owner: string,
  repo: string,
  workflowFile = "deploy.yml",
  ref = "refs/heads/main",
): string {
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return `^${escape(`https://github.com/${owner}/${repo}/.github/workflows/${workflowFile}@${ref}`)}$`;
}

/** The policy-controller chart values this component sets (charts/policy-controller/values.yaml at 0.10.6). */
export interface PolicyControllerValues {
  webhook: {
    namespaceSelector: { matchExpressions: Array<{ key: string; operator: "In"; values: string[] }> };
    /** config-policy-controller: images no ClusterImagePolicy matches are refused. */
    configData: { "no-match-policy": "deny" };
    failurePolicy: "Fail";
    replicaCount: number;
    podDisruptionBudget: { enabled: boolean; minAvailable: number };
  };
  serviceMonitor: { enabled: boolean };
}

/** Arguments of {@link ImageSignatureVerification}. */
export interface ImageSignatureVerificationArgs {
  /** Exact policy-controller chart version (config `policyControllerChartVersion`). */
  chartVersion: string;
  /** Repository of the stack's app image; signatures are required for everything under its registry path. */
  imageRepository: pulumi.Input<string>;
  /** The GitHub repository whose deploy workflow signs the images: the only identity trusted. */
  signer: { owner: string; repository: string };
  /** Webhook replicas (2 keeps admission available through a node drain). Default: 1. */
  replicas?: number;
  /** The release installing the Prometheus Operator CRDs: the metrics ServiceMonitor is on. Default: none. */
  monitoringCrds?: pulumi.Resource;
  /** The stack's Kubernetes provider. */
  provider: k8s.Provider;
  /** Resources the install waits for (the cluster). Default: none. */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/**
 * Signature verification at admission: sigstore's policy-controller, active in the app namespaces, and
 * one ClusterImagePolicy that admits images of the stack's registry only with a keyless cosign signature
 * from this repository's deploy workflow on main (issuer GitHub Actions, subject pinned by regexp).
 */
export class ImageSignatureVerification extends pulumi.ComponentResource {
  public readonly release: k8s.helm.v3.Release;
  /** Name of the ClusterImagePolicy. */
  public readonly policyName = "gitops-platform-signed-images";

  constructor(name: string, args: ImageSignatureVerificationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:addons:ImageSignatureVerification", name, {}, opts);
    const namespace = addonNamespace(`${name}-ns`, {
      name: POLICY_CONTROLLER_NAMESPACE,
      podSecurity: "baseline",
      provider: args.provider,
      parent: this,
    });
    const replicas = args.replicas ?? 1;
    const values: PolicyControllerValues = {
      webhook: {
        namespaceSelector: {
          matchExpressions: [{ key: APP_NAMESPACE_LABEL, operator: "In", values: ["true"] }],
        },
        configData: { "no-match-policy": "deny" },
        failurePolicy: "Fail",
        replicaCount: replicas,
        podDisruptionBudget: { enabled: replicas > 1, minAvailable: 1 },
      },
      serviceMonitor: { enabled: args.monitoringCrds !== undefined },
    };
    this.release = pinnedRelease(`${name}-release`, {
      source: POLICY_CONTROLLER_CHART,
      version: args.chartVersion,
      releaseName: "policy-controller",
      namespace: namespace.metadata.name,
      values,
      provider: args.provider,
      parent: this,
      dependsOn: args.dependsOn,
      monitoringCrds: args.monitoringCrds,
    });

    new k8s.apiextensions.CustomResource(
      `${name}-policy`,
      {
        apiVersion: "policy.sigstore.dev/v1beta1",
        kind: "ClusterImagePolicy",
        metadata: { name: this.policyName },
        spec: {
          mode: "enforce",
          images: [
            {
              glob: pulumi.output(args.imageRepository).apply((r) => `${r.slice(0, r.lastIndexOf("/"))}/**`),
            },
          ],
          authorities: [
            {
              name: "deploy-workflow",
              keyless: {
                url: FULCIO_URL,
                identities: [
                  {
                    issuer: GITHUB_ACTIONS_ISSUER,
                    subjectRegExp: workflowSubjectRegExp(args.signer.owner, args.signer.repository),
                  },
                ],
              },
              ctlog: { url: REKOR_URL },
            },
          ],
        },
      },
      { parent: this, provider: args.provider, dependsOn: [this.release] },
    );
    this.registerOutputs({ policyName: this.policyName });
  }
}

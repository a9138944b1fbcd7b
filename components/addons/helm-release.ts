import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

/** A Pod Security Standard level (Pod Security Admission). */
export type PodSecurityLevel = "privileged" | "baseline" | "restricted";

/** How an add-on's UI is reached from outside the cluster. */
export type Exposure =
  | { type: "NodePort"; /** Port on the nodes, published on 127.0.0.1 by kind. */ nodePort: number }
  | { type: "LoadBalancer" };

/** Annotations of a Service for an internet-facing AWS Network Load Balancer (in-tree AWS cloud provider). */
export const NLB_ANNOTATIONS: Record<string, string> = {
  "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
};

/** Where a chart comes from. */
export interface ChartSource {
  /** Helm repository URL. */
  repo: string;
  /** Chart name in that repository. */
  chart: string;
}

const EXACT_VERSION = /^\d+\.\d+\.\d+$/;
const STRICTER: Record<PodSecurityLevel, PodSecurityLevel> = {
  privileged: "baseline",
  baseline: "restricted",
  restricted: "restricted",
};

/**
 * The namespace of an add-on, with Pod Security Admission labels: `enforce` at the given level, `audit`
 * and `warn` one level stricter, so what would break under a tighter policy shows up before it does.
 */
export function addonNamespace(
  resourceName: string,
  args: { name: string; podSecurity: PodSecurityLevel; provider: k8s.Provider; parent: pulumi.Resource },
  opts?: Pick<pulumi.CustomResourceOptions, "dependsOn">,
): k8s.core.v1.Namespace {
  const stricter = STRICTER[args.podSecurity];
  return new k8s.core.v1.Namespace(
    resourceName,
    {
      metadata: {
        name: args.name,
        labels: {
          "pod-security.kubernetes.io/enforce": args.podSecurity,
          "pod-security.kubernetes.io/audit": stricter,
          "pod-security.kubernetes.io/warn": stricter,
        },
      },
    },
    { parent: args.parent, provider: args.provider, dependsOn: opts?.dependsOn },
  );
}

/** Arguments of {@link pinnedRelease}. */
export interface PinnedReleaseArgs<V extends object> {
  /** The chart's repository and name. */
  source: ChartSource;
  /** Exact chart version (1.2.3); anything else throws. */
  version: string;
  /** Helm release name; the chart derives its object names from it. */
  releaseName: string;
  /** Namespace to install into; pass the Namespace resource's name so the release waits for it. */
  namespace: pulumi.Input<string>;
  /** Chart values. */
  values: pulumi.Input<V>;
  /** The values carry credentials: the whole values object becomes a Pulumi secret. Default: false. */
  secretValues?: boolean;
  /** Seconds Helm waits for the release to become ready before rolling back. Default: 600. */
  timeoutSeconds?: number;
  /** The stack's Kubernetes provider. */
  provider: k8s.Provider;
  /** The component the release belongs to. */
  parent: pulumi.Resource;
  /** Resources the install waits for (the cluster, a release whose CRDs this chart uses). Default: none. */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/**
 * The one way this program installs a Helm chart: an exact version from a named repository, waited for
 * (`skipAwait: false`), atomic (a failed install or upgrade rolls back) and cleaned up on failure, into
 * an explicitly created namespace, through the stack's provider.
 */
export function pinnedRelease<V extends object>(
  resourceName: string,
  args: PinnedReleaseArgs<V>,
): k8s.helm.v3.Release {
  if (!EXACT_VERSION.test(args.version)) {
    throw new Error(
      `${args.source.chart}: chart version must be exact like 1.2.3 (got ${JSON.stringify(args.version)})`,
    );
  }
  const values = args.secretValues ? pulumi.secret(args.values) : pulumi.output(args.values);
  return new k8s.helm.v3.Release(
    resourceName,
    {
      name: args.releaseName,
      chart: args.source.chart,
      version: args.version,
      repositoryOpts: { repo: args.source.repo },
      namespace: args.namespace,
      createNamespace: false,
      values: values as pulumi.Output<Record<string, unknown>>,
      timeout: args.timeoutSeconds ?? 600,
      atomic: true,
      cleanupOnFail: true,
      skipAwait: false,
      maxHistory: 10,
    },
    { parent: args.parent, provider: args.provider, dependsOn: args.dependsOn },
  );
}

/**
 * The hostname AWS gives a release's LoadBalancer Service, read back once the release is installed.
 * The read waits for the release's status; in the first preview that is unknown and the read is skipped.
 */
export function loadBalancerHostname(
  resourceName: string,
  release: k8s.helm.v3.Release,
  serviceName: string,
  provider: k8s.Provider,
  parent: pulumi.Resource,
): pulumi.Output<string> {
  const service = k8s.core.v1.Service.get(
    resourceName,
    pulumi.interpolate`${release.status.namespace}/${serviceName}`,
    { parent, provider },
  );
  return service.status.loadBalancer.ingress.apply(
    (ingress) => ingress?.[0]?.hostname ?? ingress?.[0]?.ip ?? "pending",
  );
}

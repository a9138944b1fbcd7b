import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

/** A Pod Security Standard level (Pod Security Admission). */
export type PodSecurityLevel = "privileged" | "baseline" | "restricted";

/** How an add-on's UI is reached from outside the cluster. */
export type Exposure =
  | { type: "NodePort"; /** Port on the nodes, published on 127.0.0.1 by kind. */ nodePort: number }
  | {
      /** An Ingress on an AWS Application Load Balancer, HTTPS at the load balancer (EKS). */
      type: "Ingress";
      /** Public hostname, e.g. argocd.<domain>. */
      host: string;
      /** The load balancer annotations (components/addons/alb-ingress.ts). */
      annotations: pulumi.Input<Record<string, string>>;
    };

/** The URL of an exposed UI. */
export function exposureUrl(exposure: Exposure): string {
  return exposure.type === "NodePort" ? `http://localhost:${exposure.nodePort}` : `https://${exposure.host}`;
}

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
  /** The release installing the Prometheus Operator CRDs the chart's ServiceMonitors need; the install waits for it too. Default: none. */
  monitoringCrds?: pulumi.Resource;
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
  // Not wrapped otherwise: nested secrets (a password inside the values) stay the only masked parts.
  const values = args.secretValues ? pulumi.secret(args.values) : args.values;
  return new k8s.helm.v3.Release(
    resourceName,
    {
      name: args.releaseName,
      chart: args.source.chart,
      version: args.version,
      repositoryOpts: { repo: args.source.repo },
      namespace: args.namespace,
      createNamespace: false,
      values: values as pulumi.Input<Record<string, unknown>>,
      timeout: args.timeoutSeconds ?? 600,
      atomic: true,
      cleanupOnFail: true,
      skipAwait: false,
      maxHistory: 10,
    },
    {
      parent: args.parent,
      provider: args.provider,
      dependsOn: [...(args.dependsOn ?? []), ...(args.monitoringCrds ? [args.monitoringCrds] : [])],
    },
  );
}

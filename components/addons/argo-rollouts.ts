import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { addonNamespace, pinnedRelease, type ChartSource } from "./helm-release";

export const ARGO_ROLLOUTS_CHART: ChartSource = {
  repo: "https://argoproj.github.io/argo-helm",
  chart: "argo-rollouts",
};

/** Arguments of {@link ArgoRollouts}. */
export interface ArgoRolloutsArgs {
  /** Exact argo-rollouts chart version (config `argoRolloutsChartVersion`). */
  chartVersion: string;
  /** Namespace of the controller. Default: "argo-rollouts". */
  namespace?: string;
  /** Two controller replicas (leader election) and a PodDisruptionBudget. Default: false (one replica). */
  highAvailability?: boolean;
  /** The release installing the Prometheus Operator CRDs: the controller's ServiceMonitor is on and the install waits for it. Default: none (no ServiceMonitor). */
  monitoringCrds?: pulumi.Resource;
  /** Resources the install waits for, typically the cluster with its nodes. Default: none. */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
  /** The stack's Kubernetes provider. */
  provider: k8s.Provider;
}

/** The argo-rollouts chart values this component sets (charts/argo-rollouts/values.yaml). */
export interface ArgoRolloutsValues {
  installCRDs: boolean;
  keepCRDs: boolean;
  controller: {
    replicas: number;
    pdb: { enabled: boolean; minAvailable?: number };
    resources: { requests: Record<string, string>; limits: Record<string, string> };
    metrics: { enabled: boolean; serviceMonitor: { enabled: boolean } };
  };
  dashboard: { enabled: boolean };
  providerRBAC: { enabled: boolean; providers: Record<string, boolean> };
}

/** Traffic routers the chart can grant the controller RBAC for; only the ALB's is used here. */
const TRAFFIC_PROVIDERS = [
  "istio",
  "smi",
  "ambassador",
  "awsLoadBalancerController",
  "awsAppMesh",
  "traefik",
  "apisix",
  "contour",
  "glooPlatform",
  "gatewayAPI",
] as const;

/**
 * Argo Rollouts from the pinned argo-rollouts chart: the controller that runs the app's Rollouts
 * (canary and blue-green) and their AnalysisRuns, with its CRDs (kept on uninstall, so Rollouts are never
 * deleted with the controller), metrics scraped through a ServiceMonitor, RBAC only for the ALB router.
 */
export class ArgoRollouts extends pulumi.ComponentResource {
  public readonly namespace: pulumi.Output<string>;
  public readonly release: k8s.helm.v3.Release;

  constructor(name: string, args: ArgoRolloutsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:addons:ArgoRollouts", name, {}, opts);
    const namespace = addonNamespace(`${name}-ns`, {
      name: args.namespace ?? "argo-rollouts",
      // The chart's controller runs non-root, read-only, drop ALL, RuntimeDefault seccomp.
      podSecurity: "restricted",
      provider: args.provider,
      parent: this,
    });
    this.release = pinnedRelease(`${name}-release`, {
      source: ARGO_ROLLOUTS_CHART,
      version: args.chartVersion,
      releaseName: "argo-rollouts",
      namespace: namespace.metadata.name,
      values: argoRolloutsValues({
        highAvailability: args.highAvailability ?? false,
        serviceMonitor: args.monitoringCrds !== undefined,
      }),
      provider: args.provider,
      parent: this,
      dependsOn: args.dependsOn,
      monitoringCrds: args.monitoringCrds,
    });
    this.namespace = namespace.metadata.name;
    this.registerOutputs({ namespace: this.namespace });
  }
}

/** The values of the argo-rollouts chart for the given settings. */
export function argoRolloutsValues(settings: {
  highAvailability: boolean;
  serviceMonitor: boolean;
}): ArgoRolloutsValues {
  const ha = settings.highAvailability;
  return {
    installCRDs: true,
    keepCRDs: true,
    controller: {
      replicas: ha ? 2 : 1,
      pdb: { enabled: ha, ...(ha ? { minAvailable: 1 } : {}) },
      resources: { requests: { cpu: "50m", memory: "128Mi" }, limits: { cpu: "500m", memory: "512Mi" } },
      metrics: { enabled: true, serviceMonitor: { enabled: settings.serviceMonitor } },
    },
    // Rollouts are watched in Argo CD and Grafana (dashboards/argo-rollouts.json); no extra UI to expose.
    dashboard: { enabled: false },
    providerRBAC: {
      enabled: true,
      providers: Object.fromEntries(TRAFFIC_PROVIDERS.map((p) => [p, p === "awsLoadBalancerController"])),
    },
  };
}

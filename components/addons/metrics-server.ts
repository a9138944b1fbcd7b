import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { pinnedRelease, type ChartSource } from "./helm-release";

export const METRICS_SERVER_CHART: ChartSource = {
  repo: "https://kubernetes-sigs.github.io/metrics-server",
  chart: "metrics-server",
};

/** Arguments of {@link MetricsServer}. */
export interface MetricsServerArgs {
  /** Exact chart version (config `metricsServerChartVersion`). */
  chartVersion: string;
  /** Two replicas and a PodDisruptionBudget, so the HPA keeps its metrics through node drains. Default: false. */
  highAvailability?: boolean;
  provider: k8s.Provider;
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/**
 * metrics-server: serves the resource metrics API (metrics.k8s.io) that HorizontalPodAutoscalers and
 * `kubectl top` read; without it the app's HPA never acts.
 */
export class MetricsServer extends pulumi.ComponentResource {
  public readonly release: k8s.helm.v3.Release;

  constructor(name: string, args: MetricsServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:addons:MetricsServer", name, {}, opts);
    const ha = args.highAvailability ?? false;
    this.release = pinnedRelease(`${name}-release`, {
      source: METRICS_SERVER_CHART,
      version: args.chartVersion,
      releaseName: "metrics-server",
      namespace: "kube-system",
      values: {
        replicas: ha ? 2 : 1,
        podDisruptionBudget: ha ? { enabled: true, minAvailable: 1 } : { enabled: false },
      },
      provider: args.provider,
      parent: this,
      dependsOn: args.dependsOn,
    });
    this.registerOutputs({});
  }
}

import * as pulumi from "@pulumi/pulumi";
import { ArgoCD } from "./components/addons/argocd";
import { createBackup } from "./components/addons/backup";
import { createCluster } from "./components/cluster/cluster";
import { loadPlatformConfig } from "./components/config";
import { createGitHubResources } from "./components/github/github-wiring";
import { GitOps } from "./components/gitops/gitops";
import type { Exposure } from "./components/addons/helm-release";
import { APP_DIR, createAppImage } from "./components/image/image-registry";
import { commitTime } from "./components/image/image-tag";
import { Monitoring } from "./components/addons/monitoring";
import { platformRuleGroups } from "./components/addons/alert-rules";
import { createLogs, LOG_LINES_METRIC } from "./components/addons/logs";
import { createTraces } from "./components/addons/traces";

/**
 * gitops-platform: one program from laptop to production.
 *
 *   1. config     every key validated once (components/config.ts)
 *   2. cluster    kind (dev) or EKS (staging, prod), and the one Kubernetes provider
 *   3. image      the app built and pushed, pinned by digest
 *   4. add-ons    in parallel once the cluster is up: Monitoring (kube-prometheus-stack + Grafana),
 *                 Argo CD, Backup (Velero), Logs (Loki + Alloy) and Traces (Tempo); only their
 *                 ServiceMonitors wait for the Prometheus CRDs
 *   5. GitHub     Actions environment, variables and OIDC role (when githubEnabled)
 *   6. GitOps     repository, AppProject and root Application; the image reference committed to git
 */
export = async () => {
  const config = loadPlatformConfig();
  const cluster = await createCluster(config);
  const appImage = await createAppImage(config, cluster);

  const kind = config.cluster.provider === "kind" ? config.cluster : undefined;
  const exposure = (nodePort: number | undefined): Exposure =>
    nodePort === undefined ? { type: "LoadBalancer" } : { type: "NodePort", nodePort };
  const addonOptions = {
    provider: cluster.provider,
    // The component waits for every resource of the cluster: nodes, storage driver, registry.
    dependsOn: [cluster as unknown as pulumi.Resource],
  };
  const storageClass = kind ? "standard" : "gp2";
  const monitoring = new Monitoring(`${config.cluster.name}-monitoring`, {
    ...addonOptions,
    dashboardConstants: {
      slo_availability: String(config.slo.availability),
      slo_latency_ratio: String(config.slo.latency.ratio),
    },
    alertRules: platformRuleGroups({
      slo: config.slo,
      appNamespaces: config.gitops.appNamespaces,
      logLinesMetric: LOG_LINES_METRIC,
    }),
    chartVersions: { kubePrometheusStack: config.charts.kubePrometheusStack, grafana: config.charts.grafana },
    retention: config.addons.prometheus.retention,
    storageGiB: config.addons.prometheus.storageGiB,
    storageClass,
    // kind nodes are containers: the host's / is not a shared mount there.
    hostRootFsMount: !kind,
    grafanaExposure: exposure(kind?.ports.grafana),
  });
  const argocd = new ArgoCD(`${config.cluster.name}-argocd`, {
    ...addonOptions,
    chartVersion: config.charts.argocd,
    highAvailability: config.addons.argocdHighAvailability,
    exposure: exposure(kind?.ports.argocd),
    url: kind
      ? `http://localhost:${kind.ports.argocd}`
      : config.github.enabled
        ? config.github.argocdPublicUrl
        : undefined,
    // GitHub cannot reach a kind cluster: poll git every minute instead of waiting for webhooks.
    reconciliationTimeout: kind ? "60s" : undefined,
    monitoringCrds: monitoring.prometheusStack,
  });
  const backup = await createBackup(config, cluster, {
    ...addonOptions,
    monitoringCrds: monitoring.prometheusStack,
  });

  const logs = await createLogs(config, cluster, {
    ...addonOptions,
    storageClass,
    grafanaNamespace: monitoring.namespace,
    monitoringCrds: monitoring.prometheusStack,
  });
  const traces = await createTraces(config, cluster, {
    ...addonOptions,
    storageClass,
    grafanaNamespace: monitoring.namespace,
  });

  const gitHub = await createGitHubResources(config, cluster);

  const gitops = new GitOps(
    `${config.cluster.name}-gitops`,
    {
      environment: config.environment,
      stack: config.stack,
      repoUrl: config.gitops.repoUrl,
      revision: config.gitops.revision,
      appNamespaces: [...config.gitops.appNamespaces],
      github: config.github.enabled
        ? {
            repository: config.github.repository,
            argocdPublicUrl: config.github.argocdPublicUrl,
            webhookSecret: argocd.webhookSecret,
          }
        : undefined,
      image: {
        repository: appImage.repository,
        tag: appImage.tag,
        digest: appImage.digest,
        commitTime: commitTime(APP_DIR),
      },
      clusterFacts: {
        cluster_name: cluster.clusterName,
        cluster_provider: config.cluster.provider,
        ...(config.cluster.provider === "eks" ? { aws_region: config.cluster.region } : {}),
        backup_bucket: backup.bucket,
      },
      provider: cluster.provider,
      // Argo CD's CRDs must exist before its Applications; on destroy, Applications go first.
      dependsOn: [argocd.release],
    },
    gitHub ? { providers: [gitHub.provider] } : undefined,
  );

  return {
    environment: config.environment,
    clusterProvider: config.cluster.provider,
    clusterName: cluster.clusterName,
    kubeconfig: pulumi.secret(cluster.kubeconfig),
    appImage: appImage.ref,
    appImageTag: appImage.tag,
    gitopsRepoUrl: config.gitops.repoUrl,
    gitopsRevision: config.gitops.revision,
    argocdProject: gitops.projectName,
    argocdRootApplication: gitops.rootApplicationName,
    argocdUrl: argocd.url,
    argocdAdminPassword: argocd.adminPassword,
    grafanaUrl: monitoring.grafanaUrl,
    grafanaAdminPassword: monitoring.grafanaAdminPassword,
    prometheusUrl: monitoring.prometheusUrl,
    backupBucket: backup.bucket,
    lokiUrl: logs.lokiUrl,
    logsBucket: logs.bucket,
    tempoOtlpUrl: traces.otlpHttpUrl,
    tracesBucket: traces.bucket,
    ...(gitHub?.actionsRoleArn ? { githubActionsRoleArn: gitHub.actionsRoleArn } : {}),
  };
};

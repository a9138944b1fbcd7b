import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { PlatformCluster } from "../cluster/kubernetes-provider";
import type { PlatformConfig } from "../config";
import { addonNamespace, pinnedRelease, type ChartSource } from "./helm-release";
import { DATASOURCE_UIDS, grafanaDatasource, type GrafanaDatasource } from "./monitoring";
import {
  createObjectStorage,
  releaseOnObjectStorage,
  irsaAnnotations,
  s3Endpoint,
  type ObjectStorage,
  type ResolvedStorage,
} from "./object-storage";

/** The OSS Loki chart moved from grafana/loki (now Enterprise Logs only) to grafana-community/helm-charts. */
export const LOKI_CHART: ChartSource = {
  repo: "https://grafana-community.github.io/helm-charts",
  chart: "loki",
};
/** Alloy's chart lives in grafana/alloy and is published to grafana.github.io/helm-charts. */
export const ALLOY_CHART: ChartSource = { repo: "https://grafana.github.io/helm-charts", chart: "alloy" };

export const LOKI_NAMESPACE = "loki";
/** Loki's release name; the chart names its service account and Service after it. */
export const LOKI_RELEASE = "loki";
export const LOKI_URL = `http://${LOKI_RELEASE}.${LOKI_NAMESPACE}.svc:3100`;
export const ALLOY_NAMESPACE = "alloy";
/** Alloy counts every log line it ships under this name (loki.process stage.metrics, default prefix). */
export const LOG_LINES_METRIC = "loki_process_custom_log_lines_total";
/** Name of the Secret with the local S3 server's keys, read by Loki through its environment (kind only). */
const LOKI_S3_SECRET = "loki-s3";

/** Arguments of {@link Logs}. */
export interface LogsArgs {
  /** Exact chart versions (config `lokiChartVersion`, `alloyChartVersion`). */
  chartVersions: { loki: string; alloy: string };
  /** Loki's object storage: a bucket on the kind S3 server, or S3 through IRSA. */
  storage: ObjectStorage;
  /** Days Loki keeps logs (config `logRetentionDays`). */
  retentionDays: number;
  /** Namespaces whose JSON log lines get a `level` label (the app namespaces, config `appNamespaces`). */
  appNamespaces: readonly string[];
  /** Storage class of Loki's volume (its write-ahead log and index cache). */
  storageClass: string;
  /** Grafana's namespace: the Loki datasource goes there. */
  grafanaNamespace: pulumi.Input<string>;
  /** The release installing the Prometheus Operator CRDs: Alloy's ServiceMonitor needs them. */
  monitoringCrds: pulumi.Resource;
  /** Resources the installs wait for, typically the cluster. Default: none. */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
  /** The stack's Kubernetes provider. */
  provider: k8s.Provider;
}

/**
 * Logs: Loki in monolithic (single binary) mode on object storage with compactor retention, Grafana Alloy as
 * a DaemonSet shipping every pod's log files of its node and the cluster's events, and Grafana's Loki
 * datasource with links from a log line's trace_id to its trace in Tempo.
 */
export class Logs extends pulumi.ComponentResource {
  public readonly loki: k8s.helm.v3.Release;
  public readonly alloy: k8s.helm.v3.Release;
  /** Loki's HTTP API as the cluster's pods reach it. */
  public readonly lokiUrl: pulumi.Output<string>;
  public readonly bucket: pulumi.Output<string>;

  constructor(name: string, args: LogsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:addons:Logs", name, {}, opts);
    const common = { provider: args.provider, parent: this };
    const storage = args.storage;

    // Loki's pods run as non-root without host access (the chart's defaults include seccomp RuntimeDefault).
    const lokiNamespace = addonNamespace(`${name}-loki-ns`, {
      name: LOKI_NAMESPACE,
      podSecurity: "baseline",
      ...common,
    });
    this.loki = releaseOnObjectStorage(`${name}-loki`, {
      source: LOKI_CHART,
      version: args.chartVersions.loki,
      releaseName: LOKI_RELEASE,
      namespace: lokiNamespace.metadata.name,
      storage,
      credentials: {
        resourceName: `${name}-loki-s3`,
        secretName: LOKI_S3_SECRET,
        env: { accessKey: "S3_ACCESS_KEY_ID", secretKey: "S3_SECRET_ACCESS_KEY" },
      },
      values: (bucket, resolvedStorage) =>
        lokiValues({
          bucket,
          storage: resolvedStorage,
          retentionDays: args.retentionDays,
          storageClass: args.storageClass,
        }),
      dependsOn: args.dependsOn,
      ...common,
    });

    // hostPath volumes (/var/log, the node's pod log files) are forbidden below the privileged level.
    const alloyNamespace = addonNamespace(`${name}-alloy-ns`, {
      name: ALLOY_NAMESPACE,
      podSecurity: "privileged",
      ...common,
    });
    this.alloy = pinnedRelease(`${name}-alloy`, {
      source: ALLOY_CHART,
      version: args.chartVersions.alloy,
      releaseName: "alloy",
      namespace: alloyNamespace.metadata.name,
      values: alloyValues({ lokiUrl: LOKI_URL, appNamespaces: args.appNamespaces }),
      dependsOn: [...(args.dependsOn ?? []), args.monitoringCrds],
      ...common,
    });

    grafanaDatasource(`${name}-datasource`, {
      datasource: lokiDatasource(LOKI_URL),
      grafanaNamespace: args.grafanaNamespace,
      ...common,
    });

    this.lokiUrl = pulumi.output(LOKI_URL);
    this.bucket = pulumi.output(storage.bucket);
    this.registerOutputs({ lokiUrl: this.lokiUrl, bucket: this.bucket });
  }
}

/** The loki chart values this component sets (charts/loki/values.yaml of grafana-community/helm-charts). */
export interface LokiValues {
  deploymentMode: "Monolithic";
  loki: {
    auth_enabled: boolean;
    commonConfig: { replication_factor: number };
    schemaConfig: { configs: Array<Record<string, unknown>> };
    storage: {
      type: "s3";
      bucketNames: { chunks: string; ruler: string; admin: string };
      s3: Record<string, string | boolean | null>;
    };
    limits_config: { retention_period: string };
    compactor: { retention_enabled: boolean; delete_request_store: "s3" };
  };
  singleBinary: {
    replicas: number;
    sidecar: boolean;
    extraEnvFrom: Array<{ secretRef: { name: string } }>;
    persistence: { enabled: boolean; size: string; storageClass: string };
  };
  serviceAccount: { create: boolean; annotations: Record<string, string> };
  rbac: { namespaced: boolean };
  sidecar: { rules: { enabled: boolean } };
  gateway: { enabled: boolean };
  chunksCache: { enabled: boolean };
  resultsCache: { enabled: boolean };
  lokiCanary: { enabled: boolean };
  test: { enabled: boolean };
  ruler: { enabled: boolean };
  minio: { enabled: boolean };
  backend: { replicas: number };
  read: { replicas: number };
  write: { replicas: number };
}

/** The values of the loki chart for the given settings. */
export function lokiValues(settings: {
  bucket: string;
  storage: ResolvedStorage;
  retentionDays: number;
  storageClass: string;
}): LokiValues {
  const s = settings.storage;
  const local = s.provider === "local-s3" ? s3Endpoint(s.s3Url) : undefined;
  return {
    deploymentMode: "Monolithic",
    loki: {
      // One tenant: no X-Scope-OrgID needed by Alloy or Grafana.
      auth_enabled: false,
      commonConfig: { replication_factor: 1 },
      schemaConfig: {
        configs: [
          {
            from: "2024-04-01",
            store: "tsdb",
            object_store: "s3",
            schema: "v13",
            index: { prefix: "loki_index_", period: "24h" },
          },
        ],
      },
      storage: {
        type: "s3",
        bucketNames: { chunks: settings.bucket, ruler: settings.bucket, admin: settings.bucket },
        s3: local
          ? {
              region: s.region,
              endpoint: local.host,
              insecure: local.insecure,
              s3ForcePathStyle: true,
              // Expanded by Loki (the chart passes -config.expand-env) from the Secret, not in the ConfigMap.
              accessKeyId: "${S3_ACCESS_KEY_ID}",
              secretAccessKey: "${S3_SECRET_ACCESS_KEY}",
            }
          : // IRSA: the AWS SDK picks up the web identity token of the service account.
            { region: s.region, s3ForcePathStyle: false, insecure: false },
      },
      limits_config: { retention_period: `${settings.retentionDays * 24}h` },
      // The compactor deletes chunks past the retention period.
      compactor: { retention_enabled: true, delete_request_store: "s3" },
    },
    singleBinary: {
      replicas: 1,
      // No Loki ruler: the error-log alert is a Prometheus rule on Alloy's line counter.
      sidecar: false,
      extraEnvFrom: local
        ? [{ secretRef: { name: s.provider === "local-s3" ? s.credentialsSecret : "" } }]
        : [],
      persistence: { enabled: true, size: "10Gi", storageClass: settings.storageClass },
    },
    serviceAccount: { create: true, annotations: irsaAnnotations(s) },
    // No rules sidecar, and with it no ClusterRole reading every ConfigMap and Secret of the cluster.
    rbac: { namespaced: true },
    sidecar: { rules: { enabled: false } },
    // Alloy and Grafana talk to Loki's Service directly; no nginx gateway, no memcached, no canaries.
    gateway: { enabled: false },
    chunksCache: { enabled: false },
    resultsCache: { enabled: false },
    lokiCanary: { enabled: false },
    test: { enabled: false },
    ruler: { enabled: false },
    minio: { enabled: false },
    // The simple-scalable targets default to 3 replicas each; the chart refuses both modes at once.
    backend: { replicas: 0 },
    read: { replicas: 0 },
    write: { replicas: 0 },
  };
}

/** The alloy chart values this component sets (operations/helm/charts/alloy/values.yaml of grafana/alloy). */
export interface AlloyValues {
  alloy: {
    configMap: { create: boolean; content: string };
    clustering: { enabled: boolean };
    mounts: { varlog: boolean; dockercontainers: boolean };
    enableReporting: boolean;
    securityContext: Record<string, unknown>;
  };
  controller: { type: "daemonset" };
  rbac: {
    create: boolean;
    rules: Array<Record<string, string[]>>;
    clusterRules: Array<Record<string, string[]>>;
  };
  serviceMonitor: { enabled: boolean };
}

/** The values of the alloy chart: a DaemonSet reading /var/log/pods of its node, events by one instance. */
export function alloyValues(settings: { lokiUrl: string; appNamespaces: readonly string[] }): AlloyValues {
  return {
    alloy: {
      configMap: { create: true, content: alloyConfig(settings) },
      // Clustered, so that exactly one instance watches the cluster's events.
      clustering: { enabled: true },
      mounts: { varlog: true, dockercontainers: false },
      enableReporting: false,
      // Root (the log files are root's, mode 0640) but without capabilities or privilege escalation.
      securityContext: {
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] },
        seccompProfile: { type: "RuntimeDefault" },
      },
    },
    controller: { type: "daemonset" },
    // Only what the pipeline reads, instead of the chart's default (which includes every Secret). Both
    // lists end up in one ClusterRole and neither may be empty (the chart would render invalid YAML).
    rbac: {
      create: true,
      rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] }],
      clusterRules: [{ apiGroups: [""], resources: ["events"], verbs: ["get", "list", "watch"] }],
    },
    // Its metrics carry the log line counter the error-log alert reads.
    serviceMonitor: { enabled: true },
  };
}

/** Alloy's pipeline (Alloy configuration syntax). */
export function alloyConfig(settings: { lokiUrl: string; appNamespaces: readonly string[] }): string {
  const appNamespaces = settings.appNamespaces.join("|");
  return `// Written by Pulumi (gitops-platform, components/addons/logs.ts).
discovery.kubernetes "pods" {
  role = "pod"
  selectors {
    role  = "pod"
    field = "spec.nodeName=" + sys.env("HOSTNAME")
  }
}

discovery.relabel "pods" {
  targets = discovery.kubernetes.pods.targets
  rule {
    source_labels = ["__meta_kubernetes_namespace"]
    target_label  = "namespace"
  }
  rule {
    source_labels = ["__meta_kubernetes_pod_name"]
    target_label  = "pod"
  }
  rule {
    source_labels = ["__meta_kubernetes_pod_container_name"]
    target_label  = "container"
  }
  rule {
    source_labels = ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]
    target_label  = "app"
  }
  rule {
    source_labels = ["__meta_kubernetes_pod_uid", "__meta_kubernetes_pod_container_name"]
    separator     = "/"
    target_label  = "__path__"
    replacement   = "/var/log/pods/*$1/*.log"
  }
}

local.file_match "pods" {
  path_targets = discovery.relabel.pods.output
}

loki.source.file "pods" {
  targets    = local.file_match.pods.targets
  forward_to = [loki.process.pods.receiver]
}

loki.process "pods" {
  stage.cri { }
  stage.label_drop {
    values = ["filename"]
  }
  // The apps log JSON (pino): their level becomes a label, 50 is error and 60 fatal.
  stage.match {
    selector = "{namespace=~\\"${appNamespaces}\\"}"
    stage.json {
      expressions = { level = "" }
    }
    stage.labels {
      values = { level = "" }
    }
  }
  stage.metrics {
    metric.counter {
      name        = "log_lines_total"
      description = "Log lines shipped to Loki, by namespace, pod, container, app and level."
      match_all   = true
      action      = "inc"
    }
  }
  forward_to = [loki.write.default.receiver]
}

loki.source.kubernetes_events "cluster" {
  job_name   = "kubernetes-events"
  log_format = "logfmt"
  forward_to = [loki.write.default.receiver]
  clustering {
    enabled = true
  }
}

loki.write "default" {
  endpoint {
    url = "${settings.lokiUrl}/loki/api/v1/push"
  }
}
`;
}

/** Grafana's Loki datasource: a log line's trace_id links to the trace in Tempo. */
export function lokiDatasource(url: string): GrafanaDatasource {
  return {
    name: "Loki",
    type: "loki",
    uid: DATASOURCE_UIDS.loki,
    url,
    access: "proxy",
    jsonData: {
      maxLines: 1000,
      derivedFields: [
        {
          name: "TraceID",
          matcherRegex: '"trace_id":"([0-9a-f]{32})"',
          datasourceUid: DATASOURCE_UIDS.tempo,
          url: "${__value.raw}",
          urlDisplayLabel: "View trace",
        },
      ],
    },
  };
}

/** Creates the stack's Logs, with Loki's bucket on the kind S3 server or in S3 with an IRSA role. */
export async function createLogs(
  config: PlatformConfig,
  cluster: PlatformCluster,
  options: Pick<LogsArgs, "grafanaNamespace" | "monitoringCrds" | "storageClass" | "dependsOn">,
): Promise<Logs> {
  const name = `${config.cluster.name}-logs`;
  const storage = await createObjectStorage(config, cluster, {
    name: `${name}-storage`,
    localBucket: "loki",
    bucketPrefix: `${config.cluster.name}-loki-`,
    retentionDays: config.addons.logs.retentionDays,
    serviceAccount: { namespace: LOKI_NAMESPACE, name: LOKI_RELEASE },
    description: "Loki",
  });
  return new Logs(name, {
    chartVersions: { loki: config.charts.loki, alloy: config.charts.alloy },
    storage,
    retentionDays: config.addons.logs.retentionDays,
    appNamespaces: config.gitops.appNamespaces,
    provider: cluster.provider,
    ...options,
  });
}

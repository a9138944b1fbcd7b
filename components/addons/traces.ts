import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { PlatformCluster } from "../cluster/kubernetes-provider";
import type { PlatformConfig } from "../config";
import { addonNamespace, type ChartSource } from "./helm-release";
import { DATASOURCE_UIDS, grafanaDatasource, type GrafanaDatasource } from "./monitoring";
import {
  createObjectStorage,
  releaseOnObjectStorage,
  irsaAnnotations,
  s3Endpoint,
  type ObjectStorage,
  type ResolvedStorage,
} from "./object-storage";

/** The single-binary tempo chart moved from grafana/helm-charts to grafana-community/helm-charts. */
export const TEMPO_CHART: ChartSource = {
  repo: "https://grafana-community.github.io/helm-charts",
  chart: "tempo",
};
export const TEMPO_NAMESPACE = "tempo";
/** Tempo's release name; the chart names its service account and Service after it. */
export const TEMPO_RELEASE = "tempo";
/** Tempo's query API (Grafana) and its OTLP/HTTP receiver (the apps' OTEL_EXPORTER_OTLP_ENDPOINT). */
export const TEMPO_URL = `http://${TEMPO_RELEASE}.${TEMPO_NAMESPACE}.svc:3200`;
export const TEMPO_OTLP_HTTP_URL = `http://${TEMPO_RELEASE}.${TEMPO_NAMESPACE}.svc:4318`;
const TEMPO_S3_SECRET = "tempo-s3";

/** Arguments of {@link Traces}. */
export interface TracesArgs {
  /** Exact tempo chart version (config `tempoChartVersion`). */
  chartVersion: string;
  /** Tempo's object storage: a bucket on the kind S3 server, or S3 through IRSA. */
  storage: ObjectStorage;
  /** Days Tempo keeps traces (config `traceRetentionDays`). */
  retentionDays: number;
  /** Storage class of Tempo's write-ahead log volume. */
  storageClass: string;
  /** Grafana's namespace: the Tempo datasource goes there. */
  grafanaNamespace: pulumi.Input<string>;
  /** Resources the install waits for, typically the cluster. Default: none. */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
  /** The stack's Kubernetes provider. */
  provider: k8s.Provider;
}

/**
 * Traces: Tempo (single binary) receiving OTLP over HTTP and gRPC, keeping blocks in object storage for the
 * configured days, and Grafana's Tempo datasource with links from a span to its service's logs in Loki.
 */
export class Traces extends pulumi.ComponentResource {
  public readonly release: k8s.helm.v3.Release;
  /** Where apps send spans: OTLP over HTTP. */
  public readonly otlpHttpUrl: pulumi.Output<string>;
  public readonly bucket: pulumi.Output<string>;

  constructor(name: string, args: TracesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:addons:Traces", name, {}, opts);
    const common = { provider: args.provider, parent: this };
    const storage = args.storage;

    // Tempo runs as a non-root user without host access.
    const namespace = addonNamespace(`${name}-ns`, {
      name: TEMPO_NAMESPACE,
      podSecurity: "baseline",
      ...common,
    });
    this.release = releaseOnObjectStorage(`${name}-release`, {
      source: TEMPO_CHART,
      version: args.chartVersion,
      releaseName: TEMPO_RELEASE,
      namespace: namespace.metadata.name,
      storage,
      credentials: {
        resourceName: `${name}-s3`,
        secretName: TEMPO_S3_SECRET,
        env: { accessKey: "S3_ACCESS_KEY", secretKey: "S3_SECRET_KEY" },
      },
      values: (bucket, resolvedStorage) =>
        tempoValues({
          bucket,
          storage: resolvedStorage,
          retentionDays: args.retentionDays,
          storageClass: args.storageClass,
        }),
      dependsOn: args.dependsOn,
      ...common,
    });

    grafanaDatasource(`${name}-datasource`, {
      datasource: tempoDatasource(TEMPO_URL),
      grafanaNamespace: args.grafanaNamespace,
      ...common,
    });

    this.otlpHttpUrl = pulumi.output(TEMPO_OTLP_HTTP_URL);
    this.bucket = pulumi.output(storage.bucket);
    this.registerOutputs({ otlpHttpUrl: this.otlpHttpUrl, bucket: this.bucket });
  }
}

/** The tempo chart values this component sets (charts/tempo/values.yaml of grafana-community/helm-charts). */
export interface TempoValues {
  tempo: {
    retention: string;
    reportingEnabled: boolean;
    storage: {
      trace: {
        backend: "s3";
        s3: Record<string, string | boolean>;
        wal: { path: string };
      };
    };
    receivers: {
      otlp: { protocols: { grpc: { endpoint: string }; http: { endpoint: string } } };
    };
    extraArgs: Record<string, string>;
    extraEnvFrom: Array<{ secretRef: { name: string } }>;
  };
  serviceAccount: { create: boolean; annotations: Record<string, string> };
  persistence: { enabled: boolean; size: string; storageClassName: string };
}

/** The values of the tempo chart for the given settings. */
export function tempoValues(settings: {
  bucket: string;
  storage: ResolvedStorage;
  retentionDays: number;
  storageClass: string;
}): TempoValues {
  const s = settings.storage;
  const local = s.provider === "local-s3" ? s3Endpoint(s.s3Url) : undefined;
  return {
    tempo: {
      retention: `${settings.retentionDays * 24}h`,
      reportingEnabled: false,
      storage: {
        trace: {
          backend: "s3",
          s3: local
            ? {
                bucket: settings.bucket,
                endpoint: local.host,
                region: s.region,
                insecure: local.insecure,
                forcepathstyle: true,
                // Expanded by Tempo (-config.expand-env) from the Secret: the keys never enter the ConfigMap.
                access_key: "${S3_ACCESS_KEY}",
                secret_key: "${S3_SECRET_KEY}",
              }
            : // IRSA: the AWS SDK picks up the web identity token of the service account.
              { bucket: settings.bucket, endpoint: `s3.${s.region}.amazonaws.com`, region: s.region },
          wal: { path: "/var/tempo/wal" },
        },
      },
      // OTLP only (the chart's default also opens Jaeger's ports).
      receivers: {
        otlp: { protocols: { grpc: { endpoint: "0.0.0.0:4317" }, http: { endpoint: "0.0.0.0:4318" } } },
      },
      extraArgs: local ? { "config.expand-env": "true" } : {},
      extraEnvFrom: local
        ? [{ secretRef: { name: s.provider === "local-s3" ? s.credentialsSecret : "" } }]
        : [],
    },
    serviceAccount: { create: true, annotations: irsaAnnotations(s) },
    persistence: { enabled: true, size: "10Gi", storageClassName: settings.storageClass },
  };
}

/** Grafana's Tempo datasource: from a span to the logs of its trace in Loki, and a service graph. */
export function tempoDatasource(url: string): GrafanaDatasource {
  return {
    name: "Tempo",
    type: "tempo",
    uid: DATASOURCE_UIDS.tempo,
    url,
    access: "proxy",
    jsonData: {
      tracesToLogsV2: {
        datasourceUid: DATASOURCE_UIDS.loki,
        // The span's service.name is the app's pod label app.kubernetes.io/name, Alloy's `app` label.
        tags: [{ key: "service.name", value: "app" }],
        filterByTraceID: true,
        spanStartTimeShift: "-5m",
        spanEndTimeShift: "5m",
      },
      lokiSearch: { datasourceUid: DATASOURCE_UIDS.loki },
      nodeGraph: { enabled: true },
    },
  };
}

/** Creates the stack's Traces, with Tempo's bucket on the kind S3 server or in S3 with an IRSA role. */
export async function createTraces(
  config: PlatformConfig,
  cluster: PlatformCluster,
  options: Pick<TracesArgs, "grafanaNamespace" | "storageClass" | "dependsOn">,
): Promise<Traces> {
  const name = `${config.cluster.name}-traces`;
  const storage = await createObjectStorage(config, cluster, {
    name: `${name}-storage`,
    localBucket: "tempo",
    bucketPrefix: `${config.cluster.name}-tempo-`,
    retentionDays: config.addons.traces.retentionDays,
    serviceAccount: { namespace: TEMPO_NAMESPACE, name: TEMPO_RELEASE },
    description: "Tempo",
  });
  return new Traces(name, {
    chartVersion: config.charts.tempo,
    storage,
    retentionDays: config.addons.traces.retentionDays,
    provider: cluster.provider,
    ...options,
  });
}

import * as fs from "node:fs";
import * as path from "node:path";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { ALERT_RULE_GROUPS, type AlertRuleGroup } from "./alert-rules";
import { ALB_INGRESS_CLASS } from "./alb-ingress";
import { addonNamespace, exposureUrl, pinnedRelease, type ChartSource, type Exposure } from "./helm-release";

export const KUBE_PROMETHEUS_STACK_CHART: ChartSource = {
  repo: "https://prometheus-community.github.io/helm-charts",
  chart: "kube-prometheus-stack",
};
/** The grafana chart moved to the grafana-community organisation (the grafana/helm-charts copy stopped at 10.5.x). */
export const GRAFANA_CHART: ChartSource = {
  repo: "https://grafana-community.github.io/helm-charts",
  chart: "grafana",
};
/**
 * The image of the chart's CRD upgrade job's unpacking step (the kubectl step follows the cluster's
 * version). The chart's default is busybox:latest.
 */
// renovate: datasource=docker depName=busybox
export const CRD_UPGRADE_BUSYBOX_TAG = "1.37.0";
/** Grafana dashboards kept as code, one JSON file each. */
export const DASHBOARDS_DIR = path.resolve(__dirname, "..", "..", "dashboards");
/** Labels Grafana's sidecars watch for (the charts' defaults, set explicitly on both sides). */
export const DASHBOARD_LABEL = { name: "grafana_dashboard", value: "1" };
export const DATASOURCE_LABEL = { name: "grafana_datasource", value: "1" };
/** Uids of the provisioned datasources, which dashboards and cross-links name. */
export const DATASOURCE_UIDS = { prometheus: "prometheus", loki: "loki", tempo: "tempo" } as const;

/** Arguments of {@link Monitoring}. */
export interface MonitoringArgs {
  /** Exact chart versions (config `kubePrometheusStackChartVersion`, `grafanaChartVersion`). */
  chartVersions: { kubePrometheusStack: string; grafana: string };
  /** Namespace of Prometheus, Alertmanager and Grafana. Default: "monitoring". */
  namespace?: string;
  /** How long Prometheus keeps metrics, e.g. "7d". */
  retention: string;
  /** Size of the Prometheus volume in GiB; a retention size of 85% of it applies too. */
  storageGiB: number;
  /** Storage class of the Prometheus volume. Default: none, an emptyDir (data lost with the pod). */
  storageClass?: string;
  /** The node filesystem collector mounts the host's / (kind on Docker Desktop cannot). Default: true. */
  hostRootFsMount?: boolean;
  /** NodePort on kind, an ALB Ingress (HTTPS at the load balancer) on EKS. */
  grafanaExposure: Exposure;
  /** Values of the dashboards' constant variables (the SLO objectives), by variable name. Default: none. */
  dashboardConstants?: Record<string, string>;
  /** Alerting rules. Default: the platform's ({@link ALERT_RULE_GROUPS}). */
  alertRules?: AlertRuleGroup[];
  /** Resources the installs wait for, typically the cluster with its nodes and storage. Default: none. */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
  /** The stack's Kubernetes provider. */
  provider: k8s.Provider;
}

/** The kube-prometheus-stack chart values this component sets (charts/kube-prometheus-stack/values.yaml). */
export interface KubePrometheusStackValues {
  fullnameOverride: string;
  crds: { upgradeJob: { enabled: boolean; image: { busybox: { tag: string } } } };
  grafana: {
    enabled: false;
    forceDeployDashboards: boolean;
    forceDeployDatasources: boolean;
    sidecar: {
      dashboards: { label: string; labelValue: string };
      datasources: {
        label: string;
        labelValue: string;
        defaultDatasourceEnabled: boolean;
        isDefaultDatasource: boolean;
        uid: string;
        url: string;
      };
    };
  };
  kubeControllerManager: { enabled: boolean };
  kubeScheduler: { enabled: boolean };
  kubeEtcd: { enabled: boolean };
  kubeProxy: { enabled: boolean };
  "prometheus-node-exporter": { hostRootFsMount: { enabled: boolean } };
  prometheus: {
    prometheusSpec: {
      retention: string;
      retentionSize: string;
      serviceMonitorSelectorNilUsesHelmValues: boolean;
      podMonitorSelectorNilUsesHelmValues: boolean;
      ruleSelectorNilUsesHelmValues: boolean;
      probeSelectorNilUsesHelmValues: boolean;
      scrapeConfigSelectorNilUsesHelmValues: boolean;
      storageSpec?: {
        volumeClaimTemplate: {
          spec: {
            storageClassName: string;
            accessModes: string[];
            resources: { requests: { storage: string } };
          };
        };
      };
    };
  };
  additionalPrometheusRulesMap: Record<string, { groups: AlertRuleGroup[] }>;
}

/** The grafana chart values this component sets (charts/grafana/values.yaml). */
export interface GrafanaValues {
  admin: { existingSecret: pulumi.Input<string>; userKey: string; passwordKey: string };
  service: { type: string; nodePort?: number };
  ingress?: {
    enabled: boolean;
    ingressClassName: string;
    hosts: string[];
    path: string;
    pathType: string;
    annotations: pulumi.Input<Record<string, string>>;
  };
  "grafana.ini"?: { server: { root_url: string } };
  sidecar: {
    dashboards: { enabled: boolean; label: string; labelValue: string };
    datasources: { enabled: boolean; label: string; labelValue: string };
  };
  persistence: { enabled: boolean };
  testFramework: { enabled: boolean };
}

/** kube-prometheus-stack's release name; its Prometheus Service is <name>-prometheus. */
const STACK_RELEASE = "kube-prometheus-stack";
const GRAFANA_RELEASE = "grafana";

/**
 * Metrics, alerts and dashboards: kube-prometheus-stack (Prometheus, Alertmanager, node exporter,
 * kube-state-metrics, the platform's alert rules) picking up every ServiceMonitor and rule in the
 * cluster, and the Grafana chart with its sidecars loading the stack's datasource and dashboards plus the
 * platform's own (dashboards/*.json). Grafana's admin password is generated and kept in a Secret.
 */
export class Monitoring extends pulumi.ComponentResource {
  public readonly namespace: pulumi.Output<string>;
  /** The kube-prometheus-stack release: what ServiceMonitor and PrometheusRule users must wait for. */
  public readonly prometheusStack: k8s.helm.v3.Release;
  public readonly grafana: k8s.helm.v3.Release;
  /** Prometheus as the cluster's pods reach it. */
  public readonly prometheusUrl: pulumi.Output<string>;
  /** Grafana's `admin` password; a secret output. */
  public readonly grafanaAdminPassword: pulumi.Output<string>;
  /** URL of Grafana: http://localhost:<nodePort> on kind, https://grafana.<domain> on EKS. */
  public readonly grafanaUrl: pulumi.Output<string>;

  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:addons:Monitoring", name, {}, opts);
    const namespaceName = args.namespace ?? "monitoring";
    const prometheusUrl = `http://${STACK_RELEASE}-prometheus.${namespaceName}.svc:9090`;
    const common = { provider: args.provider, parent: this };

    // node exporter needs the host's network, PIDs and filesystem.
    const namespace = addonNamespace(`${name}-ns`, {
      name: namespaceName,
      podSecurity: "privileged",
      ...common,
    });

    this.prometheusStack = pinnedRelease(`${name}-kube-prometheus-stack`, {
      source: KUBE_PROMETHEUS_STACK_CHART,
      version: args.chartVersions.kubePrometheusStack,
      releaseName: STACK_RELEASE,
      namespace: namespace.metadata.name,
      values: kubePrometheusStackValues({ ...args, prometheusUrl }),
      timeoutSeconds: 900,
      dependsOn: args.dependsOn,
      ...common,
    });

    const password = new random.RandomPassword(
      `${name}-grafana-admin-password`,
      { length: 24, special: false },
      { parent: this },
    );
    const adminSecret = new k8s.core.v1.Secret(
      `${name}-grafana-admin`,
      {
        metadata: { name: "grafana-admin", namespace: namespace.metadata.name },
        type: "Opaque",
        stringData: pulumi.secret({ "admin-user": "admin", "admin-password": password.result }),
      },
      { parent: this, provider: args.provider },
    );
    for (const file of dashboardFiles()) {
      const id = path.basename(file, ".json");
      new k8s.core.v1.ConfigMap(
        `${name}-dashboard-${id}`,
        {
          metadata: {
            name: `dashboard-${id}`,
            namespace: namespace.metadata.name,
            labels: { [DASHBOARD_LABEL.name]: DASHBOARD_LABEL.value },
          },
          data: { [`${id}.json`]: dashboardJson(file, args.dashboardConstants ?? {}) },
        },
        { parent: this, provider: args.provider },
      );
    }
    this.grafana = pinnedRelease(`${name}-grafana`, {
      source: GRAFANA_CHART,
      version: args.chartVersions.grafana,
      releaseName: GRAFANA_RELEASE,
      namespace: namespace.metadata.name,
      values: grafanaValues({ existingSecret: adminSecret.metadata.name, exposure: args.grafanaExposure }),
      dependsOn: args.dependsOn,
      ...common,
    });

    this.namespace = namespace.metadata.name;
    this.prometheusUrl = pulumi.output(prometheusUrl);
    this.grafanaAdminPassword = pulumi.secret(password.result);
    this.grafanaUrl = pulumi.output(exposureUrl(args.grafanaExposure));

    this.registerOutputs({
      namespace: this.namespace,
      prometheusUrl: this.prometheusUrl,
      grafanaAdminPassword: this.grafanaAdminPassword,
      grafanaUrl: this.grafanaUrl,
    });
  }
}

/** A Grafana datasource as its provisioning file declares it. */
export interface GrafanaDatasource {
  name: string;
  type: string;
  uid: string;
  url: string;
  access: "proxy";
  jsonData?: Record<string, unknown>;
}

/**
 * A datasource for Grafana's sidecar: a ConfigMap with the sidecar's label in Grafana's namespace, holding a
 * provisioning file (`$` is written `$$`: Grafana expands environment variables in provisioning files).
 */
export function grafanaDatasource(
  resourceName: string,
  args: {
    datasource: GrafanaDatasource;
    grafanaNamespace: pulumi.Input<string>;
    provider: k8s.Provider;
    parent: pulumi.Resource;
  },
): k8s.core.v1.ConfigMap {
  const file = JSON.stringify({ apiVersion: 1, datasources: [args.datasource] }, null, 2).replace(
    /\$/g,
    "$$$$",
  );
  return new k8s.core.v1.ConfigMap(
    resourceName,
    {
      metadata: {
        name: `datasource-${args.datasource.uid}`,
        namespace: args.grafanaNamespace,
        labels: { [DATASOURCE_LABEL.name]: DATASOURCE_LABEL.value },
      },
      data: { [`${args.datasource.uid}.yaml`]: file },
    },
    { parent: args.parent, provider: args.provider },
  );
}

/** A dashboard file with its constant variables set to the given values (the rest as written). */
export function dashboardJson(file: string, constants: Record<string, string>): string {
  const dashboard = JSON.parse(fs.readFileSync(file, "utf8")) as {
    templating?: { list?: Array<{ name: string; type: string; query?: unknown }> };
  };
  for (const variable of dashboard.templating?.list ?? []) {
    const value = constants[variable.name];
    if (variable.type === "constant" && value !== undefined) variable.query = value;
  }
  return JSON.stringify(dashboard, null, 2);
}

/** The dashboard files Grafana loads. */
export function dashboardFiles(): string[] {
  return fs
    .readdirSync(DASHBOARDS_DIR)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => path.join(DASHBOARDS_DIR, f));
}

/** The values of kube-prometheus-stack for the given settings. */
export function kubePrometheusStackValues(
  settings: Pick<
    MonitoringArgs,
    "retention" | "storageGiB" | "storageClass" | "hostRootFsMount" | "alertRules"
  > & {
    prometheusUrl: string;
  },
): KubePrometheusStackValues {
  return {
    fullnameOverride: STACK_RELEASE,
    // Helm installs CRDs once and never upgrades them; the chart's pre-upgrade job applies the chart's
    // Prometheus Operator CRDs server-side, so a chart bump brings its CRDs along.
    crds: { upgradeJob: { enabled: true, image: { busybox: { tag: CRD_UPGRADE_BUSYBOX_TAG } } } },
    // Grafana comes from its own chart; the stack still ships its dashboards and datasource to its sidecars.
    grafana: {
      enabled: false,
      forceDeployDashboards: true,
      forceDeployDatasources: true,
      sidecar: {
        dashboards: { label: DASHBOARD_LABEL.name, labelValue: DASHBOARD_LABEL.value },
        datasources: {
          label: DATASOURCE_LABEL.name,
          labelValue: DATASOURCE_LABEL.value,
          defaultDatasourceEnabled: true,
          isDefaultDatasource: true,
          // The platform's dashboards select this uid.
          uid: DATASOURCE_UIDS.prometheus,
          url: settings.prometheusUrl,
        },
      },
    },
    // Managed (EKS) or loopback-bound (kind) control-plane components cannot be scraped: no false alarms.
    kubeControllerManager: { enabled: false },
    kubeScheduler: { enabled: false },
    kubeEtcd: { enabled: false },
    kubeProxy: { enabled: false },
    "prometheus-node-exporter": { hostRootFsMount: { enabled: settings.hostRootFsMount ?? true } },
    prometheus: {
      prometheusSpec: {
        retention: settings.retention,
        retentionSize: `${Math.floor(settings.storageGiB * 0.85)}GB`,
        // false: select every ServiceMonitor, PodMonitor, rule, probe and scrape config, not only this release's.
        serviceMonitorSelectorNilUsesHelmValues: false,
        podMonitorSelectorNilUsesHelmValues: false,
        ruleSelectorNilUsesHelmValues: false,
        probeSelectorNilUsesHelmValues: false,
        scrapeConfigSelectorNilUsesHelmValues: false,
        ...(settings.storageClass
          ? {
              storageSpec: {
                volumeClaimTemplate: {
                  spec: {
                    storageClassName: settings.storageClass,
                    accessModes: ["ReadWriteOnce"],
                    resources: { requests: { storage: `${settings.storageGiB}Gi` } },
                  },
                },
              },
            }
          : {}),
      },
    },
    additionalPrometheusRulesMap: {
      "gitops-platform": { groups: settings.alertRules ?? ALERT_RULE_GROUPS },
    },
  };
}

/** The values of the grafana chart for the given settings. */
export function grafanaValues(settings: {
  existingSecret: pulumi.Input<string>;
  exposure: Exposure;
}): GrafanaValues {
  const exposure = settings.exposure;
  return {
    admin: { existingSecret: settings.existingSecret, userKey: "admin-user", passwordKey: "admin-password" },
    ...(exposure.type === "NodePort"
      ? { service: { type: "NodePort", nodePort: exposure.nodePort } }
      : {
          service: { type: "ClusterIP" },
          ingress: {
            enabled: true,
            ingressClassName: ALB_INGRESS_CLASS,
            hosts: [exposure.host],
            path: "/",
            pathType: "Prefix",
            annotations: exposure.annotations,
          },
          // Links, redirects and OAuth callbacks use the public URL, not the pod's address.
          "grafana.ini": { server: { root_url: `${exposureUrl(exposure)}/` } },
        }),
    sidecar: {
      dashboards: { enabled: true, label: DASHBOARD_LABEL.name, labelValue: DASHBOARD_LABEL.value },
      datasources: { enabled: true, label: DATASOURCE_LABEL.name, labelValue: DATASOURCE_LABEL.value },
    },
    // Dashboards and datasources are code (ConfigMaps); nothing in Grafana's database needs keeping.
    persistence: { enabled: false },
    testFramework: { enabled: false },
  };
}

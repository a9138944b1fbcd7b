import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  evaluateStack,
  PROJECT_DIR,
  readProject,
  resolveStackConfig,
  SECRET_PLACEHOLDER,
  type Evaluation,
} from "../automation/evaluate";
import { parse } from "yaml";
import { ALERT_RULE_GROUPS, type AlertRule } from "../components/addons/alert-rules";
import { ARGOCD_CHART } from "../components/addons/argocd";
import { ARGO_ROLLOUTS_CHART } from "../components/addons/argo-rollouts";
import { VELERO_AWS_PLUGIN_IMAGE, VELERO_CHART } from "../components/addons/backup";
import {
  APP_SECRET,
  EXTERNAL_SECRETS_CHART,
  EXTERNAL_SECRETS_NAMESPACE,
  LOCAL_SECRETS_NAMESPACE,
  SECRET_STORE_NAME,
  SECRET_STORE_SERVICE_ACCOUNT,
} from "../components/addons/external-secrets";
import { GITHUB_ACTIONS_ISSUER, POLICY_CONTROLLER_CHART } from "../components/addons/image-signatures";
import { APP_NAMESPACE_LABEL } from "../policy/rules";
import { CONFIG_NAMESPACE, ConfigError, parsePlatformConfig } from "../components/config";
import { pinnedRelease } from "../components/addons/helm-release";
import { dashboardFiles, GRAFANA_CHART, KUBE_PROMETHEUS_STACK_CHART } from "../components/addons/monitoring";
import { ALLOY_CHART, LOG_LINES_METRIC, LOKI_CHART } from "../components/addons/logs";
import { TEMPO_CHART } from "../components/addons/traces";
import { AWS_LOAD_BALANCER_CONTROLLER_CHART } from "../components/addons/aws-load-balancer-controller";
import { CLUSTER_AUTOSCALER_CHART } from "../components/addons/cluster-autoscaler";
import { EXTERNAL_DNS_CHART } from "../components/addons/external-dns";
import { METRICS_SERVER_CHART } from "../components/addons/metrics-server";
import { ALB_SSL_POLICY } from "../components/addons/alb-ingress";
import { evaluated, resourcesOf, type Resource } from "./support/stacks";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const STACKS = ["dev", "staging", "prod"] as const;
type Stack = (typeof STACKS)[number];
const RELEASE = "kubernetes:helm.sh/v3:Release";
const defaults = readProject().config ?? {};
const pinned = (key: string) => String(defaults[key]?.default);

const evaluations = new Map<Stack, Evaluation>();
before(async function () {
  this.timeout(30000);
  for (const stack of STACKS) evaluations.set(stack, await evaluated(stack));
});

const all = (stack: Stack, type: string, suffix = ""): Resource[] =>
  resourcesOf(evaluations.get(stack)!, type, suffix);
function only(stack: Stack, type: string, suffix = ""): Resource {
  const found = all(stack, type, suffix);
  assert.equal(found.length, 1, `${stack}: expected one ${type} *${suffix}, got ${found.length}`);
  return found[0]!;
}
const release = (stack: Stack, suffix: string) => only(stack, RELEASE, suffix);
const argocd = (stack: Stack) => release(stack, "-argocd-release").inputs.values as Obj;
const kps = (stack: Stack) => release(stack, "-monitoring-kube-prometheus-stack").inputs.values as Obj;
const grafana = (stack: Stack) => release(stack, "-monitoring-grafana").inputs.values as Obj;
const velero = (stack: Stack) => release(stack, "-backup-release").inputs.values as Obj;
const lokiValuesOf = (stack: Stack) => release(stack, "-logs-loki").inputs.values as Obj;
const tempoValuesOf = (stack: Stack) => release(stack, "-traces-release").inputs.values as Obj;

const RELEASES = [
  {
    suffix: "-argocd-release",
    releaseName: "argocd",
    source: ARGOCD_CHART,
    versionKey: "argocdChartVersion",
    namespace: "argocd",
  },
  {
    suffix: "-monitoring-kube-prometheus-stack",
    releaseName: "kube-prometheus-stack",
    source: KUBE_PROMETHEUS_STACK_CHART,
    versionKey: "kubePrometheusStackChartVersion",
    namespace: "monitoring",
  },
  {
    suffix: "-monitoring-grafana",
    releaseName: "grafana",
    source: GRAFANA_CHART,
    versionKey: "grafanaChartVersion",
    namespace: "monitoring",
  },
  {
    suffix: "-backup-release",
    releaseName: "velero",
    source: VELERO_CHART,
    versionKey: "veleroChartVersion",
    namespace: "velero",
  },
  {
    suffix: "-logs-loki",
    releaseName: "loki",
    source: LOKI_CHART,
    versionKey: "lokiChartVersion",
    namespace: "loki",
  },
  {
    suffix: "-logs-alloy",
    releaseName: "alloy",
    source: ALLOY_CHART,
    versionKey: "alloyChartVersion",
    namespace: "alloy",
  },
  {
    suffix: "-traces-release",
    releaseName: "tempo",
    source: TEMPO_CHART,
    versionKey: "tempoChartVersion",
    namespace: "tempo",
  },
  {
    suffix: "-argo-rollouts-release",
    releaseName: "argo-rollouts",
    source: ARGO_ROLLOUTS_CHART,
    versionKey: "argoRolloutsChartVersion",
    namespace: "argo-rollouts",
  },
  {
    suffix: "-external-secrets-release",
    releaseName: "external-secrets",
    source: EXTERNAL_SECRETS_CHART,
    versionKey: "externalSecretsChartVersion",
    namespace: "external-secrets",
  },
  {
    suffix: "-image-signatures-release",
    releaseName: "policy-controller",
    source: POLICY_CONTROLLER_CHART,
    versionKey: "policyControllerChartVersion",
    namespace: "cosign-system",
    // dev trusts its local registry without signatures.
    stacks: ["staging", "prod"] as Stack[],
  },
];

/** The EKS baseline (components/addons/eks-addons.ts), on staging and prod only. */
const EKS_RELEASES = [
  {
    suffix: "-lb-controller-release",
    releaseName: "aws-load-balancer-controller",
    source: AWS_LOAD_BALANCER_CONTROLLER_CHART,
    versionKey: "awsLoadBalancerControllerChartVersion",
    namespace: "kube-system",
  },
  {
    suffix: "-external-dns-release",
    releaseName: "external-dns",
    source: EXTERNAL_DNS_CHART,
    versionKey: "externalDnsChartVersion",
    namespace: "external-dns",
  },
  {
    suffix: "-metrics-server-release",
    releaseName: "metrics-server",
    source: METRICS_SERVER_CHART,
    versionKey: "metricsServerChartVersion",
    namespace: "kube-system",
  },
  {
    suffix: "-cluster-autoscaler-release",
    releaseName: "cluster-autoscaler",
    source: CLUSTER_AUTOSCALER_CHART,
    versionKey: "clusterAutoscalerChartVersion",
    namespace: "kube-system",
  },
];
const releasesOf = (stack: Stack) => [
  ...RELEASES.filter((r) => !r.stacks || r.stacks.includes(stack)),
  ...(stack === "dev" ? [] : EKS_RELEASES),
];

describe("add-ons: pinned Helm releases", () => {
  it("pins the charts in Pulumi.yaml to exact, verified versions", () => {
    assert.deepEqual(
      RELEASES.map((r) => pinned(r.versionKey)),
      ["10.1.1", "88.5.3", "12.11.1", "12.1.0", "18.11.0", "1.11.1", "2.2.4", "2.41.0", "2.9.0", "0.10.6"],
    );
    assert.deepEqual(
      EKS_RELEASES.map((r) => pinned(r.versionKey)),
      ["3.5.0", "1.21.1", "3.13.1", "9.59.0"],
    );
  });

  for (const stack of STACKS) {
    it(`${stack}: each release has its chart, repository, exact version and namespace, atomic and awaited`, () => {
      assert.equal(all(stack, RELEASE).length, releasesOf(stack).length, "exactly the add-on releases");
      for (const r of releasesOf(stack)) {
        const { inputs } = release(stack, r.suffix);
        assert.equal(inputs.chart, r.source.chart);
        assert.equal(inputs.repositoryOpts.repo, r.source.repo);
        assert.equal(inputs.version, pinned(r.versionKey));
        assert.match(inputs.version, /^\d+\.\d+\.\d+$/);
        assert.equal(inputs.name, r.releaseName);
        assert.equal(inputs.namespace, r.namespace);
        assert.equal(inputs.createNamespace, false, "the namespace is an explicit resource");
        assert.equal(inputs.atomic, true);
        assert.equal(inputs.cleanupOnFail, true);
        assert.equal(inputs.skipAwait, false);
        assert.ok(inputs.timeout >= 600, "timeout");
      }
    });

    it(`${stack}: namespaces carry Pod Security labels fitting their add-on`, () => {
      // alloy: its DaemonSet mounts the node's /var/log (hostPath), which baseline forbids.
      const expected = {
        argocd: "baseline",
        monitoring: "privileged",
        velero: "baseline",
        loki: "baseline",
        alloy: "privileged",
        tempo: "baseline",
        "argo-rollouts": "restricted",
      };
      for (const [ns, level] of Object.entries(expected)) {
        const found = all(stack, "kubernetes:core/v1:Namespace").filter((n) => n.inputs.metadata.name === ns);
        assert.equal(found.length, 1, `one namespace ${ns}`);
        const labels = found[0]!.inputs.metadata.labels;
        assert.equal(labels["pod-security.kubernetes.io/enforce"], level, ns);
      }
    });

    it(`${stack}: every namespace audits and warns one Pod Security level stricter than it enforces`, () => {
      // What would break under the next level shows up in audit logs and kubectl warnings first.
      const oneStricter: Record<string, string> = {
        privileged: "baseline",
        baseline: "restricted",
        restricted: "restricted",
      };
      const namespaces = all(stack, "kubernetes:core/v1:Namespace");
      assert.ok(namespaces.length >= 4, "the add-on and app namespaces");
      for (const ns of namespaces) {
        const labels = ns.inputs.metadata.labels ?? {};
        const enforce = labels["pod-security.kubernetes.io/enforce"];
        const name = ns.inputs.metadata.name;
        assert.ok(enforce in oneStricter, `${name}: enforce is a Pod Security level (got ${enforce})`);
        assert.equal(labels["pod-security.kubernetes.io/audit"], oneStricter[enforce], `${name}: audit`);
        assert.equal(labels["pod-security.kubernetes.io/warn"], oneStricter[enforce], `${name}: warn`);
      }
    });

    it(`${stack}: add-ons wait for no other add-on, except for the Prometheus Operator CRDs and the load balancer controller`, () => {
      const releases = all(stack, RELEASE);
      const byUrn = new Map(releases.map((r) => [r.urn, r.inputs.name as string]));
      const deps = Object.fromEntries(
        releases.map((r) => [
          r.inputs.name,
          r.dependsOn
            .map((u) => byUrn.get(u))
            .filter(Boolean)
            .sort(),
        ]),
      );
      // On EKS the controller's webhook validates Ingresses: what has one waits for it.
      const lbc = stack === "dev" ? [] : ["aws-load-balancer-controller"];
      assert.deepEqual(deps, {
        argocd: [...lbc, "kube-prometheus-stack"],
        "kube-prometheus-stack": lbc,
        grafana: lbc,
        velero: ["kube-prometheus-stack"],
        loki: [],
        alloy: ["kube-prometheus-stack"],
        tempo: [],
        ...(stack === "dev"
          ? {}
          : {
              "aws-load-balancer-controller": [],
              "external-dns": [],
              "metrics-server": [],
              "cluster-autoscaler": [],
            }),
        "external-secrets": ["kube-prometheus-stack"],
        ...(stack === "dev" ? {} : { "policy-controller": ["kube-prometheus-stack"] }),
        "argo-rollouts": ["kube-prometheus-stack"],
      });
      // ...and all of them wait for the cluster: its provider and, explicitly, its resources.
      const clusterChild = evaluations
        .get(stack)!
        .resources.find(
          (r) =>
            (r.type === "command:local:Command" && r.name.endsWith("-kind")) ||
            r.type === "eks:index:Cluster",
        )!;
      for (const r of releases)
        assert.ok(r.dependsOn.includes(clusterChild.urn), `${r.name} waits for the cluster`);
    });
  }

  it("the helper refuses a version that is not exact", () => {
    for (const version of ["9.1", "^9.1.4", "v9.1.4", "latest"]) {
      assert.throws(
        () =>
          pinnedRelease("x", {
            source: ARGOCD_CHART,
            version,
            releaseName: "x",
            namespace: "x",
            values: {},
            provider: undefined as never,
            parent: undefined as never,
          }),
        new RegExp(
          `argo-cd: chart version must be exact like 1\\.2\\.3 \\(got "${version.replace(/[.^]/g, "\\$&")}"\\)`,
        ),
      );
    }
  });
});

describe("add-ons: secrets stay secret", () => {
  for (const stack of STACKS) {
    it(`${stack}: generated passwords and hashes appear only as secrets, in inputs and outputs`, () => {
      const evaluation = evaluations.get(stack)!;
      const passwords = all(stack, "random:index/randomPassword:RandomPassword");
      const marks = passwords.flatMap((p) => [`mock-password-${p.name}`, `$2a$10$mockhash${p.name}`]);
      assert.ok(passwords.some((p) => p.name.endsWith("-argocd-admin-password")));
      assert.ok(passwords.some((p) => p.name.endsWith("-argocd-webhook-secret")));
      assert.ok(passwords.some((p) => p.name.endsWith("-monitoring-grafana-admin-password")));
      for (const r of evaluation.resources) {
        const masked = JSON.stringify(r.maskedInputs);
        for (const mark of marks)
          assert.ok(!masked.includes(mark), `${r.type} ${r.name} shows ${mark} in plain`);
      }
      // Not vacuous: the add-on passwords do reach their consumers, as secrets.
      const used = (mark: string) =>
        evaluation.resources.some((r) => JSON.stringify(r.inputs).includes(mark));
      for (const p of passwords.filter((p) => /-(argocd|monitoring)-/.test(p.name))) {
        assert.ok(
          used(`mock-password-${p.name}`) || used(`$2a$10$mockhash${p.name}`),
          `${p.name} is used by some resource`,
        );
      }
      for (const [key, value] of Object.entries(evaluation.outputs)) {
        if (evaluation.secretOutputs.includes(key)) continue;
        const text = JSON.stringify(value) ?? "";
        for (const mark of marks) assert.ok(!text.includes(mark), `output ${key} leaks ${mark}`);
      }
    });

    it(`${stack}: admin passwords are secret stack outputs`, () => {
      const { outputs, secretOutputs } = evaluations.get(stack)!;
      assert.ok(secretOutputs.includes("argocdAdminPassword"));
      assert.ok(secretOutputs.includes("grafanaAdminPassword"));
      assert.equal(outputs.argocdAdminPassword, `mock-password-gitops-${stack}-argocd-admin-password`);
      assert.equal(
        outputs.grafanaAdminPassword,
        `mock-password-gitops-${stack}-monitoring-grafana-admin-password`,
      );
    });
  }
});

describe("add-ons: Argo CD", () => {
  for (const stack of STACKS) {
    it(`${stack}: bcrypt admin password and GitHub webhook secret, as a secret inside the values`, () => {
      const r = release(stack, "-argocd-release");
      assert.deepEqual(r.secretPaths, ["values.configs.secret"], "only the credentials are secret");
      const masked = r.maskedInputs.values as Obj;
      assert.equal(masked.configs.secret, "[secret]");
      assert.equal(masked.configs.rbac.scopes, "[groups]", "the rest is readable");
      const secret = argocd(stack).configs.secret;
      assert.equal(secret.argocdServerAdminPassword, `$2a$10$mockhashgitops-${stack}-argocd-admin-password`);
      assert.equal(secret.githubSecret, `mock-password-gitops-${stack}-argocd-webhook-secret`);
    });

    it(`${stack}: no default role, no SSO (admin account only), metrics and ServiceMonitors for every component`, () => {
      const v = argocd(stack);
      assert.equal(v.configs.rbac["policy.default"], "", "nobody gets a role they were not given");
      assert.equal(v.configs.rbac["policy.csv"], "");
      assert.equal(v.dex.enabled, false);
      assert.equal(v.configs.cm["admin.enabled"], undefined, "the admin account stays when SSO is off");
      for (const component of ["controller", "server", "repoServer", "applicationSet", "redis"]) {
        assert.deepEqual(
          v[component].metrics,
          { enabled: true, serviceMonitor: { enabled: true } },
          component,
        );
      }
      assert.deepEqual(v.notifications.metrics, { enabled: true, serviceMonitor: { enabled: true } });
    });

    it(`${stack}: every redis ServiceMonitor has an exporter container serving its port`, () => {
      const v = argocd(stack);
      const ha = v["redis-ha"];
      if (ha.enabled) {
        // The chart skips its own redis (and its metrics Service) when redis-ha is on.
        assert.equal(ha.exporter.serviceMonitor.enabled, true);
        assert.equal(ha.exporter.enabled, true, "redis-ha exporter sidecar");
      } else {
        assert.equal(v.redis.metrics.serviceMonitor.enabled, true);
        assert.equal(v.redis.exporter.enabled, true, "the metrics Service targets the exporter's port");
      }
    });

    it(`${stack}: the admin password's mtime is taken once, when the password hash changes`, () => {
      const mtime = only(stack, "command:local:Command", "-argocd-admin-password-mtime");
      assert.deepEqual(mtime.inputs.triggers, [`$2a$10$mockhashgitops-${stack}-argocd-admin-password`]);
      assert.equal(
        argocd(stack).configs.secret.argocdServerAdminPasswordMtime,
        `mock-stdout-of-gitops-${stack}-argocd-admin-password-mtime`,
        "the chart gets the command's recorded output, not a time of its own",
      );
    });
  }

  it("the mtime command prints an RFC 3339 UTC time with a real shell and node", () => {
    const mtime = only("dev", "command:local:Command", "-argocd-admin-password-mtime");
    const run = spawnSync("sh", ["-c", String(mtime.inputs.create)], { encoding: "utf8", timeout: 10000 });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(Math.abs(Date.parse(run.stdout) - Date.now()) < 24 * 3600 * 1000, "today's time");
  });

  it("argocd-cm url is what each stack exposes, never the chart's placeholder", async () => {
    assert.equal(argocd("dev").configs.cm.url, "http://localhost:30081");
    const withUrl = await evaluateStack("staging", {
      overrides: { "gitops-platform:argocdPublicUrl": "https://argocd.staging.example.org/" },
    });
    const values = resourcesOf(withUrl, RELEASE, "-argocd-release")[0]!.inputs.values as Obj;
    assert.equal(values.configs.cm.url, "https://argocd.staging.example.org");
  });

  it("SSO: GitHub OAuth through Dex from config, teams mapped to roles, the local admin disabled", async () => {
    const e = await evaluateStack("staging", {
      overrides: {
        "gitops-platform:argocdPublicUrl": "https://argocd.staging.example.com/",
        "gitops-platform:argocdSsoClientId": "Iv1.0123456789abcdef",
        "gitops-platform:argocdSsoClientSecret": { secure: "v1:ciphertext" },
        "gitops-platform:argocdSsoGithubOrg": "acme",
        "gitops-platform:argocdSsoTeamRoles": ["platform:admin", "developers:readonly"],
      },
    });
    assert.equal(e.error, undefined);
    const r = resourcesOf(e, RELEASE, "-argocd-release")[0]!;
    assert.deepEqual(
      r.secretPaths,
      ["values.configs.secret"],
      "the client secret travels in the secret values only",
    );
    const v = r.inputs.values as Obj;
    assert.equal(v.dex.enabled, true);
    assert.equal(v.configs.cm.url, "https://argocd.staging.example.com");
    assert.equal(v.configs.cm["admin.enabled"], "false");
    const dex = parse(v.configs.cm["dex.config"]) as Obj;
    assert.deepEqual(dex.connectors, [
      {
        type: "github",
        id: "github",
        name: "GitHub",
        config: {
          clientID: "Iv1.0123456789abcdef",
          clientSecret: "$dex.github.clientSecret",
          orgs: [{ name: "acme", teams: ["platform", "developers"] }],
          teamNameField: "slug",
        },
      },
    ]);
    assert.deepEqual(v.configs.secret.extra, { "dex.github.clientSecret": SECRET_PLACEHOLDER });
    assert.equal(v.configs.rbac["policy.default"], "");
    assert.equal(
      v.configs.rbac["policy.csv"],
      "g, acme:platform, role:admin\ng, acme:developers, role:readonly",
    );
    assert.equal(v.configs.rbac.scopes, "[groups]");
  });

  it("dev (kind): plain HTTP on the NodePort, pushes notify it (the poll stays the 180s fallback), single replicas", () => {
    const v = argocd("dev");
    assert.deepEqual(v.server.service, { type: "NodePort", nodePortHttp: 30081 });
    assert.equal(v.configs.params["server.insecure"], true);
    assert.equal(v.configs.cm["timeout.reconciliation"], "180s");
    assert.equal(v["redis-ha"].enabled, false);
    assert.equal(v.server.replicas, 1);
    assert.equal(evaluations.get("dev")!.outputs.argocdUrl, "http://localhost:30081");
  });

  for (const stack of ["staging", "prod"] as const) {
    it(`${stack} (EKS): UI and gRPC on an ALB Ingress at https://argocd.<domain>, TLS at the load balancer, no LoadBalancer Service`, () => {
      const v = argocd(stack);
      const host = `argocd.${stack}.example.com`;
      assert.deepEqual(v.server.service, { type: "ClusterIP" });
      assert.equal(v.configs.params["server.insecure"], true, "plain HTTP behind the ALB");
      assert.equal(v.global.domain, host, "argocd-cm url is https://<global.domain>");
      const ingress = v.server.ingress;
      assert.deepEqual(
        { ...ingress, annotations: undefined },
        {
          enabled: true,
          controller: "aws",
          ingressClassName: "alb",
          hostname: host,
          path: "/",
          pathType: "Prefix",
          aws: { backendProtocolVersion: "GRPC", serviceType: "ClusterIP" },
          annotations: undefined,
        },
      );
      const a = ingress.annotations;
      assert.equal(a["alb.ingress.kubernetes.io/listen-ports"], '[{"HTTP":80},{"HTTPS":443}]');
      assert.equal(a["alb.ingress.kubernetes.io/ssl-redirect"], "443");
      assert.equal(a["alb.ingress.kubernetes.io/ssl-policy"], ALB_SSL_POLICY);
      assert.match(a["alb.ingress.kubernetes.io/certificate-arn"], /^arn:aws:acm:/);
      assert.equal(a["alb.ingress.kubernetes.io/group.name"], `gitops-${stack}-admin`);
      assert.deepEqual(v.configs.cm, {}, "webhooks can arrive: chart's reconciliation timeout");
      assert.equal(evaluations.get(stack)!.outputs.argocdUrl, `https://${host}`);
    });
  }

  it("prod is highly available, staging is not", () => {
    const prod = argocd("prod");
    assert.equal(prod["redis-ha"].enabled, true);
    assert.deepEqual(prod["redis-ha"].exporter, { enabled: true, serviceMonitor: { enabled: true } });
    assert.equal(prod.controller.replicas, 1, "the controller shards; one replica per cluster");
    for (const component of ["server", "repoServer", "applicationSet"]) {
      assert.ok(prod[component].replicas >= 2, `${component} replicas`);
      assert.equal(prod[component].pdb.enabled, true, `${component} PDB`);
    }
    const staging = argocd("staging");
    assert.equal(staging["redis-ha"].enabled, false);
    assert.equal(staging.server.replicas, 1);
    assert.equal(staging.server.pdb.enabled, false);
  });
});

describe("add-ons: Monitoring", () => {
  const PROMETHEUS_URL = "http://kube-prometheus-stack-prometheus.monitoring.svc:9090";
  const expected = {
    dev: { retention: "7d", storage: "10Gi", size: "8GB", storageClass: "standard" },
    staging: { retention: "15d", storage: "20Gi", size: "17GB", storageClass: "gp3" },
    prod: { retention: "30d", storage: "50Gi", size: "42GB", storageClass: "gp3" },
  };

  for (const stack of STACKS) {
    it(`${stack}: kube-prometheus-stack selects every monitor and rule, keeps ${expected[stack].retention}`, () => {
      const v = kps(stack);
      assert.deepEqual(
        {
          enabled: v.grafana.enabled,
          dashboards: v.grafana.forceDeployDashboards,
          datasources: v.grafana.forceDeployDatasources,
        },
        { enabled: false, dashboards: true, datasources: true },
      );
      const spec = v.prometheus.prometheusSpec;
      for (const kind of ["serviceMonitor", "podMonitor", "rule", "probe"]) {
        assert.equal(spec[`${kind}SelectorNilUsesHelmValues`], false, kind);
      }
      assert.equal(spec.retention, expected[stack].retention);
      assert.equal(spec.retentionSize, expected[stack].size);
      const claim = spec.storageSpec.volumeClaimTemplate.spec;
      assert.equal(claim.storageClassName, expected[stack].storageClass);
      assert.equal(claim.resources.requests.storage, expected[stack].storage);
      assert.equal(v["prometheus-node-exporter"].hostRootFsMount.enabled, stack !== "dev");
    });

    it(`${stack}: Grafana loads the provisioned Prometheus datasource and the dashboards through its sidecars`, () => {
      const ds = kps(stack).grafana.sidecar.datasources;
      assert.equal(ds.url, PROMETHEUS_URL);
      assert.equal(ds.uid, "prometheus");
      assert.equal(ds.isDefaultDatasource, true);
      assert.equal(evaluations.get(stack)!.outputs.prometheusUrl, PROMETHEUS_URL);
      const g = grafana(stack);
      assert.deepEqual(g.sidecar.datasources, { enabled: true, label: ds.label, labelValue: ds.labelValue });
      assert.deepEqual(g.sidecar.dashboards, {
        enabled: true,
        label: "grafana_dashboard",
        labelValue: kps(stack).grafana.sidecar.dashboards.labelValue,
      });
      const maps = all(stack, "kubernetes:core/v1:ConfigMap").filter((c) => c.name.includes("-dashboard-"));
      assert.deepEqual(
        maps.map((c) => Object.keys(c.inputs.data)[0]).sort(),
        dashboardFiles()
          .map((f) => path.basename(f))
          .sort(),
      );
      for (const c of maps) {
        assert.equal(c.inputs.metadata.namespace, "monitoring");
        assert.equal(c.inputs.metadata.labels.grafana_dashboard, "1");
      }
    });

    it(`${stack}: Grafana's admin comes from a Secret holding a generated password`, () => {
      const g = grafana(stack);
      const secret = only(stack, "kubernetes:core/v1:Secret", "-monitoring-grafana-admin");
      assert.equal(g.admin.existingSecret, secret.inputs.metadata.name);
      assert.equal(
        secret.inputs.stringData[g.admin.passwordKey],
        `mock-password-gitops-${stack}-monitoring-grafana-admin-password`,
      );
      assert.ok(secret.secretPaths.includes("stringData"));
      assert.equal(JSON.stringify(g).includes("mock-password"), false);
    });
  }

  it("Grafana on a NodePort on kind, an HTTPS ALB Ingress at https://grafana.<domain> on EKS with root_url", () => {
    assert.deepEqual(grafana("dev").service, { type: "NodePort", nodePort: 30082 });
    assert.equal(grafana("dev").ingress, undefined);
    assert.equal(evaluations.get("dev")!.outputs.grafanaUrl, "http://localhost:30082");
    for (const stack of ["staging", "prod"] as const) {
      const g = grafana(stack);
      const host = `grafana.${stack}.example.com`;
      assert.deepEqual(g.service, { type: "ClusterIP" });
      assert.deepEqual(g.ingress.hosts, [host]);
      assert.equal(g.ingress.enabled, true);
      assert.equal(g.ingress.ingressClassName, "alb");
      assert.equal(g.ingress.annotations["alb.ingress.kubernetes.io/ssl-redirect"], "443");
      assert.equal(g.ingress.annotations["alb.ingress.kubernetes.io/group.name"], `gitops-${stack}-admin`);
      assert.equal(
        g.ingress.annotations["alb.ingress.kubernetes.io/inbound-cidrs"],
        undefined,
        "the group's inbound-cidrs are set once, on another Ingress of the group",
      );
      assert.deepEqual(g["grafana.ini"], { server: { root_url: `https://${host}/` } });
      assert.equal(evaluations.get(stack)!.outputs.grafanaUrl, `https://${host}`);
    }
  });
});

/** Metric names of a PromQL expression: strings, matchers, ranges, label lists and calls removed. */
export function metricNames(expr: string): string[] {
  const KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "inf", "nan"]);
  const e = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\$\{?\w+\}?/g, "")
    .replace(/\{[^}]*\}/g, "")
    .replace(/\[[^\]]*\]/g, "")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, "");
  return [...e.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)]
    .filter(
      (m) =>
        !e
          .slice(m.index + m[0].length)
          .trimStart()
          .startsWith("("),
    )
    .map((m) => m[0])
    .filter((name) => !KEYWORDS.has(name.toLowerCase()));
}

/** The app's own series (app/src/metrics.ts) and prom-client's default process and Node.js metrics. */
const APP_METRICS = [
  "app_build_info",
  "app_commit_timestamp_seconds",
  "http_requests_total",
  "http_request_duration_seconds_bucket",
  "http_request_duration_seconds_sum",
  "http_request_duration_seconds_count",
];
const PROM_CLIENT_DEFAULTS = /^(process|nodejs)_[a-z_]+$/;
const KUBE_STATE_METRICS = ["kube_pod_status_ready", "kube_deployment_status_replicas_available"];
const ARGOCD_METRICS = ["argocd_app_info", "argocd_app_sync_total"];
const VELERO_METRICS = ["velero_backup_failure_total", "velero_backup_last_successful_timestamp"];

function dashboardQueries(dashboard: Obj): string[] {
  const panels = dashboard.panels as Obj[];
  const templating = (dashboard.templating.list as Obj[]).filter((v) => v.type === "query");
  return [
    // PromQL only: rows have no queries, the logs panel's is LogQL.
    ...panels
      .filter((p) => p.datasource?.type === "prometheus")
      .flatMap((p) => (p.targets as Obj[]).map((t) => String(t.expr))),
    // label_values(metric, label): only the metric is one.
    ...templating.map((v) => String(v.query.query).replace(/^label_values\(\s*([\w:]+)\s*,.*\)$/, "$1")),
  ];
}
const readDashboard = (file: string) =>
  JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "dashboards", file), "utf8")) as Obj;

describe("add-ons: dashboards", () => {
  it("the metric-name parser finds metrics and only metrics", () => {
    assert.deepEqual(
      metricNames(
        'histogram_quantile(0.95, sum by (le, route) (rate(a_bucket{ns="$x",s=~"5.."}[5m]))) / on(job) b or vector(0)',
      ),
      ["a_bucket", "b"],
    );
  });

  it("every dashboard file is valid JSON for the Prometheus (logs: Loki) datasource, with unique ids", () => {
    const files = dashboardFiles().map((f) => path.basename(f));
    assert.deepEqual(files, ["argo-rollouts.json", "argocd.json", "demo-app.json"]);
    const uids = new Set<string>();
    for (const file of files) {
      const d = readDashboard(file);
      assert.ok(d.title && d.uid && !uids.has(d.uid), `${file}: title and unique uid`);
      uids.add(d.uid);
      const ids = (d.panels as Obj[]).map((p) => p.id);
      assert.equal(new Set(ids).size, ids.length, `${file}: unique panel ids`);
      for (const p of d.panels as Obj[]) {
        if (p.type === "row") continue;
        assert.ok((p.targets as Obj[]).length > 0, `${file}: ${p.title} has a query`);
        assert.deepEqual(
          p.datasource,
          p.type === "logs" ? { type: "loki", uid: "loki" } : { type: "prometheus", uid: "${datasource}" },
        );
      }
    }
  });

  it("the demo app dashboard queries only what the app, kube-state-metrics, Argo CD, Alloy and the SLO rules export", () => {
    const d = readDashboard("demo-app.json");
    const recordedSlis = (kps("dev").additionalPrometheusRulesMap["gitops-platform"].groups as Obj[])
      .flatMap((g) => g.rules as Obj[])
      .filter((r) => r.record)
      .map((r) => r.record as string);
    const queries = dashboardQueries(d);
    for (const name of queries.flatMap(metricNames)) {
      assert.ok(
        APP_METRICS.includes(name) ||
          PROM_CLIENT_DEFAULTS.test(name) ||
          KUBE_STATE_METRICS.includes(name) ||
          ARGOCD_METRICS.includes(name) ||
          name === LOG_LINES_METRIC ||
          recordedSlis.includes(name),
        `demo-app.json queries unknown metric ${name}`,
      );
    }
    const panel = (title: RegExp) => {
      const found = (d.panels as Obj[]).find((p) => title.test(p.title));
      assert.ok(found, `panel ${title}`);
      return (found.targets as Obj[]).map((t) => String(t.expr)).join("\n");
    };
    assert.match(panel(/^Request rate/), /rate\(http_requests_total\{/);
    assert.match(panel(/^Error rate/), /status_code=~"5\.\."[^/]*\/\s*sum\(rate\(http_requests_total/);
    assert.match(panel(/^p95 latency/), /histogram_quantile\(0\.95, .*http_request_duration_seconds_bucket/);
    assert.match(panel(/^Pods ready/), /kube_pod_status_ready\{.*condition="true"/);
  });

  it("the demo app dashboard has a logs panel, an SLO row and a deploy row; SLO objectives come from config", () => {
    const d = readDashboard("demo-app.json");
    const rows = (d.panels as Obj[]).filter((p) => p.type === "row").map((p) => p.title);
    assert.deepEqual(rows, ["SLOs", "Deploys"]);
    const logs = (d.panels as Obj[]).find((p) => p.type === "logs")!;
    assert.match(logs.targets[0].expr, /^\{namespace="\$namespace", container="demo-app"\}$/);
    const exprs = dashboardQueries(d).join("\n");
    assert.match(
      exprs,
      /demo_app:sli_errors:ratio_rate1h\{namespace="\$namespace"\} \/ \(1 - \$slo_availability\)/,
    );
    assert.match(exprs, /increase\(argocd_app_sync_total\{phase=~"Error\|Failed"\}\[24h\]\)/);
    assert.match(
      exprs,
      /process_start_time_seconds\{[^}]*\} - on \(namespace, pod\) app_commit_timestamp_seconds/,
    );
    assert.match(exprs, /app_build_info\{env="prod"\}/);
    assert.match(exprs, /app_build_info\{env!="prod"\}/);
    const configMap = all("dev", "kubernetes:core/v1:ConfigMap").find(
      (c) => c.inputs.metadata.name === "dashboard-demo-app",
    )!;
    const constants = Object.fromEntries(
      (JSON.parse(configMap.inputs.data["demo-app.json"]).templating.list as Obj[])
        .filter((v) => v.type === "constant")
        .map((v) => [v.name, v.query]),
    );
    assert.deepEqual(constants, { slo_availability: "0.999", slo_latency_ratio: "0.95" });
  });

  it("Grafana gets Loki and Tempo datasources, linked both ways", () => {
    const datasource = (uid: string) => {
      const cm = all("staging", "kubernetes:core/v1:ConfigMap").find(
        (c) => c.inputs.metadata.name === `datasource-${uid}`,
      )!;
      assert.equal(cm.inputs.metadata.namespace, "monitoring");
      assert.equal(cm.inputs.metadata.labels.grafana_datasource, "1");
      return JSON.parse(cm.inputs.data[`${uid}.yaml`]).datasources[0] as Obj;
    };
    const loki = datasource("loki");
    assert.equal(loki.url, "http://loki.loki.svc:3100");
    assert.deepEqual(loki.jsonData.derivedFields[0], {
      name: "TraceID",
      matcherRegex: '"trace_id":"([0-9a-f]{32})"',
      datasourceUid: "tempo",
      url: "$${__value.raw}",
      urlDisplayLabel: "View trace",
    });
    const tempo = datasource("tempo");
    assert.equal(tempo.url, "http://tempo.tempo.svc:3200");
    assert.equal(tempo.jsonData.tracesToLogsV2.datasourceUid, "loki");
    assert.equal(tempo.jsonData.tracesToLogsV2.filterByTraceID, true);
  });

  it("the Argo CD dashboard shows applications by sync and by health status", () => {
    const d = readDashboard("argocd.json");
    for (const name of dashboardQueries(d).flatMap(metricNames)) {
      assert.ok(ARGOCD_METRICS.includes(name), `argocd.json queries unknown metric ${name}`);
    }
    const exprs = dashboardQueries(d).join("\n");
    assert.match(exprs, /sum by \(sync_status\) \(argocd_app_info\)/);
    assert.match(exprs, /sum by \(health_status\) \(argocd_app_info\)/);
  });
});

describe("add-ons: Argo Rollouts", () => {
  const rollouts = (stack: Stack) => release(stack, "-argo-rollouts-release").inputs.values as Obj;

  for (const stack of STACKS) {
    it(`${stack}: the controller with its CRDs (kept on uninstall), scraped by a ServiceMonitor, RBAC for the ALB router only`, () => {
      const v = rollouts(stack);
      assert.equal(v.installCRDs, true);
      assert.equal(v.keepCRDs, true, "uninstalling the controller must not delete every Rollout");
      assert.deepEqual(v.controller.metrics, { enabled: true, serviceMonitor: { enabled: true } });
      assert.equal(v.dashboard.enabled, false);
      const granted = Object.entries(v.providerRBAC.providers as Record<string, boolean>).filter(
        ([, on]) => on,
      );
      assert.deepEqual(granted, [["awsLoadBalancerController", true]]);
      for (const kind of ["requests", "limits"])
        for (const r of ["cpu", "memory"]) assert.ok(v.controller.resources[kind][r], `${kind}.${r}`);
      // Two replicas with a PDB where Argo CD is highly available (prod), one elsewhere.
      const ha = stack === "prod";
      assert.equal(v.controller.replicas, ha ? 2 : 1);
      assert.equal(v.controller.pdb.enabled, ha);
    });
  }

  it("the dashboard shows rollouts by phase, replicas and analysis verdicts from the controller's metrics", () => {
    const d = readDashboard("argo-rollouts.json");
    const known = ["rollout_info", "rollout_info_replicas_available", "analysis_run_metric_phase"];
    for (const name of dashboardQueries(d).flatMap(metricNames)) {
      assert.ok(known.includes(name), `argo-rollouts.json queries unknown metric ${name}`);
    }
    const exprs = dashboardQueries(d).join("\n");
    assert.match(exprs, /sum by \(phase\) \(rollout_info\)/);
    assert.match(exprs, /analysis_run_metric_phase/);
  });
});

describe("add-ons: alert rules", () => {
  const rules = (stack: Stack) =>
    (kps(stack).additionalPrometheusRulesMap["gitops-platform"].groups as Obj[]).flatMap(
      (g) => g.rules as Obj[],
    );

  for (const stack of STACKS) {
    it(`${stack}: every platform alert reaches Prometheus, with the SLO and error-log rules`, () => {
      const alerts = rules(stack)
        .map((r) => r.alert)
        .filter(Boolean);
      assert.deepEqual(
        alerts.slice(0, 7),
        ALERT_RULE_GROUPS.flatMap((g) => g.rules.map((r) => (r as AlertRule).alert)),
      );
      assert.deepEqual(alerts.slice(7), [
        "DemoAppErrorBudgetBurnFast",
        "DemoAppErrorBudgetBurnSlow",
        "DemoAppLatencyBudgetBurnFast",
        "DemoAppLatencyBudgetBurnSlow",
        "DemoAppErrorRateAboveTarget",
        "DemoAppErrorLogs",
      ]);
      assert.equal(rules(stack).filter((r) => r.record).length, 8, "two SLIs over four windows");
    });
  }

  it("covers app down, app 5xx ratio, Argo CD degraded or out of sync, and Velero failures", () => {
    const byExpr = (pattern: RegExp) => {
      const found = rules("dev").filter((r) => r.alert && pattern.test(r.expr));
      assert.equal(found.length, 1, `one rule matching ${pattern}`);
      return found[0]!;
    };
    byExpr(/^up\{job=~"\.\*demo-app\.\*"\} == 0$/);
    byExpr(/^absent\(up\{job=~"\.\*demo-app\.\*"\}\)$/);
    const errors = byExpr(
      /status_code=~"5\.\."\}\[5m\]\)\) \/ sum by \(namespace\) \(rate\(http_requests_total/,
    );
    assert.match(errors.expr, /> 0\.05$/);
    assert.equal(errors.for, "5m");
    assert.equal(byExpr(/^argocd_app_info\{health_status="Degraded"\} == 1$/).for, "15m");
    assert.equal(byExpr(/^argocd_app_info\{sync_status="OutOfSync"\} == 1$/).for, "15m");
    byExpr(/^increase\(velero_backup_failure_total\[1h\]\) > 0$/);
    byExpr(/^time\(\) - velero_backup_last_successful_timestamp\{schedule!=""\} > 25 \* 3600$/);
  });

  it("SLO targets come from config: burn thresholds are multiples of the error budgets", () => {
    const byName = (alert: string) => rules("dev").find((r) => r.alert === alert)!;
    assert.equal(
      byName("DemoAppErrorBudgetBurnFast").expr,
      "demo_app:sli_errors:ratio_rate1h > 0.0144 and demo_app:sli_errors:ratio_rate5m > 0.0144",
    );
    assert.equal(
      byName("DemoAppErrorBudgetBurnSlow").expr,
      "demo_app:sli_errors:ratio_rate6h > 0.006 and demo_app:sli_errors:ratio_rate30m > 0.006",
    );
    assert.equal(
      byName("DemoAppLatencyBudgetBurnFast").expr,
      "demo_app:sli_slow_requests:ratio_rate1h > 0.72 and demo_app:sli_slow_requests:ratio_rate5m > 0.72",
    );
    assert.equal(byName("DemoAppErrorRateAboveTarget").expr, "demo_app:sli_errors:ratio_rate5m > 0.01");
    const slow5m = rules("dev").find((r) => r.record === "demo_app:sli_slow_requests:ratio_rate5m")!;
    assert.match(slow5m.expr, /le="0\.5"/);
  });

  it("queries only metrics that exist", () => {
    const recorded = rules("dev")
      .filter((r) => r.record)
      .map((r) => r.record as string);
    const known = [...APP_METRICS, ...ARGOCD_METRICS, ...VELERO_METRICS, "up", LOG_LINES_METRIC, ...recorded];
    for (const rule of rules("dev")) {
      for (const name of metricNames(rule.expr))
        assert.ok(known.includes(name), `${rule.alert ?? rule.record}: ${name}`);
      if (rule.record) continue;
      assert.ok(["critical", "warning"].includes(rule.labels.severity));
      assert.ok(rule.annotations.summary && rule.annotations.description);
    }
  });
});

describe("add-ons: Backup (Velero)", () => {
  const ttl = { dev: "168h", staging: "336h", prod: "720h" };

  for (const stack of STACKS) {
    it(`${stack}: the AWS plugin, a daily schedule of the app namespaces kept ${ttl[stack]}, metrics`, () => {
      const v = velero(stack);
      assert.deepEqual(v.initContainers, [
        {
          name: "velero-plugin-for-aws",
          image: VELERO_AWS_PLUGIN_IMAGE,
          imagePullPolicy: "IfNotPresent",
          volumeMounts: [{ mountPath: "/target", name: "plugins" }],
        },
      ]);
      // v1.14.x is the plugin line of Velero 1.18 (chart 12.x), pinned by digest.
      assert.match(
        VELERO_AWS_PLUGIN_IMAGE,
        /^velero\/velero-plugin-for-aws:v1\.14\.\d+@sha256:[a-f0-9]{64}$/,
      );
      assert.deepEqual(Object.keys(v.schedules), ["daily"]);
      const daily = v.schedules.daily;
      assert.equal(daily.schedule, "0 2 * * *");
      assert.equal(daily.disabled, false);
      assert.deepEqual(daily.template.includedNamespaces, ["demo-app"]);
      assert.equal(daily.template.ttl, ttl[stack]);
      assert.equal(daily.template.storageLocation, "default");
      assert.deepEqual(v.metrics, { enabled: true, serviceMonitor: { enabled: true } });
      assert.equal(v.serviceAccount.server.name, "velero-server");
      assert.equal(v.deployNodeAgent, false);
    });
  }

  it("dev (kind): the local S3 server through the AWS plugin, credentials in a secret Secret, no snapshots", () => {
    const v = velero("dev");
    assert.deepEqual(v.configuration.backupStorageLocation, [
      {
        name: "default",
        provider: "aws",
        bucket: "velero",
        default: true,
        config: {
          region: "us-east-1",
          s3ForcePathStyle: "true",
          s3Url: "http://gitops-dev-s3:9000",
          publicUrl: "http://localhost:9000",
        },
      },
    ]);
    assert.deepEqual(v.configuration.volumeSnapshotLocation, []);
    assert.equal(v.snapshotsEnabled, false);
    const secret = only("dev", "kubernetes:core/v1:Secret", "-backup-credentials");
    assert.deepEqual(v.credentials, { useSecret: true, existingSecret: secret.inputs.metadata.name });
    assert.ok(secret.secretPaths.includes("stringData"));
    assert.match(
      secret.inputs.stringData.cloud,
      /^\[default\]\naws_access_key_id=mock-password-gitops-dev-s3-access-key\naws_secret_access_key=mock-password-gitops-dev-s3-secret-key\n$/,
    );
  });

  for (const stack of ["staging", "prod"] as const) {
    it(`${stack} (EKS): S3 through IRSA, no static credentials, EBS snapshots in the region`, () => {
      const v = velero(stack);
      const bucket = only(stack, "aws:s3/bucket:Bucket", "-backup-storage-bucket");
      const role = only(stack, "aws:iam/role:Role", "-backup-storage-role");
      assert.deepEqual(v.configuration.backupStorageLocation, [
        {
          name: "default",
          provider: "aws",
          bucket: bucket.name,
          default: true,
          config: { region: "eu-west-1" },
        },
      ]);
      assert.deepEqual(v.configuration.volumeSnapshotLocation, [
        { name: "default", provider: "aws", config: { region: "eu-west-1" } },
      ]);
      assert.equal(v.snapshotsEnabled, true);
      assert.deepEqual(v.credentials, { useSecret: false });
      assert.equal(
        v.serviceAccount.server.annotations["eks.amazonaws.com/role-arn"],
        `arn:aws:mock:::${role.name}`,
      );
      assert.deepEqual(all(stack, "kubernetes:core/v1:Secret", "-backup-credentials"), []);
      assert.equal(evaluations.get(stack)!.outputs.backupBucket, bucket.name);
    });

    // One helper makes every add-on's bucket: Velero's, Loki's and Tempo's.
    const storages = [
      { component: "backup", prefix: "velero", retentionDays: { staging: 14, prod: 30 }[stack] },
      { component: "logs", prefix: "loki", retentionDays: 7 },
      { component: "traces", prefix: "tempo", retentionDays: 3 },
    ];
    for (const { component, prefix, retentionDays } of storages)
      it(`${stack} (EKS): the ${prefix} bucket is encrypted, versioned, private, TLS-only and expires old objects`, () => {
        const bucket = only(stack, "aws:s3/bucket:Bucket", `-${component}-storage-bucket`);
        assert.equal(bucket.inputs.bucketPrefix, `gitops-${stack}-${prefix}-`);
        assert.equal(bucket.inputs.forceDestroy, false);
        const of = (type: string) => {
          const r = all(stack, type).filter((x) => x.inputs.bucket === bucket.name);
          assert.equal(r.length, 1, `one ${type} on the ${prefix} bucket`);
          return r[0]!.inputs;
        };
        const sse = of(
          "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        );
        assert.equal(sse.rules[0].applyServerSideEncryptionByDefault.sseAlgorithm, "AES256");
        assert.equal(
          of("aws:s3/bucketVersioning:BucketVersioning").versioningConfiguration.status,
          "Enabled",
        );
        const block = of("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock");
        for (const flag of [
          "blockPublicAcls",
          "blockPublicPolicy",
          "ignorePublicAcls",
          "restrictPublicBuckets",
        ]) {
          assert.equal(block[flag], true, flag);
        }
        const lifecycle = of("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
          .rules as Obj[];
        assert.ok(lifecycle.every((r) => r.status === "Enabled"));
        assert.equal(lifecycle.find((r) => r.expiration)!.expiration.days, retentionDays + 7);
        assert.equal(
          lifecycle.find((r) => r.noncurrentVersionExpiration)!.noncurrentVersionExpiration.noncurrentDays,
          7,
        );
        const policy = JSON.parse(of("aws:s3/bucketPolicy:BucketPolicy").policy);
        assert.deepEqual(policy.Statement[0].Condition, { Bool: { "aws:SecureTransport": "false" } });
        assert.equal(policy.Statement[0].Effect, "Deny");
      });

    for (const [component, serviceAccount] of [
      ["logs", "loki:loki"],
      ["traces", "tempo:tempo"],
    ] as const)
      it(`${stack} (EKS): only ${serviceAccount.replace(":", "/")} may assume the ${component} role, which reaches only its bucket's objects`, () => {
        const trust = JSON.parse(
          only(stack, "aws:iam/role:Role", `-${component}-storage-role`).inputs.assumeRolePolicy,
        );
        const condition = trust.Statement[0].Condition.StringEquals as Record<string, string>;
        assert.equal(
          Object.entries(condition).find(([k]) => k.endsWith(":sub"))![1],
          `system:serviceaccount:${serviceAccount}`,
        );
        const bucket = only(stack, "aws:s3/bucket:Bucket", `-${component}-storage-bucket`);
        const bucketArn = `arn:aws:mock:::${bucket.name}`;
        const policy = JSON.parse(
          only(stack, "aws:iam/rolePolicy:RolePolicy", `-${component}-storage-policy`).inputs.policy,
        );
        assert.deepEqual(
          (policy.Statement as Obj[]).map((st) => [st.Action, st.Resource]),
          [
            [["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], `${bucketArn}/*`],
            [["s3:ListBucket"], bucketArn],
          ],
        );
        const sa = component === "logs" ? lokiValuesOf(stack) : tempoValuesOf(stack);
        assert.equal(
          sa.serviceAccount.annotations["eks.amazonaws.com/role-arn"],
          `arn:aws:mock:::gitops-${stack}-${component}-storage-role`,
        );
      });

    it(`${stack} (EKS): only velero/velero-server may assume the role, which reaches only that bucket`, () => {
      const role = only(stack, "aws:iam/role:Role", "-backup-storage-role");
      const trust = JSON.parse(role.inputs.assumeRolePolicy);
      assert.equal(trust.Statement.length, 1);
      const statement = trust.Statement[0];
      assert.equal(statement.Action, "sts:AssumeRoleWithWebIdentity");
      assert.match(statement.Principal.Federated, /^arn:aws:iam::123456789012:oidc-provider\/oidc\.eks\./);
      const issuer = statement.Principal.Federated.split("oidc-provider/")[1];
      assert.deepEqual(statement.Condition, {
        StringEquals: {
          [`${issuer}:sub`]: "system:serviceaccount:velero:velero-server",
          [`${issuer}:aud`]: "sts.amazonaws.com",
        },
      });
      const bucket = only(stack, "aws:s3/bucket:Bucket", "-backup-storage-bucket");
      const bucketArn = `arn:aws:mock:::${bucket.name}`;
      const policy = JSON.parse(
        only(stack, "aws:iam/rolePolicy:RolePolicy", "-backup-storage-policy").inputs.policy,
      );
      for (const s of policy.Statement as Obj[]) {
        const actions = s.Action as string[];
        assert.ok(!actions.some((a) => a.endsWith(":*")), `no wildcard actions (${actions.join(", ")})`);
        if (actions.some((a) => a.startsWith("s3:"))) {
          assert.ok(
            [bucketArn, `${bucketArn}/*`].includes(s.Resource),
            `S3 only on the bucket (${s.Resource})`,
          );
        } else {
          assert.ok(
            actions.every((a) => a.startsWith("ec2:")),
            "else only EC2 snapshot actions",
          );
        }
      }
    });
  }
});

describe("add-ons: configuration", () => {
  const raw = (overrides: Record<string, unknown> = {}) =>
    Object.fromEntries(
      Object.entries(resolveStackConfig("dev", { overrides })).map(([k, v]) => [
        k.slice(CONFIG_NAMESPACE.length + 1),
        v.value,
      ]),
    );
  const problems = (overrides: Record<string, unknown>) => {
    try {
      parsePlatformConfig(raw(overrides), { project: "p", stack: "dev" });
      return [];
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return [...err.problems];
    }
  };

  it("reads the add-on settings per environment", () => {
    const read = (stack: Stack) =>
      parsePlatformConfig(
        Object.fromEntries(
          Object.entries(resolveStackConfig(stack)).map(([k, v]) => [
            k.slice(CONFIG_NAMESPACE.length + 1),
            v.value,
          ]),
        ),
        { project: "p", stack },
      ).addons;
    assert.deepEqual(read("dev"), {
      argocdHighAvailability: false,
      prometheus: { retention: "7d", storageGiB: 10 },
      backup: { schedule: "0 2 * * *", retentionDays: 7 },
      logs: { retentionDays: 7 },
      traces: { retentionDays: 3 },
    });
    assert.equal(read("prod").argocdHighAvailability, true);
    assert.equal(read("prod").backup.retentionDays, 30);
  });

  it("reads the SLO targets, as ratios, with the seed's values as defaults", () => {
    const slo = parsePlatformConfig(raw(), { project: "p", stack: "dev" }).slo;
    assert.deepEqual(slo, {
      availability: 0.999,
      latency: { thresholdSeconds: 0.5, ratio: 0.95 },
      maxErrorRatio: 0.01,
    });
    const strict = parsePlatformConfig(
      raw({
        "gitops-platform:sloAvailabilityPercent": "99.95",
        "gitops-platform:sloLatencyThresholdMs": 250,
      }),
      { project: "p", stack: "dev" },
    ).slo;
    assert.equal(strict.availability, 0.9995);
    assert.equal(strict.latency.thresholdSeconds, 0.25);
  });

  it("rejects bad SLO targets, naming key, value and what is allowed", () => {
    assert.deepEqual(problems({ "gitops-platform:sloAvailabilityPercent": "100" }), [
      'gitops-platform:sloAvailabilityPercent: must be a percentage from 90 to 99.999 (got "100")',
    ]);
    assert.deepEqual(problems({ "gitops-platform:sloAvailabilityPercent": "99,9" }), [
      'gitops-platform:sloAvailabilityPercent: must be a percentage from 90 to 99.999, as a decimal number (got "99,9")',
    ]);
    assert.deepEqual(problems({ "gitops-platform:sloLatencyThresholdMs": 300 }), [
      'gitops-platform:sloLatencyThresholdMs: must be a bucket of the app\'s duration histogram: 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000 (ms) (got "300")',
    ]);
    assert.deepEqual(problems({ "gitops-platform:sloErrorRatePercent": "0" }), [
      'gitops-platform:sloErrorRatePercent: must be a percentage from 0.01 to 50 (got "0")',
    ]);
  });

  it("rejects bad add-on values, naming key, value and what is allowed", () => {
    assert.deepEqual(problems({ "gitops-platform:prometheusRetention": "7 days" }), [
      'gitops-platform:prometheusRetention: must be a Prometheus retention like 7d, 36h or 2w (a whole number and one of h, d, w, y) (got "7 days")',
    ]);
    assert.deepEqual(problems({ "gitops-platform:backupSchedule": "daily" }), [
      'gitops-platform:backupSchedule: must be a five-field cron schedule (minute hour day-of-month month day-of-week), e.g. "0 2 * * *" (got "daily")',
    ]);
    assert.deepEqual(problems({ "gitops-platform:logRetentionDays": 400 }), [
      'gitops-platform:logRetentionDays: must be 1-365 days (got "400")',
    ]);
    assert.deepEqual(problems({ "gitops-platform:traceRetentionDays": 0 }), [
      'gitops-platform:traceRetentionDays: must be 1-90 days (got "0")',
    ]);
    assert.deepEqual(problems({ "gitops-platform:backupRetentionDays": 0 }), [
      'gitops-platform:backupRetentionDays: must be 1-365 days (got "0")',
    ]);
    assert.deepEqual(problems({ "gitops-platform:argocdHighAvailability": true }), [
      "gitops-platform:argocdHighAvailability: highly available Argo CD needs at least 3 schedulable nodes (redis-ha anti-affinity); raise kindWorkerNodes or set argocdHighAvailability to false (got kindWorkerNodes 1)",
    ]);
    assert.deepEqual(
      problems({ "gitops-platform:argocdHighAvailability": true, "gitops-platform:kindWorkerNodes": 3 }),
      [],
    );
  });
});

describe("add-ons: Logs (Loki + Alloy) and Traces (Tempo)", () => {
  it("dev (kind): Loki and Tempo on buckets of the local S3 server, keys only in secret Secrets", () => {
    const values = JSON.stringify([lokiValuesOf("dev"), tempoValuesOf("dev")]);
    assert.doesNotMatch(values, /mock-password/, "no S3 key in the chart values");
    const loki = lokiValuesOf("dev");
    assert.equal(loki.deploymentMode, "Monolithic");
    assert.equal(loki.singleBinary.replicas, 1);
    assert.deepEqual(loki.loki.storage.bucketNames, { chunks: "loki", ruler: "loki", admin: "loki" });
    assert.equal(loki.loki.storage.s3.endpoint, "gitops-dev-s3:9000");
    assert.equal(loki.loki.storage.s3.accessKeyId, "${S3_ACCESS_KEY_ID}");
    assert.deepEqual(loki.singleBinary.extraEnvFrom, [{ secretRef: { name: "loki-s3" } }]);
    assert.equal(loki.loki.limits_config.retention_period, "168h");
    assert.equal(loki.loki.compactor.retention_enabled, true);
    const tempo = tempoValuesOf("dev");
    assert.equal(tempo.tempo.storage.trace.backend, "s3");
    assert.equal(tempo.tempo.storage.trace.s3.bucket, "tempo");
    assert.equal(tempo.tempo.storage.trace.s3.access_key, "${S3_ACCESS_KEY}");
    assert.deepEqual(tempo.tempo.extraArgs, { "config.expand-env": "true" });
    assert.equal(tempo.tempo.retention, "72h");
    for (const name of ["loki-s3", "tempo-s3"]) {
      const secret = all("dev", "kubernetes:core/v1:Secret").find((r) => r.inputs.metadata.name === name)!;
      assert.ok(secret, name);
      assert.ok(secret.secretPaths.includes("stringData"), `${name} is a secret`);
      assert.deepEqual(Object.values(secret.inputs.stringData), [
        "mock-password-gitops-dev-s3-access-key",
        "mock-password-gitops-dev-s3-secret-key",
      ]);
    }
    const bucketsCommand = all("dev", "command:local:Command", "-s3-bucket")[0]!;
    assert.match(bucketsCommand.inputs.create, /mkdir -p \/data\/velero \/data\/loki \/data\/tempo$/);
  });

  it("Alloy: a DaemonSet reading /var/log of its node, events by one clustered instance, least RBAC", () => {
    const alloy = release("dev", "-logs-alloy").inputs.values as Obj;
    assert.equal(alloy.controller.type, "daemonset");
    assert.equal(alloy.alloy.mounts.varlog, true);
    assert.equal(alloy.alloy.clustering.enabled, true);
    const config = alloy.alloy.configMap.content as string;
    assert.match(config, /field = "spec.nodeName=" \+ sys.env\("HOSTNAME"\)/);
    assert.match(config, /loki.source.kubernetes_events "cluster" \{[^}]*clustering \{\s*enabled = true/);
    assert.match(config, /url = "http:\/\/loki.loki.svc:3100\/loki\/api\/v1\/push"/);
    assert.match(config, /selector = "\{namespace=~\\"demo-app\\"\}"/);
    const rules = [...alloy.rbac.rules, ...alloy.rbac.clusterRules] as Obj[];
    assert.deepEqual(rules.flatMap((r) => r.resources).sort(), ["events", "pods"]);
    assert.ok(rules.every((r) => r.verbs.every((v: string) => ["get", "list", "watch"].includes(v))));
  });
});

/** A stack's raw config values (keys without the namespace), as the program reads them. */
const resolvedRaw = (stack: Stack): Record<string, unknown> =>
  Object.fromEntries(
    Object.entries(resolveStackConfig(stack)).map(([k, v]) => [
      k.slice(CONFIG_NAMESPACE.length + 1),
      v.value,
    ]),
  );

describe("add-ons: External Secrets and image signature verification in the plans", () => {
  const STORE = "kubernetes:external-secrets.io/v1:ClusterSecretStore";
  const POLICY = "kubernetes:policy.sigstore.dev/v1beta1:ClusterImagePolicy";
  const appNamespacesOnly = [{ namespaceSelector: { matchLabels: { [APP_NAMESPACE_LABEL]: "true" } } }];

  it("dev: a Kubernetes-provider store over a Pulumi-filled source namespace, no signature verification", () => {
    const store = only("dev", STORE);
    assert.equal(store.inputs.metadata.name, SECRET_STORE_NAME);
    assert.deepEqual(store.inputs.spec.conditions, appNamespacesOnly);
    const kube = store.inputs.spec.provider.kubernetes;
    assert.equal(kube.remoteNamespace, LOCAL_SECRETS_NAMESPACE);
    assert.deepEqual(kube.auth, {
      serviceAccount: { name: SECRET_STORE_SERVICE_ACCOUNT, namespace: EXTERNAL_SECRETS_NAMESPACE },
    });
    const source = all("dev", "kubernetes:core/v1:Secret").find(
      (s) => s.inputs.metadata.namespace === LOCAL_SECRETS_NAMESPACE,
    )!;
    assert.equal(source.inputs.metadata.name, APP_SECRET.name);
    assert.ok(source.secretPaths.includes("stringData"), "the token is a Pulumi secret");
    assert.equal(all("dev", POLICY).length, 0);
    assert.equal(all("dev", "aws:iam/role:Role").length, 0);
  });

  for (const stack of ["staging", "prod"] as const) {
    it(`${stack}: a Secrets Manager store through IRSA, limited to gitops-platform/${stack}/*`, () => {
      const store = only(stack, STORE);
      assert.deepEqual(store.inputs.spec.conditions, appNamespacesOnly);
      assert.deepEqual(store.inputs.spec.provider.aws, {
        service: "SecretsManager",
        region: "eu-west-1",
        prefix: `gitops-platform/${stack}/`,
        auth: {
          jwt: {
            serviceAccountRef: { name: SECRET_STORE_SERVICE_ACCOUNT, namespace: EXTERNAL_SECRETS_NAMESPACE },
          },
        },
      });
      const role = only(stack, "aws:iam/role:Role", "-external-secrets-aws-role");
      const trust = JSON.parse(role.inputs.assumeRolePolicy).Statement[0].Condition.StringEquals;
      assert.ok(
        Object.entries(trust).some(
          ([k, v]) =>
            k.endsWith(":sub") &&
            v === `system:serviceaccount:${EXTERNAL_SECRETS_NAMESPACE}:${SECRET_STORE_SERVICE_ACCOUNT}`,
        ),
      );
      const policy = JSON.parse(
        only(stack, "aws:iam/rolePolicy:RolePolicy", "-external-secrets-aws-policy").inputs.policy,
      );
      assert.deepEqual(policy.Statement, [
        {
          Sid: "ReadStackSecrets",
          Effect: "Allow",
          Action: ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
          Resource: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:gitops-platform/${stack}/*`,
        },
      ]);
      const secret = only(stack, "aws:secretsmanager/secret:Secret");
      assert.equal(secret.inputs.name, `gitops-platform/${stack}/${APP_SECRET.name}`);
      const version = only(stack, "aws:secretsmanager/secretVersion:SecretVersion");
      assert.ok(version.secretPaths.includes("secretString"), "the token is a Pulumi secret");
      // The operator may mint tokens for the store's account only, not for every service account.
      const values = release(stack, "-external-secrets-release").inputs.values as Obj;
      assert.equal(values.rbac.serviceAccountTokenCreate, false);
      assert.equal(values.processSecretStore, false);
    });

    it(`${stack}: policy-controller admits only images signed by this repository's deploy workflow on main`, () => {
      const values = release(stack, "-image-signatures-release").inputs.values as Obj;
      assert.deepEqual(values.webhook.namespaceSelector, {
        matchExpressions: [{ key: APP_NAMESPACE_LABEL, operator: "In", values: ["true"] }],
      });
      assert.equal(values.webhook.configData["no-match-policy"], "deny");
      const policy = only(stack, POLICY);
      assert.equal(policy.inputs.spec.mode, "enforce");
      const [authority] = policy.inputs.spec.authorities;
      assert.deepEqual(authority.keyless.identities, [
        {
          issuer: GITHUB_ACTIONS_ISSUER,
          subjectRegExp:
            "^https://github\\.com/gitops-platform/gitops-platform/\\.github/workflows/deploy\\.yml@refs/heads/main$",
        },
      ]);
      const subject = new RegExp(authority.keyless.identities[0].subjectRegExp);
      assert.ok(
        subject.test(
          "https://github.com/gitops-platform/gitops-platform/.github/workflows/deploy.yml@refs/heads/main",
        ),
      );
      for (const other of [
        "https://github.com/gitops-platform/gitops-platform/.github/workflows/preview.yml@refs/heads/main",
        "https://github.com/gitops-platform/gitops-platform/.github/workflows/deploy.yml@refs/heads/feature",
        "https://github.com/fork/gitops-platform/.github/workflows/deploy.yml@refs/heads/main",
      ])
        assert.ok(!subject.test(other), other);
      const image = String(evaluations.get(stack)!.outputs.appImage);
      assert.deepEqual(policy.inputs.spec.images, [{ glob: `${image.slice(0, image.lastIndexOf("/"))}/**` }]);
    });
  }

  it("a non-local registry without the signing repository is refused, naming the keys", () => {
    assert.throws(
      () =>
        parsePlatformConfig(
          {
            ...resolvedRaw("staging"),
            githubRepository: undefined,
            githubEnabled: "false",
            gitopsRepoUrl: "https://x.example/r.git",
          },
          { project: "gitops-platform", stack: "staging" },
        ),
      /gitops-platform:githubRepository: required with githubOwner when imageRegistry is "ghcr"/,
    );
  });
});

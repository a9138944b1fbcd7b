import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse, parseAllDocuments, stringify } from "yaml";
import { SUPPORTED_KUBERNETES_VERSIONS } from "../components/config";
import { APP_RESOURCE_KINDS, IN_CLUSTER, SYNC_RETRY } from "../components/gitops/gitops";
import { APP_SECRET, SECRET_STORE_NAME } from "../components/addons/external-secrets";
import { podSecurityViolations } from "../policy/rules";
import {
  extractZipEntry,
  HELM_ZIP_ENTRY,
  helmAsync,
  helmBinary,
  helmUnavailableReason,
  LAYER_ZIP,
  ROOT,
  type HelmResult,
} from "./support/helm";
import { platformValuesFile } from "./support/platform-values";
import {
  assertValid,
  KUBERNETES_SCHEMA_VERSION,
  SCHEMA_PACKAGES,
  unknownFields,
  validationProblems,
} from "./support/k8s-schema";

// Rendered manifests are read freely; the assertions are the type check.
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ENVS = ["dev", "staging", "prod"] as const;
type Env = (typeof ENVS)[number];
const CHART = "gitops/charts/demo-app";
const APPS_CHART = "gitops/apps";
const NAMESPACE = "demo-app";
const REPO_URL = "https://github.com/gitops-platform/gitops-platform.git";
const MIN_KUBE = `${SUPPORTED_KUBERNETES_VERSIONS[0]}.0`;
const DIGEST = `sha256:${"0123456789abcdef".repeat(4)}`;

/** What the platform hands the chart per EKS env (ingress host and annotations), filled in before(). */
const platformFiles = new Map<Env, string>();
const envFiles = (env: Env) => [
  "-f",
  `gitops/envs/${env}/values.yaml`,
  "-f",
  `gitops/envs/${env}/image.yaml`,
  ...(platformFiles.has(env) ? ["-f", platformFiles.get(env)!] : []),
];
/** helm template of the demo-app chart as Argo CD renders it (release = Application name). */
const templateArgs = (env: Env, ...extra: string[]) => [
  "template",
  "demo-app",
  CHART,
  "--namespace",
  NAMESPACE,
  "--kube-version",
  MIN_KUBE,
  ...envFiles(env),
  ...extra,
];
const lintArgs = (env: Env) => [
  "lint",
  "--strict",
  CHART,
  "--namespace",
  NAMESPACE,
  "--kube-version",
  MIN_KUBE,
  ...envFiles(env),
];
/** The values the root Application passes to the app-of-apps chart (components/gitops/gitops.ts). */
const rootValues = (env: Env) => [
  "--set",
  `env=${env},repoURL=${REPO_URL},targetRevision=main,project=${env}`,
];
const appsArgs = (env: Env) => [
  "template",
  `${env}-apps`,
  APPS_CHART,
  "--namespace",
  "argocd",
  ...rootValues(env),
];
const appsLintArgs = (env: Env) => [
  "lint",
  "--strict",
  APPS_CHART,
  "--namespace",
  "argocd",
  ...rootValues(env),
];

/** Values that violate values.schema.json: helm must refuse them, naming the offending field. */
const SCHEMA_VIOLATIONS: { name: string; set: string; error: RegExp[] }[] = [
  { name: "replicaCount 0", set: "replicaCount=0", error: [/replicaCount/, /minimum|greater/i] },
  { name: "missing resources.limits", set: "resources.limits=null", error: [/resources/, /limits/] },
  { name: "missing memory request", set: "resources.requests.memory=null", error: [/requests/, /memory/] },
  { name: "a malformed digest", set: "image.digest=sha256:abc", error: [/digest/, /pattern/i] },
  { name: "an unknown top-level key", set: "replicas=3", error: [/replicas/, /additional propert/i] },
  {
    name: "an unknown nested key",
    set: "service.targetPort=9090",
    error: [/targetPort/, /additional propert/i],
  },
  { name: 'env "qa"', set: "env=qa", error: [/env/, /one of/i] },
  { name: "an empty image.repository", set: "image.repository=", error: [/repository/] },
  { name: "an unknown log level", set: "app.logLevel=verbose", error: [/logLevel/, /one of/i] },
  {
    name: "a wildcard ingress host",
    set: "ingress.host=*.example.com",
    error: [/host/, /pattern/i],
  },
  {
    name: "a NodePort outside 30000-32767",
    set: "service.nodePort=8080",
    error: [/nodePort/, /minimum|greater/i],
  },
  {
    name: "a tracing rate limit of 0",
    set: "tracing.rateLimit=0",
    error: [/rateLimit/, /minimum|greater/i],
  },
];

/** Values the schema admits but the templates refuse, with the message they must give. */
const RENDER_FAILURES: { name: string; args: string[]; error: RegExp }[] = [
  {
    name: "image.tag latest",
    args: ["--set", "image.tag=latest"],
    error: /image\.tag "latest" is not allowed/,
  },
  {
    name: "image.tag latest even with a digest",
    args: ["--set", `image.tag=latest,image.digest=${DIGEST}`],
    error: /image\.tag "latest" is not allowed/,
  },
  {
    name: "neither tag nor digest",
    args: ["--set", "image.tag="],
    error: /set image\.digest .* or image\.tag/,
  },
  {
    name: "a grace period not above the drain time",
    args: ["--set", "terminationGracePeriodSeconds=12"],
    error: /terminationGracePeriodSeconds=12 must be greater than the app's drain time .*= 12000ms/,
  },
  {
    name: "a drain delay not below the shutdown timeout",
    args: ["--set", "app.drainDelayMs=10000,terminationGracePeriodSeconds=60"],
    error: /app\.drainDelayMs=10000 must be below app\.shutdownTimeoutMs=10000/,
  },
  {
    name: "a nodePort without type NodePort",
    args: ["--set", "service.type=ClusterIP"],
    error: /service\.nodePort is set but service\.type is ClusterIP/,
  },
  {
    name: "an Ingress without a host",
    args: ["--set", "ingress.enabled=true"],
    error: /ingress\.host is required when ingress\.enabled/,
  },
  {
    name: "autoscaling min above max",
    args: ["--set", "autoscaling.enabled=true,autoscaling.minReplicas=5,autoscaling.maxReplicas=2"],
    error: /autoscaling\.minReplicas=5 must not exceed autoscaling\.maxReplicas=2/,
  },
];

// ---------------------------------------------------------------------------------------------------
// helm runs: each distinct command once per process, all started together in before() with a bounded pool.

const runs = new Map<string, Promise<HelmResult>>();
const slots = Math.max(2, Math.min(8, os.availableParallelism() * 2));
let running = 0;
const waiting: (() => void)[] = [];

async function pooled<T>(task: () => Promise<T>): Promise<T> {
  if (running >= slots) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await task();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

function run(args: string[]): Promise<HelmResult> {
  const key = args.join("\0");
  let result = runs.get(key);
  if (!result) {
    result = pooled(() => helmAsync(args));
    result.catch(() => undefined); // started early in before(); the awaiting test reports the failure
    runs.set(key, result);
  }
  return result;
}

function ok(result: HelmResult, what: string): string {
  assert.equal(result.status, 0, `${what} failed:\n${result.stderr}`);
  return result.stdout;
}

/** The objects of a successful render. */
async function render(args: string[]): Promise<Obj[]> {
  const out = ok(await run(args), `helm ${args.join(" ")}`);
  return parseAllDocuments(out)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`helm rendered invalid YAML: ${doc.errors[0]!.message}`);
      return doc.toJSON() as Obj | null;
    })
    .filter((o): o is Obj => o !== null);
}

const one = (objects: Obj[], kind: string): Obj => {
  const found = objects.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `exactly one ${kind} (got ${found.length})`);
  return found[0]!;
};
/** The app's workload: the Deployment (dev) or the Argo Rollouts Rollout (staging, prod); never both. */
const workload = (objects: Obj[]): Obj => {
  const found = objects.filter((o) => o.kind === "Deployment" || o.kind === "Rollout");
  assert.equal(
    found.length,
    1,
    `exactly one Deployment or Rollout (got ${found.map((o) => o.kind).join(", ")})`,
  );
  return found[0]!;
};
/** The app's own Service (the Ingress backend, the Rollout's root/active Service), not the ones a Rollout steers. */
const appService = (objects: Obj[]): Obj =>
  one(
    objects.filter((o) => o.metadata.labels?.["gitops-platform/rollout-service"] === undefined),
    "Service",
  );
const none = (objects: Obj[], kind: string) =>
  assert.equal(objects.filter((o) => o.kind === kind).length, 0, `no ${kind}`);
/** The container's literal environment variables (valueFrom entries are asserted on their own). */
const envOf = (container: Obj): Record<string, string> =>
  Object.fromEntries(
    (container.env as { name: string; value?: string }[])
      .filter((e) => e.value !== undefined)
      .map((e) => [e.name, e.value as string]),
  );

// ---------------------------------------------------------------------------------------------------

describe("gitops/ charts with a real helm", function () {
  before(async function () {
    this.timeout(60000);
    const reason = helmUnavailableReason();
    if (reason) {
      if (process.env.CI && process.env.CI !== "false") throw new Error(`helm is required in CI: ${reason}`);
      console.log(`    skipped: no helm binary (${reason}); install helm or set HELM_BIN`);
      this.skip();
    }
    // Argo CD renders staging and prod with the root Application's platform values on top.
    for (const env of ["staging", "prod"] as const) {
      const file = await platformValuesFile(env);
      if (file) platformFiles.set(env, file);
    }
    // Start every helm run now so they overlap; the tests below await the same promises.
    for (const env of ENVS) {
      run(lintArgs(env));
      run(appsLintArgs(env));
      run(templateArgs(env));
      run(appsArgs(env));
    }
    for (const c of SCHEMA_VIOLATIONS) run(templateArgs("dev", "--set", c.set));
    for (const c of RENDER_FAILURES) run(templateArgs("dev", ...c.args));
  });

  describe("helm binary", () => {
    it("is a working helm", async () => {
      const { path: bin, source } = helmBinary();
      const version = ok(await run(["version", "--short"]), "helm version").trim();
      assert.match(version, /^v\d+\.\d+\.\d+/);
      console.log(`      helm ${version} from ${source}: ${path.relative(ROOT, bin) || bin}`);
    });

    it("the Node zip extractor yields the layer's helm byte for byte (for machines without unzip)", function () {
      if (!fs.existsSync(LAYER_ZIP)) this.skip();
      const data = extractZipEntry(LAYER_ZIP, HELM_ZIP_ENTRY); // checks size and CRC-32 itself
      assert.equal(data.subarray(0, 4).toString("latin1"), "\x7fELF");
      const { path: bin, source } = helmBinary();
      if (source.startsWith("layer.zip"))
        assert.ok(data.equals(fs.readFileSync(bin)), "same bytes as the cache");
    });
  });

  describe("Kubernetes schemas", () => {
    it(`are pinned: kubernetes-models ${SCHEMA_PACKAGES["kubernetes-models"]} (Kubernetes ${KUBERNETES_SCHEMA_VERSION}), Argo CD and Prometheus Operator models`, async () => {
      for (const [name, version] of Object.entries(SCHEMA_PACKAGES)) {
        const installed = JSON.parse(
          fs.readFileSync(path.join(ROOT, "node_modules", name, "package.json"), "utf8"),
        );
        assert.equal(
          installed.version,
          version,
          `${name}: update SCHEMA_PACKAGES and KUBERNETES_SCHEMA_VERSION`,
        );
      }
      // A 1.36 field is known to the models, so they are not older than the constant says.
      const pod = { apiVersion: "v1", kind: "Pod", metadata: { name: "p" } };
      const spec = { containers: [{ name: "c", image: "i" }], schedulingGroup: { podGroupName: "g" } };
      assert.deepEqual(unknownFields("v1/Pod", { ...pod, spec }), []);
    });

    it("the validator rejects unknown kinds, removed API versions, unknown fields and wrong types", async () => {
      const deployment = one(await render(templateArgs("dev")), "Deployment");
      assert.deepEqual(await validationProblems(deployment), []);
      const broken = structuredClone(deployment);
      broken.spec.replicas = "2";
      broken.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true;
      const problems = await validationProblems(broken);
      assert.ok(
        problems.some((p) => /spec\/replicas must be integer/.test(p)),
        problems.join("\n"),
      );
      assert.ok(
        problems.includes(
          "spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem: unknown field",
        ),
        problems.join("\n"),
      );
      // The Argo Rollouts schema too (staging and prod run a Rollout).
      const rollout = structuredClone(one(await render(templateArgs("staging")), "Rollout"));
      assert.deepEqual(await validationProblems(rollout), []);
      rollout.spec.strategy.canary.steps[0].setWeigth = 20;
      rollout.spec.strategy.canary.maxUnavailable = [0];
      const rolloutProblems = await validationProblems(rollout);
      assert.ok(
        rolloutProblems.includes("spec.strategy.canary.steps[0].setWeigth: unknown field"),
        rolloutProblems.join("\n"),
      );
      assert.ok(
        rolloutProblems.some((p) => /maxUnavailable/.test(p)),
        rolloutProblems.join("\n"),
      );
      for (const [apiVersion, kind] of [
        ["example.com/v1", "Widget"],
        ["policy/v1beta1", "PodDisruptionBudget"],
        ["autoscaling/v2beta2", "HorizontalPodAutoscaler"],
      ]) {
        const [problem] = await validationProblems({ apiVersion, kind, metadata: { name: "x" } });
        assert.match(problem ?? "", /^no schema for apiVersion/);
      }
    });
  });

  describe("demo-app chart", () => {
    for (const env of ENVS) {
      it(`${env}: helm lint --strict passes with the env's values and image files`, async () => {
        const out = ok(await run(lintArgs(env)), `helm lint ${env}`);
        assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
        assert.doesNotMatch(out, /\[(WARNING|ERROR)\]/);
      });

      it(`${env}: every rendered object is valid (Kubernetes ${KUBERNETES_SCHEMA_VERSION}, Prometheus Operator)`, async () => {
        const objects = await render(templateArgs(env));
        assert.ok(objects.length >= 5);
        for (const obj of objects) await assertValid(obj, env);
        for (const obj of objects) {
          assert.equal(obj.metadata.labels["app.kubernetes.io/name"], "demo-app", `${obj.kind} labels`);
          assert.equal(obj.metadata.labels["app.kubernetes.io/instance"], "demo-app");
          assert.equal(obj.metadata.labels["app.kubernetes.io/managed-by"], "Helm");
        }
      });

      it(`${env}: the Argo CD AppProject admits every kind the chart renders`, async () => {
        const admitted = new Set(APP_RESOURCE_KINDS.map((k) => `${k.group}/${k.kind}`));
        for (const obj of await render(templateArgs(env))) {
          const group = obj.apiVersion.includes("/") ? obj.apiVersion.split("/")[0] : "";
          assert.ok(
            admitted.has(`${group}/${obj.kind}`),
            `${group}/${obj.kind} is not in APP_RESOURCE_KINDS`,
          );
        }
      });

      it(`${env}: the ${env === "dev" ? "Deployment" : "Rollout"} is hardened (non-root, read-only root, no privilege escalation, drop ALL, seccomp, limits, probes, zero-downtime rollout)`, async () => {
        const objects = await render(templateArgs(env));
        const deployment = workload(objects);
        assert.equal(deployment.kind, env === "dev" ? "Deployment" : "Rollout");
        const values = parse(fs.readFileSync(path.join(ROOT, `gitops/envs/${env}/values.yaml`), "utf8"));
        const pod = deployment.spec.template.spec;
        assert.equal(pod.securityContext.runAsNonRoot, true);
        assert.equal(pod.securityContext.runAsUser, 10001);
        assert.equal(pod.securityContext.runAsGroup, 10001);
        assert.equal(pod.securityContext.fsGroup, 10001);
        assert.equal(pod.securityContext.seccompProfile.type, "RuntimeDefault");
        assert.equal(pod.automountServiceAccountToken, false);
        assert.equal(one(objects, "ServiceAccount").automountServiceAccountToken, false);
        assert.equal(pod.serviceAccountName, one(objects, "ServiceAccount").metadata.name);
        assert.equal(pod.containers.length, 1);
        const [container] = pod.containers;
        const sc = container.securityContext;
        assert.equal(sc.runAsNonRoot, true);
        assert.equal(sc.readOnlyRootFilesystem, true);
        assert.equal(sc.allowPrivilegeEscalation, false);
        assert.equal(sc.privileged, false);
        assert.deepEqual(sc.capabilities, { drop: ["ALL"] });
        assert.equal(sc.seccompProfile.type, "RuntimeDefault");
        for (const kind of ["requests", "limits"]) {
          for (const resource of ["cpu", "memory"]) {
            assert.ok(container.resources[kind]?.[resource], `resources.${kind}.${resource}`);
            assert.equal(
              String(container.resources[kind][resource]),
              String(values.resources[kind][resource]),
            );
          }
        }
        assert.deepEqual(container.ports, [{ name: "http", containerPort: 8080, protocol: "TCP" }]);
        assert.deepEqual(container.livenessProbe.httpGet, { path: "/healthz", port: "http" });
        assert.deepEqual(container.readinessProbe.httpGet, { path: "/readyz", port: "http" });
        assert.deepEqual(container.startupProbe.httpGet, { path: "/healthz", port: "http" });
        // The restricted checks the policy pack applies to every pod (policy/rules.ts).
        assert.deepEqual(podSecurityViolations(pod), []);
        if (deployment.kind === "Deployment") {
          assert.deepEqual(deployment.spec.strategy, {
            type: "RollingUpdate",
            rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
          });
        } else {
          assert.equal(deployment.spec.strategy.canary.maxUnavailable, 0);
          assert.equal(deployment.spec.strategy.canary.maxSurge, 1);
        }
        // The kubelet's SIGKILL must come after the app's own worst case: drain delay + shutdown timeout.
        const vars = envOf(container);
        const drainMs = Number(vars.SHUTDOWN_TIMEOUT_MS) + Number(vars.DRAIN_DELAY_MS);
        assert.ok(drainMs > 0 && pod.terminationGracePeriodSeconds * 1000 > drainMs, `grace vs ${drainMs}ms`);
        // Zero-downtime drain: /readyz answers 503 for DRAIN_DELAY_MS before the listener closes. Where more
        // than one replica serves (staging, prod), that spans at least one readiness probe period, so the
        // probe and the load balancer's health check see the 503 before connections are refused.
        const chartDefaults = parse(
          fs.readFileSync(path.join(ROOT, "gitops/charts/demo-app/values.yaml"), "utf8"),
        );
        const readiness = { ...chartDefaults.probes.readiness, ...values.probes?.readiness };
        assert.ok(Number(vars.DRAIN_DELAY_MS) > 0, `DRAIN_DELAY_MS ${vars.DRAIN_DELAY_MS}`);
        if (env !== "dev") {
          assert.ok(
            Number(vars.DRAIN_DELAY_MS) >= readiness.periodSeconds * 1000,
            `DRAIN_DELAY_MS ${vars.DRAIN_DELAY_MS} < readiness period ${readiness.periodSeconds}s`,
          );
        }
        for (const [probe, settings] of [
          ["readinessProbe", readiness],
          ["livenessProbe", { ...chartDefaults.probes.liveness, ...values.probes?.liveness }],
        ] as const) {
          for (const field of ["periodSeconds", "timeoutSeconds", "failureThreshold"] as const) {
            assert.equal(container[probe][field], settings[field], `${probe}.${field}`);
          }
        }
        assert.ok(
          container.startupProbe.failureThreshold * container.startupProbe.periodSeconds >= 30,
          "startup",
        );
        // A read-only root works because /tmp is an emptyDir.
        assert.deepEqual(container.volumeMounts, [{ name: "tmp", mountPath: "/tmp" }]);
        assert.deepEqual(Object.keys(pod.volumes.find((v: Obj) => v.name === "tmp")), ["name", "emptyDir"]);
        const spread = pod.topologySpreadConstraints as Obj[];
        assert.deepEqual(spread.map((t) => t.topologyKey).sort(), [
          "kubernetes.io/hostname",
          "topology.kubernetes.io/zone",
        ]);
        for (const t of spread) {
          assert.equal(t.whenUnsatisfiable, "ScheduleAnyway");
          assert.deepEqual(t.labelSelector.matchLabels, deployment.spec.selector.matchLabels);
          // Each controller labels a revision's pods with its own hash label.
          assert.deepEqual(t.matchLabelKeys, [
            deployment.kind === "Rollout" ? "rollouts-pod-template-hash" : "pod-template-hash",
          ]);
        }
      });

      it(`${env}: the container gets the app's environment`, async () => {
        const deployment = workload(await render(templateArgs(env)));
        const [container] = deployment.spec.template.spec.containers;
        const values = parse(fs.readFileSync(path.join(ROOT, `gitops/envs/${env}/values.yaml`), "utf8"));
        const image = parse(fs.readFileSync(path.join(ROOT, `gitops/envs/${env}/image.yaml`), "utf8")).image;
        assert.deepEqual(envOf(container), {
          PORT: "8080",
          APP_ENV: env,
          APP_VERSION: image.tag,
          LOG_LEVEL: values.app.logLevel,
          SHUTDOWN_TIMEOUT_MS: String(values.app.shutdownTimeoutMs),
          DRAIN_DELAY_MS: String(values.app.drainDelayMs),
          OTEL_EXPORTER_OTLP_ENDPOINT: "http://tempo.tempo.svc:4318",
          OTEL_TRACES_SAMPLER_ARG: env === "dev" ? "1" : "0.1",
          TRACE_RATE_LIMIT: "100",
        });
        assert.equal(container.image, `${image.repository}:${image.tag}`);
      });

      it(`${env}: the API token comes from the stack's ClusterSecretStore through an ExternalSecret`, async () => {
        const objects = await render(templateArgs(env));
        const externalSecret = one(objects, "ExternalSecret");
        assert.equal(externalSecret.apiVersion, "external-secrets.io/v1");
        assert.deepEqual(externalSecret.spec.secretStoreRef, {
          kind: "ClusterSecretStore",
          name: SECRET_STORE_NAME,
        });
        assert.deepEqual(externalSecret.spec.data, [
          { secretKey: "api-token", remoteRef: { key: APP_SECRET.name, property: APP_SECRET.key } },
        ]);
        const [container] = workload(objects).spec.template.spec.containers;
        const token = (container.env as Obj[]).find((e) => e.name === "API_TOKEN");
        assert.deepEqual(token?.valueFrom, {
          secretKeyRef: { name: externalSecret.spec.target.name, key: "api-token" },
        });
      });
    }

    it("per environment: replicas dev 1, staging 2, prod autoscaled 3-10 on CPU (no fixed replicas)", async () => {
      const [dev, staging, prod] = await Promise.all(ENVS.map((env) => render(templateArgs(env))));
      assert.equal(workload(dev!).spec.replicas, 1);
      assert.equal(workload(staging!).spec.replicas, 2);
      assert.equal("replicas" in workload(prod!).spec, false, "the HPA owns prod's replica count");
      none(dev!, "HorizontalPodAutoscaler");
      none(staging!, "HorizontalPodAutoscaler");
      const hpa = one(prod!, "HorizontalPodAutoscaler");
      assert.equal(hpa.apiVersion, "autoscaling/v2");
      assert.deepEqual(hpa.spec.scaleTargetRef, {
        apiVersion: "argoproj.io/v1alpha1",
        kind: "Rollout",
        name: "demo-app",
      });
      assert.equal(hpa.spec.minReplicas, 3);
      assert.equal(hpa.spec.maxReplicas, 10);
      assert.equal(hpa.spec.metrics[0].resource.name, "cpu");
      assert.equal(hpa.spec.metrics[0].resource.target.type, "Utilization");
    });

    it("per environment: a PodDisruptionBudget exactly where more than one replica runs (staging, prod)", async () => {
      const [dev, staging, prod] = await Promise.all(ENVS.map((env) => render(templateArgs(env))));
      none(dev!, "PodDisruptionBudget");
      for (const objects of [staging!, prod!]) {
        const pdb = one(objects, "PodDisruptionBudget");
        assert.equal(pdb.apiVersion, "policy/v1");
        assert.equal(pdb.spec.maxUnavailable, 1);
        assert.deepEqual(pdb.spec.selector.matchLabels, workload(objects).spec.selector.matchLabels);
      }
    });

    it("per environment: dev is a NodePort on 30080 (kind maps it to the host), staging and prod ClusterIP", async () => {
      const [dev, staging, prod] = await Promise.all(ENVS.map((env) => render(templateArgs(env))));
      const devService = appService(dev!);
      assert.equal(devService.spec.type, "NodePort");
      assert.deepEqual(devService.spec.ports, [
        { name: "http", port: 80, targetPort: "http", protocol: "TCP", nodePort: 30080 },
      ]);
      for (const objects of [staging!, prod!]) {
        const service = appService(objects);
        assert.equal(service.spec.type, "ClusterIP");
        assert.deepEqual(service.spec.ports, [
          { name: "http", port: 80, targetPort: "http", protocol: "TCP" },
        ]);
        assert.deepEqual(service.spec.selector, workload(objects).spec.selector.matchLabels);
      }
    });

    it("per environment: staging and prod serve https://app.<domain> by an HTTPS ALB Ingress with TLS for the host (platform values through the root Application), dev none", async () => {
      const [dev, staging, prod] = await Promise.all(ENVS.map((env) => render(templateArgs(env))));
      none(dev!, "Ingress");
      for (const [env, objects] of [
        ["staging", staging!],
        ["prod", prod!],
      ] as const) {
        const host = `app.${env}.example.com`;
        const ingress = one(objects, "Ingress");
        assert.equal(ingress.apiVersion, "networking.k8s.io/v1");
        assert.equal(ingress.spec.ingressClassName, "alb");
        assert.deepEqual(ingress.spec.tls, [{ hosts: [host] }]);
        assert.deepEqual(ingress.spec.rules, [
          {
            host,
            http: {
              paths: [
                {
                  path: "/",
                  pathType: "Prefix",
                  // The canary Rollout splits traffic on the ALB: the port names the action annotation.
                  backend: {
                    service: { name: appService(objects).metadata.name, port: { name: "use-annotation" } },
                  },
                },
              ],
            },
          },
        ]);
        const a = ingress.metadata.annotations;
        assert.match(
          a["alb.ingress.kubernetes.io/certificate-arn"],
          /^arn:aws:acm:[a-z0-9-]+:\d{12}:certificate\//,
        );
        assert.equal(a["alb.ingress.kubernetes.io/scheme"], "internet-facing");
        assert.equal(a["alb.ingress.kubernetes.io/listen-ports"], '[{"HTTP":80},{"HTTPS":443}]');
        assert.equal(a["alb.ingress.kubernetes.io/ssl-redirect"], "443", "HTTP only redirects");
        assert.match(a["alb.ingress.kubernetes.io/ssl-policy"], /^ELBSecurityPolicy-TLS13-/);
        assert.equal(a["alb.ingress.kubernetes.io/group.name"], `gitops-${env}-app`);
        assert.equal(a["alb.ingress.kubernetes.io/healthcheck-path"], "/readyz");
        // WAF: on in prod (Pulumi.prod.yaml wafEnabled), off in staging.
        if (env === "prod") assert.match(a["alb.ingress.kubernetes.io/wafv2-acl-arn"], /^arn:aws:/);
        else assert.equal(a["alb.ingress.kubernetes.io/wafv2-acl-arn"], undefined);
        // The load balancer reaches the pods from the VPC: the NetworkPolicy admits it on the app port.
        const policy = one(objects, "NetworkPolicy");
        assert.ok(
          policy.spec.ingress[0].from.some((peer: Obj) =>
            /^10\.\d+\.0\.0\/16$/.test(peer.ipBlock?.cidr ?? ""),
          ),
          JSON.stringify(policy.spec.ingress),
        );
      }
    });

    it("externalSecret.enabled=false renders neither the ExternalSecret nor API_TOKEN", async () => {
      const objects = await render(templateArgs("prod", "--set", "externalSecret.enabled=false"));
      none(objects, "ExternalSecret");
      const [container] = workload(objects).spec.template.spec.containers;
      assert.ok(!(container.env as Obj[]).some((e) => e.name === "API_TOKEN"));
    });

    it("ServiceMonitor scrapes /metrics on the http port of the Service, in the release namespace", async () => {
      const objects = await render(templateArgs("prod"));
      const monitor = one(objects, "ServiceMonitor");
      assert.equal(monitor.apiVersion, "monitoring.coreos.com/v1");
      assert.deepEqual(
        monitor.spec.endpoints.map((e: Obj) => [e.port, e.path]),
        [["http", "/metrics"]],
      );
      assert.deepEqual(monitor.spec.selector.matchLabels, appService(objects).spec.selector);
      assert.deepEqual(monitor.spec.namespaceSelector, { matchNames: [NAMESPACE] });
      none(await render(templateArgs("prod", "--set", "serviceMonitor.enabled=false")), "ServiceMonitor");
    });

    it("NetworkPolicy: port 8080 from the namespace, Prometheus and the VPC's load balancer only (dev: from anywhere), egress DNS to kube-system and OTLP to Tempo only", async () => {
      const policy = one(await render(templateArgs("staging")), "NetworkPolicy");
      assert.deepEqual(policy.spec.policyTypes, ["Ingress", "Egress"]);
      assert.deepEqual(policy.spec.ingress, [
        {
          ports: [{ port: "http", protocol: "TCP" }],
          from: [
            { podSelector: {} },
            { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } },
            // Staging's VPC (Pulumi.staging.yaml vpcCidr), where its load balancer lives.
            { ipBlock: { cidr: "10.20.0.0/16" } },
          ],
        },
      ]);
      assert.deepEqual(policy.spec.egress, [
        {
          to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } } }],
          ports: [
            { port: 53, protocol: "UDP" },
            { port: 53, protocol: "TCP" },
          ],
        },
        {
          to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "tempo" } } }],
          ports: [{ port: 4318, protocol: "TCP" }],
        },
      ]);
      const untraced = one(
        await render([...templateArgs("staging"), "--set", "tracing.otlpEndpoint="]),
        "NetworkPolicy",
      );
      assert.equal(untraced.spec.egress.length, 1, "no tracing endpoint: DNS only");
      const devPolicy = one(await render(templateArgs("dev")), "NetworkPolicy");
      assert.deepEqual(devPolicy.spec.ingress, [{ ports: [{ port: "http", protocol: "TCP" }] }]);
      assert.deepEqual(devPolicy.spec.egress, policy.spec.egress);
    });

    it("the image file Pulumi writes (repository, tag, digest, commit time) pins the image by digest", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "charts-test-"));
      try {
        const file = path.join(dir, "image.yaml");
        const image = {
          repository: "ghcr.io/example-org/demo-app",
          tag: "abc1234-42",
          digest: DIGEST,
          commitTime: "2026-01-31T12:00:00Z",
        };
        // The same shape as imageValuesFile() in components/gitops/gitops.ts.
        fs.writeFileSync(file, `# Written by Pulumi (gitops-platform)\n${stringify({ image })}`);
        const objects = await render(templateArgs("prod", "-f", file));
        for (const obj of objects) await assertValid(obj, "pinned");
        const deployment = workload(objects);
        const [container] = deployment.spec.template.spec.containers;
        assert.equal(container.image, `ghcr.io/example-org/demo-app@${DIGEST}`);
        assert.equal(envOf(container).APP_VERSION, "abc1234-42");
        assert.equal(envOf(container).GIT_COMMIT, "abc1234", "the commit of a {sha7}-{run} tag");
        assert.equal(envOf(container).GIT_COMMIT_TIME, "2026-01-31T12:00:00Z", "for the lead-time metric");
        assert.equal(deployment.metadata.labels["app.kubernetes.io/version"], "abc1234-42");
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it(`renders for every supported Kubernetes version (${SUPPORTED_KUBERNETES_VERSIONS.join(", ")}) and refuses older ones`, async () => {
      for (const version of SUPPORTED_KUBERNETES_VERSIONS) {
        await render(templateArgs("prod", "--kube-version", `${version}.0`));
      }
      const old = await run(templateArgs("prod", "--kube-version", "1.31.0"));
      assert.notEqual(old.status, 0);
      assert.match(old.stderr, /kubeVersion/i);
    });

    for (const c of SCHEMA_VIOLATIONS) {
      it(`values.schema.json rejects ${c.name}`, async () => {
        const result = await run(templateArgs("dev", "--set", c.set));
        assert.notEqual(result.status, 0, `helm accepted ${c.set}`);
        assert.match(result.stderr, /schema/i);
        for (const pattern of c.error) assert.match(result.stderr, pattern);
      });
    }

    for (const c of RENDER_FAILURES) {
      it(`the render fails with a clear message on ${c.name}`, async () => {
        const result = await run(templateArgs("dev", ...c.args));
        assert.notEqual(result.status, 0, `helm rendered ${c.args.join(" ")}`);
        assert.match(result.stderr, c.error);
      });
    }
  });

  describe("progressive delivery (Argo Rollouts)", () => {
    it("dev renders a Deployment; staging and prod a canary Rollout and its AnalysisTemplate instead", async () => {
      const [dev, staging, prod] = await Promise.all(ENVS.map((env) => render(templateArgs(env))));
      one(dev!, "Deployment");
      none(dev!, "Rollout");
      none(dev!, "AnalysisTemplate");
      for (const objects of [staging!, prod!]) {
        none(objects, "Deployment");
        const rollout = one(objects, "Rollout");
        assert.equal(rollout.apiVersion, "argoproj.io/v1alpha1");
        // A rollback to a recent revision goes straight back: no steps, no analysis.
        assert.deepEqual(rollout.spec.rollbackWindow, { revisions: 3 });
        const template = one(objects, "AnalysisTemplate");
        const analysis = rollout.spec.strategy.canary.analysis;
        assert.deepEqual(analysis.templates, [{ templateName: template.metadata.name }]);
        assert.deepEqual(
          analysis.args.map((a: Obj) => a.name).sort(),
          template.spec.args.map((a: Obj) => a.name).sort(),
          "every argument of the template is passed",
        );
        assert.deepEqual(
          analysis.args.find((a: Obj) => a.name === "revision").valueFrom,
          { podTemplateHashValue: "Latest" },
          "the analysis judges the new revision",
        );
      }
    });

    it("canary weights and pauses come from the env values; without an Ingress the split is by replicas", async () => {
      for (const env of ["staging", "prod"] as const) {
        const values = parse(fs.readFileSync(path.join(ROOT, `gitops/envs/${env}/values.yaml`), "utf8"));
        const defaults = parse(fs.readFileSync(path.join(ROOT, CHART, "values.yaml"), "utf8"));
        const expected = values.rollout.canary?.steps ?? defaults.rollout.canary.steps;
        const objects = await render(templateArgs(env, "--set", "ingress.enabled=false"));
        none(objects, "Ingress");
        const canary = one(objects, "Rollout").spec.strategy.canary;
        assert.deepEqual(canary.steps, expected);
        assert.ok(
          canary.steps.some((s: Obj) => "pause" in s) && canary.steps.some((s: Obj) => "setWeight" in s),
        );
        assert.equal("trafficRouting" in canary, false, "replica-based: no traffic router");
        assert.equal("canaryService" in canary, false);
      }
      const steps = await render(
        templateArgs("staging", "--set-json", 'rollout.canary.steps=[{"setWeight":5},{"pause":{}}]'),
      );
      assert.deepEqual(one(steps, "Rollout").spec.strategy.canary.steps, [{ setWeight: 5 }, { pause: {} }]);
    });

    it("with the ALB Ingress (staging, prod) the canary's weight is set on the ALB through stable and canary Services", async () => {
      const objects = await render(templateArgs("prod"));
      for (const obj of objects) await assertValid(obj, "prod with ingress");
      // The Ingress backend is the root Service with the port `use-annotation`: the controller reads the
      // weighted forward action Argo Rollouts writes into alb.ingress.kubernetes.io/actions.<rootService>.
      const backend = one(objects, "Ingress").spec.rules[0].http.paths[0].backend.service;
      assert.deepEqual(backend, { name: "demo-app", port: { name: "use-annotation" } });
      const canary = one(objects, "Rollout").spec.strategy.canary;
      assert.deepEqual(canary.trafficRouting, {
        alb: { ingress: "demo-app", rootService: "demo-app", servicePort: 80 },
      });
      assert.equal(canary.stableService, "demo-app-stable");
      assert.equal(canary.canaryService, "demo-app-canary");
      const services = objects.filter((o) => o.kind === "Service");
      assert.deepEqual(services.map((s) => s.metadata.name).sort(), [
        "demo-app",
        "demo-app-canary",
        "demo-app-stable",
      ]);
      const selector = one(objects, "Rollout").spec.selector.matchLabels;
      for (const service of services) assert.deepEqual(service.spec.selector, selector);
      // Prometheus scrapes every pod once, through the app's Service only.
      const monitor = one(objects, "ServiceMonitor");
      assert.deepEqual(monitor.spec.selector.matchExpressions, [
        { key: "gitops-platform/rollout-service", operator: "NotIn", values: ["stable", "canary"] },
      ]);
      for (const service of services) {
        const label = service.metadata.labels["gitops-platform/rollout-service"];
        assert.equal(service.metadata.name === "demo-app", label === undefined, service.metadata.name);
      }
      // Without the canary on the ALB (a Deployment, or blue-green) the Ingress is plain: the Service's port.
      for (const extra of ["rollout.enabled=false", "rollout.strategy=blueGreen"]) {
        const plain = await render(templateArgs("prod", "--set", extra));
        assert.deepEqual(
          one(plain, "Ingress").spec.rules[0].http.paths[0].backend.service,
          {
            name: "demo-app",
            port: { name: "http" },
          },
          extra,
        );
        assert.deepEqual(
          plain
            .filter((o) => o.kind === "Service")
            .map((o) => o.metadata.name)
            .filter((n) => /-(stable|canary)$/.test(n)),
          [],
          `${extra}: no stable/canary Services`,
        );
      }
    });

    it("blue-green is the alternative strategy: a preview Service, promotion only after the analysis passes", async () => {
      const objects = await render(templateArgs("staging", "--set", "rollout.strategy=blueGreen"));
      for (const obj of objects) await assertValid(obj, "staging blue-green");
      const rollout = one(objects, "Rollout");
      assert.equal("canary" in rollout.spec.strategy, false);
      const blueGreen = rollout.spec.strategy.blueGreen;
      assert.equal(
        blueGreen.activeService,
        one(
          objects.filter((o) => o.metadata.name === "demo-app"),
          "Service",
        ).metadata.name,
      );
      assert.equal(blueGreen.previewService, "demo-app-preview");
      assert.equal(blueGreen.autoPromotionEnabled, true);
      assert.equal(blueGreen.scaleDownDelaySeconds, 300);
      const analysis = blueGreen.prePromotionAnalysis;
      assert.deepEqual(analysis.templates, [
        { templateName: one(objects, "AnalysisTemplate").metadata.name },
      ]);
      // The new version is only behind the preview Service until promotion: its metrics are scraped there.
      assert.equal(analysis.args.find((a: Obj) => a.name === "service").value, "demo-app-preview");
      assert.ok(objects.some((o) => o.kind === "Service" && o.metadata.name === "demo-app-preview"));
      assert.equal(podSecurityViolations(rollout.spec.template.spec).length, 0);
    });

    it("the AnalysisTemplate measures the new revision's 5xx share and p95 latency, thresholds from values (1 %, 500 ms)", async () => {
      const metrics = (objects: Obj[]) =>
        Object.fromEntries(one(objects, "AnalysisTemplate").spec.metrics.map((m: Obj) => [m.name, m]));
      const defaults = metrics(await render(templateArgs("prod")));
      assert.deepEqual(Object.keys(defaults).sort(), ["error-rate", "p95-latency"]);
      assert.equal(defaults["error-rate"].successCondition, "result[0] < 0.01");
      assert.equal(defaults["p95-latency"].successCondition, "isNaN(result[0]) || result[0] < 0.5");
      for (const m of Object.values(defaults) as Obj[]) {
        assert.equal(m.failureLimit, 1);
        assert.equal(
          m.provider.prometheus.address,
          "http://kube-prometheus-stack-prometheus.monitoring.svc:9090",
        );
        assert.match(m.provider.prometheus.query, /rollouts_pod_template_hash="\{\{args\.revision\}\}"/);
      }
      assert.match(
        defaults["error-rate"].provider.prometheus.query,
        /http_requests_total\{.*status_code=~"5\.\."\}\[2m\]/,
      );
      assert.match(
        defaults["p95-latency"].provider.prometheus.query,
        /histogram_quantile\(0\.95, .*http_request_duration_seconds_bucket/,
      );
      const tuned = metrics(
        await render(
          templateArgs(
            "prod",
            "--set-json",
            'rollout.analysis={"maxErrorRate":0.05,"maxP95LatencySeconds":0.25}',
          ),
        ),
      );
      assert.equal(tuned["error-rate"].successCondition, "result[0] < 0.05");
      assert.equal(tuned["p95-latency"].successCondition, "isNaN(result[0]) || result[0] < 0.25");
      // The label the queries select by exists on the series: the ServiceMonitor copies it from the pods.
      assert.deepEqual(one(await render(templateArgs("prod")), "ServiceMonitor").spec.podTargetLabels, [
        "rollouts-pod-template-hash",
      ]);
    });

    it("the AppProject admits exactly the Argo Rollouts kinds the chart renders (no AnalysisRun or Experiment)", async () => {
      const rendered = new Set<string>();
      for (const args of [
        templateArgs("prod"),
        templateArgs("prod", "--set", "ingress.enabled=true"),
        templateArgs("staging", "--set", "rollout.strategy=blueGreen"),
      ]) {
        for (const obj of await render(args)) rendered.add(`${obj.apiVersion.split("/")[0]}/${obj.kind}`);
      }
      const admitted = APP_RESOURCE_KINDS.filter((k) => k.group === "argoproj.io").map(
        (k) => `${k.group}/${k.kind}`,
      );
      assert.deepEqual(admitted.sort(), ["argoproj.io/AnalysisTemplate", "argoproj.io/Rollout"]);
      for (const kind of admitted) assert.ok(rendered.has(kind), `${kind} is admitted but never rendered`);
    });

    for (const c of [
      { name: "an unknown strategy", set: "rollout.strategy=linear", error: /strategy/ },
      { name: "an error rate above 1", set: "rollout.analysis.maxErrorRate=2", error: /maxErrorRate/ },
      { name: "a weight above 100", set: "rollout.canary.steps[0].setWeight=120", error: /setWeight|steps/ },
    ]) {
      it(`values.schema.json rejects ${c.name}`, async () => {
        const result = await run(templateArgs("prod", "--set", c.set));
        assert.notEqual(result.status, 0, `helm accepted ${c.set}`);
        assert.match(result.stderr, c.error);
      });
    }
  });

  describe("per-environment files", () => {
    for (const env of ENVS) {
      it(`${env}: image.yaml holds only the image (Pulumi writes it) and values.yaml no image`, () => {
        const imageText = fs.readFileSync(path.join(ROOT, `gitops/envs/${env}/image.yaml`), "utf8");
        assert.match(imageText, /^# Written by Pulumi \(gitops-platform\)/);
        const image = parse(imageText);
        assert.deepEqual(Object.keys(image), ["image"]);
        assert.ok(Object.keys(image.image).every((k) => ["repository", "tag", "digest"].includes(k)));
        assert.equal(
          image.image.repository,
          env === "dev" ? "localhost:5001/demo-app" : "ghcr.io/example-org/demo-app",
        );
        const values = parse(fs.readFileSync(path.join(ROOT, `gitops/envs/${env}/values.yaml`), "utf8"));
        assert.equal(values.env, env);
        assert.equal("image" in values, false, "the image comes from image.yaml only");
      });
    }
  });

  describe("app-of-apps chart", () => {
    for (const env of ENVS) {
      it(`${env}: helm lint --strict passes with the root Application's values`, async () => {
        const out = ok(await run(appsLintArgs(env)), `helm lint apps ${env}`);
        assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
        assert.doesNotMatch(out, /\[(WARNING|ERROR)\]/);
      });

      it(`${env}: renders valid Argo CD Applications whose chart path and value files exist`, async () => {
        const apps = await render(appsArgs(env));
        assert.equal(apps.length, 1);
        for (const app of apps) {
          await assertValid(app, env);
          assert.equal(app.kind, "Application");
          assert.equal(app.apiVersion, "argoproj.io/v1alpha1");
          const source = app.spec.source;
          const chartDir = path.join(ROOT, source.path);
          assert.ok(fs.statSync(chartDir).isDirectory(), `${source.path} exists`);
          assert.ok(fs.existsSync(path.join(chartDir, "Chart.yaml")), `${source.path} is a chart`);
          assert.deepEqual(source.helm.valueFiles, [
            `../../envs/${env}/values.yaml`,
            `../../envs/${env}/image.yaml`,
          ]);
          for (const file of source.helm.valueFiles as string[]) {
            const resolved = path.resolve(chartDir, file);
            assert.ok(resolved.startsWith(path.join(ROOT, "gitops") + path.sep), `${file} stays in gitops/`);
            assert.ok(fs.statSync(resolved).isFile(), `${file} (relative to ${source.path}) exists`);
          }
        }
      });

      it(`${env}: Applications sync automatically, prune, self-heal, retry with backoff, into the namespace Pulumi made`, async () => {
        const app = one(await render(appsArgs(env)), "Application");
        assert.equal(app.metadata.name, "demo-app");
        assert.equal(app.metadata.namespace, "argocd");
        assert.deepEqual(app.metadata.finalizers, ["resources-finalizer.argocd.argoproj.io"]);
        assert.equal(app.spec.project, env);
        assert.equal(app.spec.source.repoURL, REPO_URL);
        assert.equal(app.spec.source.targetRevision, "main");
        assert.equal(app.spec.source.path, CHART);
        assert.deepEqual(app.spec.destination, { server: IN_CLUSTER, namespace: NAMESPACE });
        const sync = app.spec.syncPolicy;
        assert.deepEqual(sync.automated, { prune: true, selfHeal: true });
        // The app project may not create or relabel namespaces: Pulumi makes them restricted.
        assert.deepEqual(sync.syncOptions, ["ServerSideApply=true"]);
        assert.equal(sync.managedNamespaceMetadata, undefined);
        assert.deepEqual(sync.retry, SYNC_RETRY, "same retry policy as the root Application");
      });

      it(`${env}: with imageRevision, the image file comes from that branch as a second ($values) source`, async () => {
        const args = appsArgs(env);
        args[args.length - 1] += ",imageRevision=deploy/" + env;
        const app = one(await render(args), "Application");
        await assertValid(app, env);
        assert.equal(app.spec.source, undefined);
        const [chart, values] = app.spec.sources;
        assert.equal(chart.path, CHART);
        assert.equal(chart.targetRevision, "main");
        assert.deepEqual(chart.helm.valueFiles, [
          `../../envs/${env}/values.yaml`,
          `$values/gitops/envs/${env}/image.yaml`,
        ]);
        assert.deepEqual(values, { repoURL: REPO_URL, targetRevision: `deploy/${env}`, ref: "values" });
      });
    }

    it("values.schema.json requires env (dev, staging or prod) and repoURL", async () => {
      const missing = await run(["template", "x", APPS_CHART]);
      assert.notEqual(missing.status, 0);
      assert.match(missing.stderr, /env/);
      assert.match(missing.stderr, /repoURL/);
      const qa = await run(["template", "x", APPS_CHART, "--set", `env=qa,repoURL=${REPO_URL}`]);
      assert.notEqual(qa.status, 0);
      assert.match(qa.stderr, /env/);
      assert.match(qa.stderr, /one of/i);
      const unknown = await run([
        "template",
        "x",
        APPS_CHART,
        "--set",
        `env=dev,repoURL=${REPO_URL},revision=main`,
      ]);
      assert.notEqual(unknown.status, 0);
      assert.match(unknown.stderr, /revision/);
    });
  });
});

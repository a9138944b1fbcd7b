import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse, parseAllDocuments, stringify } from "yaml";
import { SUPPORTED_KUBERNETES_VERSIONS } from "../components/config";
import { APP_RESOURCE_KINDS, IN_CLUSTER, SYNC_RETRY } from "../components/gitops/gitops";
import { APP_NAMESPACE_LABEL } from "../policy/rules";
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

const envFiles = (env: Env) => [
  "-f",
  `gitops/envs/${env}/values.yaml`,
  "-f",
  `gitops/envs/${env}/image.yaml`,
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
    name: "a NodePort outside 30000-32767",
    set: "service.nodePort=8080",
    error: [/nodePort/, /minimum|greater/i],
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
const none = (objects: Obj[], kind: string) =>
  assert.equal(objects.filter((o) => o.kind === kind).length, 0, `no ${kind}`);
const envOf = (container: Obj): Record<string, string> =>
  Object.fromEntries((container.env as { name: string; value: string }[]).map((e) => [e.name, e.value]));

// ---------------------------------------------------------------------------------------------------

describe("gitops/ charts with a real helm", function () {
  before(function () {
    const reason = helmUnavailableReason();
    if (reason) {
      if (process.env.CI && process.env.CI !== "false") throw new Error(`helm is required in CI: ${reason}`);
      console.log(`    skipped: no helm binary (${reason}); install helm or set HELM_BIN`);
      this.skip();
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
      const deployment = one(await render(templateArgs("staging")), "Deployment");
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

      it(`${env}: the Deployment is hardened (non-root, read-only root, no privilege escalation, drop ALL, seccomp, limits, probes, zero-downtime rollout)`, async () => {
        const objects = await render(templateArgs(env));
        const deployment = one(objects, "Deployment");
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
        assert.deepEqual(deployment.spec.strategy, {
          type: "RollingUpdate",
          rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
        });
        // The kubelet's SIGKILL must come after the app's own worst case: drain delay + shutdown timeout.
        const vars = envOf(container);
        const drainMs = Number(vars.SHUTDOWN_TIMEOUT_MS) + Number(vars.DRAIN_DELAY_MS);
        assert.ok(drainMs > 0 && pod.terminationGracePeriodSeconds * 1000 > drainMs, `grace vs ${drainMs}ms`);
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
        }
      });

      it(`${env}: the container gets the app's environment`, async () => {
        const deployment = one(await render(templateArgs(env)), "Deployment");
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
        });
        assert.equal(container.image, `${image.repository}:${image.tag}`);
      });
    }

    it("per environment: replicas dev 1, staging 2, prod autoscaled 3-10 on CPU (no fixed replicas)", async () => {
      const [dev, staging, prod] = await Promise.all(ENVS.map((env) => render(templateArgs(env))));
      assert.equal(one(dev!, "Deployment").spec.replicas, 1);
      assert.equal(one(staging!, "Deployment").spec.replicas, 2);
      assert.equal("replicas" in one(prod!, "Deployment").spec, false, "the HPA owns prod's replica count");
      none(dev!, "HorizontalPodAutoscaler");
      none(staging!, "HorizontalPodAutoscaler");
      const hpa = one(prod!, "HorizontalPodAutoscaler");
      assert.equal(hpa.apiVersion, "autoscaling/v2");
      assert.deepEqual(hpa.spec.scaleTargetRef, {
        apiVersion: "apps/v1",
        kind: "Deployment",
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
        assert.deepEqual(pdb.spec.selector.matchLabels, one(objects, "Deployment").spec.selector.matchLabels);
      }
    });

    it("per environment: dev is a NodePort on 30080 (kind maps it to the host), staging and prod ClusterIP", async () => {
      const [dev, staging, prod] = await Promise.all(ENVS.map((env) => render(templateArgs(env))));
      const devService = one(dev!, "Service");
      assert.equal(devService.spec.type, "NodePort");
      assert.deepEqual(devService.spec.ports, [
        { name: "http", port: 80, targetPort: "http", protocol: "TCP", nodePort: 30080 },
      ]);
      for (const objects of [staging!, prod!]) {
        const service = one(objects, "Service");
        assert.equal(service.spec.type, "ClusterIP");
        assert.deepEqual(service.spec.ports, [
          { name: "http", port: 80, targetPort: "http", protocol: "TCP" },
        ]);
        assert.deepEqual(service.spec.selector, one(objects, "Deployment").spec.selector.matchLabels);
      }
    });

    it("ServiceMonitor scrapes /metrics on the http port of the Service, in the release namespace", async () => {
      const objects = await render(templateArgs("prod"));
      const monitor = one(objects, "ServiceMonitor");
      assert.equal(monitor.apiVersion, "monitoring.coreos.com/v1");
      assert.deepEqual(
        monitor.spec.endpoints.map((e: Obj) => [e.port, e.path]),
        [["http", "/metrics"]],
      );
      assert.deepEqual(monitor.spec.selector.matchLabels, one(objects, "Service").spec.selector);
      assert.deepEqual(monitor.spec.namespaceSelector, { matchNames: [NAMESPACE] });
      none(await render(templateArgs("prod", "--set", "serviceMonitor.enabled=false")), "ServiceMonitor");
    });

    it("NetworkPolicy: port 8080 from the namespace and Prometheus only (dev: from anywhere), egress DNS to kube-system and OTLP to Tempo only", async () => {
      const policy = one(await render(templateArgs("staging")), "NetworkPolicy");
      assert.deepEqual(policy.spec.policyTypes, ["Ingress", "Egress"]);
      assert.deepEqual(policy.spec.ingress, [
        {
          ports: [{ port: "http", protocol: "TCP" }],
          from: [
            { podSelector: {} },
            { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } },
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

    it("the image file Pulumi writes (repository, tag, digest) pins the image by digest", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "charts-test-"));
      try {
        const file = path.join(dir, "image.yaml");
        const image = { repository: "ghcr.io/example-org/demo-app", tag: "abc1234-42", digest: DIGEST };
        // The same shape as imageValuesFile() in components/gitops/gitops.ts.
        fs.writeFileSync(file, `# Written by Pulumi (gitops-platform)\n${stringify({ image })}`);
        const objects = await render(templateArgs("prod", "-f", file));
        for (const obj of objects) await assertValid(obj, "pinned");
        const deployment = one(objects, "Deployment");
        const [container] = deployment.spec.template.spec.containers;
        assert.equal(container.image, `ghcr.io/example-org/demo-app@${DIGEST}`);
        assert.equal(envOf(container).APP_VERSION, "abc1234-42");
        assert.equal(envOf(container).GIT_COMMIT, "abc1234", "the commit of a {sha7}-{run} tag");
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

      it(`${env}: Applications sync automatically, prune, self-heal, retry with backoff and create a restricted namespace`, async () => {
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
        assert.deepEqual(sync.syncOptions, ["CreateNamespace=true", "ServerSideApply=true"]);
        assert.deepEqual(sync.retry, SYNC_RETRY, "same retry policy as the root Application");
        assert.deepEqual(sync.managedNamespaceMetadata.labels, {
          [APP_NAMESPACE_LABEL]: "true",
          "pod-security.kubernetes.io/enforce": "restricted",
          "pod-security.kubernetes.io/audit": "restricted",
          "pod-security.kubernetes.io/warn": "restricted",
        });
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

/**
 * The real container, end to end: build app/Dockerfile on locally made base images, push it to a local
 * registry, pull it back by digest, run THAT the way the Kubernetes chart runs the pod (non-root,
 * read-only root fs, no capabilities, no-new-privileges, 256 MiB), probe it, prove the lock-down from
 * inside, run it again with tracing on and receive its spans, then SIGTERM it under load and assert a
 * clean drain and exit 0. Before that, the dev stack's local git server (e2e/git-server.ts): built
 * offline, pushed to, cloned, its signed webhooks checked.
 * Reports image size, build time and time to ready (also as JSON in .e2e/report.json).
 *
 *   npm run test:e2e            skips, with the reason, where Docker cannot run
 *   CI=true npm run test:e2e    must run: provisions Docker (root, Debian) or fails
 *
 * Environment: E2E_VERBOSE=1 streams command output; E2E_NO_CACHE=1 builds the app image without the
 * layer cache; E2E_REBUILD_BASE=1 rebuilds the base images; E2E_NO_PROVISION=1 never installs or starts
 * anything; E2E_TIMEOUT_MS bounds the whole run (default 20 minutes).
 */
import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { gitServerChecks, type GitServerReport } from "./git-server";
import { ensureBaseImages, type BaseImages } from "./lib/base-images";
import { run, sleep, tryRun } from "./lib/exec";
import { drainLoad, freePort, get, type DrainLoad } from "./lib/http";
import { DockerUnavailable, ensureDocker, type DockerInfo } from "./lib/provision";
import { LocalRegistry } from "./lib/registry";
import { otlpReceiver, spanAttribute } from "../test/support/otlp-receiver";

const ROOT = path.resolve(__dirname, "..");
const APP_DIR = path.join(ROOT, "app");
const WORK = path.join(ROOT, ".e2e");
const CI = /^(true|1|yes)$/i.test(process.env.CI ?? "");

/**
 * What the container is started with; the drain bound follows from these. The drain delay stands in for
 * the pod's preStop/endpoint-removal window (E2E_DRAIN_DELAY_MS=0 shows what happens without one).
 */
const DRAIN_DELAY_MS = Number(process.env.E2E_DRAIN_DELAY_MS ?? 2000);
const SHUTDOWN_TIMEOUT_MS = 10_000;
const MEMORY = "256m";
/** A throwaway API token for this run, to check that the app reports it without showing it. */
const API_TOKEN = randomBytes(18).toString("hex");
const MEMORY_BYTES = 256 * 1024 * 1024;
const APP_UID = 10001;
/** Bounds of the load sent during the drain. */
const MAX_REQUESTS = 10_000;
const MAX_LOAD_MS = 15_000;

const started = Date.now();
const stamp = `${process.pid}-${started.toString(36)}`;
const containerName = `gitops-e2e-demo-app-${stamp}`;
const candidateTag = `gitops-e2e/demo-app:candidate-${stamp}`;

interface Report {
  result: "passed" | "failed" | "skipped";
  reason?: string;
  startedAt: string;
  ci: boolean;
  totalSeconds?: number;
  steps: { name: string; seconds: number }[];
  docker?: DockerInfo;
  baseImages?: BaseImages;
  build?: { seconds: number; cachedSteps: number; steps: number; noCache: boolean };
  image?: { ref: string; digest: string; id: string; sizeBytes: number; sizeMiB: number; layers: number };
  timeToReadyMs?: number;
  dockerRunReturnedMs?: number;
  memoryAfterProbes?: string;
  drain?: Record<string, number | string | boolean>;
  gitServer?: GitServerReport;
  checks: string[];
}

const report: Report = {
  result: "failed",
  startedAt: new Date(started).toISOString(),
  ci: CI,
  steps: [],
  checks: [],
};

const log = (msg: string) => console.log(`[e2e] ${msg}`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function check(condition: unknown, what: string, detail?: unknown): asserts condition {
  if (!condition) {
    const extra =
      detail === undefined ? "" : `: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`;
    throw new assert.AssertionError({ message: `${what}${extra}` });
  }
  report.checks.push(what);
  log(`  ✓ ${what}`);
}

async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t = Date.now();
  log(`▶ ${name}`);
  try {
    const result = await fn();
    report.steps.push({ name, seconds: (Date.now() - t) / 1000 });
    log(`  ${name}: ${secs(Date.now() - t)}`);
    return result;
  } catch (e) {
    log(`✗ ${name} failed after ${secs(Date.now() - t)}`);
    throw e;
  }
}

const docker = (args: string[], timeoutMs = 120_000) => run("docker", args, { timeoutMs });
const inspect = async <T>(what: string, format = "{{json .}}"): Promise<T> =>
  JSON.parse(await docker(["inspect", "--format", format, what])) as T;

// ---------------------------------------------------------------------------------------------------------

function dockerfileBuildArgs(): string[] {
  const dockerfile = fs.readFileSync(path.join(APP_DIR, "Dockerfile"), "utf8");
  const args = [...dockerfile.matchAll(/^\s*ARG\s+(\w+)/gm)].map((m) => m[1] as string);
  for (const needed of ["BUILD_IMAGE", "RUNTIME_IMAGE"]) {
    check(args.includes(needed), `app/Dockerfile takes the base image build argument ${needed}`, args);
  }
  if (/^#\s*syntax\s*=/m.test(dockerfile)) {
    log("  note: app/Dockerfile has a `# syntax=` directive: BuildKit would fetch that frontend image from");
    log("        Docker Hub (unreachable here), so this build uses the classic builder, which ignores it.");
  }
  return args;
}

async function buildImage(bases: BaseImages, commit: string): Promise<string> {
  dockerfileBuildArgs();
  const noCache = process.env.E2E_NO_CACHE === "1";
  const proxyArgs = ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"]
    .filter((k) => process.env[k])
    .flatMap((k) => ["--build-arg", k]);
  const args = [
    "build",
    // The build stages run `npm ci`: host networking gives them the host's DNS and route to the registry.
    "--network",
    "host",
    "--build-arg",
    `BUILD_IMAGE=${bases.build}`,
    "--build-arg",
    `RUNTIME_IMAGE=${bases.runtime}`,
    ...proxyArgs,
    "--label",
    `org.opencontainers.image.revision=${commit}`,
    ...(noCache ? ["--no-cache"] : []),
    "-t",
    candidateTag,
    APP_DIR,
  ];
  const t = Date.now();
  // The classic builder: Debian's docker.io ships no buildx plugin, BuildKit might want to pull a frontend
  // image, and the Dockerfile needs nothing BuildKit-only (no RUN --mount, no heredocs).
  const out = await run("docker", args, {
    env: { DOCKER_BUILDKIT: "0" },
    logFile: path.join(WORK, "build.log"),
    timeoutMs: 600_000,
  });
  const seconds = (Date.now() - t) / 1000;
  report.build = {
    seconds,
    cachedSteps: (out.match(/Using cache/g) ?? []).length,
    steps: (out.match(/^Step \d+\/\d+ :/gm) ?? []).length,
    noCache,
  };
  const id = await docker(["image", "inspect", "--format", "{{.Id}}", candidateTag]);
  log(`  built ${candidateTag} (${id.slice(0, 19)}) in ${seconds.toFixed(1)} s`);
  return id;
}

async function pushAndPullByDigest(
  registry: LocalRegistry,
  builtId: string,
  commit: string,
): Promise<string> {
  const repo = `${registry.host}/gitops-platform/demo-app`;
  const tag = `${repo}:${commit.slice(0, 7)}-e2e`;
  await docker(["tag", candidateTag, tag]);
  const pushed = await docker(["push", tag], 300_000);
  const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed)?.[1];
  check(digest, `pushed ${tag}`, pushed);
  log(`    digest ${digest}`);

  // Forget the image locally (keeping the build cache's parent layers), so the run below uses what the
  // registry serves.
  await docker(["rmi", "--no-prune", tag, candidateTag]);
  const gone = await tryRun("docker", ["image", "inspect", builtId]);
  check(gone.code !== 0, "the built image is gone from the local store before the pull");

  const ref = `${repo}@${digest}`;
  const pulled = await docker(["pull", ref], 300_000);
  check(/Status: Downloaded newer image/.test(pulled), `pulled ${ref} from the local registry`, pulled);
  const id = await docker(["image", "inspect", "--format", "{{.Id}}", ref]);
  check(id === builtId, "the pulled image is the image that was built (same image ID)", { id, builtId });

  const sizeBytes = Number(await docker(["image", "inspect", "--format", "{{.Size}}", ref]));
  const layers = Number(await docker(["image", "inspect", "--format", "{{len .RootFS.Layers}}", ref]));
  report.image = { ref, digest, id, sizeBytes, sizeMiB: +(sizeBytes / 2 ** 20).toFixed(1), layers };

  const config = await inspect<{ User: string; Cmd: string[]; ExposedPorts?: Record<string, unknown> }>(
    ref,
    "{{json .Config}}",
  );
  check(config.User === `${APP_UID}:${APP_UID}`, `the image runs as ${APP_UID}:${APP_UID}`, config.User);
  check(
    JSON.stringify(config.Cmd) === JSON.stringify(["node", "dist/main.js"]),
    "the image's command is node dist/main.js (exec form: node is PID 1 and gets SIGTERM)",
    config.Cmd,
  );
  check(config.ExposedPorts && "8080/tcp" in config.ExposedPorts, "the image exposes 8080/tcp", config);
  return ref;
}

interface Running {
  baseUrl: string;
  version: string;
  commit: string;
}

async function containerLogs(name = containerName): Promise<string> {
  const r = await tryRun("docker", ["logs", name], { timeoutMs: 15_000 });
  return `${r.stdout}${r.stderr}`;
}

/**
 * The pod's securityContext as `docker run` flags: runAsUser/runAsGroup, readOnlyRootFilesystem, drop ALL,
 * allowPrivilegeEscalation: false, seccomp RuntimeDefault (Docker's default profile), memory limit.
 */
const LOCKED_DOWN = [
  "--user",
  `${APP_UID}:${APP_UID}`,
  "--read-only",
  "--tmpfs",
  "/tmp:rw,noexec,nosuid,size=16m",
  "--cap-drop",
  "ALL",
  "--security-opt",
  "no-new-privileges",
  "--memory",
  MEMORY,
];

/** Polls `<baseUrl>/readyz` until 200 (at most 30 s from t0), failing early if the container exits. */
async function waitUntilReady(name: string, baseUrl: string, t0: number): Promise<void> {
  const deadline = t0 + 30_000;
  for (;;) {
    const status = await get(`${baseUrl}/readyz`, { timeoutMs: 1000 }).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    if (Date.now() > deadline) {
      throw new Error(
        `no 200 from /readyz within 30 s (last status ${status}):\n${await containerLogs(name)}`,
      );
    }
    const state = await inspect<{ Running: boolean; ExitCode: number }>(name, "{{json .State}}");
    if (!state.Running)
      throw new Error(`the container exited ${state.ExitCode}:\n${await containerLogs(name)}`);
    await sleep(25);
  }
}

async function runLockedDown(ref: string, commit: string): Promise<Running> {
  const port = await freePort();
  const version = `e2e-${commit.slice(0, 7)}`;
  const t0 = Date.now();
  await docker([
    "run",
    "--detach",
    "--name",
    containerName,
    ...LOCKED_DOWN,
    "--publish",
    `127.0.0.1:${port}:8080`,
    "--env",
    "APP_ENV=dev",
    "--env",
    `APP_VERSION=${version}`,
    "--env",
    `GIT_COMMIT=${commit}`,
    "--env",
    `DRAIN_DELAY_MS=${DRAIN_DELAY_MS}`,
    "--env",
    `SHUTDOWN_TIMEOUT_MS=${SHUTDOWN_TIMEOUT_MS}`,
    // The secret the cluster hands over through an ExternalSecret; the app may only say that it has one.
    "--env",
    `API_TOKEN=${API_TOKEN}`,
    ref,
  ]);
  report.dockerRunReturnedMs = Date.now() - t0;
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitUntilReady(containerName, baseUrl, t0);
  report.timeToReadyMs = Date.now() - t0;
  log(
    `  first 200 on /readyz ${report.timeToReadyMs} ms after \`docker run\` (returned after ${report.dockerRunReturnedMs} ms)`,
  );

  const host = await inspect<{
    ReadonlyRootfs: boolean;
    CapDrop: string[] | null;
    SecurityOpt: string[] | null;
    Memory: number;
    PortBindings: Record<string, { HostIp: string; HostPort: string }[]>;
  }>(containerName, "{{json .HostConfig}}");
  check(host.ReadonlyRootfs, "container: read-only root filesystem");
  check(host.CapDrop?.includes("ALL"), "container: all capabilities dropped", host.CapDrop);
  check(host.SecurityOpt?.includes("no-new-privileges"), "container: no-new-privileges", host.SecurityOpt);
  check(host.Memory === MEMORY_BYTES, `container: memory limit ${MEMORY}`, host.Memory);
  const bindings = Object.values(host.PortBindings).flat();
  check(
    bindings.length === 1 && bindings.every((b) => b.HostIp === "127.0.0.1"),
    "container: its port is published on 127.0.0.1 only",
    bindings,
  );
  return { baseUrl, version, commit };
}

async function probe(app: Running): Promise<void> {
  const json = (body: string) => JSON.parse(body) as Record<string, unknown>;

  const healthz = await get(`${app.baseUrl}/healthz`);
  check(
    healthz.status === 200 && json(healthz.body).status === "ok",
    "GET /healthz: 200 {status: ok}",
    healthz,
  );

  const readyz = await get(`${app.baseUrl}/readyz`);
  check(
    readyz.status === 200 && json(readyz.body).status === "ready",
    "GET /readyz: 200 {status: ready}",
    readyz,
  );

  const page = await get(`${app.baseUrl}/`);
  check(
    page.status === 200 && /^text\/html/.test(String(page.headers["content-type"])),
    "GET /: 200 text/html",
    page.headers,
  );
  check(
    page.body.includes(app.version) && page.body.includes(app.commit) && /<h1>[^<]+<\/h1>/.test(page.body),
    "GET /: the page names the app, its version and commit",
    page.body,
  );

  const info = await get(`${app.baseUrl}/api/info`);
  const body = json(info.body);
  check(
    info.status === 200 && body.version === app.version && body.commit === app.commit && body.env === "dev",
    "GET /api/info: 200 with the version, commit and environment the container was given",
    info.body,
  );
  check(
    body.apiTokenConfigured === true && !info.body.includes(API_TOKEN),
    "GET /api/info: reports the API token as configured, never its value",
    { apiTokenConfigured: body.apiTokenConfigured },
  );

  const missing = await get(`${app.baseUrl}/no-such-page`);
  check(missing.status === 404, "GET /no-such-page: 404", missing.status);

  const metrics = await get(`${app.baseUrl}/metrics`);
  check(
    metrics.status === 200 && /^text\/plain/.test(String(metrics.headers["content-type"])),
    "GET /metrics: 200 text/plain (Prometheus exposition)",
    metrics.headers,
  );
  check(
    /^http_requests_total\{[^}]*route="\/healthz"[^}]*\} [1-9]/m.test(metrics.body) &&
      /^http_request_duration_seconds_bucket\{/m.test(metrics.body) &&
      /^process_resident_memory_bytes \d/m.test(metrics.body),
    "GET /metrics: request counter (with the /healthz request above), duration histogram, process metrics",
    metrics.body.slice(0, 400),
  );
}

/**
 * The image with tracing on, as staging and prod run it, under the same lock-down: spans go over OTLP/HTTP
 * from the app's export worker thread to a collector (a receiver in this process, reached on loopback
 * through host networking). A request's span arrives with its route and status once SIGTERM has flushed
 * it, and the request's log line carries the same trace id.
 */
async function tracesFromTheImage(ref: string): Promise<void> {
  const receiver = await otlpReceiver();
  cleanups.push(() => receiver.close());
  const name = `${containerName}-traced`;
  cleanups.push(() => tryRun("docker", ["rm", "--force", name], { timeoutMs: 30_000 }));
  const port = await freePort();
  const t0 = Date.now();
  await docker([
    "run",
    "--detach",
    "--name",
    name,
    ...LOCKED_DOWN,
    "--network",
    "host",
    ...["PORT=" + port, "HOST=127.0.0.1", "APP_ENV=prod", "LOG_LEVEL=debug", "DRAIN_DELAY_MS=0"].flatMap(
      (e) => ["--env", e],
    ),
    "--env",
    `OTEL_EXPORTER_OTLP_ENDPOINT=${receiver.url}`,
    "--env",
    "OTEL_TRACES_SAMPLER_ARG=1",
    ref,
  ]);
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitUntilReady(name, baseUrl, t0);
  const info = await get(`${baseUrl}/api/info`);
  check(info.status === 200, "traced: GET /api/info 200", info.status);
  await docker(["stop", "--time", "10", name], 30_000);
  const state = await inspect<{ ExitCode: number }>(name, "{{json .State}}");
  check(state.ExitCode === 0, "traced: the container exits 0 on SIGTERM, its spans flushed", state);

  const span = receiver.spans.find((s) => spanAttribute(s, "http.route") === "/api/info");
  check(
    span &&
      span.kind === 2 &&
      span.name === "GET /api/info" &&
      spanAttribute(span, "http.response.status_code") === 200,
    "traced: the collector received a SERVER span GET /api/info with status 200",
    receiver.spans,
  );
  check(
    receiver.requests.every((r) => r === "POST /v1/traces application/json"),
    "traced: spans arrive as OTLP/HTTP JSON posts to /v1/traces",
    receiver.requests,
  );
  // Probe requests (/readyz above) answer untraced lines too; the traced request's line has the trace id.
  const answered = (await containerLogs(name))
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === "request answered");
  check(
    answered.some((l) => l.trace_id === span.traceId && l.span_id === span.spanId),
    "traced: the request's log line carries the span's trace and span ids",
    answered,
  );
}

const INSIDE = `
const fs = require("fs");
const status = (pid) => {
  const text = fs.readFileSync("/proc/" + pid + "/status", "utf8");
  const field = (k) => ((text.match(new RegExp("^" + k + ":\\\\s*(.*)$", "m")) || [])[1] || "").trim();
  return { uid: field("Uid"), gid: field("Gid"), capEff: field("CapEff"), capPrm: field("CapPrm"),
           noNewPrivs: field("NoNewPrivs"), seccomp: field("Seccomp") };
};
const attempt = (file) => { try { fs.writeFileSync(file, "x"); fs.unlinkSync(file); return "written"; }
                            catch (e) { return e.code; } };
const read = (f) => { try { return fs.readFileSync(f, "utf8").trim(); } catch (e) { return ""; } };
process.stdout.write(JSON.stringify({
  getuid: process.getuid(), getgid: process.getgid(),
  pid1: status(1), pid1cmd: read("/proc/1/cmdline").split("\\0").filter(Boolean),
  writeApp: attempt("/app/x"), writeRoot: attempt("/x"), writeEtc: attempt("/etc/x"), writeTmp: attempt("/tmp/x"),
  memoryLimit: read("/sys/fs/cgroup/memory/memory.limit_in_bytes") || read("/sys/fs/cgroup/memory.max"),
  npm: fs.existsSync("/usr/local/bin/npm") || fs.existsSync("/usr/bin/npm"),
  shell: fs.existsSync("/bin/sh"),
}));
`;

async function lockdownFromInside(): Promise<void> {
  // No shell and no `id` in the runtime image: ask node, as the container's own user.
  const raw = await docker(["exec", containerName, "node", "-e", INSIDE]);
  const inside = JSON.parse(raw) as {
    getuid: number;
    getgid: number;
    pid1: Record<string, string>;
    pid1cmd: string[];
    writeApp: string;
    writeRoot: string;
    writeEtc: string;
    writeTmp: string;
    memoryLimit: string;
    npm: boolean;
    shell: boolean;
  };
  const ids = (s: string | undefined) => new Set((s ?? "").split(/\s+/));
  check(inside.getuid === APP_UID && inside.getgid === APP_UID, `inside: id -u is ${APP_UID}, not 0`, inside);
  check(
    JSON.stringify(inside.pid1cmd) === JSON.stringify(["node", "dist/main.js"]),
    "inside: PID 1 is the app (node dist/main.js)",
    inside.pid1cmd,
  );
  check(
    [...ids(inside.pid1.uid)].join() === String(APP_UID) &&
      [...ids(inside.pid1.gid)].join() === String(APP_UID),
    `inside: the app process's real, effective, saved and fs uid/gid are all ${APP_UID}`,
    inside.pid1,
  );
  check(
    /^0+$/.test(inside.pid1.capEff ?? "") && /^0+$/.test(inside.pid1.capPrm ?? ""),
    "inside: the app has no capabilities (CapEff and CapPrm are 0)",
    inside.pid1,
  );
  check(inside.pid1.noNewPrivs === "1", "inside: NoNewPrivs is set on the app", inside.pid1);
  check(inside.pid1.seccomp === "2", "inside: the app runs under a seccomp filter", inside.pid1);
  check(
    inside.writeApp === "EROFS" && inside.writeRoot === "EROFS" && inside.writeEtc === "EROFS",
    "inside: writes to /app, / and /etc fail with EROFS",
    inside,
  );
  check(inside.writeTmp === "written", "inside: /tmp (tmpfs) is writable", inside.writeTmp);
  check(inside.memoryLimit === String(MEMORY_BYTES), `inside: the cgroup memory limit is ${MEMORY}`, inside);
  check(!inside.npm, "inside: the runtime image carries no npm", inside);
  if (inside.shell) log("  note: the runtime image has /bin/sh");
}

async function drainUnderLoad(app: Running): Promise<void> {
  const SLOW = "/api/work?ms=2000";
  let sigtermWall = 0;
  const load: DrainLoad = await drainLoad({
    baseUrl: app.baseUrl,
    // 20 keep-alive clients: 4 hold requests in flight for 2 s, 6 for 150 ms, 10 hit / and /api/info.
    clients: Array.from({ length: 20 }, (_, i) =>
      i < 4
        ? { path: SLOW, pauseMs: 0 }
        : i < 10
          ? { path: "/api/work?ms=150", pauseMs: 0 }
          : { path: i % 2 === 0 ? "/" : "/api/info", pauseMs: 5 },
    ),
    straggler: SLOW,
    maxRequests: MAX_REQUESTS,
    maxMs: MAX_LOAD_MS,
    triggerAfterMs: 1500,
    trigger: async () => {
      sigtermWall = Date.now();
      await docker(["kill", "--signal", "TERM", containerName]);
    },
    readinessPath: "/readyz",
    readinessEveryMs: 50,
  });

  const bound = DRAIN_DELAY_MS + SHUTDOWN_TIMEOUT_MS;
  const waited = await tryRun("docker", ["wait", containerName], { timeoutMs: bound + 10_000 });
  const exitSeenMs = Date.now() - sigtermWall;
  const state = await inspect<{ ExitCode: number; OOMKilled: boolean; FinishedAt: string; Running: boolean }>(
    containerName,
    "{{json .State}}",
  );
  const exitedAfterMs = Date.parse(state.FinishedAt) - sigtermWall;

  const { requests, triggeredAt, triggerDoneAt } = load;
  const failed = requests.filter((r) => r.status !== 200);
  const before = requests.filter((r) => r.start < triggeredAt);
  const inFlight = before.filter((r) => r.end > triggerDoneAt);
  const after = requests.filter((r) => r.start >= triggerDoneAt);
  const slowInFlight = inFlight.filter((r) => r.path === SLOW);
  const straggler = requests.find((r) => r.straggler);
  const duration = Math.max(...requests.map((r) => r.end));
  report.drain = {
    clients: 20,
    requests: requests.length,
    durationMs: duration,
    failed: failed.length,
    startedBeforeSigterm: before.length,
    inFlightAtSigterm: inFlight.length,
    startedAfterSigterm: after.length,
    readinessNotReadyMsAfterSigterm: (load.notReadyAt ?? NaN) - triggeredAt,
    clientsStoppedMsAfterSigterm: load.stoppedAt - triggeredAt,
    loadStopReason: load.stopReason,
    requestsPerSecond: Math.round(requests.length / (duration / 1000)),
    drainDelayMs: DRAIN_DELAY_MS,
    shutdownTimeoutMs: SHUTDOWN_TIMEOUT_MS,
    exitCode: state.ExitCode,
    exitedMsAfterSigterm: exitedAfterMs,
    oomKilled: state.OOMKilled,
  };
  log(
    `  ${requests.length} requests (${before.length} before SIGTERM, ${inFlight.length} in flight at it, ` +
      `${after.length} after), readiness 503 after ${report.drain.readinessNotReadyMsAfterSigterm} ms, ` +
      `exit ${state.ExitCode} after ${exitedAfterMs} ms`,
  );

  check(
    requests.length <= MAX_REQUESTS && duration <= MAX_LOAD_MS + 1000,
    `the load stayed within its bounds (${MAX_REQUESTS} requests, ${MAX_LOAD_MS / 1000} s)`,
    { requests: requests.length, duration },
  );
  check(
    failed.length === 0,
    `zero failed requests across the drain: all ${requests.length} answered 200`,
    failed.slice(0, 5),
  );
  check(slowInFlight.length > 0, "2-second requests were in flight when SIGTERM arrived", report.drain);
  check(
    straggler?.status === 200 && straggler.end - triggeredAt > DRAIN_DELAY_MS,
    "a 2-second request sent after SIGTERM, still in flight when the listener closed, got its 200",
    straggler,
  );
  check(
    load.notReadyAt !== undefined && /readiness answered 503/.test(load.stopReason),
    "/readyz turned 503 after SIGTERM and the clients stopped on it",
    load.stopReason,
  );
  check(
    before.every((r) => r.status === 200),
    "every request started before SIGTERM completed with 200",
  );
  check(waited.code === 0 && !state.Running, "the container stopped", waited);
  check(state.ExitCode === 0 && !state.OOMKilled, "the container exited 0 (not OOM-killed)", state);
  check(
    exitedAfterMs >= DRAIN_DELAY_MS - 250 && exitedAfterMs <= bound && exitSeenMs <= bound + 5000,
    `it exited within the drain bound: after the ${DRAIN_DELAY_MS} ms drain delay, before ${bound} ms`,
    { exitedAfterMs, exitSeenMs },
  );
  const logs = await containerLogs();
  check(
    /"msg":"draining"/.test(logs) && /"msg":"stopped"/.test(logs) && !/"level":50/.test(logs),
    "the app logged draining, then stopped, and no errors",
    logs.slice(-1500),
  );
}

// ---------------------------------------------------------------------------------------------------------

const cleanups: (() => Promise<unknown>)[] = [];
let cleaningUp: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaningUp ??= (async () => {
    for (const fn of cleanups.reverse()) await fn().catch((e: unknown) => log(`cleanup: ${String(e)}`));
  })();
  return cleaningUp;
}

function finish(result: Report["result"], reason?: string): void {
  report.result = result;
  if (reason) report.reason = reason;
  report.totalSeconds = (Date.now() - started) / 1000;
  fs.mkdirSync(WORK, { recursive: true });
  fs.writeFileSync(path.join(WORK, "report.json"), `${JSON.stringify(report, null, 2)}\n`);
}

function printSummary(): void {
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const lines = [
    ["image", report.image ? `${report.image.ref}` : "-"],
    ["image size", report.image ? `${mib(report.image.sizeBytes)} (${report.image.layers} layers)` : "-"],
    [
      "build time",
      report.build
        ? `${report.build.seconds.toFixed(1)} s (${report.build.cachedSteps}/${report.build.steps} steps from cache)`
        : "-",
    ],
    [
      "base images",
      report.baseImages
        ? report.baseImages.built.length > 0
          ? report.baseImages.built.map((b) => `${b.image} built in ${b.seconds.toFixed(1)} s`).join("; ")
          : "cached"
        : "-",
    ],
    ["runtime base size", report.baseImages ? mib(report.baseImages.runtimeSizeBytes) : "-"],
    [
      "time to ready",
      report.timeToReadyMs !== undefined ? `${report.timeToReadyMs} ms (docker run → 200 /readyz)` : "-",
    ],
    ["memory after probes", report.memoryAfterProbes ?? "-"],
    [
      "drain",
      report.drain
        ? `${report.drain.requests} requests, ${report.drain.failed} failed, exit ${report.drain.exitCode} ` +
          `${report.drain.exitedMsAfterSigterm} ms after SIGTERM`
        : "-",
    ],
    [
      "git server",
      report.gitServer
        ? `built in ${report.gitServer.buildSeconds.toFixed(1)} s (${report.gitServer.imageSizeMiB} MiB), ` +
          `${report.gitServer.files} files pushed in ${report.gitServer.pushSeconds.toFixed(1)} s, ` +
          `${report.gitServer.deliveries} webhook deliveries`
        : "-",
    ],
    ["total", `${((Date.now() - started) / 1000).toFixed(1)} s`],
  ];
  log("──────── summary ────────");
  for (const [k, v] of lines) log(`${(k ?? "").padEnd(20)} ${v}`);
  log(`report: ${path.relative(process.cwd(), path.join(WORK, "report.json"))}`);
}

async function main(): Promise<number> {
  fs.mkdirSync(WORK, { recursive: true });
  log(`container e2e (CI=${CI}); logs in ${path.relative(process.cwd(), WORK) || "."}/`);

  let info: DockerInfo;
  try {
    info = await step("docker engine", () => ensureDocker(WORK));
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    if (CI) throw e;
    log(`SKIPPED: Docker cannot run here: ${reason}`);
    if (!(e instanceof DockerUnavailable)) log("(provisioning Docker failed; see .e2e/*.log)");
    log("(under CI=true this is a failure, not a skip)");
    finish("skipped", reason);
    return 0;
  }
  report.docker = info;
  log(`  Docker ${info.serverVersion}${info.provisioned.length ? `; ${info.provisioned.join("; ")}` : ""}`);

  const commit = await run("git", ["-C", ROOT, "rev-parse", "HEAD"]).catch(
    () => "0000000000000000000000000000000000000000",
  );
  const bases = await step("base images (local, no registry)", () => ensureBaseImages(WORK));
  report.baseImages = bases;
  log(`  ${bases.build}, ${bases.runtime}${bases.built.length ? "" : " (cached)"}`);

  report.gitServer = await gitServerChecks({
    work: WORK,
    baseImage: bases.minbase,
    stamp,
    check,
    step,
    cleanup: (fn) => cleanups.push(fn),
  });

  const builtId = await step("build app/Dockerfile", () => buildImage(bases, commit));
  cleanups.push(() => tryRun("docker", ["rmi", "--no-prune", candidateTag]));

  const registry = await step("local registry", () => LocalRegistry.start(WORK));
  cleanups.push(() => registry.stop());
  log(`  registry on ${registry.host} (pid ${registry.pid})`);

  const ref = await step("push, forget, pull back by digest", () =>
    pushAndPullByDigest(registry, builtId, commit),
  );
  cleanups.push(() => tryRun("docker", ["rmi", "--no-prune", ref]));

  cleanups.push(() => tryRun("docker", ["rm", "--force", containerName], { timeoutMs: 30_000 }));
  const app = await step("run the pulled image locked down", () => runLockedDown(ref, commit));
  await step("probe the endpoints", () => probe(app));
  await step("lock-down, seen from inside", () => lockdownFromInside());
  await step("traces from the image to an OTLP collector", () => tracesFromTheImage(ref));
  const stats = await tryRun("docker", ["stats", "--no-stream", "--format", "{{.MemUsage}}", containerName]);
  if (stats.code === 0) report.memoryAfterProbes = stats.stdout.trim();
  await step("SIGTERM under load: drain and exit", () => drainUnderLoad(app));

  finish("passed");
  return 0;
}

const budget = Number(process.env.E2E_TIMEOUT_MS ?? 20 * 60_000);
const watchdog = setTimeout(() => {
  log(`FAILED: the whole run exceeded E2E_TIMEOUT_MS=${budget}`);
  finish("failed", "timeout");
  void cleanup().finally(() => process.exit(1));
}, budget);
watchdog.unref();

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    log(`${signal}: cleaning up`);
    finish("failed", signal);
    void cleanup().finally(() => process.exit(130));
  });
}

main()
  .then(async (code) => {
    await cleanup();
    if (report.result === "passed") {
      printSummary();
      log(`PASSED (${report.checks.length} checks)`);
    }
    process.exitCode = code;
  })
  .catch(async (e: unknown) => {
    const reason = e instanceof Error ? e.message : String(e);
    finish("failed", reason);
    if (report.drain === undefined && (await tryRun("docker", ["inspect", containerName])).code === 0) {
      log(`container logs:\n${(await containerLogs()).slice(-3000)}`);
    }
    await cleanup();
    if (report.build) printSummary();
    log(`FAILED: ${reason}`);
    process.exitCode = 1;
  })
  .finally(() => clearTimeout(watchdog));

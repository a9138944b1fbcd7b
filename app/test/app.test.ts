import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import { ConfigError, loadConfig } from "../src/config";
import { createMetrics } from "../src/metrics";
import { buildServer, type Server } from "../src/server";
import { freePort } from "../../test/support/net";

const APP_DIR = path.resolve(__dirname, "..");
/** Every request a test makes gives up after this long, so a missing bound fails a test instead of hanging it. */
const REQUEST_TIMEOUT_MS = 5000;

/** fetch that fails (AbortError naming the URL) instead of waiting forever. */
function fetchBounded(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS), ...init }).catch((err: unknown) => {
    throw new Error(`${init.method ?? "GET"} ${url}: ${(err as Error).message}`, { cause: err });
  });
}

/** Closes a server even while a request is still in flight: its connections are cut, not awaited. */
async function closeNow(server: Server): Promise<void> {
  const closing = server.app.close();
  server.app.server.closeAllConnections();
  await closing;
}

describe("app: configuration from the environment", () => {
  it("has defaults for everything", () => {
    const config = loadConfig({});
    assert.deepEqual(
      { ...config },
      {
        port: 8080,
        host: "0.0.0.0",
        name: "demo-app",
        version: "0.1.0",
        commit: "unknown",
        env: "dev",
        logLevel: "info",
        shutdownTimeoutMs: 10000,
        drainDelayMs: 0,
        apiTokenConfigured: false,
      },
    );
    assert.ok(Object.isFrozen(config));
  });

  it("reads every variable", () => {
    const config = loadConfig({
      PORT: "9090",
      HOST: "127.0.0.1",
      APP_NAME: "shop",
      APP_VERSION: "2.0.0-rc.1",
      GIT_COMMIT: "0123456789abcdef0123456789abcdef01234567",
      APP_ENV: "prod",
      LOG_LEVEL: "warn",
      SHUTDOWN_TIMEOUT_MS: "30000",
      DRAIN_DELAY_MS: "5000",
    });
    assert.equal(config.port, 9090);
    assert.equal(config.env, "prod");
    assert.equal(config.logLevel, "warn");
    assert.equal(config.drainDelayMs, 5000);
  });

  it("rejects bad values naming the variable, the value and what is allowed", () => {
    assert.throws(
      () => loadConfig({ PORT: "80a", APP_ENV: "qa", LOG_LEVEL: "loud" }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems.length === 3 &&
        /PORT="80a": must be an integer from 1 to 65535/.test(err.message) &&
        /APP_ENV="qa": must be one of dev, staging, prod/.test(err.message) &&
        /LOG_LEVEL="loud": must be one of fatal, error, warn, info, debug, trace, silent/.test(err.message),
    );
    for (const [env, message] of [
      [{ PORT: "0" }, /PORT="0": must be an integer from 1 to 65535/],
      [{ PORT: "65536" }, /PORT="65536": must be an integer from 1 to 65535/],
      [{ PORT: "-1" }, /PORT="-1": must be an integer/],
      [{ SHUTDOWN_TIMEOUT_MS: "0" }, /SHUTDOWN_TIMEOUT_MS="0": must be an integer from 1 to 600000/],
      [{ DRAIN_DELAY_MS: "1.5" }, /DRAIN_DELAY_MS="1.5": must be an integer from 0 to 600000/],
      [{ HOST: "a b" }, /HOST="a b": must be a host name or IP address/],
      [{ GIT_COMMIT: "xyz" }, /GIT_COMMIT="xyz": must be a git commit id/],
      [{ APP_NAME: "a\nb" }, /APP_NAME="a\\nb": must be 1-63 printable characters/],
      [{ DRAIN_DELAY_MS: "5000", SHUTDOWN_TIMEOUT_MS: "1000" }, /DRAIN_DELAY_MS=5000: must be below/],
    ] as const) {
      assert.throws(() => loadConfig(env), message, JSON.stringify(env));
    }
  });
});

describe("app: every bound of the environment, at it and just outside it on both sides", () => {
  // [variable, accepted at the bounds, rejected just outside them]
  const bounds: Array<[string, string[], string[]]> = [
    ["PORT", ["1", "65535"], ["0", "65536"]],
    ["SHUTDOWN_TIMEOUT_MS", ["1", "600000"], ["0", "600001"]],
    ["DRAIN_DELAY_MS", ["0", "599999"], ["-1", "600001"]],
    ["APP_NAME", ["a", "a".repeat(63)], ["a".repeat(64)]],
    ["APP_VERSION", ["1", "1".repeat(128)], ["1".repeat(129)]],
    ["GIT_COMMIT", ["abcdef1", "a".repeat(40)], ["abcdef", "a".repeat(41)]],
  ];
  for (const [key, inside, outside] of bounds) {
    it(`${key}: accepts ${inside.map((v) => v.slice(0, 8)).join(", ")}; rejects ${outside.map((v) => v.slice(0, 8)).join(", ")}`, () => {
      // DRAIN_DELAY_MS must stay below SHUTDOWN_TIMEOUT_MS, so give it room.
      const base = key === "DRAIN_DELAY_MS" ? { SHUTDOWN_TIMEOUT_MS: "600000" } : {};
      for (const value of inside)
        assert.doesNotThrow(() => loadConfig({ ...base, [key]: value }), `${key}=${value}`);
      for (const value of outside) {
        assert.throws(
          () => loadConfig({ ...base, [key]: value }),
          (err: unknown) =>
            err instanceof ConfigError && err.message.includes(`${key}=${JSON.stringify(value)}`),
          `${key}=${value}`,
        );
      }
    });
  }
});

describe("app: request metrics, counted per request and read at scrape time", () => {
  it("puts each duration in its bucket (bounds inclusive), above the last only in +Inf, with sum and count", async () => {
    const metrics = createMetrics();
    for (const ms of [5, 5.0001, 0.2, 5000, 5001]) metrics.observe("GET", "/healthz", 200, ms);
    metrics.observe("HEAD", "/healthz", 200, 1);
    const text = await metrics.registry.metrics();
    const series = 'method="GET",route="/healthz",status_code="200"';
    const bucket = (le: string) =>
      Number(
        new RegExp(
          `^http_request_duration_seconds_bucket\\{le="${le.replace("+", "\\+")}",${series}\\} (\\S+)$`,
          "m",
        ).exec(text)?.[1],
      );
    assert.equal(bucket("0.005"), 2, "0.2 ms and exactly 5 ms");
    assert.equal(bucket("0.01"), 3);
    assert.equal(bucket("2.5"), 3);
    assert.equal(bucket("5"), 4, "exactly 5 s");
    assert.equal(bucket("+Inf"), 5);
    assert.match(text, new RegExp(`^http_request_duration_seconds_count\\{${series}\\} 5$`, "m"));
    assert.match(text, new RegExp(`^http_request_duration_seconds_sum\\{${series}\\} 10\\.0112`, "m"));
    assert.match(text, new RegExp(`^http_requests_total\\{${series}\\} 5$`, "m"));
    assert.match(text, /^http_requests_total\{method="HEAD",route="\/healthz",status_code="200"\} 1$/m);
    const http = (t: string) => t.split("\n").filter((l) => l.startsWith("http_"));
    assert.deepEqual(http(await metrics.registry.metrics()), http(text), "a scrape changes nothing");
  });
});

describe("app: HTTP routes over a real socket", () => {
  const TOKEN = "s3cr3t-token-from-the-store";
  let server: Server;
  let base: string;
  before(async () => {
    server = buildServer(
      loadConfig({
        APP_NAME: "demo <app>",
        APP_VERSION: "1.2.3",
        GIT_COMMIT: "abcdef1",
        APP_ENV: "staging",
        LOG_LEVEL: "silent",
        API_TOKEN: TOKEN,
      }),
    );
    base = await server.app.listen({ port: 0, host: "127.0.0.1" });
  });
  after(() => closeNow(server));

  const get = (p: string, init?: RequestInit) => fetchBounded(`${base}${p}`, init);

  it("/ shows name, version and environment, HTML-escaped", async () => {
    const res = await get("/");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
    const body = await res.text();
    assert.match(body, /<h1>demo &lt;app&gt;<\/h1>/);
    assert.doesNotMatch(body, /<app>/);
    assert.match(body, /version <strong>1\.2\.3<\/strong>, commit abcdef1/);
    assert.match(body, /environment <strong>staging<\/strong>/);
  });

  it("/healthz is live", async () => {
    const res = await get("/healthz");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
    assert.deepEqual(await res.json(), { status: "ok" });
  });

  it("/api/info returns name, version, commit, env, token status and uptime; ?pretty=true indents", async () => {
    const res = await get("/api/info");
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.ok(!text.includes(TOKEN), "the token itself never leaves the process");
    const info = JSON.parse(text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(info).sort(), [
      "apiTokenConfigured",
      "commit",
      "env",
      "name",
      "uptimeSeconds",
      "version",
    ]);
    assert.equal(info.apiTokenConfigured, true);
    assert.equal(info.name, "demo <app>");
    assert.equal(info.commit, "abcdef1");
    assert.equal(info.env, "staging");
    assert.equal(typeof info.uptimeSeconds, "number");
    assert.match(await (await get("/api/info?pretty=true")).text(), /\n {2}"version": "1\.2\.3"/);
  });

  it("/api/work holds a request for the time asked, within its bound", async () => {
    const t = Date.now();
    const res = await get("/api/work?ms=150");
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { workedMs: 150 });
    assert.ok(Date.now() - t >= 140, `took ${Date.now() - t} ms`);
  });

  it("rejects bad input with JSON 400", async () => {
    for (const url of [
      "/api/info?pretty=notabool",
      "/api/info?debug=1",
      `/api/info?pretty=${"t".repeat(4000)}`,
      "/api/work?ms=999999",
      "/api/work?ms=2001",
      "/api/work?ms=-1",
      "/api/work?ms=abc",
      "/api/work",
      "/%zz",
    ]) {
      const res = await get(url);
      assert.equal(res.status, 400, url);
      assert.match(res.headers.get("content-type") ?? "", /^application\/json/, url);
      const body = (await res.json()) as { error: string; message: string };
      assert.equal(body.error, "bad_request", url);
      assert.equal(typeof body.message, "string", url);
    }
  });

  it("answers unknown routes and wrong methods with JSON 404", async () => {
    const res = await get("/nope?x=1");
    assert.equal(res.status, 404);
    assert.deepEqual(await res.json(), { error: "not_found", path: "/nope" });
    const wrongMethod = await get("/healthz", { method: "DELETE" });
    assert.equal(wrongMethod.status, 404);
    assert.deepEqual(await wrongMethod.json(), { error: "not_found", path: "/healthz" });
  });

  it("/metrics counts requests by route pattern and status, with a duration histogram", async () => {
    const scrape = async () => {
      const res = await get("/metrics");
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
      return res.text();
    };
    const count = async (labels: string) => {
      const line = (await scrape()).split("\n").find((l) => l.startsWith(`http_requests_total{${labels}}`));
      return line ? Number(line.split(" ").pop()) : 0;
    };
    const healthz = 'method="GET",route="/healthz",status_code="200"';
    const before = await count(healthz);
    await Promise.all([get("/healthz"), get("/healthz"), get("/healthz")]);
    assert.equal(await count(healthz), before + 3);

    const unmatched = 'method="GET",route="not_found",status_code="404"';
    const before404 = await count(unmatched);
    await Promise.all([get("/random/path/1"), get("/random/path/2")]);
    assert.equal(await count(unmatched), before404 + 2, "unknown URLs share one label");

    await get("/api/work?ms=1000000");
    assert.ok((await count('method="GET",route="/api/work",status_code="400"')) >= 1);

    const text = await scrape();
    assert.match(text, /^# TYPE http_request_duration_seconds histogram$/m);
    assert.match(
      text,
      /^http_request_duration_seconds_bucket\{le="0\.005",method="GET",route="\/healthz",status_code="200"\} \d+$/m,
    );
    assert.match(
      text,
      /^http_request_duration_seconds_count\{method="GET",route="\/healthz",status_code="200"\} \d+$/m,
    );
    assert.match(text, /^process_cpu_user_seconds_total /m);
    assert.match(text, /^nodejs_eventloop_lag_seconds /m);
    assert.doesNotMatch(text, /route="\/random/);
  });

  it("/api/info reports apiTokenConfigured false without API_TOKEN (or with an empty one)", async () => {
    const other = buildServer(loadConfig({ LOG_LEVEL: "silent", API_TOKEN: "" }));
    const otherBase = await other.app.listen({ port: 0, host: "127.0.0.1" });
    try {
      const info = (await (await fetch(`${otherBase}/api/info`)).json()) as Record<string, unknown>;
      assert.equal(info.apiTokenConfigured, false);
    } finally {
      await other.app.close();
    }
  });

  it("uses its own registry: two servers count separately", async () => {
    const other = buildServer(loadConfig({ LOG_LEVEL: "silent" }));
    const otherBase = await other.app.listen({ port: 0, host: "127.0.0.1" });
    try {
      const text = await (await fetchBounded(`${otherBase}/metrics`)).text();
      assert.doesNotMatch(text, /route="\/healthz"/);
    } finally {
      await closeNow(other);
    }
  });

  it("/readyz is ready, then 503 while draining; /healthz stays live", async () => {
    const ready = await get("/readyz");
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: "ready" });
    server.startDraining();
    const res = await get("/readyz");
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { status: "draining" });
    assert.equal(res.headers.get("connection"), "close", "draining closes connections after responding");
    assert.equal((await get("/healthz")).status, 200);
  });
});

interface RunningApp {
  child: ChildProcess;
  base: string;
  exited: Promise<{ code: number | null; at: number }>;
  /** Every stdout line so far, parsed: pino writes one JSON object per line. */
  logs(): Record<string, unknown>[];
}

/** Processes startApp started; each test's afterEach kills what is still running. */
const running = new Set<ChildProcess>();

/** The real entrypoint, app/src/main.ts, in its own process. */
async function startApp(env: Record<string, string>): Promise<RunningApp> {
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: APP_DIR,
    env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  child.on("exit", () => running.delete(child));
  let out = "";
  let err = "";
  let closed = false;
  child.on("close", () => (closed = true));
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
    child.on("exit", (code) => resolve({ code, at: Date.now() })),
  );
  const base = `http://127.0.0.1:${port}`;
  const logs = () =>
    out
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        try {
          return JSON.parse(line) as Record<string, unknown>;
        } catch {
          throw new Error(`stdout line is not JSON: ${line}`);
        }
      });
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (out.includes(`"Server listening at ${base}"`)) resolve();
      else if (closed) reject(new Error(`app exited before listening:\n${out}${err}`));
      else setTimeout(check, 20);
    };
    check();
  });
  return { child, base, exited, logs };
}

describe("app: the real process (src/main.ts)", () => {
  afterEach(() => {
    for (const child of running) child.kill("SIGKILL");
  });

  it("finishes the requests in flight at SIGTERM, answers 503 on /readyz, exits 0 within the bound", async function () {
    this.timeout(15000);
    const app = await startApp({ DRAIN_DELAY_MS: "400", SHUTDOWN_TIMEOUT_MS: "5000" });
    const inFlight = Array.from({ length: 20 }, () =>
      fetchBounded(`${app.base}/api/work?ms=1200`).then(async (r) => ({
        status: r.status,
        body: await r.json(),
      })),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const signalledAt = Date.now();
    app.child.kill("SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 100));
    const readiness = await fetchBounded(`${app.base}/readyz`, { headers: { connection: "close" } });

    assert.equal(readiness.status, 503, "readiness flips at SIGTERM");
    assert.deepEqual(await readiness.json(), { status: "draining" });
    assert.deepEqual(
      await Promise.all(inFlight),
      Array(20).fill({ status: 200, body: { workedMs: 1200 } }),
      "every in-flight request completed",
    );
    const { code, at } = await app.exited;
    assert.equal(code, 0, "exit code");
    // Exit 0 means before SHUTDOWN_TIMEOUT_MS (its timer exits 1); only the lower bound needs the clock.
    assert.ok(at - signalledAt >= 400, `exited ${at - signalledAt} ms after SIGTERM, before the drain delay`);
    await assert.rejects(fetchBounded(`${app.base}/healthz`), "the listener is closed");

    const messages = app.logs().map((l) => l.msg);
    assert.deepEqual(
      messages.filter((m) => m !== undefined && !/^Server listening/.test(String(m))),
      ["draining", "closing the listener", "stopped"],
      "JSON logs on stdout, no per-request lines at info",
    );
  });

  it("exits 1 when in-flight requests outlast SHUTDOWN_TIMEOUT_MS", async function () {
    this.timeout(10000);
    const app = await startApp({ SHUTDOWN_TIMEOUT_MS: "500" });
    const slow = fetchBounded(`${app.base}/api/work?ms=2000`).then(
      (r) => r.status,
      () => "aborted",
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    const signalledAt = Date.now();
    app.child.kill("SIGTERM");
    const { code, at } = await app.exited;
    assert.equal(code, 1);
    // Exit 1 with "shutdown timed out" is the timer firing; it must not fire early.
    assert.ok(
      at - signalledAt >= 450,
      `exited ${at - signalledAt} ms after SIGTERM, before the 500 ms timeout`,
    );
    assert.equal(await slow, "aborted");
    assert.ok(app.logs().some((l) => l.msg === "shutdown timed out" && l.level === 50));
  });

  it("refuses to start on bad configuration: exit 1, one JSON line naming the variable", async function () {
    this.timeout(10000);
    await assert.rejects(startApp({ APP_ENV: "qa" }), (err: Error) => {
      const line = JSON.parse(err.message.split("\n")[1] ?? "") as {
        msg: string;
        err: { problems: string[] };
      };
      assert.equal(line.msg, "start-up failed");
      assert.deepEqual(line.err.problems, ['APP_ENV="qa": must be one of dev, staging, prod']);
      return true;
    });
  });
});

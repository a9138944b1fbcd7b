import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import * as path from "node:path";
import { ConfigError, loadConfig } from "../src/config";
import { buildServer, type Server } from "../src/server";

const APP_DIR = path.resolve(__dirname, "..");

describe("app: configuration from the environment", () => {
  it("has defaults for everything", () => {
    const config = loadConfig({});
    assert.equal(config.port, 8080);
    assert.equal(config.env, "dev");
    assert.equal(config.version, "0.1.0");
    assert.ok(Object.isFrozen(config));
  });

  it("rejects bad values naming the variable, the value and what is allowed", () => {
    assert.throws(
      () => loadConfig({ PORT: "80a", APP_ENV: "qa", LOG_LEVEL: "loud" }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems.length === 3 &&
        /PORT="80a": must be an integer from 0 to 65535/.test(err.message) &&
        /APP_ENV="qa": must be one of dev, staging, prod/.test(err.message) &&
        /LOG_LEVEL="loud"/.test(err.message),
    );
    assert.throws(() => loadConfig({ GIT_COMMIT: "xyz" }), /GIT_COMMIT="xyz": must be a git commit id/);
    assert.throws(
      () => loadConfig({ DRAIN_DELAY_MS: "5000", SHUTDOWN_TIMEOUT_MS: "1000" }),
      /DRAIN_DELAY_MS=5000: must be below SHUTDOWN_TIMEOUT_MS=1000/,
    );
  });
});

describe("app: HTTP routes over a real socket", () => {
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
      }),
    );
    base = await server.app.listen({ port: 0, host: "127.0.0.1" });
  });
  after(() => server.app.close());

  const get = (p: string, init?: RequestInit) => fetch(`${base}${p}`, init);

  it("/ shows name, version and environment, HTML-escaped", async () => {
    const res = await get("/");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
    const body = await res.text();
    assert.match(body, /<h1>demo &lt;app&gt;<\/h1>/);
    assert.match(body, /version <strong>1\.2\.3<\/strong>, commit abcdef1/);
    assert.match(body, /environment <strong>staging<\/strong>/);
  });

  it("/healthz is live", async () => {
    const res = await get("/healthz");
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "ok" });
  });

  it("/api/info returns version, commit, env and uptime; ?pretty=true indents", async () => {
    const info = (await (await get("/api/info")).json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(info).sort(), ["commit", "env", "name", "uptimeSeconds", "version"]);
    assert.equal(info.commit, "abcdef1");
    assert.equal(typeof info.uptimeSeconds, "number");
    assert.match(await (await get("/api/info?pretty=true")).text(), /\n {2}"version": "1\.2\.3"/);
  });

  it("rejects bad input with JSON 400", async () => {
    for (const url of [
      "/api/info?pretty=notabool",
      "/api/info?debug=1",
      "/api/work?ms=999999",
      "/api/work",
    ]) {
      const res = await get(url);
      assert.equal(res.status, 400, url);
      assert.equal(((await res.json()) as { error: string }).error, "bad_request", url);
    }
  });

  it("answers unknown routes and methods with JSON 404", async () => {
    const res = await get("/nope?x=1");
    assert.equal(res.status, 404);
    assert.deepEqual(await res.json(), { error: "not_found", path: "/nope" });
    assert.equal((await get("/healthz", { method: "DELETE" })).status, 404);
  });

  it("/metrics counts requests by route pattern and status, with a duration histogram", async () => {
    const count = async (labels: string) => {
      const text = await (await get("/metrics")).text();
      const line = text.split("\n").find((l) => l.startsWith(`http_requests_total{${labels}}`));
      return line ? Number(line.split(" ").pop()) : 0;
    };
    const before = await count('method="GET",route="/healthz",status_code="200"');
    await Promise.all([get("/healthz"), get("/healthz"), get("/healthz")]);
    assert.equal(await count('method="GET",route="/healthz",status_code="200"'), before + 3);
    await get("/random/path/123");
    assert.ok(
      (await count('method="GET",route="not_found",status_code="404"')) >= 1,
      "unknown URLs share one label",
    );
    const text = await (await get("/metrics")).text();
    assert.match(
      text,
      /http_request_duration_seconds_bucket\{le="0\.005",method="GET",route="\/healthz",status_code="200"\}/,
    );
    assert.match(text, /^process_cpu_user_seconds_total /m);
    assert.doesNotMatch(text, /route="\/random/);
  });

  it("/readyz is ready, then 503 while draining", async () => {
    assert.equal((await get("/readyz")).status, 200);
    server.startDraining();
    const res = await get("/readyz");
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { status: "draining" });
  });
});

describe("app: graceful shutdown of the real process", () => {
  it("finishes requests in flight at SIGTERM, reports 503, exits 0 within the bound", async function () {
    this.timeout(20000);
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: APP_DIR,
      env: {
        ...process.env,
        PORT: "0",
        HOST: "127.0.0.1",
        DRAIN_DELAY_MS: "400",
        SHUTDOWN_TIMEOUT_MS: "5000",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
      child.on("exit", (code) => resolve({ code, at: Date.now() })),
    );
    const base = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (match) resolve(match[1] as string);
      });
      child.on("exit", () => reject(new Error(`app exited before listening: ${out}`)));
    });

    const inFlight = Array.from({ length: 20 }, () =>
      fetch(`${base}/api/work?ms=1200`).then((r) => r.status),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const signalledAt = Date.now();
    child.kill("SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 100));
    const readiness = await fetch(`${base}/readyz`, { headers: { connection: "close" } });

    assert.equal(readiness.status, 503, "readiness flips at SIGTERM");
    assert.deepEqual(await Promise.all(inFlight), Array(20).fill(200), "every in-flight request completed");
    const { code, at } = await exited;
    assert.equal(code, 0, `exit code; stderr: ${stderr}`);
    assert.ok(at - signalledAt < 5000, `exited ${at - signalledAt} ms after SIGTERM`);
  });
});

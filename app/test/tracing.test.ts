import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { otlpReceiver, spanAttribute } from "../../test/support/otlp-receiver";
import { ConfigError } from "../src/config";
import { DEFAULT_RATE_LIMIT, DEFAULT_SAMPLING_RATIO, rateLimiter, tracingSettings } from "../src/tracing";

const APP_DIR = path.resolve(__dirname, "..");

/** src/main.ts in its own process (tracing is process-wide), on a free port; JSON log lines collected. */
async function startApp(env: Record<string, string>) {
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const port = String((probe.address() as AddressInfo).port);
  await new Promise((resolve) => probe.close(resolve));
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: APP_DIR,
    env: { PATH: process.env.PATH, PORT: port, HOST: "127.0.0.1", LOG_LEVEL: "debug", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  const logs = () =>
    out
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const base = await waitFor(
    () => {
      const line = logs().find((l) => /^Server listening at http:\/\/127\.0\.0\.1:\d+$/.test(String(l.msg)));
      return line && String(line.msg).replace("Server listening at ", "");
    },
    () => `app did not start:\n${out}`,
  );
  const stop = async () => {
    child.kill("SIGTERM");
    return exited;
  };
  return { base, logs, stop };
}

/** Polls until `probe` returns a value (at most 5 s), then fails with `describe()`. */
async function waitFor<T>(probe: () => T | undefined | false, describe: () => string): Promise<T> {
  for (let i = 0; i < 250; i++) {
    const value = probe();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(describe());
}

describe("app: OpenTelemetry traces", () => {
  it("a request becomes a server span with its route and status, and its log line carries the trace id", async function () {
    this.timeout(15000);
    const receiver = await otlpReceiver();
    const app = await startApp({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_TRACES_SAMPLER_ARG: "1" });
    try {
      assert.equal((await fetch(`${app.base}/api/info`)).status, 200);
      assert.equal((await fetch(`${app.base}/no/such/page`)).status, 404);
      assert.equal((await fetch(`${app.base}/healthz`)).status, 200);
      assert.equal(await app.stop(), 0, "exits 0, flushing the spans");

      const server = receiver.spans.filter((s) => s.kind === 2); // SERVER
      const info = server.find((s) => spanAttribute(s, "http.route") === "/api/info");
      assert.ok(info, `a server span for /api/info, got ${JSON.stringify(server.map((s) => s.name))}`);
      assert.equal(spanAttribute(info, "http.response.status_code"), 200);
      assert.match(info.name, /^GET \/api\/info$/);
      const notFound = server.find((s) => spanAttribute(s, "http.response.status_code") === 404);
      assert.ok(notFound, "the 404 is traced too");
      assert.ok(
        receiver.spans.every((s) => spanAttribute(s, "url.path") !== "/healthz" && !/healthz/.test(s.name)),
        "probes are not traced",
      );
      assert.deepEqual([...new Set(receiver.requests)], ["POST /v1/traces application/json"]);

      const answered = app.logs().filter((l) => l.msg === "request answered");
      assert.equal(answered.length, 3, "one debug line per request");
      const [infoLine, notFoundLine, probeLine] = answered;
      assert.equal(infoLine!.trace_id, info.traceId, "the log line carries the span's trace id");
      assert.match(String(infoLine!.span_id), /^[0-9a-f]{16}$/);
      assert.ok(
        receiver.spans.some((s) => s.spanId === infoLine!.span_id && s.traceId === info.traceId),
        "its span id is a span of that trace",
      );
      assert.equal(notFoundLine!.trace_id, notFound.traceId);
      assert.equal(probeLine!.trace_id, undefined, "an untraced probe has no trace id");
    } finally {
      await receiver.close();
    }
  });

  it("follows a caller's sampled flag, and records no more than the rate limit allows", async function () {
    this.timeout(15000);
    const receiver = await otlpReceiver();
    // Ratio 0: no new trace is sampled, so every span below comes from a caller's decision.
    const app = await startApp({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_TRACES_SAMPLER_ARG: "0",
      TRACE_RATE_LIMIT: "3",
    });
    const traceparent = (i: number, flags: string) =>
      `00-${(i + 1).toString(16).padStart(32, "0")}-00f067aa0ba902b7-${flags}`;
    try {
      assert.equal((await fetch(`${app.base}/api/info`)).status, 200);
      const unsampled = await fetch(`${app.base}/api/info`, {
        headers: { traceparent: traceparent(0, "00") },
      });
      assert.equal(unsampled.status, 200);
      const started = performance.now();
      for (let i = 1; i <= 20; i++) {
        const res = await fetch(`${app.base}/api/info`, { headers: { traceparent: traceparent(i, "01") } });
        assert.equal(res.status, 200, "a request over the limit is answered all the same");
      }
      const seconds = (performance.now() - started) / 1000;
      assert.equal(await app.stop(), 0);

      const ids = receiver.spans.map((s) => Number.parseInt(s.traceId, 16) - 1);
      assert.ok(
        receiver.spans.every((s) => s.parentSpanId === "00f067aa0ba902b7"),
        "each span is a child of its caller's span",
      );
      assert.ok(!ids.includes(0), "an unsampled caller's trace is not recorded");
      assert.deepEqual(ids.slice(0, 3), [1, 2, 3], "the first three sampled callers fill the bucket");
      // The bucket holds 3 and refills 3 a second: whatever the machine's speed, no more than this.
      assert.ok(
        ids.length <= 3 + Math.ceil(3 * seconds),
        `${ids.length} spans for 20 sampled callers in ${seconds.toFixed(2)} s at 3 a second`,
      );
    } finally {
      await receiver.close();
    }
  });

  it("a token bucket: a second's worth at once, then the rate", () => {
    let now = 0;
    const allow = rateLimiter(4, () => now);
    assert.deepEqual(
      Array.from({ length: 5 }, () => allow()),
      [true, true, true, true, false],
    );
    now += 250; // a quarter second refills one
    assert.deepEqual([allow(), allow()], [true, false]);
    now += 10_000; // a long pause refills no more than the bucket holds
    assert.equal(Array.from({ length: 6 }, () => allow()).filter(Boolean).length, 4);
  });

  it("with no endpoint nothing is exported and nothing fails", async function () {
    this.timeout(15000);
    const receiver = await otlpReceiver();
    // The traces-specific variable names the receiver: an SDK that started anyway would export there.
    const app = await startApp({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces` });
    try {
      assert.equal((await fetch(`${app.base}/api/info`)).status, 200);
      assert.equal(await app.stop(), 0);
      assert.deepEqual(receiver.requests, []);
      const answered = app.logs().filter((l) => l.msg === "request answered");
      assert.equal(answered.length, 1);
      assert.equal(answered[0]!.trace_id, undefined);
    } finally {
      await receiver.close();
    }
  });

  it("an unreachable collector costs spans, not requests", async function () {
    this.timeout(15000);
    const receiver = await otlpReceiver();
    await receiver.close(); // its port is now closed
    const app = await startApp({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_TRACES_SAMPLER_ARG: "1" });
    assert.equal((await fetch(`${app.base}/api/info`)).status, 200);
    assert.equal(await app.stop(), 0);
  });

  it("reads endpoint and sampling ratio from the environment, rejecting bad values", () => {
    assert.equal(tracingSettings({}), undefined);
    assert.equal(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: "" }), undefined);
    assert.deepEqual(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://tempo.tempo.svc:4318/" }), {
      tracesUrl: "http://tempo.tempo.svc:4318/v1/traces",
      samplingRatio: DEFAULT_SAMPLING_RATIO,
      rateLimit: DEFAULT_RATE_LIMIT,
    });
    assert.equal(
      tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: "https://x", TRACE_RATE_LIMIT: "2500" })?.rateLimit,
      2500,
    );
    for (const bad of ["0", "1.5", "-3", "lots", "100001"]) {
      assert.throws(
        () => tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: "https://x", TRACE_RATE_LIMIT: bad }),
        new RegExp(`TRACE_RATE_LIMIT="${bad}": must be a whole number of traces per second from 1 to 100000`),
      );
    }
    assert.equal(
      tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: "https://x", OTEL_TRACES_SAMPLER_ARG: "0.25" })
        ?.samplingRatio,
      0.25,
    );
    assert.throws(
      () => tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: "tempo:4318", OTEL_TRACES_SAMPLER_ARG: "2" }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems.length === 2 &&
        /OTEL_TRACES_SAMPLER_ARG="2": must be a ratio from 0 to 1/.test(err.message) &&
        /OTEL_EXPORTER_OTLP_ENDPOINT="tempo:4318": must be an http:\/\/ or https:\/\/ URL/.test(err.message),
    );
  });
});

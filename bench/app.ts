/**
 * `npm run bench:app` (tsx bench/app.ts): requests/s and p50/p99 latency of the app's `/healthz` and `/`
 * against a bare node:http server answering the same bodies with the same content types, in the same run,
 * on loopback (127.0.0.1).
 *
 * Options, as flags or environment variables (flags win):
 *   --seconds N      BENCH_SECONDS      measured seconds per target and route (default 5)
 *   --connections N  BENCH_CONNECTIONS  concurrent connections (default 50)
 *   --warmup N       BENCH_WARMUP       unmeasured seconds per target and route first (default 1)
 *   --tracing        BENCH_TRACING=1    also the app with OpenTelemetry tracing on (default sampling), exporting
 *                                       to an OTLP sink in this process; reports its ratio to the app without
 * The default run is 4 x (1 + 5) s, about 25 s (6 x with --tracing).
 *
 * The measured seconds are 1-second rounds alternating app and bare, so a change in the machine's load
 * hits both alike. Reported: req/s over all rounds, the median of the rounds' p50 and p99, and the lowest
 * and highest per-round ratio next to the overall one, which shows how noisy the run was.
 *
 * Both servers run in one child process (used one at a time), the load generator in this one, so the
 * generator does not compete with the server for its core. Each round also measures the server process's
 * CPU time per request, which a loaded machine skews far less than req/s. Exits non-zero on errors (a server that fails to
 * start, socket errors, timeouts or non-2xx answers), never on the ratio.
 */
import { fork, type ChildProcess } from "node:child_process";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import autocannon from "autocannon";
import { loadConfig } from "../app/src/config";
import { startTracing } from "../app/src/tracing";

const ROUTES = ["/healthz", "/"] as const;

function option(flag: string, env: string, fallback: number, min: number, max: number): number {
  const at = process.argv.indexOf(`--${flag}`);
  const raw = at >= 0 ? process.argv[at + 1] : process.env[env];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`--${flag} / ${env}=${JSON.stringify(raw)}: must be an integer from ${min} to ${max}`);
  }
  return value;
}

interface Round {
  requests: number;
  seconds: number;
  p50: number;
  p99: number;
  errors: number;
  /** CPU time (user + system) the serving process spent in the round, in microseconds. */
  cpuMicros: number;
}

interface Bases {
  appBase: string;
  bareBase: string;
}

/** The CPU time a server process has used so far, in microseconds (it answers "cpu" on the IPC channel). */
function cpuOf(server: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    server.once("message", (m) => {
      const { user, system } = (m as { cpu: NodeJS.CpuUsage }).cpu;
      resolve(user + system);
    });
    server.send("cpu");
  });
}

async function round(
  url: string,
  connections: number,
  seconds: number,
  server: ChildProcess,
): Promise<Round> {
  const cpuBefore = await cpuOf(server);
  const result = await autocannon({ url, connections, duration: seconds });
  const cpuMicros = (await cpuOf(server)) - cpuBefore;
  return {
    requests: result.requests.total,
    seconds: result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
    cpuMicros,
  };
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
/** Server CPU microseconds per answered request: unlike req/s, not skewed by what else the machine runs. */
const cpuPerRequest = (rounds: Round[]) =>
  rounds.reduce((t, r) => t + r.cpuMicros, 0) / rounds.reduce((n, r) => n + r.requests, 0);
const rps = (rounds: Round[]) =>
  rounds.reduce((n, r) => n + r.requests, 0) / rounds.reduce((t, r) => t + r.seconds, 0);

/** Child process: both servers, then their base URLs on the IPC channel. */
async function serve(): Promise<void> {
  // The parent going away (finished, failed or killed) ends this process too.
  process.on("disconnect", () => process.exit(0));
  const config = loadConfig({ LOG_LEVEL: "error", APP_ENV: "dev" });
  // With OTEL_EXPORTER_OTLP_ENDPOINT set (the --tracing server), tracing starts before the server loads.
  startTracing(config);
  const { buildServer } = await import("../app/src/server");
  const app = buildServer(config).app;
  const appBase = await app.listen({ port: 0, host: "127.0.0.1" });

  // The same bodies and content types as the app's, with no framework around them.
  const bodies = new Map<string, { type: string; body: Buffer }>();
  for (const route of ROUTES) {
    const res = await fetch(`${appBase}${route}`);
    if (res.status !== 200) throw new Error(`app ${route}: ${res.status}`);
    bodies.set(route, {
      type: res.headers.get("content-type") ?? "text/plain",
      body: Buffer.from(await res.arrayBuffer()),
    });
  }
  const bare = http.createServer((req, res) => {
    const hit = bodies.get(req.url ?? "");
    if (!hit) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": hit.type, "content-length": hit.body.length }).end(hit.body);
  });
  await new Promise<void>((resolve) => bare.listen(0, "127.0.0.1", resolve));
  const bases: Bases = { appBase, bareBase: `http://127.0.0.1:${(bare.address() as AddressInfo).port}` };
  process.on("message", (m) => m === "cpu" && process.send?.({ cpu: process.cpuUsage() }));
  process.send?.(bases);
}

async function main(): Promise<void> {
  const opts = {
    seconds: option("seconds", "BENCH_SECONDS", 5, 1, 600),
    connections: option("connections", "BENCH_CONNECTIONS", 50, 1, 10000),
    warmup: option("warmup", "BENCH_WARMUP", 1, 0, 60),
    tracing: process.argv.includes("--tracing") || process.env.BENCH_TRACING === "1",
  };
  const sink = opts.tracing ? await otlpSink() : undefined;
  const servers = (env: NodeJS.ProcessEnv) => {
    const child = fork(__filename, ["--serve"], { execArgv: ["--import", "tsx"], env });
    children.push(child);
    return new Promise<Bases & { child: ChildProcess }>((resolve, reject) => {
      child.once("message", (m) => resolve({ ...(m as Bases), child }));
      child.once("exit", (code) => reject(new Error(`the server process exited (${code}) before listening`)));
    });
  };
  const children: ChildProcess[] = [];
  try {
    const { OTEL_EXPORTER_OTLP_ENDPOINT: _unset, ...untraced } = process.env;
    const { appBase, bareBase, child } = await servers(untraced);
    const targets = [
      { name: "app (fastify)", base: appBase, child },
      { name: "bare node:http", base: bareBase, child },
    ];
    if (sink) {
      const traced = await servers({ ...untraced, OTEL_EXPORTER_OTLP_ENDPOINT: sink.url });
      targets.splice(1, 0, { name: TRACED, base: traced.appBase, child: traced.child });
    }
    const rounds = new Map<string, Round[]>();
    for (const route of ROUTES) {
      for (const t of targets) {
        if (opts.warmup > 0) await round(`${t.base}${route}`, opts.connections, opts.warmup, t.child);
        rounds.set(`${t.name} ${route}`, []);
      }
      for (let i = 0; i < opts.seconds; i++) {
        for (const t of targets) {
          rounds
            .get(`${t.name} ${route}`)!
            .push(await round(`${t.base}${route}`, opts.connections, 1, t.child));
        }
      }
    }

    console.log(
      `\nnode ${process.version}, ${opts.connections} connections, ${opts.seconds} x 1 s per target and ` +
        `route (after ${opts.warmup} s warm-up), 127.0.0.1\n`,
    );
    const row = (cells: string[]) =>
      console.log(
        [cells[0]!.padEnd(17), cells[1]!.padEnd(8), ...cells.slice(2).map((c) => c.padStart(8))].join("  "),
      );
    row(["target", "route", "req/s", "p50 ms", "p99 ms", "errors", "cpu µs/req"]);
    let errors = 0;
    for (const route of ROUTES) {
      for (const t of targets) {
        const rs = rounds.get(`${t.name} ${route}`)!;
        const e = rs.reduce((n, r) => n + r.errors, 0);
        errors += e;
        const p = (k: "p50" | "p99") => String(median(rs.map((r) => r[k])));
        row([
          t.name,
          route,
          String(Math.round(rps(rs))),
          p("p50"),
          p("p99"),
          String(e),
          cpuPerRequest(rs).toFixed(1),
        ]);
      }
    }
    console.log("");
    for (const route of ROUTES) {
      const app = rounds.get(`app (fastify) ${route}`)!;
      const bare = rounds.get(`bare node:http ${route}`)!;
      const perRound = app.map((r, i) => rps([r]) / rps([bare[i]!]));
      console.log(
        `ratio app/bare req/s  ${route.padEnd(8)}  ${(rps(app) / rps(bare)).toFixed(2)}` +
          `  (rounds ${Math.min(...perRound).toFixed(2)}-${Math.max(...perRound).toFixed(2)})`,
      );
    }
    if (sink) {
      for (const route of ROUTES) {
        const app = rounds.get(`app (fastify) ${route}`)!;
        const traced = rounds.get(`${TRACED} ${route}`)!;
        const perRound = traced.map((r, i) => rps([r]) / rps([app[i]!]));
        console.log(
          `ratio traced/app req/s ${route.padEnd(8)}  ${(rps(traced) / rps(app)).toFixed(2)}` +
            `  (rounds ${Math.min(...perRound).toFixed(2)}-${Math.max(...perRound).toFixed(2)})` +
            `  server CPU per request ${(cpuPerRequest(traced) / cpuPerRequest(app)).toFixed(2)}`,
        );
      }
      console.log(`OTLP sink: ${sink.received()} (${TRACED}: default sampling)`);
    }
    if (errors > 0) {
      console.error(`\n${errors} errors (socket errors, timeouts or non-2xx answers)`);
      process.exitCode = 1;
    }
  } finally {
    for (const child of children) child.kill();
    sink?.close();
  }
}

const TRACED = "app + tracing";

/**
 * An OTLP/HTTP endpoint that drops what it is sent, counting requests and bytes only: it shares this
 * process with the load generator, so it must not parse.
 */
async function otlpSink() {
  let exports = 0;
  let bytes = 0;
  const server = http.createServer((req, res) => {
    req.on("data", (chunk: Buffer) => (bytes += chunk.length));
    req.on("end", () => {
      exports++;
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received: () => `${exports} export requests, ${Math.round(bytes / 1024)} KiB`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

(process.argv.includes("--serve") ? serve() : main()).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});

/**
 * `npm run bench:app` (tsx bench/app.ts): requests/s and p50/p99 latency of the app's `/healthz` and `/`
 * against a bare node:http server answering the same bodies with the same content types, in one run.
 *
 *   - the app as its image runs it: compiled JS (`npm run build` in app/, done first), `node dist/main.js`,
 *     NODE_ENV=production, metrics on, in its own process;
 *   - the reference, bench/bare-server.mjs, in another plain `node` process;
 *   - the load generator (autocannon) in this process, on loopback (127.0.0.1).
 * With `taskset` and at least 2 cores, the generator is pinned to core 0 and both servers to core 1 (only
 * one of them is loaded at a time), so neither server competes with the generator for its core.
 *
 * Options, as flags or environment variables (flags win):
 *   --seconds N      BENCH_SECONDS      measured 1-second rounds per target and route (default 5)
 *   --connections N  BENCH_CONNECTIONS  concurrent connections (default 50)
 *   --warmup N       BENCH_WARMUP       unmeasured seconds per target and route first (default 2)
 *   --tracing        BENCH_TRACING=1    also the app with OpenTelemetry tracing on (default sampling), in a
 *                                       third process exporting to an OTLP sink in this one; reports its
 *                                       ratio to the app without and the spans the sink received.
 *                                       OTEL_TRACES_SAMPLER_ARG and TRACE_RATE_LIMIT reach that process.
 *
 * Rounds alternate app and bare (ABBA order), so a change in the machine's load hits both alike. Reported:
 * req/s over all rounds, the median of the rounds' p50 and p99, the ratio per route and the lowest and
 * highest per-round ratio (how noisy the run was), the core count and the load average before and after.
 * On Linux each round also measures the serving process's CPU time per request (/proc/<pid>/stat), which
 * a loaded machine skews far less than req/s.
 * Exits non-zero on errors (a server that fails to start, socket errors, timeouts, non-2xx), never on the
 * ratio.
 */
import { fork, spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import autocannon from "autocannon";
import { freePort } from "../test/support/net";

const ROUTES = ["/healthz", "/"] as const;
const APP_DIR = path.resolve(__dirname, "..", "app");
const BARE_SERVER = path.join(__dirname, "bare-server.mjs");

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
  /** CPU time (user + system) the serving process spent in the round, in ms; undefined off Linux. */
  cpuMs?: number;
}

/** CPU time (user + system) a process has used so far, in ms, from /proc; undefined where there is none. */
function cpuMsOf(pid: number): number | undefined {
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}
const CLOCK_TICKS = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout?.trim()) || 100;

async function round(url: string, connections: number, seconds: number, pid: number): Promise<Round> {
  const cpuBefore = cpuMsOf(pid);
  const result = await autocannon({ url, connections, duration: seconds });
  const cpuAfter = cpuMsOf(pid);
  return {
    requests: result.requests.total,
    seconds: result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
    cpuMs: cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore,
  };
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const rps = (rounds: Round[]) =>
  rounds.reduce((n, r) => n + r.requests, 0) / rounds.reduce((t, r) => t + r.seconds, 0);
/** Server CPU µs per answered request (undefined off Linux): unlike req/s, not skewed by other load. */
const cpuPerRequest = (rounds: Round[]) =>
  rounds.some((r) => r.cpuMs === undefined)
    ? undefined
    : (rounds.reduce((t, r) => t + r.cpuMs!, 0) * 1000) / rounds.reduce((n, r) => n + r.requests, 0);

/** Pins a process (all its threads) to one core; false when taskset is missing or refuses. */
function pin(pid: number, core: number): boolean {
  return spawnSync("taskset", ["-a", "-pc", String(core), String(pid)], { stdio: "ignore" }).status === 0;
}

const exited = (child: ChildProcess, what: string) =>
  new Promise<never>((_, reject) =>
    child.once("exit", (code) => reject(new Error(`${what} exited (${code}) before it was ready`))),
  );

async function waitUntilReady(base: string, child: ChildProcess): Promise<void> {
  const gaveUp = exited(child, "the app");
  for (let i = 0; i < 200; i++) {
    const ok = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await Promise.race([new Promise((resolve) => setTimeout(resolve, 50)), gaveUp]);
  }
  throw new Error(`the app did not answer ${base}/readyz within 10 s`);
}

async function main(): Promise<void> {
  const opts = {
    seconds: option("seconds", "BENCH_SECONDS", 5, 1, 600),
    connections: option("connections", "BENCH_CONNECTIONS", 50, 1, 10000),
    warmup: option("warmup", "BENCH_WARMUP", 2, 0, 60),
    tracing: process.argv.includes("--tracing") || process.env.BENCH_TRACING === "1",
  };
  const build = spawnSync("npm", ["run", "--silent", "build"], { cwd: APP_DIR, stdio: "inherit" });
  if (build.status !== 0) throw new Error(`npm run build in app/ failed (${build.status})`);

  const children: ChildProcess[] = [];
  const stopAll = () => children.forEach((c) => c.kill("SIGKILL"));
  process.once("SIGINT", () => {
    stopAll();
    process.exit(130);
  });
  const sink = opts.tracing ? await otlpSink() : undefined;
  // The app as its image runs it; `tracing` adds the OTLP endpoint (the app then starts its tracing SDK).
  const startApp = async (tracing?: { endpoint: string }) => {
    const { OTEL_EXPORTER_OTLP_ENDPOINT: _unset, ...env } = process.env;
    const port = await freePort();
    const child = spawn(process.execPath, ["dist/main.js"], {
      cwd: APP_DIR,
      env: {
        ...env,
        NODE_ENV: "production",
        PORT: String(port),
        HOST: "127.0.0.1",
        APP_ENV: "prod",
        ...(tracing ? { OTEL_EXPORTER_OTLP_ENDPOINT: tracing.endpoint } : {}),
      },
      stdio: ["ignore", "ignore", "inherit"],
    });
    children.push(child);
    const base = `http://127.0.0.1:${port}`;
    await waitUntilReady(base, child);
    return { child, base };
  };
  try {
    const { child: app, base: appBase } = await startApp();
    const traced = sink ? await startApp({ endpoint: sink.url }) : undefined;

    // The same bodies and content types as the app's, with no framework around them.
    const bodies: Record<string, { type: string; body: string }> = {};
    for (const route of ROUTES) {
      const res = await fetch(`${appBase}${route}`);
      if (res.status !== 200) throw new Error(`app ${route}: ${res.status}`);
      bodies[route] = {
        type: res.headers.get("content-type") ?? "text/plain",
        body: Buffer.from(await res.arrayBuffer()).toString("base64"),
      };
    }
    const bare = fork(BARE_SERVER, [], { execArgv: [], stdio: ["ignore", "ignore", "inherit", "ipc"] });
    children.push(bare);
    bare.send(bodies);
    const barePort = await Promise.race([
      new Promise<number>((resolve) => bare.once("message", (m) => resolve((m as { port: number }).port))),
      exited(bare, "the bare server"),
    ]);
    const bareBase = `http://127.0.0.1:${barePort}`;

    const cores = os.availableParallelism();
    const pinned =
      cores >= 2 &&
      pin(process.pid, 0) &&
      pin(app.pid!, 1) &&
      pin(bare.pid!, 1) &&
      (!traced || pin(traced.child.pid!, 1))
        ? `load generator on core 0, app${traced ? "s (with and without tracing)" : ""} and bare server on core 1`
        : "not pinned (needs taskset and 2 cores)";
    const loadBefore = os.loadavg();

    const targets = [
      { name: "app (fastify)", base: appBase, pid: app.pid! },
      { name: "bare node:http", base: bareBase, pid: bare.pid! },
      ...(traced ? [{ name: TRACED, base: traced.base, pid: traced.child.pid! }] : []),
    ];
    const rounds = new Map<string, Round[]>();
    for (const route of ROUTES) {
      for (const t of targets) {
        if (opts.warmup > 0) await round(`${t.base}${route}`, opts.connections, opts.warmup, t.pid);
        rounds.set(`${t.name} ${route}`, []);
      }
      for (let i = 0; i < opts.seconds; i++) {
        for (const t of i % 2 === 0 ? targets : [...targets].reverse()) {
          rounds
            .get(`${t.name} ${route}`)!
            .push(await round(`${t.base}${route}`, opts.connections, 1, t.pid));
        }
      }
    }
    const loadAfter = os.loadavg();

    const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(" ");
    console.log(
      `\nnode ${process.version}, ${cores} cores (${os.cpus()[0]?.model ?? "unknown CPU"}), ${pinned}\n` +
        `load average ${load(loadBefore)} before, ${load(loadAfter)} after\n` +
        `${opts.connections} connections, ${opts.seconds} x 1 s per target and route (after ${opts.warmup} s ` +
        `warm-up), 127.0.0.1; app: node dist/main.js, NODE_ENV=production, metrics on\n`,
    );
    const row = (cells: string[]) =>
      console.log(
        [cells[0]!.padEnd(15), cells[1]!.padEnd(8), ...cells.slice(2).map((c) => c.padStart(8))].join("  "),
      );
    row(["target", "route", "req/s", "p50 ms", "p99 ms", "errors", "cpu µs/req"]);
    let errors = 0;
    for (const route of ROUTES) {
      for (const t of targets) {
        const rs = rounds.get(`${t.name} ${route}`)!;
        const e = rs.reduce((n, r) => n + r.errors, 0);
        errors += e;
        const p = (k: "p50" | "p99") => String(median(rs.map((r) => r[k])));
        const cpu = cpuPerRequest(rs);
        row([
          t.name,
          route,
          String(Math.round(rps(rs))),
          p("p50"),
          p("p99"),
          String(e),
          cpu === undefined ? "n/a" : cpu.toFixed(1),
        ]);
      }
    }
    console.log("");
    for (const route of ROUTES) {
      const appRounds = rounds.get(`app (fastify) ${route}`)!;
      const bareRounds = rounds.get(`bare node:http ${route}`)!;
      const perRound = appRounds.map((r, i) => rps([r]) / rps([bareRounds[i]!]));
      console.log(
        `ratio app/bare req/s  ${route.padEnd(8)}  ${(rps(appRounds) / rps(bareRounds)).toFixed(2)}` +
          `  (median of rounds ${median(perRound).toFixed(2)}, rounds ` +
          `${Math.min(...perRound).toFixed(2)}-${Math.max(...perRound).toFixed(2)})`,
      );
    }
    if (sink) {
      for (const route of ROUTES) {
        const appRounds = rounds.get(`app (fastify) ${route}`)!;
        const tracedRounds = rounds.get(`${TRACED} ${route}`)!;
        const perRound = tracedRounds.map((r, i) => rps([r]) / rps([appRounds[i]!]));
        const [cpuTraced, cpuApp] = [cpuPerRequest(tracedRounds), cpuPerRequest(appRounds)];
        console.log(
          `ratio traced/app req/s ${route.padEnd(8)}  ${(rps(tracedRounds) / rps(appRounds)).toFixed(2)}` +
            `  (rounds ${Math.min(...perRound).toFixed(2)}-${Math.max(...perRound).toFixed(2)})` +
            (cpuTraced && cpuApp ? `  server CPU per request ${(cpuTraced / cpuApp).toFixed(2)}` : ""),
        );
      }
      const setting = (name: string) => `${name}=${process.env[name] || "(unset: the app's default)"}`;
      console.log(
        `OTLP sink: ${sink.received()}; ${TRACED}: ${setting("OTEL_TRACES_SAMPLER_ARG")}, ` +
          setting("TRACE_RATE_LIMIT"),
      );
    }
    if (errors > 0) {
      console.error(`\n${errors} errors (socket errors, timeouts or non-2xx answers)`);
      process.exitCode = 1;
    }
  } finally {
    stopAll();
    sink?.close();
  }
}

const TRACED = "app + tracing";

/**
 * An OTLP/HTTP endpoint that drops what it is sent, counting requests, bytes and spans only: it shares
 * this process with the load generator, so it must not parse (spans are counted as `"spanId":` keys in the
 * JSON bodies).
 */
async function otlpSink() {
  let exports = 0;
  let bytes = 0;
  let spans = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      exports++;
      bytes += body.length;
      for (let at = body.indexOf(SPAN_KEY); at >= 0; at = body.indexOf(SPAN_KEY, at + 1)) spans++;
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received: () => `${spans} spans in ${exports} export requests, ${Math.round(bytes / 1024)} KiB`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}
const SPAN_KEY = '"spanId":';

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});

/**
 * `npm run bench:app`: requests/s and p50/p99 latency of the app's `/healthz` and `/` against a bare
 * node:http server answering the same bodies, in the same run, on loopback.
 * Options: BENCH_SECONDS (default 5), BENCH_CONNECTIONS (default 50).
 *
 * Both servers run in a child process, the load generator in this one, so they do not share a core.
 */
import { fork } from "node:child_process";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import autocannon from "autocannon";
import { loadConfig } from "../app/src/config";
import { buildServer } from "../app/src/server";

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const ROUTES = ["/healthz", "/"] as const;

interface Result {
  target: string;
  route: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

async function measure(target: string, base: string, route: string): Promise<Result> {
  const result = await autocannon({ url: `${base}${route}`, connections, duration: seconds });
  return {
    target,
    route,
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx,
  };
}

/** Child process: both servers, then their base URLs on the IPC channel. */
async function serve(): Promise<void> {
  const app = buildServer(loadConfig({ LOG_LEVEL: "error", APP_ENV: "dev" })).app;
  const appBase = await app.listen({ port: 0, host: "127.0.0.1" });

  // The same bodies and content types, with no framework around them.
  const bodies = new Map<string, { type: string; body: Buffer }>();
  for (const route of ROUTES) {
    const res = await fetch(`${appBase}${route}`);
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
  process.send?.({ appBase, bareBase: `http://127.0.0.1:${(bare.address() as AddressInfo).port}` });
}

async function main(): Promise<void> {
  const child = fork(__filename, ["--serve"], { execArgv: ["--import", "tsx"] });
  const { appBase, bareBase } = await new Promise<{ appBase: string; bareBase: string }>((resolve) =>
    child.once("message", (m) => resolve(m as { appBase: string; bareBase: string })),
  );
  const results: Result[] = [];
  for (const route of ROUTES) {
    results.push(await measure("app (fastify)", appBase, route));
    results.push(await measure("bare node:http", bareBase, route));
  }
  child.kill();

  console.log(`\n${connections} connections, ${seconds}s per target, loopback\n`);
  console.log("target           route     req/s    p50 ms  p99 ms  errors");
  for (const r of results) {
    console.log(
      `${r.target.padEnd(16)} ${r.route.padEnd(9)} ${String(r.rps).padStart(7)} ${String(r.p50).padStart(8)} ${String(r.p99).padStart(7)} ${String(r.errors).padStart(7)}`,
    );
  }
  for (const route of ROUTES) {
    const [a, b] = results.filter((r) => r.route === route);
    console.log(`ratio app/bare ${route.padEnd(9)} ${(a!.rps / b!.rps).toFixed(2)}`);
  }
  if (results.some((r) => r.errors > 0)) process.exitCode = 1;
}

(process.argv.includes("--serve") ? serve() : main()).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

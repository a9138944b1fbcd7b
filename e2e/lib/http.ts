import * as http from "node:http";
import * as net from "node:net";

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A free TCP port on 127.0.0.1 (asked from the kernel, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const LOOPBACK = /^http:\/\/127\.0\.0\.1:\d+\//;

/** GET over loopback only; rejects on network errors and after timeoutMs. */
export function get(url: string, opts: { timeoutMs?: number; agent?: http.Agent } = {}): Promise<Response> {
  if (!LOOPBACK.test(url)) return Promise.reject(new Error(`refusing a non-loopback request: ${url}`));
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: opts.agent ?? false, timeout: opts.timeoutMs ?? 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        }),
      );
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`timed out after ${opts.timeoutMs ?? 5000} ms`)));
    req.on("error", reject);
  });
}

export interface RequestRecord {
  /** ms since the load started */
  start: number;
  end: number;
  path?: string;
  straggler?: boolean;
  status?: number;
  error?: string;
}

export interface DrainLoad {
  requests: RequestRecord[];
  /** When a readiness poll first saw 503 (ms since the load started), if it did. */
  notReadyAt?: number;
  /** When the load stopped issuing requests, and why. */
  stoppedAt: number;
  stopReason: string;
  /** When the trigger was called and when it returned (ms since the load started). */
  triggeredAt: number;
  triggerDoneAt: number;
}

export interface DrainLoadOptions {
  baseUrl: string;
  /**
   * One keep-alive client per entry, each requesting its path in a loop and pausing `pauseMs` between
   * requests: mix slow paths that hold requests in flight (/api/work?ms=150) with fast ones.
   */
  clients: { path: string; pauseMs: number }[];
  /** Hard bounds: the load never exceeds these, whatever the server does. */
  maxRequests: number;
  maxMs: number;
  /** Called once, `triggerAfterMs` into the load (sends SIGTERM); its time is recorded by the caller. */
  triggerAfterMs: number;
  trigger: () => Promise<void>;
  readinessPath: string;
  readinessEveryMs: number;
  /**
   * Requested once, on a fresh connection, right after `trigger` returns: a request that is still in
   * flight when the server stops listening (it must still be answered).
   */
  straggler?: string;
}

/**
 * Keep-alive clients request their paths in a loop while a poller watches readiness, like a load balancer.
 * `trigger` fires partway through; once readiness answers anything but 200 (or cannot connect), the
 * clients stop issuing new requests and the load waits for the ones in flight. Every request's outcome
 * is recorded, so the caller can assert none failed.
 */
export async function drainLoad(opts: DrainLoadOptions): Promise<DrainLoad> {
  if (!LOOPBACK.test(`${opts.baseUrl}/`)) throw new Error(`refusing a non-loopback load: ${opts.baseUrl}`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.clients.length });
  const t0 = Date.now();
  const now = () => Date.now() - t0;
  const requests: RequestRecord[] = [];
  let stopped: { at: number; reason: string } | undefined;
  const stop = (reason: string) => (stopped ??= { at: now(), reason });
  let notReadyAt: number | undefined;

  const client = async ({ path, pauseMs }: { path: string; pauseMs: number }) => {
    while (!stopped && requests.length < opts.maxRequests && now() < opts.maxMs) {
      const record: RequestRecord = { start: now(), end: 0, path };
      requests.push(record);
      try {
        const res = await get(`${opts.baseUrl}${path}`, { agent, timeoutMs: 10_000 });
        record.status = res.status;
      } catch (e) {
        record.error = e instanceof Error ? e.message : String(e);
      }
      record.end = now();
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
    stop(requests.length >= opts.maxRequests ? "request bound reached" : "time bound reached");
  };

  const readiness = async () => {
    while (!stopped && now() < opts.maxMs) {
      const status = await get(`${opts.baseUrl}${opts.readinessPath}`, { timeoutMs: 2000 }).then(
        (r) => r.status,
        () => 0,
      );
      if (status !== 200) {
        notReadyAt = now();
        stop(status === 0 ? "readiness probe could not connect" : `readiness answered ${status}`);
        return;
      }
      await new Promise((r) => setTimeout(r, opts.readinessEveryMs));
    }
  };

  let triggeredAt = -1;
  let triggerDoneAt = -1;
  let triggerError: unknown;
  const trigger = new Promise<void>((resolve) =>
    setTimeout(() => {
      triggeredAt = now();
      opts.trigger().then(
        async () => {
          triggerDoneAt = now();
          if (opts.straggler) {
            const record: RequestRecord = { start: now(), end: 0, path: opts.straggler, straggler: true };
            requests.push(record);
            await get(`${opts.baseUrl}${opts.straggler}`, { timeoutMs: 10_000 }).then(
              (r) => (record.status = r.status),
              (e: unknown) => (record.error = e instanceof Error ? e.message : String(e)),
            );
            record.end = now();
          }
          resolve();
        },
        (e: unknown) => {
          triggerError = e;
          stop("trigger failed");
          resolve();
        },
      );
    }, opts.triggerAfterMs),
  );
  try {
    await Promise.all([trigger, readiness(), ...opts.clients.map(client)]);
  } finally {
    agent.destroy();
  }
  if (triggerError !== undefined) throw triggerError;
  const s = stopped ?? { at: now(), reason: "?" };
  return { requests, notReadyAt, stoppedAt: s.at, stopReason: s.reason, triggeredAt, triggerDoneAt };
}

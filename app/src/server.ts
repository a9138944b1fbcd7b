import type { IncomingMessage, ServerResponse } from "node:http";
import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyReply,
  type RawServerDefault,
} from "fastify";
import { pino, type Logger } from "pino";
import { registerBuildInfo } from "./build-info";
import type { AppConfig } from "./config";
import { createMetrics } from "./metrics";
import { traceRequests } from "./tracing";

/** Route label for requests that matched no route: bounded cardinality, whatever the URL. */
const UNMATCHED = "not_found";
const MAX_WORK_MS = 2000;

export interface Server {
  app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>;
  /** Flips /readyz to 503; called first on SIGTERM. */
  startDraining(): void;
  readonly draining: boolean;
}

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string,
  );

/** JSON lines on stdout (pino's default destination, synchronous, so nothing is lost at exit). */
export function createLogger(config: Pick<AppConfig, "name" | "logLevel">): Logger {
  return pino({ name: config.name, level: config.logLevel, timestamp: pino.stdTimeFunctions.isoTime });
}

/** The app, not listening: main.ts listens on the configured port, tests and the benchmark on port 0. */
export function buildServer(config: AppConfig): Server {
  const started = Date.now();
  let draining = false;
  const metrics = createMetrics();
  registerBuildInfo(metrics.registry, config);
  const app = Fastify({
    loggerInstance: createLogger(config),
    // No per-request log lines: they would cost more than a probe request itself. Errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    // Nor a per-request child logger (its reqId binding): the error log below names the request itself.
    childLoggerFactory: (logger) => logger,
    // Unknown query parameters are an error, not silently dropped.
    ajv: { customOptions: { removeAdditional: false } },
    return503OnClosing: false,
    // Requests Fastify rejects before routing (a malformed URL): the same JSON 400 as a bad query.
    frameworkErrors: (error, _request, reply) => {
      (reply as FastifyReply).code(400).send({ error: "bad_request", message: error.message });
    },
  });

  traceRequests(app);
  // One line per request only at debug level (dev); it carries the request's trace id.
  const logRequests = app.log.isLevelEnabled("debug");

  const page = Buffer.from(
    [
      "<!doctype html>",
      `<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(config.name)}</title></head>`,
      `<body><h1>${escapeHtml(config.name)}</h1>`,
      `<p>version <strong>${escapeHtml(config.version)}</strong>, commit ${escapeHtml(config.commit)},`,
      ` environment <strong>${escapeHtml(config.env)}</strong></p></body></html>`,
      "",
    ].join("\n"),
  );

  // One hook for both jobs, it is on every request's path: record the request, and while draining
  // close each connection after its response, so keep-alive clients reconnect elsewhere and the
  // server finishes closing as soon as the last in-flight request is answered.
  app.addHook("onSend", (request, reply, payload, done) => {
    metrics.observe(
      request.method,
      request.routeOptions.url ?? UNMATCHED,
      reply.statusCode,
      reply.elapsedTime,
    );
    if (draining) reply.header("connection", "close");
    if (logRequests) request.log.debug({ statusCode: reply.statusCode }, "request answered");
    done(null, payload);
  });

  app.get("/", (_request, reply) => {
    reply.type("text/html; charset=utf-8").send(page);
  });
  // Probes answer constant bodies: serialised once, not on every request.
  const JSON_TYPE = "application/json; charset=utf-8";
  const OK = JSON.stringify({ status: "ok" });
  const READY = JSON.stringify({ status: "ready" });
  const DRAINING = JSON.stringify({ status: "draining" });
  app.get("/healthz", (_request, reply) => {
    reply.type(JSON_TYPE).send(OK);
  });
  app.get("/readyz", (_request, reply) => {
    if (draining) reply.code(503).type(JSON_TYPE).send(DRAINING);
    else reply.type(JSON_TYPE).send(READY);
  });
  app.get("/metrics", async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  app.get<{ Querystring: { pretty?: boolean } }>(
    "/api/info",
    {
      schema: {
        querystring: {
          type: "object",
          properties: { pretty: { type: "boolean" } },
          additionalProperties: false,
        },
      },
    },
    (request, reply) => {
      const info = {
        name: config.name,
        version: config.version,
        commit: config.commit,
        env: config.env,
        apiTokenConfigured: config.apiTokenConfigured,
        uptimeSeconds: Math.round((Date.now() - started) / 1000),
      };
      if (request.query.pretty) reply.type("application/json").send(`${JSON.stringify(info, null, 2)}\n`);
      else reply.send(info);
    },
  );
  // Simulated work of a bounded duration: lets load tests and drain tests hold requests in flight.
  app.get<{ Querystring: { ms: number } }>(
    "/api/work",
    {
      schema: {
        querystring: {
          type: "object",
          required: ["ms"],
          properties: { ms: { type: "integer", minimum: 0, maximum: MAX_WORK_MS } },
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      await new Promise((resolve) => setTimeout(resolve, request.query.ms));
      return { workedMs: request.query.ms };
    },
  );

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: "not_found", path: request.url.split("?")[0] });
  });
  app.setErrorHandler(
    (error: { statusCode?: number; validation?: unknown; message: string }, request, reply) => {
      if (error.validation) {
        reply.code(400).send({ error: "bad_request", message: error.message });
        return;
      }
      const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
      if (status >= 500) request.log.error({ err: error, reqId: request.id }, "request failed");
      reply
        .code(status)
        .send({ error: status >= 500 ? "internal_error" : "bad_request", message: error.message });
    },
  );

  return {
    app,
    startDraining() {
      draining = true;
    },
    get draining() {
      return draining;
    },
  };
}

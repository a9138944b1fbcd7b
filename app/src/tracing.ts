import { propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Tracer } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, RawServerDefault } from "fastify";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { NodeSDK } from "@opentelemetry/sdk-node";
import { AlwaysOnSampler, BatchSpanProcessor, ParentBasedSampler } from "@opentelemetry/sdk-trace";
import { ConfigError } from "./config";

/**
 * Distributed tracing with OpenTelemetry, configured from the environment:
 *   OTEL_EXPORTER_OTLP_ENDPOINT  OTLP/HTTP base URL (spans go to <url>/v1/traces); unset: no SDK, no exporter
 *   OTEL_TRACES_SAMPLER_ARG      share of new traces sampled, 0-1 (default 0.1); a sampled parent is followed
 * Probe and metrics requests are not traced: they would be most of the spans and tell nothing.
 *
 * The SDK (provider, sampler, batching OTLP exporter, W3C trace-context propagation) is OpenTelemetry's
 * Node SDK; the request spans come from two Fastify hooks ({@link traceRequests}) rather than the generic
 * HTTP and Fastify instrumentations, which cost 30-60 % of this service's throughput (bench/app.ts
 * --tracing): its routes answer in microseconds, so per-request work shows. The hooks do nothing for an
 * unsampled request beyond the sampling decision, taken first: a new trace is kept with the configured
 * probability (the root sampler of the SDK then keeps what the hook started), a request with a
 * `traceparent` follows its caller's sampled flag.
 */
export interface TracingSettings {
  /** Where spans go: the OTLP/HTTP traces URL. */
  readonly tracesUrl: string;
  readonly samplingRatio: number;
}

export const DEFAULT_SAMPLING_RATIO = 0.1;
/** Paths never traced (kubelet probes every few seconds, Prometheus every scrape). */
export const UNTRACED_PATHS: readonly string[] = ["/healthz", "/readyz", "/metrics"];

/** The tracing settings of the environment, or undefined when no endpoint is set. Throws on bad values. */
export function tracingSettings(env: NodeJS.ProcessEnv = process.env): TracingSettings | undefined {
  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const rawRatio = env.OTEL_TRACES_SAMPLER_ARG;
  const problems: string[] = [];
  let samplingRatio = DEFAULT_SAMPLING_RATIO;
  if (rawRatio !== undefined && rawRatio !== "") {
    samplingRatio = Number(rawRatio);
    if (!/^\d*\.?\d+$/.test(rawRatio) || samplingRatio > 1) {
      problems.push(`OTEL_TRACES_SAMPLER_ARG=${JSON.stringify(rawRatio)}: must be a ratio from 0 to 1`);
    }
  }
  if (endpoint !== undefined && endpoint !== "" && !/^https?:\/\/[^\s/]+(\/\S*)?$/.test(endpoint)) {
    problems.push(
      `OTEL_EXPORTER_OTLP_ENDPOINT=${JSON.stringify(endpoint)}: must be an http:// or https:// URL`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  if (endpoint === undefined || endpoint === "") return undefined;
  return { tracesUrl: `${endpoint.replace(/\/+$/, "")}/v1/traces`, samplingRatio };
}

/** A running tracer. */
export interface Tracing {
  readonly settings: TracingSettings;
  /** Flushes what is buffered, giving up after `timeoutMs` (an unreachable collector must not hold up exit). */
  shutdown(timeoutMs?: number): Promise<void>;
}

/** Longest a shutdown waits for the last spans to go out. */
export const FLUSH_TIMEOUT_MS = 1000;

/**
 * Starts the OpenTelemetry Node SDK with HTTP and Fastify instrumentation and an OTLP/HTTP exporter, or
 * nothing at all when no endpoint is configured. Call it before the server is built.
 */
export function startTracing(
  service: { name: string; version: string; env: string },
  env: NodeJS.ProcessEnv = process.env,
): Tracing | undefined {
  const settings = tracingSettings(env);
  if (!settings) return undefined;
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({
      "service.name": service.name,
      "service.version": service.version,
      "deployment.environment.name": service.env,
    }),
    // Only what is configured here: no resource probing of the host, no metric or log exporters from OTEL_* defaults.
    autoDetectResources: false,
    metricReaders: [],
    logRecordProcessors: [],
    // A request with a traceparent follows its caller's decision; new traces are sampled in traceRequests.
    sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    spanProcessors: [
      new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: settings.tracesUrl }) }),
    ],
  });
  sdk.start();
  active = { tracer: trace.getTracer(service.name, service.version), samplingRatio: settings.samplingRatio };
  return {
    settings,
    shutdown: (timeoutMs = FLUSH_TIMEOUT_MS) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
      return Promise.race([sdk.shutdown(), timeout]).finally(() => clearTimeout(timer));
    },
  };
}

let active: { tracer: Tracer; samplingRatio: number } | undefined;
type TracedRequest = Pick<FastifyRequest, "method" | "url" | "routeOptions" | "headers"> & {
  log: FastifyBaseLogger;
};

/**
 * Traces the app's requests once {@link startTracing} has started the SDK (without it: no hooks, no
 * cost): a SERVER span per request, named `METHOD route`, child of an incoming `traceparent`, with the
 * method, route, path and status; a sampled request's logger carries `trace_id` and `span_id`.
 */
export function traceRequests<L extends FastifyBaseLogger>(
  app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, L>,
): void {
  if (!active) return;
  const { tracer, samplingRatio } = active;
  const untraced = new Set(UNTRACED_PATHS);
  // One hook only: a sampled request's span ends when its response is finished or aborted (the raw
  // response's "close"), so unsampled requests pay for nothing past this hook.
  app.addHook("onRequest", (request: TracedRequest, reply, done) => {
    const route = request.routeOptions.url;
    if (route !== undefined && untraced.has(route)) return done();
    // Head sampling of new traces before any span work: an unsampled request costs one random number.
    if (request.headers.traceparent === undefined && Math.random() >= samplingRatio) return done();
    const span = tracer.startSpan(
      `${request.method} ${route ?? "not_found"}`,
      { kind: SpanKind.SERVER, attributes: { "http.request.method": request.method } },
      propagation.extract(ROOT_CONTEXT, request.headers),
    );
    if (span.isRecording()) {
      const { traceId, spanId } = span.spanContext();
      request.log = request.log.child({ trace_id: traceId, span_id: spanId });
      reply.raw.once("close", () => {
        const statusCode = reply.raw.writableFinished ? reply.raw.statusCode : undefined;
        span.setAttributes({
          "url.path": request.url.split("?")[0],
          ...(route === undefined ? {} : { "http.route": route }),
          ...(statusCode === undefined ? {} : { "http.response.status_code": statusCode }),
        });
        if (statusCode === undefined || statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      });
    }
    done();
  });
}

import {
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Context,
  type Tracer,
} from "@opentelemetry/api";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, RawServerDefault } from "fastify";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { NodeSDK } from "@opentelemetry/sdk-node";
import { AlwaysOnSampler, BatchSpanProcessor } from "@opentelemetry/sdk-trace";
import { ConfigError } from "./config";
import { WorkerSpanExporter } from "./trace-export";

/**
 * Distributed tracing with OpenTelemetry, configured from the environment:
 *   OTEL_EXPORTER_OTLP_ENDPOINT  OTLP/HTTP base URL (spans go to <url>/v1/traces); unset: no SDK, no exporter
 *   OTEL_TRACES_SAMPLER_ARG      share of new traces sampled, 0-1 (default 0.1); a sampled parent is followed
 *   TRACE_RATE_LIMIT             most requests traced per second by this process (default 100)
 * Probe and metrics requests are not traced: they would be most of the spans and tell nothing.
 *
 * The SDK (provider, sampler, batching, W3C trace-context propagation) is OpenTelemetry's Node SDK, its
 * export an OTLP/HTTP exporter in a worker thread (trace-export.ts). The request spans come from one
 * Fastify hook ({@link traceRequests}) rather than the generic HTTP and Fastify instrumentations, which
 * cost 30-60 % of this service's throughput (bench/app.ts --tracing): its routes answer in microseconds,
 * so per-request work shows. The hook takes the sampling decision first and does nothing else for an
 * unsampled request: a new trace is kept with the configured probability, a request with a `traceparent`
 * follows its caller's sampled flag, and either way only while the rate limit allows. A recorded span
 * costs this app about 15-25 µs of CPU all told (the SDK's span, its batching and serialising, the
 * collector's HTTP), so a ratio alone would make tracing's cost grow with traffic; the limit bounds it, as
 * tracers' rate-limiting samplers do. The limit counts sampled parents too: under more traffic than it
 * allows, some traces lack this service's span.
 */
export interface TracingSettings {
  /** Where spans go: the OTLP/HTTP traces URL. */
  readonly tracesUrl: string;
  readonly samplingRatio: number;
  /** Most requests traced per second (new traces and followed ones alike). */
  readonly rateLimit: number;
}

export const DEFAULT_SAMPLING_RATIO = 0.1;
export const DEFAULT_RATE_LIMIT = 100;
const MAX_RATE_LIMIT = 100_000;
/** Paths never traced (kubelet probes every few seconds, Prometheus every scrape). */
export const UNTRACED_PATHS: readonly string[] = ["/healthz", "/readyz", "/metrics"];

/** The tracing settings of the environment, or undefined when no endpoint is set. Throws on bad values. */
export function tracingSettings(env: NodeJS.ProcessEnv = process.env): TracingSettings | undefined {
  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const rawRatio = env.OTEL_TRACES_SAMPLER_ARG;
  const rawLimit = env.TRACE_RATE_LIMIT;
  const problems: string[] = [];
  let samplingRatio = DEFAULT_SAMPLING_RATIO;
  if (rawRatio !== undefined && rawRatio !== "") {
    samplingRatio = Number(rawRatio);
    if (!/^\d*\.?\d+$/.test(rawRatio) || samplingRatio > 1) {
      problems.push(`OTEL_TRACES_SAMPLER_ARG=${JSON.stringify(rawRatio)}: must be a ratio from 0 to 1`);
    }
  }
  let rateLimit = DEFAULT_RATE_LIMIT;
  if (rawLimit !== undefined && rawLimit !== "") {
    rateLimit = Number(rawLimit);
    if (!/^\d+$/.test(rawLimit) || rateLimit < 1 || rateLimit > MAX_RATE_LIMIT) {
      problems.push(
        `TRACE_RATE_LIMIT=${JSON.stringify(rawLimit)}: must be a whole number of traces per second from 1 to ${MAX_RATE_LIMIT}`,
      );
    }
  }
  if (endpoint !== undefined && endpoint !== "" && !/^https?:\/\/[^\s/]+(\/\S*)?$/.test(endpoint)) {
    problems.push(
      `OTEL_EXPORTER_OTLP_ENDPOINT=${JSON.stringify(endpoint)}: must be an http:// or https:// URL`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  if (endpoint === undefined || endpoint === "") return undefined;
  return { tracesUrl: `${endpoint.replace(/\/+$/, "")}/v1/traces`, samplingRatio, rateLimit };
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
 * Starts the OpenTelemetry Node SDK with a batching OTLP/HTTP exporter, or nothing at all when no endpoint
 * is configured. Call it before the server is built.
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
    // traceRequests takes every sampling decision (ratio, caller's flag, rate limit) before it starts a span.
    sampler: new AlwaysOnSampler(),
    spanProcessors: [
      new BatchSpanProcessor({ exporter: new WorkerSpanExporter({ url: settings.tracesUrl }) }),
    ],
  });
  sdk.start();
  active = { tracer: trace.getTracer(service.name, service.version), settings };
  return {
    settings,
    shutdown: (timeoutMs = FLUSH_TIMEOUT_MS) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
      return Promise.race([sdk.shutdown(), timeout]).finally(() => clearTimeout(timer));
    },
  };
}

let active: { tracer: Tracer; settings: TracingSettings } | undefined;
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
  const { tracer, settings } = active;
  const untraced = new Set(UNTRACED_PATHS);
  const withinRateLimit = rateLimiter(settings.rateLimit);
  // One hook only: a sampled request's span ends when its response is finished or aborted (the raw
  // response's "close"), so unsampled requests pay for nothing past this hook.
  app.addHook("onRequest", (request: TracedRequest, reply, done) => {
    const route = request.routeOptions.url;
    if (route !== undefined && untraced.has(route)) return done();
    // The sampling decision before any span work: an unsampled new trace costs one random number.
    let parent = ROOT_CONTEXT;
    let sampled: boolean;
    const caller = request.headers.traceparent === undefined ? undefined : callerSpan(request.headers);
    if (caller) {
      parent = caller.context;
      sampled = caller.sampled;
    } else {
      sampled = Math.random() < settings.samplingRatio;
    }
    if (!sampled || !withinRateLimit()) return done();
    const span = tracer.startSpan(
      `${request.method} ${route ?? "not_found"}`,
      { kind: SpanKind.SERVER, attributes: { "http.request.method": request.method } },
      parent,
    );
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
    done();
  });
}

/** The caller's span from a valid `traceparent` (W3C trace context), or undefined. */
function callerSpan(headers: IncomingMessage["headers"]): { context: Context; sampled: boolean } | undefined {
  const context = propagation.extract(ROOT_CONTEXT, headers);
  const span = trace.getSpanContext(context);
  if (!span || !isSpanContextValid(span)) return undefined;
  return { context, sampled: (span.traceFlags & TraceFlags.SAMPLED) !== 0 };
}

/**
 * A token bucket: true at most `perSecond` times a second on average, in bursts of at most one second's
 * worth. `now` is a monotonic clock in milliseconds.
 */
export function rateLimiter(perSecond: number, now: () => number = () => performance.now()): () => boolean {
  let tokens = perSecond;
  let last = now();
  return () => {
    const t = now();
    tokens = Math.min(perSecond, tokens + ((t - last) * perSecond) / 1000);
    last = t;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };
}

import { collectDefaultMetrics, Counter, Histogram, Registry } from "prom-client";

/** The service's own registry: request count and duration by method, route pattern and status. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const labelNames = ["method", "route", "status_code"] as const;
  const requests = new Counter({
    name: "http_requests_total",
    help: "HTTP requests handled, by method, route pattern and status code.",
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "http_request_duration_seconds",
    help: "HTTP request duration in seconds, by method, route pattern and status code.",
    labelNames,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  // Label children cached per method/route/status: the route is the pattern, so the set stays small.
  const children = new Map<string, { count: () => void; time: (seconds: number) => void }>();
  const observe = (method: string, route: string, statusCode: number, elapsedMs: number) => {
    const key = `${method} ${statusCode} ${route}`;
    let child = children.get(key);
    if (!child) {
      const labels = { method, route, status_code: String(statusCode) };
      const counter = requests.labels(labels);
      const histogram = duration.labels(labels);
      child = { count: () => counter.inc(), time: (seconds) => histogram.observe(seconds) };
      children.set(key, child);
    }
    child.count();
    child.time(elapsedMs / 1000);
  };
  return { registry, observe };
}

export type Metrics = ReturnType<typeof createMetrics>;

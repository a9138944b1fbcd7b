import { collectDefaultMetrics, Counter, Histogram, Registry } from "prom-client";

const LABEL_NAMES = ["method", "route", "status_code"] as const;
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const;

/** One label set's running totals: plain numbers on the request path, turned into metrics at scrape time. */
interface Series {
  readonly labels: { method: string; route: string; status_code: string };
  count: number;
  sumSeconds: number;
  /** Observations per bucket (not cumulative): index i counts durations <= DURATION_BUCKETS[i] and above the one before. */
  readonly perBucket: number[];
}

/** prom-client 15's Histogram keeps its label sets in `hashMap`; collect() fills it from the totals. */
interface HistogramEntry {
  count: number;
  sum: number;
  bucketValues: Record<number, number>;
}

/**
 * The service's own registry: request count and duration by method, route pattern and status.
 *
 * A request costs three Map lookups and a few additions (no label object, no hashing, no prom-client call);
 * the counter and the histogram read those totals in their `collect()`, when /metrics is scraped. Route
 * patterns, methods and status codes are few, so the set of series stays small.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const byRoute = new Map<string, Map<string, Map<number, Series>>>();
  const all: Series[] = [];

  const seriesFor = (method: string, route: string, statusCode: number): Series => {
    let byMethod = byRoute.get(route);
    if (!byMethod) byRoute.set(route, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (!byStatus) byMethod.set(method, (byStatus = new Map()));
    let series = byStatus.get(statusCode);
    if (!series) {
      series = {
        labels: { method, route, status_code: String(statusCode) },
        count: 0,
        sumSeconds: 0,
        perBucket: DURATION_BUCKETS.map(() => 0),
      };
      byStatus.set(statusCode, series);
      all.push(series);
    }
    return series;
  };

  new Counter({
    name: "http_requests_total",
    help: "HTTP requests handled, by method, route pattern and status code.",
    labelNames: LABEL_NAMES,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of all) this.inc(s.labels, s.count);
    },
  });
  new Histogram({
    name: "http_request_duration_seconds",
    help: "HTTP request duration in seconds, by method, route pattern and status code.",
    labelNames: LABEL_NAMES,
    buckets: [...DURATION_BUCKETS],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of all) this.zero(s.labels);
      // zero() added one entry per series, in order; fill each with its totals.
      const entries = Object.values((this as unknown as { hashMap: Record<string, HistogramEntry> }).hashMap);
      entries.forEach((entry, i) => {
        const s = all[i]!;
        entry.count = s.count;
        entry.sum = s.sumSeconds;
        DURATION_BUCKETS.forEach((bound, b) => (entry.bucketValues[bound] = s.perBucket[b]!));
      });
    },
  });

  const observe = (method: string, route: string, statusCode: number, elapsedMs: number) => {
    const series = seriesFor(method, route, statusCode);
    const seconds = elapsedMs / 1000;
    series.count++;
    series.sumSeconds += seconds;
    for (let b = 0; b < DURATION_BUCKETS.length; b++) {
      if (seconds <= DURATION_BUCKETS[b]!) {
        series.perBucket[b]!++;
        break;
      }
    }
  };
  return { registry, observe };
}

export type Metrics = ReturnType<typeof createMetrics>;

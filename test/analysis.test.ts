/**
 * The canary analysis queries of the demo-app chart, as rendered by the real helm, evaluated by the real
 * promtool against input series: a healthy new revision passes; a 5xx burst or a slow p95 fails; the
 * stable revision's series never count. Each metric's successCondition (Argo Rollouts' expression over
 * `result[0]`) is turned into the PromQL comparison `< bool <threshold>`, which yields 1 (pass) or 0.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseAllDocuments, stringify } from "yaml";
import { helmAsync, helmUnavailableReason } from "./support/helm";
import { demoAppTemplateArgs } from "./support/platform-values";
import { promtoolBinary, promtoolTestRules, promtoolUnavailableReason } from "./support/promtool";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ARGS = { namespace: "demo-app", service: "demo-app", revision: "6d9f8c7b5" };
const STABLE_REVISION = "5c4b3a291";

/** The analysis metrics of the prod values: name → { query with the args filled in, threshold }. */
async function analysisMetrics(): Promise<Record<string, { query: string; threshold: number }>> {
  // With the platform's values (the ingress host), as Argo CD hands them to prod's chart.
  const result = await helmAsync(await demoAppTemplateArgs("prod"));
  assert.equal(result.status, 0, result.stderr);
  const template = parseAllDocuments(result.stdout)
    .map((d) => d.toJSON() as Obj | null)
    .find((o) => o?.kind === "AnalysisTemplate");
  assert.ok(template, "the prod render has an AnalysisTemplate");
  return Object.fromEntries(
    (template.spec.metrics as Obj[]).map((m) => [
      m.name,
      {
        query: (m.provider.prometheus.query as string).replace(
          /\{\{args\.([a-z-]+)\}\}/g,
          (_, name: keyof typeof ARGS) => ARGS[name],
        ),
        threshold: successThreshold(m.successCondition),
      },
    ]),
  );
}

/** The threshold of `result[0] < X` (optionally `isNaN(result[0]) || ` first); other shapes fail the test. */
export function successThreshold(condition: string): number {
  const m = /^(?:isNaN\(result\[0\]\) \|\| )?result\[0\] < ([0-9.]+)$/.exec(condition);
  if (!m) throw new Error(`unexpected successCondition "${condition}": teach the analysis test its shape`);
  return Number(m[1]);
}

const LE = ["0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"];

/** Counter series of one revision for 10 minutes: requests per minute by status, latency histogram. */
function revisionSeries(
  revision: string,
  perMinute: { ok: number; errors: number; buckets: number[] },
): { series: string; values: string }[] {
  const labels = (extra: string) =>
    `{namespace="${ARGS.namespace}",service="${ARGS.service}",rollouts_pod_template_hash="${revision}",method="GET",route="/api/info",${extra}}`;
  const total = perMinute.ok + perMinute.errors;
  assert.equal(perMinute.buckets.at(-1), total, "the +Inf bucket counts every request");
  return [
    { series: `http_requests_total${labels('status_code="200"')}`, values: `0+${perMinute.ok}x10` },
    { series: `http_requests_total${labels('status_code="503"')}`, values: `0+${perMinute.errors}x10` },
    ...LE.map((le, i) => ({
      series: `http_request_duration_seconds_bucket${labels(`status_code="200",le="${le}"`)}`,
      values: `0+${perMinute.buckets[i]}x10`,
    })),
  ];
}

const HEALTHY = { ok: 597, errors: 3, buckets: [500, 570, 595, 600, 600, 600, 600] };
const BURST = { ok: 540, errors: 60, buckets: [500, 570, 595, 600, 600, 600, 600] };
const SLOW = { ok: 600, errors: 0, buckets: [100, 200, 300, 400, 590, 600, 600] };

describe("canary analysis queries with a real promtool", function () {
  let metrics: Awaited<ReturnType<typeof analysisMetrics>>;
  let dir: string;

  before(async function () {
    const ci = process.env.CI && process.env.CI !== "false";
    for (const reason of [helmUnavailableReason(), promtoolUnavailableReason()]) {
      if (!reason) continue;
      if (ci) throw new Error(`helm and promtool are required in CI: ${reason}`);
      console.log(`    skipped: ${reason}`);
      this.skip();
    }
    this.timeout(240_000); // a first run fetches Debian's prometheus package
    metrics = await analysisMetrics();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "analysis-test-"));
  });
  after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

  /** Runs promtool on one scenario: the canary's series, a bad stable revision, expected pass (1) or fail (0) per metric. */
  function judge(canary: typeof HEALTHY, expected: Record<string, 0 | 1>) {
    const file = path.join(dir, `scenario-${Object.values(expected).join("")}-${canary.errors}.yaml`);
    const tests = {
      tests: [
        {
          interval: "1m",
          input_series: [
            ...revisionSeries(ARGS.revision, canary),
            // The stable revision is slow and failing: it must not leak into the canary's verdict.
            ...revisionSeries(STABLE_REVISION, { ok: 100, errors: 500, buckets: [0, 0, 0, 0, 0, 0, 600] }),
          ],
          promql_expr_test: Object.entries(expected).map(([name, verdict]) => ({
            expr: `(${metrics[name]!.query}) < bool ${metrics[name]!.threshold}`,
            eval_time: "10m",
            exp_samples: [{ labels: "{}", value: verdict }],
          })),
        },
      ],
    };
    fs.writeFileSync(file, stringify(tests));
    return promtoolTestRules(file);
  }

  it("measures the two metrics the chart defines, with the default thresholds (1 %, 500 ms)", () => {
    assert.deepEqual(Object.keys(metrics).sort(), ["error-rate", "p95-latency"]);
    assert.equal(metrics["error-rate"]!.threshold, 0.01);
    assert.equal(metrics["p95-latency"]!.threshold, 0.5);
    console.log(`      promtool from ${promtoolBinary().source}`);
  });

  it("a healthy canary (0.5 % errors, p95 100 ms) passes both", () => {
    const r = judge(HEALTHY, { "error-rate": 1, "p95-latency": 1 });
    assert.equal(r.status, 0, r.output);
  });

  it("a 5xx burst (10 %) fails the error rate, not the latency", () => {
    const r = judge(BURST, { "error-rate": 0, "p95-latency": 1 });
    assert.equal(r.status, 0, r.output);
  });

  it("a slow p95 (about 950 ms) fails the latency, not the error rate", () => {
    const r = judge(SLOW, { "error-rate": 1, "p95-latency": 0 });
    assert.equal(r.status, 0, r.output);
  });

  it("promtool really judges: claiming the burst passes is a failed test", () => {
    const r = judge(BURST, { "error-rate": 1, "p95-latency": 1 });
    assert.notEqual(r.status, 0, "promtool accepted a wrong expectation");
    assert.match(r.output, /FAILED/);
  });

  it("a canary without traffic yet counts as no errors", () => {
    const r = judge({ ok: 0, errors: 0, buckets: [0, 0, 0, 0, 0, 0, 0] }, { "error-rate": 1 });
    assert.equal(r.status, 0, r.output);
  });

  it("the successCondition parser refuses shapes it does not know", () => {
    assert.throws(() => successThreshold("result[0] > 0.99"), /unexpected successCondition/);
  });
});

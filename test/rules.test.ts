import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { stringify } from "yaml";
import type { AlertRule, AlertRuleGroup, RecordingRule } from "../components/addons/alert-rules";
import { evaluated, resourcesOf } from "./support/stacks";
import { promtoolBinary, runPromtool, type PromtoolBinary } from "./support/promtool";

/**
 * Every Prometheus rule group the program installs (kube-prometheus-stack's additionalPrometheusRulesMap
 * of each stack) written to a file and checked by the real promtool: `check rules`, and `test rules` with
 * input series that make each alert fire and stay silent. Then each alert's expression is broken (made to
 * never fire, then to always fire) and each recording rule's too: the unit tests must catch every break.
 */

const STACKS = ["dev", "staging", "prod"] as const;
const APP = { job: "demo-app", namespace: "demo-app" };
const MIN = "1m";

interface Series {
  series: string;
  values: string;
}
interface Case {
  /** The alert this case is about. */
  alert: string;
  fires: boolean;
  /** Labels of the firing alert (besides alertname, alertstate and severity). */
  labels?: Record<string, string>;
  evalTime: string;
  /** Spacing of the input samples; the slow cases (hours of data) are evaluated every 5 minutes. */
  interval?: string;
  /** Evaluated every 5 minutes (hours of data). Default: when the interval is 5m or longer. */
  slow?: boolean;
  series: Series[];
}
const SLOW_INTERVAL = "5m";

const labels = (l: Record<string, string>) =>
  `{${Object.entries(l)
    .map(([k, v]) => `${k}="${v}"`)
    .join(",")}}`;
const requests = (status: string, perMinute: number, minutes: number, route = "/api/info"): Series => ({
  series: `http_requests_total${labels({ ...APP, route, method: "GET", status_code: status })}`,
  values: `0+${perMinute}x${minutes}`,
});
/** A histogram of `perMinute` requests, `fastPerMinute` of them at or under 0.5 s. */
const durations = (perMinute: number, fastPerMinute: number, minutes: number): Series[] => {
  const l = { ...APP, route: "/api/info", method: "GET", status_code: "200" };
  return [
    {
      series: `http_request_duration_seconds_bucket${labels({ ...l, le: "0.5" })}`,
      values: `0+${fastPerMinute}x${minutes}`,
    },
    {
      series: `http_request_duration_seconds_bucket${labels({ ...l, le: "+Inf" })}`,
      values: `0+${perMinute}x${minutes}`,
    },
    { series: `http_request_duration_seconds_count${labels(l)}`, values: `0+${perMinute}x${minutes}` },
  ];
};
const ns = { namespace: APP.namespace };

/** At least one firing and one silent case per alert. */
const CASES: Case[] = [
  {
    alert: "DemoAppDown",
    fires: true,
    labels: { ...APP, pod: "p" },
    evalTime: "10m",
    series: [{ series: `up${labels({ ...APP, pod: "p" })}`, values: "0x15" }],
  },
  {
    alert: "DemoAppDown",
    fires: false,
    evalTime: "10m",
    series: [{ series: `up${labels({ ...APP, pod: "p" })}`, values: "1x15" }],
  },
  {
    alert: "DemoAppAbsent",
    fires: true,
    labels: {},
    evalTime: "15m",
    series: [{ series: `up${labels({ job: "other" })}`, values: "1x20" }],
  },
  {
    alert: "DemoAppAbsent",
    fires: false,
    evalTime: "15m",
    series: [{ series: `up${labels({ ...APP, pod: "p" })}`, values: "1x20" }],
  },
  {
    alert: "DemoAppHighErrorRate",
    fires: true,
    labels: ns,
    evalTime: "15m",
    series: [requests("200", 90, 20), requests("500", 10, 20)],
  },
  {
    alert: "DemoAppHighErrorRate",
    fires: false,
    evalTime: "15m",
    series: [requests("200", 98, 20), requests("500", 2, 20)],
  },
  ...(["Degraded", "OutOfSync"] as const).flatMap((state): Case[] => {
    const alert = state === "Degraded" ? "ArgoCdApplicationDegraded" : "ArgoCdApplicationOutOfSync";
    const info = (health: string, sync: string) => ({
      series: `argocd_app_info${labels({ name: "demo-app", health_status: health, sync_status: sync })}`,
      values: "1x30",
    });
    const bad = state === "Degraded" ? info("Degraded", "Synced") : info("Healthy", "OutOfSync");
    return [
      {
        alert,
        fires: true,
        labels: Object.fromEntries([...bad.series.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!])),
        evalTime: "20m",
        series: [bad],
      },
      { alert, fires: false, evalTime: "20m", series: [info("Healthy", "Synced")] },
    ];
  }),
  {
    alert: "VeleroBackupFailed",
    fires: true,
    labels: { schedule: "velero-daily" },
    evalTime: "10m",
    series: [{ series: 'velero_backup_failure_total{schedule="velero-daily"}', values: "0 0 0 1x10" }],
  },
  {
    alert: "VeleroBackupFailed",
    fires: false,
    evalTime: "10m",
    series: [{ series: 'velero_backup_failure_total{schedule="velero-daily"}', values: "0x10" }],
  },
  {
    alert: "VeleroNoRecentBackup",
    fires: true,
    labels: { schedule: "velero-daily" },
    interval: "1h",
    evalTime: "26h",
    slow: true,
    // The last success at time 0, more than 25 h before the evaluation.
    series: [{ series: 'velero_backup_last_successful_timestamp{schedule="velero-daily"}', values: "0x30" }],
  },
  {
    alert: "VeleroNoRecentBackup",
    fires: false,
    interval: "1h",
    evalTime: "26h",
    slow: true,
    // A success every hour: the timestamp keeps up with time.
    series: [
      { series: 'velero_backup_last_successful_timestamp{schedule="velero-daily"}', values: "0+3600x30" },
    ],
  },
  // Availability 99.9 %: the budget is 0.1 %, a fast burn 14.4x = 1.44 %, a slow burn 6x = 0.6 % of requests failing.
  {
    alert: "DemoAppErrorBudgetBurnFast",
    fires: true,
    labels: ns,
    evalTime: "70m",
    series: [requests("200", 980, 80), requests("500", 20, 80)],
  },
  {
    alert: "DemoAppErrorBudgetBurnFast",
    fires: false,
    evalTime: "70m",
    // 1 % fails: a slow burn, not a fast one.
    series: [requests("200", 990, 80), requests("500", 10, 80)],
  },
  {
    alert: "DemoAppErrorBudgetBurnFast",
    fires: false,
    evalTime: "75m",
    // 2 % failed for an hour, then nothing: the 1 h window still burns, the 5 m window no longer does.
    series: [requests("200", 980, 80), { ...requests("500", 20, 60), values: "0+20x60 1200x20" }],
  },
  {
    alert: "DemoAppErrorBudgetBurnFast",
    fires: false,
    evalTime: "70m",
    // Failing probes are not user requests.
    series: [requests("200", 1000, 80), requests("500", 500, 80, "/healthz")],
  },
  {
    alert: "DemoAppErrorBudgetBurnSlow",
    fires: true,
    labels: ns,
    interval: SLOW_INTERVAL,
    evalTime: "400m",
    series: [requests("200", 990, 90), requests("500", 10, 90)],
  },
  {
    alert: "DemoAppErrorBudgetBurnSlow",
    fires: false,
    interval: SLOW_INTERVAL,
    evalTime: "400m",
    series: [requests("200", 995, 90), requests("500", 5, 90)],
  },
  {
    alert: "DemoAppErrorBudgetBurnSlow",
    fires: false,
    interval: SLOW_INTERVAL,
    evalTime: "400m",
    // 1 % failed for five hours, then nothing for 100 minutes: the 6 h window burns, the 30 m one does not.
    series: [requests("200", 990, 80), { ...requests("500", 10, 60), values: "0+10x60 600x20" }],
  },
  {
    alert: "DemoAppErrorBudgetBurnSlow",
    fires: false,
    interval: SLOW_INTERVAL,
    evalTime: "400m",
    // 2 % failing for the last hour only: the 30 m window burns, the 6 h one not yet.
    series: [requests("200", 980, 80), { ...requests("500", 20, 80), values: "0x68 20+20x11" }],
  },
  // Latency: 95 % under 500 ms, the budget is 5 %: a fast burn 72 %, a slow burn 30 % of requests slower.
  {
    alert: "DemoAppLatencyBudgetBurnFast",
    fires: true,
    labels: ns,
    evalTime: "70m",
    series: durations(100, 20, 80),
  },
  {
    alert: "DemoAppLatencyBudgetBurnFast",
    fires: false,
    evalTime: "70m",
    series: durations(100, 50, 80),
  },
  {
    alert: "DemoAppLatencyBudgetBurnSlow",
    fires: true,
    labels: ns,
    interval: SLOW_INTERVAL,
    evalTime: "400m",
    series: durations(100, 50, 90),
  },
  {
    alert: "DemoAppLatencyBudgetBurnSlow",
    fires: false,
    interval: SLOW_INTERVAL,
    evalTime: "400m",
    series: durations(100, 90, 90),
  },
  {
    alert: "DemoAppErrorRateAboveTarget",
    fires: true,
    labels: ns,
    evalTime: "20m",
    series: [requests("200", 980, 30), requests("500", 20, 30)],
  },
  {
    alert: "DemoAppErrorRateAboveTarget",
    fires: false,
    evalTime: "20m",
    series: [requests("200", 995, 30), requests("500", 5, 30)],
  },
  ...[true, false].map((fires): Case => ({
    alert: "DemoAppErrorLogs",
    fires,
    labels: fires ? ns : undefined,
    evalTime: "20m",
    series: [
      // One error line per second, or one every 20 s; info lines never count.
      {
        series: `loki_process_custom_log_lines_total${labels({ ...ns, pod: "p", container: "app", app: "demo-app", level: "50" })}`,
        values: fires ? "0+60x30" : "0+3x30",
      },
      {
        series: `loki_process_custom_log_lines_total${labels({ ...ns, pod: "p", container: "app", app: "demo-app", level: "30" })}`,
        values: "0+6000x30",
      },
    ],
  })),
];

const isSlow = (c: Case) => c.slow === true || c.interval === SLOW_INTERVAL;

/** The recorded SLIs' values (rounded: rates are not exact), in a fast test file. */
const SLI_TESTS = [
  sli("demo_app:sli_errors:ratio_rate5m", [requests("200", 98, 20), requests("500", 2, 20)], "15m", 0.02),
  sli("demo_app:sli_errors:ratio_rate1h", [requests("200", 99, 80), requests("500", 1, 80)], "70m", 0.01),
  sli("demo_app:sli_slow_requests:ratio_rate30m", durations(100, 75, 40), "35m", 0.25),
  sli("demo_app:sli_slow_requests:ratio_rate6h", durations(100, 90, 80), "370m", 0.1, SLOW_INTERVAL),
];
function sli(record: string, series: Series[], evalTime: string, value: number, interval = MIN) {
  return {
    record,
    slow: interval !== MIN,
    test: {
      interval,
      input_series: series,
      promql_expr_test: [
        {
          expr: `round(${record} * 10000)`,
          eval_time: evalTime,
          exp_samples: [{ labels: labels(ns), value: Math.round(value * 10000) }],
        },
      ],
    },
  };
}

/** A case as a promtool test: an ALERTS query (labels, not annotations: those are templates of the value). */
function caseTest(c: Case) {
  return {
    name: `${c.alert} ${c.fires ? "fires" : "stays silent"}`,
    interval: c.interval ?? MIN,
    input_series: c.series,
    promql_expr_test: [
      {
        expr: `ALERTS{alertname="${c.alert}",alertstate="firing"}`,
        eval_time: c.evalTime,
        exp_samples: c.fires
          ? [
              {
                labels: `ALERTS${labels({ alertname: c.alert, alertstate: "firing", severity: severityOf(c.alert), ...c.labels })}`,
                value: 1,
              },
            ]
          : [],
      },
    ],
  };
}

/** promtool test files for the given cases and SLI tests: one evaluated every minute, one every 5 minutes. */
function unitTestFiles(
  ruleFile: string,
  cases: Case[],
  sliTests: typeof SLI_TESTS,
): Array<{ suffix: string; content: string }> {
  const file = (interval: string, tests: unknown[]) =>
    stringify({ rule_files: [ruleFile], evaluation_interval: interval, tests });
  const fast = [
    ...sliTests.filter((t) => !t.slow).map((t) => t.test),
    ...cases.filter((c) => !isSlow(c)).map(caseTest),
  ];
  const slow = [...sliTests.filter((t) => t.slow).map((t) => t.test), ...cases.filter(isSlow).map(caseTest)];
  return [
    ...(fast.length ? [{ suffix: "fast", content: file(MIN, fast) }] : []),
    ...(slow.length ? [{ suffix: "slow", content: file(SLOW_INTERVAL, slow) }] : []),
  ];
}

let groupsOfDev: AlertRuleGroup[] = [];
const alertsOf = (groups: AlertRuleGroup[]) =>
  groups.flatMap((g) => g.rules).filter((r): r is AlertRule => "alert" in r);
const severityOf = (alert: string) =>
  alertsOf(groupsOfDev).find((r) => r.alert === alert)?.labels.severity ?? "?";

async function installedRuleGroups(stack: string): Promise<AlertRuleGroup[]> {
  const [release] = resourcesOf(
    await evaluated(stack),
    "kubernetes:helm.sh/v3:Release",
    "-kube-prometheus-stack",
  );
  const map = release!.inputs.values.additionalPrometheusRulesMap as Record<
    string,
    { groups: AlertRuleGroup[] }
  >;
  return Object.values(map).flatMap((m) => m.groups);
}

/** promtool asynchronously, so the mutation runs go in parallel. */
function promtoolAsync(
  tool: PromtoolBinary,
  args: string[],
  cwd: string,
): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(tool.path, args, { cwd });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr.on("data", (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, output });
    });
  });
}

describe("rules: every installed rule group, checked and unit-tested by promtool", () => {
  let tool: PromtoolBinary | undefined;
  let dir: string;
  before(async function () {
    this.timeout(300_000);
    try {
      tool = promtoolBinary();
    } catch (err) {
      if (process.env.CI === "true") throw err;
      console.warn(`      (skipping promtool tests: ${(err as Error).message})`);
      this.skip();
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "rules-"));
    groupsOfDev = await installedRuleGroups("dev");
  });
  after(() => dir && !process.env.KEEP_RULES_DIR && fs.rmSync(dir, { recursive: true, force: true }));

  /** Writes the rules and their unit tests; returns the test files. */
  const write = (name: string, groups: AlertRuleGroup[], cases = CASES, sliTests = SLI_TESTS) => {
    fs.writeFileSync(path.join(dir, `${name}.rules.yaml`), stringify({ groups }));
    return unitTestFiles(`${name}.rules.yaml`, cases, sliTests).map((f) => {
      const testFile = `${name}.${f.suffix}.test.yaml`;
      fs.writeFileSync(path.join(dir, testFile), f.content);
      return testFile;
    });
  };

  it("staging and prod install the same rules as dev (the unit tests below cover all three)", async () => {
    for (const stack of STACKS) assert.deepEqual(await installedRuleGroups(stack), groupsOfDev, stack);
  });

  for (const stack of STACKS) {
    it(`${stack}: promtool check rules passes${stack === "dev" ? " and every unit test passes" : ""}`, async function () {
      this.timeout(60_000);
      const groups = await installedRuleGroups(stack);
      const testFiles = write(stack, groups);
      const check = runPromtool(["check", "rules", `${stack}.rules.yaml`], dir);
      assert.equal(check.status, 0, check.output);
      assert.match(check.output, /SUCCESS: \d+ rules found/);
      if (stack !== "dev") return;
      const test = runPromtool(["test", "rules", ...testFiles], dir);
      assert.equal(test.status, 0, test.output);
      assert.match(test.output, /SUCCESS/);
    });
  }

  it("every installed alert has a firing and a silent case", async () => {
    const alerts = alertsOf(await installedRuleGroups("dev")).map((r) => r.alert);
    assert.ok(alerts.length >= 13, `alerts: ${alerts.join(", ")}`);
    for (const alert of alerts) {
      assert.ok(
        CASES.some((c) => c.alert === alert && c.fires),
        `${alert} has a firing case`,
      );
      assert.ok(
        CASES.some((c) => c.alert === alert && !c.fires),
        `${alert} has a silent case`,
      );
    }
    assert.deepEqual(
      CASES.map((c) => c.alert).filter((a) => !alerts.includes(a)),
      [],
      "no case for an alert that is not installed",
    );
  });

  it("a broken expression fails the unit tests: each alert made silent or always firing, each recording rule changed", async function () {
    this.timeout(120_000);
    const groups = groupsOfDev;
    const recording = groups.flatMap((g) => g.rules).filter((r): r is RecordingRule => "record" in r);
    const alerts = alertsOf(groups);
    /** A broken copy of the rules, and the tests that must notice: the cases of the alerts it touches. */
    interface Mutant {
      what: string;
      mutate: (r: AlertRule | RecordingRule) => string | undefined;
      cases: Case[];
      sliTests: typeof SLI_TESTS;
    }
    const only = (alert: string) => CASES.filter((c) => c.alert === alert);
    const mutants: Mutant[] = alerts.flatMap((alert) => [
      {
        what: `${alert.alert} never fires`,
        mutate: (r) => ("alert" in r && r.alert === alert.alert ? "vector(1) unless vector(1)" : undefined),
        cases: only(alert.alert),
        sliTests: [],
      },
      {
        what: `${alert.alert} always fires`,
        mutate: (r) => ("alert" in r && r.alert === alert.alert ? "vector(1)" : undefined),
        cases: only(alert.alert),
        sliTests: [],
      },
    ]);
    for (const rule of recording) {
      // Counting every status (or every duration) and every route: the SLI no longer measures what it promises.
      const broken = rule.expr
        .replace(/,status_code=~"5\.\."|,le="[^"]+"/, "")
        .replace(/,route!~"[^"]+"/g, "");
      assert.notEqual(broken, rule.expr, `${rule.record}: the mutation changes it`);
      mutants.push({
        what: `${rule.record} loses its filters`,
        mutate: (r) => ("record" in r && r.record === rule.record ? broken : undefined),
        cases: CASES.filter((c) => alerts.some((a) => a.alert === c.alert && a.expr.includes(rule.record))),
        sliTests: SLI_TESTS.filter((t) => t.record === rule.record),
      });
    }
    const results: Array<{ what: string; status: number | null; output: string }> = [];
    let next = 0;
    // Two at a time: the machine's two cores.
    await Promise.all(
      [0, 1].map(async () => {
        for (let i = next++; i < mutants.length; i = next++) {
          const m = mutants[i]!;
          assert.ok(m.cases.length + m.sliTests.length > 0, `${m.what}: some test covers it`);
          const files = write(
            `mutant-${i}`,
            groups.map((g) => ({ ...g, rules: g.rules.map((r) => ({ ...r, expr: m.mutate(r) ?? r.expr })) })),
            m.cases,
            m.sliTests,
          );
          results.push({ what: m.what, ...(await promtoolAsync(tool!, ["test", "rules", ...files], dir)) });
        }
      }),
    );
    const survivors = results.filter((r) => r.status === 0).map((r) => r.what);
    assert.deepEqual(survivors, [], "every broken rule makes a unit test fail");
    for (const r of results)
      assert.equal(r.status, 1, `${r.what}: promtool failed for another reason:\n${r.output}`);
  });
});

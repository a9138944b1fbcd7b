/**
 * The platform's alerts, as Prometheus rule groups. kube-prometheus-stack turns them into a
 * PrometheusRule (its `additionalPrometheusRulesMap`), so they exist as soon as the operator does.
 */

/** One alerting rule (Prometheus Operator `Rule`). */
export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: "critical" | "warning" };
  annotations: { summary: string; description: string };
}

/** One recording rule: a precomputed series named `record`. */
export interface RecordingRule {
  record: string;
  expr: string;
}

/** A named group of rules. */
export interface AlertRuleGroup {
  name: string;
  rules: Array<AlertRule | RecordingRule>;
}

/** Series of the demo app: its ServiceMonitor's job is named after the app's Service. */
const APP = 'job=~".*demo-app.*"';
/** The app's user-facing requests: probes and scrapes are not what the SLOs promise. */
const USER_REQUESTS = `${APP},route!~"/healthz|/readyz|/metrics"`;

export const ALERT_RULE_GROUPS: AlertRuleGroup[] = [
  {
    name: "demo-app",
    rules: [
      {
        alert: "DemoAppDown",
        expr: `up{${APP}} == 0`,
        for: "5m",
        labels: { severity: "critical" },
        annotations: {
          summary: "Demo app target down",
          description: "Prometheus cannot scrape {{ $labels.namespace }}/{{ $labels.pod }} for 5 minutes.",
        },
      },
      {
        alert: "DemoAppAbsent",
        expr: `absent(up{${APP}})`,
        for: "10m",
        labels: { severity: "critical" },
        annotations: {
          summary: "Demo app not scraped at all",
          description:
            "No demo-app target has existed for 10 minutes: not deployed, or its ServiceMonitor is gone.",
        },
      },
      {
        alert: "DemoAppHighErrorRate",
        expr:
          `sum by (namespace) (rate(http_requests_total{${APP},status_code=~"5.."}[5m]))` +
          ` / sum by (namespace) (rate(http_requests_total{${APP}}[5m])) > 0.05`,
        for: "5m",
        labels: { severity: "warning" },
        annotations: {
          summary: "Demo app 5xx ratio above 5%",
          description:
            "{{ $value | humanizePercentage }} of requests in {{ $labels.namespace }} fail with 5xx.",
        },
      },
    ],
  },
  {
    name: "argocd",
    rules: [
      {
        alert: "ArgoCdApplicationDegraded",
        expr: 'argocd_app_info{health_status="Degraded"} == 1',
        for: "15m",
        labels: { severity: "warning" },
        annotations: {
          summary: "Argo CD application degraded",
          description: "Application {{ $labels.name }} has been Degraded for 15 minutes.",
        },
      },
      {
        alert: "ArgoCdApplicationOutOfSync",
        expr: 'argocd_app_info{sync_status="OutOfSync"} == 1',
        for: "15m",
        labels: { severity: "warning" },
        annotations: {
          summary: "Argo CD application out of sync",
          description: "Application {{ $labels.name }} has been OutOfSync for 15 minutes.",
        },
      },
    ],
  },
  {
    name: "velero",
    rules: [
      {
        alert: "VeleroBackupFailed",
        expr: "increase(velero_backup_failure_total[1h]) > 0",
        labels: { severity: "critical" },
        annotations: {
          summary: "Velero backup failed",
          description: "A backup of schedule {{ $labels.schedule }} failed in the last hour.",
        },
      },
      {
        alert: "VeleroNoRecentBackup",
        expr: 'time() - velero_backup_last_successful_timestamp{schedule!=""} > 25 * 3600',
        labels: { severity: "critical" },
        annotations: {
          summary: "No successful Velero backup in 25 hours",
          description: "Schedule {{ $labels.schedule }} has not completed a backup for more than a day.",
        },
      },
    ],
  },
];

/** SLO targets as ratios (see SloTargets in components/config.ts). */
export interface SloRuleTargets {
  availability: number;
  latency: { thresholdSeconds: number; ratio: number };
  maxErrorRatio: number;
}

/**
 * Multi-window, multi-burn-rate alerts (the SRE workbook's): a fast burn spends 2 % of a 30-day error budget
 * in an hour (14.4x the sustainable rate, over 1 h and 5 m), a slow burn 5 % in six hours (6x, over 6 h and
 * 30 m). Both windows must burn, so an alert stops soon after the burning does.
 */
export const BURN_RATES = [
  { speed: "Fast", factor: 14.4, long: "1h", short: "5m", for: "2m", severity: "critical" },
  { speed: "Slow", factor: 6, long: "6h", short: "30m", for: "15m", severity: "warning" },
] as const;
const SLI_WINDOWS = ["5m", "30m", "1h", "6h"] as const;
/** Recorded SLIs: the share of the app's user-facing requests that failed (5xx) and that were slower than the threshold. */
export const SLI_ERRORS = "demo_app:sli_errors:ratio_rate";
export const SLI_SLOW = "demo_app:sli_slow_requests:ratio_rate";
/** Error log lines per second (pino error and fatal) above which the error-log alert fires. */
export const ERROR_LOG_LINES_PER_SECOND = 0.1;

/** A number as PromQL reads it, without float noise: 14.4 * 0.001 is 0.0144, not 0.014400000000000001. */
const num = (x: number) => String(Number(x.toPrecision(6)));

/** Recording rules of the SLIs and the SLO alerts for the given targets. */
export function sloRuleGroups(slo: SloRuleTargets): AlertRuleGroup[] {
  const le = num(slo.latency.thresholdSeconds);
  const errors = (w: string) =>
    `sum by (namespace) (rate(http_requests_total{${USER_REQUESTS},status_code=~"5.."}[${w}]))` +
    ` / sum by (namespace) (rate(http_requests_total{${USER_REQUESTS}}[${w}]))`;
  const slow = (w: string) =>
    `1 - sum by (namespace) (rate(http_request_duration_seconds_bucket{${USER_REQUESTS},le="${le}"}[${w}]))` +
    ` / sum by (namespace) (rate(http_request_duration_seconds_count{${USER_REQUESTS}}[${w}]))`;
  const objectives = [
    {
      sli: SLI_ERRORS,
      name: "ErrorBudget",
      budget: 1 - slo.availability,
      what: `availability SLO (${num(slo.availability * 100)} % of requests without a 5xx)`,
    },
    {
      sli: SLI_SLOW,
      name: "LatencyBudget",
      budget: 1 - slo.latency.ratio,
      what: `latency SLO (${num(slo.latency.ratio * 100)} % of requests under ${num(slo.latency.thresholdSeconds * 1000)} ms)`,
    },
  ];
  const burnAlerts: AlertRule[] = objectives.flatMap((o) =>
    BURN_RATES.map((b) => ({
      alert: `DemoApp${o.name}Burn${b.speed}`,
      expr:
        `${o.sli}${b.long} > ${num(b.factor * o.budget)}` +
        ` and ${o.sli}${b.short} > ${num(b.factor * o.budget)}`,
      for: b.for,
      labels: { severity: b.severity },
      annotations: {
        summary: `Demo app burns its ${o.what} error budget ${b.factor}x too fast`,
        description:
          `In {{ $labels.namespace }}, over ${b.long} and ${b.short}, more than ${num(b.factor * o.budget * 100)} %` +
          ` of requests miss the ${o.what}: at this rate the 30-day budget is gone in ${num(30 / b.factor)} days.`,
      },
    })),
  );
  return [
    {
      name: "demo-app-slo-recording",
      rules: SLI_WINDOWS.flatMap((w) => [
        { record: `${SLI_ERRORS}${w}`, expr: errors(w) },
        { record: `${SLI_SLOW}${w}`, expr: slow(w) },
      ]),
    },
    {
      name: "demo-app-slo",
      rules: [
        ...burnAlerts,
        {
          alert: "DemoAppErrorRateAboveTarget",
          expr: `${SLI_ERRORS}5m > ${num(slo.maxErrorRatio)}`,
          for: "10m",
          labels: { severity: "warning" },
          annotations: {
            summary: `Demo app error rate above ${num(slo.maxErrorRatio * 100)} %`,
            description:
              "{{ $value | humanizePercentage }} of requests in {{ $labels.namespace }} fail with 5xx.",
          },
        },
      ],
    },
  ];
}

/** The alert on the apps' error log lines, counted by the log collector as it ships them to Loki. */
export function errorLogRuleGroup(appNamespaces: readonly string[], logLinesMetric: string): AlertRuleGroup {
  return {
    name: "demo-app-logs",
    rules: [
      {
        alert: "DemoAppErrorLogs",
        expr:
          `sum by (namespace) (rate(${logLinesMetric}{namespace=~"${appNamespaces.join("|")}",level=~"50|60"}[5m]))` +
          ` > ${ERROR_LOG_LINES_PER_SECOND}`,
        for: "10m",
        labels: { severity: "warning" },
        annotations: {
          summary: "Demo app logs errors",
          description:
            '{{ $labels.namespace }} writes {{ $value | humanize }} error log lines per second; see Loki: {namespace="{{ $labels.namespace }}", level=~"50|60"}.',
        },
      },
    ],
  };
}

/** Every rule group the program installs: the platform's alerts, the SLO rules and the error-log alert. */
export function platformRuleGroups(settings: {
  slo: SloRuleTargets;
  appNamespaces: readonly string[];
  logLinesMetric: string;
}): AlertRuleGroup[] {
  return [
    ...ALERT_RULE_GROUPS,
    ...sloRuleGroups(settings.slo),
    errorLogRuleGroup(settings.appNamespaces, settings.logLinesMetric),
  ];
}

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

/** A named group of rules. */
export interface AlertRuleGroup {
  name: string;
  rules: AlertRule[];
}

/** Series of the demo app: its ServiceMonitor's job is named after the app's Service. */
const APP = 'job=~".*demo-app.*"';

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

import { Gauge, type Registry } from "prom-client";
import { ConfigError, type AppConfig } from "./config";

/**
 * What runs, as metrics: `app_build_info{version,commit,env} 1`, and `app_commit_timestamp_seconds`, the
 * time of the commit the image was built from (GIT_COMMIT_TIME, RFC 3339 or Unix seconds; written by Pulumi
 * into the image file the chart reads). With process_start_time_seconds it gives the lead time from commit
 * to running.
 */
export function registerBuildInfo(
  registry: Registry,
  config: Pick<AppConfig, "version" | "commit" | "env">,
  env: NodeJS.ProcessEnv = process.env,
): void {
  const commitTime = commitTimeSeconds(env.GIT_COMMIT_TIME);
  new Gauge({
    name: "app_build_info",
    help: "The running build: version, commit and environment; always 1.",
    labelNames: ["version", "commit", "env"] as const,
    registers: [registry],
  }).set({ version: config.version, commit: config.commit, env: config.env }, 1);
  if (commitTime !== undefined) {
    new Gauge({
      name: "app_commit_timestamp_seconds",
      help: "Unix time of the commit the running image was built from.",
      registers: [registry],
    }).set(commitTime);
  }
}

/** GIT_COMMIT_TIME as Unix seconds; undefined when unset. */
export function commitTimeSeconds(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === "") return undefined;
  const seconds = /^\d{1,12}$/.test(raw)
    ? Number(raw)
    : /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(raw)
      ? Date.parse(raw) / 1000
      : Number.NaN;
  if (!Number.isFinite(seconds)) {
    throw new ConfigError([
      `GIT_COMMIT_TIME=${JSON.stringify(raw)}: must be an RFC 3339 time (2026-01-31T12:00:00Z) or Unix seconds`,
    ]);
  }
  return seconds;
}

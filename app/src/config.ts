/** The service's configuration, from environment variables, validated at start-up. */
export interface AppConfig {
  readonly port: number;
  readonly host: string;
  readonly name: string;
  readonly version: string;
  readonly commit: string;
  readonly env: "dev" | "staging" | "prod";
  readonly logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** Longest time a graceful shutdown may take before the process gives up (exit 1). */
  readonly shutdownTimeoutMs: number;
  /** Time /readyz answers 503 before the listener closes, so load balancers stop sending traffic. */
  readonly drainDelayMs: number;
  /** Whether API_TOKEN (from the stack's secret store) is set; the token itself is never kept or shown. */
  readonly apiTokenConfigured: boolean;
}

const ENVS = ["dev", "staging", "prod"] as const;
const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join("; ")}`);
    this.name = "ConfigError";
  }
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const PACKAGE_VERSION = (require("../package.json") as { version: string }).version;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const problems: string[] = [];
  const int = (key: string, fallback: number, min: number, max: number): number => {
    const raw = env[key];
    if (raw === undefined || raw === "") return fallback;
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < min || value > max) {
      problems.push(`${key}=${JSON.stringify(raw)}: must be an integer from ${min} to ${max}`);
      return fallback;
    }
    return value;
  };
  const oneOf = <T extends string>(key: string, allowed: readonly T[], fallback: T): T => {
    const raw = env[key];
    if (raw === undefined || raw === "") return fallback;
    if (!(allowed as readonly string[]).includes(raw)) {
      problems.push(`${key}=${JSON.stringify(raw)}: must be one of ${allowed.join(", ")}`);
      return fallback;
    }
    return raw as T;
  };
  const text = (key: string, fallback: string, pattern: RegExp, what: string): string => {
    const raw = env[key];
    if (raw === undefined || raw === "") return fallback;
    if (!pattern.test(raw)) problems.push(`${key}=${JSON.stringify(raw)}: must be ${what}`);
    return raw;
  };

  const config: AppConfig = {
    port: int("PORT", 8080, 1, 65535),
    host: text("HOST", "0.0.0.0", /^[\w.:-]+$/, "a host name or IP address"),
    name: text("APP_NAME", "demo-app", /^[^\p{Cc}]{1,63}$/u, "1-63 printable characters"),
    version: text("APP_VERSION", PACKAGE_VERSION, /^[\w.+-]{1,128}$/, "a version string"),
    commit: text("GIT_COMMIT", "unknown", /^([0-9a-f]{7,40}|unknown)$/, "a git commit id (7-40 hex digits)"),
    env: oneOf("APP_ENV", ENVS, "dev"),
    logLevel: oneOf("LOG_LEVEL", LEVELS, "info"),
    shutdownTimeoutMs: int("SHUTDOWN_TIMEOUT_MS", 10000, 1, 600000),
    drainDelayMs: int("DRAIN_DELAY_MS", 0, 0, 600000),
    apiTokenConfigured: (env.API_TOKEN ?? "") !== "",
  };
  if (problems.length > 0) throw new ConfigError(problems);
  if (config.drainDelayMs >= config.shutdownTimeoutMs) {
    throw new ConfigError([
      `DRAIN_DELAY_MS=${config.drainDelayMs}: must be below SHUTDOWN_TIMEOUT_MS=${config.shutdownTimeoutMs}`,
    ]);
  }
  return Object.freeze(config);
}

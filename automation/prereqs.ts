/**
 * Prerequisite checks, run before anything touches the workspace. Each runs the real command found on
 * the PATH of the environment it is given (never process.env implicitly), and a failure says how to
 * fix it. A missing Pulumi CLI ends the checks at once: the others get a short grace period and are
 * reported as skipped if still running, so the driver fails in well under five seconds.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Command } from "./args";
import type { ClusterProvider } from "./stack-files";

export const MIN_PULUMI_VERSION = "3.170.0";
export const MIN_KIND_VERSION = "0.33.0";
export const PULUMI_INSTALL_URL = "https://www.pulumi.com/docs/install/";
export const KIND_INSTALL_URL = "https://kind.sigs.k8s.io/docs/user/quick-start/#installation";
export const DOCKER_INSTALL_URL = "https://docs.docker.com/engine/install/";

export type CheckName = "pulumi" | "docker" | "kind" | "aws";

export interface CheckResult {
  name: string;
  status: "ok" | "failed" | "skipped";
  detail: string;
  /** How to fix a failure. */
  fix?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

export interface CheckOptions {
  env: Env;
  /** Per-command time limit. Default 20 s. */
  timeoutMs?: number;
  /** How long other checks may still run once the Pulumi CLI is known to be missing. Default 1.5 s. */
  graceMs?: number;
  /** Aborting kills the commands still running. */
  signal?: AbortSignal;
}

/** The absolute path of an executable `command` on `env.PATH`, or undefined. */
export function findOnPath(command: string, env: Env): string | undefined {
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, command);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface ToolRun {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** Spawn error (e.g. not executable). */
  error?: string;
}

/** Runs `file args` with exactly `env`, killing its whole process group after `timeoutMs`. */
export function runTool(
  file: string,
  args: readonly string[],
  env: Env,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ToolRun> {
  return new Promise((resolve) => {
    let stdout = "";
    let stderr = "";
    let settled = false;
    const done = (run: Omit<ToolRun, "stdout" | "stderr">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      resolve({ ...run, stdout, stderr });
    };
    const kill = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    const child = spawn(file, args, {
      env: env as NodeJS.ProcessEnv,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", (err) => done({ code: null, timedOut: false, error: err.message }));
    child.on("close", (code) => done({ code, timedOut: false }));
    const timer = setTimeout(() => {
      kill();
      done({ code: null, timedOut: true });
    }, timeoutMs);
    const onAbort = () => {
      kill();
      done({ code: null, timedOut: false, error: "aborted" });
    };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort);
  });
}

/** The first `x.y.z` in `text` (a leading `v` allowed). */
export function parseVersion(text: string): [number, number, number] | undefined {
  const m = /v?(\d+)\.(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

export function versionAtLeast(version: readonly number[], minimum: string): boolean {
  const min = parseVersion(minimum) as [number, number, number];
  for (let i = 0; i < 3; i++) {
    const a = version[i] ?? 0;
    const b = min[i] as number;
    if (a !== b) return a > b;
  }
  return true;
}

function firstLine(text: string): string {
  return (
    text
      .split("\n")
      .map((l) => l.trim())
      .find((l) => l !== "") ?? ""
  );
}

function failureOf(run: ToolRun): string {
  if (run.timedOut) return "timed out";
  if (run.error) return run.error;
  return firstLine(run.stderr) || firstLine(run.stdout) || `exit code ${run.code}`;
}

const PULUMI_FIX = `install the Pulumi CLI (>= ${MIN_PULUMI_VERSION}): curl -fsSL https://get.pulumi.com | sh, or brew install pulumi/tap/pulumi; see ${PULUMI_INSTALL_URL}`;

export async function checkPulumi(opts: CheckOptions): Promise<CheckResult> {
  const file = findOnPath("pulumi", opts.env);
  if (!file) {
    return {
      name: "pulumi",
      status: "failed",
      detail: "the Pulumi CLI (pulumi) is not on PATH",
      fix: PULUMI_FIX,
    };
  }
  const run = await runTool(file, ["version"], opts.env, opts.timeoutMs ?? 20_000, opts.signal);
  const version = run.code === 0 ? parseVersion(run.stdout) : undefined;
  if (!version) {
    return {
      name: "pulumi",
      status: "failed",
      detail: `\`${file} version\` failed or printed no version: ${run.code === 0 ? JSON.stringify(run.stdout.trim()) : failureOf(run)}`,
      fix: PULUMI_FIX,
    };
  }
  const shown = version.join(".");
  if (!versionAtLeast(version, MIN_PULUMI_VERSION)) {
    return {
      name: "pulumi",
      status: "failed",
      detail: `Pulumi CLI ${shown} at ${file} is older than ${MIN_PULUMI_VERSION}`,
      fix: `upgrade it: pulumi self-update (or curl -fsSL https://get.pulumi.com | sh); see ${PULUMI_INSTALL_URL}`,
    };
  }
  return { name: "pulumi", status: "ok", detail: `Pulumi CLI ${shown} (>= ${MIN_PULUMI_VERSION})` };
}

export async function checkDocker(opts: CheckOptions): Promise<CheckResult> {
  const file = findOnPath("docker", opts.env);
  if (!file) {
    return {
      name: "docker",
      status: "failed",
      detail: "the Docker CLI (docker) is not on PATH",
      fix: `install Docker (Docker Desktop, or the docker.io package and a running dockerd); see ${DOCKER_INSTALL_URL}`,
    };
  }
  const run = await runTool(
    file,
    ["info", "--format", "{{.ServerVersion}}"],
    opts.env,
    opts.timeoutMs ?? 20_000,
    opts.signal,
  );
  if (run.code !== 0) {
    return {
      name: "docker",
      status: "failed",
      detail: `the Docker daemon is not reachable (docker info: ${failureOf(run)})`,
      fix: "start Docker (Docker Desktop, or sudo systemctl start docker) and make sure your user may use it: `docker info` must succeed",
    };
  }
  const server = firstLine(run.stdout);
  return {
    name: "docker",
    status: "ok",
    detail: `Docker daemon reachable${server ? ` (server ${server})` : ""}`,
  };
}

export async function checkKind(opts: CheckOptions): Promise<CheckResult> {
  const fix = `install kind >= ${MIN_KIND_VERSION}: ${KIND_INSTALL_URL} (e.g. go install sigs.k8s.io/kind@v${MIN_KIND_VERSION}, or brew install kind)`;
  const file = findOnPath("kind", opts.env);
  if (!file)
    return {
      name: "kind",
      status: "failed",
      detail: "kind is not on PATH (the dev cluster runs on kind)",
      fix,
    };
  const run = await runTool(file, ["version"], opts.env, opts.timeoutMs ?? 20_000, opts.signal);
  if (run.code !== 0)
    return { name: "kind", status: "failed", detail: `kind version failed: ${failureOf(run)}`, fix };
  const version = parseVersion(run.stdout);
  if (!version) return { name: "kind", status: "ok", detail: `kind at ${file} (version not recognised)` };
  if (!versionAtLeast(version, MIN_KIND_VERSION)) {
    return {
      name: "kind",
      status: "failed",
      detail: `kind ${version.join(".")} is older than ${MIN_KIND_VERSION} (the pinned node image needs it)`,
      fix,
    };
  }
  return { name: "kind", status: "ok", detail: `kind ${version.join(".")} (>= ${MIN_KIND_VERSION})` };
}

const AWS_ENV = ["AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE"] as const;

export async function checkAws(opts: CheckOptions): Promise<CheckResult> {
  const fromEnv = AWS_ENV.find((name) => (opts.env[name] ?? "").trim() !== "");
  if (fromEnv)
    return { name: "aws", status: "ok", detail: `AWS credentials from the environment (${fromEnv})` };
  const fix =
    "configure AWS credentials: aws sso login with AWS_PROFILE exported, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; in GitHub Actions the workflow assumes a role through OIDC (aws-actions/configure-aws-credentials)";
  const file = findOnPath("aws", opts.env);
  if (!file) {
    return {
      name: "aws",
      status: "failed",
      detail: `no AWS credentials: none of ${AWS_ENV.join(", ")} is set and the aws CLI is not on PATH to find others`,
      fix,
    };
  }
  const run = await runTool(
    file,
    ["sts", "get-caller-identity", "--output", "json"],
    opts.env,
    opts.timeoutMs ?? 20_000,
    opts.signal,
  );
  if (run.code !== 0) {
    return {
      name: "aws",
      status: "failed",
      detail: `aws sts get-caller-identity failed: ${failureOf(run)}`,
      fix,
    };
  }
  let arn = "";
  try {
    arn = String((JSON.parse(run.stdout) as { Arn?: unknown }).Arn ?? "");
  } catch {
    // not JSON: still a success
  }
  return { name: "aws", status: "ok", detail: `AWS credentials work${arn ? ` (${arn})` : ""}` };
}

const CHECKS: Record<CheckName, (opts: CheckOptions) => Promise<CheckResult>> = {
  pulumi: checkPulumi,
  docker: checkDocker,
  kind: checkKind,
  aws: checkAws,
};

/**
 * The tools a command needs: the Pulumi CLI always; kind stacks Docker and kind; EKS stacks AWS
 * credentials, and Docker where the app image is built (preview, up).
 */
export function requiredChecks(command: Command, provider: ClusterProvider): CheckName[] {
  if (command === "outputs") return ["pulumi"];
  if (provider === "kind") return ["pulumi", "docker", "kind"];
  // A rollback's update may still copy or build nothing, but it runs the same program as `up`.
  return command === "preview" || command === "up" || command === "rollback"
    ? ["pulumi", "docker", "aws"]
    : ["pulumi", "aws"];
}

/** Runs the named checks concurrently and returns every result, in the order given. */
export async function runChecks(names: readonly CheckName[], opts: CheckOptions): Promise<CheckResult[]> {
  const graceMs = opts.graceMs ?? 1500;
  const pulumiMissing = names.includes("pulumi") && !findOnPath("pulumi", opts.env);
  const controller = new AbortController();
  const running = names.map((name) => CHECKS[name]({ ...opts, signal: controller.signal }));
  if (!pulumiMissing) return Promise.all(running);
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<"grace">((resolve) => (timer = setTimeout(() => resolve("grace"), graceMs)));
  const results = await Promise.all(
    running.map(async (p, i): Promise<CheckResult> => {
      const result = await Promise.race([p, grace]);
      if (result !== "grace") return result;
      return {
        name: names[i] as string,
        status: "skipped",
        detail: "not waited for: the Pulumi CLI is missing, fix that first",
      };
    }),
  );
  clearTimeout(timer);
  controller.abort();
  return results;
}

/** The report printed before running: every check, failures with their fix. */
export function formatChecks(results: readonly CheckResult[]): string {
  const mark = { ok: "ok  ", failed: "FAIL", skipped: "skip" } as const;
  return results
    .map((r) => `  ${mark[r.status]} ${r.name}: ${r.detail}${r.fix ? `\n         fix: ${r.fix}` : ""}`)
    .join("\n");
}

/**
 * The driver: parse the command line, resolve backend and passphrase, check prerequisites (all before
 * the workspace is touched), run the operation with lock retries while streaming the engine's output,
 * then write the Markdown summary and the pull-request comment.
 *
 * Exit codes: 0 success; 1 the operation failed, changes were found with --expect-no-changes, or the
 * stack stayed locked; 2 bad command line; 3 prerequisites missing (nothing was changed).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs, UsageError, type Command, type DriverArgs } from "./args";
import { resolveWorkspaceSettings, type WorkspaceSettings } from "./backend";
import { resolvePullRequest, upsertComment, type CommentsApi } from "./github";
import { findOnPath, formatChecks, requiredChecks, runChecks, type CheckResult } from "./prereqs";
import { DEFAULT_LOCK_RETRY, withLockRetry, type RetryPolicy } from "./retry";
import { describePinChange, pinForRollback, RollbackRefused, type PinChange } from "./rollback";
import type { StackApi, StackHandle } from "./stack-api";
import { knownStacks, readStackFile, type StackFile } from "./stack-files";
import {
  installPlan,
  KIND_VERSION,
  PULUMI_CLI_VERSION,
  TOOLS_DIR,
  withToolsOnPath,
  type ToolInstaller,
  type ToolName,
} from "./tools";
import {
  changeCount,
  commentMarker,
  hasChanges,
  maskOutputs,
  renderSummary,
  type ChangeCounts,
  type OperationReport,
  type OutputEntry,
} from "./summary";

export const EXIT = { ok: 0, failed: 1, usage: 2, prerequisites: 3 } as const;

export interface DriverDeps {
  /** The environment to read (never mutated); prerequisite checks use its PATH. */
  env: Readonly<Record<string, string | undefined>>;
  /** The project root: Pulumi.yaml and the stack files. */
  projectDir: string;
  /** The user's home directory (for ~/.pulumi/credentials.json). */
  homeDir: string;
  /** Engine output and results. */
  stdout: (text: string) => void;
  /** The driver's own messages. */
  stderr: (text: string) => void;
  /** The Automation API boundary, loaded only once prerequisites pass. */
  stackApi: () => Promise<StackApi>;
  /** The GitHub API boundary, for pull-request comments. */
  commentsApi: (token: string) => Promise<CommentsApi>;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  now: () => number;
  retryPolicy?: RetryPolicy;
  /** Per prerequisite command time limit. */
  checkTimeoutMs?: number;
  /** Fetches a missing Pulumi CLI or kind into .tools/; without it (or with --no-install) they are reported missing. */
  installTools?: ToolInstaller;
  /** Cancels a running operation (SIGINT to the Pulumi CLI). */
  signal?: AbortSignal;
}

type Outcome = {
  changes?: ChangeCounts;
  outputs?: Record<string, OutputEntry>;
  engineOutput?: string;
  unexpectedChanges?: boolean;
};

/** A short failure text: for Automation API CommandErrors, the CLI's stderr rather than the whole dump. */
export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const m = /\n stderr: ([\s\S]*?)(?:\n err\?: [\s\S]*)?$/.exec(err.message);
  const text = (m?.[1] ?? err.message).trim();
  const lines = text.split("\n");
  return lines.length > 40 ? lines.slice(-40).join("\n") : text;
}

function gha(env: DriverDeps["env"]): boolean {
  return env.GITHUB_ACTIONS === "true";
}

function warn(deps: DriverDeps, message: string): void {
  deps.stderr(gha(deps.env) ? `::warning::${message}\n` : `warning: ${message}\n`);
}

async function runOperation(
  args: DriverArgs,
  stack: StackHandle,
  deps: DriverDeps,
  retry: <T>(fn: () => Promise<T>) => Promise<T>,
): Promise<Outcome> {
  const stream = {
    onOutput: (out: string) => deps.stdout(out),
    onError: (err: string) => deps.stderr(err),
    ...(deps.signal ? { signal: deps.signal } : {}),
  };
  const common = { ...stream, ...(args.parallel !== undefined ? { parallel: args.parallel } : {}) };
  const diff = args.diff ? { diff: true } : {};
  const refresh = args.refresh ? { refresh: true } : {};

  switch (args.command as Exclude<Command, "outputs">) {
    case "preview": {
      // Never passes expectNoChanges to the CLI: the counts decide, so the summary still has them.
      const r = await retry(() => stack.preview({ ...common, ...diff, ...refresh }));
      return {
        changes: r.changeSummary,
        engineOutput: r.stdout,
        unexpectedChanges: args.expectNoChanges && hasChanges(r.changeSummary),
      };
    }
    case "up":
    case "rollback": {
      if (args.expectNoChanges) {
        // Automation API's up skips the CLI's own preview; check first so nothing is applied.
        deps.stderr("--expect-no-changes: previewing first\n");
        const p = await retry(() => stack.preview({ ...common, ...diff, ...refresh }));
        if (hasChanges(p.changeSummary)) {
          return { changes: p.changeSummary, engineOutput: p.stdout, unexpectedChanges: true };
        }
      }
      const r = await retry(() =>
        stack.up({
          ...common,
          ...diff,
          ...refresh,
          ...(args.expectNoChanges ? { expectNoChanges: true } : {}),
        }),
      );
      return { changes: r.summary.resourceChanges ?? {}, outputs: r.outputs };
    }
    case "refresh": {
      if (args.expectNoChanges) {
        deps.stderr("--expect-no-changes: checking for drift without writing state\n");
        const p = await retry(() => stack.previewRefresh({ ...common, ...diff }));
        if (hasChanges(p.changeSummary)) {
          return { changes: p.changeSummary, engineOutput: p.stdout, unexpectedChanges: true };
        }
      }
      const r = await retry(() =>
        stack.refresh({ ...common, ...diff, ...(args.expectNoChanges ? { expectNoChanges: true } : {}) }),
      );
      return { changes: r.summary.resourceChanges ?? {}, outputs: await stack.outputs() };
    }
    case "destroy": {
      const r = await retry(() => stack.destroy({ ...common, ...diff, ...refresh }));
      return { changes: r.summary.resourceChanges ?? {} };
    }
  }
}

function publishSummary(report: OperationReport, args: DriverArgs, deps: DriverDeps): Promise<void> | void {
  const body = renderSummary(report);
  const summaryFile = deps.env.GITHUB_STEP_SUMMARY;
  if (summaryFile) {
    try {
      fs.appendFileSync(summaryFile, `${body}\n`);
    } catch (err) {
      warn(deps, `could not write GITHUB_STEP_SUMMARY (${summaryFile}): ${(err as Error).message}`);
    }
  }
  if (!args.comment) return;
  const pr = resolvePullRequest(deps.env);
  if (!pr.context) return;
  const { context } = pr;
  return (async () => {
    try {
      const api = await deps.commentsApi(context.token);
      const result = await upsertComment(api, context, commentMarker(args.command, args.stack), body);
      deps.stderr(`${result.action} the comment on pull request #${context.number}\n`);
    } catch (err) {
      warn(deps, `could not comment on pull request #${context.number}: ${(err as Error).message}`);
    }
  })();
}

/**
 * Installs the missing Pulumi CLI and kind (those `required` names) into .tools/, saying so first,
 * unless --no-install or no installer was given; returns the environment to check and run with.
 */
async function installMissingTools(
  required: readonly string[],
  args: DriverArgs,
  deps: DriverDeps,
  failures: CheckResult[],
): Promise<Record<string, string | undefined>> {
  const installable = required.filter((n): n is ToolName => n === "pulumi" || n === "kind");
  const missing = installable.filter((t) => !findOnPath(t, withToolsOnPath(deps.env, deps.projectDir)));
  if (missing.length > 0 && !args.noInstall && deps.installTools) {
    for (const tool of missing) {
      const plan = installPlan(tool, deps.projectDir);
      if ("unavailable" in plan) {
        deps.stderr(`${tool} is missing and cannot be fetched here: ${plan.unavailable}\n`);
        continue;
      }
      deps.stderr(`${tool} is missing: ${plan.notice}\n`);
      try {
        await plan.run(deps.installTools);
      } catch (err) {
        failures.push({
          name: `install ${tool}`,
          status: "failed",
          detail: (err as Error).message,
          fix: `check your network, or install ${tool} yourself (see below) and run again`,
        });
      }
    }
  }
  return withToolsOnPath(deps.env, deps.projectDir);
}

function describeSettings(settings: WorkspaceSettings): string {
  const b = settings.backend;
  const pass = settings.passphraseSource ? `, passphrase from ${settings.passphraseSource}` : "";
  return `backend ${b.url} (${b.source})${pass}`;
}

/** Runs the driver for `argv` (without node and the script) and returns the exit code. */
export async function runDriver(argv: readonly string[], deps: DriverDeps): Promise<number> {
  let args: DriverArgs;
  try {
    const parsed = parseArgs(argv, knownStacks(deps.projectDir));
    if (parsed.kind === "help") {
      deps.stdout(`${parsed.text}\n`);
      return EXIT.ok;
    }
    args = parsed.args;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    deps.stderr(`error: ${err.message}\n`);
    return EXIT.usage;
  }
  const what = `${args.command} ${args.stack}`;

  // 1. Everything that can be known without touching the workspace, all failures reported together.
  const failures: CheckResult[] = [];
  let stackFile: StackFile = { exists: false, clusterProvider: "kind" };
  try {
    stackFile = readStackFile(args.stack, deps.projectDir);
  } catch (err) {
    failures.push({
      name: "stack file",
      status: "failed",
      detail: (err as Error).message,
      fix: "fix the file",
    });
  }
  const settings = resolveWorkspaceSettings({
    stack: args.stack,
    stackFile,
    env: deps.env,
    projectDir: deps.projectDir,
    homeDir: deps.homeDir,
  });
  for (const p of settings.problems)
    failures.push({ name: "config", status: "failed", detail: p.what, fix: p.fix });
  const required = requiredChecks(args.command, stackFile.clusterProvider);
  const env = await installMissingTools(required, args, deps, failures);
  const checks = await runChecks(required, {
    env,
    ...(deps.checkTimeoutMs !== undefined ? { timeoutMs: deps.checkTimeoutMs } : {}),
  });
  const all = [...checks, ...failures];
  const failed = all.filter((c) => c.status === "failed").length;
  if (failed > 0) {
    deps.stderr(
      `error: cannot run "${what}": ${failed} prerequisite${failed === 1 ? "" : "s"} missing; nothing was changed.\n` +
        `${formatChecks(all)}\n` +
        (args.noInstall &&
        checks.some((c) => c.status === "failed" && (c.name === "pulumi" || c.name === "kind"))
          ? `  (without --no-install, the driver fetches the pinned Pulumi CLI ${PULUMI_CLI_VERSION} and kind ${KIND_VERSION} into ${TOOLS_DIR}/)\n`
          : ""),
    );
    return EXIT.prerequisites;
  }
  const toolsBin = env.PATH !== deps.env.PATH ? env.PATH : undefined;
  if (toolsBin) settings.envVars.PATH = toolsBin;
  const pulumiPath = findOnPath("pulumi", env);
  const pulumiRoot =
    pulumiPath?.startsWith(path.join(deps.projectDir, TOOLS_DIR, "bin")) === true
      ? path.join(deps.projectDir, TOOLS_DIR)
      : undefined;
  deps.stderr(`${what} (${stackFile.clusterProvider}): ${describeSettings(settings)}\n`);

  // 2. The workspace.
  if (settings.backend.localStateDir) fs.mkdirSync(settings.backend.localStateDir, { recursive: true });
  const started = deps.now();
  let stack: StackHandle;
  try {
    const api = await deps.stackApi();
    stack = await api.createOrSelectStack({
      stackName: args.stack,
      workDir: deps.projectDir,
      envVars: settings.envVars,
      ...(pulumiRoot ? { pulumiRoot } : {}),
    });
  } catch (err) {
    deps.stderr(`error: could not select or create stack "${args.stack}": ${errorText(err)}\n`);
    return EXIT.failed;
  }

  if (args.command === "outputs") {
    try {
      const outputs = await stack.outputs();
      const shown = args.showSecrets
        ? Object.fromEntries(Object.entries(outputs).map(([k, o]) => [k, o.value as unknown]))
        : maskOutputs(outputs);
      deps.stdout(`${JSON.stringify(shown, null, 2)}\n`);
      return EXIT.ok;
    } catch (err) {
      deps.stderr(`error: could not read the outputs of "${args.stack}": ${errorText(err)}\n`);
      return EXIT.failed;
    }
  }

  // A rollback first pins the digest in the stack's config; the update below commits it to git.
  let pinChange: PinChange | undefined;
  if (args.command === "rollback") {
    try {
      pinChange = await pinForRollback(args, stack);
    } catch (err) {
      const refused = err instanceof RollbackRefused;
      deps.stderr(
        `error: ${refused ? "" : "could not change the pin: "}${errorText(err)}; nothing was changed\n`,
      );
      return EXIT.failed;
    }
  }

  // 3. The operation, retried while another update holds the lock.
  const policy = deps.retryPolicy ?? DEFAULT_LOCK_RETRY;
  const retry = <T>(fn: () => Promise<T>) =>
    withLockRetry(args.stack, fn, policy, {
      sleep: deps.sleep,
      random: deps.random,
      onRetry: ({ retry: n, delayMs, holders }) =>
        deps.stderr(
          `stack "${args.stack}" is locked${holders.length ? ` by ${holders.join("; ")}` : ""}; ` +
            `retry ${n} of ${policy.attempts - 1} in ${(delayMs / 1000).toFixed(1)} s\n`,
        ),
    });
  let outcome: Outcome = {};
  let error: string | undefined;
  try {
    outcome = await runOperation(args, stack, deps, retry);
  } catch (err) {
    error = errorText(err);
  }
  const ok = error === undefined && !outcome.unexpectedChanges;
  const pr = resolvePullRequest(deps.env);
  const { GITHUB_SERVER_URL: server, GITHUB_REPOSITORY: repo, GITHUB_RUN_ID: runId } = deps.env;
  const sha = pr.context?.headSha ?? deps.env.GITHUB_SHA;
  const report: OperationReport = {
    command: args.command,
    stack: args.stack,
    ok,
    durationMs: deps.now() - started,
    ...(outcome.changes ? { changes: outcome.changes } : {}),
    ...(outcome.outputs ? { outputs: outcome.outputs } : {}),
    ...(error !== undefined ? { error } : {}),
    ...(outcome.engineOutput ? { engineOutput: outcome.engineOutput } : {}),
    ...(outcome.unexpectedChanges ? { unexpectedChanges: true } : {}),
    ...(sha ? { sha } : {}),
    ...(server && repo && runId ? { runUrl: `${server}/${repo}/actions/runs/${runId}` } : {}),
  };
  await publishSummary(report, args, deps);

  if (error !== undefined) {
    deps.stderr(`error: ${what} failed:\n${error}\n`);
    if (pinChange) {
      await pinChange.restore();
      deps.stderr(`the pin is back as it was (${pinChange.before ?? "unset"})\n`);
    }
    return EXIT.failed;
  }
  if (pinChange) deps.stdout(describePinChange(args.stack, pinChange));
  const n = changeCount(outcome.changes);
  if (outcome.unexpectedChanges) {
    deps.stderr(`error: ${what}: ${n} change(s) found and --expect-no-changes was given\n`);
    return EXIT.failed;
  }
  deps.stderr(`${what}: done, ${n} change(s)\n`);
  return EXIT.ok;
}

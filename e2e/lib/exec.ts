import { spawn } from "node:child_process";
import * as fs from "node:fs";

export interface RunOptions {
  /** Kill the command (SIGKILL to its process group) after this long. Default 120 s. */
  timeoutMs?: number;
  /** Written to the command's stdin, then closed. */
  input?: string | Buffer;
  /** Extra environment variables (merged over process.env). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Also append stdout and stderr to this file (long, noisy steps: apt, debootstrap, docker build). */
  logFile?: string;
  /** Stream output to the console as well (E2E_VERBOSE=1). */
  stream?: boolean;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly result: RunResult,
  ) {
    const lastLines = (text: string, n: number) => text.trim().split("\n").slice(-n).join("\n");
    const tail = [lastLines(result.stdout, 15), lastLines(result.stderr, 15)].filter(Boolean).join("\n");
    const how = result.timedOut
      ? `timed out after ${result.ms} ms`
      : `exited ${result.code ?? result.signal ?? "?"}`;
    super(`\`${command}\` ${how}${tail ? `:\n${tail}` : ""}`);
    this.name = "CommandError";
  }
}

export const verbose = process.env.E2E_VERBOSE === "1";

const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
export const commandLine = (cmd: string, args: readonly string[]) => [cmd, ...args].map(quote).join(" ");

/** Runs a command without a shell; never throws (see `run` for the throwing variant). */
export function tryRun(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const started = Date.now();
  const timeoutMs = opts.timeoutMs ?? 120_000;
  return new Promise((resolve) => {
    const log = opts.logFile ? fs.openSync(opts.logFile, "a") : undefined;
    if (log !== undefined) fs.writeSync(log, `\n$ ${commandLine(cmd, args)}\n`);
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
      detached: true, // own process group, so a timeout kills the whole tree
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const sink = (chunks: Buffer[], console: NodeJS.WriteStream) => (b: Buffer) => {
      chunks.push(b);
      if (log !== undefined) fs.writeSync(log, b);
      if (opts.stream ?? verbose) console.write(b);
    };
    child.stdout.on("data", sink(out, process.stdout));
    child.stderr.on("data", sink(err, process.stderr));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    }, timeoutMs);
    const finish = (code: number | null, signal: NodeJS.Signals | null, extra = "") => {
      clearTimeout(timer);
      if (log !== undefined) fs.closeSync(log);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8") + extra,
        ms: Date.now() - started,
        timedOut,
      });
    };
    child.on("error", (e) => finish(null, null, e.message));
    child.on("close", (code, signal) => finish(code, signal));
    child.stdin.on("error", () => undefined);
    child.stdin.end(opts.input);
  });
}

/** Runs a command without a shell; throws CommandError unless it exits 0. Returns trimmed stdout. */
export async function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  const result = await tryRun(cmd, args, opts);
  if (result.code !== 0) throw new CommandError(commandLine(cmd, args), result);
  return result.stdout.trim();
}

/** Absolute path of an executable on PATH, or undefined. */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (!dir) continue;
    const candidate = `${dir}/${name}`;
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

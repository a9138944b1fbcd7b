/**
 * The Markdown summary of one stack operation: change counts, duration, outputs with secrets masked,
 * and (for previews) the engine's diff. Written to GITHUB_STEP_SUMMARY and used as the PR comment,
 * which is found again by its hidden marker.
 */
import type { Command } from "./args";

/** Counts per operation type, as in Automation API's `changeSummary` / `resourceChanges`. */
export type ChangeCounts = Readonly<Partial<Record<string, number>>>;

/** An output as Automation API returns it. */
export interface OutputEntry {
  value: unknown;
  secret: boolean;
}

export interface OperationReport {
  command: Command;
  stack: string;
  ok: boolean;
  durationMs: number;
  changes?: ChangeCounts;
  outputs?: Readonly<Record<string, OutputEntry>>;
  /** Why it failed, short. */
  error?: string;
  /** The engine's text output (for a preview: the diff). */
  engineOutput?: string;
  /** Changes were found while --expect-no-changes was given. */
  unexpectedChanges?: boolean;
  /** Commit and run the report belongs to. */
  sha?: string;
  runUrl?: string;
}

/** The columns always shown; other non-zero operation types are listed after them. */
export const SHOWN_OPS = ["create", "update", "delete", "replace", "same"] as const;
/** Operation types that change nothing. */
const NO_CHANGE_OPS = new Set(["same", "read", "refresh"]);
/** Parts of a replacement, already counted under "replace". */
const REPLACE_PARTS = new Set(["create-replacement", "delete-replaced"]);

export const SECRET_MASK = "[secret]";
/** GitHub rejects comments over 65,536 characters; stay well below. */
export const MAX_BODY = 60_000;

/** The hidden marker that identifies the one comment per command and stack. */
export function commentMarker(command: Command, stack: string): string {
  return `<!-- gitops-platform:${command}:${stack} -->`;
}

/** The number of resources the operation changes (anything but same/read/refresh). */
export function changeCount(changes: ChangeCounts | undefined): number {
  let n = 0;
  for (const [op, count] of Object.entries(changes ?? {})) {
    if (!NO_CHANGE_OPS.has(op) && !REPLACE_PARTS.has(op)) n += count ?? 0;
  }
  return n;
}

export function hasChanges(changes: ChangeCounts | undefined): boolean {
  return changeCount(changes) > 0;
}

/** Outputs as display strings, every secret replaced by `[secret]`. */
export function maskOutputs(outputs: Readonly<Record<string, OutputEntry>>): Record<string, string> {
  const shown: Record<string, string> = {};
  for (const key of Object.keys(outputs).sort()) {
    const o = outputs[key] as OutputEntry;
    shown[key] = o.secret ? SECRET_MASK : typeof o.value === "string" ? o.value : JSON.stringify(o.value);
  }
  return shown;
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m ${s % 60}s` : `${Math.floor(m / 60)}h ${m % 60}m`;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, "");
}

function cell(value: string, max = 120): string {
  const short = value.length > max ? `${value.slice(0, max - 1)}…` : value;
  const flat = short.replace(/\r?\n/g, " ").replace(/\|/g, "\\|");
  return flat.includes("`") ? `\`\` ${flat} \`\`` : `\`${flat}\``;
}

function headline(r: OperationReport): string {
  const what = `\`${r.command}\` of stack \`${r.stack}\``;
  const n = changeCount(r.changes);
  if (r.unexpectedChanges) return `❌ ${what}: ${n} change${n === 1 ? "" : "s"} found (--expect-no-changes)`;
  if (!r.ok) return `❌ ${what} failed`;
  if (!r.changes) return `✅ ${what} succeeded`;
  return `✅ ${what}: ${n === 0 ? "no changes" : `${n} change${n === 1 ? "" : "s"}`}`;
}

/** The Markdown for one operation, starting with its comment marker. */
export function renderSummary(r: OperationReport, maxLength: number = MAX_BODY): string {
  const lines: string[] = [commentMarker(r.command, r.stack), `### ${headline(r)}`, ""];
  if (r.changes) {
    const extra = Object.keys(r.changes)
      .filter((op) => !(SHOWN_OPS as readonly string[]).includes(op) && !REPLACE_PARTS.has(op))
      .filter((op) => (r.changes?.[op] ?? 0) > 0)
      .sort();
    const ops = [...SHOWN_OPS, ...extra];
    lines.push(
      `| ${ops.join(" | ")} |`,
      `| ${ops.map(() => "---:").join(" | ")} |`,
      `| ${ops.map((op) => String(r.changes?.[op] ?? 0)).join(" | ")} |`,
      "",
    );
  }
  const facts = [`duration ${formatDuration(r.durationMs)}`];
  if (r.sha) facts.push(`commit \`${r.sha.slice(0, 7)}\``);
  if (r.runUrl) facts.push(`[run](${r.runUrl})`);
  lines.push(facts.join(" · "), "");
  if (r.error) lines.push("```text", stripAnsi(r.error).trim().slice(0, 4000), "```", "");
  if (r.outputs && Object.keys(r.outputs).length > 0) {
    lines.push("<details><summary>Outputs</summary>", "", "| output | value |", "| --- | --- |");
    for (const [k, v] of Object.entries(maskOutputs(r.outputs))) lines.push(`| \`${k}\` | ${cell(v)} |`);
    lines.push("", "</details>", "");
  }
  let body = lines.join("\n");
  if (r.engineOutput && r.engineOutput.trim() !== "") {
    const open = "<details><summary>Engine output</summary>\n\n```text\n";
    const close = "\n```\n\n</details>\n";
    const room = maxLength - body.length - open.length - close.length - 40;
    let text = stripAnsi(r.engineOutput).trim().replace(/```/g, "ʼʼʼ");
    if (room < 200) text = "";
    else if (text.length > room) text = `… (${text.length - room} characters cut)\n${text.slice(-room)}`;
    if (text) body += `${open}${text}${close}`;
  }
  return body;
}

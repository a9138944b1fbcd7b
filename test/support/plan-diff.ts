import type { Evaluation } from "../../automation/evaluate";

/**
 * What changed between two evaluations of a stack, one line per change:
 *   `+ <type> <name>` a resource only the second registers, `- <type> <name>` one it no longer registers,
 *   `~ <type> <name> <path>` an input (dotted path to a leaf) whose value differs or is gone.
 */
export function planDiff(before: Evaluation, after: Evaluation): string[] {
  const a = leavesByResource(before);
  const b = leavesByResource(after);
  const changes: string[] = [];
  for (const [id, leaves] of b) {
    const old = a.get(id);
    if (!old) {
      changes.push(`+ ${id}`);
      continue;
    }
    for (const [at, value] of leaves) if (old.get(at) !== value) changes.push(`~ ${id} ${at}`);
    for (const at of old.keys()) if (!leaves.has(at)) changes.push(`~ ${id} ${at}`);
  }
  for (const id of a.keys()) if (!b.has(id)) changes.push(`- ${id}`);
  return changes;
}

/** Whether `changes` include `target`: an exact `+`/`-` line, or `~ <type> <name> <path>` at or under path. */
export function touches(changes: readonly string[], target: string): boolean {
  return changes.some(
    (c) => c === target || (target.startsWith("~ ") && (c.startsWith(`${target}.`) || c === target)),
  );
}

function leavesByResource(evaluation: Evaluation): Map<string, Map<string, string>> {
  const byResource = new Map<string, Map<string, string>>();
  for (const r of evaluation.resources) {
    const leaves = new Map<string, string>();
    collectLeaves(r.inputs, "", leaves);
    byResource.set(`${r.type} ${r.name}`, leaves);
  }
  return byResource;
}

function collectLeaves(value: unknown, at: string, out: Map<string, string>): void {
  if (value && typeof value === "object") {
    const entries = Object.entries(value);
    if (entries.length === 0) out.set(at, JSON.stringify(value));
    for (const [k, v] of entries) collectLeaves(v, at ? `${at}.${k}` : k, out);
  } else {
    out.set(at, JSON.stringify(value));
  }
}

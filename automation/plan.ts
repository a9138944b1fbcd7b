/**
 * The offline plan: `npm run plan -- <stack> [--json]`.
 *
 * Evaluates the real program under Pulumi mocks with the stack's configuration and prints the resource
 * tree and the policy verdicts, a credential-free preview for forks and laptops. `--json` prints every
 * resource's type, name, parent and inputs, secrets masked. Exits 1 on a mandatory policy violation.
 */
import { evaluatePolicies, policies, type Verdict } from "../policy/rules";
import { evaluateStack, listStacks, type EvaluatedResource, type Evaluation } from "./evaluate";

const USAGE = "usage: npm run plan -- <stack> [--json]";

export interface PlanArgs {
  stack: string;
  json: boolean;
}

export function parsePlanArgs(argv: readonly string[], stacks: readonly string[] = listStacks()): PlanArgs {
  const flags = argv.filter((a) => a.startsWith("-"));
  const positional = argv.filter((a) => !a.startsWith("-"));
  const unknownFlag = flags.find((f) => f !== "--json");
  if (unknownFlag) throw new Error(`unknown option "${unknownFlag}"; allowed: --json\n${USAGE}`);
  if (positional.length !== 1) {
    throw new Error(
      `expected exactly one stack name, got ${positional.length}; stacks: ${stacks.join(", ")}\n${USAGE}`,
    );
  }
  const stack = positional[0] as string;
  if (!stacks.includes(stack))
    throw new Error(`unknown stack "${stack}"; stacks: ${stacks.join(", ")}\n${USAGE}`);
  return { stack, json: flags.includes("--json") };
}

/** The resource tree as indented text lines: `type  name`, children under their parent. */
export function renderTree(resources: readonly EvaluatedResource[]): string[] {
  const children = new Map<string | undefined, EvaluatedResource[]>();
  const urns = new Set(resources.map((r) => r.urn));
  for (const r of resources) {
    const parent = r.parent && urns.has(r.parent) ? r.parent : undefined;
    children.set(parent, [...(children.get(parent) ?? []), r]);
  }
  const lines: string[] = [];
  const walk = (parent: string | undefined, depth: number) => {
    for (const r of children.get(parent) ?? []) {
      lines.push(`${"    ".repeat(depth)}${r.type}  ${r.name}`);
      walk(r.urn, depth + 1);
    }
  };
  walk(undefined, 0);
  return lines;
}

/** The policy pack's rules over the evaluated resources. */
export function policyVerdicts(evaluation: Evaluation): Verdict[] {
  return evaluatePolicies(
    evaluation.resources.map((r) => ({
      type: r.type,
      name: r.name,
      urn: r.urn,
      props: r.inputs,
      secretPaths: r.secretPaths,
    })),
  );
}

export function planJson(evaluation: Evaluation, verdicts: Verdict[]): object {
  return {
    stack: evaluation.stack,
    project: evaluation.project,
    resourceCount: evaluation.resources.length,
    resources: evaluation.resources.map((r) => ({
      type: r.type,
      name: r.name,
      urn: r.urn,
      parent: r.parent ?? null,
      inputs: r.maskedInputs,
    })),
    outputs: Object.fromEntries(
      Object.entries(evaluation.outputs).map(([k, v]) => [
        k,
        evaluation.secretOutputs.includes(k) ? "[secret]" : v,
      ]),
    ),
    policies: policies.map((p) => ({
      name: p.name,
      enforcementLevel: p.enforcementLevel,
      violations: verdicts
        .filter((v) => v.policy === p.name)
        .map((v) => ({ resource: v.resource, message: v.message })),
    })),
    error: evaluation.error?.message ?? null,
  };
}

export async function main(argv: readonly string[]): Promise<number> {
  let args: PlanArgs;
  try {
    args = parsePlanArgs(argv);
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const evaluation = await evaluateStack(args.stack);
  const verdicts = evaluation.error ? [] : policyVerdicts(evaluation);
  if (args.json) {
    process.stdout.write(`${JSON.stringify(planJson(evaluation, verdicts), null, 2)}\n`);
  } else {
    console.log(`Offline plan of stack "${args.stack}" (Pulumi mocks, no credentials)\n`);
    for (const line of renderTree(evaluation.resources)) console.log(line);
    const outputs = Object.keys(evaluation.outputs).map((k) =>
      evaluation.secretOutputs.includes(k)
        ? `${k}: [secret]`
        : `${k}: ${JSON.stringify(evaluation.outputs[k])}`,
    );
    console.log(`\nOutputs:\n  ${outputs.join("\n  ")}`);
    console.log(`\n${evaluation.resources.length} resources, evaluated in ${evaluation.durationMs} ms`);
    if (!evaluation.error) {
      console.log("\nPolicies:");
      for (const p of policies) {
        const mine = verdicts.filter((v) => v.policy === p.name);
        console.log(`  ${mine.length === 0 ? "pass" : "FAIL"}  ${p.name} (${p.enforcementLevel})`);
        for (const v of mine) console.log(`          ${v.message}`);
      }
    }
  }
  if (evaluation.error) {
    console.error(`\nThe program failed: ${evaluation.error.message}`);
    return 1;
  }
  const mandatory = verdicts.filter((v) => v.enforcementLevel === "mandatory");
  if (mandatory.length > 0) {
    console.error(`\n${mandatory.length} mandatory policy violation(s)`);
    return 1;
  }
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    // Exit once stdout and stderr are flushed: a piped --json is written asynchronously and would be cut.
    (code) => process.stdout.write("", () => process.stderr.write("", () => process.exit(code))),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}

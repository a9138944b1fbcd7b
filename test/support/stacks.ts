import { evaluateStack, ofType, type EvaluatedResource, type Evaluation } from "../../automation/evaluate";

/** Each committed stack evaluated once per test process, shared by every test file. */
const cache = new Map<string, Promise<Evaluation>>();

export function evaluated(stack: string): Promise<Evaluation> {
  let evaluation = cache.get(stack);
  if (!evaluation) {
    evaluation = evaluateStack(stack).then((e) => {
      if (e.error) throw e.error;
      return e;
    });
    cache.set(stack, evaluation);
  }
  return evaluation;
}

// Tests read nested inputs freely; the assertions are the type check.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Resource = Omit<EvaluatedResource, "inputs"> & { inputs: Record<string, any> };

/** Resources of a type whose name ends with `suffix`. */
export function resourcesOf(evaluation: Evaluation, type: string, suffix = ""): Resource[] {
  return ofType(evaluation, type).filter((r) => r.name.endsWith(suffix)) as Resource[];
}

import { isCelError, run } from "@bufbuild/cel";
import type { AdmissionPolicySpec } from "../../components/addons/admission-policies";

/**
 * Evaluates a ValidatingAdmissionPolicy the way the API server does, with a real CEL evaluator
 * (@bufbuild/cel): variables in order, each visible to the next as `variables.<name>`, then every
 * validation over `object` and `variables`. A validation that is false or fails to evaluate denies
 * (failurePolicy Fail); the result is the messages of the denying validations.
 */
export function denials(policy: AdmissionPolicySpec, object: unknown): string[] {
  const bound = { object: toCel(object), variables: new Map<string, unknown>() };
  for (const variable of policy.variables) {
    bound.variables.set(variable.name, run(variable.expression, bound as never));
  }
  return policy.validations
    .filter((v) => {
      const result = run(v.expression, bound as never);
      if (isCelError(result)) return true;
      if (typeof result !== "boolean")
        throw new Error(`${v.expression} is not a boolean (${String(result)})`);
      return !result;
    })
    .map((v) => v.message);
}

/** JSON as CEL sees a Kubernetes object: objects as maps, whole numbers as int (int64), other numbers as double. */
function toCel(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toCel);
  if (value && typeof value === "object")
    return new Map(Object.entries(value).map(([k, v]) => [k, toCel(v)]));
  if (typeof value === "number" && Number.isInteger(value)) return BigInt(value);
  return value;
}

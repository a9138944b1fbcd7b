/**
 * The gitops-platform policy pack: `pulumi preview --policy-pack policy`.
 * The rules live in policy/rules.ts; the offline plan runs the same rules over mocked resources.
 */
import { PolicyPack, type ResourceValidationPolicy, type StackValidationPolicy } from "@pulumi/policy";
import { policies } from "./rules";

new PolicyPack("gitops-platform", {
  policies: policies.map((rule): ResourceValidationPolicy | StackValidationPolicy => {
    const base = {
      name: rule.name,
      description: `${rule.description} ${rule.rationale}`,
      enforcementLevel: rule.enforcementLevel,
    };
    if (rule.validateStack) {
      const validateStack = rule.validateStack;
      return {
        ...base,
        validateStack: (args, report) =>
          validateStack(
            args.resources.map((r) => ({ type: r.type, name: r.name, urn: r.urn, props: r.props })),
            (message, urn) => report(message, urn),
          ),
      };
    }
    const validateResource = rule.validateResource!;
    return {
      ...base,
      validateResource: (args, report) =>
        validateResource({ type: args.type, name: args.name, urn: args.urn, props: args.props }, (message) =>
          report(message),
        ),
    };
  }),
});

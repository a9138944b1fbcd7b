// Loaded only by EKS stacks (imported by components/addons/eks-addons.ts): the dev stack never loads @pulumi/aws.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/** AWS managed rule groups in front of the app, in evaluation order. */
export const WAF_MANAGED_RULE_GROUPS = [
  "AWSManagedRulesCommonRuleSet",
  "AWSManagedRulesKnownBadInputsRuleSet",
];

/** Arguments of {@link AppWebAcl}. */
export interface AppWebAclArgs {
  /** Prefix of the ACL's and its metrics' names. */
  namePrefix: string;
  /** Requests one client IP may send in any 5 minutes before it is blocked. Default: 2000. */
  rateLimitPer5Minutes?: number;
  awsProvider: aws.Provider;
}

/**
 * A regional AWS WAF web ACL for the app's load balancer (associated by the app Ingress's
 * `wafv2-acl-arn` annotation): AWS's common rule set (OWASP top ten style), its known-bad-inputs set
 * (Log4Shell and similar), and a per-IP rate limit; everything else is allowed. Metrics and sampled
 * requests go to CloudWatch.
 */
export class AppWebAcl extends pulumi.ComponentResource {
  public readonly arn: pulumi.Output<string>;

  constructor(name: string, args: AppWebAclArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:addons:AppWebAcl", name, {}, opts);
    const visibility = (metricName: string) => ({
      cloudwatchMetricsEnabled: true,
      sampledRequestsEnabled: true,
      metricName: `${args.namePrefix}-${metricName}`,
    });
    const acl = new aws.wafv2.WebAcl(
      `${name}-acl`,
      {
        name: `${args.namePrefix}-app`,
        description: "The app's public load balancer: AWS managed rules and a per-IP rate limit",
        scope: "REGIONAL",
        defaultAction: { allow: {} },
        rules: [
          ...WAF_MANAGED_RULE_GROUPS.map((group, i) => ({
            name: group,
            priority: i + 1,
            overrideAction: { none: {} },
            statement: { managedRuleGroupStatement: { vendorName: "AWS", name: group } },
            visibilityConfig: visibility(group),
          })),
          {
            name: "rate-limit-per-ip",
            priority: WAF_MANAGED_RULE_GROUPS.length + 1,
            action: { block: {} },
            statement: {
              rateBasedStatement: {
                limit: args.rateLimitPer5Minutes ?? 2000,
                aggregateKeyType: "IP",
                evaluationWindowSec: 300,
              },
            },
            visibilityConfig: visibility("rate-limit-per-ip"),
          },
        ],
        visibilityConfig: visibility("app"),
      },
      { parent: this, provider: args.awsProvider },
    );
    this.arn = acl.arn;
    this.registerOutputs({ arn: this.arn });
  }
}

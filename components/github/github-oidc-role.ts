// Loaded only by AWS stacks (see index.ts): the dev stack never loads @pulumi/aws.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { webIdentityTrustPolicy } from "../cluster/irsa";

export const GITHUB_OIDC_ISSUER = "token.actions.githubusercontent.com";

/** Arguments of {@link GitHubOidcRole}. */
export interface GitHubOidcRoleArgs {
  /** `owner/repository` whose workflows may assume the role. */
  repository: string;
  /** The GitHub Actions environment whose jobs may assume it (`sub` = repo:<owner/repo>:environment:<env>). */
  environment: string;
  /**
   * The workflow file and ref the job must run from (the token's `job_workflow_ref`), e.g.
   * `.github/workflows/deploy.yml@refs/heads/main`; `*` is allowed only as a pull request number
   * (`@refs/pull/*\/merge`).
   */
  workflow: string;
  /** ARN of the account's GitHub OIDC provider (see resolveGitHubOidcProvider). */
  providerArn: pulumi.Input<string>;
  /** Customer managed policy documents (JSON) created and attached, by short name. Default: none. */
  policies?: Record<string, pulumi.Input<string>>;
  /** Further managed policies attached. Default: none. */
  policyArns?: readonly string[];
  /** Permissions boundary document (JSON): created as a policy and set on the role. Default: none. */
  boundary?: pulumi.Input<string>;
  /** The stack's explicit AWS provider. */
  awsProvider: aws.Provider;
}

/**
 * An IAM role GitHub Actions assumes through OIDC instead of static keys. Its trust admits exactly one
 * repository's jobs in one environment, running one workflow file from one ref; its permissions are
 * the given policies, capped by the boundary.
 */
export class GitHubOidcRole extends pulumi.ComponentResource {
  public readonly roleArn: pulumi.Output<string>;
  public readonly roleName: pulumi.Output<string>;

  constructor(name: string, args: GitHubOidcRoleArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:github:GitHubOidcRole", name, {}, opts);
    const awsOpts = { parent: this, provider: args.awsProvider };
    const boundary = args.boundary
      ? new aws.iam.Policy(
          `${name}-boundary`,
          { description: `Permissions boundary of ${name}`, policy: args.boundary },
          awsOpts,
        )
      : undefined;
    const role = new aws.iam.Role(
      `${name}-role`,
      {
        description: `GitHub Actions of ${args.repository}, environment ${args.environment}, ${args.workflow}`,
        maxSessionDuration: 3600,
        assumeRolePolicy: pulumi
          .output(args.providerArn)
          .apply((arn) => githubTrustPolicy(arn, args.repository, args.environment, args.workflow)),
        permissionsBoundary: boundary?.arn,
      },
      awsOpts,
    );
    const policyArns: pulumi.Input<string>[] = [
      ...Object.entries(args.policies ?? {}).map(
        ([short, policy]) =>
          new aws.iam.Policy(`${name}-${short}`, { description: `${short} of ${name}`, policy }, awsOpts).arn,
      ),
      ...(args.policyArns ?? []),
    ];
    policyArns.forEach(
      (policyArn, i) =>
        new aws.iam.RolePolicyAttachment(`${name}-policy-${i}`, { role: role.name, policyArn }, awsOpts),
    );
    this.roleArn = role.arn;
    this.roleName = role.name;
    this.registerOutputs({ roleArn: this.roleArn });
  }
}

const PULL_REQUEST_REF = "@refs/pull/*/merge";
const WORKFLOW_REF = /^\.github\/workflows\/[\w.-]+\.ya?ml@refs\/(heads\/[\w./-]+|pull\/\*\/merge)$/;

/**
 * Trust policy admitting only `repo:<owner/repo>:environment:<environment>` through the GitHub OIDC
 * provider, and only jobs of `<owner/repo>/<workflow>` (the `job_workflow_ref` claim, which AWS STS
 * checks as `token.actions.githubusercontent.com:job_workflow_ref`). A pull request's number is the
 * only wildcard allowed, and then the check is StringLike.
 */
export function githubTrustPolicy(
  providerArn: string,
  repository: string,
  environment: string,
  workflow: string,
): string {
  if (!/^[\w.-]+\/[\w.-]+$/.test(repository)) {
    throw new Error(`repository must be "owner/name" without wildcards (got "${repository}")`);
  }
  if (!WORKFLOW_REF.test(workflow)) {
    throw new Error(
      `workflow must be ".github/workflows/<file>.yml@refs/heads/<branch>" or "...@refs/pull/*/merge" (got "${workflow}")`,
    );
  }
  const pullRequest = workflow.endsWith(PULL_REQUEST_REF);
  const jobWorkflowRef = { [`${GITHUB_OIDC_ISSUER}:job_workflow_ref`]: `${repository}/${workflow}` };
  return webIdentityTrustPolicy(
    providerArn,
    GITHUB_OIDC_ISSUER,
    `repo:${repository}:environment:${environment}`,
    pullRequest ? { StringLike: jobWorkflowRef } : { StringEquals: jobWorkflowRef },
  );
}

/**
 * The account's GitHub OIDC provider, which AWS allows once per account: created by this stack
 * (`create`), or an existing one by ARN or, without an ARN, looked up by its URL (`existing`).
 */
export function resolveGitHubOidcProvider(
  name: string,
  provider: { mode: "create" } | { mode: "existing"; arn?: string },
  awsProvider: aws.Provider,
): pulumi.Output<string> {
  const url = `https://${GITHUB_OIDC_ISSUER}`;
  if (provider.mode === "create") {
    return new aws.iam.OpenIdConnectProvider(
      `${name}-oidc`,
      { url, clientIdLists: ["sts.amazonaws.com"] },
      { provider: awsProvider },
    ).arn;
  }
  if (provider.arn) return pulumi.output(provider.arn);
  return aws.iam.getOpenIdConnectProviderOutput({ url }, { provider: awsProvider }).arn;
}

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
  /** ARN of an existing GitHub OIDC provider in the account; created when omitted (one per account). */
  existingProviderArn?: string;
  /** Managed policies attached to the role. */
  policyArns: string[];
  /** The stack's explicit AWS provider. */
  awsProvider: aws.Provider;
}

/**
 * The IAM role GitHub Actions deploys with, through OIDC instead of static keys. Its trust policy admits
 * exactly one repository's jobs running in one environment; no wildcard on the repository.
 */
export class GitHubOidcRole extends pulumi.ComponentResource {
  public readonly roleArn: pulumi.Output<string>;

  constructor(name: string, args: GitHubOidcRoleArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:github:GitHubOidcRole", name, {}, opts);
    const awsOpts = { parent: this, provider: args.awsProvider };
    const providerArn = args.existingProviderArn
      ? pulumi.output(args.existingProviderArn)
      : new aws.iam.OpenIdConnectProvider(
          `${name}-oidc`,
          { url: `https://${GITHUB_OIDC_ISSUER}`, clientIdLists: ["sts.amazonaws.com"] },
          awsOpts,
        ).arn;
    const role = new aws.iam.Role(
      `${name}-role`,
      {
        description: `GitHub Actions of ${args.repository}, environment ${args.environment}`,
        maxSessionDuration: 3600,
        assumeRolePolicy: providerArn.apply((arn) =>
          githubTrustPolicy(arn, args.repository, args.environment),
        ),
      },
      awsOpts,
    );
    args.policyArns.forEach(
      (policyArn, i) =>
        new aws.iam.RolePolicyAttachment(`${name}-policy-${i}`, { role: role.name, policyArn }, awsOpts),
    );
    this.roleArn = role.arn;
    this.registerOutputs({ roleArn: this.roleArn });
  }
}

/** Trust policy admitting only `repo:<owner/repo>:environment:<environment>` through the GitHub OIDC provider. */
export function githubTrustPolicy(providerArn: string, repository: string, environment: string): string {
  if (!/^[\w.-]+\/[\w.-]+$/.test(repository)) {
    throw new Error(`repository must be "owner/name" without wildcards (got "${repository}")`);
  }
  return webIdentityTrustPolicy(
    providerArn,
    GITHUB_OIDC_ISSUER,
    `repo:${repository}:environment:${environment}`,
  );
}

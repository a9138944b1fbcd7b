import * as github from "@pulumi/github";
import * as pulumi from "@pulumi/pulumi";

/** The branch deploys run from: every deploy environment admits only its workflows. */
export const DEPLOY_BRANCH = "main";

/** Arguments of {@link GitHubRepo}. */
export interface GitHubRepoArgs {
  /** Repository name (the owner comes from the GitHub provider configuration). */
  repository: string;
  /** The GitHub Actions environment of this stack; named after the environment. */
  environment: string;
  /** Stack the environment deploys. */
  stack: string;
  /** Team slugs that must approve deployments to this environment. Default: none (no approval). */
  reviewerTeams?: string[];
  /**
   * The one branch whose workflows may use this environment (a deployment branch policy). Default:
   * "main". `null`: any ref, for pull-request previews (they run on refs/pull/N/merge); such an
   * environment must hold no write credential.
   */
  deploymentBranch?: string | null;
  /** Environment variables the workflows read (e.g. AWS_ROLE_ARN, AWS_REGION). Default: none. */
  variables?: Record<string, pulumi.Input<string>>;
  /** Environment secrets the workflows read (e.g. PULUMI_CONFIG_PASSPHRASE); values must be secrets. Default: none. */
  secrets?: Record<string, pulumi.Input<string>>;
}

/**
 * The GitHub side of a stack: an Actions environment (with required reviewers where configured, e.g.
 * prod, and limited to one branch) and the environment variables and secrets the workflows need;
 * secrets are environment secrets only, never repository-wide. No cloud credentials go
 * here: AWS is reached through OIDC (see GitHubOidcRole), so there are no static keys to store.
 */
export class GitHubRepo extends pulumi.ComponentResource {
  public readonly environmentName: string;

  constructor(name: string, args: GitHubRepoArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:github:GitHubRepo", name, {}, opts);
    this.environmentName = args.environment;
    const reviewerTeams = args.reviewerTeams ?? [];
    const branch = args.deploymentBranch === undefined ? DEPLOY_BRANCH : args.deploymentBranch;

    const teamIds = reviewerTeams.map((slug) =>
      github.getTeamOutput({ slug, summaryOnly: true }, { parent: this }).id.apply(Number),
    );
    const environment = new github.RepositoryEnvironment(
      `${name}-environment`,
      {
        repository: args.repository,
        environment: args.environment,
        reviewers: teamIds.length > 0 ? [{ teams: teamIds }] : undefined,
        preventSelfReview: teamIds.length > 0,
        deploymentBranchPolicy:
          branch === null ? undefined : { protectedBranches: false, customBranchPolicies: true },
      },
      { parent: this },
    );
    if (branch !== null) {
      new github.RepositoryEnvironmentDeploymentPolicy(
        `${name}-branch-${branch.replace(/[^\w-]/g, "-")}`,
        { repository: args.repository, environment: environment.environment, branchPattern: branch },
        { parent: this },
      );
    }

    for (const [variableName, value] of Object.entries({ PULUMI_STACK: args.stack, ...args.variables })) {
      new github.ActionsEnvironmentVariable(
        `${name}-var-${variableName.toLowerCase().replace(/_/g, "-")}`,
        { repository: args.repository, environment: environment.environment, variableName, value },
        { parent: this },
      );
    }
    for (const [secretName, value] of Object.entries(args.secrets ?? {})) {
      new github.ActionsEnvironmentSecret(
        `${name}-secret-${secretName.toLowerCase().replace(/_/g, "-")}`,
        {
          repository: args.repository,
          environment: environment.environment,
          secretName,
          plaintextValue: pulumi.secret(value),
        },
        { parent: this },
      );
    }
    this.registerOutputs({ environmentName: this.environmentName });
  }
}

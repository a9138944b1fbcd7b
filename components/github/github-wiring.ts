import * as github from "@pulumi/github";
import type * as pulumi from "@pulumi/pulumi";
import { loadSecretConfig, type PlatformConfig } from "../config";
import type { EksCluster } from "../cluster/eks-cluster";
import { GitHubRepo } from "./github-repo";
import type { PlatformCluster } from "../cluster/kubernetes-provider";

/**
 * The GitHub side of a stack when `githubEnabled`: an explicit provider for the owner (token from
 * `github:token` or GITHUB_TOKEN), the stack's Actions environment and variables, and on AWS stacks the
 * OIDC role Actions deploys with (imported lazily with the rest of the AWS code).
 */
export async function createGitHubResources(
  config: PlatformConfig,
  cluster: PlatformCluster,
): Promise<{ provider: github.Provider; actionsRoleArn?: pulumi.Output<string> } | undefined> {
  if (!config.github.enabled) return undefined;
  const settings = config.github;
  const provider = new github.Provider("github", { owner: settings.owner });

  let actionsRoleArn: pulumi.Output<string> | undefined;
  const variables: Record<string, pulumi.Input<string>> = {};
  if (config.cluster.provider === "eks") {
    const { GitHubOidcRole } = await import("./github-oidc-role");
    const role = new GitHubOidcRole(`${config.cluster.name}-github-actions`, {
      repository: `${settings.owner}/${settings.repository}`,
      environment: config.environment,
      existingProviderArn: settings.oidcProviderArn,
      policyArns: [...settings.actionsPolicyArns],
      awsProvider: (cluster as EksCluster).awsProvider,
    });
    actionsRoleArn = role.roleArn;
    variables.AWS_ROLE_ARN = role.roleArn;
    variables.AWS_REGION = config.cluster.region;
  }
  const passphrase = loadSecretConfig().ciConfigPassphrase;
  new GitHubRepo(
    `${config.cluster.name}-github`,
    {
      repository: settings.repository,
      environment: config.environment,
      stack: config.stack,
      reviewerTeams: [...settings.reviewerTeams],
      variables,
      secrets: passphrase ? { PULUMI_CONFIG_PASSPHRASE: passphrase } : {},
    },
    { providers: [provider] },
  );
  return { provider, actionsRoleArn };
}

import * as github from "@pulumi/github";
import type * as pulumi from "@pulumi/pulumi";
import { loadSecretConfig, type PlatformConfig } from "../config";
import type { EksCluster } from "../cluster/eks-cluster";
import { DEPLOY_BRANCH, GitHubRepo } from "./github-repo";
import type { PlatformCluster } from "../cluster/kubernetes-provider";

/** The workflow files whose jobs may assume the deploy and preview roles (the `job_workflow_ref` pin). */
export const DEPLOY_WORKFLOW = ".github/workflows/deploy.yml";
export const PREVIEW_WORKFLOW = ".github/workflows/preview.yml";

/** The GitHub environment of a stack's pull-request previews. */
export const previewEnvironment = (environment: string) => `${environment}-preview`;

export interface GitHubResources {
  provider: github.Provider;
  /** The role deploy.yml assumes (EKS stacks). */
  actionsRoleArn?: pulumi.Output<string>;
  /** The read-only role preview.yml assumes (EKS stacks with pullRequestPreviews). */
  previewRoleArn?: pulumi.Output<string>;
}

/**
 * The GitHub side of a stack when `githubEnabled`: an explicit provider for the owner (token from
 * `github:token` or GITHUB_TOKEN), the stack's Actions environment limited to `main` with its variables
 * and secrets, and on AWS stacks the OIDC roles Actions deploys and previews with, admitted to the
 * cluster through access entries (imported lazily with the rest of the AWS code).
 */
export async function createGitHubResources(
  config: PlatformConfig,
  cluster: PlatformCluster,
): Promise<GitHubResources | undefined> {
  if (!config.github.enabled) return undefined;
  const settings = config.github;
  const provider = new github.Provider("github", { owner: settings.owner });
  const secrets = loadSecretConfig();
  const passphrase: Record<string, pulumi.Input<string>> = secrets.ciConfigPassphrase
    ? { PULUMI_CONFIG_PASSPHRASE: secrets.ciConfigPassphrase }
    : {};

  const roles = config.cluster.provider === "eks" ? await createAwsRoles(config, cluster as EksCluster) : {};
  const region: Record<string, string> =
    config.cluster.provider === "eks" ? { AWS_REGION: config.cluster.region } : {};
  new GitHubRepo(
    `${config.cluster.name}-github`,
    {
      repository: settings.repository,
      environment: config.environment,
      stack: config.stack,
      reviewerTeams: [...settings.reviewerTeams],
      deploymentBranch: DEPLOY_BRANCH,
      variables: { ...region, ...(roles.actionsRoleArn ? { AWS_ROLE_ARN: roles.actionsRoleArn } : {}) },
      secrets: passphrase,
    },
    { providers: [provider] },
  );
  if (settings.pullRequestPreviews) {
    // Pull requests run on refs/pull/N/merge, so this environment cannot be limited to main: it holds
    // only what a read-only preview needs (config validation keeps prod out of it).
    new GitHubRepo(
      `${config.cluster.name}-github-preview`,
      {
        repository: settings.repository,
        environment: previewEnvironment(config.environment),
        stack: config.stack,
        deploymentBranch: null,
        variables: { ...region, ...(roles.previewRoleArn ? { AWS_ROLE_ARN: roles.previewRoleArn } : {}) },
        secrets: passphrase,
      },
      { providers: [provider] },
    );
  }
  return { provider, ...roles };
}

/**
 * The deploy role (scoped deploy policy, permissions boundary, cluster-admin access entry) and, with
 * pull-request previews, the preview role (read-only policy, view access entry).
 */
async function createAwsRoles(
  config: PlatformConfig,
  eks: EksCluster,
): Promise<Omit<GitHubResources, "provider">> {
  if (!config.github.enabled || config.cluster.provider !== "eks") return {};
  const aws = await import("@pulumi/aws");
  const pulumi = await import("@pulumi/pulumi");
  const { GitHubOidcRole, resolveGitHubOidcProvider } = await import("./github-oidc-role");
  const { deployBoundaryDocument, deployPolicyDocument, previewPolicyDocument } =
    await import("./deploy-policy");
  const { grantClusterAccess } = await import("../cluster/access-entry");
  const settings = config.github;
  const name = `${config.cluster.name}-github`;
  const awsProvider = eks.awsProvider;
  const invokeOpts = { provider: awsProvider };
  const scope = pulumi
    .all([
      aws.getCallerIdentityOutput({}, invokeOpts).accountId,
      aws.getPartitionOutput({}, invokeOpts).partition,
    ])
    .apply(([accountId, partition]) => ({
      accountId,
      partition,
      region: config.cluster.provider === "eks" ? config.cluster.region : "",
      clusterName: config.cluster.name,
      stateBucket: settings.stateBucket,
      managesGitHubOidcProvider: settings.oidcProvider.mode === "create",
      extraPolicyArns: settings.actionsPolicyArns,
      hostedZoneId: config.cluster.provider === "eks" ? config.cluster.edge.hostedZoneId : undefined,
    }));
  const repository = `${settings.owner}/${settings.repository}`;
  const providerArn = resolveGitHubOidcProvider(name, settings.oidcProvider, awsProvider);

  const deploy = new GitHubOidcRole(`${name}-actions`, {
    repository,
    environment: config.environment,
    workflow: `${DEPLOY_WORKFLOW}@refs/heads/${DEPLOY_BRANCH}`,
    providerArn,
    policies: { deploy: scope.apply(deployPolicyDocument) },
    policyArns: settings.actionsPolicyArns,
    boundary: scope.apply(deployBoundaryDocument),
    awsProvider,
  });
  grantClusterAccess(`${name}-actions`, {
    clusterName: eks.eksClusterName,
    principalArn: deploy.roleArn,
    access: "clusterAdmin",
    awsProvider,
    parent: deploy,
  });
  if (!settings.pullRequestPreviews) return { actionsRoleArn: deploy.roleArn };

  const preview = new GitHubOidcRole(`${name}-preview`, {
    repository,
    environment: previewEnvironment(config.environment),
    workflow: `${PREVIEW_WORKFLOW}@refs/pull/*/merge`,
    providerArn,
    policies: { read: scope.apply(previewPolicyDocument) },
    awsProvider,
  });
  grantClusterAccess(`${name}-preview`, {
    clusterName: eks.eksClusterName,
    principalArn: preview.roleArn,
    access: "view",
    awsProvider,
    parent: preview,
  });
  return { actionsRoleArn: deploy.roleArn, previewRoleArn: preview.roleArn };
}

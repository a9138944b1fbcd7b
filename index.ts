import * as pulumi from "@pulumi/pulumi";
import { createCluster } from "./components/cluster";
import { loadPlatformConfig } from "./components/config";
import { createGitHubResources } from "./components/github-wiring";
import { GitOps } from "./components/gitops";
import { createAppImage } from "./components/image-registry";

/**
 * gitops-platform: one program from laptop to production.
 *
 *   1. config     every key validated once (components/config.ts)
 *   2. cluster    kind (dev) or EKS (staging, prod), and the one Kubernetes provider
 *   3. image      the app built and pushed, pinned by digest
 *   4. GitHub     Actions environment, variables and OIDC role (when githubEnabled)
 *   5. GitOps     repository, AppProject and root Application; the image reference committed to git
 */
export = async () => {
  const config = loadPlatformConfig();
  const cluster = await createCluster(config);
  const appImage = await createAppImage(config, cluster);
  const gitHub = await createGitHubResources(config, cluster);

  const gitops = new GitOps(
    `${config.cluster.name}-gitops`,
    {
      environment: config.environment,
      stack: config.stack,
      repoUrl: config.gitops.repoUrl,
      revision: config.gitops.revision,
      appNamespaces: [...config.gitops.appNamespaces],
      github: config.github.enabled ? { repository: config.github.repository } : undefined,
      image: { repository: appImage.repository, tag: appImage.tag, digest: appImage.digest },
      clusterFacts: { cluster_name: cluster.clusterName, cluster_provider: config.cluster.provider },
      provider: cluster.provider,
    },
    gitHub ? { providers: [gitHub.provider] } : undefined,
  );

  return {
    environment: config.environment,
    clusterProvider: config.cluster.provider,
    clusterName: cluster.clusterName,
    kubeconfig: pulumi.secret(cluster.kubeconfig),
    appImage: appImage.ref,
    appImageTag: appImage.tag,
    gitopsRepoUrl: config.gitops.repoUrl,
    gitopsRevision: config.gitops.revision,
    argocdProject: gitops.projectName,
    argocdRootApplication: gitops.rootApplicationName,
    ...(gitHub?.actionsRoleArn ? { githubActionsRoleArn: gitHub.actionsRoleArn } : {}),
  };
};

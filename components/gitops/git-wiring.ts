import type * as pulumi from "@pulumi/pulumi";
import * as path from "node:path";
import type { ArgoCD } from "../addons/argocd";
import type { PlatformCluster } from "../cluster/kubernetes-provider";
import type { PlatformConfig } from "../config";
import type { LocalGitServer } from "../cluster/local-git-server";
import { imageBranch, type GitOpsArgs } from "./gitops";
import { GitHubRepositoryWriter, LocalGitRepositoryWriter } from "./git-writer";

/** The working tree's gitops/ directory, pushed to the local git server. */
export const GITOPS_DIR = path.resolve(__dirname, "../..", "gitops");

/**
 * How the stack writes to its GitOps repository: GitHub's API when GitHub is managed; the local git
 * server (started here, next to kind) when the dev stack reads neither GitHub nor a fork; nothing for
 * a fork read anonymously.
 */
export async function createGitWriter(
  config: PlatformConfig,
  deps: { cluster: PlatformCluster; argocd: ArgoCD },
): Promise<Pick<GitOpsArgs, "writer" | "pushTree" | "imageBranch"> & { localServer?: LocalGitServer }> {
  if (config.gitops.source === "github" && config.github.enabled) {
    // A protected main never takes the image commit: it goes to deploy/<env> (docs/bootstrap.md).
    return {
      writer: new GitHubRepositoryWriter(config.github.repository),
      imageBranch: imageBranch(config.environment),
    };
  }
  const local = config.gitops.localServer;
  if (config.gitops.source !== "local" || !local || config.cluster.provider !== "kind") return {};
  const { LocalGitServer } = await import("../cluster/local-git-server");
  const server = new LocalGitServer(`${config.cluster.name}-git`, {
    clusterName: config.cluster.name,
    hostPort: local.port,
    baseImage: local.baseImage,
    defaultBranch: config.gitops.revision,
    // argocd-server's NodePort on the control-plane node, as the kind network reaches it.
    webhookUrl: `http://${config.cluster.name}-control-plane:${config.cluster.ports.argocd}/api/webhook`,
    webhookSecret: deps.argocd.webhookSecret,
    dependsOn: [deps.cluster as unknown as pulumi.Resource],
  });
  return {
    writer: new LocalGitRepositoryWriter({
      pushUrl: server.pushUrl,
      authHeader: server.pushAuthHeader,
      dependsOn: [server.container],
    }),
    pushTree: { sourceDir: GITOPS_DIR },
    localServer: server,
  };
}

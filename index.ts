import * as pulumi from "@pulumi/pulumi";
import { createCluster } from "./components/cluster";
import { loadPlatformConfig } from "./components/config";

/**
 * gitops-platform: one program from laptop to production.
 *
 *   1. config     every key validated once (components/config.ts)
 *   2. cluster    kind (dev) or EKS (staging, prod), and the one Kubernetes provider
 */
export = async () => {
  const config = loadPlatformConfig();
  const cluster = await createCluster(config);

  return {
    environment: config.environment,
    clusterProvider: config.cluster.provider,
    clusterName: cluster.clusterName,
    kubeconfig: pulumi.secret(cluster.kubeconfig),
    gitopsRepoUrl: config.gitops.repoUrl,
    gitopsRevision: config.gitops.revision,
  };
};

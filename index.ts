import * as pulumi from "@pulumi/pulumi";
import { createCluster } from "./components/cluster";
import { loadPlatformConfig } from "./components/config";
import { createAppImage } from "./components/image-registry";

/**
 * gitops-platform: one program from laptop to production.
 *
 *   1. config     every key validated once (components/config.ts)
 *   2. cluster    kind (dev) or EKS (staging, prod), and the one Kubernetes provider
 *   3. image      the app built and pushed, pinned by digest
 */
export = async () => {
  const config = loadPlatformConfig();
  const cluster = await createCluster(config);
  const appImage = await createAppImage(config, cluster);

  return {
    environment: config.environment,
    clusterProvider: config.cluster.provider,
    clusterName: cluster.clusterName,
    kubeconfig: pulumi.secret(cluster.kubeconfig),
    appImage: appImage.ref,
    appImageTag: appImage.tag,
    gitopsRepoUrl: config.gitops.repoUrl,
    gitopsRevision: config.gitops.revision,
  };
};

import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { AppImage } from "./app-image";
import type { PlatformConfig } from "../config";
import type { EksCluster } from "../cluster/eks-cluster";
import { imageTag } from "./image-tag";
import type { PlatformCluster } from "../cluster/kubernetes-provider";

export const APP_DIR = path.resolve(__dirname, "..", "..", "app");

/**
 * Builds and pushes the app image to the stack's registry: the kind registry (dev, native platform),
 * GHCR or ECR (multi-platform amd64 + arm64). ECR code, and with it @pulumi/aws, loads only when used.
 */
export async function createAppImage(config: PlatformConfig, cluster: PlatformCluster): Promise<AppImage> {
  const name = `${config.cluster.name}-app`;
  const tag = imageTag(APP_DIR);
  const common = { context: APP_DIR, tag };
  switch (config.imageRegistry) {
    case "local": {
      const settings = config.cluster.provider === "kind" ? config.cluster : undefined;
      if (!settings) throw new Error('imageRegistry "local" needs a kind cluster');
      return new AppImage(
        name,
        { ...common, repository: `localhost:${settings.registry.port}/${config.appImage.name}` },
        { dependsOn: [cluster as unknown as pulumi.Resource] },
      );
    }
    case "ghcr": {
      const owner = config.appImage.ghcrOwner as string; // required by config validation for ghcr
      const token =
        new pulumi.Config("github").getSecret("token") ?? pulumi.secret(process.env.GITHUB_TOKEN ?? "");
      return new AppImage(name, {
        ...common,
        repository: `ghcr.io/${owner}/${config.appImage.name}`,
        platforms: ["linux/amd64", "linux/arm64"],
        registry: { address: "ghcr.io", username: process.env.GITHUB_ACTOR ?? owner, password: token },
      });
    }
    case "ecr": {
      const { EcrRepository } = await import("./ecr-repository");
      const eks = cluster as EksCluster;
      const repo = new EcrRepository(`${name}-ecr`, {
        repositoryName: `${config.cluster.name}/${config.appImage.name}`,
        keepImages: config.appImage.ecrKeepImages,
        awsProvider: eks.awsProvider,
      });
      return new AppImage(name, {
        ...common,
        repository: repo.repositoryUrl,
        platforms: ["linux/amd64", "linux/arm64"],
        registry: repo.registry,
      });
    }
  }
}

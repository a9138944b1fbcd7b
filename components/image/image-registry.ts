import * as path from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import { AppImage, type AppImageArgs } from "./app-image";
import type { PlatformConfig } from "../config";
import type { EksCluster } from "../cluster/eks-cluster";
import { imageTag } from "./image-tag";
import type { PlatformCluster } from "../cluster/kubernetes-provider";

export const APP_DIR = path.resolve(__dirname, "..", "..", "app");

/**
 * Where a stack's app image goes: repository, platforms, what the push waits for. No credentials: every
 * registry is written with the builder's own login (see below).
 */
export interface ImageDestination {
  repository: pulumi.Input<string>;
  platforms?: AppImageArgs["platforms"];
  dependsOn?: pulumi.Resource[];
}

/**
 * The stack's registry: the kind registry (dev, native platform), GHCR or ECR (multi-platform amd64 +
 * arm64). ECR code, and with it @pulumi/aws, loads only when used.
 */
export async function imageDestination(
  config: PlatformConfig,
  cluster: PlatformCluster,
): Promise<ImageDestination> {
  const name = `${config.cluster.name}-app`;
  switch (config.imageRegistry) {
    case "local": {
      const settings = config.cluster.provider === "kind" ? config.cluster : undefined;
      if (!settings) throw new Error('imageRegistry "local" needs a kind cluster');
      return {
        repository: `localhost:${settings.registry.port}/${config.appImage.name}`,
        dependsOn: [cluster as unknown as pulumi.Resource],
      };
    }
    case "ghcr": {
      const owner = config.appImage.ghcrOwner as string; // required by config validation for ghcr
      // No credentials here: the push (and a promotion's copy) uses the builder's login to ghcr.io, which
      // deploy.yml makes with the job's own GITHUB_TOKEN (packages: write) and a person makes with
      // `docker login ghcr.io`. So neither the repository-admin token nor any push token is kept in the state.
      return {
        repository: `ghcr.io/${owner}/${config.appImage.name}`,
        platforms: ["linux/amd64", "linux/arm64"],
      };
    }
    case "ecr": {
      const { EcrRepository } = await import("./ecr-repository");
      const eks = cluster as EksCluster;
      const repo = new EcrRepository(`${name}-ecr`, {
        repositoryName: `${config.cluster.name}/${config.appImage.name}`,
        keepImages: config.appImage.ecrKeepImages,
        awsProvider: eks.awsProvider,
      });
      // The builder's own login, as for GHCR: deploy.yml logs in with the job's role.
      return { repository: repo.repositoryUrl, platforms: ["linux/amd64", "linux/arm64"] };
    }
  }
}

/**
 * Builds and pushes the app image to the stack's registry. The tag is the build context's content hash,
 * so the same source never yields a new image.
 */
export async function createAppImage(
  config: PlatformConfig,
  cluster: PlatformCluster,
  to?: ImageDestination,
): Promise<AppImage> {
  const { dependsOn, ...destination } = to ?? (await imageDestination(config, cluster));
  return new AppImage(
    `${config.cluster.name}-app`,
    { context: APP_DIR, tag: imageTag(APP_DIR), ...destination },
    dependsOn ? { dependsOn } : undefined,
  );
}

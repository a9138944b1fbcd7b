import type * as pulumi from "@pulumi/pulumi";
import type { PlatformConfig } from "../config";
import type { PlatformCluster } from "./kubernetes-provider";

/** Buckets of the kind S3 server besides Velero's: Loki's logs and Tempo's traces. */
export const LOCAL_OBSERVABILITY_BUCKETS = ["loki", "tempo"] as const;

/**
 * Creates the stack's cluster: kind for dev, EKS for staging and prod. The EKS module (and with it
 * @pulumi/aws, @pulumi/eks and @pulumi/awsx) is imported only when an EKS stack asks for it.
 */
export async function createCluster(
  config: PlatformConfig,
  opts?: pulumi.ComponentResourceOptions,
): Promise<PlatformCluster> {
  const settings = config.cluster;
  if (settings.provider === "kind") {
    const { KindCluster } = await import("./kind-cluster");
    return new KindCluster(
      settings.name,
      {
        clusterName: settings.name,
        nodeImage: settings.nodeImage,
        workerNodes: settings.workerNodes,
        nodePorts: [settings.ports.app, settings.ports.argocd, settings.ports.grafana],
        registry: settings.registry,
        s3: settings.s3,
        extraBuckets: LOCAL_OBSERVABILITY_BUCKETS,
      },
      opts,
    );
  }
  const { EksCluster } = await import("./eks-cluster");
  return new EksCluster(
    settings.name,
    {
      clusterName: settings.name,
      kubernetesVersion: settings.kubernetesVersion,
      region: settings.region,
      availabilityZones: settings.availabilityZones,
      vpcCidr: settings.vpcCidr,
      natGateways: settings.natGateways,
      nodeGroup: settings.nodeGroup,
      controlPlaneLogging: settings.controlPlaneLogging,
      endpointPublicAccess: settings.endpointPublicAccess,
      publicAccessCidrs: settings.publicAccessCidrs,
      clusterAdminArns: settings.clusterAdminArns,
      tags: { "gitops-platform:environment": config.environment, "gitops-platform:stack": config.stack },
    },
    opts,
  );
}

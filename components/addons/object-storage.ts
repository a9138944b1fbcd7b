import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { PlatformConfig } from "../config";
import type { EksCluster } from "../cluster/eks-cluster";
import type { KindCluster } from "../cluster/kind-cluster";
import type { PlatformCluster } from "../cluster/kubernetes-provider";
import { pinnedRelease, type PinnedReleaseArgs } from "./helm-release";

/** Where an add-on keeps its objects (Velero's backups, Loki's chunks, Tempo's blocks). */
export type ObjectStorage =
  | {
      /** The S3 server next to the kind cluster; static credentials. */
      provider: "local-s3";
      bucket: pulumi.Input<string>;
      /** S3 endpoint as pods reach it. */
      s3Url: pulumi.Input<string>;
      /** S3 endpoint as the host reaches it. */
      publicUrl: pulumi.Input<string>;
      /** The region the server signs for. */
      region: string;
      accessKey: pulumi.Input<string>;
      secretKey: pulumi.Input<string>;
    }
  | {
      /** An S3 bucket reached through IRSA: no static credentials. */
      provider: "s3";
      bucket: pulumi.Input<string>;
      region: string;
      /** IAM role of the add-on's service account. */
      roleArn: pulumi.Input<string>;
    };

/** What an add-on asks of {@link createObjectStorage}. */
export interface ObjectStorageRequest {
  /** Resource name of the EKS bucket component. */
  name: string;
  /** Bucket on the kind S3 server (created with the cluster). */
  localBucket: string;
  /** Prefix of the generated S3 bucket name on EKS. */
  bucketPrefix: string;
  /** Days the add-on keeps its data; S3 expires objects a week later. */
  retentionDays: number;
  /** The only service account that may use the bucket on EKS (its IRSA role's subject). */
  serviceAccount: { namespace: string; name: string };
  /** Who the role is for, in its IAM description, e.g. `Velero server`. */
  description: string;
  /** The role's policy on EKS, given the bucket ARN. Default: objects of that bucket only. */
  accessPolicy?: (bucketArn: pulumi.Output<string>) => pulumi.Output<string>;
}

/**
 * An add-on's object storage, the one way for every add-on: a bucket on the S3 server next to kind, or an
 * S3 bucket with an IRSA role scoped to it on EKS. The AWS part (and with it @pulumi/aws) is imported only
 * on EKS stacks.
 */
export async function createObjectStorage(
  config: PlatformConfig,
  cluster: PlatformCluster,
  request: ObjectStorageRequest,
): Promise<ObjectStorage> {
  if (config.cluster.provider === "kind") {
    const kind = cluster as KindCluster;
    return {
      provider: "local-s3",
      bucket: kind.bucket(request.localBucket),
      s3Url: kind.s3ClusterUrl,
      publicUrl: kind.s3PublicUrl,
      region: kind.s3Region,
      accessKey: kind.s3AccessKey,
      secretKey: kind.s3SecretKey,
    };
  }
  const { ObjectStoreBucket } = await import("./object-store-bucket-aws");
  const eks = cluster as EksCluster;
  const bucket = new ObjectStoreBucket(request.name, {
    bucketPrefix: request.bucketPrefix,
    retentionDays: request.retentionDays,
    oidcProviderArn: eks.oidcProviderArn,
    oidcProviderUrl: eks.oidcProviderUrl,
    serviceAccount: request.serviceAccount,
    description: request.description,
    accessPolicy: request.accessPolicy,
    awsProvider: eks.awsProvider,
  });
  return {
    provider: "s3",
    bucket: bucket.bucketName,
    region: config.cluster.region,
    roleArn: bucket.roleArn,
  };
}

/** A service account's annotations for its storage: the IRSA role on EKS, none on kind. */
export function irsaAnnotations(storage: ResolvedStorage): Record<string, string> {
  return storage.provider === "s3" ? { "eks.amazonaws.com/role-arn": storage.roleArn } : {};
}

/** An S3 endpoint URL split the way Loki and Tempo want it: host[:port], and whether it is plain HTTP. */
export function s3Endpoint(url: string): { host: string; insecure: boolean } {
  const parsed = new URL(url);
  return { host: parsed.host, insecure: parsed.protocol === "http:" };
}

/** Object storage as Loki and Tempo are handed it once its outputs are known. */
export type ResolvedStorage =
  | { provider: "local-s3"; region: string; s3Url: string; credentialsSecret: string }
  | { provider: "s3"; region: string; roleArn: string };

/**
 * An object storage as a chart's values need it (Loki, Tempo): its bucket and settings once known and, on
 * kind, a Secret holding the S3 keys as environment variables (`env` names them), which the add-on expands
 * into its configuration, so that the keys never land in a ConfigMap.
 */
function storageForChart(
  resourceName: string,
  storage: ObjectStorage,
  args: {
    namespace: pulumi.Input<string>;
    secretName: string;
    env: { accessKey: string; secretKey: string };
    provider: k8s.Provider;
    parent: pulumi.Resource;
  },
): {
  credentials?: k8s.core.v1.Secret;
  resolved: pulumi.Output<{ bucket: string; storage: ResolvedStorage }>;
} {
  if (storage.provider === "s3") {
    return {
      resolved: pulumi.all([storage.bucket, storage.roleArn]).apply(([bucket, roleArn]) => ({
        bucket,
        storage: { provider: "s3" as const, region: storage.region, roleArn },
      })),
    };
  }
  const credentials = new k8s.core.v1.Secret(
    resourceName,
    {
      metadata: { name: args.secretName, namespace: args.namespace },
      type: "Opaque",
      stringData: pulumi.secret({
        [args.env.accessKey]: storage.accessKey,
        [args.env.secretKey]: storage.secretKey,
      }),
    },
    { parent: args.parent, provider: args.provider },
  );
  return {
    credentials,
    resolved: pulumi.all([storage.bucket, storage.s3Url]).apply(([bucket, s3Url]) => ({
      bucket,
      storage: {
        provider: "local-s3" as const,
        region: storage.region,
        s3Url,
        credentialsSecret: args.secretName,
      },
    })),
  };
}

/**
 * A pinned release of a chart that keeps its data in object storage (Loki, Tempo): the bucket and the
 * storage facts resolved (IRSA on EKS; on kind, a credentials Secret the install waits for), then the
 * release with the values `values` builds from them.
 */
export function releaseOnObjectStorage<V extends object>(
  resourceName: string,
  args: Omit<PinnedReleaseArgs<V>, "values"> & {
    storage: ObjectStorage;
    /** The kind credentials Secret: its resource name, object name and the env var names the chart reads. */
    credentials: { resourceName: string; secretName: string; env: { accessKey: string; secretKey: string } };
    values: (bucket: string, storage: ResolvedStorage) => V;
  },
): k8s.helm.v3.Release {
  const { storage, credentials: secret, values, ...release } = args;
  const { credentials, resolved } = storageForChart(secret.resourceName, storage, {
    namespace: args.namespace,
    secretName: secret.secretName,
    env: secret.env,
    provider: args.provider,
    parent: args.parent,
  });
  return pinnedRelease(resourceName, {
    ...release,
    values: resolved.apply(({ bucket, storage: resolvedStorage }) => values(bucket, resolvedStorage)),
    dependsOn: [...(args.dependsOn ?? []), ...(credentials ? [credentials] : [])],
  });
}

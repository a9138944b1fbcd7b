import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { PlatformConfig } from "../config";
import { addonNamespace, pinnedRelease, type ChartSource } from "./helm-release";
import type { PlatformCluster } from "../cluster/kubernetes-provider";
import { createObjectStorage, type ObjectStorage } from "./object-storage";

export const VELERO_CHART: ChartSource = {
  repo: "https://vmware-tanzu.github.io/helm-charts",
  chart: "velero",
};
/**
 * The AWS plugin (S3 object store, EBS snapshots), pinned by tag and digest: the plugin's compatibility
 * table pairs v1.14.x with Velero 1.18 (chart 12.x).
 */
export const VELERO_AWS_PLUGIN_IMAGE =
  // renovate: datasource=docker depName=velero/velero-plugin-for-aws
  "velero/velero-plugin-for-aws:v1.14.2@sha256:0751144c1c8e52d52c48717fbd13ad5a3061e612ae4d7ad744a946cd5b139d1a";
/** Velero's namespace and server service account: the IRSA role trusts exactly this pair. */
export const VELERO_NAMESPACE = "velero";
export const VELERO_SERVER_SERVICE_ACCOUNT = "velero-server";

/** Where backups go: for S3 on EKS, plus EBS volume snapshots. */
export type BackupStorage = ObjectStorage;

/** Arguments of {@link Backup}. */
export interface BackupArgs {
  /** Exact velero chart version (config `veleroChartVersion`). */
  chartVersion: string;
  /** The backup storage location (and, for S3, the volume snapshot location). */
  storage: BackupStorage;
  /** Cron schedule of the daily backup (config `backupSchedule`). */
  schedule: string;
  /** Days a scheduled backup is kept: its TTL (config `backupRetentionDays`). */
  retentionDays: number;
  /** Namespaces the schedule backs up (config `appNamespaces`). */
  includedNamespaces: readonly string[];
  /** The release installing the Prometheus Operator CRDs: the metrics ServiceMonitor is on and the install waits for it. Default: none. */
  monitoringCrds?: pulumi.Resource;
  /** Resources the install waits for, typically the cluster with its nodes. Default: none. */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
  /** The stack's Kubernetes provider. */
  provider: k8s.Provider;
}

interface BackupStorageLocation {
  name: string;
  provider: "aws";
  bucket: string;
  default: boolean;
  config: Record<string, string>;
}

/** The velero chart values this component sets (charts/velero/values.yaml). */
export interface VeleroValues {
  initContainers: Array<{
    name: string;
    image: string;
    imagePullPolicy: string;
    volumeMounts: Array<{ mountPath: string; name: string }>;
  }>;
  configuration: {
    backupStorageLocation: BackupStorageLocation[];
    volumeSnapshotLocation: Array<{ name: string; provider: "aws"; config: Record<string, string> }>;
  };
  credentials: { useSecret: boolean; existingSecret?: string };
  serviceAccount: { server: { create: boolean; name: string; annotations?: Record<string, string> } };
  backupsEnabled: boolean;
  snapshotsEnabled: boolean;
  deployNodeAgent: boolean;
  schedules: Record<
    string,
    {
      disabled: boolean;
      schedule: string;
      useOwnerReferencesInBackup: boolean;
      template: {
        ttl: string;
        includedNamespaces: string[];
        snapshotVolumes: boolean;
        storageLocation: string;
      };
    }
  >;
  metrics: { enabled: boolean; serviceMonitor: { enabled: boolean } };
}

/** Velero's release name; the schedule becomes the Schedule object "velero-daily". */
const RELEASE = "velero";

/**
 * Velero with the AWS plugin: backups to the local S3 server (kind) or to S3 through IRSA with EBS snapshots (EKS),
 * a daily schedule of the app namespaces kept for the configured number of days, and metrics.
 */
export class Backup extends pulumi.ComponentResource {
  public readonly namespace: pulumi.Output<string>;
  public readonly release: k8s.helm.v3.Release;
  /** Bucket the backups go to. */
  public readonly bucket: pulumi.Output<string>;

  constructor(name: string, args: BackupArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:addons:Backup", name, {}, opts);
    const storage = args.storage;

    // Velero's server needs no host access; the node agent (file-system backups) is not deployed.
    const namespace = addonNamespace(`${name}-ns`, {
      name: VELERO_NAMESPACE,
      podSecurity: "baseline",
      provider: args.provider,
      parent: this,
    });
    let credentialsSecret: pulumi.Output<string | undefined> = pulumi.output(undefined);
    if (storage.provider === "local-s3") {
      const secret = new k8s.core.v1.Secret(
        `${name}-credentials`,
        {
          metadata: { name: "velero-credentials", namespace: namespace.metadata.name },
          type: "Opaque",
          stringData: pulumi.secret({
            cloud: pulumi.interpolate`[default]\naws_access_key_id=${storage.accessKey}\naws_secret_access_key=${storage.secretKey}\n`,
          }),
        },
        { parent: this, provider: args.provider },
      );
      credentialsSecret = secret.metadata.name;
    }

    const values = pulumi
      .all([
        storage.bucket,
        storage.provider === "local-s3" ? storage.s3Url : "",
        storage.provider === "local-s3" ? storage.publicUrl : "",
        storage.provider === "s3" ? storage.roleArn : "",
        credentialsSecret,
      ])
      .apply(([bucket, s3Url, publicUrl, roleArn, existingSecret]) =>
        veleroValues({
          bucket,
          storage:
            storage.provider === "local-s3"
              ? {
                  provider: "local-s3",
                  region: storage.region,
                  s3Url,
                  publicUrl,
                  existingSecret: existingSecret as string,
                }
              : { provider: "s3", region: storage.region, roleArn },
          schedule: args.schedule,
          retentionDays: args.retentionDays,
          includedNamespaces: [...args.includedNamespaces],
          serviceMonitor: args.monitoringCrds !== undefined,
        }),
      );
    this.release = pinnedRelease(`${name}-release`, {
      source: VELERO_CHART,
      version: args.chartVersion,
      releaseName: RELEASE,
      namespace: namespace.metadata.name,
      values,
      provider: args.provider,
      parent: this,
      dependsOn: args.dependsOn,
      monitoringCrds: args.monitoringCrds,
    });

    this.namespace = namespace.metadata.name;
    this.bucket = pulumi.output(storage.bucket);
    this.registerOutputs({ namespace: this.namespace, bucket: this.bucket });
  }
}

/** The values of the velero chart for the given settings. */
export function veleroValues(settings: {
  bucket: string;
  storage:
    | { provider: "local-s3"; region: string; s3Url: string; publicUrl: string; existingSecret: string }
    | { provider: "s3"; region: string; roleArn: string };
  schedule: string;
  retentionDays: number;
  includedNamespaces: string[];
  serviceMonitor: boolean;
}): VeleroValues {
  const s = settings.storage;
  const onAws = s.provider === "s3";
  const location: BackupStorageLocation = {
    name: "default",
    provider: "aws",
    bucket: settings.bucket,
    default: true,
    config: onAws
      ? { region: s.region }
      : { region: s.region, s3ForcePathStyle: "true", s3Url: s.s3Url, publicUrl: s.publicUrl },
  };
  return {
    initContainers: [
      {
        name: "velero-plugin-for-aws",
        image: VELERO_AWS_PLUGIN_IMAGE,
        imagePullPolicy: "IfNotPresent",
        volumeMounts: [{ mountPath: "/target", name: "plugins" }],
      },
    ],
    configuration: {
      backupStorageLocation: [location],
      volumeSnapshotLocation: onAws
        ? [{ name: "default", provider: "aws", config: { region: s.region } }]
        : [],
    },
    // IRSA on EKS: the pod gets web-identity credentials for the role, no key ever leaves AWS.
    credentials: onAws ? { useSecret: false } : { useSecret: true, existingSecret: s.existingSecret },
    serviceAccount: {
      server: {
        create: true,
        name: VELERO_SERVER_SERVICE_ACCOUNT,
        ...(onAws ? { annotations: { "eks.amazonaws.com/role-arn": s.roleArn } } : {}),
      },
    },
    backupsEnabled: true,
    // kind's volumes are node-local paths that no snapshotter can take.
    snapshotsEnabled: onAws,
    deployNodeAgent: false,
    schedules: {
      daily: {
        disabled: false,
        schedule: settings.schedule,
        useOwnerReferencesInBackup: false,
        template: {
          ttl: `${settings.retentionDays * 24}h`,
          includedNamespaces: settings.includedNamespaces,
          snapshotVolumes: onAws,
          storageLocation: "default",
        },
      },
    },
    metrics: { enabled: true, serviceMonitor: { enabled: settings.serviceMonitor } },
  };
}

/**
 * Creates the stack's Backup: the S3 server next to the kind cluster, or an S3 bucket and IRSA role on EKS
 * (see createObjectStorage).
 */
export async function createBackup(
  config: PlatformConfig,
  cluster: PlatformCluster,
  options: Pick<BackupArgs, "monitoringCrds" | "dependsOn">,
): Promise<Backup> {
  const name = `${config.cluster.name}-backup`;
  const common = {
    chartVersion: config.charts.velero,
    schedule: config.addons.backup.schedule,
    retentionDays: config.addons.backup.retentionDays,
    includedNamespaces: config.gitops.appNamespaces,
    provider: cluster.provider,
    ...options,
  };
  const storage = await createObjectStorage(config, cluster, {
    name: `${name}-storage`,
    localBucket: "velero",
    bucketPrefix: `${config.cluster.name}-velero-`,
    retentionDays: config.addons.backup.retentionDays,
    serviceAccount: { namespace: VELERO_NAMESPACE, name: VELERO_SERVER_SERVICE_ACCOUNT },
    description: "Velero server",
    accessPolicy: veleroPolicy,
  });
  return new Backup(name, { ...common, storage });
}

/** Least privilege for Velero's AWS plugin: objects of one bucket, and EBS snapshots of volumes. */
export function veleroPolicy(bucketArn: pulumi.Input<string>): pulumi.Output<string> {
  return pulumi.jsonStringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "BackupObjects",
        Effect: "Allow",
        Action: [
          "s3:GetObject",
          "s3:PutObject",
          "s3:DeleteObject",
          "s3:AbortMultipartUpload",
          "s3:ListMultipartUploadParts",
        ],
        Resource: pulumi.interpolate`${bucketArn}/*`,
      },
      { Sid: "BackupBucket", Effect: "Allow", Action: ["s3:ListBucket"], Resource: bucketArn },
      {
        // EC2 snapshot actions cannot be scoped to volumes that do not exist yet.
        Sid: "VolumeSnapshots",
        Effect: "Allow",
        Action: [
          "ec2:DescribeVolumes",
          "ec2:DescribeSnapshots",
          "ec2:CreateTags",
          "ec2:CreateVolume",
          "ec2:CreateSnapshot",
          "ec2:DeleteSnapshot",
        ],
        Resource: "*",
      },
    ],
  });
}

// Loaded only by EKS stacks (see createBackup in components/addons/backup.ts): the dev stack never loads @pulumi/aws.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { irsaRole } from "../cluster/irsa-role";

/** Arguments of {@link BackupBucket}. */
export interface BackupBucketArgs {
  /** Prefix of the generated, globally unique bucket name. */
  bucketPrefix: string;
  /** Velero's backup TTL in days; S3 expires objects a week after it, as a safety net. */
  retentionDays: number;
  /** Days a deleted or overwritten object version stays recoverable. Default: 7. */
  noncurrentVersionDays?: number;
  /** The cluster's IAM OIDC provider (IRSA). */
  oidcProviderArn: pulumi.Input<string>;
  oidcProviderUrl: pulumi.Input<string>;
  /** The only service account that may assume the role: Velero's server. */
  serviceAccount: { namespace: string; name: string };
  /** The stack's explicit AWS provider. */
  awsProvider: aws.Provider;
}

/** Margin past Velero's own TTL, so S3 never deletes a backup Velero still lists. */
const LIFECYCLE_MARGIN_DAYS = 7;

/**
 * Velero's S3 storage on EKS: a private, encrypted, versioned bucket with lifecycle expiry and a
 * TLS-only policy, and an IRSA role for Velero's server service account with access to that bucket and
 * to EBS snapshots only.
 */
export class BackupBucket extends pulumi.ComponentResource {
  public readonly bucketName: pulumi.Output<string>;
  public readonly roleArn: pulumi.Output<string>;

  constructor(name: string, args: BackupBucketArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:addons:BackupBucket", name, {}, opts);
    const awsOpts = { parent: this, provider: args.awsProvider };

    // Backups outlive stacks by design: deleting the stack must not delete them (forceDestroy false).
    const bucket = new aws.s3.Bucket(
      `${name}-bucket`,
      { bucketPrefix: args.bucketPrefix, forceDestroy: false },
      awsOpts,
    );
    new aws.s3.BucketOwnershipControls(
      `${name}-ownership`,
      { bucket: bucket.bucket, rule: { objectOwnership: "BucketOwnerEnforced" } },
      awsOpts,
    );
    new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-sse`,
      { bucket: bucket.bucket, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] },
      awsOpts,
    );
    const versioning = new aws.s3.BucketVersioning(
      `${name}-versioning`,
      { bucket: bucket.bucket, versioningConfiguration: { status: "Enabled" } },
      awsOpts,
    );
    const publicAccess = new aws.s3.BucketPublicAccessBlock(
      `${name}-public-access`,
      {
        bucket: bucket.bucket,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
      awsOpts,
    );
    new aws.s3.BucketLifecycleConfiguration(
      `${name}-lifecycle`,
      {
        bucket: bucket.bucket,
        rules: [
          {
            id: "expire-past-retention",
            status: "Enabled",
            filter: {},
            expiration: { days: args.retentionDays + LIFECYCLE_MARGIN_DAYS },
          },
          {
            id: "expire-noncurrent-versions",
            status: "Enabled",
            filter: {},
            noncurrentVersionExpiration: { noncurrentDays: args.noncurrentVersionDays ?? 7 },
            abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
          },
        ],
      },
      { ...awsOpts, dependsOn: [versioning] },
    );
    new aws.s3.BucketPolicy(
      `${name}-tls-only`,
      {
        bucket: bucket.bucket,
        policy: pulumi.jsonStringify({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "DenyInsecureTransport",
              Effect: "Deny",
              Principal: "*",
              Action: "s3:*",
              Resource: [bucket.arn, pulumi.interpolate`${bucket.arn}/*`],
              Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
          ],
        }),
      },
      { ...awsOpts, dependsOn: [publicAccess] },
    );

    const { role } = irsaRole(name, {
      description: "Velero server",
      oidc: { arn: args.oidcProviderArn, url: args.oidcProviderUrl },
      serviceAccount: args.serviceAccount,
      policy: veleroPolicy(bucket.arn),
      awsProvider: args.awsProvider,
      parent: this,
    });

    this.bucketName = bucket.bucket;
    this.roleArn = role.arn;
    this.registerOutputs({ bucketName: this.bucketName, roleArn: this.roleArn });
  }
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

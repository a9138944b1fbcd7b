// Loaded only by EKS stacks (see createObjectStorage in components/addons/object-storage.ts): the dev stack never
// loads @pulumi/aws.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { irsaRole } from "../cluster/irsa-role";

/** Arguments of {@link ObjectStoreBucket}. */
export interface ObjectStoreBucketArgs {
  /** Prefix of the generated, globally unique bucket name. */
  bucketPrefix: string;
  /** How long the bucket's user keeps data, in days; S3 expires objects a week after it, as a safety net. */
  retentionDays: number;
  /** Days a deleted or overwritten object version stays recoverable. Default: 7. */
  noncurrentVersionDays?: number;
  /** The cluster's IAM OIDC provider (IRSA). */
  oidcProviderArn: pulumi.Input<string>;
  oidcProviderUrl: pulumi.Input<string>;
  /** The only service account that may assume the role. */
  serviceAccount: { namespace: string; name: string };
  /** Who the role is for, in its IAM description, e.g. `Velero server`. */
  description: string;
  /** What the role may do, given the bucket's ARN: a policy document. Default: {@link objectStorePolicy}. */
  accessPolicy?: (bucketArn: pulumi.Output<string>) => pulumi.Output<string>;
  /** The stack's explicit AWS provider. */
  awsProvider: aws.Provider;
}

/** Margin past the user's own retention, so S3 never deletes an object its user still lists. */
const LIFECYCLE_MARGIN_DAYS = 7;

/**
 * An add-on's S3 storage on EKS (Velero's backups, Loki's logs, Tempo's traces): a private, encrypted,
 * versioned bucket with lifecycle expiry and a TLS-only policy, and an IRSA role that only the add-on's
 * service account may assume, with access to that bucket (and what else `accessPolicy` names) only.
 */
export class ObjectStoreBucket extends pulumi.ComponentResource {
  public readonly bucketName: pulumi.Output<string>;
  public readonly roleArn: pulumi.Output<string>;

  constructor(name: string, args: ObjectStoreBucketArgs, opts?: pulumi.ComponentResourceOptions) {
    // Velero's bucket was created as a BackupBucket: the alias keeps it (and its data) across the rename.
    super(
      "gitops-platform:addons:ObjectStoreBucket",
      name,
      {},
      {
        ...opts,
        aliases: [...(opts?.aliases ?? []), { type: "gitops-platform:addons:BackupBucket" }],
      },
    );
    const awsOpts = { parent: this, provider: args.awsProvider };

    // Data outlives stacks by design: deleting the stack must not delete it (forceDestroy false).
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
      description: args.description,
      oidc: { arn: args.oidcProviderArn, url: args.oidcProviderUrl },
      serviceAccount: args.serviceAccount,
      policy: (args.accessPolicy ?? objectStorePolicy)(bucket.arn),
      awsProvider: args.awsProvider,
      parent: this,
    });

    this.bucketName = bucket.bucket;
    this.roleArn = role.arn;
    this.registerOutputs({ bucketName: this.bucketName, roleArn: this.roleArn });
  }
}

/** Least privilege for a store of objects (Loki, Tempo): read, write, delete and list one bucket's objects. */
export function objectStorePolicy(bucketArn: pulumi.Input<string>): pulumi.Output<string> {
  return pulumi.jsonStringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "Objects",
        Effect: "Allow",
        Action: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
        Resource: pulumi.interpolate`${bucketArn}/*`,
      },
      { Sid: "Bucket", Effect: "Allow", Action: ["s3:ListBucket"], Resource: bucketArn },
    ],
  });
}

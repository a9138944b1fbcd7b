// Loaded only by EKS stacks (see createExternalSecrets in components/addons/secrets.ts): dev never loads @pulumi/aws.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { irsaRole } from "../cluster/irsa-role";

/** Arguments of {@link SecretsManagerAccess}. */
export interface SecretsManagerAccessArgs {
  /** The stack's path in Secrets Manager, ending in "/": `gitops-platform/<stack>/`. */
  keyPrefix: string;
  /** Secrets to create under the prefix: name -> key -> value (Pulumi secrets), stored as JSON. */
  secrets: Record<string, Record<string, pulumi.Input<string>>>;
  /** The cluster's IAM OIDC provider (IRSA). */
  oidcProviderArn: pulumi.Input<string>;
  oidcProviderUrl: pulumi.Input<string>;
  /** The only service account that may assume the role: the secret store's. */
  serviceAccount: { namespace: string; name: string };
  /** The stack's explicit AWS provider. */
  awsProvider: aws.Provider;
}

/**
 * The AWS side of the stack's secret store: the app secrets in Secrets Manager under the stack's own
 * path, and an IRSA role for the store's service account that may read that path and nothing else.
 */
export class SecretsManagerAccess extends pulumi.ComponentResource {
  public readonly roleArn: pulumi.Output<string>;

  constructor(name: string, args: SecretsManagerAccessArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:addons:SecretsManagerAccess", name, {}, opts);
    if (!/^[\w/+=.@-]+\/$/.test(args.keyPrefix)) {
      throw new Error(
        `keyPrefix must be a Secrets Manager path ending in "/" (got ${JSON.stringify(args.keyPrefix)})`,
      );
    }
    const awsOpts = { parent: this, provider: args.awsProvider };
    for (const [secretName, data] of Object.entries(args.secrets)) {
      const secret = new aws.secretsmanager.Secret(
        `${name}-${secretName}`,
        {
          name: `${args.keyPrefix}${secretName}`,
          description: `Read by External Secrets (ClusterSecretStore) for the app namespaces`,
          recoveryWindowInDays: 7,
        },
        awsOpts,
      );
      new aws.secretsmanager.SecretVersion(
        `${name}-${secretName}`,
        { secretId: secret.id, secretString: pulumi.secret(pulumi.jsonStringify(data)) },
        awsOpts,
      );
    }
    const identity = aws.getCallerIdentityOutput({}, awsOpts);
    const region = aws.getRegionOutput({}, awsOpts);
    const partition = aws.getPartitionOutput({}, awsOpts);
    const { role } = irsaRole(name, {
      description: `External Secrets store, ${args.keyPrefix}*`,
      oidc: { arn: args.oidcProviderArn, url: args.oidcProviderUrl },
      serviceAccount: args.serviceAccount,
      policy: secretsReadPolicy(
        pulumi.interpolate`arn:${partition.partition}:secretsmanager:${region.region}:${identity.accountId}:secret:${args.keyPrefix}*`,
      ),
      awsProvider: args.awsProvider,
      parent: this,
    });
    this.roleArn = role.arn;
    this.registerOutputs({ roleArn: this.roleArn });
  }
}

/** Read access to the secrets matching one ARN pattern (the stack's path), nothing else. */
export function secretsReadPolicy(secretArnPattern: pulumi.Input<string>): pulumi.Output<string> {
  return pulumi.jsonStringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "ReadStackSecrets",
        Effect: "Allow",
        Action: ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
        Resource: secretArnPattern,
      },
    ],
  });
}

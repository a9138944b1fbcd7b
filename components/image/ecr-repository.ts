// Loaded only by stacks that push to ECR (EKS stacks): see components/image/image-registry.ts.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/** Arguments of {@link EcrRepository}. */
export interface EcrRepositoryArgs {
  /** Repository name, e.g. "gitops-prod/demo-app". */
  repositoryName: string;
  /** Images kept by the lifecycle rule; older ones expire. Default: 30. */
  keepImages?: number;
  /** The stack's explicit AWS provider. */
  awsProvider: aws.Provider;
}

/**
 * An ECR repository with scan-on-push, immutable tags and a lifecycle rule. No push credentials: the
 * builder logs in itself (deploy.yml with the job's role), so no registry token is kept in the state and
 * no per-run token makes the image look changed (with immutable tags, a rebuild of the same content
 * hash tag would be refused).
 */
export class EcrRepository extends pulumi.ComponentResource {
  public readonly repositoryUrl: pulumi.Output<string>;
  /** The registry host, `<account>.dkr.ecr.<region>.amazonaws.com`. */
  public readonly registryAddress: pulumi.Output<string>;

  constructor(name: string, args: EcrRepositoryArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:app:EcrRepository", name, {}, opts);
    const awsOpts = { parent: this, provider: args.awsProvider };
    const repository = new aws.ecr.Repository(
      `${name}-repo`,
      {
        name: args.repositoryName,
        imageScanningConfiguration: { scanOnPush: true },
        imageTagMutability: "IMMUTABLE",
        encryptionConfigurations: [{ encryptionType: "AES256" }],
        forceDelete: false,
      },
      awsOpts,
    );
    new aws.ecr.LifecyclePolicy(
      `${name}-lifecycle`,
      {
        repository: repository.name,
        policy: JSON.stringify({
          rules: [
            {
              rulePriority: 1,
              description: `keep the last ${args.keepImages ?? 30} images`,
              selection: {
                tagStatus: "any",
                countType: "imageCountMoreThan",
                countNumber: args.keepImages ?? 30,
              },
              action: { type: "expire" },
            },
          ],
        }),
      },
      awsOpts,
    );
    this.repositoryUrl = repository.repositoryUrl;
    this.registryAddress = repository.repositoryUrl.apply((url) => url.split("/")[0] as string);
    this.registerOutputs({ repositoryUrl: this.repositoryUrl, registryAddress: this.registryAddress });
  }
}

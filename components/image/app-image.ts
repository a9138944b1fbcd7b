import * as dockerBuild from "@pulumi/docker-build";
import * as pulumi from "@pulumi/pulumi";

/** Arguments of {@link AppImage}. */
export interface AppImageArgs {
  /** Build context (the directory holding the Dockerfile). */
  context: string;
  /** Repository to push to, without tag: `localhost:5001/demo-app`, `ghcr.io/org/demo-app`, an ECR URL. */
  repository: pulumi.Input<string>;
  /** Image tag, the build context's content hash (see imageTag). */
  tag: string;
  /** Target platforms. Default: the builder's own platform (a local registry needs nothing more). */
  platforms?: dockerBuild.Platform[];
  /**
   * Registry credentials; omit to push with the builder's own login (the local registry needs none; CI
   * logs in to GHCR with the job's token). Password must be a secret.
   */
  registry?: {
    address: pulumi.Input<string>;
    username: pulumi.Input<string>;
    password: pulumi.Input<string>;
  };
  /** Build arguments, e.g. BUILD_IMAGE and RUNTIME_IMAGE to use other base images. Default: none. */
  buildArgs?: Record<string, pulumi.Input<string>>;
}

/**
 * Builds the app from its Dockerfile with BuildKit and pushes it; `ref` is the digest-pinned reference
 * (`repository@sha256:...`) that deployments use, so a re-pushed tag can never change what runs.
 */
export class AppImage extends pulumi.ComponentResource {
  /** `repository:tag`. */
  public readonly taggedRef: pulumi.Output<string>;
  /** `repository@sha256:...`, immutable. */
  public readonly ref: pulumi.Output<string>;
  public readonly repository: pulumi.Output<string>;
  public readonly tag: pulumi.Output<string>;
  public readonly digest: pulumi.Output<string>;

  constructor(name: string, args: AppImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:app:AppImage", name, {}, opts);
    this.repository = pulumi.output(args.repository);
    this.tag = pulumi.output(args.tag);
    this.taggedRef = pulumi.interpolate`${args.repository}:${args.tag}`;

    const image = new dockerBuild.Image(
      `${name}-image`,
      {
        context: { location: args.context },
        dockerfile: { location: `${args.context}/Dockerfile` },
        tags: [this.taggedRef],
        platforms: args.platforms,
        buildArgs: args.buildArgs,
        push: true,
        // A preview must not need a Docker daemon (pull-request previews, forks).
        buildOnPreview: false,
        registries: args.registry ? [args.registry] : undefined,
        labels: { "org.opencontainers.image.version": args.tag },
      },
      { parent: this },
    );
    this.digest = image.digest;
    this.ref = pulumi.interpolate`${args.repository}@${image.digest}`;
    this.registerOutputs({ ref: this.ref, taggedRef: this.taggedRef, digest: this.digest });
  }
}

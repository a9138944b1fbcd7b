/**
 * Build once, promote the digest. A stack's app image comes from one of three places:
 *
 *   built     staging (and dev): built from app/ and pushed to the stack's registry (AppImage);
 *   promoted  prod: the digest the source stack (config `promoteFromStack`) runs, read from that stack's
 *             outputs and copied by digest into this stack's registry; never rebuilt;
 *   pinned    any stack: config `appImagePin` (set by `npm run rollback`) names a digest this stack
 *             deployed before; nothing is built or copied, and later deploys keep it until it is cleared.
 *
 * Every stack exports its image and the history of the images it deployed (IMAGE_OUTPUTS), which
 * promotion and rollback read.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { PlatformCluster } from "../cluster/kubernetes-provider";
import type { PlatformConfig } from "../config";
import {
  appendHistory,
  DIGEST,
  IMAGE_OUTPUTS,
  parseHistory,
  resolvePin,
  type DeployedImage,
} from "./image-history";
import { createAppImage, imageDestination, type ImageDestination } from "./image-registry";

/** The app image of a stack, however it got there. */
export interface StackImage {
  repository: pulumi.Output<string>;
  tag: pulumi.Output<string>;
  digest: pulumi.Output<string>;
  /** `repository@digest`; waits for the push or copy. */
  ref: pulumi.Output<string>;
  /** Where the image came from when this stack did not build it (for the image commit). Default: built here. */
  origin?: string;
  /** The images this stack deployed, oldest first, this one last (the `deployedImages` output). */
  history: pulumi.Output<DeployedImage[]>;
}

/** Refuses a promotion whose expected digest (PROMOTE_DIGEST) is not the one the source stack runs. */
export function checkPromotion(sourceStack: string, runs: string, expected: string | undefined): void {
  if (runs === undefined || !DIGEST.test(runs)) {
    throw new Error(
      `promotion from "${sourceStack}": its output ${IMAGE_OUTPUTS.digest} is ${JSON.stringify(runs)}, not an image digest; deploy that stack first`,
    );
  }
  if (expected !== undefined && expected !== runs) {
    throw new Error(
      `promotion refused: ${expected} is not the digest stack "${sourceStack}" runs (${runs}); ` +
        "only what the source stack runs can be promoted",
    );
  }
}

/** The stack's own name in `org/project/stack` (its environment here: one stack per env). */
const stackShortName = (stack: string) => stack.split("/").pop() as string;

/** The fully qualified name of the running stack, for reading its own last outputs. */
function selfStackName(): string {
  return `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
}

/** Arguments of {@link PromotedImage}. */
export interface PromotedImageArgs {
  /** The stack whose running image is promoted, e.g. "organization/gitops-platform/staging". */
  sourceStack: string;
  /** The digest the caller means to promote (PROMOTE_DIGEST); refused unless the source runs it. Default: whatever it runs. */
  expectedDigest?: string;
  /** This stack's registry: the image is copied there by digest when it is another repository. */
  destination: ImageDestination;
}

/**
 * The image the source stack runs, copied by digest into this stack's registry (skopeo, every platform,
 * digests preserved, the copy's manifest digest checked): the bytes prod runs are the bytes staging ran.
 * The copy is keyed on the digest and the destination, so it runs once per promoted image.
 */
export class PromotedImage extends pulumi.ComponentResource {
  public readonly repository: pulumi.Output<string>;
  public readonly tag: pulumi.Output<string>;
  public readonly digest: pulumi.Output<string>;
  public readonly ref: pulumi.Output<string>;
  /** The source repository the image was copied from. */
  public readonly sourceRepository: pulumi.Output<string>;

  constructor(name: string, args: PromotedImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:image:PromotedImage", name, {}, opts);
    const source = new pulumi.StackReference(`${name}-source`, { name: args.sourceStack }, { parent: this });
    this.sourceRepository = source.requireOutput(IMAGE_OUTPUTS.repository) as pulumi.Output<string>;
    this.tag = source.requireOutput(IMAGE_OUTPUTS.tag) as pulumi.Output<string>;
    this.digest = (source.requireOutput(IMAGE_OUTPUTS.digest) as pulumi.Output<string>).apply((runs) => {
      checkPromotion(args.sourceStack, runs, args.expectedDigest);
      return runs;
    });
    this.repository = pulumi.output(args.destination.repository);
    const copy = new command.local.Command(
      `${name}-copy`,
      {
        create: COPY_SCRIPT,
        environment: {
          SRC_REPO: this.sourceRepository,
          DST_REPO: this.repository,
          TAG: this.tag,
          DIGEST: this.digest,
        },
        triggers: [this.digest, this.repository],
      },
      { parent: this, dependsOn: args.destination.dependsOn },
    );
    this.ref = pulumi.interpolate`${copy.stdout.apply(() => "")}${this.repository}@${this.digest}`;
    this.registerOutputs({ ref: this.ref, digest: this.digest, sourceRepository: this.sourceRepository });
  }
}

/**
 * Copies SRC_REPO@DIGEST to DST_REPO:TAG with every platform and the digest preserved, then checks the
 * destination serves a manifest with that very digest; prints the digest. Same repository: nothing to copy.
 * Both registries are read and written with the caller's own login (skopeo falls back to Docker's
 * config.json): deploy.yml logs in to GHCR with the job's token and to ECR with the job's role, so no
 * registry credential is kept in the state.
 */
const COPY_SCRIPT = `set -eu
if [ "$SRC_REPO" = "$DST_REPO" ]; then echo "$DIGEST"; exit 0; fi
command -v skopeo >/dev/null 2>&1 || { echo "skopeo is needed to copy $SRC_REPO@$DIGEST to $DST_REPO (apt-get install skopeo)" >&2; exit 1; }
skopeo copy --all --preserve-digests "docker://$SRC_REPO@$DIGEST" "docker://$DST_REPO:$TAG" >&2
got="sha256:$(skopeo inspect --raw "docker://$DST_REPO@$DIGEST" | sha256sum | cut -d' ' -f1)"
[ "$got" = "$DIGEST" ] || { echo "$DST_REPO serves $got for $DIGEST" >&2; exit 1; }
echo "$DIGEST"`;

/** The stack's app image: pinned, promoted or built (see the module comment), with its history. */
export async function createStackImage(
  config: PlatformConfig,
  cluster: PlatformCluster,
): Promise<StackImage> {
  const name = `${config.cluster.name}-app`;
  // The stack's own last outputs: what it deployed before.
  const previous = new pulumi.StackReference(`${name}-history`, { name: selfStackName() })
    .getOutput(IMAGE_OUTPUTS.history)
    .apply(parseHistory);

  // The stack's registry exists in every mode: a pin or a promotion must never drop (and so delete) the
  // ECR repository that holds the images it points at.
  const destination = await imageDestination(config, cluster);
  let image: Omit<StackImage, "history">;
  if (config.appImage.pin) {
    const pin = config.appImage.pin;
    const pinned = previous.apply((history) => resolvePin(pin, history, config.stack));
    image = {
      repository: pinned.repository,
      tag: pinned.tag,
      digest: pinned.digest,
      ref: pulumi.interpolate`${pinned.repository}@${pinned.digest}`,
      origin: "pinned by npm run rollback (appImagePin)",
    };
  } else if (config.promotion) {
    const from = config.promotion.fromStack;
    const promoted = new PromotedImage(`${name}-promotion`, {
      sourceStack: from,
      expectedDigest: process.env.PROMOTE_DIGEST || undefined,
      destination,
    });
    image = {
      repository: promoted.repository,
      tag: promoted.tag,
      digest: promoted.digest,
      ref: promoted.ref,
      origin: `promoted from ${stackShortName(from)}`,
    };
  } else {
    const built = await createAppImage(config, cluster, destination);
    image = {
      repository: built.repository,
      tag: built.tag,
      digest: built.digest,
      ref: built.ref,
    };
  }
  const history = pulumi
    .all([previous, image.repository, image.tag, image.digest])
    .apply(([before, repository, tag, digest]) => appendHistory(before, { repository, tag, digest }));
  return { ...image, history };
}

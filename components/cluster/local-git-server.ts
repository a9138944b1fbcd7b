import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as path from "node:path";
import { LOCAL_GIT_SERVER, localGitServerName } from "../config";
import { sha256, treeDigest } from "../gitops/git-writer";
import { KIND_NETWORK } from "./kind-cluster";

/** The git server's build context: gitserver/ at the repository root. */
export const GIT_SERVER_CONTEXT = path.resolve(__dirname, "../../gitserver");
/** The user allowed to push. */
export const GIT_PUSH_USER = "pulumi";

/** Arguments of {@link LocalGitServer}. */
export interface LocalGitServerArgs {
  /** kind cluster name; names the container (`<cluster>-git`), its image and its volume. */
  clusterName: string;
  /** Host port on 127.0.0.1 that Pulumi pushes to (and you can clone from). */
  hostPort: number;
  /** Base image of gitserver/Dockerfile (its BASE_IMAGE build argument), with an exact tag. */
  baseImage: string;
  /** Branch the repository's HEAD points at. Default: "main". */
  defaultBranch?: string;
  /** Argo CD's webhook as the kind network reaches it, e.g. http://<cluster>-control-plane:30081/api/webhook. */
  webhookUrl: pulumi.Input<string>;
  /** The shared webhook secret (argocd-secret `webhook.github.secret`); kept secret. */
  webhookSecret: pulumi.Input<string>;
  /** Resources the container waits for (the kind cluster, whose network it joins). */
  dependsOn?: pulumi.Resource[];
}

/**
 * The dev stack's GitOps repository: a container built from gitserver/Dockerfile, on the kind network
 * as `<cluster>-git` (Argo CD reads over smart HTTP, anonymously), published on 127.0.0.1:<hostPort>
 * (Pulumi pushes, with a generated password), its data in a named Docker volume that outlives the
 * container and the cluster, and a post-receive hook that sends Argo CD a signed push event.
 */
export class LocalGitServer extends pulumi.ComponentResource {
  /** The repository URL Argo CD holds (over the kind network). */
  public readonly repoUrl: string;
  /** The URL Pulumi pushes to (over the host port). */
  public readonly pushUrl: string;
  /** `Authorization: Basic ...` for pushes; a secret output. */
  public readonly pushAuthHeader: pulumi.Output<string>;
  /** The push password of user {@link GIT_PUSH_USER} (for a revert by hand); a secret output. */
  public readonly pushPassword: pulumi.Output<string>;
  /** The container; commits wait for it. */
  public readonly container: docker.Container;
  /** Name of the Docker volume holding the repository. */
  public readonly volumeName: pulumi.Output<string>;

  constructor(name: string, args: LocalGitServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:cluster:LocalGitServer", name, {}, opts);
    const containerName = localGitServerName(args.clusterName);
    const repoPath = `/git/${LOCAL_GIT_SERVER.repository}`;
    this.repoUrl = `http://${containerName}:${LOCAL_GIT_SERVER.containerPort}${repoPath}`;
    this.pushUrl = `http://127.0.0.1:${args.hostPort}${repoPath}`;

    // The image tag follows the build context and base image, so a change to either rebuilds and
    // replaces the container (the volume, and with it the history, stays).
    const imageTag = `gitops-platform/${containerName}:${treeDigest(GIT_SERVER_CONTEXT).slice(0, 12)}-${sha256(args.baseImage).slice(0, 8)}`;
    const image = new command.local.Command(
      `${name}-image`,
      {
        create: `docker build --quiet --build-arg BASE_IMAGE="$BASE_IMAGE" --tag "$IMAGE_TAG" "$CONTEXT" >/dev/null && echo "$IMAGE_TAG"`,
        delete: `docker image rm "$IMAGE_TAG" >/dev/null 2>&1 || true`,
        environment: { BASE_IMAGE: args.baseImage, IMAGE_TAG: imageTag, CONTEXT: GIT_SERVER_CONTEXT },
        triggers: [imageTag],
      },
      { parent: this, customTimeouts: { create: "10m" } },
    );

    const password = new random.RandomPassword(
      `${name}-push-password`,
      { length: 32, special: false },
      { parent: this },
    );
    this.pushPassword = pulumi.secret(password.result);
    this.pushAuthHeader = pulumi.secret(
      password.result.apply(
        (p) => `Authorization: Basic ${Buffer.from(`${GIT_PUSH_USER}:${p}`).toString("base64")}`,
      ),
    );

    const volume = new docker.Volume(
      `${name}-data`,
      {
        name: `${containerName}-data`,
        labels: [{ label: "gitops-platform.cluster", value: args.clusterName }],
      },
      // Deleting the volume deletes the deploy history: `pulumi destroy` keeps it; `docker volume rm` removes it.
      { parent: this, retainOnDelete: true },
    );
    this.volumeName = volume.name;

    this.container = new docker.Container(
      `${name}-container`,
      {
        name: containerName,
        image: imageTag,
        restart: "always",
        // Locked down like the e2e runs it: read-only root, no capabilities, runtime files on tmpfs.
        readOnly: true,
        tmpfs: { "/run/gitserver": "uid=10001,gid=10001,mode=0700", "/tmp": "", "/var/tmp": "" },
        capabilities: { drops: ["ALL"] },
        securityOpts: ["no-new-privileges"],
        memory: 256,
        envs: [
          `GIT_REPOSITORY=${LOCAL_GIT_SERVER.repository}`,
          `GIT_DEFAULT_BRANCH=${args.defaultBranch ?? "main"}`,
          `GIT_PUBLIC_URL=${this.repoUrl}`,
          `GIT_PUSH_USER=${GIT_PUSH_USER}`,
          pulumi.interpolate`GIT_PUSH_PASSWORD=${password.result}`,
          pulumi.interpolate`WEBHOOK_URL=${args.webhookUrl}`,
          pulumi.interpolate`WEBHOOK_SECRET=${args.webhookSecret}`,
          `LISTEN_PORT=${LOCAL_GIT_SERVER.containerPort}`,
        ],
        ports: [{ internal: LOCAL_GIT_SERVER.containerPort, external: args.hostPort, ip: "127.0.0.1" }],
        volumes: [{ volumeName: volume.name, containerPath: "/srv/git" }],
        networksAdvanced: [{ name: KIND_NETWORK, aliases: [containerName] }],
        labels: [{ label: "gitops-platform.cluster", value: args.clusterName }],
      },
      {
        parent: this,
        dependsOn: [image, ...(args.dependsOn ?? [])],
        additionalSecretOutputs: ["envs"],
        deleteBeforeReplace: true,
      },
    );

    this.registerOutputs({ repoUrl: this.repoUrl, pushUrl: this.pushUrl, volumeName: this.volumeName });
  }
}

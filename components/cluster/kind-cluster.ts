import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { stringify } from "yaml";
import { createKubernetesProvider, type PlatformCluster } from "./kubernetes-provider";

/** Arguments of {@link KindCluster}. */
export interface KindClusterArgs {
  /** kind cluster name; also prefixes the registry and S3 server container names. */
  clusterName: string;
  /** kindest/node image pinned by tag and digest. */
  nodeImage: string;
  /** Worker nodes besides the control plane. Default: 1. */
  workerNodes?: number;
  /** NodePorts published on 127.0.0.1 at the same port number (app, Argo CD, Grafana). */
  nodePorts: readonly number[];
  /** Local registry: host port (default 5001) and exact image. */
  registry: { port?: number; image: string };
  /** The S3 server Velero backs up to (Versity S3 Gateway): host port (default 9000) and pinned image. */
  s3: { port?: number; image: string };
  /** Bucket created on the S3 server for backups. Default: "velero". */
  backupBucket?: string;
  /** Further buckets created on the S3 server (Loki's logs, Tempo's traces). Default: none. */
  extraBuckets?: readonly string[];
}

/** Name of the Docker network kind creates and attaches its nodes to. */
export const KIND_NETWORK = "kind";
const REGISTRY_CONTAINER_PORT = 5000;
const S3_CONTAINER_PORT = 9000;
/** The region the S3 server signs for; Velero's backup location must name the same one. */
const LOCAL_S3_REGION = "us-east-1";
/** Where the S3 server's posix backend keeps its buckets (one directory per bucket). */
const S3_DATA_DIR = "/data";

/**
 * A local Kubernetes cluster in Docker for the dev stack: the kind cluster (created and deleted through
 * the kind CLI with its config piped as YAML), a local image registry wired into the nodes per the kind
 * local-registry convention (KEP-1755), and an S3 endpoint for Velero (Versity S3 Gateway on a volume).
 */
export class KindCluster extends pulumi.ComponentResource implements PlatformCluster {
  public readonly clusterName: pulumi.Output<string>;
  public readonly kubeconfig: pulumi.Output<string>;
  public readonly provider: k8s.Provider;
  /** Registry address as seen from the host and from the nodes: `localhost:<port>`. */
  public readonly registryHost: pulumi.Output<string>;
  /** S3 endpoint as the cluster's pods reach it (over the kind network). */
  public readonly s3ClusterUrl: pulumi.Output<string>;
  /** S3 endpoint as the host reaches it (for `velero describe/logs`). */
  public readonly s3PublicUrl: pulumi.Output<string>;
  /** S3 credentials; secret outputs. */
  public readonly s3AccessKey: pulumi.Output<string>;
  public readonly s3SecretKey: pulumi.Output<string>;
  /** The region the S3 server signs for. */
  public readonly s3Region = LOCAL_S3_REGION;
  /** Bucket for backups. */
  public readonly backupBucket: pulumi.Output<string>;
  private readonly bucketsCreated: pulumi.Output<string>;

  constructor(name: string, args: KindClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:cluster:KindCluster", name, {}, opts);
    const registryPort = args.registry.port ?? 5001;
    const s3Port = args.s3.port ?? 9000;
    const bucket = args.backupBucket ?? "velero";
    const registryContainerName = `${args.clusterName}-registry`;
    const s3ContainerName = `${args.clusterName}-s3`;
    const registryHost = `localhost:${registryPort}`;

    const kindConfig = stringify(kindClusterConfig(args));
    const cluster = new command.local.Command(
      `${name}-kind`,
      {
        // stdout carries only the kubeconfig; kind's progress goes to stderr.
        create: `kind create cluster --name ${args.clusterName} --config - --wait 180s 1>&2 && kind get kubeconfig --name ${args.clusterName}`,
        delete: `kind delete cluster --name ${args.clusterName}`,
        stdin: kindConfig,
        // Any change to the cluster config replaces the cluster: kind cannot update one in place.
        triggers: [kindConfig],
      },
      { parent: this, additionalSecretOutputs: ["stdout"], customTimeouts: { create: "10m" } },
    );
    this.kubeconfig = pulumi.secret(cluster.stdout);
    this.provider = createKubernetesProvider(name, this.kubeconfig, this);

    const registry = new docker.Container(
      `${name}-registry`,
      {
        name: registryContainerName,
        image: args.registry.image,
        restart: "always",
        ports: [{ internal: REGISTRY_CONTAINER_PORT, external: registryPort, ip: "127.0.0.1" }],
        // The kind network exists only once the cluster does.
        networksAdvanced: [{ name: KIND_NETWORK, aliases: [registryContainerName] }],
        labels: [{ label: "gitops-platform.cluster", value: args.clusterName }],
      },
      { parent: this, dependsOn: [cluster], deleteBeforeReplace: true },
    );

    // containerd on every node resolves localhost:<port> to the registry container over the kind network
    // (node images of kind v0.27 and later read /etc/containerd/certs.d without a config patch).
    const hostsToml = `[host."http://${registryContainerName}:${REGISTRY_CONTAINER_PORT}"]\n`;
    const registryMirror = new command.local.Command(
      `${name}-registry-mirror`,
      {
        create: [
          `for node in $(kind get nodes --name ${args.clusterName}); do`,
          `  docker exec "$node" mkdir -p /etc/containerd/certs.d/${registryHost} &&`,
          `  docker exec -i "$node" cp /dev/stdin /etc/containerd/certs.d/${registryHost}/hosts.toml <<'TOML' || exit 1`,
          hostsToml.trimEnd(),
          "TOML",
          "done",
        ].join("\n"),
        triggers: [cluster.id, registry.id],
      },
      { parent: this, dependsOn: [registry] },
    );

    // KEP-1755: tells tools (Tilt, skaffold, humans) where the cluster's local registry is.
    new k8s.core.v1.ConfigMap(
      `${name}-local-registry-hosting`,
      {
        metadata: { name: "local-registry-hosting", namespace: "kube-public" },
        data: {
          "localRegistryHosting.v1": stringify({
            host: registryHost,
            help: "https://kind.sigs.k8s.io/docs/user/local-registry/",
          }),
        },
      },
      { parent: this, provider: this.provider, dependsOn: [registryMirror] },
    );

    const accessKey = new random.RandomPassword(
      `${name}-s3-access-key`,
      { length: 20, special: false },
      { parent: this },
    );
    const secretKey = new random.RandomPassword(
      `${name}-s3-secret-key`,
      { length: 40, special: false },
      { parent: this },
    );
    const s3Data = new docker.Volume(
      `${name}-s3-data`,
      { name: `${s3ContainerName}-data` },
      { parent: this },
    );
    const s3 = new docker.Container(
      `${name}-s3`,
      {
        name: s3ContainerName,
        image: args.s3.image,
        restart: "always",
        // The image's entrypoint runs `versitygw <args>`: the posix backend, one directory per bucket.
        command: ["posix", S3_DATA_DIR],
        envs: [
          pulumi.interpolate`ROOT_ACCESS_KEY_ID=${accessKey.result}`,
          pulumi.interpolate`ROOT_SECRET_ACCESS_KEY=${secretKey.result}`,
          `VGW_PORT=:${S3_CONTAINER_PORT}`,
          `VGW_REGION=${LOCAL_S3_REGION}`,
        ],
        ports: [{ internal: S3_CONTAINER_PORT, external: s3Port, ip: "127.0.0.1" }],
        volumes: [{ volumeName: s3Data.name, containerPath: S3_DATA_DIR }],
        networksAdvanced: [{ name: KIND_NETWORK, aliases: [s3ContainerName] }],
        labels: [{ label: "gitops-platform.cluster", value: args.clusterName }],
      },
      { parent: this, dependsOn: [cluster], additionalSecretOutputs: ["envs"] },
    );
    // A bucket of the posix backend is a top-level directory; no S3 client (and no credentials) needed.
    const s3Bucket = new command.local.Command(
      `${name}-s3-bucket`,
      {
        create: `docker exec ${s3ContainerName} mkdir -p ${[bucket, ...(args.extraBuckets ?? [])].map((b) => `${S3_DATA_DIR}/${b}`).join(" ")}`,
        triggers: [s3.id],
      },
      { parent: this },
    );

    this.clusterName = pulumi.output(args.clusterName);
    this.registryHost = pulumi.output(registryHost);
    this.s3ClusterUrl = pulumi.output(`http://${s3ContainerName}:${S3_CONTAINER_PORT}`);
    this.s3PublicUrl = pulumi.output(`http://localhost:${s3Port}`);
    this.s3AccessKey = pulumi.secret(accessKey.result);
    this.s3SecretKey = pulumi.secret(secretKey.result);
    this.bucketsCreated = s3Bucket.stdout;
    this.backupBucket = this.bucket(bucket);

    this.registerOutputs({
      clusterName: this.clusterName,
      kubeconfig: this.kubeconfig,
      registryHost: this.registryHost,
      s3ClusterUrl: this.s3ClusterUrl,
      s3PublicUrl: this.s3PublicUrl,
      backupBucket: this.backupBucket,
    });
  }

  /** A bucket of the S3 server (the backup bucket or one of `extraBuckets`), once it exists. */
  public bucket(name: string): pulumi.Output<string> {
    return this.bucketsCreated.apply(() => name);
  }
}

/** The kind `Cluster` config: one control plane publishing the NodePorts on loopback, N workers. */
export function kindClusterConfig(args: KindClusterArgs): Record<string, unknown> {
  const workers = Array.from({ length: args.workerNodes ?? 1 }, () => ({
    role: "worker",
    image: args.nodeImage,
  }));
  return {
    kind: "Cluster",
    apiVersion: "kind.x-k8s.io/v1alpha4",
    name: args.clusterName,
    nodes: [
      {
        role: "control-plane",
        image: args.nodeImage,
        extraPortMappings: args.nodePorts.map((port) => ({
          containerPort: port,
          hostPort: port,
          listenAddress: "127.0.0.1",
          protocol: "TCP",
        })),
      },
      ...workers,
    ],
  };
}

import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { stringify } from "yaml";
import { createKubernetesProvider, type PlatformCluster } from "./kubernetes-provider";

/** Arguments of {@link KindCluster}. */
export interface KindClusterArgs {
  /** kind cluster name; also prefixes the registry and MinIO container names. */
  clusterName: string;
  /** kindest/node image pinned by tag and digest. */
  nodeImage: string;
  /** Worker nodes besides the control plane. Default: 1. */
  workerNodes?: number;
  /** NodePorts published on 127.0.0.1 at the same port number (app, Argo CD, Grafana). */
  nodePorts: readonly number[];
  /** Local registry: host port (default 5001) and exact image. */
  registry: { port?: number; image: string };
  /** MinIO for Velero: host port (default 9000) and exact image. */
  minio: { port?: number; image: string };
  /** Bucket created in MinIO for backups. Default: "velero". */
  backupBucket?: string;
}

/** Name of the Docker network kind creates and attaches its nodes to. */
export const KIND_NETWORK = "kind";
const REGISTRY_CONTAINER_PORT = 5000;

/**
 * A local Kubernetes cluster in Docker for the dev stack: the kind cluster (created and deleted through
 * the kind CLI with its config piped as YAML), a local image registry wired into the nodes per the kind
 * local-registry convention (KEP-1755), and a MinIO S3 endpoint for Velero.
 */
export class KindCluster extends pulumi.ComponentResource implements PlatformCluster {
  public readonly clusterName: pulumi.Output<string>;
  public readonly kubeconfig: pulumi.Output<string>;
  public readonly provider: k8s.Provider;
  /** Registry address as seen from the host and from the nodes: `localhost:<port>`. */
  public readonly registryHost: pulumi.Output<string>;
  /** MinIO S3 endpoint as the cluster's pods reach it (over the kind network). */
  public readonly minioClusterUrl: pulumi.Output<string>;
  /** MinIO S3 endpoint as the host reaches it (for `velero describe/logs`). */
  public readonly minioPublicUrl: pulumi.Output<string>;
  /** MinIO credentials; secret outputs. */
  public readonly minioAccessKey: pulumi.Output<string>;
  public readonly minioSecretKey: pulumi.Output<string>;
  /** Bucket for backups. */
  public readonly backupBucket: pulumi.Output<string>;

  constructor(name: string, args: KindClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:cluster:KindCluster", name, {}, opts);
    const registryPort = args.registry.port ?? 5001;
    const minioPort = args.minio.port ?? 9000;
    const bucket = args.backupBucket ?? "velero";
    const registryContainerName = `${args.clusterName}-registry`;
    const minioContainerName = `${args.clusterName}-minio`;
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

    // containerd on every node resolves localhost:<port> to the registry container over the kind network.
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
      `${name}-minio-access-key`,
      { length: 20, special: false },
      { parent: this },
    );
    const secretKey = new random.RandomPassword(
      `${name}-minio-secret-key`,
      { length: 40, special: false },
      { parent: this },
    );
    const minioData = new docker.Volume(
      `${name}-minio-data`,
      { name: `${minioContainerName}-data` },
      { parent: this },
    );
    const minio = new docker.Container(
      `${name}-minio`,
      {
        name: minioContainerName,
        image: args.minio.image,
        restart: "always",
        command: ["server", "/data"],
        envs: [
          pulumi.interpolate`MINIO_ROOT_USER=${accessKey.result}`,
          pulumi.interpolate`MINIO_ROOT_PASSWORD=${secretKey.result}`,
        ],
        ports: [{ internal: 9000, external: minioPort, ip: "127.0.0.1" }],
        volumes: [{ volumeName: minioData.name, containerPath: "/data" }],
        networksAdvanced: [{ name: KIND_NETWORK, aliases: [minioContainerName] }],
        labels: [{ label: "gitops-platform.cluster", value: args.clusterName }],
      },
      { parent: this, dependsOn: [cluster], additionalSecretOutputs: ["envs"] },
    );
    // The minio image ships the mc client; credentials reach it through the environment, never argv.
    const minioBucket = new command.local.Command(
      `${name}-minio-bucket`,
      {
        create: [
          `for i in $(seq 1 30); do docker exec ${minioContainerName} sh -c 'mc alias set local http://127.0.0.1:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"' >/dev/null 2>&1 && break; sleep 2; done`,
          `docker exec ${minioContainerName} mc mb --ignore-existing local/${bucket}`,
        ].join("\n"),
        triggers: [minio.id],
      },
      { parent: this },
    );

    this.clusterName = pulumi.output(args.clusterName);
    this.registryHost = pulumi.output(registryHost);
    this.minioClusterUrl = pulumi.output(`http://${minioContainerName}:9000`);
    this.minioPublicUrl = pulumi.output(`http://localhost:${minioPort}`);
    this.minioAccessKey = pulumi.secret(accessKey.result);
    this.minioSecretKey = pulumi.secret(secretKey.result);
    this.backupBucket = minioBucket.stdout.apply(() => bucket);

    this.registerOutputs({
      clusterName: this.clusterName,
      kubeconfig: this.kubeconfig,
      registryHost: this.registryHost,
      minioClusterUrl: this.minioClusterUrl,
      minioPublicUrl: this.minioPublicUrl,
      backupBucket: this.backupBucket,
    });
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
    // Registry mirrors come from /etc/containerd/certs.d (written per node after creation).
    containerdConfigPatches: [
      '[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"',
    ],
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

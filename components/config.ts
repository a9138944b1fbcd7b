import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";

/**
 * Every configuration key of the program, read and validated once.
 *
 * Defaults live in one place only: the `config:` block of Pulumi.yaml, which the Pulumi engine (and the
 * offline plan) merges under each stack file. This module declares the type and the allowed values of
 * every key; `test/config.test.ts` keeps the two in step.
 */
export const CONFIG_NAMESPACE = "gitops-platform";

const ENVIRONMENTS = ["dev", "staging", "prod"] as const;
const CLUSTER_PROVIDERS = ["kind", "eks"] as const;
const REGISTRIES = ["local", "ghcr", "ecr"] as const;
const NAT_STRATEGIES = ["Single", "OnePerAz"] as const;
const CAPACITY_TYPES = ["ON_DEMAND", "SPOT"] as const;

/** Kubernetes minor versions this program is tested against: in EKS standard support and published by kind. */
export const SUPPORTED_KUBERNETES_VERSIONS = ["1.35", "1.36"] as const;

const EXACT_SEMVER = /^\d+\.\d+\.\d+$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const AWS_REGION = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/;
const IAM_ARN = /^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/[\w+=,.@/-]+$/;
const GITHUB_NAME = /^[A-Za-z0-9_.-]{1,100}$/;
const DIGEST_PINNED_IMAGE = /^[\w./:-]+:[\w.-]+@sha256:[a-f0-9]{64}$/;
const PROMETHEUS_DURATION = /^[1-9]\d*[hdwy]$/;
/** Bucket boundaries (ms) of the app's request duration histogram (app/src/metrics.ts): latency SLO thresholds. */
export const APP_LATENCY_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000] as const;
/** Keys of earlier versions and their successors, named in the error when a stack file still sets them. */
const RENAMED_KEYS: Record<string, string> = { minioPort: "s3Port", minioImage: "s3Image" };
/** redis-ha spreads its three replicas over distinct nodes (hard anti-affinity). */
const HA_MIN_NODES = 3;

// Pulumi hands every config value to the program as a string; these turn the string forms of
// integers, booleans and arrays back into values before validation.
const integer = () =>
  z.preprocess(
    (v) => (typeof v === "string" && /^-?\d+$/.test(v.trim()) ? Number(v) : v),
    z.number({ error: "expected an integer" }).int({ error: "expected an integer" }),
  );
const boolean = () =>
  z.preprocess(
    (v) => (v === "true" ? true : v === "false" ? false : v),
    z.boolean({ error: 'expected a boolean ("true" or "false")' }),
  );
const list = <T extends z.ZodType>(item: T) =>
  z.preprocess(
    (v) => {
      if (typeof v !== "string") return v;
      try {
        return JSON.parse(v);
      } catch {
        return v;
      }
    },
    z.array(item, { error: "expected a list" }),
  );

/** A decimal number in a string (Pulumi has no number type), within [min, max]. */
const decimal = (min: number, max: number, what: string) =>
  z
    .string()
    .regex(/^\d+(\.\d+)?$/, {
      error: `must be ${what} from ${min} to ${max}, as a decimal number`,
      abort: true,
    })
    .refine((v) => Number(v) >= min && Number(v) <= max, { error: `must be ${what} from ${min} to ${max}` })
    .transform(Number);
const days = (max: number) =>
  integer().pipe(
    z
      .number()
      .min(1, { error: `must be 1-${max} days` })
      .max(max, { error: `must be 1-${max} days` }),
  );

const chartVersion = (chart: string) =>
  z.string().regex(EXACT_SEMVER, {
    error: `must be an exact chart version of ${chart} like 1.2.3 (no ranges, no "v" prefix, no "latest")`,
  });
const digestPinnedImage = () =>
  z.string().regex(DIGEST_PINNED_IMAGE, {
    error: "must be an image pinned by tag and digest: name:tag@sha256:<64 hex>",
  });
const nodePort = () =>
  integer().pipe(z.number().min(30000).max(32767, { error: "must be a NodePort in 30000-32767" }));
const hostPort = () =>
  integer().pipe(z.number().min(1024).max(65535, { error: "must be a port in 1024-65535" }));
const ipv4Cidr = (minPrefix: number, maxPrefix: number) =>
  z.string().refine((v) => isIpv4Cidr(v, minPrefix, maxPrefix), {
    error: `must be an IPv4 CIDR block with a prefix length from /${minPrefix} to /${maxPrefix}, e.g. 10.0.0.0/16`,
  });

/** The raw schema: one entry per key of the `gitops-platform` namespace. */
export const rawConfigSchema = z.strictObject({
  environment: z.enum(ENVIRONMENTS),
  clusterProvider: z.enum(CLUSTER_PROVIDERS),
  clusterName: z
    .string()
    .regex(DNS_LABEL, { error: "must be a DNS label: lowercase letters, digits and '-'" }),
  kubernetesVersion: z.enum(SUPPORTED_KUBERNETES_VERSIONS),

  kindNodeImage: z.string().regex(DIGEST_PINNED_IMAGE, {
    error: "must be a kindest/node image pinned by tag and digest: kindest/node:v1.35.8@sha256:<64 hex>",
  }),
  kindWorkerNodes: integer().pipe(z.number().min(0).max(5)),
  appNodePort: nodePort(),
  argocdNodePort: nodePort(),
  grafanaNodePort: nodePort(),
  localRegistryPort: hostPort(),
  localRegistryImage: digestPinnedImage(),
  s3Port: hostPort(),
  s3Image: digestPinnedImage(),

  awsRegion: z.string().regex(AWS_REGION, { error: "must be an AWS region such as eu-west-1" }).optional(),
  availabilityZones: list(
    z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$/, { error: "must be an AZ name" }),
  ),
  vpcCidr: ipv4Cidr(16, 24),
  natGateways: z.enum(NAT_STRATEGIES),
  nodeInstanceTypes: list(z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, { error: "must be an EC2 type" })),
  nodeCapacityType: z.enum(CAPACITY_TYPES),
  nodeMinSize: integer().pipe(z.number().min(1)),
  nodeDesiredSize: integer().pipe(z.number().min(1)),
  nodeMaxSize: integer().pipe(z.number().min(1).max(100)),
  nodeDiskSizeGiB: integer().pipe(z.number().min(20).max(1000)),
  controlPlaneLogging: boolean(),
  endpointPublicAccess: boolean(),
  publicAccessCidrs: list(ipv4Cidr(0, 32)),
  clusterAdminArns: list(z.string().regex(IAM_ARN, { error: "must be an IAM role or user ARN" })),

  imageRegistry: z.enum(REGISTRIES),
  appImageName: z.string().regex(/^[a-z0-9]+([._-][a-z0-9]+)*$/, {
    error: "must be an image name: lowercase, digits, '.', '_', '-'",
  }),
  ecrKeepImages: integer().pipe(z.number().min(1).max(1000)),

  githubEnabled: boolean(),
  githubOwner: z
    .string()
    .regex(GITHUB_NAME, { error: "must be a GitHub user or organisation name" })
    .optional(),
  githubRepository: z.string().regex(GITHUB_NAME, { error: "must be a GitHub repository name" }).optional(),
  gitopsRepoUrl: z
    .url({ protocol: /^https$/, error: "must be an https:// URL of a git repository" })
    .optional(),
  gitopsRevision: z.string().min(1).max(255),
  appNamespaces: list(z.string().regex(DNS_LABEL, { error: "must be a namespace name (DNS label)" })),
  githubReviewerTeams: list(
    z.string().regex(/^[a-z0-9][a-z0-9-]*$/, { error: "must be a GitHub team slug" }),
  ),
  githubActionsPolicyArns: list(
    z.string().regex(/^arn:aws[a-z-]*:iam::(aws|\d{12}):policy\/[\w+=,.@/-]+$/, {
      error: "must be an IAM policy ARN",
    }),
  ),
  argocdPublicUrl: z
    .url({
      protocol: /^https$/,
      error: "must be the https:// URL at which GitHub reaches Argo CD (trusted certificate)",
    })
    .optional(),
  githubOidcProviderArn: z
    .string()
    .regex(/^arn:aws[a-z-]*:iam::\d{12}:oidc-provider\/token\.actions\.githubusercontent\.com$/, {
      error: "must be the ARN of the account's token.actions.githubusercontent.com OIDC provider",
    })
    .optional(),

  argocdChartVersion: chartVersion("argo-cd"),
  kubePrometheusStackChartVersion: chartVersion("kube-prometheus-stack"),
  grafanaChartVersion: chartVersion("grafana"),
  veleroChartVersion: chartVersion("velero"),
  lokiChartVersion: chartVersion("loki"),
  alloyChartVersion: chartVersion("alloy"),
  tempoChartVersion: chartVersion("tempo"),

  argocdHighAvailability: boolean(),
  prometheusRetention: z.string().regex(PROMETHEUS_DURATION, {
    error: "must be a Prometheus retention like 7d, 36h or 2w (a whole number and one of h, d, w, y)",
  }),
  prometheusStorageGiB: integer().pipe(
    z.number().min(1, { error: "must be 1-1000 GiB" }).max(1000, { error: "must be 1-1000 GiB" }),
  ),
  backupSchedule: z.string().refine(isCronSchedule, {
    error:
      'must be a five-field cron schedule (minute hour day-of-month month day-of-week), e.g. "0 2 * * *"',
  }),
  backupRetentionDays: integer().pipe(
    z.number().min(1, { error: "must be 1-365 days" }).max(365, { error: "must be 1-365 days" }),
  ),

  logRetentionDays: days(365),
  traceRetentionDays: days(90),
  sloAvailabilityPercent: decimal(90, 99.999, "a percentage"),
  sloLatencyThresholdMs: integer().refine((v) => (APP_LATENCY_BUCKETS_MS as readonly number[]).includes(v), {
    error: `must be a bucket of the app's duration histogram: ${APP_LATENCY_BUCKETS_MS.join(", ")} (ms)`,
  }),
  sloLatencyPercent: decimal(50, 99.99, "a percentage"),
  sloErrorRatePercent: decimal(0.01, 50, "a percentage"),
});

export type RawConfig = z.infer<typeof rawConfigSchema>;
export type Environment = (typeof ENVIRONMENTS)[number];

/** Settings of the local kind cluster (dev). */
export interface KindSettings {
  readonly provider: "kind";
  readonly name: string;
  readonly kubernetesVersion: string;
  readonly nodeImage: string;
  readonly workerNodes: number;
  readonly ports: { readonly app: number; readonly argocd: number; readonly grafana: number };
  readonly registry: { readonly port: number; readonly image: string };
  /** The S3-compatible server Velero backs up to. */
  readonly s3: { readonly port: number; readonly image: string };
}

/** Settings of an EKS cluster (staging, prod). */
export interface EksSettings {
  readonly provider: "eks";
  readonly name: string;
  readonly kubernetesVersion: string;
  readonly region: string;
  readonly availabilityZones: readonly string[];
  readonly vpcCidr: string;
  readonly natGateways: (typeof NAT_STRATEGIES)[number];
  readonly nodeGroup: {
    readonly instanceTypes: readonly string[];
    readonly capacityType: (typeof CAPACITY_TYPES)[number];
    readonly minSize: number;
    readonly desiredSize: number;
    readonly maxSize: number;
    readonly diskSizeGiB: number;
  };
  readonly controlPlaneLogging: boolean;
  readonly endpointPublicAccess: boolean;
  readonly publicAccessCidrs: readonly string[];
  readonly clusterAdminArns: readonly string[];
}

/** GitHub management; when disabled, Argo CD reads the public repository over HTTPS. */
export type GitHubSettings =
  | { readonly enabled: false }
  | {
      readonly enabled: true;
      readonly owner: string;
      readonly repository: string;
      /** Teams that must approve deployments of this stack (its Actions environment). */
      readonly reviewerTeams: readonly string[];
      /** Policies of the role GitHub Actions assumes through OIDC (AWS stacks). */
      readonly actionsPolicyArns: readonly string[];
      /** An existing GitHub OIDC provider of the account; created when unset. */
      readonly oidcProviderArn?: string;
      /** Argo CD's URL as GitHub reaches it; a push webhook is registered only when set. */
      readonly argocdPublicUrl?: string;
    };

/** The one typed, frozen configuration object the rest of the program receives. */
export interface PlatformConfig {
  readonly project: string;
  readonly stack: string;
  readonly environment: Environment;
  readonly cluster: KindSettings | EksSettings;
  readonly imageRegistry: (typeof REGISTRIES)[number];
  /** The app image: name within the registry, and how many images ECR keeps. */
  readonly appImage: { readonly name: string; readonly ecrKeepImages: number; readonly ghcrOwner?: string };
  readonly github: GitHubSettings;
  readonly gitops: {
    readonly repoUrl: string;
    readonly revision: string;
    readonly appNamespaces: readonly string[];
  };
  readonly charts: {
    readonly argocd: string;
    readonly kubePrometheusStack: string;
    readonly grafana: string;
    readonly velero: string;
    readonly loki: string;
    readonly alloy: string;
    readonly tempo: string;
  };
  /** Per-environment settings of the add-ons (Argo CD, Prometheus, Velero). */
  readonly addons: {
    readonly argocdHighAvailability: boolean;
    readonly prometheus: { readonly retention: string; readonly storageGiB: number };
    readonly backup: { readonly schedule: string; readonly retentionDays: number };
    readonly logs: { readonly retentionDays: number };
    readonly traces: { readonly retentionDays: number };
  };
  /** The demo app's service level objectives (ratios, not percentages). */
  readonly slo: SloTargets;
}

/** Service level objectives of the demo app. */
export interface SloTargets {
  /** Share of requests answered without a 5xx, e.g. 0.999. */
  readonly availability: number;
  /** Latency: `ratio` of requests faster than `thresholdSeconds`, e.g. 95 % under 0.5 s. */
  readonly latency: { readonly thresholdSeconds: number; readonly ratio: number };
  /** Highest acceptable 5xx ratio, e.g. 0.01. */
  readonly maxErrorRatio: number;
}

/** A configuration error: lists every offending key, its value and what is allowed. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

/**
 * Keys whose values are Pulumi secrets (`pulumi config set --secret`): read with getSecret so they stay
 * encrypted end to end, never validated as plain strings, never in the frozen config object.
 */
export const SECRET_CONFIG_KEYS = ["ciConfigPassphrase"] as const;

/** Secret configuration values, as secret outputs (undefined when unset). */
export function loadSecretConfig(): Record<
  (typeof SECRET_CONFIG_KEYS)[number],
  pulumi.Output<string> | undefined
> {
  const config = new pulumi.Config(CONFIG_NAMESPACE);
  return { ciConfigPassphrase: config.getSecret("ciConfigPassphrase") };
}

/** Reads the `gitops-platform:*` keys of the current stack and validates them. */
export function loadPlatformConfig(): PlatformConfig {
  const config = new pulumi.Config(CONFIG_NAMESPACE);
  const raw: Record<string, string> = {};
  for (const key of Object.keys(rawConfigSchema.shape)) {
    const value = config.get(key);
    if (value !== undefined) raw[key] = value;
  }
  return parsePlatformConfig(raw, { project: pulumi.getProject(), stack: pulumi.getStack() });
}

/** Validates raw (string) configuration values; pure, so tests can call it directly. */
export function parsePlatformConfig(
  raw: Record<string, unknown>,
  context: { project: string; stack: string },
): PlatformConfig {
  const parsed = rawConfigSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => describeIssue(issue, raw)));
  }
  const c = parsed.data;
  const problems = crossFieldProblems(c);
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(toPlatformConfig(c, context));
}

function describeIssue(issue: z.core.$ZodIssue, raw: Record<string, unknown>): string {
  const [top, ...rest] = issue.path.map(String);
  if (issue.code === "unrecognized_keys") {
    const renamed = issue.keys.filter((k) => k in RENAMED_KEYS);
    const hint = renamed.map((k) => `; ${k} is now ${RENAMED_KEYS[k]}`).join("");
    return `${issue.keys.map((k) => `${CONFIG_NAMESPACE}:${k}`).join(", ")}: unknown key; allowed keys are those declared in Pulumi.yaml${hint}`;
  }
  const key = `${CONFIG_NAMESPACE}:${top ?? "?"}${rest.length ? `[${rest.join("][")}]` : ""}`;
  const value = top === undefined ? undefined : rest.length ? issue.input : raw[top];
  const got = value === undefined ? "it is not set" : `got ${JSON.stringify(value)}`;
  return `${key}: ${issue.message} (${got})`;
}

function crossFieldProblems(c: RawConfig): string[] {
  const problems: string[] = [];
  const key = (k: keyof RawConfig) => `${CONFIG_NAMESPACE}:${k}`;
  const show = (v: unknown) => JSON.stringify(v);

  if (c.clusterProvider === "eks") {
    if (!c.awsRegion)
      problems.push(`${key("awsRegion")}: required when clusterProvider is "eks" (it is not set)`);
    if (c.availabilityZones.length < 2 || c.availabilityZones.length > 3) {
      problems.push(
        `${key("availabilityZones")}: an EKS cluster needs 2 or 3 availability zones (got ${show(c.availabilityZones)})`,
      );
    }
    const foreign = c.availabilityZones.filter((az) => c.awsRegion && !az.startsWith(c.awsRegion));
    if (foreign.length > 0) {
      problems.push(
        `${key("availabilityZones")}: zones must be in awsRegion ${show(c.awsRegion)} (got ${show(foreign)})`,
      );
    }
    if (c.nodeInstanceTypes.length === 0) {
      problems.push(`${key("nodeInstanceTypes")}: at least one instance type is required (got [])`);
    }
    if (c.nodeMinSize > c.nodeMaxSize) {
      problems.push(
        `${key("nodeMinSize")}: must not exceed nodeMaxSize (got nodeMinSize ${c.nodeMinSize} > nodeMaxSize ${c.nodeMaxSize})`,
      );
    } else if (c.nodeDesiredSize < c.nodeMinSize || c.nodeDesiredSize > c.nodeMaxSize) {
      problems.push(
        `${key("nodeDesiredSize")}: must be between nodeMinSize ${c.nodeMinSize} and nodeMaxSize ${c.nodeMaxSize} (got ${c.nodeDesiredSize})`,
      );
    }
    if (c.imageRegistry === "local") {
      problems.push(
        `${key("imageRegistry")}: "local" works only with kind; use "ghcr" or "ecr" on EKS (got "local")`,
      );
    }
  } else if (c.imageRegistry === "ecr") {
    problems.push(
      `${key("imageRegistry")}: "ecr" needs an EKS stack; use "local" or "ghcr" with kind (got "ecr")`,
    );
  }

  if (c.imageRegistry === "ghcr" && !c.githubOwner) {
    problems.push(
      `${key("githubOwner")}: required when imageRegistry is "ghcr" (images go to ghcr.io/<owner>) (it is not set)`,
    );
  }

  if (c.clusterProvider === "kind") {
    const ports = {
      appNodePort: c.appNodePort,
      argocdNodePort: c.argocdNodePort,
      grafanaNodePort: c.grafanaNodePort,
    };
    const seen = new Map<number, string>();
    for (const [name, port] of Object.entries(ports)) {
      const other = seen.get(port);
      if (other) problems.push(`${CONFIG_NAMESPACE}:${name}: port ${port} is already used by ${other}`);
      seen.set(port, name);
    }
    if (c.localRegistryPort === c.s3Port) {
      problems.push(`${key("s3Port")}: port ${c.s3Port} is already used by localRegistryPort`);
    }
    const nodeVersion = /:v(\d+\.\d+)\./.exec(c.kindNodeImage)?.[1];
    if (nodeVersion !== c.kubernetesVersion) {
      problems.push(
        `${key("kindNodeImage")}: node image is Kubernetes ${nodeVersion ?? "unknown"} but kubernetesVersion is ${c.kubernetesVersion} (got ${show(c.kindNodeImage)})`,
      );
    }
  }

  if (c.argocdHighAvailability) {
    // kind taints its control plane once there are workers; EKS may scale down to nodeMinSize.
    const [nodesKey, nodes] =
      c.clusterProvider === "kind"
        ? (["kindWorkerNodes", Math.max(c.kindWorkerNodes, 1)] as const)
        : (["nodeMinSize", c.nodeMinSize] as const);
    if (nodes < HA_MIN_NODES) {
      problems.push(
        `${key("argocdHighAvailability")}: highly available Argo CD needs at least ${HA_MIN_NODES} schedulable nodes (redis-ha anti-affinity); raise ${nodesKey} or set argocdHighAvailability to false (got ${nodesKey} ${c[nodesKey]})`,
      );
    }
  }

  if (c.githubEnabled) {
    if (!c.githubOwner)
      problems.push(`${key("githubOwner")}: required when githubEnabled is true (it is not set)`);
    if (!c.githubRepository) {
      problems.push(`${key("githubRepository")}: required when githubEnabled is true (it is not set)`);
    }
  } else if (!c.gitopsRepoUrl) {
    problems.push(
      `${key("gitopsRepoUrl")}: required when githubEnabled is false, Argo CD then reads this public https:// repository (it is not set)`,
    );
  }
  return problems;
}

function toPlatformConfig(c: RawConfig, context: { project: string; stack: string }): PlatformConfig {
  const cluster: KindSettings | EksSettings =
    c.clusterProvider === "kind"
      ? {
          provider: "kind",
          name: c.clusterName,
          kubernetesVersion: c.kubernetesVersion,
          nodeImage: c.kindNodeImage,
          workerNodes: c.kindWorkerNodes,
          ports: { app: c.appNodePort, argocd: c.argocdNodePort, grafana: c.grafanaNodePort },
          registry: { port: c.localRegistryPort, image: c.localRegistryImage },
          s3: { port: c.s3Port, image: c.s3Image },
        }
      : {
          provider: "eks",
          name: c.clusterName,
          kubernetesVersion: c.kubernetesVersion,
          region: c.awsRegion as string,
          availabilityZones: c.availabilityZones,
          vpcCidr: c.vpcCidr,
          natGateways: c.natGateways,
          nodeGroup: {
            instanceTypes: c.nodeInstanceTypes,
            capacityType: c.nodeCapacityType,
            minSize: c.nodeMinSize,
            desiredSize: c.nodeDesiredSize,
            maxSize: c.nodeMaxSize,
            diskSizeGiB: c.nodeDiskSizeGiB,
          },
          controlPlaneLogging: c.controlPlaneLogging,
          endpointPublicAccess: c.endpointPublicAccess,
          publicAccessCidrs: c.publicAccessCidrs,
          clusterAdminArns: c.clusterAdminArns,
        };
  const github: GitHubSettings = c.githubEnabled
    ? {
        enabled: true,
        owner: c.githubOwner as string,
        repository: c.githubRepository as string,
        reviewerTeams: c.githubReviewerTeams,
        actionsPolicyArns: c.githubActionsPolicyArns,
        oidcProviderArn: c.githubOidcProviderArn,
        argocdPublicUrl: c.argocdPublicUrl?.replace(/\/+$/, ""),
      }
    : { enabled: false };
  const repoUrl = github.enabled
    ? `git@github.com:${github.owner}/${github.repository}.git`
    : (c.gitopsRepoUrl as string);
  return {
    project: context.project,
    stack: context.stack,
    environment: c.environment,
    cluster,
    imageRegistry: c.imageRegistry,
    appImage: {
      name: c.appImageName,
      ecrKeepImages: c.ecrKeepImages,
      ghcrOwner: c.githubOwner?.toLowerCase(),
    },
    github,
    gitops: { repoUrl, revision: c.gitopsRevision, appNamespaces: c.appNamespaces },
    charts: {
      argocd: c.argocdChartVersion,
      kubePrometheusStack: c.kubePrometheusStackChartVersion,
      grafana: c.grafanaChartVersion,
      velero: c.veleroChartVersion,
      loki: c.lokiChartVersion,
      alloy: c.alloyChartVersion,
      tempo: c.tempoChartVersion,
    },
    addons: {
      argocdHighAvailability: c.argocdHighAvailability,
      prometheus: { retention: c.prometheusRetention, storageGiB: c.prometheusStorageGiB },
      backup: { schedule: c.backupSchedule, retentionDays: c.backupRetentionDays },
      logs: { retentionDays: c.logRetentionDays },
      traces: { retentionDays: c.traceRetentionDays },
    },
    slo: {
      availability: Number((c.sloAvailabilityPercent / 100).toPrecision(12)),
      latency: {
        thresholdSeconds: c.sloLatencyThresholdMs / 1000,
        ratio: Number((c.sloLatencyPercent / 100).toPrecision(12)),
      },
      maxErrorRatio: Number((c.sloErrorRatePercent / 100).toPrecision(12)),
    },
  };
}

/** Five cron fields of digits, `*`, ranges, lists and steps (what Velero's schedule accepts, minus macros). */
function isCronSchedule(value: string): boolean {
  const field = /^(\*|\d+(-\d+)?)(\/\d+)?(,(\*|\d+(-\d+)?)(\/\d+)?)*$/;
  const fields = value.trim().split(/\s+/);
  return fields.length === 5 && fields.every((f) => field.test(f));
}

function isIpv4Cidr(value: string, minPrefix: number, maxPrefix: number): boolean {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(value);
  if (!match) return false;
  const octets = match.slice(1, 5).map(Number);
  const prefix = Number(match[5]);
  if (octets.some((o) => o > 255) || prefix < minPrefix || prefix > maxPrefix) return false;
  // The address must be the network address of the block (no host bits set).
  const address = octets.reduce((acc, o) => acc * 256 + o, 0);
  const hostBits = 2 ** (32 - prefix);
  return address % hostBits === 0;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

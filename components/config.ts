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
const OIDC_PROVIDER_MODES = ["create", "existing"] as const;
/** Argo CD's built-in roles a GitHub team can be mapped to. */
const ARGOCD_ROLES = ["admin", "readonly"] as const;

/** Kubernetes minor versions this program is tested against: in EKS standard support and published by kind. */
export const SUPPORTED_KUBERNETES_VERSIONS = ["1.35", "1.36"] as const;

const EXACT_SEMVER = /^\d+\.\d+\.\d+$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const AWS_REGION = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/;
const IAM_ARN = /^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/[\w+=,.@/-]+$/;
const GITHUB_NAME = /^[A-Za-z0-9_.-]{1,100}$/;
const DIGEST_PINNED_IMAGE = /^[\w./:-]+:[\w.-]+@sha256:[a-f0-9]{64}$/;
const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const ADMINISTRATOR_ACCESS = /:policy\/AdministratorAccess$/;
const OPEN_CIDR = "0.0.0.0/0";
const PROMETHEUS_DURATION = /^[1-9]\d*[hdwy]$/;
/** Bucket boundaries (ms) of the app's request duration histogram (app/src/metrics.ts): latency SLO thresholds. */
export const APP_LATENCY_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000] as const;
/** Keys of earlier versions and their successors, named in the error when a stack file still sets them. */
const RENAMED_KEYS: Record<string, string> = { minioPort: "s3Port", minioImage: "s3Image" };
/** A DNS name of at least two labels, lowercase, no trailing dot (e.g. staging.example.com). */
const DOMAIN_NAME = /^(?=.{4,200}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const EXTERNAL_DNS_POLICIES = ["upsert-only", "sync"] as const;
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
  localGitPort: hostPort(),
  localGitBaseImage: digestPinnedImage(),

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

  domain: z
    .string()
    .regex(DOMAIN_NAME, {
      error: "must be a DNS name you control in Route 53, lowercase, e.g. staging.example.com",
    })
    .optional(),
  hostedZoneId: z
    .string()
    .regex(/^Z[A-Z0-9]{1,31}$/, { error: "must be a Route 53 hosted zone id like Z0123456789ABCDEFGHIJ" })
    .optional(),
  adminCidrs: list(ipv4Cidr(0, 32)),
  wafEnabled: boolean(),
  externalDnsPolicy: z.enum(EXTERNAL_DNS_POLICIES),

  imageRegistry: z.enum(REGISTRIES),
  appImageName: z.string().regex(/^[a-z0-9]+([._-][a-z0-9]+)*$/, {
    error: "must be an image name: lowercase, digits, '.', '_', '-'",
  }),
  ecrKeepImages: integer().pipe(z.number().min(1).max(1000)),
  promoteFromStack: z
    .string()
    .regex(/^([A-Za-z0-9_.-]+\/){0,2}[A-Za-z0-9_.-]+$/, {
      error: "must be a stack name: <stack>, <project>/<stack> or <organization>/<project>/<stack>",
    })
    .optional(),
  appImagePin: z
    .string()
    .regex(/^sha256:[a-f0-9]{64}$/, { error: "must be an image digest: sha256:<64 lowercase hex>" })
    .optional(),

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
  githubOidcProvider: z.enum(OIDC_PROVIDER_MODES),
  githubOidcProviderArn: z
    .string()
    .regex(/^arn:aws[a-z-]*:iam::\d{12}:oidc-provider\/token\.actions\.githubusercontent\.com$/, {
      error: "must be the ARN of the account's token.actions.githubusercontent.com OIDC provider",
    })
    .optional(),

  pulumiStateBucket: z
    .string()
    .regex(S3_BUCKET, { error: "must be an S3 bucket name (3-63 lowercase letters, digits, '.', '-')" })
    .optional(),
  pullRequestPreviews: boolean(),
  ghcrPullUsername: z.string().regex(GITHUB_NAME, { error: "must be a GitHub user name" }).optional(),
  argocdSsoGithubOrg: z
    .string()
    .regex(GITHUB_NAME, { error: "must be a GitHub organisation name" })
    .optional(),
  argocdSsoClientId: z
    .string()
    .regex(/^[\w.-]{8,64}$/, { error: "must be a GitHub OAuth App client id" })
    .optional(),
  argocdSsoTeamRoles: list(
    z.string().regex(new RegExp(`^[a-z0-9][a-z0-9-]*:(${ARGOCD_ROLES.join("|")})$`), {
      error: `must be "<team-slug>:<role>" with role one of ${ARGOCD_ROLES.join(", ")}`,
    }),
  ),

  argocdChartVersion: chartVersion("argo-cd"),
  kubePrometheusStackChartVersion: chartVersion("kube-prometheus-stack"),
  grafanaChartVersion: chartVersion("grafana"),
  veleroChartVersion: chartVersion("velero"),
  lokiChartVersion: chartVersion("loki"),
  alloyChartVersion: chartVersion("alloy"),
  tempoChartVersion: chartVersion("tempo"),
  argoRolloutsChartVersion: chartVersion("argo-rollouts"),
  awsLoadBalancerControllerChartVersion: chartVersion("aws-load-balancer-controller"),
  externalDnsChartVersion: chartVersion("external-dns"),
  metricsServerChartVersion: chartVersion("metrics-server"),
  clusterAutoscalerChartVersion: chartVersion("cluster-autoscaler"),
  externalSecretsChartVersion: chartVersion("external-secrets"),
  policyControllerChartVersion: chartVersion("policy-controller"),

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
  /** The stack's front door: DNS, certificates, who may reach the admin UIs. */
  readonly edge: EdgeSettings;
}

/** DNS, TLS and access of an EKS stack's ingress (see docs/eks.md). */
export interface EdgeSettings {
  /** The stack's domain: app.<domain>, argocd.<domain>, grafana.<domain>. */
  readonly domain: string;
  /** The public Route 53 zone of the domain; looked up by name when unset. */
  readonly hostedZoneId?: string;
  /** Who may reach the Argo CD and Grafana UIs; empty: internal load balancer only. */
  readonly adminCidrs: readonly string[];
  /** AWS WAF on the app's load balancer. */
  readonly wafEnabled: boolean;
  /** external-dns: "upsert-only" never deletes records, "sync" also removes stale ones. */
  readonly externalDnsPolicy: (typeof EXTERNAL_DNS_POLICIES)[number];
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
      /**
       * The account's GitHub OIDC provider (one per account): created by this stack, or an existing one
       * (by ARN, or looked up by its URL when no ARN is given).
       */
      readonly oidcProvider:
        { readonly mode: "create" } | { readonly mode: "existing"; readonly arn?: string };
      /** S3 bucket of the Pulumi state (s3:// backend); the deploy and preview roles may use it. */
      readonly stateBucket?: string;
      /** A `<env>-preview` environment and read-only role for live previews of pull requests (never prod). */
      readonly pullRequestPreviews: boolean;
      /** Argo CD's URL as GitHub reaches it; a push webhook is registered only when set. */
      readonly argocdPublicUrl?: string;
    };

/**
 * Where Argo CD reads the GitOps repository: the GitHub repository Pulumi manages (`github`), a public
 * https:// repository such as a fork (`url`, read anonymously), or the dev stack's local git server
 * (`local`, the default on kind without GitHub), which Pulumi pushes gitops/ and the image file to.
 */
export type GitOpsSource = "github" | "url" | "local";

/** The local git server (kind): container `<cluster>-git` on the kind network. */
export const LOCAL_GIT_SERVER = {
  /** Port it listens on inside the container (and so on the kind network). */
  containerPort: 8080,
  /** The repository it serves, under /git/. */
  repository: "gitops.git",
} as const;

/** The container name of the local git server of a kind cluster. */
export const localGitServerName = (clusterName: string) => `${clusterName}-git`;

/** The one typed, frozen configuration object the rest of the program receives. */
export interface PlatformConfig {
  readonly project: string;
  readonly stack: string;
  readonly environment: Environment;
  readonly cluster: KindSettings | EksSettings;
  readonly imageRegistry: (typeof REGISTRIES)[number];
  /** The app image: name within the registry, and how many images ECR keeps. */
  readonly appImage: {
    readonly name: string;
    readonly ecrKeepImages: number;
    readonly ghcrOwner?: string;
    /** User name that goes with the `ghcrPullToken` secret (default: the owner). */
    readonly ghcrPullUsername?: string;
    /** A digest this stack deployed before, kept until cleared (npm run rollback). */
    readonly pin?: string;
  };
  /** Where the image comes from when this stack does not build it (build once, promote the digest). */
  readonly promotion?: { readonly fromStack: string };
  readonly github: GitHubSettings;
  /**
   * The repository whose deploy workflow signs the app image; signatures are verified at admission.
   * Undefined with the local registry (dev), which the cluster trusts without signatures.
   */
  readonly imageSigner?: { readonly owner: string; readonly repository: string };
  readonly gitops: {
    readonly source: GitOpsSource;
    readonly repoUrl: string;
    /** The local git server (source `local` only): host port and the base image it is built on. */
    readonly localServer?: { readonly port: number; readonly baseImage: string };
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
    readonly argoRollouts: string;
    readonly awsLoadBalancerController: string;
    readonly externalDns: string;
    readonly metricsServer: string;
    readonly clusterAutoscaler: string;
    readonly externalSecrets: string;
    readonly policyController: string;
  };
  /** Per-environment settings of the add-ons (Argo CD, Prometheus, Velero). */
  readonly addons: {
    readonly argocdHighAvailability: boolean;
    /** GitHub OAuth through Dex; when set, the local admin account is disabled. */
    readonly argocdSso?: {
      readonly githubOrg: string;
      readonly clientId: string;
      /** Argo CD's public URL (argocd-cm `url`); Dex's callback is <url>/api/dex/callback. */
      readonly url: string;
      readonly teamRoles: readonly { readonly team: string; readonly role: (typeof ARGOCD_ROLES)[number] }[];
    };
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
export const SECRET_CONFIG_KEYS = ["ciConfigPassphrase", "ghcrPullToken", "argocdSsoClientSecret"] as const;
export type SecretConfigKey = (typeof SECRET_CONFIG_KEYS)[number];

/** Secret configuration values, as secret outputs (undefined when unset). */
export function loadSecretConfig(): Record<SecretConfigKey, pulumi.Output<string> | undefined> {
  const config = new pulumi.Config(CONFIG_NAMESPACE);
  return Object.fromEntries(SECRET_CONFIG_KEYS.map((key) => [key, config.getSecret(key)])) as Record<
    SecretConfigKey,
    pulumi.Output<string> | undefined
  >;
}

/** Context of a validation: where it runs and which secret keys are set (their values are never read). */
export interface ConfigContext {
  project: string;
  stack: string;
  /** Secret keys the stack sets. Default: none. */
  secretsSet?: readonly SecretConfigKey[];
}

/** Reads the `gitops-platform:*` keys of the current stack, validates them and logs the warnings. */
export function loadPlatformConfig(): PlatformConfig {
  const config = new pulumi.Config(CONFIG_NAMESPACE);
  const raw: Record<string, string> = {};
  for (const key of Object.keys(rawConfigSchema.shape)) {
    const value = config.get(key);
    if (value !== undefined) raw[key] = value;
  }
  const secrets = loadSecretConfig();
  const context: ConfigContext = {
    project: pulumi.getProject(),
    stack: pulumi.getStack(),
    secretsSet: SECRET_CONFIG_KEYS.filter((key) => secrets[key] !== undefined),
  };
  const platform = parsePlatformConfig(raw, context);
  for (const warning of configWarnings(platform, context)) void pulumi.log.warn(warning);
  return platform;
}

/** Validates raw (string) configuration values; pure, so tests can call it directly. */
export function parsePlatformConfig(raw: Record<string, unknown>, context: ConfigContext): PlatformConfig {
  const parsed = rawConfigSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => describeIssue(issue, raw)));
  }
  const c = parsed.data;
  const problems = crossFieldProblems(c, context);
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(toPlatformConfig(c, context));
}

/**
 * Valid but wider-than-least-privilege choices, each an explicit config value: the program runs and
 * says so. Pure, like parsePlatformConfig.
 */
export function configWarnings(config: PlatformConfig, context: ConfigContext): string[] {
  const warnings: string[] = [];
  const key = (k: keyof RawConfig | SecretConfigKey) => `${CONFIG_NAMESPACE}:${k}`;
  if (config.cluster.provider === "eks" && config.cluster.endpointPublicAccess) {
    if (config.cluster.publicAccessCidrs.includes(OPEN_CIDR)) {
      warnings.push(
        `${key("publicAccessCidrs")}: the EKS API endpoint of ${config.stack} is open to the internet (${OPEN_CIDR}); list your VPN and runner egress CIDRs, or set endpointPublicAccess to false`,
      );
    }
  }
  if (config.github.enabled) {
    const admin = config.github.actionsPolicyArns.filter((arn) => ADMINISTRATOR_ACCESS.test(arn));
    if (admin.length > 0) {
      warnings.push(
        `${key("githubActionsPolicyArns")}: ${admin.join(", ")} gives GitHub Actions every permission in the account; the program's own deploy policy is all a deploy needs`,
      );
    }
  }
  if (config.imageRegistry === "ghcr" && !(context.secretsSet ?? []).includes("ghcrPullToken")) {
    warnings.push(
      `${key("ghcrPullToken")}: not set, so the cluster pulls ghcr.io/${config.appImage.ghcrOwner}/${config.appImage.name} anonymously and the package must be public; set a token with read:packages only (pulumi config set --secret ghcrPullToken)`,
    );
  }
  return warnings;
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

function crossFieldProblems(c: RawConfig, context: ConfigContext): string[] {
  const secretsSet = context.secretsSet ?? [];
  const problems: string[] = [];
  const key = (k: keyof RawConfig | SecretConfigKey) => `${CONFIG_NAMESPACE}:${k}`;
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
    if (!c.domain) {
      problems.push(
        `${key("domain")}: required when clusterProvider is "eks" (the app, Argo CD and Grafana are served under it; replace the placeholder with a domain of your Route 53 zone) (it is not set)`,
      );
    }
    if (c.environment === "prod" && c.adminCidrs.some(isWholeInternet)) {
      problems.push(
        `${key("adminCidrs")}: 0.0.0.0/0 would open the Argo CD and Grafana UIs to the internet; prod allows only named networks (list your office/VPN CIDRs, or [] for an internal load balancer) (got ${show(c.adminCidrs)})`,
      );
    }
    if (c.endpointPublicAccess && c.publicAccessCidrs.length === 0) {
      problems.push(
        `${key("publicAccessCidrs")}: the public EKS API endpoint needs the CIDRs allowed to reach it, or set endpointPublicAccess to false (got [])`,
      );
    }
    if (c.environment === "prod" && c.endpointPublicAccess && c.publicAccessCidrs.includes(OPEN_CIDR)) {
      problems.push(
        `${key("publicAccessCidrs")}: prod must not open its EKS API endpoint to ${OPEN_CIDR}; list the CIDRs of your VPN and runners, or set endpointPublicAccess to false (got ${show(c.publicAccessCidrs)})`,
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

  if (c.promoteFromStack && /(^|\/)([^/]+)$/.exec(c.promoteFromStack)?.[2] === context.stack) {
    problems.push(
      `${key("promoteFromStack")}: a stack cannot promote from itself (got ${show(c.promoteFromStack)})`,
    );
  }

  if (c.imageRegistry === "ghcr" && !c.githubOwner) {
    problems.push(
      `${key("githubOwner")}: required when imageRegistry is "ghcr" (images go to ghcr.io/<owner>) (it is not set)`,
    );
  }

  if (c.clusterProvider === "kind") {
    // Every one of these is a port on the host's 127.0.0.1 (the NodePorts are mapped at the same number).
    const ports = {
      appNodePort: c.appNodePort,
      argocdNodePort: c.argocdNodePort,
      grafanaNodePort: c.grafanaNodePort,
      localRegistryPort: c.localRegistryPort,
      s3Port: c.s3Port,
      localGitPort: c.localGitPort,
    };
    const seen = new Map<number, string>();
    for (const [name, port] of Object.entries(ports)) {
      const other = seen.get(port);
      if (other) problems.push(`${CONFIG_NAMESPACE}:${name}: port ${port} is already used by ${other}`);
      seen.set(port, name);
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

  if (c.githubOidcProvider === "create" && c.githubOidcProviderArn) {
    problems.push(
      `${key("githubOidcProviderArn")}: only used with githubOidcProvider "existing"; with "create" this stack creates the account's provider (got ${show(c.githubOidcProviderArn)})`,
    );
  }
  if (c.pullRequestPreviews && c.environment === "prod") {
    problems.push(
      `${key("pullRequestPreviews")}: prod is never previewed live on pull requests, which run the pull request's code and would hold prod's passphrase; prod is planned offline (npm run plan -- prod) (got true)`,
    );
  }
  if (c.argocdSsoClientId !== undefined) {
    if (!c.argocdSsoGithubOrg) {
      problems.push(
        `${key("argocdSsoGithubOrg")}: required when argocdSsoClientId is set (only this organisation's members may sign in) (it is not set)`,
      );
    }
    if (!secretsSet.includes("argocdSsoClientSecret")) {
      problems.push(
        `${key("argocdSsoClientSecret")}: required when argocdSsoClientId is set; set it with pulumi config set --secret argocdSsoClientSecret (it is not set)`,
      );
    }
    if (!c.argocdPublicUrl) {
      problems.push(
        `${key("argocdPublicUrl")}: required when argocdSsoClientId is set (GitHub redirects to <url>/api/dex/callback) (it is not set)`,
      );
    }
    if (c.argocdSsoTeamRoles.length === 0) {
      problems.push(
        `${key("argocdSsoTeamRoles")}: map at least one team to a role ("<team>:admin") when SSO is on, because the local admin is then disabled (got [])`,
      );
    }
  } else if (c.argocdSsoGithubOrg || c.argocdSsoTeamRoles.length > 0) {
    problems.push(
      `${key("argocdSsoClientId")}: argocdSsoGithubOrg and argocdSsoTeamRoles take effect only with the OAuth App's client id (it is not set)`,
    );
  }
  if (c.imageRegistry !== "local" && !(c.githubOwner && c.githubRepository)) {
    problems.push(
      `${key("githubRepository")}: required with githubOwner when imageRegistry is "${c.imageRegistry}": the cluster admits only images signed by that repository's deploy workflow (got githubOwner ${show(c.githubOwner)}, githubRepository ${show(c.githubRepository)})`,
    );
  }

  if (c.githubEnabled) {
    if (!c.githubOwner)
      problems.push(`${key("githubOwner")}: required when githubEnabled is true (it is not set)`);
    if (!c.githubRepository) {
      problems.push(`${key("githubRepository")}: required when githubEnabled is true (it is not set)`);
    }
  } else if (!c.gitopsRepoUrl && c.clusterProvider !== "kind") {
    problems.push(
      `${key("gitopsRepoUrl")}: required when githubEnabled is false on EKS (the local git server runs only next to kind); set a public https:// repository or enable GitHub (it is not set)`,
    );
  }
  return problems;
}

function toPlatformConfig(c: RawConfig, context: ConfigContext): PlatformConfig {
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
          edge: {
            domain: c.domain as string,
            hostedZoneId: c.hostedZoneId,
            adminCidrs: c.adminCidrs,
            wafEnabled: c.wafEnabled,
            externalDnsPolicy: c.externalDnsPolicy,
          },
        };
  const github: GitHubSettings = c.githubEnabled
    ? {
        enabled: true,
        owner: c.githubOwner as string,
        repository: c.githubRepository as string,
        reviewerTeams: c.githubReviewerTeams,
        actionsPolicyArns: c.githubActionsPolicyArns,
        oidcProvider:
          c.githubOidcProvider === "existing"
            ? { mode: "existing", ...(c.githubOidcProviderArn ? { arn: c.githubOidcProviderArn } : {}) }
            : { mode: "create" },
        stateBucket: c.pulumiStateBucket,
        pullRequestPreviews: c.pullRequestPreviews,
        argocdPublicUrl: c.argocdPublicUrl?.replace(/\/+$/, ""),
      }
    : { enabled: false };
  const source: GitOpsSource = github.enabled ? "github" : c.gitopsRepoUrl ? "url" : "local";
  const repoUrl =
    source === "github"
      ? `git@github.com:${c.githubOwner}/${c.githubRepository}.git`
      : source === "url"
        ? (c.gitopsRepoUrl as string)
        : `http://${localGitServerName(c.clusterName)}:${LOCAL_GIT_SERVER.containerPort}/git/${LOCAL_GIT_SERVER.repository}`;
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
      ghcrPullUsername: c.ghcrPullUsername ?? c.githubOwner,
      ...(c.appImagePin ? { pin: c.appImagePin } : {}),
    },
    ...(c.promoteFromStack ? { promotion: { fromStack: c.promoteFromStack } } : {}),
    github,
    imageSigner:
      c.imageRegistry === "local"
        ? undefined
        : { owner: c.githubOwner as string, repository: c.githubRepository as string },
    gitops: {
      source,
      repoUrl,
      revision: c.gitopsRevision,
      appNamespaces: c.appNamespaces,
      ...(source === "local"
        ? { localServer: { port: c.localGitPort, baseImage: c.localGitBaseImage } }
        : {}),
    },
    charts: {
      argocd: c.argocdChartVersion,
      kubePrometheusStack: c.kubePrometheusStackChartVersion,
      grafana: c.grafanaChartVersion,
      velero: c.veleroChartVersion,
      loki: c.lokiChartVersion,
      alloy: c.alloyChartVersion,
      tempo: c.tempoChartVersion,
      argoRollouts: c.argoRolloutsChartVersion,
      awsLoadBalancerController: c.awsLoadBalancerControllerChartVersion,
      externalDns: c.externalDnsChartVersion,
      metricsServer: c.metricsServerChartVersion,
      clusterAutoscaler: c.clusterAutoscalerChartVersion,
      externalSecrets: c.externalSecretsChartVersion,
      policyController: c.policyControllerChartVersion,
    },
    addons: {
      argocdHighAvailability: c.argocdHighAvailability,
      ...(c.argocdSsoClientId && c.argocdSsoGithubOrg && c.argocdPublicUrl
        ? {
            argocdSso: {
              githubOrg: c.argocdSsoGithubOrg,
              clientId: c.argocdSsoClientId,
              url: c.argocdPublicUrl.replace(/\/+$/, ""),
              teamRoles: c.argocdSsoTeamRoles.map((entry) => {
                const [team, role] = entry.split(":") as [string, (typeof ARGOCD_ROLES)[number]];
                return { team, role };
              }),
            },
          }
        : {}),
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

/** A block covering the whole IPv4 internet (0.0.0.0/0). */
export function isWholeInternet(cidr: string): boolean {
  return cidr.trim().endsWith("/0");
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

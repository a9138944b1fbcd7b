/**
 * The platform's policy rules, written once against a neutral resource shape so that both the Pulumi
 * policy pack (policy/index.ts, `pulumi preview --policy-pack policy`) and the offline plan
 * (automation/plan.ts, over mocked resources) run exactly the same code.
 */

import { podRuleViolations } from "./pod-rules";

export type EnforcementLevel = "mandatory" | "advisory";

/** A resource as a rule sees it. */
export interface PolicyResource {
  type: string;
  name: string;
  urn: string;
  props: Record<string, unknown>;
  /**
   * Dotted paths of inputs that are Pulumi secrets. The offline plan knows them; the policy SDK does not
   * expose them, so rules depending on them only judge where this is present.
   */
  secretPaths?: string[];
}

export type Report = (message: string, urn?: string) => void;

export interface PlatformPolicy {
  name: string;
  description: string;
  /** Why the rule exists. */
  rationale: string;
  enforcementLevel: EnforcementLevel;
  validateResource?: (resource: PolicyResource, report: Report) => void;
  validateStack?: (resources: PolicyResource[], report: Report) => void;
}

export interface Verdict {
  policy: string;
  enforcementLevel: EnforcementLevel;
  resource?: string;
  message: string;
}

const EXACT_SEMVER = /^\d+\.\d+\.\d+$/;
/** App namespaces must enforce the restricted Pod Security Standard. */
export const APP_NAMESPACE_LABEL = "gitops-platform/app-namespace";
const PSA_ENFORCE = "pod-security.kubernetes.io/enforce";
const POD_OWNERS = new Set([
  "kubernetes:apps/v1:Deployment",
  "kubernetes:apps/v1:StatefulSet",
  "kubernetes:apps/v1:DaemonSet",
  "kubernetes:batch/v1:Job",
  "kubernetes:batch/v1:CronJob",
  "kubernetes:core/v1:Pod",
]);
/** Secret keys that are addresses or kinds, never credentials. */
const NON_SENSITIVE_SECRET_KEYS = new Set(["type", "url", "name", "server", "project", "config"]);

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const known = (v: unknown) => typeof v === "string" && v !== "[unknown]";

/** `true` when an image reference names a digest, or an exact tag other than latest. */
export function isPinnedImage(image: string): boolean {
  if (/@sha256:[a-f0-9]{64}$/.test(image)) return true;
  const lastSegment = image.split("/").pop() ?? "";
  const tag = lastSegment.includes(":") ? lastSegment.split(":").pop() : undefined;
  return !!tag && tag !== "latest";
}

function podContainers(resource: PolicyResource): Obj[] {
  const podSpec = podSpecOf(resource);
  return [...arr(podSpec.containers), ...arr(podSpec.initContainers)].map(obj);
}

/**
 * The restricted Pod Security Standard as this platform applies it to a pod spec: non-root, read-only
 * root filesystem, no privilege escalation, all capabilities dropped, RuntimeDefault seccomp, CPU and
 * memory requests and limits on every container, and liveness and readiness probes on serving
 * containers (not for batch kinds). Returns one message per breach. The rules live in
 * policy/pod-rules.ts, which also feeds the cluster's admission policies.
 */
export function podSecurityViolations(podSpec: Record<string, unknown>, kind?: string): string[] {
  return podRuleViolations(podSpec, kind).map((v) => v.message);
}

function podSpecOf(resource: PolicyResource): Obj {
  const spec = obj(resource.props.spec);
  if (resource.type === "kubernetes:core/v1:Pod") return spec;
  if (resource.type === "kubernetes:batch/v1:CronJob")
    return obj(obj(obj(obj(spec.jobTemplate).spec).template).spec);
  return obj(obj(spec.template).spec);
}

function trustStatements(resource: PolicyResource): Obj[] {
  const raw = resource.props.assumeRolePolicy;
  if (!known(raw)) return [];
  try {
    return arr(obj(JSON.parse(raw as string)).Statement).map(obj);
  } catch {
    return [];
  }
}

export const policies: PlatformPolicy[] = [
  {
    name: "helm-chart-version-pinned",
    description: "Helm releases pin an exact chart version.",
    rationale:
      "A range or a missing version installs whatever the repository serves that day; upgrades must be reviewed changes.",
    enforcementLevel: "mandatory",
    validateResource: (r, report) => {
      if (r.type !== "kubernetes:helm.sh/v3:Release") return;
      const version = r.props.version;
      if (typeof version !== "string" || !EXACT_SEMVER.test(version)) {
        report(
          `Helm release "${r.name}" must pin an exact chart version like 1.2.3 (got ${JSON.stringify(version)})`,
        );
      }
    },
  },
  {
    name: "images-pinned",
    description: "No container image by `latest` or without a tag or digest.",
    rationale:
      "`latest` and untagged images change under a running system: rollbacks and audits become guesses.",
    enforcementLevel: "mandatory",
    validateResource: (r, report) => {
      const images: string[] = [];
      if (r.type === "docker:index/container:Container" && known(r.props.image))
        images.push(r.props.image as string);
      if (r.type === "docker-build:index:Image") images.push(...arr(r.props.tags).filter(known).map(String));
      if (POD_OWNERS.has(r.type))
        images.push(
          ...podContainers(r)
            .map((c) => c.image)
            .filter(known)
            .map(String),
        );
      for (const image of images) {
        if (!isPinnedImage(image))
          report(`${r.type} "${r.name}" uses image "${image}": pin a tag (not latest) or a digest`);
      }
    },
  },
  {
    name: "s3-bucket-secure",
    description: "S3 buckets are encrypted, versioned and block all public access.",
    rationale:
      "Backups hold every object of the cluster, secrets included: they must be neither public nor overwritable.",
    enforcementLevel: "mandatory",
    validateStack: (resources, report) => {
      const buckets = resources.filter(
        (r) => r.type === "aws:s3/bucket:Bucket" || r.type === "aws:s3/bucketV2:BucketV2",
      );
      const refs = (type: string) =>
        resources.filter((r) => r.type === type).map((r) => ({ bucket: r.props.bucket, props: r.props }));
      for (const bucket of buckets) {
        const ids = new Set([bucket.props.bucket, bucket.name, `${bucket.name}-id`].filter(Boolean));
        const mine = (type: string) => refs(type).filter((x) => ids.has(x.bucket as string));
        const sse = mine(
          "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        );
        if (sse.length === 0)
          report(`S3 bucket "${bucket.name}" has no server-side encryption configuration`, bucket.urn);
        const versioning = mine("aws:s3/bucketVersioning:BucketVersioning");
        if (!versioning.some((v) => obj(v.props.versioningConfiguration).status === "Enabled")) {
          report(`S3 bucket "${bucket.name}" must have versioning Enabled`, bucket.urn);
        }
        const block = mine("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock");
        const flags = ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"];
        if (!block.some((b) => flags.every((f) => b.props[f] === true))) {
          report(`S3 bucket "${bucket.name}" must block public access (all four flags true)`, bucket.urn);
        }
      }
    },
  },
  {
    name: "eks-prod-hardening",
    description: "Production EKS clusters log the control plane and keep nodes in private subnets.",
    rationale:
      "Audit logs are the only record of who changed the cluster; nodes with public addresses widen the attack surface.",
    enforcementLevel: "mandatory",
    validateStack: (resources, report) => {
      for (const cluster of resources.filter((r) => r.type === "eks:index:Cluster")) {
        if (obj(cluster.props.tags)["gitops-platform:environment"] !== "prod") continue;
        if (arr(cluster.props.enabledClusterLogTypes).length === 0) {
          report(`EKS cluster "${cluster.name}" (prod) must enable control-plane logging`, cluster.urn);
        }
        if (cluster.props.nodeAssociatePublicIpAddress !== false) {
          report(`EKS cluster "${cluster.name}" (prod) must not give nodes public IP addresses`, cluster.urn);
        }
        const privateSubnets = JSON.stringify(cluster.props.privateSubnetIds ?? null);
        for (const group of resources.filter((r) => r.type === "eks:index:ManagedNodeGroup")) {
          if (JSON.stringify(group.props.subnetIds ?? null) !== privateSubnets) {
            report(`node group "${group.name}" (prod) must run in the cluster's private subnets`, group.urn);
          }
        }
      }
    },
  },
  {
    name: "deploy-keys-read-only",
    description: "Argo CD deploy keys are read-only.",
    rationale:
      "Argo CD only reads git; a writable key in the cluster would let a compromised cluster rewrite its own desired state.",
    enforcementLevel: "mandatory",
    validateResource: (r, report) => {
      if (r.type === "github:index/repositoryDeployKey:RepositoryDeployKey" && r.props.readOnly !== true) {
        report(`deploy key "${r.name}" must be read-only (readOnly: true)`);
      }
    },
  },
  {
    name: "kubernetes-secrets-from-pulumi-secrets",
    description: "Kubernetes Secrets carry credentials only from Pulumi secrets.",
    rationale:
      "A plaintext input lands unencrypted in the Pulumi state and in previews; Pulumi secrets stay encrypted end to end.",
    enforcementLevel: "mandatory",
    validateResource: (r, report) => {
      if (r.type !== "kubernetes:core/v1:Secret" || !r.secretPaths) return;
      for (const field of ["data", "stringData"]) {
        if (r.secretPaths.includes(field)) continue;
        for (const key of Object.keys(obj(r.props[field]))) {
          if (NON_SENSITIVE_SECRET_KEYS.has(key)) continue;
          if (!r.secretPaths.some((p) => p === `${field}.${key}` || p.startsWith(`${field}.${key}.`))) {
            report(`Secret "${r.name}": ${field}.${key} must come from a Pulumi secret`);
          }
        }
      }
    },
  },
  {
    name: "namespaces-pod-security",
    description: "Namespaces carry Pod Security Admission labels; app namespaces enforce `restricted`.",
    rationale: "Without an enforce label any pod spec is admitted; apps have no reason to run privileged.",
    enforcementLevel: "mandatory",
    validateResource: (r, report) => {
      if (r.type !== "kubernetes:core/v1:Namespace") return;
      const labels = obj(obj(r.props.metadata).labels);
      const level = labels[PSA_ENFORCE];
      if (!level) report(`namespace "${r.name}" must set the ${PSA_ENFORCE} label`);
      else if (labels[APP_NAMESPACE_LABEL] === "true" && level !== "restricted") {
        report(`app namespace "${r.name}" must enforce "restricted" (got "${String(level)}")`);
      }
    },
  },
  {
    name: "app-namespaces-default-deny",
    description: "Each app namespace has a default-deny NetworkPolicy.",
    rationale:
      "Traffic is allowed by exception (the chart's allow rules), so a new pod is isolated until someone says otherwise.",
    enforcementLevel: "mandatory",
    validateStack: (resources, report) => {
      const policiesIn = (ns: string) =>
        resources.filter(
          (r) =>
            r.type === "kubernetes:networking.k8s.io/v1:NetworkPolicy" &&
            obj(r.props.metadata).namespace === ns,
        );
      for (const ns of resources.filter((r) => r.type === "kubernetes:core/v1:Namespace")) {
        const meta = obj(ns.props.metadata);
        if (obj(meta.labels)[APP_NAMESPACE_LABEL] !== "true") continue;
        const denyAll = policiesIn(String(meta.name)).some((p) => {
          const spec = obj(p.props.spec);
          const types = arr(spec.policyTypes);
          return (
            Object.keys(obj(spec.podSelector)).length === 0 &&
            types.includes("Ingress") &&
            types.includes("Egress") &&
            arr(spec.ingress).length === 0 &&
            arr(spec.egress).length === 0
          );
        });
        if (!denyAll)
          report(`app namespace "${String(meta.name)}" needs a default-deny NetworkPolicy`, ns.urn);
      }
    },
  },
  {
    name: "pods-restricted",
    description:
      "Workloads the program deploys itself meet the restricted Pod Security Standard, with requests and limits.",
    rationale:
      "A container that can run as root, write its image or escalate turns one bug into a node compromise; limits keep one app from starving the rest.",
    enforcementLevel: "mandatory",
    validateResource: (r, report) => {
      if (!POD_OWNERS.has(r.type)) return;
      const kind = r.type.split(":").pop();
      for (const problem of podSecurityViolations(podSpecOf(r), kind))
        report(`${r.type} "${r.name}": ${problem}`);
    },
  },
  {
    name: "oidc-roles-scoped",
    description: "IAM roles assumed through OIDC (IRSA, GitHub Actions) have an exact `sub` condition.",
    rationale:
      "Without a `sub` condition (or with a wildcard) any service account, or any repository on GitHub, could assume the role.",
    enforcementLevel: "mandatory",
    validateResource: (r, report) => {
      if (r.type !== "aws:iam/role:Role") return;
      for (const statement of trustStatements(r)) {
        if (statement.Action !== "sts:AssumeRoleWithWebIdentity") continue;
        const condition = obj(statement.Condition);
        const equals = obj(condition.StringEquals);
        const sub = Object.entries(equals).find(([k]) => k.endsWith(":sub"))?.[1];
        if (typeof sub !== "string") {
          report(`role "${r.name}": web-identity trust needs a StringEquals ":sub" condition`);
        } else if (sub.includes("*")) {
          report(`role "${r.name}": ":sub" must not contain wildcards (got "${sub}")`);
        }
        const like = Object.keys(obj(condition.StringLike)).filter((k) => k.endsWith(":sub"));
        if (like.length > 0) report(`role "${r.name}": ":sub" must use StringEquals, not StringLike`);
      }
    },
  },
];

/** Runs every rule over a set of resources and returns the verdicts (violations only). */
export function evaluatePolicies(resources: PolicyResource[], rules: PlatformPolicy[] = policies): Verdict[] {
  const verdicts: Verdict[] = [];
  for (const rule of rules) {
    const report =
      (fallback?: string): Report =>
      (message, urn) =>
        verdicts.push({
          policy: rule.name,
          enforcementLevel: rule.enforcementLevel,
          resource: urn ?? fallback,
          message,
        });
    if (rule.validateResource) for (const r of resources) rule.validateResource(r, report(r.urn));
    if (rule.validateStack) rule.validateStack(resources, report());
  }
  return verdicts;
}

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

function policyStatements(document: unknown): Obj[] {
  if (!known(document)) return [];
  try {
    const statement = obj(JSON.parse(document as string)).Statement;
    return (Array.isArray(statement) ? statement : [statement]).map(obj);
  } catch {
    return [];
  }
}
const asList = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);

const GITHUB_ISSUER = "token.actions.githubusercontent.com";
const ADMINISTRATOR_ACCESS = /:iam::aws:policy\/AdministratorAccess$/;
/** The one wildcard a GitHub workflow pin may have: the number of a pull request. */
const PULL_REQUEST_WORKFLOW_REF =
  /^[\w.-]+\/[\w.-]+\/\.github\/workflows\/[\w.-]+\.ya?ml@refs\/pull\/\*\/merge$/;
const APP_PROJECT = "kubernetes:argoproj.io/v1alpha1:AppProject";
const APP_PROJECT_PATCH = "kubernetes:argoproj.io/v1alpha1:AppProjectPatch";
const isApplicationsOnly = (whitelist: unknown) => {
  const kinds = arr(whitelist).map(obj);
  return kinds.length === 1 && kinds[0]!.group === "argoproj.io" && kinds[0]!.kind === "Application";
};

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
  {
    name: "iam-no-wildcard-actions",
    description:
      "No IAM policy allows every action (`*` or `*:*`), and AdministratorAccess is never attached.",
    rationale:
      "A role that may do anything turns one leaked token (a CI job, a pod) into the whole account; every role here has a scoped policy.",
    enforcementLevel: "mandatory",
    validateResource: (r, report) => {
      const documents =
        r.type === "aws:iam/policy:Policy" || r.type === "aws:iam/rolePolicy:RolePolicy"
          ? [r.props.policy]
          : [];
      for (const statement of documents.flatMap(policyStatements)) {
        if (statement.Effect !== "Allow") continue;
        const wildcard = asList(statement.Action).find((a) => a === "*" || a === "*:*");
        if (wildcard !== undefined)
          report(`${r.type} "${r.name}" allows every action ("${String(wildcard)}")`);
      }
      if (r.type === "aws:iam/rolePolicyAttachment:RolePolicyAttachment") {
        const arn = r.props.policyArn;
        if (typeof arn === "string" && ADMINISTRATOR_ACCESS.test(arn)) {
          report(`attachment "${r.name}" attaches AdministratorAccess; attach a scoped policy instead`);
        }
      }
    },
  },
  {
    name: "github-oidc-workflow-pinned",
    description:
      "Roles GitHub Actions assumes through OIDC pin the workflow file and ref (`job_workflow_ref`), besides the environment (`sub`).",
    rationale:
      "An environment alone admits any workflow file a branch allowed into it adds; pinning the workflow and its ref means only the reviewed file on main deploys.",
    enforcementLevel: "mandatory",
    validateResource: (r, report) => {
      if (r.type !== "aws:iam/role:Role") return;
      for (const statement of trustStatements(r)) {
        const federated = String(obj(statement.Principal).Federated ?? "");
        if (statement.Action !== "sts:AssumeRoleWithWebIdentity" || !federated.endsWith(`/${GITHUB_ISSUER}`))
          continue;
        const condition = obj(statement.Condition);
        const key = `${GITHUB_ISSUER}:job_workflow_ref`;
        const exact = obj(condition.StringEquals)[key];
        const like = obj(condition.StringLike)[key];
        if (typeof exact === "string" && !exact.includes("*") && exact.includes("/.github/workflows/"))
          continue;
        if (typeof like === "string" && PULL_REQUEST_WORKFLOW_REF.test(like)) continue;
        report(
          `role "${r.name}": GitHub OIDC trust must pin ${key} to <owner>/<repo>/.github/workflows/<file>@<ref> (a wildcard only as a pull request number; got ${JSON.stringify(exact ?? like ?? null)})`,
        );
      }
    },
  },
  {
    name: "argocd-projects-scoped",
    description:
      "Argo CD AppProjects name their sources, destinations and kinds (no `*`); only a project limited to Applications may target Argo CD's namespace; the `default` project is locked.",
    rationale:
      "Whoever can commit to a repository a project admits runs what that project allows: `*` or Argo CD's own namespace make a commit cluster-admin, and `default` allows everything until emptied.",
    enforcementLevel: "mandatory",
    validateStack: (resources, report) => {
      const projects = resources.filter((r) => r.type === APP_PROJECT);
      for (const project of projects) {
        const meta = obj(project.props.metadata);
        const spec = obj(project.props.spec);
        const label = `AppProject "${String(meta.name ?? project.name)}"`;
        const wild = (v: unknown) => v === "*";
        if (arr(spec.sourceRepos).some(wild))
          report(`${label}: sourceRepos must not contain "*"`, project.urn);
        for (const d of arr(spec.destinations).map(obj)) {
          if ([d.server, d.namespace, d.name].some(wild))
            report(`${label}: destination ${JSON.stringify(d)} must not use "*"`, project.urn);
          if (d.namespace === meta.namespace && !isApplicationsOnly(spec.namespaceResourceWhitelist)) {
            report(
              `${label}: only a project limited to Applications may deploy into Argo CD's namespace "${String(meta.namespace)}"`,
              project.urn,
            );
          }
        }
        for (const field of ["clusterResourceWhitelist", "namespaceResourceWhitelist"]) {
          for (const k of arr(spec[field]).map(obj)) {
            if (wild(k.group) || wild(k.kind))
              report(`${label}: ${field} must name groups and kinds (got ${JSON.stringify(k)})`, project.urn);
          }
        }
      }
      if (projects.length === 0) return;
      const locked = resources.some((r) => {
        const spec = obj(r.props.spec);
        return (
          r.type === APP_PROJECT_PATCH &&
          obj(r.props.metadata).name === "default" &&
          arr(spec.sourceRepos).length === 0 &&
          arr(spec.destinations).length === 0 &&
          arr(spec.clusterResourceWhitelist).length === 0
        );
      });
      if (!locked) {
        report(
          'the "default" AppProject must be locked: patch it to no sourceRepos, no destinations and no cluster kinds',
        );
      }
    },
  },
  {
    name: "eks-endpoint-restricted",
    description: "A production EKS API endpoint is private, or public only to named CIDRs (never 0.0.0.0/0).",
    rationale:
      "The API endpoint is the cluster's front door: credentials leak, CVEs happen, and an endpoint the whole internet can reach meets both.",
    enforcementLevel: "mandatory",
    validateResource: (r, report) => {
      if (r.type !== "eks:index:Cluster") return;
      if (obj(r.props.tags)["gitops-platform:environment"] !== "prod") return;
      if (r.props.endpointPublicAccess === false) return;
      const cidrs = arr(r.props.publicAccessCidrs);
      if (cidrs.length === 0 || cidrs.includes("0.0.0.0/0")) {
        report(
          `EKS cluster "${r.name}" (prod) has a public endpoint open to ${cidrs.length === 0 ? "everyone (no publicAccessCidrs)" : "0.0.0.0/0"}; list the allowed CIDRs or make it private`,
        );
      }
    },
  },
];

/** Charts whose Ingress or Service exposes an admin UI. */
const ADMIN_UI_CHARTS = new Set(["argo-cd", "grafana"]);
const ALB = "alb.ingress.kubernetes.io";
/** Actions that change or read data: IRSA policies must scope them by resource ARN or condition. */
const RESOURCE_SCOPED_ACTIONS = new Set([
  "route53:changeresourcerecordsets",
  "autoscaling:setdesiredcapacity",
  "autoscaling:terminateinstanceinautoscalinggroup",
  "s3:getobject",
  "s3:putobject",
  "s3:deleteobject",
  "iam:passrole",
]);

/** Every ALB Ingress annotation map of a stack: from k8s Ingress resources and from chart values. */
function albIngresses(
  resources: PolicyResource[],
): { owner: PolicyResource; adminUi: boolean; annotations: Obj }[] {
  const found: { owner: PolicyResource; adminUi: boolean; annotations: Obj }[] = [];
  for (const r of resources) {
    if (r.type === "kubernetes:networking.k8s.io/v1:Ingress") {
      found.push({ owner: r, adminUi: false, annotations: obj(obj(r.props.metadata).annotations) });
    }
    if (r.type === "kubernetes:helm.sh/v3:Release") {
      const values = obj(r.props.values);
      const adminUi = ADMIN_UI_CHARTS.has(String(r.props.chart));
      for (const ingress of [obj(values.ingress), obj(obj(values.server).ingress)]) {
        if (ingress.enabled === true)
          found.push({ owner: r, adminUi, annotations: obj(ingress.annotations) });
      }
    }
  }
  return found;
}

/** The component type of the GitHub Actions roles (components/github/github-oidc-role.ts). */
const CI_ROLE_COMPONENT = "gitops-platform:github:GitHubOidcRole";
const actionsOf = (statement: Obj) =>
  (Array.isArray(statement.Action) ? statement.Action : [statement.Action]).map(String);
const resourcesOf = (statement: Obj) =>
  (Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource]).map(String);

// The EKS front door's promises (docs/eks.md): private admin UIs, validated certificates, scoped IRSA roles.
policies.push(
  {
    name: "admin-uis-private",
    description:
      "Argo CD and Grafana are never on an internet-facing load balancer open to all: an internet-facing admin Ingress needs adminCidrs on its load balancer, and no admin chart gets a LoadBalancer Service.",
    rationale:
      "The admin UIs log in with passwords; reachable by the whole internet they are one leaked or guessed password from a cluster takeover.",
    enforcementLevel: "mandatory",
    validateStack: (resources, report) => {
      const ingresses = albIngresses(resources);
      // inbound-cidrs is a setting of the load balancer: set on one Ingress, it holds for its whole group.
      const groupCidrs = new Map<string, string[]>();
      for (const { annotations } of ingresses) {
        const cidrs = annotations[`${ALB}/inbound-cidrs`];
        if (typeof cidrs !== "string") continue;
        const group = String(annotations[`${ALB}/group.name`] ?? "");
        groupCidrs.set(group, [...(groupCidrs.get(group) ?? []), ...cidrs.split(",").map((c) => c.trim())]);
      }
      for (const { owner, adminUi, annotations } of ingresses) {
        if (!adminUi || annotations[`${ALB}/scheme`] !== "internet-facing") continue;
        const group = String(annotations[`${ALB}/group.name`] ?? "");
        const cidrs = groupCidrs.get(group) ?? [];
        // An explicit 0.0.0.0/0 is the user's choice: the config refuses it on prod and warns elsewhere.
        if (cidrs.length === 0) {
          report(
            `"${owner.name}": an internet-facing admin UI (group "${group}") must admit only adminCidrs (inbound-cidrs unset: 0.0.0.0/0); set adminCidrs, or leave them empty for an internal load balancer`,
            owner.urn,
          );
        }
      }
      for (const r of resources) {
        const values = obj(r.props.values);
        const services =
          r.type === "kubernetes:helm.sh/v3:Release" && ADMIN_UI_CHARTS.has(String(r.props.chart))
            ? [obj(values.service), obj(obj(values.server).service)]
            : [];
        if (r.type === "kubernetes:core/v1:Service") {
          const spec = obj(r.props.spec);
          if (spec.type === "LoadBalancer" && arr(spec.loadBalancerSourceRanges).length === 0) {
            report(
              `Service "${r.name}" is a LoadBalancer open to 0.0.0.0/0 (no loadBalancerSourceRanges)`,
              r.urn,
            );
          }
        }
        if (services.some((svc) => svc.type === "LoadBalancer")) {
          report(
            `"${r.name}": admin UIs are reached through the HTTPS Ingress, not a LoadBalancer Service`,
            r.urn,
          );
        }
      }
    },
  },
  {
    name: "certificates-dns-validated",
    description: "ACM certificates are DNS-validated, and the program waits for their validation.",
    rationale:
      "Email validation needs a human at the domain's mailbox at every renewal; an unvalidated certificate makes the load balancer fail to start.",
    enforcementLevel: "mandatory",
    validateStack: (resources, report) => {
      const certificates = resources.filter((r) => r.type === "aws:acm/certificate:Certificate");
      const validations = resources.filter(
        (r) =>
          r.type === "aws:acm/certificateValidation:CertificateValidation" &&
          arr(r.props.validationRecordFqdns).length > 0,
      );
      for (const certificate of certificates) {
        if (certificate.props.validationMethod !== "DNS") {
          report(
            `certificate "${certificate.name}" must use validationMethod "DNS" (got ${JSON.stringify(certificate.props.validationMethod)})`,
            certificate.urn,
          );
        }
      }
      if (validations.length < certificates.length) {
        report(
          `${certificates.length} ACM certificate(s) but ${validations.length} CertificateValidation(s) with DNS records: every certificate needs one`,
        );
      }
    },
  },
  {
    name: "iam-policies-scoped",
    description:
      "IAM role policies (IRSA add-ons above all) grant no wildcard actions, and scope data-changing actions to resource ARNs or conditions.",
    rationale:
      "A pod's service account is one container escape away from an attacker: its role must reach only its own zone, bucket or node groups.",
    enforcementLevel: "mandatory",
    validateResource: (r, report) => {
      if (r.type !== "aws:iam/rolePolicy:RolePolicy" && r.type !== "aws:iam/policy:Policy") return;
      // The CI roles' deploy policy and permissions boundary manage whole services by tag and name prefix
      // (a boundary is a ceiling): iam-no-wildcard-actions and github-oidc-workflow-pinned judge them.
      if (r.urn.includes(`${CI_ROLE_COMPONENT}$`)) return;
      for (const statement of policyStatements(r.props.policy)) {
        if (statement.Effect !== "Allow") continue;
        const actions = actionsOf(statement);
        const wildcards = actions.filter((a) => a === "*" || /:\*$/.test(a));
        if (wildcards.length > 0) report(`policy "${r.name}": wildcard actions ${wildcards.join(", ")}`);
        const unscoped = resourcesOf(statement).includes("*") && statement.Condition === undefined;
        const sensitive = actions.filter((a) => RESOURCE_SCOPED_ACTIONS.has(a.toLowerCase()));
        if (unscoped && sensitive.length > 0) {
          report(`policy "${r.name}": ${sensitive.join(", ")} on Resource "*" without a condition`);
        }
      }
    },
  },
);

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

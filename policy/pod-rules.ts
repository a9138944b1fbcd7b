/**
 * The pod rules of the platform, written once as a table. Each rule carries its message, a TypeScript
 * predicate (run by the policy pack, the offline plan and the chart tests through podSecurityViolations)
 * and the same predicate in CEL (compiled into the cluster's ValidatingAdmissionPolicies by
 * components/addons/admission-policies.ts). test/admission.test.ts evaluates both halves of every rule
 * on the same objects and fails when they disagree.
 *
 * CEL conventions (what a ValidatingAdmissionPolicy sees): `object` is the admitted object,
 * `variables.podSpec` its pod spec (a Pod's spec, a workload's template spec, a CronJob's job template's),
 * `variables.containers` its containers and init containers. A container rule's CEL is a predicate over
 * one container `c`; absent fields are guarded with has(), as the API server's CEL requires.
 */

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Where a rule looks. */
export type PodRuleScope =
  /** Every container and init container; the message names the container. */
  | "container"
  /** The long-running containers only (not init containers), of workloads that are not batch jobs. */
  | "serving-container"
  /** The pod spec as a whole. */
  | "pod";

export interface PodRule {
  /** Stable id, also the admission validation's `reason` detail in tests. */
  id: string;
  /** What the rule requires, e.g. "readOnlyRootFilesystem must be true". */
  message: string;
  scope: PodRuleScope;
  /** The rule in TypeScript: true when the container (or, for scope "pod", the pod spec) complies. */
  complies: (container: Obj, podSpec: Obj) => boolean;
  /** The same rule in CEL: over `c` for container scopes, over `variables.podSpec` for scope "pod". */
  cel: string;
}

/** Kinds whose pods run to completion: probes make no sense there. */
export const BATCH_KINDS = ["Job", "CronJob"] as const;

/** CEL: `base.a.b` is present (each step guarded with has()). */
export function celHas(base: string, path: string[]): string {
  return path.map((_, i) => `has(${[base, ...path.slice(0, i + 1)].join(".")})`).join(" && ");
}

/** CEL: `base.a.b == value`, false when any step is absent. */
const celIs = (base: string, path: string[], value: string) =>
  `(${celHas(base, path)} && ${[base, ...path].join(".")} == ${value})`;

/** CEL: the container's field if it sets it, else the pod's (runAsNonRoot, seccompProfile). */
const celContainerOrPod = (path: string[], test: (expr: string) => string) =>
  `((${celHas("c", ["securityContext", ...path])}) ? ${test(["c.securityContext", ...path].join("."))} : ` +
  `(${celHas("variables.podSpec", ["securityContext", ...path])} && ${test(["variables.podSpec.securityContext", ...path].join("."))}))`;

const sc = (c: Obj) => obj(c.securityContext);
const podSc = (pod: Obj) => obj(pod.securityContext);
const caps = (c: Obj) => obj(sc(c).capabilities);
const SECCOMP_TYPES = ["RuntimeDefault", "Localhost"];

const resourceRules: PodRule[] = (["requests", "limits"] as const).flatMap((kind) =>
  (["cpu", "memory"] as const).map((resource): PodRule => ({
    id: `${kind}-${resource}`,
    message: `${kind}.${resource} must be set`,
    scope: "container",
    complies: (c) => obj(obj(c.resources)[kind])[resource] !== undefined,
    cel: `(${celHas("c", ["resources", kind, resource])})`,
  })),
);

/** Every pod rule of the platform. */
export const POD_RULES: readonly PodRule[] = [
  {
    id: "has-containers",
    message: "the pod has no containers",
    scope: "pod",
    complies: (pod) => arr(pod.containers).length > 0,
    cel: "size(variables.containers) > 0",
  },
  {
    id: "run-as-non-root",
    message: "runAsNonRoot must be true",
    scope: "container",
    complies: (c, pod) => (sc(c).runAsNonRoot ?? podSc(pod).runAsNonRoot) === true,
    cel: celContainerOrPod(["runAsNonRoot"], (e) => `${e} == true`),
  },
  {
    id: "run-as-user-not-root",
    message: "runAsUser must not be 0",
    scope: "container",
    complies: (c, pod) => (sc(c).runAsUser ?? podSc(pod).runAsUser) !== 0,
    cel: `((${celHas("c", ["securityContext", "runAsUser"])}) ? c.securityContext.runAsUser != 0 : !(${celIs("variables.podSpec", ["securityContext", "runAsUser"], "0")}))`,
  },
  {
    id: "read-only-root-filesystem",
    message: "readOnlyRootFilesystem must be true",
    scope: "container",
    complies: (c) => sc(c).readOnlyRootFilesystem === true,
    cel: celIs("c", ["securityContext", "readOnlyRootFilesystem"], "true"),
  },
  {
    id: "no-privilege-escalation",
    message: "allowPrivilegeEscalation must be false",
    scope: "container",
    complies: (c) => sc(c).allowPrivilegeEscalation === false,
    cel: celIs("c", ["securityContext", "allowPrivilegeEscalation"], "false"),
  },
  {
    id: "not-privileged",
    message: "must not be privileged",
    scope: "container",
    complies: (c) => sc(c).privileged !== true,
    cel: `!${celIs("c", ["securityContext", "privileged"], "true")}`,
  },
  {
    id: "drop-all-capabilities",
    message: "capabilities must drop ALL",
    scope: "container",
    complies: (c) => arr(caps(c).drop).includes("ALL"),
    cel: `(${celHas("c", ["securityContext", "capabilities", "drop"])} && 'ALL' in c.securityContext.capabilities.drop)`,
  },
  {
    id: "no-added-capabilities",
    message: "must not add capabilities",
    scope: "container",
    complies: (c) => arr(caps(c).add).length === 0,
    cel: `!(${celHas("c", ["securityContext", "capabilities", "add"])} && size(c.securityContext.capabilities.add) > 0)`,
  },
  {
    id: "seccomp-runtime-default",
    message: "seccompProfile must be RuntimeDefault",
    scope: "container",
    complies: (c, pod) =>
      SECCOMP_TYPES.includes(String(obj(sc(c).seccompProfile).type ?? obj(podSc(pod).seccompProfile).type)),
    cel: celContainerOrPod(
      ["seccompProfile", "type"],
      (e) => `${e} in [${SECCOMP_TYPES.map((t) => `'${t}'`).join(", ")}]`,
    ),
  },
  ...resourceRules,
  {
    id: "liveness-probe",
    message: "livenessProbe must be set",
    scope: "serving-container",
    complies: (c) => c.livenessProbe !== undefined,
    cel: "has(c.livenessProbe)",
  },
  {
    id: "readiness-probe",
    message: "readinessProbe must be set",
    scope: "serving-container",
    complies: (c) => c.readinessProbe !== undefined,
    cel: "has(c.readinessProbe)",
  },
  {
    id: "no-host-namespaces",
    message: "the pod must not share host namespaces",
    scope: "pod",
    complies: (pod) => pod.hostNetwork !== true && pod.hostPID !== true && pod.hostIPC !== true,
    cel: ["hostNetwork", "hostPID", "hostIPC"]
      .map((f) => `!${celIs("variables.podSpec", [f], "true")}`)
      .join(" && "),
  },
];

/** A breach of a rule: which rule, and the message as the policy pack reports it. */
export interface PodRuleViolation {
  rule: string;
  message: string;
}

/**
 * Applies every rule to a pod spec. `kind` is the owning object's kind: batch kinds skip the serving
 * rules (probes). One violation per rule and offending container.
 */
export function podRuleViolations(podSpec: Obj, kind?: string): PodRuleViolation[] {
  const containers = [...arr(podSpec.containers), ...arr(podSpec.initContainers)].map(obj);
  const serving = (BATCH_KINDS as readonly string[]).includes(kind ?? "")
    ? []
    : arr(podSpec.containers).map(obj);
  const found: PodRuleViolation[] = [];
  for (const rule of POD_RULES) {
    if (rule.scope === "pod") {
      if (!rule.complies(podSpec, podSpec)) found.push({ rule: rule.id, message: rule.message });
      continue;
    }
    for (const c of rule.scope === "container" ? containers : serving) {
      if (!rule.complies(c, podSpec))
        found.push({ rule: rule.id, message: `container ${String(c.name ?? "?")}: ${rule.message}` });
    }
  }
  return found;
}

/** CEL of one rule as an admission validation over the whole object (see the conventions above). */
export function podRuleExpression(rule: PodRule): string {
  switch (rule.scope) {
    case "pod":
      return rule.cel;
    case "container":
      return `variables.containers.all(c, ${rule.cel})`;
    case "serving-container":
      return `variables.batch || variables.podSpec.containers.all(c, ${rule.cel})`;
  }
}

/**
 * The variables every pod validation uses: the pod spec wherever the kind keeps it, its containers, and
 * whether it is batch work (a Job, a CronJob, or a Pod a Job owns).
 */
export const POD_VARIABLES: ReadonlyArray<{ name: string; expression: string }> = [
  {
    name: "podSpec",
    expression:
      "object.kind == 'Pod' ? object.spec : " +
      "(object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec)",
  },
  {
    name: "containers",
    expression:
      "variables.podSpec.containers + (has(variables.podSpec.initContainers) ? variables.podSpec.initContainers : [])",
  },
  {
    name: "batch",
    expression:
      `object.kind in [${BATCH_KINDS.map((k) => `'${k}'`).join(", ")}] || ` +
      "(object.kind == 'Pod' && has(object.metadata.ownerReferences) && " +
      "object.metadata.ownerReferences.exists(o, o.kind == 'Job'))",
  },
];

/** The image rules of the admission policy: the stack's registry, by digest. */
export interface ImageRule {
  id: string;
  message: (registryPrefix: string) => string;
  complies: (image: string, registryPrefix: string) => boolean;
  /** CEL over one container `c`, with the registry prefix as a CEL string literal. */
  cel: (registryPrefixLiteral: string) => string;
}

const DIGEST_SUFFIX = "@sha256:[a-f0-9]{64}$";

export const IMAGE_RULES: readonly ImageRule[] = [
  {
    id: "image-by-digest",
    message: () => "images must be pinned by digest (name@sha256:<64 hex>)",
    complies: (image) => new RegExp(DIGEST_SUFFIX).test(image),
    cel: () => `c.image.matches('${DIGEST_SUFFIX}')`,
  },
  {
    id: "image-from-stack-registry",
    message: (prefix) => `images must come from the stack's registry ${prefix}`,
    complies: (image, prefix) => image.startsWith(prefix),
    cel: (prefix) => `c.image.startsWith(${prefix})`,
  },
];

/** A CEL string literal (single-quoted; backslashes and quotes escaped). */
export function celString(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/** The image rules applied to a pod spec's containers, as the chart tests use them. */
export function imageRuleViolations(podSpec: Obj, registryPrefix: string): PodRuleViolation[] {
  const containers = [...arr(podSpec.containers), ...arr(podSpec.initContainers)].map(obj);
  return IMAGE_RULES.flatMap((rule) =>
    containers
      .filter((c) => !rule.complies(String(c.image ?? ""), registryPrefix))
      .map((c) => ({
        rule: rule.id,
        message: `container ${String(c.name ?? "?")}: ${rule.message(registryPrefix)}`,
      })),
  );
}

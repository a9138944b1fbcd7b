import * as path from "node:path";
import * as ts from "typescript";

/**
 * Validation of rendered Kubernetes objects against the OpenAPI schemas of a pinned Kubernetes version,
 * the way the API server with strict field validation (kubectl's default) would judge them:
 *
 * 1. the JSON schema of the kind (types, required fields, enums, formats) through the `validate()` of the
 *    `kubernetes-models` model classes (CRDs: `@kubernetes-models/argo-cd`, `.../prometheus-operator`,
 *    `.../argo-rollouts`, `.../external-secrets`);
 * 2. unknown fields, which those schemas let through, found by walking the object against the models'
 *    TypeScript declarations (generated from the same OpenAPI documents) with the TypeScript checker.
 *
 * A kind without a model here is an error, never a silent pass.
 */

/**
 * Kubernetes version the core schemas come from: kubernetes-models 5.x is generated from the Kubernetes
 * v1.36.0 OpenAPI document (its 5.0.0 changelog: "Update to Kubernetes v1.36.0"; 5.1.0 kept it, as the
 * 1.36-only `PodSpec.schedulingGroup` in the installed models shows). The package also carries API
 * versions that newer releases removed; only current ones are mapped below, so a removed apiVersion fails.
 */
export const KUBERNETES_SCHEMA_VERSION = "1.36.0";

/** Exact versions of the schema packages; a test compares them with node_modules so a bump is noticed. */
export const SCHEMA_PACKAGES = {
  "kubernetes-models": "5.1.0",
  "@kubernetes-models/argo-cd": "4.0.0",
  "@kubernetes-models/prometheus-operator": "6.0.0",
  // Generated from Argo Rollouts v1.9.0 (its go.mod), the version the pinned argo-rollouts chart installs.
  "@kubernetes-models/argo-rollouts": "2.0.0",
  "@kubernetes-models/external-secrets": "2.0.0",
} as const;

/** `apiVersion/kind` → module of its model (the module exports class `<Kind>` and interface `I<Kind>`). */
const MODELS: Readonly<Record<string, string>> = {
  "v1/ConfigMap": "kubernetes-models/v1/ConfigMap",
  "v1/Namespace": "kubernetes-models/v1/Namespace",
  "v1/Pod": "kubernetes-models/v1/Pod",
  "v1/Secret": "kubernetes-models/v1/Secret",
  "v1/Service": "kubernetes-models/v1/Service",
  "v1/ServiceAccount": "kubernetes-models/v1/ServiceAccount",
  "apps/v1/DaemonSet": "kubernetes-models/apps/v1/DaemonSet",
  "apps/v1/Deployment": "kubernetes-models/apps/v1/Deployment",
  "apps/v1/StatefulSet": "kubernetes-models/apps/v1/StatefulSet",
  "batch/v1/CronJob": "kubernetes-models/batch/v1/CronJob",
  "batch/v1/Job": "kubernetes-models/batch/v1/Job",
  "policy/v1/PodDisruptionBudget": "kubernetes-models/policy/v1/PodDisruptionBudget",
  "autoscaling/v2/HorizontalPodAutoscaler": "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler",
  "networking.k8s.io/v1/Ingress": "kubernetes-models/networking.k8s.io/v1/Ingress",
  "networking.k8s.io/v1/NetworkPolicy": "kubernetes-models/networking.k8s.io/v1/NetworkPolicy",
  "rbac.authorization.k8s.io/v1/Role": "kubernetes-models/rbac.authorization.k8s.io/v1/Role",
  "rbac.authorization.k8s.io/v1/RoleBinding": "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding",
  "monitoring.coreos.com/v1/PodMonitor":
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor",
  "monitoring.coreos.com/v1/PrometheusRule":
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule",
  "monitoring.coreos.com/v1/ServiceMonitor":
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor",
  "argoproj.io/v1alpha1/AppProject": "@kubernetes-models/argo-cd/argoproj.io/v1alpha1/AppProject",
  "argoproj.io/v1alpha1/Application": "@kubernetes-models/argo-cd/argoproj.io/v1alpha1/Application",
  "argoproj.io/v1alpha1/ApplicationSet": "@kubernetes-models/argo-cd/argoproj.io/v1alpha1/ApplicationSet",
  "argoproj.io/v1alpha1/Rollout": "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Rollout",
  "argoproj.io/v1alpha1/AnalysisTemplate":
    "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisTemplate",
  "external-secrets.io/v1/ExternalSecret":
    "@kubernetes-models/external-secrets/external-secrets.io/v1/ExternalSecret",
};

/** The `apiVersion/kind` pairs this module can validate. */
export const SUPPORTED_KINDS: readonly string[] = Object.keys(MODELS);

type Model = new (data: unknown) => { validate(): void };
const modelClasses = new Map<string, Promise<Model>>();

function modelClass(key: string): Promise<Model> {
  let model = modelClasses.get(key);
  if (!model) {
    const kind = key.slice(key.lastIndexOf("/") + 1);
    // The model packages are ESM only: load them with import(), once per kind.
    model = import(MODELS[key]!).then((mod: Record<string, unknown>) => {
      const cls = mod[kind];
      if (typeof cls !== "function") throw new Error(`${MODELS[key]} exports no class ${kind}`);
      return cls as Model;
    });
    modelClasses.set(key, model);
  }
  return model;
}

/** A short name for messages: `Deployment/demo-app`. */
export function objectName(obj: unknown): string {
  const o = (obj ?? {}) as { kind?: unknown; metadata?: { name?: unknown } };
  return `${String(o.kind ?? "?")}/${String(o.metadata?.name ?? "?")}`;
}

/** Every problem of one object, empty when it is valid. */
export async function validationProblems(obj: unknown): Promise<string[]> {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return ["not an object"];
  const { apiVersion, kind, metadata } = obj as { apiVersion?: unknown; kind?: unknown; metadata?: unknown };
  if (typeof apiVersion !== "string" || typeof kind !== "string") return ["apiVersion and kind are required"];
  const key = `${apiVersion}/${kind}`;
  if (!(key in MODELS)) {
    return [`no schema for apiVersion "${apiVersion}" kind "${kind}" (known: ${SUPPORTED_KINDS.join(", ")})`];
  }
  const problems: string[] = [];
  const name = (metadata as { name?: unknown } | undefined)?.name;
  if (typeof name !== "string" || name === "") problems.push("metadata.name is required");
  try {
    new (await modelClass(key))(obj).validate();
  } catch (err) {
    problems.push(`schema: ${(err as Error).message}`);
  }
  problems.push(...unknownFields(key, obj));
  return problems;
}

/** Throws listing every problem when the object is invalid. */
export async function assertValid(obj: unknown, where = ""): Promise<void> {
  const problems = await validationProblems(obj);
  if (problems.length > 0) {
    throw new Error(
      `${where}${where ? ": " : ""}${objectName(obj)} is invalid:\n  - ${problems.join("\n  - ")}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------
// Unknown fields, from the models' TypeScript declarations.

interface Declarations {
  checker: ts.TypeChecker;
  /** `apiVersion/kind` → declared type of the object. */
  types: Map<string, ts.Type>;
}
let declarations: Declarations | undefined;

/** One TypeScript program over the declarations of every model, built on first use (about a second). */
function loadDeclarations(): Declarations {
  if (declarations) return declarations;
  const keys = Object.keys(MODELS);
  const root = path.join(__dirname, "__k8s_models__.ts");
  const source = [
    ...keys.map((key, i) => {
      const kind = key.slice(key.lastIndexOf("/") + 1);
      return `import type { I${kind} as T${i} } from ${JSON.stringify(MODELS[key])};`;
    }),
    `export interface Models {`,
    ...keys.map((key, i) => `  ${JSON.stringify(key)}: T${i};`),
    `}`,
  ].join("\n");
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    // Array<T> and friends only: the declarations need nothing newer, and a small lib keeps this fast.
    lib: ["lib.es5.d.ts"],
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.getSourceFile = (file, language, ...rest) =>
    file === root
      ? ts.createSourceFile(file, source, language, true)
      : getSourceFile(file, language, ...rest);
  host.fileExists = (file) => file === root || fileExists(file);
  const program = ts.createProgram([root], options, host);
  const unresolved = program
    .getSemanticDiagnostics(program.getSourceFile(root))
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
  if (unresolved.length > 0) throw new Error(`model declarations do not load: ${unresolved.join("; ")}`);
  const checker = program.getTypeChecker();
  const models = program.getSourceFile(root)!.statements.find(ts.isInterfaceDeclaration)!;
  const modelsType = checker.getTypeAtLocation(models);
  const types = new Map(keys.map((key) => [key, checker.getTypeOfSymbol(modelsType.getProperty(key)!)]));
  declarations = { checker, types };
  return declarations;
}

/** Fields the declared type of `key` does not have, as `path: unknown field` lines. */
export function unknownFields(key: string, obj: unknown): string[] {
  const { checker, types } = loadDeclarations();
  const type = types.get(key);
  if (!type) throw new Error(`no declarations for ${key}`);
  const problems: string[] = [];
  walk(checker, obj, type, "", problems);
  return problems;
}

function walk(
  checker: ts.TypeChecker,
  value: unknown,
  declared: ts.Type,
  at: string,
  problems: string[],
): void {
  if (value === null || typeof value !== "object") return;
  const type = checker.getNonNullableType(declared);
  if (type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return;
  if (Array.isArray(value)) {
    const element = checker.getIndexTypeOfType(type, ts.IndexKind.Number);
    if (element) value.forEach((item, i) => walk(checker, item, element, `${at}[${i}]`, problems));
    return;
  }
  // Unions such as IntOrString have no object member to check; ambiguous unions are not judged.
  const objects = (type.isUnion() ? type.types : [type]).filter((t) => t.flags & ts.TypeFlags.Object);
  if (objects.length !== 1) return;
  const objectType = objects[0]!;
  const properties = checker.getPropertiesOfType(objectType);
  const index = checker.getIndexTypeOfType(objectType, ts.IndexKind.String);
  // No declared fields at all: a free-form object (x-kubernetes-preserve-unknown-fields).
  if (properties.length === 0 && !index) return;
  for (const [field, child] of Object.entries(value)) {
    const where = at ? `${at}.${field}` : field;
    const property = checker.getPropertyOfType(objectType, field);
    if (property) walk(checker, child, checker.getTypeOfSymbol(property), where, problems);
    else if (index) walk(checker, child, index, where, problems);
    else problems.push(`${where}: unknown field`);
  }
}

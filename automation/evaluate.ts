/**
 * Evaluates the real program under Pulumi mocks with a stack's configuration: Pulumi.yaml defaults plus
 * Pulumi.<stack>.yaml, exactly as the engine would merge them. Shared by the offline plan
 * (automation/plan.ts) and the tests, so both see the same resources.
 *
 * The mocks stand in for the engine and the providers only: every resource the program registers is
 * recorded with its type, name, parent, dependencies and inputs, and answered with its inputs as state
 * plus the few computed outputs the program reads back (kubeconfigs, ARNs, ids).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";

export const PROJECT_DIR = path.resolve(__dirname, "..");

/** Placeholder given to the program for every `secure:` config value. */
export const SECRET_PLACEHOLDER = "[secret]";

// Markers of the Pulumi wire format (sdk/nodejs/runtime/rpc.ts).
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e";
const OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4";
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** GitHub's webhook source ranges as its meta API lists them (answer of the mocked getIpRanges). */
export const GITHUB_HOOKS_IPV4 = ["192.30.252.0/22", "185.199.108.0/22", "140.82.112.0/20", "143.55.64.0/20"];
const GITHUB_HOOKS_IPV6 = ["2a0a:a440::/29", "2606:50c0::/32"];

export interface EvaluatedResource {
  urn: string;
  type: string;
  name: string;
  /** URN of the parent resource; undefined for the stack itself. */
  parent?: string;
  custom: boolean;
  /** URN of the explicit provider, if any. */
  provider?: string;
  /** URNs of explicit `dependsOn` resources. */
  dependsOn: string[];
  /** Inputs with secrets unwrapped; for assertions only, never print these. */
  inputs: Record<string, unknown>;
  /** Inputs with every secret replaced by "[secret]"; safe to print. */
  maskedInputs: Record<string, unknown>;
  /** Dotted paths of the inputs that were secret. */
  secretPaths: string[];
}

export interface StackConfigValue {
  value: string;
  secret: boolean;
}

export interface Evaluation {
  stack: string;
  project: string;
  config: Record<string, StackConfigValue>;
  resources: EvaluatedResource[];
  /** Stack outputs with secrets unwrapped; for assertions only. */
  outputs: Record<string, unknown>;
  /** Names of the stack outputs that are secret. */
  secretOutputs: string[];
  /** The program's error, if it failed (e.g. bad config). */
  error?: Error;
  durationMs: number;
}

export interface EvaluateOptions {
  /** Config overrides, by full key (`gitops-platform:nodeMinSize`); `undefined` removes a key. */
  overrides?: Record<string, unknown>;
  /** Directory holding Pulumi.yaml and the stack files. Default: the project root. */
  projectDir?: string;
  /** Evaluate as a preview (outputs of new resources unknown). Default: true, like `pulumi preview`. */
  preview?: boolean;
}

interface ProjectFile {
  name: string;
  main?: string;
  config?: Record<string, { type?: string; default?: unknown; description?: string; secret?: boolean }>;
}

/** Reads Pulumi.yaml. */
export function readProject(projectDir = PROJECT_DIR): ProjectFile {
  return parse(fs.readFileSync(path.join(projectDir, "Pulumi.yaml"), "utf8")) as ProjectFile;
}

/** Stack names with a Pulumi.<stack>.yaml in the project. */
export function listStacks(projectDir = PROJECT_DIR): string[] {
  return fs
    .readdirSync(projectDir)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
}

/** Reads a stack file's `config:` map (raw YAML values). */
export function readStackFile(stack: string, projectDir = PROJECT_DIR): Record<string, unknown> {
  const file = path.join(projectDir, `Pulumi.${stack}.yaml`);
  if (!fs.existsSync(file)) {
    const known = listStacks(projectDir).join(", ");
    throw new Error(
      `unknown stack "${stack}": no Pulumi.${stack}.yaml in ${projectDir} (known stacks: ${known})`,
    );
  }
  const doc = (parse(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
  return doc.config ?? {};
}

/**
 * The configuration the engine would hand the program: Pulumi.yaml defaults (project namespace) under
 * the stack file's values, every value in its string form, `secure:` values as secret placeholders.
 */
export function resolveStackConfig(
  stack: string,
  options: Pick<EvaluateOptions, "overrides" | "projectDir"> = {},
): Record<string, StackConfigValue> {
  const projectDir = options.projectDir ?? PROJECT_DIR;
  const project = readProject(projectDir);
  const config: Record<string, StackConfigValue> = {};
  for (const [key, decl] of Object.entries(project.config ?? {})) {
    if (decl.default !== undefined) config[qualify(project.name, key)] = toConfigValue(decl.default);
  }
  const merged = { ...readStackFile(stack, projectDir), ...options.overrides };
  for (const [key, value] of Object.entries(merged)) {
    const full = qualify(project.name, key);
    if (value === undefined) delete config[full];
    else config[full] = toConfigValue(value);
  }
  return config;
}

function qualify(project: string, key: string): string {
  return key.includes(":") ? key : `${project}:${key}`;
}

function toConfigValue(value: unknown): StackConfigValue {
  if (value && typeof value === "object" && !Array.isArray(value) && "secure" in value) {
    return { value: SECRET_PLACEHOLDER, secret: true };
  }
  return { value: typeof value === "string" ? value : JSON.stringify(value), secret: false };
}

/**
 * The digest every StackReference reports under mocks: a clearly fake image (all zeros) standing in for
 * what the referenced stack runs (e.g. staging's image, which prod promotes). Never a real image.
 */
export const MOCK_STACK_REFERENCE_DIGEST = `sha256:${"0".repeat(64)}`;
/** Its tag: all zeros in the content-hash form every image tag has (12 hex). */
export const MOCK_STACK_REFERENCE_TAG = "0".repeat(12);

/** Computed outputs the program reads back from providers, per resource type. */
function computedOutputs(
  type: string,
  name: string,
  inputs: Record<string, unknown>,
): Record<string, unknown> {
  switch (type) {
    case "pulumi:pulumi:StackReference": {
      const image = {
        repository: "ghcr.io/gitops-platform/demo-app",
        tag: MOCK_STACK_REFERENCE_TAG,
        digest: MOCK_STACK_REFERENCE_DIGEST,
      };
      return {
        outputs: {
          placeholder: `offline plan: mocked outputs of stack ${String(inputs.name)}, not its real image`,
          appImageRepository: image.repository,
          appImageTag: image.tag,
          appImageDigest: image.digest,
          deployedImages: [image],
        },
        secretOutputNames: [],
      };
    }
    case "command:local:Command":
      return { stdout: `mock-stdout-of-${name}`, stderr: "" };
    case "random:index/randomPassword:RandomPassword":
      return { result: `mock-password-${name}`, bcryptHash: `$2a$10$mockhash${name}` };
    case "tls:index/privateKey:PrivateKey":
      return {
        privateKeyOpenssh: `mock-private-key-${name}`,
        publicKeyOpenssh: `ssh-ed25519 AAAAmock ${name}`,
      };
    case "eks:index:Cluster":
      return {
        kubeconfigJson: JSON.stringify({ apiVersion: "v1", kind: "Config", clusters: [{ name }] }),
        oidcProviderArn: `arn:aws:iam::123456789012:oidc-provider/oidc.eks.mock.amazonaws.com/id/${name}`,
        oidcProviderUrl: `https://oidc.eks.mock.amazonaws.com/id/${name}`,
        eksCluster: { name: inputs.name ?? name },
      };
    case "docker-build:index:Image":
      return {
        digest: `sha256:${createHash("sha256").update(name).digest("hex")}`,
        ref: `${String((inputs.tags as string[])?.[0])}`,
      };
    case "aws:ecr/repository:Repository":
      return {
        repositoryUrl: `123456789012.dkr.ecr.eu-west-1.amazonaws.com/${String(inputs.name)}`,
        registryId: "123456789012",
      };
    case "kubernetes:helm.sh/v3:Release":
      return {
        status: { name: inputs.name ?? name, namespace: inputs.namespace, status: "deployed", revision: 1 },
      };
    case "aws:acm/certificate:Certificate": {
      // ACM asks for one CNAME per distinct name; a name and its wildcard share it.
      const domain = String(inputs.domainName);
      const names = [domain, ...((inputs.subjectAlternativeNames as string[] | undefined) ?? [])];
      const token = createHash("sha256").update(domain).digest("hex").slice(0, 32);
      return {
        arn: `arn:aws:acm:eu-west-1:123456789012:certificate/${name}`,
        domainValidationOptions: names.map((domainName) => ({
          domainName,
          resourceRecordName: `_${token}.${domain}.`,
          resourceRecordType: "CNAME",
          resourceRecordValue: `_${token}.mock.acm-validations.aws.`,
        })),
      };
    }
    case "aws:route53/record:Record":
      return { fqdn: String(inputs.name).replace(/\.$/, "") };
    case "awsx:ec2:Vpc":
      return {
        vpcId: `vpc-${name}`,
        publicSubnetIds: ["subnet-pub-a", "subnet-pub-b"],
        privateSubnetIds: ["subnet-priv-a", "subnet-priv-b"],
      };
    default:
      if (type.startsWith("aws:")) {
        return { arn: `arn:aws:mock:::${name}`, name: inputs.name ?? name, bucket: inputs.bucket ?? name };
      }
      return {};
  }
}

class RecordingMocks implements pulumi.runtime.Mocks {
  /** `additionalSecretOutputs` per `type::name`, which the engine (not the SDK) applies. */
  readonly secretOutputs = new Map<string, string[]>();

  newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
    const state: Record<string, unknown> = {
      ...args.inputs,
      ...computedOutputs(args.type, args.name, args.inputs),
    };
    for (const key of this.secretOutputs.get(`${args.type}::${args.name}`) ?? []) {
      if (key in state) state[key] = pulumi.secret(state[key]);
    }
    return { id: args.id || `${args.name}-id`, state };
  }
  call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
    switch (args.token) {
      case "aws:index/getCallerIdentity:getCallerIdentity":
        return { accountId: "123456789012", arn: "arn:aws:iam::123456789012:user/mock", userId: "mock" };
      case "aws:index/getRegion:getRegion":
        return { name: "eu-west-1", region: "eu-west-1" };
      case "aws:ecr/getAuthorizationToken:getAuthorizationToken":
        return {
          userName: "AWS",
          password: "mock-ecr-token",
          proxyEndpoint: "https://123456789012.dkr.ecr.mock",
        };
      case "github:index/getTeam:getTeam":
        return {
          id: String(1000 + String(args.inputs.slug).length),
          slug: args.inputs.slug,
          name: args.inputs.slug,
        };
      case "aws:route53/getZone:getZone":
        return { zoneId: "Z0MOCKZONE00000000000", name: args.inputs.name, privateZone: false };
      case "github:index/getIpRanges:getIpRanges":
        // The shape of https://api.github.com/meta: four IPv4 and two IPv6 hook ranges.
        return {
          hooks: [...GITHUB_HOOKS_IPV4, ...GITHUB_HOOKS_IPV6],
          hooksIpv4s: GITHUB_HOOKS_IPV4,
          hooksIpv6s: GITHUB_HOOKS_IPV6,
        };
      case "aws:iam/getOpenIdConnectProvider:getOpenIdConnectProvider":
        return {
          arn: "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
          url: args.inputs.url,
        };
      case "aws:index/getPartition:getPartition":
        return { partition: "aws", dnsSuffix: "amazonaws.com" };
      default:
        return args.inputs;
    }
  }
}

interface ResourceRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getProvider(): string;
  getDependenciesList(): string[];
  getObject(): { toJavaScript(): Record<string, unknown> } | undefined;
  getAdditionalsecretoutputsList(): string[];
}

interface ReadRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getProperties(): { toJavaScript(): Record<string, unknown> } | undefined;
}

type MonitorWithRegister = {
  registerResource(
    req: ResourceRequest,
    callback: (err: unknown, resp?: { getUrn(): string }) => void,
  ): unknown;
  readResource(req: ReadRequest, callback: (err: unknown, resp?: { getUrn(): string }) => void): unknown;
};

/** Reads of other stacks are part of the plan: they say where a promoted image comes from. */
const STACK_REFERENCE = "pulumi:pulumi:StackReference";

let programCache: { file: string; program: () => unknown } | undefined;

/** Runs the program for `stack` under mocks and returns what it registered. */
export async function evaluateStack(stack: string, options: EvaluateOptions = {}): Promise<Evaluation> {
  const projectDir = options.projectDir ?? PROJECT_DIR;
  const project = readProject(projectDir);
  const config = resolveStackConfig(stack, options);
  return runUnderMocks(
    loadProgram(projectDir, project),
    project.name,
    stack,
    config,
    options.preview ?? true,
  );
}

/**
 * Runs any program (e.g. one component with hand-picked arguments) under the same mocks, for
 * component tests that need inputs no stack file has.
 */
export async function evaluateProgram(
  program: () => unknown,
  options: { stack?: string; config?: Record<string, string> } = {},
): Promise<Evaluation> {
  const config = Object.fromEntries(
    Object.entries(options.config ?? {}).map(([k, value]) => [k, { value, secret: false }]),
  );
  return runUnderMocks(program, readProject().name, options.stack ?? "test", config, true);
}

async function runUnderMocks(
  program: () => unknown,
  projectName: string,
  stack: string,
  config: Record<string, StackConfigValue>,
  preview: boolean,
): Promise<Evaluation> {
  const started = Date.now();
  const mocks = new RecordingMocks();
  await pulumi.runtime.setMocks(mocks, projectName, stack, preview, "organization");
  pulumi.runtime.setAllConfig(
    Object.fromEntries(Object.entries(config).map(([k, v]) => [k, v.value])),
    Object.entries(config)
      .filter(([, v]) => v.secret)
      .map(([k]) => k),
  );

  const resources: EvaluatedResource[] = [];
  const monitor = pulumi.runtime.getMonitor() as unknown as MonitorWithRegister;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) => {
    mocks.secretOutputs.set(`${req.getType()}::${req.getName()}`, req.getAdditionalsecretoutputsList());
    return register(req, (err, resp) => {
      if (!err && resp) resources.push(describeRequest(req, resp.getUrn()));
      callback(err, resp);
    });
  };
  const read = monitor.readResource.bind(monitor);
  monitor.readResource = (req, callback) =>
    read(req, (err, resp) => {
      if (!err && resp && req.getType() === STACK_REFERENCE) {
        const name = String(req.getProperties()?.toJavaScript().name);
        // What the plan shows for the reference: the stack it reads and the mocked outputs it got.
        const inputs = { name, outputs: computedOutputs(STACK_REFERENCE, req.getName(), { name }).outputs };
        resources.push({
          urn: resp.getUrn(),
          type: STACK_REFERENCE,
          name: req.getName(),
          parent: req.getParent() || undefined,
          custom: true,
          dependsOn: [],
          inputs,
          maskedInputs: inputs,
          secretPaths: [],
        });
      }
      callback(err, resp);
    });

  let outputs: Record<string, unknown> = {};
  let secretOutputs: string[] = [];
  let error: Error | undefined;
  // The SDK records a stack trace for every promise and resource it makes; with tsx's source maps that
  // was most of an evaluation's time. Without them it runs 2-4x faster; a failing program still reports
  // its message (all the plan and the tests show), only without a stack.
  const sourceMaps = process.sourceMapsEnabled;
  const stackTraceLimit = Error.stackTraceLimit;
  process.setSourceMapsEnabled(false);
  Error.stackTraceLimit = 0;
  try {
    // Keep the program's own return value: the stack's resolved outputs no longer say what was secret.
    let raw: Record<string, unknown> = {};
    await pulumi.runtime.runInPulumiStack(async () => {
      raw = ((await program()) as Record<string, unknown> | undefined) ?? {};
      return raw;
    });
    ({ outputs, secretOutputs } = await resolveOutputs(raw));
  } catch (err) {
    error = err instanceof Error ? err : new Error(String(err));
  } finally {
    process.setSourceMapsEnabled(sourceMaps);
    Error.stackTraceLimit = stackTraceLimit;
  }
  await pulumi.runtime.disconnect().catch(() => undefined);
  return {
    stack,
    project: projectName,
    config,
    resources,
    outputs,
    secretOutputs,
    error,
    durationMs: Date.now() - started,
  };
}

function loadProgram(projectDir: string, project: ProjectFile): () => unknown {
  const file = path.resolve(projectDir, project.main ?? "index.ts");
  if (programCache?.file !== file) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(file) as unknown;
    const program = typeof mod === "function" ? mod : (mod as { default?: unknown }).default;
    if (typeof program !== "function") throw new Error(`${file} must export the program as a function`);
    programCache = { file, program: program as () => unknown };
  }
  return programCache.program;
}

async function resolveOutputs(raw: Record<string, unknown>) {
  const outputs: Record<string, unknown> = {};
  const secretOutputs: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    if (pulumi.Output.isInstance(value)) {
      const out = value as pulumi.Output<unknown>;
      // isSecret/promise are internal but stable members of Output used by the SDK's own tests.
      const internal = out as unknown as { isSecret: Promise<boolean>; promise(): Promise<unknown> };
      if (await internal.isSecret) secretOutputs.push(key);
      outputs[key] = await internal.promise();
    } else {
      outputs[key] = value;
    }
  }
  return { outputs, secretOutputs };
}

function describeRequest(req: ResourceRequest, urn: string): EvaluatedResource {
  const raw = req.getObject()?.toJavaScript() ?? {};
  const secretPaths: string[] = [];
  const inputs = unwrap(raw, "", secretPaths, false) as Record<string, unknown>;
  const maskedInputs = unwrap(raw, "", [], true) as Record<string, unknown>;
  return {
    urn,
    type: req.getType(),
    name: req.getName(),
    parent: req.getParent() || undefined,
    custom: req.getCustom(),
    provider: req.getProvider() ? req.getProvider().split("::").slice(0, 4).join("::") : undefined,
    dependsOn: req.getDependenciesList(),
    inputs,
    maskedInputs,
    secretPaths,
  };
}

/** Turns the wire format into plain values, recording (and optionally masking) secrets. */
function unwrap(value: unknown, at: string, secrets: string[], mask: boolean): unknown {
  if (value === UNKNOWN) return "[unknown]";
  if (Array.isArray(value)) return value.map((v, i) => unwrap(v, `${at}[${i}]`, secrets, mask));
  if (!value || typeof value !== "object") return value;
  const obj = value as Record<string, unknown>;
  const sig = obj[SIG_KEY];
  if (sig === SECRET_SIG) {
    secrets.push(at || "<root>");
    return mask ? "[secret]" : unwrap(obj.value, at, [], mask);
  }
  if (sig === RESOURCE_SIG) return `[resource ${String(obj.urn)}]`;
  if (sig === OUTPUT_SIG) {
    if (obj.secret) {
      secrets.push(at || "<root>");
      if (mask) return "[secret]";
    }
    return "value" in obj ? unwrap(obj.value, at, [], mask) : "[unknown]";
  }
  return Object.fromEntries(
    Object.entries(obj).map(([k, v]) => [k, unwrap(v, at ? `${at}.${k}` : k, secrets, mask)]),
  );
}

/** Helpers for assertions over an evaluation. */
export function ofType(evaluation: Evaluation, type: string): EvaluatedResource[] {
  return evaluation.resources.filter((r) => r.type === type);
}

export function loadedModules(prefix: string): string[] {
  return Object.keys(require.cache).filter((m) => m.includes(`${path.sep}node_modules${path.sep}${prefix}`));
}

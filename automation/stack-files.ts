/**
 * What the driver needs from the project's stack files, read without loading the Pulumi SDK: which
 * stacks exist, whether a stack runs on kind or EKS, and which secrets provider it uses.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";

/** The project root: the directory holding Pulumi.yaml. */
export const PROJECT_DIR = path.resolve(__dirname, "..");

/** The stacks the project ships; any other `Pulumi.<stack>.yaml` is accepted too. */
export const STANDARD_STACKS = ["dev", "staging", "prod"] as const;

export type ClusterProvider = "kind" | "eks";

export interface StackFile {
  /** Whether `Pulumi.<stack>.yaml` exists (a new stack may not have one yet). */
  exists: boolean;
  /** `gitops-platform:clusterProvider`; absent means kind (the Pulumi.yaml default). */
  clusterProvider: ClusterProvider;
  /** The stack's `secretsprovider:` setting, when it has one (e.g. `awskms://...`). */
  secretsProvider?: string;
}

/** Stack names with a `Pulumi.<stack>.yaml` in the project, sorted. */
export function listStackFiles(projectDir: string = PROJECT_DIR): string[] {
  return fs
    .readdirSync(projectDir)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
}

/** Every stack name the driver accepts: the standard ones and every stack file. */
export function knownStacks(projectDir: string = PROJECT_DIR): string[] {
  return [...new Set([...STANDARD_STACKS, ...listStackFiles(projectDir)])].sort();
}

/** Reads `Pulumi.<stack>.yaml`; a missing file is a stack with defaults (kind). */
export function readStackFile(stack: string, projectDir: string = PROJECT_DIR): StackFile {
  const file = path.join(projectDir, `Pulumi.${stack}.yaml`);
  if (!fs.existsSync(file)) return { exists: false, clusterProvider: "kind" };
  let doc: { config?: Record<string, unknown>; secretsprovider?: unknown } | null;
  try {
    doc = parse(fs.readFileSync(file, "utf8")) as typeof doc;
  } catch (err) {
    throw new Error(`${file} is not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  const raw = doc?.config?.["gitops-platform:clusterProvider"];
  if (raw !== undefined && raw !== "kind" && raw !== "eks") {
    throw new Error(
      `${file}: gitops-platform:clusterProvider is ${JSON.stringify(raw)}; allowed: kind, eks (absent means kind)`,
    );
  }
  const secretsProvider = typeof doc?.secretsprovider === "string" ? doc.secretsprovider : undefined;
  return { exists: true, clusterProvider: raw ?? "kind", ...(secretsProvider ? { secretsProvider } : {}) };
}

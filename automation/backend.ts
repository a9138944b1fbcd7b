/**
 * Where the stack's state lives and how its secrets are decrypted.
 *
 * Backend, first match wins: `PULUMI_BACKEND_URL`; an existing `pulumi login` (the `current` entry of
 * `~/.pulumi/credentials.json`, or `$PULUMI_HOME/credentials.json`); `PULUMI_ACCESS_TOKEN` alone
 * (Pulumi Cloud); otherwise a file backend inside the project, `file://<project>/.pulumi-state`, so
 * the dev stack needs no account.
 *
 * Passphrase: stacks with the passphrase secrets provider (the default on file/S3/GCS/Azure backends)
 * need `PULUMI_CONFIG_PASSPHRASE` or `PULUMI_CONFIG_PASSPHRASE_FILE`. Only the dev stack has a default,
 * {@link DEV_PASSPHRASE}, which protects nothing and is documented as such.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { StackFile } from "./stack-files";

/** The dev stack's passphrase when none is set. Not a secret: dev secrets are throwaway values. */
export const DEV_PASSPHRASE = "dev-only-not-secret";
/** The stack that may use {@link DEV_PASSPHRASE}. */
export const DEV_STACK = "dev";
/** Directory of the project-local file backend (git-ignored). */
export const LOCAL_STATE_DIR = ".pulumi-state";
export const PULUMI_CLOUD_URL = "https://api.pulumi.com";

export type BackendSource = "PULUMI_BACKEND_URL" | "pulumi login" | "PULUMI_ACCESS_TOKEN" | "project default";

export interface Backend {
  url: string;
  source: BackendSource;
  /** A self-managed backend (file, s3, gs, azblob, postgres): passphrase secrets by default. */
  selfManaged: boolean;
  /** The project-local state directory to create before use (project default only). */
  localStateDir?: string;
}

/** Something that must be fixed before the driver may run, and how. */
export interface Problem {
  what: string;
  fix: string;
}

export interface WorkspaceSettings {
  backend: Backend;
  /** Environment handed to every Pulumi command through LocalWorkspace (on top of process.env). */
  envVars: Record<string, string>;
  /** Where the passphrase comes from, when the stack needs one. */
  passphraseSource?: "PULUMI_CONFIG_PASSPHRASE" | "PULUMI_CONFIG_PASSPHRASE_FILE" | "dev default";
  problems: Problem[];
}

type Env = Readonly<Record<string, string | undefined>>;

function nonEmpty(value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== "" ? value : undefined;
}

/** `$PULUMI_HOME`, or `~/.pulumi`. */
export function pulumiHome(env: Env, homeDir: string): string {
  return nonEmpty(env.PULUMI_HOME) ?? path.join(homeDir, ".pulumi");
}

/** The backend URL of the current `pulumi login`, if any. Reads only the `current` field. */
export function currentLogin(pulumiHomeDir: string): string | undefined {
  const file = path.join(pulumiHomeDir, "credentials.json");
  try {
    const doc = JSON.parse(fs.readFileSync(file, "utf8")) as { current?: unknown };
    return typeof doc.current === "string" && doc.current !== "" ? doc.current : undefined;
  } catch {
    return undefined;
  }
}

export function isSelfManaged(url: string): boolean {
  return !/^https?:\/\//i.test(url);
}

export function resolveBackend(env: Env, projectDir: string, homeDir: string): Backend {
  const fromEnv = nonEmpty(env.PULUMI_BACKEND_URL);
  if (fromEnv) return { url: fromEnv, source: "PULUMI_BACKEND_URL", selfManaged: isSelfManaged(fromEnv) };
  const login = currentLogin(pulumiHome(env, homeDir));
  if (login) return { url: login, source: "pulumi login", selfManaged: isSelfManaged(login) };
  if (nonEmpty(env.PULUMI_ACCESS_TOKEN)) {
    return { url: PULUMI_CLOUD_URL, source: "PULUMI_ACCESS_TOKEN", selfManaged: false };
  }
  const localStateDir = path.join(projectDir, LOCAL_STATE_DIR);
  return { url: `file://${localStateDir}`, source: "project default", selfManaged: true, localStateDir };
}

/** Whether the stack decrypts secrets with a passphrase. */
export function needsPassphrase(backend: Backend, stackFile: StackFile): boolean {
  if (stackFile.secretsProvider) return /^passphrase/i.test(stackFile.secretsProvider);
  return backend.selfManaged;
}

function isGitHubActions(env: Env): boolean {
  return env.GITHUB_ACTIONS === "true";
}

/**
 * Backend, passphrase and the environment for the Pulumi CLI, with every problem found (nothing is
 * created or touched here).
 */
export function resolveWorkspaceSettings(opts: {
  stack: string;
  stackFile: StackFile;
  env: Env;
  projectDir: string;
  homeDir: string;
}): WorkspaceSettings {
  const { stack, stackFile, env } = opts;
  const backend = resolveBackend(env, opts.projectDir, opts.homeDir);
  const envVars: Record<string, string> = { PULUMI_SKIP_UPDATE_CHECK: "true" };
  const problems: Problem[] = [];
  let passphraseSource: WorkspaceSettings["passphraseSource"];

  if (backend.source === "project default") {
    envVars.PULUMI_BACKEND_URL = backend.url;
    if (stack !== DEV_STACK && isGitHubActions(env)) {
      problems.push({
        what: `no state backend is configured for stack "${stack}" in GitHub Actions; the project-local file backend would start from empty state`,
        fix: "set the repository variable PULUMI_BACKEND_URL (e.g. s3://<bucket>?region=<region>) or the secret PULUMI_ACCESS_TOKEN (Pulumi Cloud)",
      });
    }
  }

  if (needsPassphrase(backend, stackFile)) {
    const file = nonEmpty(env.PULUMI_CONFIG_PASSPHRASE_FILE);
    if (nonEmpty(env.PULUMI_CONFIG_PASSPHRASE) !== undefined) {
      passphraseSource = "PULUMI_CONFIG_PASSPHRASE";
    } else if (file !== undefined) {
      passphraseSource = "PULUMI_CONFIG_PASSPHRASE_FILE";
      try {
        fs.accessSync(file, fs.constants.R_OK);
      } catch {
        problems.push({
          what: `PULUMI_CONFIG_PASSPHRASE_FILE points to ${file}, which does not exist or is not readable`,
          fix: "point it at a readable file holding the stack's passphrase, or set PULUMI_CONFIG_PASSPHRASE",
        });
      }
    } else if (stack === DEV_STACK) {
      passphraseSource = "dev default";
      envVars.PULUMI_CONFIG_PASSPHRASE = DEV_PASSPHRASE;
    } else {
      problems.push({
        what: `stack "${stack}" encrypts its secrets with a passphrase (backend ${backend.url}) and no passphrase is set`,
        fix: "export PULUMI_CONFIG_PASSPHRASE=... or PULUMI_CONFIG_PASSPHRASE_FILE=/path/to/file (in CI: the secret PULUMI_CONFIG_PASSPHRASE); only the dev stack has a default",
      });
    }
  }

  // The program's GitHub provider reads GITHUB_TOKEN (the GHCR push uses Docker's own login). In Actions
  // that name holds the workflow token, used here for pull-request comments; a token with admin rights
  // on the GitOps repository is handed to Pulumi separately as GITOPS_GITHUB_TOKEN.
  const gitopsToken = nonEmpty(env.GITOPS_GITHUB_TOKEN);
  if (gitopsToken) envVars.GITHUB_TOKEN = gitopsToken;

  return { backend, envVars, ...(passphraseSource ? { passphraseSource } : {}), problems };
}

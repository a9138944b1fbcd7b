/**
 * The Automation API boundary. The driver talks to a stack only through these interfaces; the runner
 * implements them with the real `LocalWorkspace` (whose `Stack` satisfies {@link StackHandle} as is),
 * and tests pass a recording fake.
 */
import type {
  ConfigValue,
  DestroyOptions,
  DestroyResult,
  OutputMap,
  PreviewOptions,
  PreviewResult,
  RefreshOptions,
  RefreshResult,
  UpOptions,
  UpResult,
} from "@pulumi/pulumi/automation";

type Summary = { summary: Pick<UpResult["summary"], "resourceChanges"> };

export interface StackHandle {
  preview(opts?: PreviewOptions): Promise<Pick<PreviewResult, "stdout" | "changeSummary">>;
  up(opts?: UpOptions): Promise<Pick<UpResult, "stdout" | "outputs"> & Summary>;
  refresh(opts?: RefreshOptions): Promise<Pick<RefreshResult, "stdout"> & Summary>;
  previewRefresh(opts?: RefreshOptions): Promise<Pick<PreviewResult, "stdout" | "changeSummary">>;
  destroy(opts?: DestroyOptions): Promise<Pick<DestroyResult, "stdout"> & Summary>;
  outputs(): Promise<OutputMap>;
  /** The stack's config (Pulumi.<stack>.yaml); rejects when the key is not set. */
  getConfig(key: string): Promise<ConfigValue>;
  setConfig(key: string, value: ConfigValue): Promise<void>;
  removeConfig(key: string): Promise<void>;
}

export interface StackSelection {
  stackName: string;
  /** The project root (Pulumi.yaml). */
  workDir: string;
  /** Environment for every Pulumi command of this workspace, on top of the process environment. */
  envVars: Record<string, string>;
  /** A Pulumi CLI installed under this root (`<root>/bin/pulumi`) instead of the one on PATH. */
  pulumiRoot?: string;
}

export interface StackApi {
  /** Selects the stack, creating it when missing (Automation API's LocalWorkspace.createOrSelectStack). */
  createOrSelectStack(selection: StackSelection): Promise<StackHandle>;
}

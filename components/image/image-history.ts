/**
 * The images a stack deployed, as its outputs record them: what promotion reads from the source stack
 * and what a rollback may pin. No Pulumi imports: the driver loads this before any prerequisite check.
 */

/** An image manifest digest. */
export const DIGEST = /^sha256:[a-f0-9]{64}$/;
/** Images a stack remembers; older ones can no longer be pinned. */
export const HISTORY_LIMIT = 20;

/** Names of the stack outputs that describe the app image. */
export const IMAGE_OUTPUTS = {
  repository: "appImageRepository",
  tag: "appImageTag",
  digest: "appImageDigest",
  history: "deployedImages",
} as const;

/** One image a stack deployed. */
export interface DeployedImage {
  repository: string;
  tag: string;
  digest: string;
}

/** The images of a stack's `deployedImages` output, ignoring anything malformed. */
export function parseHistory(raw: unknown): DeployedImage[] {
  if (!Array.isArray(raw)) return [];
  return raw.filter(
    (e): e is DeployedImage =>
      !!e &&
      typeof e === "object" &&
      typeof (e as DeployedImage).repository === "string" &&
      typeof (e as DeployedImage).tag === "string" &&
      DIGEST.test(String((e as DeployedImage).digest)),
  );
}

/** The history with `current` moved (or added) to the end, at most HISTORY_LIMIT entries. */
export function appendHistory(previous: unknown, current: DeployedImage): DeployedImage[] {
  const kept = parseHistory(previous).filter((e) => e.digest !== current.digest);
  return [...kept, current].slice(-HISTORY_LIMIT);
}

/** The image of `history` with the pinned digest; refuses a digest the stack never deployed. */
export function resolvePin(pin: string, history: DeployedImage[], stack: string): DeployedImage {
  const found = [...history].reverse().find((e) => e.digest === pin);
  if (!found) {
    const known = history.map((e) => `${e.digest} (${e.tag})`).join(", ") || "none";
    throw new Error(
      `gitops-platform:appImagePin: ${pin} was never deployed by stack "${stack}", so it cannot be pinned; ` +
        `deployed digests: ${known}`,
    );
  }
  return found;
}

/**
 * `npm run rollback -- <stack> [--to <digest>] [--clear]`: pins an image digest the stack deployed before
 * in its config (`appImagePin`, in Pulumi.<stack>.yaml), so the update that follows commits that image to
 * git and every later deploy keeps it (no build, no promotion) until `--clear` removes the pin.
 *
 * Which digests may be pinned comes from the stack's own `deployedImages` output (the last images it
 * deployed, see components/image/image-history.ts): a digest it never ran is refused before anything changes.
 */
import { IMAGE_OUTPUTS, parseHistory, type DeployedImage } from "../components/image/image-history";
import type { DriverArgs } from "./args";
import type { StackHandle } from "./stack-api";

export const PIN_KEY = "gitops-platform:appImagePin";

/** A refused rollback: nothing was changed. */
export class RollbackRefused extends Error {
  override readonly name = "RollbackRefused";
}

/** What the rollback changed in the stack's config, and how to undo that when the update fails. */
export interface PinChange {
  before?: string;
  after?: string;
  /** The image the stack ran before (its appImageDigest output). */
  running?: string;
  /** The pinned image, when pinning. */
  image?: DeployedImage;
  /** Puts the config back as it was. */
  restore(): Promise<void>;
}

async function currentPin(stack: StackHandle): Promise<string | undefined> {
  try {
    return (await stack.getConfig(PIN_KEY)).value || undefined;
  } catch {
    return undefined; // not set
  }
}

/** The image deployed before `running`: the newest entry of the history that is not it. */
export function previousImage(
  history: DeployedImage[],
  running: string | undefined,
): DeployedImage | undefined {
  return [...history].reverse().find((e) => e.digest !== running);
}

/** Validates the request against the stack's outputs and sets (or clears) the pin; throws RollbackRefused. */
export async function pinForRollback(
  args: Pick<DriverArgs, "stack" | "to" | "clear">,
  stack: StackHandle,
): Promise<PinChange> {
  const before = await currentPin(stack);
  const restore = () => (before ? stack.setConfig(PIN_KEY, { value: before }) : stack.removeConfig(PIN_KEY));
  const outputs = await stack.outputs();
  const running = outputs[IMAGE_OUTPUTS.digest]?.value as string | undefined;
  if (args.clear) {
    if (!before) throw new RollbackRefused(`stack "${args.stack}" has no ${PIN_KEY}; nothing to clear`);
    await stack.removeConfig(PIN_KEY);
    return { before, running, restore };
  }
  const history = parseHistory(outputs[IMAGE_OUTPUTS.history]?.value);
  const known = history.map((e) => `${e.digest} (${e.tag})`).join(", ") || "none recorded";
  const image = args.to ? history.find((e) => e.digest === args.to) : previousImage(history, running);
  if (!image) {
    throw new RollbackRefused(
      args.to
        ? `refusing ${args.to}: stack "${args.stack}" never deployed it (its ${IMAGE_OUTPUTS.history}: ${known})`
        : `stack "${args.stack}" has no earlier image to go back to (its ${IMAGE_OUTPUTS.history}: ${known})`,
    );
  }
  await stack.setConfig(PIN_KEY, { value: image.digest });
  return { before, after: image.digest, running, image, restore };
}

/** The lines that say what the rollback changed. */
export function describePinChange(stack: string, change: PinChange): string {
  const pin = (v?: string) => v ?? "unset";
  const lines = [`rollback ${stack}: ${PIN_KEY} ${pin(change.before)} -> ${pin(change.after)}`];
  if (change.image) {
    lines.push(
      `  image ${change.running ?? "unknown"} -> ${change.image.digest} (${change.image.repository}:${change.image.tag}), committed to gitops/`,
      `  commit Pulumi.${stack}.yaml: deploys keep this image until \`npm run rollback -- ${stack} --clear\``,
    );
  } else {
    lines.push(`  the pin is gone: the next deploy builds or promotes again; commit Pulumi.${stack}.yaml`);
  }
  return `${lines.join("\n")}\n`;
}

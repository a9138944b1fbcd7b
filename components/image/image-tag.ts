import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/** Paths under the build context that never affect the image. */
const IGNORED = new Set(["node_modules", "dist", "test", ".git"]);

/** Hex digits of the content hash in the tag. */
const TAG_HASH_LENGTH = 12;

/**
 * The image tag: the first 12 hex digits of the build context's content hash. The same source always
 * gets the same tag (no commit id, no CI run number), so a deploy of an unchanged app builds nothing,
 * pushes nothing and commits no new image file.
 */
export function imageTag(context: string): string {
  return contentHash(context).slice(0, TAG_HASH_LENGTH);
}

/**
 * The time of the last commit that changed the build context (up to GITHUB_SHA, else HEAD; the paths the
 * content hash ignores left out) as RFC 3339 UTC, for the app's lead-time metric. Like the tag it stays
 * the same while the app's source does, so an unchanged app commits no new image file. Undefined outside
 * a git checkout.
 */
export function commitTime(context: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const excluded = [...IGNORED].map((name) => `:(exclude,glob)**/${name}/**`);
  try {
    const seconds = execFileSync(
      "git",
      ["log", "-1", "--format=%ct", env.GITHUB_SHA ?? "HEAD", "--", ".", ...excluded],
      { cwd: context, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
    ).trim();
    return /^\d+$/.test(seconds)
      ? new Date(Number(seconds) * 1000).toISOString().replace(/\.000Z$/, "Z")
      : undefined;
  } catch {
    return undefined;
  }
}

/** SHA-256 over the relative paths and bytes of every file of the build context, in a stable order. */
export function contentHash(dir: string): string {
  const hash = createHash("sha256");
  const walk = (rel: string) => {
    const entries = fs
      .readdirSync(path.join(dir, rel), { withFileTypes: true })
      .sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      if (IGNORED.has(entry.name)) continue;
      const child = path.join(rel, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile())
        hash
          .update(child)
          .update("\0")
          .update(fs.readFileSync(path.join(dir, child)))
          .update("\0");
    }
  };
  walk("");
  return hash.digest("hex");
}

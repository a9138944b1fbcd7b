import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/** Paths under the build context that never affect the image. */
const IGNORED = new Set(["node_modules", "dist", "test", ".git"]);

/**
 * The image tag `{sha7}-{run}`: the commit and the CI run number (GitHub Actions' GITHUB_SHA and
 * GITHUB_RUN_NUMBER). Outside CI it falls back to the local commit and a content hash of the build
 * context, so a local edit yields a new tag without a commit.
 */
export function imageTag(context: string, env: NodeJS.ProcessEnv = process.env): string {
  const sha = env.GITHUB_SHA ?? gitHead(context);
  const run = env.GITHUB_RUN_NUMBER ?? contentHash(context).slice(0, 8);
  if (!/^[0-9a-f]{7,40}$/.test(sha)) throw new Error(`GITHUB_SHA must be a git commit id (got "${sha}")`);
  if (!/^[0-9a-z]+$/.test(run)) throw new Error(`GITHUB_RUN_NUMBER must be a number (got "${run}")`);
  return `${sha.slice(0, 7)}-${run}`;
}

/**
 * The time of the commit the image is built from (GITHUB_SHA, else HEAD) as RFC 3339 UTC, for the app's
 * lead-time metric; undefined outside a git checkout.
 */
export function commitTime(context: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  try {
    const seconds = execFileSync("git", ["show", "-s", "--format=%ct", env.GITHUB_SHA ?? "HEAD"], {
      cwd: context,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
    return /^\d+$/.test(seconds)
      ? new Date(Number(seconds) * 1000).toISOString().replace(/\.000Z$/, "Z")
      : undefined;
  } catch {
    return undefined;
  }
}

function gitHead(dir: string): string {
  try {
    return execFileSync("git", ["rev-parse", "HEAD"], {
      cwd: dir,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  } catch {
    return "0000000"; // not a git checkout: the content hash alone tells builds apart
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

import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { findOnPath, locateOnce, TOOLS_DIR } from "./helm";

/**
 * A real promtool for the analysis tests: `PROMTOOL_BIN` if set, else `promtool` on PATH, else the one
 * in Debian's `prometheus` package, fetched with `apt-get download` and unpacked with `dpkg-deb -x` into
 * the git-ignored `.cache/tools/prometheus-<version>/` (nothing is installed on the machine).
 */

const DEB_DIR = path.join(TOOLS_DIR, "deb");

export interface PromtoolBinary {
  path: string;
  source: "PROMTOOL_BIN" | "PATH" | "prometheus .deb" | "prometheus .deb (cached)";
}

const promtoolTool = locateOnce(() => locatePromtool());

/** The promtool binary, located or unpacked on first use; throws with the reason when there is none. */
export const promtoolBinary = (): PromtoolBinary => promtoolTool.get();

/** Why promtool is unavailable, or undefined when it is available. */
export const promtoolUnavailableReason = (): string | undefined => promtoolTool.unavailableReason();

/** `promtool test rules <file>`; never throws on a failed test (the caller asserts on status/output). */
export function promtoolTestRules(file: string): { status: number | null; output: string } {
  return runPromtool(["test", "rules", file]);
}

/** Runs promtool with the given arguments (in `cwd`); never throws on a failed check. */
export function runPromtool(args: string[], cwd?: string): { status: number | null; output: string } {
  const result = spawnSync(promtoolBinary().path, args, { cwd, encoding: "utf8", timeout: 60_000 });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

function locatePromtool(): PromtoolBinary {
  const fromEnv = process.env.PROMTOOL_BIN;
  if (fromEnv) {
    if (!fs.existsSync(fromEnv)) throw new Error(`PROMTOOL_BIN=${fromEnv} does not exist`);
    return { path: fromEnv, source: "PROMTOOL_BIN" };
  }
  const onPath = findOnPath("promtool");
  if (onPath) return { path: onPath, source: "PATH" };
  const cached = cachedPromtool();
  if (cached) return { path: cached, source: "prometheus .deb (cached)" };
  for (const tool of ["apt-get", "dpkg-deb"]) {
    if (!findOnPath(tool))
      throw new Error(`no promtool on PATH and no ${tool} to fetch Debian's prometheus package`);
  }
  fs.mkdirSync(DEB_DIR, { recursive: true });
  const download = () =>
    spawnSync("apt-get", ["download", "prometheus"], { cwd: DEB_DIR, encoding: "utf8", timeout: 120_000 });
  let result = download();
  if (result.status !== 0) {
    // A machine whose package lists were never fetched knows no "prometheus" yet.
    spawnSync("apt-get", ["update", "-qq"], { encoding: "utf8", timeout: 180_000 });
    result = download();
  }
  const deb = fs.readdirSync(DEB_DIR).find((f) => /^prometheus_.*\.deb$/.test(f));
  if (result.status !== 0 || !deb) {
    throw new Error(
      `apt-get download prometheus failed: ${(result.stderr || result.error?.message || "").trim()}`,
    );
  }
  const version = deb.replace(/^prometheus_/, "").replace(/_[a-z0-9]+\.deb$/, "");
  const dir = path.join(TOOLS_DIR, `prometheus-${version}`);
  const partial = `${dir}.${process.pid}.partial`;
  try {
    execFileSync("dpkg-deb", ["-x", path.join(DEB_DIR, deb), partial]);
    fs.renameSync(partial, dir);
  } finally {
    fs.rmSync(partial, { recursive: true, force: true });
  }
  return { path: path.join(dir, "usr/bin/promtool"), source: "prometheus .deb" };
}

function cachedPromtool(): string | undefined {
  if (!fs.existsSync(TOOLS_DIR)) return undefined;
  const dir = fs
    .readdirSync(TOOLS_DIR)
    .filter((d) => d.startsWith("prometheus-") && !d.endsWith(".partial"))
    .sort()
    .pop();
  const bin = dir && path.join(TOOLS_DIR, dir, "usr/bin/promtool");
  return bin && fs.existsSync(bin) ? bin : undefined;
}

import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { findOnPath, TOOLS_DIR } from "./helm";

/**
 * Prometheus' `promtool`: from PROMTOOL_BIN, the PATH, or Debian's `prometheus` package taken apart
 * (apt-get download + dpkg-deb -x into the git-ignored .cache/tools/prometheus/) rather than installed:
 * installing would also enable a Prometheus service. `apt-get update` runs only when the download fails.
 */
export interface Promtool {
  path: string;
  source: "PROMTOOL_BIN" | "PATH" | "prometheus.deb" | "prometheus.deb (cached)";
}

const EXTRACTED = path.join(TOOLS_DIR, "prometheus");
const CACHED_BINARY = path.join(EXTRACTED, "root/usr/bin/promtool");

/** promtool, fetched if needed; throws with the reason when it cannot be had. */
export function promtool(): Promtool {
  if (process.env.PROMTOOL_BIN) return { path: process.env.PROMTOOL_BIN, source: "PROMTOOL_BIN" };
  const onPath = findOnPath("promtool");
  if (onPath) return { path: onPath, source: "PATH" };
  if (fs.existsSync(CACHED_BINARY)) return { path: CACHED_BINARY, source: "prometheus.deb (cached)" };
  if (!findOnPath("apt-get") || !findOnPath("dpkg-deb")) {
    throw new Error("promtool is not on PATH, and apt-get/dpkg-deb are missing to fetch Debian's prometheus");
  }
  fs.mkdirSync(EXTRACTED, { recursive: true });
  const download = () =>
    spawnSync("apt-get", ["download", "prometheus"], { cwd: EXTRACTED, encoding: "utf8", timeout: 240_000 });
  let result = download();
  if (result.status !== 0) {
    // The package lists may be missing or stale; updating them needs root (CI runners: passwordless sudo).
    const asRoot = process.getuid?.() === 0 || !findOnPath("sudo");
    const [cmd, args] = asRoot ? ["apt-get", ["update", "-q"]] : ["sudo", ["-n", "apt-get", "update", "-q"]];
    spawnSync(cmd, args, { encoding: "utf8", timeout: 240_000 });
    result = download();
  }
  const deb = fs.readdirSync(EXTRACTED).find((f) => /^prometheus_.*\.deb$/.test(f));
  if (result.status !== 0 || !deb) {
    throw new Error(
      `cannot download Debian's prometheus package: ${(result.stderr ?? "").trim().slice(-400)}`,
    );
  }
  const extract = spawnSync("dpkg-deb", ["-x", path.join(EXTRACTED, deb), path.join(EXTRACTED, "root")], {
    encoding: "utf8",
  });
  fs.rmSync(path.join(EXTRACTED, deb));
  if (extract.status !== 0 || !fs.existsSync(CACHED_BINARY)) {
    throw new Error(`${deb} did not yield usr/bin/promtool: ${extract.stderr}`);
  }
  return { path: CACHED_BINARY, source: "prometheus.deb" };
}

/** Runs promtool with the given arguments. */
export function runPromtool(
  tool: Promtool,
  args: string[],
  cwd: string,
): { status: number | null; output: string } {
  const run = spawnSync(tool.path, args, { cwd, encoding: "utf8", timeout: 60_000 });
  return { status: run.status, output: `${run.stdout ?? ""}${run.stderr ?? ""}` };
}

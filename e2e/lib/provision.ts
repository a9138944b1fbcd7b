import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { run, sleep, tryRun, which } from "./exec";

/** Docker's engine cannot be used here: the caller skips (locally) or fails (CI). */
export class DockerUnavailable extends Error {
  override name = "DockerUnavailable";
}

export interface DockerInfo {
  serverVersion: string;
  /** What this run had to do to get an engine: nothing, install packages, start dockerd. */
  provisioned: string[];
}

const isRoot = () => typeof process.getuid === "function" && process.getuid() === 0;
const provisioningAllowed = () => process.env.E2E_NO_PROVISION !== "1";

let aptUpdated = false;
const APT_ENV = { DEBIAN_FRONTEND: "noninteractive" };
const APT_LOCK = ["-o", "DPkg::Lock::Timeout=300"];

/** `apt-get update`, once per process (root only). */
export async function aptUpdate(logFile: string): Promise<void> {
  if (aptUpdated) return;
  if (!isRoot() || !which("apt-get")) throw new DockerUnavailable("apt-get update needs root and apt-get");
  await run("apt-get", [...APT_LOCK, "update", "-q"], { env: APT_ENV, logFile, timeoutMs: 300_000 });
  aptUpdated = true;
}

/**
 * Installs Debian packages with apt-get (root only), running `apt-get update` once per process first.
 * Waits for a dpkg lock held by someone else rather than failing.
 */
export async function aptInstall(packages: string[], logFile: string): Promise<void> {
  if (!isRoot() || !which("apt-get")) {
    throw new DockerUnavailable(
      `${packages.join(", ")} missing and cannot be installed here (needs root and apt-get)`,
    );
  }
  if (!provisioningAllowed()) {
    throw new DockerUnavailable(`${packages.join(", ")} missing and E2E_NO_PROVISION=1 forbids installing`);
  }
  await aptUpdate(logFile);
  await run("apt-get", [...APT_LOCK, "install", "-y", "-q", "--no-install-recommends", ...packages], {
    env: APT_ENV,
    logFile,
    timeoutMs: 600_000,
  });
}

/** Installs the packages providing the missing commands ({command: package}). */
export async function ensureCommands(needed: Record<string, string>, logFile: string): Promise<string[]> {
  const missing = Object.entries(needed).filter(([cmd]) => !which(cmd));
  const packages = [...new Set(missing.map(([, pkg]) => pkg))];
  if (packages.length > 0) await aptInstall(packages, logFile);
  for (const [cmd, pkg] of missing) {
    if (!which(cmd)) throw new Error(`installed ${pkg} but \`${cmd}\` is still not on PATH`);
  }
  return packages;
}

async function serverVersion(): Promise<string | undefined> {
  if (!which("docker")) return undefined;
  const r = await tryRun("docker", ["version", "--format", "{{.Server.Version}}"], { timeoutMs: 15_000 });
  return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
}

/** The pid of a live dockerd according to its pid file, if any. */
function runningDockerd(): number | undefined {
  try {
    const pid = Number(fs.readFileSync("/var/run/docker.pid", "utf8").trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    process.kill(pid, 0);
    return /dockerd/.test(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8")) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Makes sure a Docker engine answers: uses one that does; otherwise installs docker.io from Debian when
 * dockerd is absent and starts dockerd in the background (logging to `<workDir>/dockerd.log`, bounded
 * wait for the socket). dockerd is left running afterwards, for the next run.
 */
export async function ensureDocker(workDir: string): Promise<DockerInfo> {
  const provisioned: string[] = [];
  const existing = await serverVersion();
  if (existing) return { serverVersion: existing, provisioned };

  if (process.env.DOCKER_HOST) {
    throw new DockerUnavailable(
      `DOCKER_HOST=${process.env.DOCKER_HOST} does not answer (not starting a local one)`,
    );
  }
  if (!isRoot()) {
    throw new DockerUnavailable(
      which("docker")
        ? "the Docker daemon does not answer (`docker version` failed) and starting one needs root"
        : "no docker command, and installing Docker needs root",
    );
  }
  const aptLog = path.join(workDir, "apt.log");
  if (!which("dockerd") || !which("docker")) {
    await aptInstall(["docker.io"], aptLog);
    provisioned.push("installed docker.io");
  }
  const dockerd = which("dockerd");
  if (!dockerd) throw new DockerUnavailable("dockerd not found after installing docker.io");
  if (!provisioningAllowed()) throw new DockerUnavailable("no Docker daemon, and E2E_NO_PROVISION=1");

  const logPath = path.join(workDir, "dockerd.log");
  let exited: number | null | undefined;
  const running = runningDockerd();
  if (running !== undefined) {
    // Someone (a previous run, another user) is starting a daemon already: wait for it, start no other.
    provisioned.push(`waited for the running dockerd (pid ${running})`);
  } else {
    const log = fs.openSync(logPath, "a");
    const child = spawn(dockerd, [], { detached: true, stdio: ["ignore", log, log] });
    fs.closeSync(log);
    child.on("exit", (code) => (exited = code));
    child.unref();
    provisioned.push(`started dockerd (pid ${child.pid}, log ${logPath})`);
  }

  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    const version = await serverVersion();
    if (version) return { serverVersion: version, provisioned };
    if (exited !== undefined) break;
    await sleep(500);
  }
  if (!fs.existsSync(logPath)) fs.writeFileSync(logPath, "");
  const tail = fs.readFileSync(logPath, "utf8").trim().split("\n").slice(-15).join("\n");
  throw new DockerUnavailable(
    `dockerd ${exited !== undefined ? `exited ${exited}` : "did not answer within 90 s"}; ${logPath}:\n${tail}`,
  );
}

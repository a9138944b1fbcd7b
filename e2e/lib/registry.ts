import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { run, sleep, tryRun, which } from "./exec";
import { freePort, get } from "./http";
import { aptUpdate } from "./provision";

/**
 * The `registry` binary from Debian's docker-registry package. Taken out of the .deb (apt-get download +
 * dpkg-deb -x, cached in <workDir>/tools) rather than installed: installing the package would also
 * enable a system registry service listening on all interfaces.
 */
async function registryBinary(workDir: string): Promise<string> {
  const onPath = which("docker-registry");
  if (onPath) return onPath;
  const tools = path.join(workDir, "tools");
  const binary = path.join(tools, "root/usr/bin/docker-registry");
  if (fs.existsSync(binary)) return binary;
  fs.mkdirSync(tools, { recursive: true });
  const logFile = path.join(workDir, "apt.log");
  let download = await tryRun("apt-get", ["download", "docker-registry"], { cwd: tools, logFile });
  if (download.code !== 0) {
    await aptUpdate(logFile);
    download = await tryRun("apt-get", ["download", "docker-registry"], { cwd: tools, logFile });
  }
  const deb = fs.readdirSync(tools).find((f) => /^docker-registry_.*\.deb$/.test(f));
  if (download.code !== 0 || !deb) {
    throw new Error(
      `cannot download Debian's docker-registry package: ${download.stderr.trim().slice(-500)}`,
    );
  }
  await run("dpkg-deb", ["-x", path.join(tools, deb), path.join(tools, "root")], { logFile });
  fs.rmSync(path.join(tools, deb));
  if (!fs.existsSync(binary)) throw new Error(`${deb} holds no usr/bin/docker-registry`);
  return binary;
}

/**
 * A throwaway OCI distribution registry on 127.0.0.1: Debian's `docker-registry` (distribution v2)
 * binary, run as a child process with a config and storage in a temp dir. Docker treats 127.0.0.0/8 registries as
 * insecure (plain HTTP) by default, so no TLS and no daemon reconfiguration are needed.
 */
export class LocalRegistry {
  private child: ChildProcess | undefined;
  private exited = false;

  private constructor(
    readonly host: string,
    private readonly dir: string,
  ) {}

  static async start(workDir: string): Promise<LocalRegistry> {
    const binary = await registryBinary(workDir);
    const port = await freePort();
    const dir = fs.mkdtempSync(path.join(workDir, "registry-"));
    const config = path.join(dir, "config.yml");
    fs.writeFileSync(
      config,
      [
        "version: 0.1",
        "log:",
        "  level: warn",
        "storage:",
        "  filesystem:",
        `    rootdirectory: ${path.join(dir, "data")}`,
        "  delete:",
        "    enabled: true",
        "http:",
        `  addr: 127.0.0.1:${port}`,
        "",
      ].join("\n"),
    );
    const registry = new LocalRegistry(`127.0.0.1:${port}`, dir);
    const log = fs.openSync(path.join(workDir, "registry.log"), "w");
    registry.child = spawn(binary, ["serve", config], { stdio: ["ignore", log, log] });
    fs.closeSync(log);
    registry.child.on("exit", () => (registry.exited = true));

    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && !registry.exited) {
      const ok = await get(`http://${registry.host}/v2/`, { timeoutMs: 1000 }).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return registry;
      await sleep(200);
    }
    await registry.stop();
    const tail = fs.readFileSync(path.join(workDir, "registry.log"), "utf8").trim().slice(-2000);
    throw new Error(`the local registry did not answer on ${registry.host}/v2/:\n${tail}`);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Stops the registry process this run started and deletes its storage. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child && !this.exited && child.pid !== undefined) {
      const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGTERM");
      await Promise.race([gone, sleep(5000)]);
      if (!this.exited) {
        child.kill("SIGKILL");
        await Promise.race([gone, sleep(2000)]);
      }
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

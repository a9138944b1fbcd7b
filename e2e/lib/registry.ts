import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { sleep } from "./exec";
import { freePort, get } from "./http";
import { ensureCommands } from "./provision";

/**
 * A throwaway OCI distribution registry on 127.0.0.1: Debian's `docker-registry` (distribution v2)
 * binary with a config in a temp dir, storage in that dir. Docker treats 127.0.0.0/8 registries as
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
    await ensureCommands({ "docker-registry": "docker-registry" }, path.join(workDir, "apt.log"));
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
    registry.child = spawn("docker-registry", ["serve", config], { stdio: ["ignore", log, log] });
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

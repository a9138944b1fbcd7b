/**
 * Tools the driver fetches on first run when they are missing: the Pulumi CLI and kind, at the versions
 * pinned here (the one place), into the project-local, git-ignored `.tools/` (binaries in .tools/bin).
 * Docker stays a prerequisite: it needs a daemon, not a binary.
 *
 * kind comes from its GitHub release and is verified against a pinned SHA-256 before it is used: it is
 * downloaded to a temporary file beside its destination, hashed, and renamed into place only when the
 * hash matches; on a mismatch the download is deleted and nothing is installed. The Pulumi CLI comes
 * through the Automation API's `PulumiCommand.install({ version, root })`.
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";

/** Project-local tool directory (git-ignored); binaries go to `<TOOLS_DIR>/bin`. */
export const TOOLS_DIR = ".tools";

/** The Pulumi CLI the driver installs; kept equal to the @pulumi/pulumi SDK version (a test checks). */
// renovate: datasource=npm depName=@pulumi/pulumi
export const PULUMI_CLI_VERSION = "3.270.0";

/** kind, the release whose binaries the SHA-256 values below are of (a kind bump needs them too). */
// renovate: datasource=github-releases depName=kubernetes-sigs/kind extractVersion=^v(?<version>.+)$
export const KIND_VERSION = "0.33.0";

/**
 * SHA-256 of kind v0.33.0's release binaries (the `kind-<os>-<arch>` assets), per asset suffix. Update
 * them with KIND_VERSION from the release's `.sha256sum` assets. Platforms without a pinned value are
 * never downloaded (install kind yourself there; the hint says how).
 */
export const KIND_SHA256: Readonly<Record<string, string>> = {
  "linux-amd64": "aee6151561422756b764a4ae28e7f44cda5af5a9eead3cc9985112b1de8d8e0d",
  "linux-arm64": "20022bee6cfcd5086cb7234d218e3454e6090022f2a8f55d1fa7fcf42c3867a2",
  "darwin-amd64": "5a99f26f57246dc9319dd294803313197a0f34d33c525b3ea8b655db5916ece0",
  "darwin-arm64": "0c8c7dbe5e23594a198b786c4bc13dacc101fa6196b0cb0b23a1ca44e61f4b4f",
};

export function kindReleaseUrl(platform: string, version = KIND_VERSION): string {
  return `https://github.com/kubernetes-sigs/kind/releases/download/v${version}/kind-${platform}`;
}

/** kind's asset suffix for this machine, e.g. linux-amd64. */
export function kindPlatform(platform: string = process.platform, arch: string = process.arch): string {
  const goArch = { x64: "amd64", arm64: "arm64" }[arch] ?? arch;
  return `${platform === "win32" ? "windows" : platform}-${goArch}`;
}

export type ToolName = "pulumi" | "kind";

/** The real installers; tests pass fakes or point `download` at a local server. */
export interface ToolInstaller {
  /** Installs the Pulumi CLI `version` so that `<root>/bin/pulumi` runs it. */
  pulumi(root: string, version: string): Promise<void>;
  /** Downloads `url` to `dest` (mode 755), verified against `sha256` before it appears there. */
  download(url: string, sha256: string, dest: string): Promise<void>;
}

/** A download whose content is not what the pin says. */
export class ChecksumMismatch extends Error {
  override readonly name = "ChecksumMismatch";
  constructor(
    readonly url: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      `${url}: SHA-256 ${actual} does not match the pinned ${expected} (automation/tools.ts); the download was deleted, nothing was installed`,
    );
  }
}

export interface DownloadOptions {
  /** Aborts a download that takes longer. Default 5 minutes. */
  timeoutMs?: number;
  /** Refuses bodies larger than this. Default 200 MiB. */
  maxBytes?: number;
}

/** Downloads to a temp file beside `dest`, verifies the SHA-256, then renames it into place (mode 755). */
export async function downloadVerified(
  url: string,
  sha256: string,
  dest: string,
  opts: DownloadOptions = {},
): Promise<void> {
  if (!/^[a-f0-9]{64}$/.test(sha256))
    throw new Error(`${url}: pinned SHA-256 is not 64 hex digits: ${sha256}`);
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const temp = `${dest}.download-${randomBytes(6).toString("hex")}`;
  const maxBytes = opts.maxBytes ?? 200 * 1024 * 1024;
  try {
    const res = await fetch(url, {
      redirect: "follow",
      signal: AbortSignal.timeout(opts.timeoutMs ?? 300_000),
    });
    if (!res.ok || !res.body) throw new Error(`${url}: HTTP ${res.status} ${res.statusText}`.trim());
    const hash = createHash("sha256");
    let bytes = 0;
    const body = Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
    body.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > maxBytes) body.destroy(new Error(`${url}: larger than ${maxBytes} bytes`));
      hash.update(chunk);
    });
    await pipeline(body, fs.createWriteStream(temp, { mode: 0o600 }));
    const actual = hash.digest("hex");
    if (actual !== sha256) throw new ChecksumMismatch(url, sha256, actual);
    fs.chmodSync(temp, 0o755);
    fs.renameSync(temp, dest);
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

/** The installers the CLI uses: PulumiCommand.install and a verified HTTPS download. */
export const realInstaller: ToolInstaller = {
  async pulumi(root, version) {
    const [{ PulumiCommand }, { SemVer }] = await Promise.all([
      import("@pulumi/pulumi/automation"),
      import("semver"),
    ]);
    await PulumiCommand.install({ version: new SemVer(version), root });
  },
  download: (url, sha256, dest) => downloadVerified(url, sha256, dest),
};

export interface InstallPlan {
  /** What will be installed and where, in the words printed before doing it. */
  notice: string;
  run: (installer: ToolInstaller) => Promise<void>;
}

/** How to install a missing tool here, or why it cannot be (no pinned checksum for this platform). */
export function installPlan(
  tool: ToolName,
  projectDir: string,
  platform: string = kindPlatform(),
): InstallPlan | { unavailable: string } {
  const root = path.join(projectDir, TOOLS_DIR);
  if (tool === "pulumi") {
    return {
      notice: `installing the Pulumi CLI ${PULUMI_CLI_VERSION} into ${TOOLS_DIR}/ (project-local, git-ignored) through PulumiCommand.install`,
      run: (installer) => installer.pulumi(root, PULUMI_CLI_VERSION),
    };
  }
  const sha256 = KIND_SHA256[platform];
  if (!sha256) {
    return {
      unavailable: `no pinned SHA-256 for kind-${platform} (pinned: ${Object.keys(KIND_SHA256).join(", ")}), so it is not downloaded`,
    };
  }
  const url = kindReleaseUrl(platform);
  return {
    notice: `installing kind ${KIND_VERSION} into ${TOOLS_DIR}/bin from ${url} (SHA-256 ${sha256.slice(0, 12)}… verified before use)`,
    run: (installer) => installer.download(url, sha256, path.join(root, "bin", "kind")),
  };
}

/** `env` with `<projectDir>/.tools/bin` first on PATH, once it exists. */
export function withToolsOnPath(
  env: Readonly<Record<string, string | undefined>>,
  projectDir: string,
): Record<string, string | undefined> {
  const bin = path.join(projectDir, TOOLS_DIR, "bin");
  if (!fs.existsSync(bin)) return { ...env };
  const rest = (env.PATH ?? "").split(path.delimiter).filter((d) => d !== "" && d !== bin);
  return { ...env, PATH: [bin, ...rest].join(path.delimiter) };
}

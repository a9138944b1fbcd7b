import * as fs from "node:fs";
import * as path from "node:path";
import { run, tryRun, which } from "./exec";
import { aptInstall, ensureCommands } from "./provision";

/**
 * Local base images for the app's Dockerfile, built from what this machine already has, because no image
 * registry is reachable:
 *
 * - `local/debian-minbase:<codename>`: `debootstrap --variant=minbase` of the host's Debian release.
 * - `local/node-build:<version>`: minbase + the project's pinned Node.js (.nvmrc, from the npm registry by
 *   tools/node.sh) and the host's npm + the host's CA bundle and npm
 *   registry settings, so `npm ci` inside the build reaches the registry exactly as the host does.
 * - `local/node-runtime:<version>`: distroless-style: that node binary, the shared libraries `ldd`
 *   says it needs, /etc/passwd with the app user, an empty /tmp. No shell, no npm, no package manager.
 *
 * Each is built once and reused while its tag exists with the current recipe label (E2E_REBUILD_BASE=1
 * forces a rebuild). Both Node images are also tagged with the major version (`local/node-build:26`).
 */

/** Bump when a recipe below changes, so the cached images are rebuilt. */
const MINBASE_RECIPE = "1";
const NODE_RECIPE = "2";
/** Libraries of glibc itself, which the minbase image already has. */
const GLIBC = /^(ld-linux.*|libc|libm|libdl|libpthread|librt|libresolv)\.so/;
const LABEL = "io.gitops-platform.e2e.recipe";

export interface BaseImages {
  /** The Debian minbase image (apt-get works in it: the git server's Dockerfile builds on it). */
  minbase: string;
  build: string;
  runtime: string;
  nodeVersion: string;
  /** Which images this run had to build, and how long each took. */
  built: { image: string; seconds: number }[];
  runtimeSizeBytes: number;
}

interface PinnedNode {
  binary: string;
  version: string; // "v26.12.1"
  npmDir: string;
  libraries: string[]; // absolute paths as the dynamic loader resolves them, loader included
}

/** The project's Node.js (.nvmrc), installed from the npm registry by tools/node.sh when the host's differs. */
async function pinnedNode(): Promise<PinnedNode> {
  const projectDir = path.resolve(__dirname, "..", "..");
  const want = `v${fs.readFileSync(path.join(projectDir, ".nvmrc"), "utf8").trim().replace(/^v/, "")}`;
  const binDir = await run("bash", [path.join(projectDir, "tools", "node.sh")]);
  const binary = fs.realpathSync(path.join(binDir.trim(), "node"));
  const version = await run(binary, ["-p", "process.version"]);
  if (version !== want) throw new Error(`tools/node.sh gave node ${version}, .nvmrc pins ${want}`);
  const npm = which("npm");
  if (!npm) throw new Error("no npm on PATH to put in the build image");
  const npmDir = path.resolve(path.dirname(fs.realpathSync(npm)), "..");
  if (!fs.existsSync(path.join(npmDir, "package.json")))
    throw new Error(`cannot locate npm's package (${npmDir})`);

  const ldd = await run("ldd", [binary]);
  const libraries: string[] = [];
  for (const line of ldd.split("\n")) {
    const resolved = /=>\s*(\/\S+)/.exec(line)?.[1] ?? /^\s*(\/\S+)\s+\(/.exec(line)?.[1];
    if (resolved) libraries.push(resolved);
    else if (/not found/.test(line)) throw new Error(`node needs a library ldd cannot find: ${line.trim()}`);
  }
  if (!libraries.some((l) => /ld-linux|ld-musl/.test(l)))
    throw new Error(`no dynamic loader in ldd output:\n${ldd}`);
  return { binary, version, npmDir, libraries };
}

async function imageLabel(image: string): Promise<string | undefined> {
  const r = await tryRun("docker", [
    "image",
    "inspect",
    "--format",
    `{{index .Config.Labels "${LABEL}"}}`,
    image,
  ]);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

const fresh = async (image: string, recipe: string) =>
  process.env.E2E_REBUILD_BASE !== "1" && (await imageLabel(image)) === recipe;

function debianRelease(): { codename: string; mirror: string } {
  let codename = "bookworm";
  try {
    const osRelease = fs.readFileSync("/etc/os-release", "utf8");
    if (/^ID=debian$/m.test(osRelease))
      codename = /^VERSION_CODENAME=(\w+)$/m.exec(osRelease)?.[1] ?? codename;
  } catch {
    // not Debian: bookworm
  }
  let mirror = process.env.E2E_DEBIAN_MIRROR ?? "";
  if (!mirror) {
    const sources = ["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"]
      .filter((f) => fs.existsSync(f))
      .map((f) => fs.readFileSync(f, "utf8"))
      .join("\n");
    const uris = [...sources.matchAll(/^(?:URIs:|deb)\s+(?:\[[^\]]*\]\s+)?(https?:\/\/\S+)/gm)].map(
      (m) => m[1],
    );
    mirror = uris.find((u) => u !== undefined && /\/debian\/?$/.test(u)) ?? "http://deb.debian.org/debian";
  }
  return { codename, mirror };
}

async function buildMinbase(image: string, workDir: string, logFile: string): Promise<void> {
  const { codename, mirror } = debianRelease();
  const aptLog = path.join(workDir, "apt.log");
  await ensureCommands({ debootstrap: "debootstrap" }, aptLog);
  const keyring = "/usr/share/keyrings/debian-archive-keyring.gpg";
  if (!fs.existsSync(keyring)) await aptInstall(["debian-archive-keyring"], aptLog);
  const rootfs = path.join(workDir, "rootfs-minbase");
  fs.rmSync(rootfs, { recursive: true, force: true });
  try {
    await run("debootstrap", [`--keyring=${keyring}`, "--variant=minbase", codename, rootfs, mirror], {
      logFile,
      timeoutMs: 600_000,
    });
    for (const junk of ["var/cache/apt/archives", "var/lib/apt/lists", "var/log"]) {
      await run("find", [path.join(rootfs, junk), "-mindepth", "1", "-type", "f", "-delete"]);
    }
    const tarball = path.join(workDir, "rootfs-minbase.tar");
    await run("tar", ["--numeric-owner", "-C", rootfs, "-cf", tarball, "."], { logFile, timeoutMs: 300_000 });
    await run(
      "docker",
      [
        "import",
        "--change",
        `LABEL ${LABEL}=${MINBASE_RECIPE} org.opencontainers.image.description="debootstrap --variant=minbase ${codename}"`,
        "--change",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--change",
        'CMD ["/bin/bash"]',
        tarball,
        image,
      ],
      { logFile, timeoutMs: 300_000 },
    );
    fs.rmSync(tarball, { force: true });
  } finally {
    fs.rmSync(rootfs, { recursive: true, force: true });
  }
}

/** The host's npm registry settings, for the build image's global npmrc. */
async function npmrcFor(caFile: string | undefined): Promise<string> {
  const lines = ["fund=false", "audit=false", "update-notifier=false"];
  if (caFile) lines.push("cafile=/etc/ssl/certs/ca-certificates.crt");
  const registry = await tryRun("npm", ["config", "get", "registry"]);
  if (registry.code === 0 && /^https?:\/\//.test(registry.stdout.trim())) {
    lines.push(`registry=${registry.stdout.trim()}`);
  }
  for (const key of ["proxy", "https-proxy", "noproxy", "strict-ssl"]) {
    const r = await tryRun("npm", ["config", "get", key]);
    const value = r.stdout.trim();
    if (r.code === 0 && value && value !== "null" && value !== "undefined" && value !== "true") {
      lines.push(`${key}=${value}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

async function buildNodeBuildImage(
  image: string,
  from: string,
  node: PinnedNode,
  recipe: string,
  workDir: string,
  logFile: string,
): Promise<void> {
  const ctx = path.join(workDir, "ctx-node-build");
  fs.rmSync(ctx, { recursive: true, force: true });
  const root = path.join(ctx, "rootfs");
  try {
    fs.mkdirSync(path.join(root, "usr/local/bin"), { recursive: true });
    fs.mkdirSync(path.join(root, "usr/local/lib/node_modules"), { recursive: true });
    fs.mkdirSync(path.join(root, "usr/local/etc"), { recursive: true });
    fs.copyFileSync(node.binary, path.join(root, "usr/local/bin/node"));
    // minbase has glibc (the host's own release); other libraries node links (libatomic) come from the host.
    // /lib is a link to /usr/lib in merged-/usr images: a real /lib directory in the layer would replace it.
    for (const lib of node.libraries.filter((l) => !GLIBC.test(path.basename(l)))) {
      const dest = path.join(root, lib.replace(/^\/lib(64)?\//, "/usr/lib$1/"));
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(fs.realpathSync(lib), dest);
    }
    await run("cp", ["-a", node.npmDir, path.join(root, "usr/local/lib/node_modules/npm")]);
    fs.symlinkSync("../lib/node_modules/npm/bin/npm-cli.js", path.join(root, "usr/local/bin/npm"));
    fs.symlinkSync("../lib/node_modules/npm/bin/npx-cli.js", path.join(root, "usr/local/bin/npx"));
    // The host's trust store (it may include a local proxy's CA the registry traffic goes through).
    const caFile = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"].find((f) =>
      fs.existsSync(f),
    );
    if (caFile) {
      fs.mkdirSync(path.join(root, "etc/ssl/certs"), { recursive: true });
      fs.copyFileSync(caFile, path.join(root, "etc/ssl/certs/ca-certificates.crt"));
    }
    fs.writeFileSync(path.join(root, "usr/local/etc/npmrc"), await npmrcFor(caFile));
    fs.writeFileSync(
      path.join(ctx, "Dockerfile"),
      [
        `FROM ${from}`,
        "COPY rootfs/ /",
        ...(caFile ? ["ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt"] : []),
        "RUN node --version && npm --version",
        `LABEL ${LABEL}=${recipe} org.opencontainers.image.description="Node.js ${node.version} and npm (build stage)"`,
        "",
      ].join("\n"),
    );
    await run("docker", ["build", "--network", "none", "-t", image, ctx], {
      env: { DOCKER_BUILDKIT: "0" },
      logFile,
      timeoutMs: 300_000,
    });
  } finally {
    fs.rmSync(ctx, { recursive: true, force: true });
  }
}

async function buildNodeRuntimeImage(
  image: string,
  node: PinnedNode,
  recipe: string,
  workDir: string,
  logFile: string,
): Promise<void> {
  const root = path.join(workDir, "rootfs-node-runtime");
  fs.rmSync(root, { recursive: true, force: true });
  const tarball = `${root}.tar`;
  try {
    const put = (file: string, target = file) => {
      const dest = path.join(root, target);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(fs.realpathSync(file), dest); // dereferenced: the image holds real files
    };
    put(node.binary, "/usr/local/bin/node");
    for (const lib of node.libraries) put(lib);
    fs.mkdirSync(path.join(root, "etc"), { recursive: true });
    fs.writeFileSync(
      path.join(root, "etc/passwd"),
      "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\napp:x:10001:10001:app:/nonexistent:/sbin/nologin\n",
    );
    fs.writeFileSync(path.join(root, "etc/group"), "root:x:0:\nnogroup:x:65534:\napp:x:10001:\n");
    fs.writeFileSync(path.join(root, "etc/nsswitch.conf"), "passwd: files\ngroup: files\nhosts: files dns\n");
    fs.mkdirSync(path.join(root, "tmp"));
    fs.chmodSync(path.join(root, "tmp"), 0o1777);
    await run("tar", ["--numeric-owner", "--owner=0", "--group=0", "-C", root, "-cf", tarball, "."], {
      logFile,
    });
    await run(
      "docker",
      [
        "import",
        "--change",
        `LABEL ${LABEL}=${recipe} org.opencontainers.image.description="Node.js ${node.version} runtime: node and its libraries only"`,
        "--change",
        "ENV PATH=/usr/local/bin:/usr/bin:/bin",
        "--change",
        'CMD ["node"]',
        tarball,
        image,
      ],
      { logFile, timeoutMs: 300_000 },
    );
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(tarball, { force: true });
  }
}

export async function ensureBaseImages(workDir: string): Promise<BaseImages> {
  const logFile = path.join(workDir, "base-images.log");
  const node = await pinnedNode();
  const version = node.version.replace(/^v/, "");
  const major = version.split(".")[0] ?? version;
  const { codename } = debianRelease();
  const minbase = `local/debian-minbase:${codename}`;
  const build = `local/node-build:${version}`;
  const runtime = `local/node-runtime:${version}`;
  const built: BaseImages["built"] = [];
  const timed = async (image: string, fn: () => Promise<void>) => {
    const started = Date.now();
    await fn();
    built.push({ image, seconds: (Date.now() - started) / 1000 });
  };

  if (!(await fresh(minbase, MINBASE_RECIPE)))
    await timed(minbase, () => buildMinbase(minbase, workDir, logFile));
  // The build image depends on the minbase image: rebuild when that changed.
  const minbaseId = (await run("docker", ["image", "inspect", "--format", "{{.Id}}", minbase])).slice(7, 19);
  const buildRecipe = `${NODE_RECIPE}-${minbaseId}`;
  if (!(await fresh(build, buildRecipe))) {
    await timed(build, () => buildNodeBuildImage(build, minbase, node, buildRecipe, workDir, logFile));
  }
  if (!(await fresh(runtime, NODE_RECIPE))) {
    await timed(runtime, () => buildNodeRuntimeImage(runtime, node, NODE_RECIPE, workDir, logFile));
  }
  await run("docker", ["tag", build, `local/node-build:${major}`]);
  await run("docker", ["tag", runtime, `local/node-runtime:${major}`]);

  // Smoke test: the runtime image runs node as a non-root user, and has nothing else.
  const probe = await run(
    "docker",
    [
      "run",
      "--rm",
      "--network",
      "none",
      "--user",
      "10001:10001",
      runtime,
      "node",
      "-p",
      'process.version + " " + require("fs").existsSync("/bin/sh")',
    ],
    { timeoutMs: 60_000 },
  );
  if (probe !== `${node.version} false`)
    throw new Error(`runtime image smoke test printed ${JSON.stringify(probe)}`);
  const runtimeSizeBytes = Number(
    await run("docker", ["image", "inspect", "--format", "{{.Size}}", runtime]),
  );
  return { minbase, build, runtime, nodeVersion: node.version, built, runtimeSizeBytes };
}

/**
 * The dev stack's GitOps loop under Pulumi mocks: the local git server next to kind, the commits of the
 * gitops/ tree and of the image file through the one writer interface, Argo CD pointed at the server,
 * and no image inline. (The server itself, its hook and real git are exercised by the container e2e.)
 */
import { strict as assert } from "node:assert";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { createHmac } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as k8s from "@pulumi/kubernetes";
import { parse } from "yaml";
import { evaluateProgram, readProject, type Evaluation } from "../automation/evaluate";
import { planJson, policyVerdicts } from "../automation/plan";
import { GIT_SERVER_CONTEXT } from "../components/cluster/local-git-server";
import { parsePlatformConfig } from "../components/config";
import {
  GitHubRepositoryWriter,
  LocalGitRepositoryWriter,
  LOCAL_GIT_COMMIT_SCRIPT,
  treeDigest,
} from "../components/gitops/git-writer";
import { GitOps } from "../components/gitops/gitops";
import { GITOPS_DIR } from "../components/gitops/git-wiring";
import { argoCdRepoRegex, argoCdWouldRefresh } from "../e2e/lib/argocd-webhook";
import { tryRun } from "../e2e/lib/exec";
import { WebhookReceiver } from "../e2e/lib/webhook-receiver";
import { evaluated, resourcesOf, type Resource } from "./support/stacks";

/** A resource as `npm run plan -- dev --json` prints it (inputs masked). */
type PlanResource = Pick<Resource, "type" | "name" | "urn" | "inputs"> & { parent: string | null };

let dev: Evaluation;
let plan: { resources: PlanResource[]; outputs: Record<string, unknown> };
before(async () => {
  dev = await evaluated("dev");
  plan = planJson(dev, policyVerdicts(dev)) as typeof plan;
});
const one = (type: string, suffix: string): Resource => {
  const found = resourcesOf(dev, type, suffix);
  assert.equal(found.length, 1, `one ${type} *${suffix}`);
  return found[0]!;
};
const planned = (type: string, suffix: string): PlanResource => {
  const found = plan.resources.filter((r) => r.type === type && r.name.endsWith(suffix));
  assert.equal(found.length, 1, `one ${type} *${suffix} in the plan`);
  return found[0]!;
};

const REPO_URL = "http://gitops-dev-git:8080/git/gitops.git";

describe("local git: configuration", () => {
  const declared = readProject().config ?? {};
  const defaults = Object.fromEntries(
    Object.entries(declared)
      .filter(([, d]) => d.default !== undefined)
      .map(([k, d]) => [k, typeof d.default === "string" ? d.default : JSON.stringify(d.default)]),
  );
  const context = { project: "gitops-platform", stack: "dev" };

  it("kind without GitHub and without gitopsRepoUrl reads the local git server", () => {
    const c = parsePlatformConfig(defaults, context);
    assert.equal(c.gitops.source, "local");
    assert.equal(c.gitops.repoUrl, REPO_URL);
    assert.deepEqual(c.gitops.localServer, {
      port: 3000,
      baseImage:
        "debian:bookworm-20260824-slim@sha256:88200866dfff7ea7f5cbcb6ec7c8a701889efe6fe859fe64d6990e4b07ea4171",
    });
  });

  it("gitopsRepoUrl (a fork) wins over the local server; GitHub wins over both", () => {
    const fork = parsePlatformConfig({ ...defaults, gitopsRepoUrl: "https://github.com/me/r.git" }, context);
    assert.equal(fork.gitops.source, "url");
    assert.equal(fork.gitops.localServer, undefined);
    const gh = parsePlatformConfig(
      { ...defaults, githubEnabled: "true", githubOwner: "o", githubRepository: "r" },
      context,
    );
    assert.equal(gh.gitops.source, "github");
    assert.equal(gh.gitops.repoUrl, "git@github.com:o/r.git");
  });

  it("gitserver/Dockerfile's default BASE_IMAGE is the localGitBaseImage default", () => {
    const dockerfile = fs.readFileSync(path.join(GIT_SERVER_CONTEXT, "Dockerfile"), "utf8");
    assert.equal(/^ARG BASE_IMAGE=(\S+)$/m.exec(dockerfile)?.[1], declared.localGitBaseImage?.default);
  });
});

describe("local git: npm run plan -- dev --json", () => {
  it("shows the git server container on the kind network with its volume, on 127.0.0.1 only", () => {
    const container = planned("docker:index/container:Container", "-git-container");
    const volume = planned("docker:index/volume:Volume", "-git-data");
    assert.equal(container.inputs.name, "gitops-dev-git");
    assert.deepEqual(container.inputs.networksAdvanced, [{ name: "kind", aliases: ["gitops-dev-git"] }]);
    assert.deepEqual(container.inputs.volumes, [
      { volumeName: volume.inputs.name, containerPath: "/srv/git" },
    ]);
    assert.deepEqual(container.inputs.ports, [{ internal: 8080, external: 3000, ip: "127.0.0.1" }]);
    assert.equal(container.inputs.restart, "always");
    assert.equal(container.inputs.readOnly, true);
    assert.deepEqual(container.inputs.capabilities, { drops: ["ALL"] });
    assert.deepEqual(container.inputs.securityOpts, ["no-new-privileges"]);
    assert.ok(container.inputs.envs.includes(`GIT_PUBLIC_URL=${REPO_URL}`));
    assert.ok(
      container.inputs.envs.includes("WEBHOOK_URL=http://gitops-dev-control-plane:30081/api/webhook"),
    );
    assert.doesNotMatch(JSON.stringify(container.inputs), /mock-password/, "the plan prints no secret");
  });

  it("builds the image from gitserver/Dockerfile with the configured base image, tagged by content", () => {
    const build = planned("command:local:Command", "-git-image");
    assert.equal(build.inputs.environment.CONTEXT, GIT_SERVER_CONTEXT);
    assert.equal(
      build.inputs.environment.BASE_IMAGE,
      "debian:bookworm-20260824-slim@sha256:88200866dfff7ea7f5cbcb6ec7c8a701889efe6fe859fe64d6990e4b07ea4171",
    );
    assert.match(build.inputs.create, /^docker build .*--build-arg BASE_IMAGE=/);
    const tag = build.inputs.environment.IMAGE_TAG as string;
    assert.equal(tag.split(":")[1]!.slice(0, 12), treeDigest(GIT_SERVER_CONTEXT).slice(0, 12));
    assert.equal(planned("docker:index/container:Container", "-git-container").inputs.image, tag);
  });

  it("commits the gitops/ tree (without the env's image file) and then gitops/envs/dev/image.yaml", () => {
    const tree = planned("command:local:Command", "-gitops-tree");
    assert.equal(tree.inputs.environment.COMMIT_PATH, "gitops");
    assert.equal(tree.inputs.environment.COMMIT_SOURCE, GITOPS_DIR);
    assert.equal(tree.inputs.environment.COMMIT_KEEP, "envs/dev/image.yaml");
    assert.equal(tree.inputs.environment.GIT_URL, "http://127.0.0.1:3000/git/gitops.git");
    assert.deepEqual(tree.inputs.triggers, [treeDigest(GITOPS_DIR, ["envs/dev/image.yaml"])]);

    const image = planned("command:local:Command", "-image-file");
    assert.equal(image.inputs.environment.COMMIT_PATH, "gitops/envs/dev/image.yaml");
    const values = parse(image.inputs.stdin as string) as { image: Record<string, string> };
    assert.equal(`${values.image.repository}@${values.image.digest}`, plan.outputs.appImage);
    assert.equal(values.image.tag, plan.outputs.appImageTag);
    assert.equal(
      image.inputs.environment.GIT_MESSAGE,
      `deploy(dev): ${values.image.repository}:${values.image.tag}@${values.image.digest} [image-commit]`,
    );
    for (const commit of [tree, image]) {
      assert.equal(commit.inputs.create, `bash '${LOCAL_GIT_COMMIT_SCRIPT}'`);
      assert.equal(commit.inputs.environment.GIT_AUTH_HEADER, "[secret]");
      assert.equal(commit.inputs.environment.GIT_BRANCH, "main");
    }
  });

  it("points the Argo CD repository Secret and the root Application at the local server, no inline image", () => {
    const root = planned("kubernetes:argoproj.io/v1alpha1:Application", "-root");
    assert.equal(root.inputs.spec.source.repoURL, REPO_URL);
    assert.equal(root.inputs.spec.source.helm.valuesObject.repoURL, REPO_URL);
    assert.deepEqual(Object.keys(root.inputs.spec.source.helm.valuesObject).sort(), [
      "argocdNamespace",
      "env",
      "project",
      "repoURL",
      "targetRevision",
    ]);
    assert.doesNotMatch(JSON.stringify(root.inputs), /sha256:|imageOverride|demo-app:/);
    // The Secret's stringData is secret in the plan; its URL is checked on the unmasked inputs.
    const secret = one("kubernetes:core/v1:Secret", "-repository");
    assert.deepEqual(secret.inputs.stringData, { type: "git", url: REPO_URL });
    assert.equal(plan.outputs.gitopsRepoUrl, REPO_URL);
  });

  it("orders the work: server before commits, tree before image file, both before the root Application", () => {
    const urn = (type: string, suffix: string) => one(type, suffix).urn;
    const container = urn("docker:index/container:Container", "-git-container");
    const tree = one("command:local:Command", "-gitops-tree");
    const image = one("command:local:Command", "-image-file");
    const root = one("kubernetes:argoproj.io/v1alpha1:Application", "-root");
    assert.ok(tree.dependsOn.includes(container));
    assert.ok(image.dependsOn.includes(container) && image.dependsOn.includes(tree.urn));
    assert.ok(root.dependsOn.includes(tree.urn) && root.dependsOn.includes(image.urn));
  });

  it("hands the container Argo CD's own webhook secret and a generated push password, both secret", () => {
    const container = one("docker:index/container:Container", "-git-container");
    const envs = container.inputs.envs as string[];
    assert.ok(envs.includes("WEBHOOK_SECRET=mock-password-gitops-dev-argocd-webhook-secret"));
    assert.ok(envs.includes("GIT_PUSH_PASSWORD=mock-password-gitops-dev-git-push-password"));
    assert.ok(container.secretPaths.some((p) => p.startsWith("envs")));
    assert.equal(dev.outputs.gitopsPushUrl, "http://127.0.0.1:3000/git/gitops.git");
    assert.ok(dev.secretOutputs.includes("gitopsPushPassword"), "the push password is a secret output");
    assert.equal(plan.outputs.gitopsPushPassword, "[secret]");
  });

  it("Argo CD's webhook matching accepts the html_url the hook derives from the repository URL", () => {
    const htmlUrl = REPO_URL.replace(/\.git$/, "");
    assert.ok(argoCdRepoRegex(htmlUrl).test(REPO_URL));
    assert.ok(
      argoCdWouldRefresh(
        { ref: "refs/heads/main", repository: { html_url: htmlUrl } },
        {
          repoURL: REPO_URL,
          targetRevision: "main",
        },
      ),
    );
    assert.ok(!argoCdRepoRegex("http://gitops-dev-git:8080/git/other").test(REPO_URL), "another path");
    assert.ok(!argoCdRepoRegex("http://elsewhere:8080/git/gitops").test(REPO_URL), "another host");
  });
});

describe("local git: the writers", () => {
  const image = {
    repository: "localhost:5001/demo-app",
    tag: "abc1234-1",
    digest: `sha256:${"a".repeat(64)}`,
  };
  const runWith = (writer: "local" | "github", opts: { tree?: string; imageBranch?: string } = {}) =>
    evaluateProgram(() => {
      const provider = new k8s.Provider("k8s", { kubeconfig: "{}" });
      new GitOps("w", {
        environment: "dev",
        stack: "dev",
        repoUrl: REPO_URL,
        revision: "main",
        image,
        provider,
        writer:
          writer === "local"
            ? new LocalGitRepositoryWriter({ pushUrl: "http://127.0.0.1:1/git/gitops.git", authHeader: "x" })
            : new GitHubRepositoryWriter("r"),
        ...(opts.imageBranch ? { imageBranch: opts.imageBranch } : {}),
        ...(opts.tree ? { pushTree: { sourceDir: opts.tree } } : {}),
      });
    });
  const trigger = (e: Evaluation, suffix: string) =>
    (e.resources.find((r) => r.name.endsWith(suffix))!.inputs.triggers as string[])[0];

  it("local: the tree's trigger changes with its content and ignores the env's image file", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tree-"));
    try {
      fs.mkdirSync(path.join(dir, "envs/dev"), { recursive: true });
      fs.writeFileSync(path.join(dir, "envs/dev/values.yaml"), "replicas: 1\n");
      fs.writeFileSync(path.join(dir, "envs/dev/image.yaml"), "image: {}\n");
      const first = trigger(await runWith("local", { tree: dir }), "-gitops-tree");
      assert.equal(
        trigger(await runWith("local", { tree: dir }), "-gitops-tree"),
        first,
        "same tree, same hash",
      );
      fs.writeFileSync(path.join(dir, "envs/dev/image.yaml"), "image: {tag: other}\n");
      assert.equal(
        trigger(await runWith("local", { tree: dir }), "-gitops-tree"),
        first,
        "image.yaml is not the tree's",
      );
      fs.writeFileSync(path.join(dir, "envs/dev/values.yaml"), "replicas: 2\n");
      assert.notEqual(
        trigger(await runWith("local", { tree: dir }), "-gitops-tree"),
        first,
        "a changed file",
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("github: the image file is a RepositoryFile on the branch given, and a tree is refused", async () => {
    const e = await runWith("github", { imageBranch: "deploy/dev" });
    assert.equal(e.error, undefined);
    const file = e.resources.find((r) => r.type === "github:index/repositoryFile:RepositoryFile")!;
    assert.equal(file.inputs.branch, "deploy/dev");
    assert.equal(file.inputs.file, "gitops/envs/dev/image.yaml");
    const refused = await runWith("github", { tree: GITOPS_DIR });
    assert.match(String(refused.error?.message), /cannot commit the tree gitops/);
  });
});

describe("local git: the scripts, with real git and bash", () => {
  const gitEnv = { GIT_CONFIG_NOSYSTEM: "1", HOME: os.tmpdir(), PATH: process.env.PATH ?? "" };
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "local-git-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const commitScript = (env: Record<string, string>, input?: string) =>
    spawnSync("bash", [LOCAL_GIT_COMMIT_SCRIPT], {
      env: { ...gitEnv, GIT_BRANCH: "main", ...env },
      input,
      encoding: "utf8",
      timeout: 20_000,
    });

  it("local-git-commit.sh: a tree keeps the file another commit owns; unchanged content makes no commit", () => {
    const remote = path.join(dir, "remote.git");
    spawnSync("git", ["init", "--quiet", "--bare", "--initial-branch=main", remote], { env: gitEnv });
    const url = `file://${remote}`;
    const source = path.join(dir, "src");
    fs.mkdirSync(path.join(source, "envs/dev"), { recursive: true });
    fs.writeFileSync(path.join(source, "envs/dev/values.yaml"), "replicas: 1\n");
    fs.writeFileSync(path.join(source, "envs/dev/image.yaml"), "placeholder\n");
    const tree = {
      GIT_URL: url,
      COMMIT_PATH: "gitops",
      COMMIT_SOURCE: source,
      COMMIT_KEEP: "envs/dev/image.yaml",
    };

    const first = commitScript({ ...tree, GIT_MESSAGE: "tree" });
    assert.equal(first.status, 0, first.stderr);
    const image = commitScript(
      { GIT_URL: url, GIT_MESSAGE: "deploy(dev): x", COMMIT_PATH: "gitops/envs/dev/image.yaml" },
      "image: x\n",
    );
    assert.equal(image.status, 0, image.stderr);
    const again = commitScript({ ...tree, GIT_MESSAGE: "tree again" });
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout.trim(), image.stdout.trim(), "the same tree: no commit");
    assert.match(again.stderr, /unchanged: no commit on main/);

    const git = (...args: string[]) =>
      spawnSync("git", ["--git-dir", remote, ...args], { env: gitEnv, encoding: "utf8" }).stdout;
    assert.equal(
      git("show", "main:gitops/envs/dev/image.yaml"),
      "image: x\n",
      "the tree never reset the image file",
    );
    assert.equal(git("log", "--format=%s", "main"), "deploy(dev): x\ntree\n");
    fs.rmSync(path.join(source, "envs/dev/values.yaml"));
    assert.equal(commitScript({ ...tree, GIT_MESSAGE: "removed" }).status, 0);
    assert.equal(
      git("ls-tree", "-r", "--name-only", "main"),
      "gitops/envs/dev/image.yaml\n",
      "a removed file goes",
    );
  });

  it("post-receive's HMAC-SHA256 (bash, no secret on a command line) equals Node's", () => {
    const hook = fs.readFileSync(path.join(GIT_SERVER_CONTEXT, "post-receive"), "utf8");
    const fn = /^hmac_sha256_hex\(\) \{[\s\S]*?^\}$/m.exec(hook)?.[0];
    assert.ok(fn, "post-receive defines hmac_sha256_hex");
    const body = '{"ref":"refs/heads/main","commits":[{"message":"ünïcode \\"quoted\\""}]}\n';
    // '6' XOR 0x36 is a NUL byte; 100 characters is longer than SHA-256's 64-byte block.
    for (const key of ["s3cret", "6666", "k".repeat(100)]) {
      const keyFile = path.join(dir, "key");
      fs.writeFileSync(keyFile, key);
      const out: SpawnSyncReturns<string> = spawnSync(
        "bash",
        ["-c", `${fn}\nhmac_sha256_hex "$1"`, "hmac", keyFile],
        {
          input: body,
          encoding: "utf8",
        },
      );
      assert.equal(
        out.stdout.trim(),
        createHmac("sha256", key).update(body).digest("hex"),
        `key of ${key.length}`,
      );
    }
  });

  it("the git server's scripts parse as bash", () => {
    for (const file of ["entrypoint.sh", "post-receive"]) {
      const out = spawnSync("bash", ["-n", path.join(GIT_SERVER_CONTEXT, file)], { encoding: "utf8" });
      assert.equal(out.status, 0, `${file}: ${out.stderr}`);
    }
  });
});

describe("local git: the post-receive hook on a real push (no container)", () => {
  it("posts a signed, valid JSON push event whose html_url Argo CD matches, even for awkward messages", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hook-"));
    const receiver = await WebhookReceiver.start("hook-secret-6");
    try {
      const env = { GIT_CONFIG_NOSYSTEM: "1", HOME: dir, PATH: process.env.PATH ?? "" };
      const git = (cwd: string, ...args: string[]) => {
        const r = spawnSync("git", args, { cwd, env, encoding: "utf8" });
        assert.equal(r.status, 0, `git ${args.join(" ")}: ${r.stderr}`);
        return r;
      };
      const run = path.join(dir, "run");
      fs.mkdirSync(run);
      fs.writeFileSync(
        path.join(run, "webhook.env"),
        `GIT_PUBLIC_URL=${REPO_URL}\nWEBHOOK_URL=${receiver.url}\n`,
      );
      fs.writeFileSync(path.join(run, "webhook.secret"), "hook-secret-6");
      const remote = path.join(dir, "remote.git");
      git(dir, "init", "--quiet", "--bare", "--initial-branch=main", remote);
      git(remote, "config", "core.hooksPath", GIT_SERVER_CONTEXT);
      const work = path.join(dir, "work");
      git(dir, "init", "--quiet", "--initial-branch=main", work);
      fs.mkdirSync(path.join(work, "gitops/envs/dev"), { recursive: true });
      fs.writeFileSync(path.join(work, "gitops/envs/dev/image.yaml"), "image: {}\n");
      git(work, "add", ".");
      const message = 'deploy(dev): "quoted" \\ back\tslash ünï\n\nsecond line';
      git(work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", message);
      // Asynchronously: the receiver answers from this very process while git waits for the hook.
      const pushed = await tryRun("git", ["push", remote, "main"], {
        cwd: work,
        env: { ...env, GITSERVER_RUN_DIR: run },
        timeoutMs: 15_000,
      });
      assert.equal(pushed.code, 0, pushed.stderr);
      assert.match(pushed.stderr, /notified Argo CD of main at [0-9a-f]{7} \(HTTP 200\)/);
      const delivery = await receiver.waitForMore(0, 5000);
      assert.ok(delivery.signatureValid, "signed with the shared secret");
      const payload = JSON.parse(delivery.body.toString("utf8"));
      assert.equal(payload.commits[0].message, message);
      assert.deepEqual(payload.commits[0].added, ["gitops/envs/dev/image.yaml"]);
      assert.equal(payload.repository.html_url, REPO_URL.replace(/\.git$/, ""));
      assert.ok(argoCdWouldRefresh(payload, { repoURL: REPO_URL, targetRevision: "main" }));
    } finally {
      await receiver.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

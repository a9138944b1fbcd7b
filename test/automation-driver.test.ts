/**
 * The driver end to end, with real prerequisite commands (tiny shell scripts on a PATH made per test)
 * and recording fakes only at the two API boundaries: the Automation API (StackApi/StackHandle) and
 * the GitHub API (CommentsApi). Plus the real CLI as a child process without a Pulumi CLI.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import type { OutputMap } from "@pulumi/pulumi/automation";
import { DEV_PASSPHRASE } from "../automation/backend";
import { EXIT, runDriver, type DriverDeps } from "../automation/driver";
import { upsertComment, type CommentsApi, type IssueComment } from "../automation/github";
import { findOnPath, requiredChecks, runChecks, type CheckName } from "../automation/prereqs";
import type { StackApi, StackHandle, StackSelection } from "../automation/stack-api";
import { PROJECT_DIR } from "../automation/stack-files";
import { commentMarker } from "../automation/summary";
import {
  KIND_SHA256,
  KIND_VERSION,
  kindPlatform,
  PULUMI_CLI_VERSION,
  type ToolInstaller,
} from "../automation/tools";
import { evaluateStack, readProject, type EvaluatedResource, type Evaluation } from "../automation/evaluate";
import { EKS_ACCESS_POLICIES } from "../components/cluster/access-entry";
import { evaluated } from "./support/stacks";

function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `gitops-${prefix}-`));
}

/** A directory of tiny executables: `{ name: shell body }`. */
function fakeBin(scripts: Record<string, string | null>): string {
  const dir = tmpDir("bin");
  for (const [name, body] of Object.entries(scripts)) {
    if (body === null) continue;
    fs.writeFileSync(path.join(dir, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  }
  return dir;
}

const TOOLS = {
  pulumi: 'echo "v3.201.0"',
  docker: 'echo "27.3.1"',
  kind: 'echo "kind v0.33.0 go1.26.3 linux/amd64"',
  aws: `echo '{"Account":"123456789012","Arn":"arn:aws:sts::123456789012:assumed-role/preview/ci"}'`,
};

describe("automation: prerequisite checks against real commands on PATH", () => {
  const check = async (names: CheckName[], scripts: Record<string, string | null>, env = {}) => {
    const bin = fakeBin(scripts);
    return runChecks(names, { env: { PATH: bin, ...env }, timeoutMs: 3000 });
  };

  it("all present and recent enough", async () => {
    const results = await check(["pulumi", "docker", "kind", "aws"], TOOLS);
    assert.deepEqual(
      results.map((r) => [r.name, r.status]),
      [
        ["pulumi", "ok"],
        ["docker", "ok"],
        ["kind", "ok"],
        ["aws", "ok"],
      ],
    );
    assert.match(results[0]!.detail, /Pulumi CLI 3\.201\.0 \(>= 3\.170\.0\)/);
    assert.match(results[1]!.detail, /server 27\.3\.1/);
    assert.match(results[3]!.detail, /assumed-role\/preview\/ci/);
  });

  it("every missing tool is reported with how to fix it", async () => {
    const results = await check(["pulumi", "docker", "kind", "aws"], {});
    assert.ok(results.every((r) => r.status !== "ok"));
    const byName = Object.fromEntries(results.map((r) => [r.name, r]));
    assert.match(byName.pulumi!.detail, /the Pulumi CLI \(pulumi\) is not on PATH/);
    assert.match(byName.pulumi!.fix!, /https:\/\/www\.pulumi\.com\/docs\/install\//);
  });

  it("a missing pulumi does not wait for slow checks", async function () {
    // docker would answer after 30 s: "skipped" shows its check was abandoned, the timeout bounds the wait.
    this.timeout(10_000);
    const bin = fakeBin({ docker: "exec /bin/sleep 30", kind: TOOLS.kind });
    const results = await runChecks(["pulumi", "docker", "kind"], { env: { PATH: bin }, graceMs: 300 });
    assert.deepEqual(
      results.map((r) => [r.name, r.status]),
      [
        ["pulumi", "failed"],
        ["docker", "skipped"],
        ["kind", "ok"],
      ],
    );
  });

  it("an old or broken pulumi fails, naming the minimum", async () => {
    const [old] = await check(["pulumi"], { pulumi: 'echo "v3.100.2"' });
    assert.equal(old!.status, "failed");
    assert.match(old!.detail, /Pulumi CLI 3\.100\.2 at .*pulumi is older than 3\.170\.0/);
    assert.match(old!.fix!, /pulumi self-update/);
    const [broken] = await check(["pulumi"], { pulumi: 'echo "segfault" >&2; exit 139' });
    assert.equal(broken!.status, "failed");
    assert.match(broken!.detail, /version` failed or printed no version: segfault/);
  });

  it("a file named pulumi that is not executable is not a Pulumi CLI", () => {
    const bin = tmpDir("noexec");
    fs.writeFileSync(path.join(bin, "pulumi"), "#!/bin/sh\necho v3.201.0\n", { mode: 0o644 });
    assert.equal(findOnPath("pulumi", { PATH: bin }), undefined);
    fs.chmodSync(path.join(bin, "pulumi"), 0o755);
    assert.equal(findOnPath("pulumi", { PATH: `/nonexistent:${bin}` }), path.join(bin, "pulumi"));
  });

  it("docker present but the daemon unreachable, or hanging", async () => {
    const [down] = await check(["docker"], {
      docker: 'echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2; exit 1',
    });
    assert.equal(down!.status, "failed");
    assert.match(down!.detail, /daemon is not reachable \(docker info: Cannot connect to the Docker daemon/);
    assert.match(down!.fix!, /start Docker/);
    const bin = fakeBin({ docker: "exec /bin/sleep 30" });
    const [hung] = await runChecks(["docker"], { env: { PATH: bin }, timeoutMs: 300 });
    assert.match(hung!.detail, /timed out/);
  });

  it("kind older than the pinned node image needs", async () => {
    const [old] = await check(["kind"], { kind: 'echo "kind v0.32.0 go1.25.1 linux/amd64"' });
    assert.equal(old!.status, "failed");
    assert.match(old!.detail, /kind 0\.32\.0 is older than 0\.33\.0/);
    assert.match(old!.fix!, /kind\.sigs\.k8s\.io/);
  });

  it("AWS credentials: environment first, else aws sts get-caller-identity", async () => {
    const marker = path.join(tmpDir("aws"), "ran");
    const spy = `touch ${marker}; exit 1`;
    for (const name of ["AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE"]) {
      const [r] = await check(["aws"], { aws: spy }, { [name]: "x" });
      assert.equal(r!.status, "ok");
      assert.match(r!.detail, new RegExp(name));
    }
    assert.ok(!fs.existsSync(marker), "the aws CLI is not run when the environment has credentials");
    const [sts] = await check(["aws"], { aws: TOOLS.aws });
    assert.equal(sts!.status, "ok");
    const [denied] = await check(["aws"], { aws: 'echo "Unable to locate credentials." >&2; exit 253' });
    assert.equal(denied!.status, "failed");
    assert.match(denied!.detail, /aws sts get-caller-identity failed: Unable to locate credentials/);
    const [none] = await check(["aws"], {});
    assert.match(none!.detail, /none of AWS_ACCESS_KEY_ID, AWS_PROFILE, AWS_WEB_IDENTITY_TOKEN_FILE is set/);
    assert.match(none!.fix!, /OIDC/);
  });

  it("what each command needs per cluster provider", () => {
    assert.deepEqual(requiredChecks("up", "kind"), ["pulumi", "docker", "kind"]);
    assert.deepEqual(requiredChecks("destroy", "kind"), ["pulumi", "docker", "kind"]);
    assert.deepEqual(requiredChecks("preview", "eks"), ["pulumi", "docker", "aws"]);
    assert.deepEqual(requiredChecks("refresh", "eks"), ["pulumi", "aws"]);
    assert.deepEqual(requiredChecks("outputs", "eks"), ["pulumi"]);
  });
});

type Op = "preview" | "up" | "refresh" | "previewRefresh" | "destroy" | "outputs";
type Opts = Record<string, unknown> | undefined;

const OUTPUTS: OutputMap = {
  kubeconfig: { value: "apiVersion: v1\nkind: Config", secret: true },
  appUrl: { value: "http://localhost:30080", secret: false },
};

const DEFAULTS: Record<Op, () => unknown> = {
  preview: () => ({
    stdout: "Previewing update (dev)\n + 2 to create",
    changeSummary: { create: 2, same: 10 },
  }),
  up: () => ({ stdout: "", outputs: OUTPUTS, summary: { resourceChanges: { create: 2, same: 10 } } }),
  refresh: () => ({ stdout: "", summary: { resourceChanges: { same: 12 } } }),
  previewRefresh: () => ({ stdout: "", changeSummary: { same: 12 } }),
  destroy: () => ({ stdout: "", summary: { resourceChanges: { delete: 12 } } }),
  outputs: () => OUTPUTS,
};

type ConfigOp = "getConfig" | "setConfig" | "removeConfig";

/** A recording fake of a Stack: every call with its options; results scripted per operation. */
class FakeStack implements StackHandle {
  calls: Array<{ op: Op | ConfigOp; opts: Record<string, unknown> }> = [];
  /** The stack's config (what Pulumi.<stack>.yaml would hold). */
  config = new Map<string, string>();
  cancels = 0;
  constructor(private readonly script: Partial<Record<Op, (n: number) => unknown>> = {}) {}
  private async run(op: Op, opts: Opts): Promise<never> {
    const plain = Object.fromEntries(
      Object.entries(opts ?? {}).filter(([, v]) => typeof v !== "function" && !(v instanceof AbortSignal)),
    );
    this.calls.push({ op, opts: plain });
    (opts?.onOutput as ((s: string) => void) | undefined)?.(`[engine] ${op}\n`);
    const n = this.calls.filter((c) => c.op === op).length;
    return (this.script[op] ?? DEFAULTS[op])(n) as never;
  }
  preview(opts?: Opts) {
    return this.run("preview", opts);
  }
  up(opts?: Opts) {
    return this.run("up", opts);
  }
  refresh(opts?: Opts) {
    return this.run("refresh", opts);
  }
  previewRefresh(opts?: Opts) {
    return this.run("previewRefresh", opts);
  }
  destroy(opts?: Opts) {
    return this.run("destroy", opts);
  }
  outputs() {
    return this.run("outputs", undefined);
  }
  async getConfig(key: string) {
    this.calls.push({ op: "getConfig", opts: { key } });
    const value = this.config.get(key);
    if (value === undefined) throw new Error(`config key "${key}" not found`);
    return { value };
  }
  async setConfig(key: string, value: { value: string }) {
    this.calls.push({ op: "setConfig", opts: { key, value: value.value } });
    this.config.set(key, value.value);
  }
  async removeConfig(key: string) {
    this.calls.push({ op: "removeConfig", opts: { key } });
    this.config.delete(key);
  }
  /** Never called by the driver: locks are waited for, not cancelled. */
  async cancel() {
    this.cancels++;
  }
  ops(): Array<Op | ConfigOp> {
    return this.calls.map((c) => c.op);
  }
}

class FakeStackApi implements StackApi {
  selections: StackSelection[] = [];
  constructor(readonly stack: FakeStack) {}
  async createOrSelectStack(selection: StackSelection) {
    this.selections.push(selection);
    return this.stack;
  }
}

/** A recording fake of the GitHub API boundary. */
class FakeComments implements CommentsApi {
  comments: IssueComment[] = [];
  calls: string[] = [];
  private nextId = 100;
  async listComments(owner: string, repo: string, issue: number) {
    this.calls.push(`list ${owner}/${repo}#${issue}`);
    return this.comments.map((c) => ({ ...c }));
  }
  async createComment(owner: string, repo: string, issue: number, body: string) {
    this.calls.push(`create ${owner}/${repo}#${issue}`);
    const id = this.nextId++;
    this.comments.push({ id, body });
    return { id };
  }
  async updateComment(owner: string, repo: string, id: number, body: string) {
    this.calls.push(`update ${owner}/${repo} ${id}`);
    const c = this.comments.find((x) => x.id === id);
    assert.ok(c, `comment ${id} exists`);
    c.body = body;
  }
}

describe("automation: pull request comment upsert", () => {
  const pr = { owner: "acme", repo: "platform", number: 7 };
  const staging = commentMarker("preview", "staging");
  const prod = commentMarker("preview", "prod");

  it("creates the comment the first time, edits it afterwards", async () => {
    const api = new FakeComments();
    api.comments.push({ id: 1, body: "LGTM" }, { id: 2, body: null });
    assert.deepEqual(await upsertComment(api, pr, staging, `${staging}\nfirst`), {
      action: "created",
      id: 100,
    });
    assert.deepEqual(await upsertComment(api, pr, staging, `${staging}\nsecond`), {
      action: "updated",
      id: 100,
    });
    assert.equal(api.comments.length, 3);
    assert.equal(api.comments[2]!.body, `${staging}\nsecond`);
    assert.deepEqual(api.calls, [
      "list acme/platform#7",
      "create acme/platform#7",
      "list acme/platform#7",
      "update acme/platform 100",
    ]);
  });

  it("keeps one comment per stack", async () => {
    const api = new FakeComments();
    await upsertComment(api, pr, staging, `${staging}\na`);
    await upsertComment(api, pr, prod, `${prod}\nb`);
    await upsertComment(api, pr, prod, `${prod}\nc`);
    assert.deepEqual(
      api.comments.map((c) => c.body),
      [`${staging}\na`, `${prod}\nc`],
    );
  });

  it("refuses a body without its marker (it could never be found again)", async () => {
    await assert.rejects(
      upsertComment(new FakeComments(), pr, staging, "no marker"),
      /must contain its marker/,
    );
  });
});

const LOCK_TEXT =
  "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n" +
  "  file:///state/.pulumi/locks/organization/gitops-platform/dev/1f2e.json: created by alice@laptop (pid 777) at 2026-11-22T09:00:00Z";

function lockError(): Error {
  return Object.assign(new Error(`code: 255\n stdout: \n stderr: ${LOCK_TEXT}\n err?: \n`), {
    name: "ConcurrentUpdateError",
  });
}

function harness(
  opts: {
    env?: Record<string, string>;
    stack?: FakeStack;
    /** The Automation API boundary itself, instead of one that always hands out `stack`. */
    api?: StackApi;
    tools?: Record<string, string | null>;
    installTools?: ToolInstaller;
  } = {},
) {
  const project = tmpDir("project");
  fs.writeFileSync(path.join(project, "Pulumi.yaml"), "name: gitops-platform\nruntime: nodejs\n");
  fs.writeFileSync(
    path.join(project, "Pulumi.dev.yaml"),
    "config:\n  gitops-platform:clusterProvider: kind\n",
  );
  fs.writeFileSync(
    path.join(project, "Pulumi.staging.yaml"),
    "config:\n  gitops-platform:clusterProvider: eks\n",
  );
  fs.writeFileSync(
    path.join(project, "Pulumi.prod.yaml"),
    "config:\n  gitops-platform:clusterProvider: eks\n",
  );
  const home = tmpDir("home");
  const bin = fakeBin({ ...TOOLS, ...opts.tools });
  const stack = opts.stack ?? new FakeStack();
  const api = new FakeStackApi(stack);
  const comments = new FakeComments();
  const out: string[] = [];
  const err: string[] = [];
  const sleeps: number[] = [];
  const tokens: string[] = [];
  let stackApiLoads = 0;
  let clock = 0;
  const deps: DriverDeps = {
    env: { PATH: bin, HOME: home, ...opts.env },
    projectDir: project,
    homeDir: home,
    stdout: (s) => void out.push(s),
    stderr: (s) => void err.push(s),
    stackApi: async () => {
      stackApiLoads++;
      return opts.api ?? api;
    },
    commentsApi: async (token) => {
      tokens.push(token);
      return comments;
    },
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
    random: () => 0.5,
    now: () => (clock += 1500),
    checkTimeoutMs: 3000,
    ...(opts.installTools ? { installTools: opts.installTools } : {}),
  };
  return {
    project,
    home,
    stack,
    api,
    comments,
    sleeps,
    tokens,
    run: (argv: string[]) => runDriver(argv, deps),
    out: () => out.join(""),
    err: () => err.join(""),
    loads: () => stackApiLoads,
  };
}

describe("automation: the driver", () => {
  it("`up dev` creates the stack on the project-local backend and streams the engine output", async () => {
    const h = harness();
    assert.equal(await h.run(["up", "dev"]), EXIT.ok, h.err());
    assert.deepEqual(h.api.selections, [
      {
        stackName: "dev",
        workDir: h.project,
        envVars: {
          PULUMI_SKIP_UPDATE_CHECK: "true",
          PULUMI_BACKEND_URL: `file://${h.project}/.pulumi-state`,
          PULUMI_CONFIG_PASSPHRASE: DEV_PASSPHRASE,
        },
      },
    ]);
    assert.ok(fs.statSync(path.join(h.project, ".pulumi-state")).isDirectory(), ".pulumi-state created");
    assert.deepEqual(h.stack.calls, [{ op: "up", opts: {} }]);
    assert.match(h.out(), /\[engine\] up/);
    assert.match(
      h.err(),
      /up dev \(kind\): backend file:\/\/.*\.pulumi-state \(project default\), passphrase from dev default/,
    );
    assert.match(h.err(), /up dev: done, 2 change\(s\)/);
  });

  it("passes --diff, --parallel and --refresh through", async () => {
    const h = harness();
    assert.equal(await h.run(["preview", "dev", "--diff", "--parallel", "3", "--refresh"]), EXIT.ok);
    assert.deepEqual(h.stack.calls, [{ op: "preview", opts: { parallel: 3, diff: true, refresh: true } }]);
  });

  it("checks everything before touching the workspace and reports all failures together", async () => {
    const h = harness({
      tools: { docker: 'echo "Cannot connect to the Docker daemon" >&2; exit 1', kind: null },
    });
    assert.equal(await h.run(["up", "dev"]), EXIT.prerequisites);
    assert.equal(h.loads(), 0, "the Automation API is never loaded");
    assert.equal(h.stack.calls.length, 0);
    assert.ok(!fs.existsSync(path.join(h.project, ".pulumi-state")), "no state directory created");
    const err = h.err();
    assert.match(err, /cannot run "up dev": 2 prerequisites missing; nothing was changed/);
    assert.match(err, /ok {3}pulumi: Pulumi CLI 3\.201\.0/);
    assert.match(err, /FAIL docker: the Docker daemon is not reachable[^\n]*\n\s+fix: start Docker/);
    assert.match(err, /FAIL kind: kind is not on PATH[^\n]*\n\s+fix: install kind/);
  });

  it("a non-dev stack without a passphrase fails with the other prerequisites", async () => {
    const h = harness({ tools: { aws: 'echo "Unable to locate credentials" >&2; exit 253' } });
    assert.equal(await h.run(["preview", "staging"]), EXIT.prerequisites);
    assert.match(h.err(), /FAIL aws: aws sts get-caller-identity failed/);
    assert.match(h.err(), /FAIL config: stack "staging" encrypts its secrets with a passphrase/);
    assert.equal(h.loads(), 0);
  });

  it("an EKS stack with a passphrase and credentials runs, without kind", async () => {
    const h = harness({
      env: {
        PULUMI_BACKEND_URL: "s3://state?region=eu-west-1",
        PULUMI_CONFIG_PASSPHRASE: "x",
        AWS_PROFILE: "p",
      },
      tools: { kind: null },
    });
    assert.equal(await h.run(["preview", "staging"]), EXIT.ok, h.err());
    assert.deepEqual(h.api.selections[0]!.envVars, { PULUMI_SKIP_UPDATE_CHECK: "true" });
    assert.ok(!fs.existsSync(path.join(h.project, ".pulumi-state")));
  });

  describe("tools on first run", () => {
    /** An installer that records its calls and installs scripts that answer `version`. */
    const recordingInstaller = (calls: string[]): ToolInstaller => ({
      async pulumi(root, version) {
        calls.push(`pulumi ${version} -> ${root}`);
        fs.mkdirSync(path.join(root, "bin"), { recursive: true });
        fs.writeFileSync(path.join(root, "bin", "pulumi"), `#!/bin/sh\necho v${version}\n`, { mode: 0o755 });
      },
      async download(url, sha256, dest) {
        calls.push(`download ${url} ${sha256} -> ${dest}`);
        fs.writeFileSync(dest, `#!/bin/sh\necho "kind v${KIND_VERSION} go1.26 linux/amd64"\n`, {
          mode: 0o755,
        });
      },
    });

    it("`up dev` says what it installs, fetches the missing Pulumi CLI and kind into .tools/, then uses them", async function () {
      if (!KIND_SHA256[kindPlatform()]) this.skip(); // no pinned kind for this platform: nothing to fetch
      const calls: string[] = [];
      const h = harness({ tools: { pulumi: null, kind: null }, installTools: recordingInstaller(calls) });
      assert.equal(await h.run(["up", "dev"]), EXIT.ok, h.err());
      const tools = path.join(h.project, ".tools");
      assert.deepEqual(calls, [
        `pulumi ${PULUMI_CLI_VERSION} -> ${tools}`,
        `download https://github.com/kubernetes-sigs/kind/releases/download/v${KIND_VERSION}/kind-${kindPlatform()} ${KIND_SHA256[kindPlatform()]} -> ${path.join(tools, "bin", "kind")}`,
      ]);
      assert.match(
        h.err(),
        /pulumi is missing: installing the Pulumi CLI 3\.\d+\.\d+ into \.tools\/ \(project-local, git-ignored\)/,
      );
      assert.match(
        h.err(),
        /kind is missing: installing kind \d+\.\d+\.\d+ into \.tools\/bin from https:\/\/github\.com\//,
      );
      const [selection] = h.api.selections;
      assert.equal(selection!.pulumiRoot, tools, "LocalWorkspace runs the installed CLI");
      assert.equal(
        selection!.envVars.PATH!.split(path.delimiter)[0],
        path.join(tools, "bin"),
        "kind on the engine's PATH",
      );

      calls.length = 0;
      assert.equal(await h.run(["up", "dev"]), EXIT.ok, h.err());
      assert.deepEqual(calls, [], "the second run finds them in .tools/");
    });

    it("`--no-install` installs nothing and fails with the hints", async () => {
      const calls: string[] = [];
      const h = harness({ tools: { pulumi: null, kind: null }, installTools: recordingInstaller(calls) });
      assert.equal(await h.run(["up", "dev", "--no-install"]), EXIT.prerequisites);
      assert.deepEqual(calls, []);
      assert.match(
        h.err(),
        /FAIL pulumi: the Pulumi CLI \(pulumi\) is not on PATH[^\n]*\n\s+fix: install the Pulumi CLI/,
      );
      assert.match(h.err(), /without --no-install, the driver fetches the pinned Pulumi CLI/);
      assert.equal(h.loads(), 0);
      assert.ok(!fs.existsSync(path.join(h.project, ".tools")));
    });

    it("a failed install is reported with the other prerequisites; nothing runs", async () => {
      const h = harness({
        tools: { pulumi: null },
        installTools: {
          pulumi: async () => {
            throw new Error("get.pulumi.com: connection refused");
          },
          download: async () => assert.fail("kind is present"),
        },
      });
      assert.equal(await h.run(["up", "dev"]), EXIT.prerequisites);
      assert.match(h.err(), /FAIL install pulumi: get\.pulumi\.com: connection refused/);
      assert.match(h.err(), /FAIL pulumi: the Pulumi CLI \(pulumi\) is not on PATH/);
      assert.equal(h.loads(), 0);
    });

    it("tools already on PATH are used as they are", async () => {
      const calls: string[] = [];
      const h = harness({ installTools: recordingInstaller(calls) });
      assert.equal(await h.run(["up", "dev"]), EXIT.ok, h.err());
      assert.deepEqual(calls, []);
      assert.equal(h.api.selections[0]!.pulumiRoot, undefined);
    });
  });

  it("a bad command line exits 2 before any check", async () => {
    const h = harness({ tools: { pulumi: null } });
    assert.equal(await h.run(["up", "qa"]), EXIT.usage);
    assert.match(h.err(), /unknown stack "qa"; allowed: dev, prod, staging/);
    assert.doesNotMatch(h.err(), /not on PATH|prerequisite/, "no check ran");
    assert.equal(await h.run(["--help"]), EXIT.ok);
    assert.match(h.out(), /usage: tsx automation\/cli\.ts <command> <stack>/);
  });

  it("preview --expect-no-changes fails on changes and writes the step summary", async () => {
    const h = harness();
    const summary = path.join(h.home, "summary.md");
    fs.writeFileSync(summary, "earlier step\n");
    const code = await h.run(["preview", "dev", "--expect-no-changes"]);
    assert.equal(code, EXIT.failed);
    assert.deepEqual(h.stack.calls, [{ op: "preview", opts: {} }], "the counts decide, not the CLI");
    assert.match(h.err(), /2 change\(s\) found and --expect-no-changes was given/);

    const h2 = harness({
      env: { GITHUB_STEP_SUMMARY: summary },
      stack: new FakeStack({ preview: () => ({ stdout: "no changes", changeSummary: { same: 12 } }) }),
    });
    assert.equal(await h2.run(["preview", "dev", "--expect-no-changes"]), EXIT.ok);
    const text = fs.readFileSync(summary, "utf8");
    assert.ok(text.startsWith("earlier step\n<!-- gitops-platform:preview:dev -->\n"), "appended");
    assert.match(text, /### ✅ `preview` of stack `dev`: no changes/);
  });

  it("up --expect-no-changes previews first and applies nothing when there are changes", async () => {
    const h = harness();
    assert.equal(await h.run(["up", "dev", "--expect-no-changes"]), EXIT.failed);
    assert.deepEqual(h.stack.ops(), ["preview"]);
    const quiet = harness({
      stack: new FakeStack({ preview: () => ({ stdout: "", changeSummary: { same: 12 } }) }),
    });
    assert.equal(await quiet.run(["up", "dev", "--expect-no-changes"]), EXIT.ok);
    assert.deepEqual(quiet.stack.calls, [
      { op: "preview", opts: {} },
      { op: "up", opts: { expectNoChanges: true } },
    ]);
  });

  it("refresh --expect-no-changes is a drift check that writes no state on drift", async () => {
    const drift = harness({
      stack: new FakeStack({
        previewRefresh: () => ({ stdout: "~ 1 to update", changeSummary: { update: 1, same: 11 } }),
      }),
    });
    assert.equal(await drift.run(["refresh", "dev", "--expect-no-changes"]), EXIT.failed);
    assert.deepEqual(drift.stack.ops(), ["previewRefresh"]);
    const clean = harness();
    assert.equal(await clean.run(["refresh", "dev", "--expect-no-changes"]), EXIT.ok);
    assert.deepEqual(clean.stack.ops(), ["previewRefresh", "refresh", "outputs"]);
  });

  it("a failed operation exits 1 with the CLI's error, not the whole dump", async () => {
    const h = harness({
      stack: new FakeStack({
        up: () => {
          throw new Error(
            "code: 255\n stdout: lots of progress\n stderr: error: update failed: kind create cluster: exit 1\n err?: \n",
          );
        },
      }),
    });
    assert.equal(await h.run(["up", "dev"]), EXIT.failed);
    assert.match(h.err(), /error: up dev failed:\nerror: update failed: kind create cluster: exit 1\n/);
    assert.doesNotMatch(h.err(), /lots of progress/);
  });

  it("retries while another update holds the lock, then succeeds", async () => {
    const stack = new FakeStack({
      up: (n) => {
        if (n < 3) throw lockError();
        return DEFAULTS.up();
      },
    });
    const h = harness({ stack });
    assert.equal(await h.run(["up", "dev"]), EXIT.ok, h.err());
    assert.equal(stack.ops().filter((op) => op === "up").length, 3);
    assert.deepEqual(h.sleeps, [3750, 7500]);
    assert.match(h.err(), /stack "dev" is locked by alice@laptop \(pid 777\)[^\n]*; retry 1 of 4 in 3\.8 s/);
    assert.equal(stack.cancels, 0);
  });

  it("gives up after 5 attempts naming the lock holder, and never cancels", async () => {
    const stack = new FakeStack({
      up: () => {
        throw lockError();
      },
    });
    const h = harness({ stack });
    assert.equal(await h.run(["up", "dev"]), EXIT.failed);
    assert.equal(stack.ops().length, 5);
    assert.equal(h.sleeps.length, 4);
    assert.match(
      h.err(),
      /still locked after 5 attempts[^\n]*held by: alice@laptop \(pid 777\) since 2026-11-22T09:00:00Z/,
    );
    assert.equal(stack.cancels, 0);
  });

  it("outputs: JSON with secrets masked, or shown with --show-secrets", async () => {
    const h = harness({ tools: { docker: null, kind: null } });
    assert.equal(await h.run(["outputs", "dev"]), EXIT.ok, h.err());
    assert.deepEqual(JSON.parse(h.out()), { appUrl: "http://localhost:30080", kubeconfig: "[secret]" });
    const shown = harness();
    assert.equal(await shown.run(["outputs", "dev", "--show-secrets"]), EXIT.ok);
    assert.deepEqual(JSON.parse(shown.out()).kubeconfig, "apiVersion: v1\nkind: Config");
  });

  describe("on a pull request", () => {
    const prEnv = () => {
      const event = path.join(tmpDir("event"), "event.json");
      fs.writeFileSync(
        event,
        JSON.stringify({ number: 12, pull_request: { number: 12, head: { sha: "feedface00" } } }),
      );
      return {
        GITHUB_ACTIONS: "true",
        GITHUB_EVENT_NAME: "pull_request",
        GITHUB_EVENT_PATH: event,
        GITHUB_REF: "refs/pull/12/merge",
        GITHUB_REPOSITORY: "acme/platform",
        GITHUB_TOKEN: "ghs_workflow",
        GITHUB_SERVER_URL: "https://github.com",
        GITHUB_RUN_ID: "99",
        GITHUB_SHA: "mergecommit",
      };
    };

    it("creates one comment per stack and edits it on the next run", async () => {
      const h2 = harness({ env: prEnv() });
      // Two runs of the same preview share one fake GitHub.
      const shared = h2.comments;
      assert.equal(await h2.run(["preview", "dev"]), EXIT.ok, h2.err());
      assert.equal(await h2.run(["preview", "dev"]), EXIT.ok);
      assert.deepEqual(h2.tokens, ["ghs_workflow", "ghs_workflow"]);
      assert.equal(shared.comments.length, 1);
      assert.deepEqual(shared.calls, [
        "list acme/platform#12",
        "create acme/platform#12",
        "list acme/platform#12",
        "update acme/platform 100",
      ]);
      const body = shared.comments[0]!.body!;
      assert.ok(body.startsWith("<!-- gitops-platform:preview:dev -->"));
      assert.match(body, /\| 2 \| 0 \| 0 \| 0 \| 10 \|/);
      assert.match(
        body,
        /commit `feedfac` · \[run\]\(https:\/\/github\.com\/acme\/platform\/actions\/runs\/99\)/,
      );
      assert.match(body, /Previewing update \(dev\)/);
      assert.match(
        h2.err(),
        /created the comment on pull request #12[\s\S]*updated the comment on pull request #12/,
      );
    });

    it("--no-comment skips it; a GitHub failure is a warning, not a failed preview", async () => {
      const quiet = harness({ env: prEnv() });
      assert.equal(await quiet.run(["preview", "dev", "--no-comment"]), EXIT.ok);
      assert.deepEqual(quiet.tokens, []);

      const broken = harness({ env: prEnv() });
      broken.comments.listComments = async () => {
        throw new Error("Resource not accessible by integration");
      };
      assert.equal(await broken.run(["preview", "dev"]), EXIT.ok);
      assert.match(broken.err(), /::warning::could not comment on pull request #12: Resource not accessible/);
    });

    it("no comment on a push", async () => {
      const h = harness({
        env: { GITHUB_EVENT_NAME: "push", GITHUB_REPOSITORY: "acme/platform", GITHUB_TOKEN: "t" },
      });
      assert.equal(await h.run(["up", "dev"]), EXIT.ok);
      assert.deepEqual(h.tokens, []);
    });
  });
});

describe("automation: rollback through the driver", () => {
  const PIN = "gitops-platform:appImagePin";
  const digest = (c: string) => `sha256:${c.repeat(64)}`;
  const image = (c: string, tag: string) => ({
    repository: "ecr/gitops-prod/demo-app",
    tag,
    digest: digest(c),
  });
  const deployed = [image("a", "a1b2c3d-1"), image("b", "b2c3d4e-2"), image("c", "c3d4e5f-3")];
  const stackOutputs = (running: string): OutputMap => ({
    appImageDigest: { value: running, secret: false },
    deployedImages: { value: deployed, secret: false },
  });
  const EKS_ENV = {
    PULUMI_BACKEND_URL: "s3://state?region=eu-west-1",
    PULUMI_CONFIG_PASSPHRASE: "x",
    AWS_PROFILE: "p",
  };
  const prod = (script: ConstructorParameters<typeof FakeStack>[0] = {}) => {
    const stack = new FakeStack({ outputs: () => stackOutputs(digest("c")), ...script });
    return { stack, h: harness({ env: EKS_ENV, stack, tools: { kind: null } }) };
  };

  it("pins the previous digest, runs the update, and says what changed", async () => {
    const { stack, h } = prod();
    assert.equal(await h.run(["rollback", "prod"]), EXIT.ok, h.err());
    assert.deepEqual(stack.ops(), ["getConfig", "outputs", "setConfig", "up"]);
    assert.deepEqual(stack.config.get(PIN), digest("b"));
    assert.match(h.out(), new RegExp(`rollback prod: ${PIN} unset -> ${digest("b")}`));
    assert.match(
      h.out(),
      new RegExp(`image ${digest("c")} -> ${digest("b")} \\(ecr/gitops-prod/demo-app:b2c3d4e-2\\)`),
    );
    assert.match(h.out(), /commit Pulumi\.prod\.yaml/);
    assert.match(h.err(), /rollback prod: done/);
  });

  it("--to pins a given digest the stack deployed", async () => {
    const { stack, h } = prod();
    assert.equal(await h.run(["rollback", "prod", "--to", digest("a")]), EXIT.ok, h.err());
    assert.equal(stack.config.get(PIN), digest("a"));
    assert.ok(stack.ops().includes("up"));
  });

  it("refuses a digest the stack never deployed, changing nothing", async () => {
    const { stack, h } = prod();
    assert.equal(await h.run(["rollback", "prod", "--to", digest("f")]), EXIT.failed);
    assert.match(h.err(), new RegExp(`refusing ${digest("f")}: stack "prod" never deployed it`));
    assert.match(h.err(), /nothing was changed/);
    assert.deepEqual(stack.ops(), ["getConfig", "outputs"]);
    assert.equal(stack.config.size, 0);
  });

  it("refuses when there is no earlier image", async () => {
    const stack = new FakeStack({
      outputs: () => ({
        appImageDigest: { value: digest("c"), secret: false },
        deployedImages: { value: [deployed[2]], secret: false },
      }),
    });
    const h = harness({ env: EKS_ENV, stack, tools: { kind: null } });
    assert.equal(await h.run(["rollback", "prod"]), EXIT.failed);
    assert.match(h.err(), /has no earlier image to go back to/);
    assert.ok(!stack.ops().includes("up"));
  });

  it("the next ordinary deploy keeps the pin; --clear removes it and deploys", async () => {
    const { stack, h } = prod();
    assert.equal(await h.run(["rollback", "prod"]), EXIT.ok, h.err());
    stack.calls = [];
    assert.equal(await h.run(["up", "prod"]), EXIT.ok, h.err());
    assert.deepEqual(stack.ops(), ["up"], "an ordinary up never touches the pin");
    assert.equal(stack.config.get(PIN), digest("b"));
    stack.calls = [];
    assert.equal(await h.run(["rollback", "prod", "--clear"]), EXIT.ok, h.err());
    assert.deepEqual(stack.ops(), ["getConfig", "outputs", "removeConfig", "up"]);
    assert.equal(stack.config.has(PIN), false);
    assert.match(h.out(), new RegExp(`${PIN} ${digest("b")} -> unset`));
  });

  it("--clear without a pin is refused", async () => {
    const { stack, h } = prod();
    assert.equal(await h.run(["rollback", "prod", "--clear"]), EXIT.failed);
    assert.match(h.err(), /has no gitops-platform:appImagePin; nothing to clear/);
    assert.ok(!stack.ops().includes("up"));
  });

  it("a failed update puts the pin back as it was", async () => {
    const { stack, h } = prod({
      up: () => {
        throw new Error("code: 255\n stdout: \n stderr: error: update failed\n err?: \n");
      },
    });
    stack.config.set(PIN, digest("a"));
    assert.equal(await h.run(["rollback", "prod"]), EXIT.failed);
    assert.equal(stack.config.get(PIN), digest("a"), "restored");
    assert.deepEqual(stack.ops().slice(-1), ["setConfig"]);
    assert.match(h.err(), /the pin is back as it was/);
  });

  it("bad rollback command lines exit 2 before anything runs", async () => {
    for (const argv of [
      ["rollback", "prod", "--to", "sha256:abc"],
      ["rollback", "prod", "--to"],
      ["rollback", "prod", "--to", digest("a"), "--clear"],
      ["up", "prod", "--to", digest("a")],
    ]) {
      const { stack, h } = prod();
      assert.equal(await h.run(argv), EXIT.usage, argv.join(" "));
      assert.equal(stack.calls.length, 0);
    }
  });
});

/**
 * One AWS account and its EKS clusters as the Automation API boundary sees them: `up` runs the real
 * program under mocks (the resources it would create). Before any Kubernetes resource is applied the
 * caller must be admitted the way EKS admits it (the cluster's creator, or an access entry with an
 * access policy from an earlier update), and like IAM the account holds one GitHub OIDC provider at
 * most. What an update creates is the account's state for that stack.
 */
class FakeEksAccount {
  readonly state = new Map<string, EvaluatedResource[]>();
  readonly creator = new Map<string, string>();
  constructor(private readonly program: (stack: string) => Promise<Evaluation>) {}

  admitted(stack: string, caller: string, policyArn: string = EKS_ACCESS_POLICIES.clusterAdmin): boolean {
    if (caller === this.creator.get(stack)) return true;
    const resources = this.state.get(stack) ?? [];
    const entry = resources.find(
      (r) => r.type === "aws:eks/accessEntry:AccessEntry" && r.inputs.principalArn === caller,
    );
    const association = resources.find(
      (r) =>
        r.type === "aws:eks/accessPolicyAssociation:AccessPolicyAssociation" &&
        r.inputs.principalArn === caller &&
        r.inputs.policyArn === policyArn,
    );
    return entry !== undefined && association !== undefined;
  }

  private async up(stackName: string, caller: string, onOutput?: (out: string) => void) {
    const evaluation = await this.program(stackName);
    if (evaluation.error) throw evaluation.error;
    const others = [...this.state].filter(([s]) => s !== stackName).flatMap(([, resources]) => resources);
    const providers = [...others, ...evaluation.resources].filter(
      (r) =>
        r.type === "aws:iam/openIdConnectProvider:OpenIdConnectProvider" &&
        r.inputs.url === "https://token.actions.githubusercontent.com",
    );
    if (providers.length > 1) {
      throw new Error(
        "code: 255\n stdout: \n stderr: error: creating IAM OIDC Provider: EntityAlreadyExists: Provider with url https://token.actions.githubusercontent.com already exists.\n err?: \n",
      );
    }
    const first = !this.state.has(stackName);
    if (first) this.creator.set(stackName, caller); // EKS makes the creator admin
    const kubernetes = evaluation.resources.find((r) => r.type.startsWith("kubernetes:"));
    if (kubernetes && !this.admitted(stackName, caller)) {
      throw new Error(
        `code: 255\n stdout: \n stderr: error: ${kubernetes.type} ${kubernetes.name}: the server has asked for the client to provide credentials (${caller} is not admitted to the cluster)\n err?: \n`,
      );
    }
    onOutput?.(`[engine] up ${stackName} as ${caller}\n`);
    this.state.set(stackName, evaluation.resources);
    const created = first ? evaluation.resources.length : 0;
    return {
      stdout: "",
      outputs: Object.fromEntries(
        Object.entries(evaluation.outputs).map(([k, value]) => [
          k,
          { value, secret: evaluation.secretOutputs.includes(k) },
        ]),
      ),
      summary: { resourceChanges: { create: created, same: evaluation.resources.length - created } },
    };
  }

  /** The Automation API as `caller` (what STS says the credentials are) sees it. */
  api(caller: string): StackApi {
    const unused = () => Promise.reject(new Error("not used by the hand-over"));
    return {
      createOrSelectStack: async ({ stackName }) => ({
        up: (opts) => this.up(stackName, caller, opts?.onOutput),
        outputs: unused,
        preview: unused,
        refresh: unused,
        previewRefresh: unused,
        destroy: unused,
        getConfig: unused,
        setConfig: unused,
        removeConfig: unused,
      }),
    };
  }
}

interface BootstrapStep {
  where: "local" | "ci";
  argv: string[];
}

/** The `sh local` / `sh ci` blocks of docs/bootstrap.md: config lines become overrides, `npm run` lines steps. */
function bootstrapSequence(markdown: string) {
  const declared = readProject().config ?? {};
  const overrides = new Map<string, Record<string, unknown>>();
  const steps: BootstrapStep[] = [];
  for (const block of markdown.matchAll(/^```sh (local|ci)\n([\s\S]*?)^```/gm)) {
    for (const line of block[2]!.split("\n").map((l) => l.trim())) {
      const words = [...line.matchAll(/'[^']*'|"[^"]*"|\S+/g)].map((m) =>
        m[0].replace(/^(['"])(.*)\1$/, "$2"),
      );
      if (words[0] === "pulumi" && words[1] === "config" && words[2] === "set") {
        const flags = words.slice(3);
        const stack = flags[flags.indexOf("--stack") + 1]!;
        const secret = flags.includes("--secret");
        const [path, value] = flags.filter((w, i) => !w.startsWith("--") && flags[i - 1] !== "--stack");
        // `--path 'key[0]' value` sets one element of an array key.
        const [, key, index] = /^([\w]+)(?:\[(\d+)\])?$/.exec(path!) ?? [];
        const decl = declared[key!];
        assert.ok(decl, `docs/bootstrap.md sets ${path}, which Pulumi.yaml does not declare`);
        assert.equal(
          secret,
          decl.secret === true,
          `${key}: --secret exactly when Pulumi.yaml declares it secret`,
        );
        assert.equal(
          index !== undefined,
          decl.type === "array",
          `${key}: an array is set element by element (--path)`,
        );
        if (index !== undefined) assert.ok(flags.includes("--path"), `${path} needs --path`);
        const full = `gitops-platform:${key}`;
        const current = overrides.get(stack) ?? {};
        const parsed = secret
          ? { secure: "v1:set-in-bootstrap" }
          : index !== undefined
            ? Object.assign([...((current[full] as unknown[]) ?? [])], { [Number(index)]: value })
            : value;
        overrides.set(stack, { ...current, [full]: parsed });
      } else if (words[0] === "npm" && words[1] === "run") {
        steps.push({ where: block[1] as "local" | "ci", argv: [words[2]!, ...words.slice(4)] });
      }
    }
  }
  return { overrides, steps };
}

describe("automation: the bootstrap hand-over, a local `up` then a CI `up`", () => {
  const ADMIN = "arn:aws:iam::123456789012:user/alice";
  const backend = {
    PULUMI_BACKEND_URL: "s3://acme-pulumi-state?region=eu-west-1",
    PULUMI_CONFIG_PASSPHRASE: "pp",
  };
  const local = { ...backend, AWS_PROFILE: "admin" };
  const ci = {
    ...backend,
    GITHUB_ACTIONS: "true",
    GITHUB_EVENT_NAME: "push",
    GITHUB_REPOSITORY: "gitops-platform/gitops-platform",
    AWS_ACCESS_KEY_ID: "ASIAEXAMPLE",
    GITOPS_GITHUB_TOKEN: "ghp_admin",
  };
  const runAs = (account: FakeEksAccount, caller: string, env: Record<string, string>, argv: string[]) => {
    const h = harness({ env, api: account.api(caller), tools: { kind: null } });
    return h.run(argv).then((code) => ({ code, h }));
  };
  const ciRoleOf = async (program: (stack: string) => Promise<Evaluation>, stack: string) =>
    String((await program(stack)).outputs.githubActionsRoleArn);

  it("the bootstrap sequence of docs/bootstrap.md: staging and prod in one account, then CI deploys both", async () => {
    const { overrides, steps } = bootstrapSequence(
      fs.readFileSync(path.join(PROJECT_DIR, "docs", "bootstrap.md"), "utf8"),
    );
    assert.deepEqual(
      steps.map((s) => `${s.where}: ${s.argv.join(" ")}`),
      ["local: up staging", "local: up prod", "ci: up staging", "ci: up prod"],
    );
    const cache = new Map<string, Promise<Evaluation>>();
    const program = (stack: string) => {
      if (!cache.has(stack)) cache.set(stack, evaluateStack(stack, { overrides: overrides.get(stack) }));
      return cache.get(stack)!;
    };
    const account = new FakeEksAccount(program);
    for (const step of steps) {
      const stack = step.argv[1]!;
      const caller = step.where === "local" ? ADMIN : await ciRoleOf(program, stack);
      const { code, h } = await runAs(account, caller, step.where === "local" ? local : ci, step.argv);
      assert.equal(code, EXIT.ok, `${step.where}: ${step.argv.join(" ")}\n${h.err()}`);
      if (step.where === "ci") {
        assert.match(caller, new RegExp(`gitops-${stack}-github-actions-role$`));
        assert.match(h.out(), new RegExp(`\\[engine\\] up ${stack} as ${caller}`));
      }
    }
    // The prod deploy role may read and write the state the docs point at.
    const prodDeploy = (await program("prod")).resources.find((r) =>
      r.name.endsWith("-github-actions-deploy"),
    )!;
    assert.match(String(prodDeploy.inputs.policy), /arn:aws:s3:::acme-pulumi-state\/\*/);
  });

  for (const stack of ["staging", "prod"] as const) {
    it(`${stack} (as committed, own account): the admin's up admits the deploy role, so CI's up runs`, async () => {
      const account = new FakeEksAccount(evaluated);
      assert.equal((await runAs(account, ADMIN, local, ["up", stack])).code, EXIT.ok);
      const role = await ciRoleOf(evaluated, stack);
      assert.ok(account.admitted(stack, role), "an access entry with the cluster admin policy");
      const { code, h } = await runAs(account, role, ci, ["up", stack]);
      assert.equal(code, EXIT.ok, h.err());
      assert.match(h.err(), new RegExp(`up ${stack}: done, 0 change\\(s\\)`));
    });
  }

  it("without the access entries (the old program) the CI up fails at the first Kubernetes resource", async () => {
    const withoutEntries = async (stack: string) => {
      const e = await evaluated(stack);
      return { ...e, resources: e.resources.filter((r) => !r.type.startsWith("aws:eks/access")) };
    };
    const account = new FakeEksAccount(withoutEntries);
    assert.equal(
      (await runAs(account, ADMIN, local, ["up", "staging"])).code,
      EXIT.ok,
      "the creator is admitted",
    );
    const { code, h } = await runAs(account, await ciRoleOf(evaluated, "staging"), ci, ["up", "staging"]);
    assert.equal(code, EXIT.failed);
    assert.match(h.err(), /is not admitted to the cluster/);
  });

  it("two stacks that both create the OIDC provider fail in one account (what githubOidcProvider: existing fixes)", async () => {
    const account = new FakeEksAccount(evaluated);
    assert.equal((await runAs(account, ADMIN, local, ["up", "staging"])).code, EXIT.ok);
    const { code, h } = await runAs(account, ADMIN, local, ["up", "prod"]);
    assert.equal(code, EXIT.failed);
    assert.match(h.err(), /EntityAlreadyExists/);
  });

  it("the preview role is admitted read-only (view), not as admin", async () => {
    const account = new FakeEksAccount(evaluated);
    assert.equal((await runAs(account, ADMIN, local, ["up", "staging"])).code, EXIT.ok);
    const preview = String((await evaluated("staging")).outputs.githubPreviewRoleArn);
    assert.ok(account.admitted("staging", preview, EKS_ACCESS_POLICIES.view));
    assert.ok(!account.admitted("staging", preview), "no cluster admin for pull requests");
  });
});

describe("automation: the real CLI without a Pulumi CLI", () => {
  it("`npm run up -- dev --no-install` fails fast, says how to install it, and installs nothing", function () {
    const bin = tmpDir("nodeonly");
    fs.symlinkSync(process.execPath, path.join(bin, "node"));
    const home = tmpDir("home");
    const scripts = (
      JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "package.json"), "utf8")) as {
        scripts?: Record<string, string>;
      }
    ).scripts;
    const npm = findOnPath("npm", process.env);
    let argv: string[];
    if (scripts?.up && npm) {
      // npm runs scripts through sh; neither brings a pulumi along.
      fs.symlinkSync(fs.realpathSync(npm), path.join(bin, "npm"));
      fs.symlinkSync("/bin/sh", path.join(bin, "sh"));
      argv = [path.join(bin, "npm"), "run", "--silent", "up", "--", "dev", "--no-install"];
    } else {
      // package.json has no "up" script yet: run what it expands to.
      argv = [
        process.execPath,
        path.join(PROJECT_DIR, "node_modules", "tsx", "dist", "cli.mjs"),
        "automation/cli.ts",
        "up",
        "dev",
        "--no-install",
      ];
    }
    assert.equal(findOnPath("pulumi", { PATH: bin }), undefined);
    const started = Date.now();
    const run = spawnSync(argv[0]!, argv.slice(1), {
      cwd: PROJECT_DIR,
      env: { PATH: bin, HOME: home },
      encoding: "utf8",
      timeout: 15_000,
    });
    const elapsed = Date.now() - started;
    assert.equal(run.error, undefined);
    assert.notEqual(run.status, 0, "non-zero exit");
    assert.match(run.stderr, /the Pulumi CLI \(pulumi\) is not on PATH/);
    assert.match(run.stderr, /https:\/\/www\.pulumi\.com\/docs\/install\//);
    assert.match(run.stderr, /FAIL kind: kind is not on PATH[^\n]*\n\s+fix: install kind/);
    assert.match(run.stderr, /without --no-install, the driver fetches the pinned Pulumi CLI/);
    assert.doesNotMatch(run.stderr, /installing/);
    assert.equal(run.status, EXIT.prerequisites);
    this.test!.title += ` (${elapsed} ms, exit ${run.status})`;
  });
});

describe("automation: the real runner (LocalWorkspace) against a recording pulumi executable", () => {
  it("creates the missing stack in the project directory with the backend and passphrase it was given", function () {
    const dir = tmpDir("runner");
    const log = path.join(dir, "calls.log");
    const project = path.join(dir, "project");
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, "Pulumi.yaml"), "name: gitops-platform\nruntime: nodejs\n");
    const bin = fakeBin({
      pulumi: [
        `echo "$* | backend=$PULUMI_BACKEND_URL passphrase=$PULUMI_CONFIG_PASSPHRASE cwd=$(pwd)" >> ${log}`,
        'case "$*" in',
        '  version*) echo "v3.201.0" ;;',
        '  "stack select"*) echo "error: no stack named \'dev\' found" >&2; exit 255 ;;',
        '  *"stack output"*"--show-secrets"*) echo \'{"appUrl":"http://localhost:30080","kubeconfig":"apiVersion: v1"}\' ;;',
        '  *"stack output"*) echo \'{"appUrl":"http://localhost:30080","kubeconfig":"[secret]"}\' ;;',
        "esac",
      ].join("\n"),
    });
    const script = `
      const { localWorkspaceApi } = require(${JSON.stringify(path.join(PROJECT_DIR, "automation", "runner"))});
      localWorkspaceApi
        .createOrSelectStack({ stackName: "dev", workDir: ${JSON.stringify(project)},
          envVars: { PULUMI_BACKEND_URL: "file:///state", PULUMI_CONFIG_PASSPHRASE: "pp" } })
        .then((stack) => stack.outputs())
        .then((o) => console.log(JSON.stringify(o)), (e) => { console.error(e); process.exit(1); });`;
    const run = spawnSync(
      process.execPath,
      [path.join(PROJECT_DIR, "node_modules", "tsx", "dist", "cli.mjs"), "-e", script],
      {
        cwd: PROJECT_DIR,
        env: { PATH: `${bin}${path.delimiter}${path.dirname(process.execPath)}`, HOME: dir },
        encoding: "utf8",
        timeout: 15_000,
      },
    );
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), {
      appUrl: { value: "http://localhost:30080", secret: false },
      kubeconfig: { value: "apiVersion: v1", secret: true },
    });
    const calls = fs.readFileSync(log, "utf8").trim().split("\n");
    const env = `backend=file:///state passphrase=pp cwd=${project}`;
    assert.equal(calls[0]!.split(" | ")[0], "version");
    assert.deepEqual(calls.slice(1, 3), [
      `stack select --stack dev --non-interactive | ${env}`,
      `stack init dev --non-interactive | ${env}`,
    ]);
    assert.ok(calls.slice(3).every((c) => c.startsWith("stack output --json") && c.endsWith(env)));
  });
});

describe("automation: the real Octokit wiring against a local GitHub-shaped HTTP server", () => {
  it("pages through the comments, edits the marked one, or creates one", async () => {
    const { octokitCommentsApi } = await import("../automation/runner");
    const requests: string[] = [];
    const comments = [
      ...Array.from({ length: 100 }, (_, i) => ({ id: i + 1, body: `chatter ${i}` })),
      { id: 501, body: `${commentMarker("preview", "prod")}\nold` },
    ];
    const server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString()));
      req.on("end", () => {
        requests.push(`${req.method} ${req.url} ${req.headers.authorization ?? ""}`);
        const url = new URL(req.url ?? "/", "http://localhost");
        res.setHeader("content-type", "application/json");
        if (req.method === "GET" && url.pathname === "/repos/acme/platform/issues/7/comments") {
          const page = Number(url.searchParams.get("page") ?? "1");
          const per = Number(url.searchParams.get("per_page"));
          if (page === 1) {
            const { port } = server.address() as AddressInfo;
            res.setHeader(
              "link",
              `<http://127.0.0.1:${port}${url.pathname}?per_page=${per}&page=2>; rel="next"`,
            );
          }
          res.end(JSON.stringify(comments.slice((page - 1) * per, page * per)));
        } else if (req.method === "PATCH" && url.pathname === "/repos/acme/platform/issues/comments/501") {
          comments[100]!.body = (JSON.parse(body) as { body: string }).body;
          res.end(JSON.stringify(comments[100]));
        } else if (req.method === "POST" && url.pathname === "/repos/acme/platform/issues/7/comments") {
          const created = { id: 900, body: (JSON.parse(body) as { body: string }).body };
          comments.push(created);
          res.statusCode = 201;
          res.end(JSON.stringify(created));
        } else {
          res.statusCode = 404;
          res.end(JSON.stringify({ message: "Not Found" }));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const api = await octokitCommentsApi("ghs_test", `http://127.0.0.1:${port}`);
      const pr = { owner: "acme", repo: "platform", number: 7 };
      const prod = commentMarker("preview", "prod");
      assert.deepEqual(await upsertComment(api, pr, prod, `${prod}\nnew`), { action: "updated", id: 501 });
      assert.equal(comments[100]!.body, `${prod}\nnew`);
      const staging = commentMarker("preview", "staging");
      assert.deepEqual(await upsertComment(api, pr, staging, `${staging}\nfirst`), {
        action: "created",
        id: 900,
      });
      assert.deepEqual(
        requests.map((r) => r.replace(/ (token|bearer) ghs_test$/i, " <auth>")),
        [
          "GET /repos/acme/platform/issues/7/comments?per_page=100 <auth>",
          "GET /repos/acme/platform/issues/7/comments?per_page=100&page=2 <auth>",
          "PATCH /repos/acme/platform/issues/comments/501 <auth>",
          "GET /repos/acme/platform/issues/7/comments?per_page=100 <auth>",
          "GET /repos/acme/platform/issues/7/comments?per_page=100&page=2 <auth>",
          "POST /repos/acme/platform/issues/7/comments <auth>",
        ],
      );
    } finally {
      server.close();
    }
  });
});

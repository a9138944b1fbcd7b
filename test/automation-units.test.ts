import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs, UsageError, type DriverArgs } from "../automation/args";
import { DEV_PASSPHRASE, resolveBackend, resolveWorkspaceSettings } from "../automation/backend";
import { resolvePullRequest } from "../automation/github";
import {
  backoffDelay,
  DEFAULT_LOCK_RETRY,
  isConcurrentUpdateError,
  parseLockHolders,
  StackLockedError,
  withLockRetry,
} from "../automation/retry";
import { readStackFile, type StackFile } from "../automation/stack-files";
import { commentMarker, maskOutputs, renderSummary, SECRET_MASK } from "../automation/summary";

const STACKS = ["dev", "prod", "staging"];

/** The real Automation API classifier turns CLI stderr into its typed errors. */
async function realCommandError(stderr: string): Promise<Error> {
  const errors = (await import("@pulumi/pulumi/automation/errors")) as unknown as {
    createCommandError: (r: { stdout: string; stderr: string; code: number; toString(): string }) => Error;
  };
  return errors.createCommandError({
    stdout: "",
    stderr,
    code: 255,
    toString: () => `code: 255\n stdout: \n stderr: ${stderr}\n err?: \n`,
  });
}

const DIY_LOCK =
  "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n" +
  "  s3://state-bucket/.pulumi/locks/organization/gitops-platform/staging/4c1e9a.json: created by runner@fv-az123 (pid 4242) at 2026-11-22T10:00:00Z";

function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `gitops-${prefix}-`));
}

function expectUsage(argv: string[], ...patterns: RegExp[]): void {
  assert.throws(
    () => parseArgs(argv, STACKS),
    (err: unknown) => {
      assert.ok(err instanceof UsageError, `expected a UsageError, got ${String(err)}`);
      for (const p of patterns) assert.match(err.message, p);
      assert.match(err.message, /usage: /);
      return true;
    },
  );
}

describe("automation: argument parsing", () => {
  const run = (argv: string[]): DriverArgs => {
    const parsed = parseArgs(argv, STACKS);
    assert.equal(parsed.kind, "run");
    return (parsed as { args: DriverArgs }).args;
  };

  it("parses a command, a stack and the flags", () => {
    assert.deepEqual(run(["up", "dev"]), {
      command: "up",
      stack: "dev",
      expectNoChanges: false,
      diff: false,
      refresh: false,
      showSecrets: false,
      comment: true,
      noInstall: false,
    });
    assert.equal(run(["up", "dev", "--no-install"]).noInstall, true);
    assert.equal(run(["outputs", "dev", "--no-install"]).noInstall, true);
    const args = run([
      "preview",
      "staging",
      "--expect-no-changes",
      "--diff",
      "--parallel",
      "4",
      "--no-comment",
    ]);
    assert.equal(args.expectNoChanges, true);
    assert.equal(args.diff, true);
    assert.equal(args.parallel, 4);
    assert.equal(args.comment, false);
    assert.equal(
      run(["refresh", "--parallel=8", "prod"]).parallel,
      8,
      "flags may come first, --flag=value works",
    );
    assert.equal(run(["outputs", "prod", "--show-secrets"]).showSecrets, true);
    assert.equal(run(["up", "dev", "--yes"]).command, "up", "--yes is accepted (and ignored)");
  });

  it("--help and -h print the usage with commands, stacks and flags", () => {
    for (const flag of ["--help", "-h"]) {
      const parsed = parseArgs(["up", flag], STACKS);
      assert.equal(parsed.kind, "help");
      const text = (parsed as { text: string }).text;
      for (const word of [
        "preview",
        "up",
        "refresh",
        "destroy",
        "outputs",
        "dev, prod, staging",
        "--parallel N",
      ]) {
        assert.ok(text.includes(word), `help mentions ${word}`);
      }
    }
  });

  it("names the bad argument and what is allowed", () => {
    expectUsage([], /missing command; allowed: preview, up, refresh, destroy, outputs/);
    expectUsage(
      ["deploy", "dev"],
      /unknown command "deploy"; allowed: preview, up, refresh, destroy, outputs/,
    );
    expectUsage(["up"], /missing stack after "up"; allowed: dev, prod, staging/);
    expectUsage(
      ["up", "qa"],
      /unknown stack "qa"; allowed: dev, prod, staging \(or add a Pulumi\.qa\.yaml\)/,
    );
    expectUsage(["up", "dev", "prod"], /unexpected argument "prod"/);
    expectUsage(["up", "dev", "--force"], /unknown flag "--force"; allowed: --expect-no-changes, --diff/);
    expectUsage(["up", "dev", "--parallel"], /--parallel needs a value/);
    expectUsage(
      ["up", "dev", "--parallel", "0"],
      /--parallel "0" is not allowed: expected a whole number >= 1/,
    );
    expectUsage(["up", "dev", "--parallel=two"], /--parallel "two" is not allowed/);
    expectUsage(["up", "dev", "--parallel", "-3"], /--parallel "-3" is not allowed/);
    expectUsage(["up", "dev", "--diff=yes"], /flag "--diff" takes no value/);
    expectUsage(["up", "dev", "--diff", "--diff"], /flag "--diff" given twice/);
    expectUsage(
      ["destroy", "dev", "--expect-no-changes"],
      /"--expect-no-changes" does not apply to "destroy"; it applies to: preview, up, refresh/,
    );
    expectUsage(
      ["up", "dev", "--show-secrets"],
      /"--show-secrets" does not apply to "up"; it applies to: outputs/,
    );
  });
});

describe("automation: stack files", () => {
  it("reads clusterProvider (absent means kind) and rejects other values", () => {
    const dir = tmpDir("stackfile");
    fs.writeFileSync(path.join(dir, "Pulumi.a.yaml"), "config:\n  gitops-platform:clusterProvider: eks\n");
    fs.writeFileSync(path.join(dir, "Pulumi.b.yaml"), "config:\n  gitops-platform:clusterName: b\n");
    fs.writeFileSync(path.join(dir, "Pulumi.c.yaml"), "secretsprovider: awskms://alias/x\nconfig: {}\n");
    fs.writeFileSync(path.join(dir, "Pulumi.d.yaml"), "config:\n  gitops-platform:clusterProvider: gke\n");
    assert.equal(readStackFile("a", dir).clusterProvider, "eks");
    assert.equal(readStackFile("b", dir).clusterProvider, "kind");
    assert.equal(readStackFile("c", dir).secretsProvider, "awskms://alias/x");
    assert.deepEqual(readStackFile("missing", dir), { exists: false, clusterProvider: "kind" });
    assert.throws(() => readStackFile("d", dir), /clusterProvider is "gke"; allowed: kind, eks/);
  });

  it("the project's own stacks: dev on kind, staging and prod on EKS", () => {
    assert.equal(readStackFile("dev").clusterProvider, "kind");
    assert.equal(readStackFile("staging").clusterProvider, "eks");
    assert.equal(readStackFile("prod").clusterProvider, "eks");
  });
});

describe("automation: backend and passphrase", () => {
  const project = "/work/project";
  const kind: StackFile = { exists: true, clusterProvider: "kind" };
  const eks: StackFile = { exists: true, clusterProvider: "eks" };
  let home: string;
  beforeEach(() => (home = tmpDir("home")));

  const login = (current: string, dir = path.join(home, ".pulumi")) => {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(
      path.join(dir, "credentials.json"),
      JSON.stringify({ current, accessTokens: { [current]: "pul-not-read" } }),
    );
  };

  it("defaults to a file backend inside the project", () => {
    const b = resolveBackend({}, project, home);
    assert.deepEqual(b, {
      url: "file:///work/project/.pulumi-state",
      source: "project default",
      selfManaged: true,
      localStateDir: "/work/project/.pulumi-state",
    });
  });

  it("PULUMI_BACKEND_URL wins over pulumi login, which wins over PULUMI_ACCESS_TOKEN", () => {
    login("https://api.pulumi.com");
    const env = { PULUMI_BACKEND_URL: "s3://bucket?region=eu-west-1", PULUMI_ACCESS_TOKEN: "pul-x" };
    assert.deepEqual(resolveBackend(env, project, home), {
      url: "s3://bucket?region=eu-west-1",
      source: "PULUMI_BACKEND_URL",
      selfManaged: true,
    });
    assert.deepEqual(resolveBackend({ PULUMI_ACCESS_TOKEN: "pul-x" }, project, home), {
      url: "https://api.pulumi.com",
      source: "pulumi login",
      selfManaged: false,
    });
    fs.rmSync(path.join(home, ".pulumi"), { recursive: true });
    assert.equal(
      resolveBackend({ PULUMI_ACCESS_TOKEN: "pul-x" }, project, home).source,
      "PULUMI_ACCESS_TOKEN",
    );
    assert.equal(resolveBackend({ PULUMI_BACKEND_URL: "" }, project, home).source, "project default");
  });

  it("finds the login under PULUMI_HOME", () => {
    const pulumiHome = tmpDir("pulumihome");
    login("gs://team-state", pulumiHome);
    assert.deepEqual(resolveBackend({ PULUMI_HOME: pulumiHome }, project, home), {
      url: "gs://team-state",
      source: "pulumi login",
      selfManaged: true,
    });
  });

  it("dev gets the documented default passphrase and the local backend URL", () => {
    const s = resolveWorkspaceSettings({
      stack: "dev",
      stackFile: kind,
      env: {},
      projectDir: project,
      homeDir: home,
    });
    assert.deepEqual(s.problems, []);
    assert.equal(s.passphraseSource, "dev default");
    assert.equal(s.envVars.PULUMI_CONFIG_PASSPHRASE, DEV_PASSPHRASE);
    assert.equal(s.envVars.PULUMI_BACKEND_URL, "file:///work/project/.pulumi-state");
  });

  it("other stacks on a passphrase backend need PULUMI_CONFIG_PASSPHRASE(_FILE)", () => {
    const base = { stack: "staging", stackFile: eks, projectDir: project, homeDir: home };
    const missing = resolveWorkspaceSettings({ ...base, env: { PULUMI_BACKEND_URL: "s3://b" } });
    assert.equal(missing.problems.length, 1);
    assert.match(missing.problems[0]!.what, /stack "staging" encrypts its secrets with a passphrase/);
    assert.match(missing.problems[0]!.fix, /PULUMI_CONFIG_PASSPHRASE=.*PULUMI_CONFIG_PASSPHRASE_FILE/);
    assert.equal(missing.envVars.PULUMI_CONFIG_PASSPHRASE, undefined, "no default outside dev");
    const empty = resolveWorkspaceSettings({ ...base, env: { PULUMI_CONFIG_PASSPHRASE: "" } });
    assert.equal(empty.problems.length, 1, "an empty secret (unset in CI) counts as missing");

    const set = resolveWorkspaceSettings({ ...base, env: { PULUMI_CONFIG_PASSPHRASE: "s3cret" } });
    assert.deepEqual(set.problems, []);
    assert.equal(set.passphraseSource, "PULUMI_CONFIG_PASSPHRASE");
    assert.equal(set.envVars.PULUMI_CONFIG_PASSPHRASE, undefined, "inherited, never copied");

    const file = path.join(home, "pass");
    fs.writeFileSync(file, "s3cret\n");
    const fromFile = resolveWorkspaceSettings({ ...base, env: { PULUMI_CONFIG_PASSPHRASE_FILE: file } });
    assert.deepEqual(fromFile.problems, []);
    assert.equal(fromFile.passphraseSource, "PULUMI_CONFIG_PASSPHRASE_FILE");
    const badFile = resolveWorkspaceSettings({
      ...base,
      env: { PULUMI_CONFIG_PASSPHRASE_FILE: `${file}.nope` },
    });
    assert.match(
      badFile.problems[0]!.what,
      /PULUMI_CONFIG_PASSPHRASE_FILE points to .*pass\.nope, which does not exist/,
    );
  });

  it("no passphrase on Pulumi Cloud or with a KMS secrets provider", () => {
    login("https://api.pulumi.com");
    const cloud = resolveWorkspaceSettings({
      stack: "prod",
      stackFile: eks,
      env: {},
      projectDir: project,
      homeDir: home,
    });
    assert.deepEqual(cloud.problems, []);
    assert.equal(cloud.passphraseSource, undefined);
    const kms = resolveWorkspaceSettings({
      stack: "prod",
      stackFile: { ...eks, secretsProvider: "awskms://alias/state" },
      env: { PULUMI_BACKEND_URL: "s3://b" },
      projectDir: project,
      homeDir: home,
    });
    assert.deepEqual(kms.problems, []);
  });

  it("refuses the empty project-local backend for non-dev stacks in GitHub Actions", () => {
    const s = resolveWorkspaceSettings({
      stack: "prod",
      stackFile: eks,
      env: { GITHUB_ACTIONS: "true", PULUMI_CONFIG_PASSPHRASE: "x" },
      projectDir: project,
      homeDir: home,
    });
    assert.equal(s.problems.length, 1);
    assert.match(s.problems[0]!.fix, /repository variable PULUMI_BACKEND_URL .* PULUMI_ACCESS_TOKEN/);
  });

  it("hands GITOPS_GITHUB_TOKEN to Pulumi as GITHUB_TOKEN", () => {
    const s = resolveWorkspaceSettings({
      stack: "dev",
      stackFile: kind,
      env: { GITOPS_GITHUB_TOKEN: "ghp_admin", GITHUB_TOKEN: "ghs_workflow" },
      projectDir: project,
      homeDir: home,
    });
    assert.equal(s.envVars.GITHUB_TOKEN, "ghp_admin");
  });
});

describe("automation: lock retry", () => {
  it("recognises the Automation API's ConcurrentUpdateError and the lock message", async () => {
    const typed = await realCommandError(DIY_LOCK);
    assert.equal(typed.name, "ConcurrentUpdateError");
    assert.ok(isConcurrentUpdateError(typed));
    const cloud = await realCommandError("error: [409] Conflict: Another update is currently in progress.");
    assert.ok(isConcurrentUpdateError(cloud));
    assert.ok(
      isConcurrentUpdateError(new Error("update failed: the stack is currently locked by 1 lock(s)")),
    );
    assert.ok(!isConcurrentUpdateError(await realCommandError("error: resource foo failed")));
    assert.ok(!isConcurrentUpdateError("the stack is currently locked"));
  });

  it("parses the lock holder", () => {
    assert.deepEqual(parseLockHolders(DIY_LOCK), [
      "runner@fv-az123 (pid 4242) since 2026-11-22T10:00:00Z, lock file s3://state-bucket/.pulumi/locks/organization/gitops-platform/staging/4c1e9a.json",
    ]);
    assert.match(
      parseLockHolders("[409] Conflict: Another update is currently in progress.")[0]!,
      /Pulumi Cloud/,
    );
  });

  it("backs off exponentially with jitter, capped", () => {
    const p = DEFAULT_LOCK_RETRY;
    assert.deepEqual(p, { attempts: 5, baseDelayMs: 5000, maxDelayMs: 60000 });
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, p, () => 0)),
      [2500, 5000, 10000, 20000, 30000, 30000],
    );
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, p, () => 1)),
      [5000, 10000, 20000, 40000, 60000, 60000],
    );
  });

  it("retries a concurrent update, then succeeds", async () => {
    const lock = await realCommandError(DIY_LOCK);
    const sleeps: number[] = [];
    let calls = 0;
    const result = await withLockRetry(
      "staging",
      async () => {
        if (++calls < 3) throw lock;
        return "done";
      },
      DEFAULT_LOCK_RETRY,
      { sleep: async (ms) => void sleeps.push(ms), random: () => 0.5 },
    );
    assert.equal(result, "done");
    assert.equal(calls, 3);
    assert.deepEqual(sleeps, [3750, 7500]);
  });

  it("gives up after the last attempt and names the holder", async () => {
    const lock = await realCommandError(DIY_LOCK);
    const sleeps: number[] = [];
    let calls = 0;
    await assert.rejects(
      withLockRetry(
        "staging",
        async () => {
          calls++;
          throw lock;
        },
        DEFAULT_LOCK_RETRY,
        { sleep: async (ms) => void sleeps.push(ms), random: () => 1 },
      ),
      (err: unknown) => {
        assert.ok(err instanceof StackLockedError);
        assert.equal(err.attempts, 5);
        assert.match(err.message, /stack "staging" is still locked after 5 attempts over 75 s/);
        assert.match(err.message, /held by: runner@fv-az123 \(pid 4242\) since 2026-11-22T10:00:00Z/);
        assert.match(err.message, /never cancels/);
        return true;
      },
    );
    assert.equal(calls, 5);
    assert.deepEqual(sleeps, [5000, 10000, 20000, 40000]);
  });

  it("passes other errors straight through, without retrying", async () => {
    let calls = 0;
    await assert.rejects(
      withLockRetry(
        "dev",
        async () => {
          calls++;
          throw new Error("boom");
        },
        DEFAULT_LOCK_RETRY,
        { sleep: async () => assert.fail("must not sleep"), random: Math.random },
      ),
      /boom/,
    );
    assert.equal(calls, 1);
  });
});

describe("automation: summary Markdown", () => {
  it("renders counts, duration, masked outputs and the marker", () => {
    const md = renderSummary({
      command: "up",
      stack: "staging",
      ok: true,
      durationMs: 125_000,
      changes: { create: 3, update: 1, same: 40, replace: 1, "create-replacement": 1, "delete-replaced": 1 },
      outputs: {
        kubeconfig: { value: "apiVersion: v1\nclusters: [...]", secret: true },
        argocdUrl: { value: "http://localhost:30081", secret: false },
        nodeGroup: { value: { min: 2, max: 4 }, secret: false },
        grafanaAdminPassword: { value: "hunter2", secret: true },
      },
      sha: "0123456789abcdef",
      runUrl: "https://github.com/o/r/actions/runs/9",
    });
    assert.ok(md.startsWith(`${commentMarker("up", "staging")}\n`));
    assert.match(md, /### ✅ `up` of stack `staging`: 5 changes/);
    assert.match(
      md,
      /\| create \| update \| delete \| replace \| same \|\n\| ---: \| ---: \| ---: \| ---: \| ---: \|\n\| 3 \| 1 \| 0 \| 1 \| 40 \|/,
    );
    assert.match(
      md,
      /duration 2m 5s · commit `0123456` · \[run\]\(https:\/\/github.com\/o\/r\/actions\/runs\/9\)/,
    );
    assert.match(md, /\| `argocdUrl` \| `http:\/\/localhost:30081` \|/);
    assert.match(md, /\| `kubeconfig` \| `\[secret\]` \|/);
    assert.match(md, /\| `nodeGroup` \| `\{"min":2,"max":4\}` \|/);
    assert.ok(!md.includes("hunter2") && !md.includes("clusters:"), "no secret value leaks");
  });

  it("maskOutputs masks exactly the secret outputs", () => {
    assert.deepEqual(maskOutputs({ a: { value: "x", secret: true }, b: { value: 1, secret: false } }), {
      a: SECRET_MASK,
      b: "1",
    });
  });

  it("a preview with no changes, one with unexpected changes, and a failure", () => {
    const none = renderSummary({
      command: "preview",
      stack: "prod",
      ok: true,
      durationMs: 4000,
      changes: { same: 12 },
    });
    assert.match(none, /### ✅ `preview` of stack `prod`: no changes/);
    const drift = renderSummary({
      command: "preview",
      stack: "prod",
      ok: false,
      durationMs: 4000,
      changes: { same: 11, update: 1 },
      unexpectedChanges: true,
      engineOutput: "\u001b[32m~ aws:eks:NodeGroup\u001b[0m update [diff: ~scalingConfig]\n```evil```",
    });
    assert.match(drift, /### ❌ `preview` of stack `prod`: 1 change found \(--expect-no-changes\)/);
    assert.match(drift, /<details><summary>Engine output<\/summary>\n\n```text\n~ aws:eks:NodeGroup update/);
    assert.ok(!drift.includes("\u001b["), "ANSI colours stripped");
    assert.equal(drift.split("```").length - 1, 2, "engine output cannot close the code fence");
    const failed = renderSummary({
      command: "destroy",
      stack: "dev",
      ok: false,
      durationMs: 500,
      error: "error: kind failed",
    });
    assert.match(failed, /### ❌ `destroy` of stack `dev` failed\n/);
    assert.match(failed, /```text\nerror: kind failed\n```/);
  });

  it("stays under GitHub's comment size limit", () => {
    const md = renderSummary(
      {
        command: "preview",
        stack: "prod",
        ok: true,
        durationMs: 1,
        changes: {},
        engineOutput: "x\n".repeat(100_000),
      },
      10_000,
    );
    assert.ok(md.length <= 10_000, `length ${md.length}`);
    assert.match(md, /characters cut/);
  });
});

describe("automation: pull request context", () => {
  const base = {
    GITHUB_EVENT_NAME: "pull_request",
    GITHUB_REPOSITORY: "acme/platform",
    GITHUB_TOKEN: "ghs_x",
  };

  it("takes the number (and head commit) from the event payload", () => {
    const files: Record<string, string> = {
      "/event.json": JSON.stringify({
        number: 42,
        pull_request: { number: 42, head: { sha: "abc1234def" } },
      }),
    };
    const r = resolvePullRequest({ ...base, GITHUB_EVENT_PATH: "/event.json" }, (p) => files[p] ?? "");
    assert.deepEqual(r.context, {
      owner: "acme",
      repo: "platform",
      number: 42,
      token: "ghs_x",
      headSha: "abc1234def",
    });
  });

  it("falls back to GITHUB_REF refs/pull/N/merge", () => {
    const r = resolvePullRequest({ ...base, GITHUB_REF: "refs/pull/17/merge" }, () => {
      throw new Error("no event file");
    });
    assert.equal(r.context?.number, 17);
  });

  it("says why there is no pull request", () => {
    assert.match(resolvePullRequest({ ...base, GITHUB_EVENT_NAME: "push" }).reason!, /not a pull request/);
    assert.match(
      resolvePullRequest({ ...base, GITHUB_REF: "refs/heads/main" }).reason!,
      /no pull request number/,
    );
    const noToken = { ...base, GITHUB_REF: "refs/pull/1/merge", GITHUB_TOKEN: "" };
    assert.match(resolvePullRequest(noToken).reason!, /GITHUB_TOKEN is not set/);
    const badRepo = { ...base, GITHUB_REF: "refs/pull/1/merge", GITHUB_REPOSITORY: "acme" };
    assert.match(resolvePullRequest(badRepo).reason!, /GITHUB_REPOSITORY is not owner\/name/);
  });
});

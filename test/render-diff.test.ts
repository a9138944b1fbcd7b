/**
 * automation/render-diff.ts against a fixture git repository made here (a copy of gitops/ and revisions
 * on top of it), rendered with the real helm: a values change shows as a diff, no change says so, and a
 * broken template fails naming the env, revision and chart. Plus the comment, through a fake at the
 * GitHub API boundary.
 */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { CommentsApi, IssueComment } from "../automation/github";
import { main, RENDER_DIFF_MARKER, renderDiff, renderReport } from "../automation/render-diff";
import { helmBinary, helmUnavailableReason, ROOT } from "./support/helm";

describe("render-diff: rendered manifests of a GitOps pull request, real helm, two git revisions", function () {
  this.timeout(60_000);
  let repo: string;
  let helm: string;
  const revs: Record<string, string> = {};
  const git = (...args: string[]) =>
    execFileSync("git", ["-C", repo, ...args], {
      encoding: "utf8",
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: "t",
        GIT_AUTHOR_EMAIL: "t@x",
        GIT_COMMITTER_NAME: "t",
        GIT_COMMITTER_EMAIL: "t@x",
      },
    }).trim();
  const commit = (name: string, change: () => void) => {
    change();
    git("add", "-A");
    git("commit", "-q", "--no-gpg-sign", "-m", name);
    revs[name] = git("rev-parse", "HEAD");
  };
  const edit = (file: string, from: RegExp, to: string) => {
    const p = path.join(repo, file);
    const text = fs.readFileSync(p, "utf8");
    assert.match(text, from, `${file} has ${from}`);
    fs.writeFileSync(p, text.replace(from, to));
  };

  before(function () {
    const reason = helmUnavailableReason();
    if (reason) {
      if (process.env.CI && process.env.CI !== "false") throw new Error(`helm is required in CI: ${reason}`);
      this.skip();
    }
    helm = helmBinary().path;
    repo = fs.mkdtempSync(path.join(os.tmpdir(), "render-diff-repo-"));
    git("init", "-q", "-b", "main");
    commit("base", () =>
      fs.cpSync(path.join(ROOT, "gitops"), path.join(repo, "gitops"), { recursive: true }),
    );
    commit("values", () => edit("gitops/envs/staging/values.yaml", /^replicaCount: 2$/m, "replicaCount: 4"));
    commit("broken", () =>
      fs.writeFileSync(
        path.join(repo, "gitops/charts/demo-app/templates/broken.yaml"),
        "{{ .Values.notThere.deeper }}\n",
      ),
    );
  });
  after(() => repo && fs.rmSync(repo, { recursive: true, force: true }));

  it("a values change shows as a diff of that env only", async () => {
    const result = await renderDiff({ repoDir: repo, base: revs.base!, head: revs.values!, helm });
    assert.deepEqual(result.errors, []);
    const byEnv = Object.fromEntries(result.envs.map((e) => [e.env, e.diff]));
    assert.equal(byEnv.dev, "");
    assert.equal(byEnv.prod, "");
    assert.match(byEnv.staging!, /^- {2}replicas: 2$/m);
    assert.match(byEnv.staging!, /^\+ {2}replicas: 4$/m);
    assert.match(byEnv.staging!, new RegExp(`^--- staging@${revs.base}$`, "m"));
    const report = renderReport(result, "base", "values");
    assert.ok(report.startsWith(RENDER_DIFF_MARKER));
    assert.match(report, /- \*\*dev\*\*: no change/);
    assert.match(report, /<b>staging<\/b>: 2 line\(s\) changed/);
    assert.match(report, /```diff\n[\s\S]*\+ {2}replicas: 4/);
  });

  it("no change says so for every env", async () => {
    const result = await renderDiff({ repoDir: repo, base: revs.base!, head: revs.base!, helm });
    assert.deepEqual(result.errors, []);
    assert.ok(result.envs.every((e) => e.diff === ""));
    const report = renderReport(result, "a", "a");
    for (const env of ["dev", "staging", "prod"])
      assert.match(report, new RegExp(`\\*\\*${env}\\*\\*: no change`));
    assert.doesNotMatch(report, /```diff/);
  });

  it("a broken template fails (exit 1), naming env, revision and chart, and still comments on the PR", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const comments: IssueComment[] = [{ id: 7, body: `${RENDER_DIFF_MARKER}\nold` }];
    const api: CommentsApi = {
      listComments: async () => comments,
      createComment: async () => assert.fail("the marked comment exists: it is edited"),
      updateComment: async (_o, _r, id, body) => void (comments.find((c) => c.id === id)!.body = body),
    };
    const eventPath = path.join(repo, "event.json");
    fs.writeFileSync(eventPath, JSON.stringify({ pull_request: { number: 12 } }));
    const code = await main(["--repo", repo, "--base", revs.values!, "--head", revs.broken!, "--comment"], {
      env: {
        HELM_BIN: helm,
        GITHUB_EVENT_NAME: "pull_request",
        GITHUB_EVENT_PATH: eventPath,
        GITHUB_REPOSITORY: "acme/platform",
        GITHUB_TOKEN: "t",
      },
      cwd: ROOT,
      stdout: (t) => void out.push(t),
      stderr: (t) => void err.push(t),
      commentsApi: async () => api,
    });
    assert.equal(code, 1);
    for (const env of ["dev", "staging", "prod"]) {
      assert.match(
        err.join(""),
        new RegExp(`error: ${env} at ${revs.broken}: gitops/charts/demo-app does not render`),
      );
    }
    assert.match(out.join(""), /render error\(s\)/);
    assert.match(out.join(""), /nil pointer|notThere/);
    assert.equal(comments[0]!.body, out.join(""), "the one marked comment now holds the report");
    assert.match(err.join(""), /updated the comment on pull request #12/);
  });

  it("a bad command line exits 2", async () => {
    const err: string[] = [];
    const deps = {
      env: {},
      cwd: ROOT,
      stdout: () => {},
      stderr: (t: string) => void err.push(t),
      commentsApi: async () => assert.fail(),
    };
    assert.equal(await main(["--base", "x"], deps), 2);
    assert.equal(await main(["--bogus"], deps), 2);
    assert.match(err.join(""), /--base and --head are required/);
  });
});

/**
 * The GitHub Actions workflows: valid YAML, valid workflows (action-validator's schema), every action
 * pinned, every `npm run` script present in package.json (read live), the driver's command lines valid,
 * and deploys that never cancel one in progress.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { validateWorkflow, type ValidationError } from "@action-validator/core";
import { parseDocument } from "yaml";
import { COMMANDS, parseArgs } from "../automation/args";
import { knownStacks, PROJECT_DIR } from "../automation/stack-files";

const WORKFLOW_DIR = path.join(PROJECT_DIR, ".github", "workflows");
const REQUIRED = ["ci.yml", "preview.yml", "deploy.yml", "kind-e2e.yml"];

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, unknown>;
}
interface Job {
  name?: string;
  needs?: string | string[];
  environment?: string | { name: string };
  concurrency?: string | { group: string; "cancel-in-progress"?: unknown };
  permissions?: Record<string, string> | string;
  strategy?: { matrix?: Record<string, unknown> };
  env?: Record<string, unknown>;
  uses?: string;
  steps?: Step[];
}
interface Workflow {
  name?: string;
  on: Record<string, unknown>;
  permissions?: Record<string, string> | string;
  concurrency?: Job["concurrency"];
  jobs: Record<string, Job>;
}

function workflowFiles(): string[] {
  return fs
    .readdirSync(WORKFLOW_DIR)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
}

function source(file: string): string {
  return fs.readFileSync(path.join(WORKFLOW_DIR, file), "utf8");
}

function load(file: string): Workflow {
  const doc = parseDocument(source(file));
  assert.deepEqual(
    doc.errors.map((e) => e.message),
    [],
    `${file} is valid YAML`,
  );
  return doc.toJS() as Workflow;
}

function steps(wf: Workflow): Array<Step & { job: string }> {
  return Object.entries(wf.jobs).flatMap(([job, j]) => (j.steps ?? []).map((s) => ({ ...s, job })));
}

function describeErrors(errors: ValidationError[]): string {
  return errors
    .map((e) => `${"path" in e && e.path ? e.path : ""} ${e.title}${e.detail ? `: ${e.detail}` : ""}`)
    .join("\n");
}

/** `npm run X`, `npm run-script X`, `npm test`: the scripts a command line calls. */
function npmScripts(run: string): string[] {
  const found: string[] = [];
  for (const m of run.matchAll(/\bnpm\s+(?:run|run-script)\s+(?:--?[\w-]+(?:=\S+)?\s+)*([\w:.-]+)/g)) {
    found.push(m[1] as string);
  }
  for (const m of run.matchAll(/\bnpm\s+(test|t|start|stop|restart)\b/g)) {
    found.push(m[1] === "t" ? "test" : (m[1] as string));
  }
  return found;
}

/** The driver invocations `npm run <command> -- <args>` in a command line. */
function driverInvocations(run: string): string[][] {
  const commands = COMMANDS.join("|");
  return [...run.matchAll(new RegExp(`\\bnpm\\s+run\\s+(${commands})\\s+--\\s+([^\\n|&;]*)`, "g"))].map(
    (m) => [m[1] as string, ...(m[2] as string).trim().split(/\s+/)],
  );
}

const SHA = /^[0-9a-f]{40}$/;
const EXACT_TAG = /^v?\d+\.\d+\.\d+$/;

describe("workflows", () => {
  it("ci.yml, preview.yml, deploy.yml and kind-e2e.yml exist", () => {
    for (const f of REQUIRED) assert.ok(workflowFiles().includes(f), `.github/workflows/${f}`);
  });

  for (const file of fs.existsSync(WORKFLOW_DIR) ? workflowFiles() : []) {
    describe(file, () => {
      it("parses and validates against the workflow schema (action-validator)", () => {
        load(file);
        const state = validateWorkflow(source(file));
        assert.equal(state.actionType, "workflow");
        assert.equal(state.errors.length, 0, `${file}:\n${describeErrors(state.errors)}`);
      });

      it("calls only npm scripts that package.json has (read now)", () => {
        const scripts =
          (
            JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "package.json"), "utf8")) as {
              scripts?: Record<string, string>;
            }
          ).scripts ?? {};
        const missing = steps(load(file))
          .flatMap((s) => (s.run ? npmScripts(s.run).map((script) => ({ script, job: s.job })) : []))
          .filter(({ script }) => !(script in scripts))
          .map(
            ({ script, job }) => `job ${job} runs "npm run ${script}", which package.json does not define`,
          );
        assert.deepEqual(missing, [], `${file}: ${missing.join("; ")}`);
      });

      it("runs the driver with command lines it accepts", () => {
        const wf = load(file);
        const stacks = knownStacks();
        for (const [jobName, job] of Object.entries(wf.jobs)) {
          const matrixStacks = (job.strategy?.matrix?.stack as string[] | undefined) ?? [undefined];
          for (const step of job.steps ?? []) {
            for (const argv of driverInvocations(step.run ?? "")) {
              for (const stack of matrixStacks) {
                const concrete = argv.map((a) => a.replace(/^"?\$STACK"?$/, stack ?? a));
                assert.doesNotThrow(
                  () => parseArgs(concrete, stacks),
                  `${file} job ${jobName}: ${concrete.join(" ")}`,
                );
              }
            }
          }
        }
      });

      it("pins every action to a full commit SHA (with its version in a comment) or an exact tag", () => {
        const wf = load(file);
        const uses = [
          ...steps(wf).flatMap((s) => (s.uses ? [s.uses] : [])),
          ...Object.values(wf.jobs).flatMap((j) => (j.uses ? [j.uses] : [])),
        ];
        const lines = source(file).split("\n");
        for (const ref of uses) {
          if (ref.startsWith("./")) continue;
          if (ref.startsWith("docker://")) {
            assert.match(ref, /@sha256:[0-9a-f]{64}$/, `${ref} pinned by digest`);
            continue;
          }
          const at = ref.lastIndexOf("@");
          assert.ok(at > 0, `${ref} has a version`);
          const version = ref.slice(at + 1);
          assert.ok(
            SHA.test(version) || EXACT_TAG.test(version),
            `${ref}: not a full SHA or an exact vX.Y.Z tag`,
          );
          if (SHA.test(version)) {
            const line = lines.find((l) => l.includes(ref)) ?? "";
            assert.match(line, /#\s*v\d+\.\d+\.\d+\s*$/, `${ref}: add the version as a comment`);
          }
        }
      });
    });
  }

  it("each action is pinned to one SHA across all workflows", () => {
    const pins = new Map<string, Set<string>>();
    for (const file of workflowFiles()) {
      for (const s of steps(load(file))) {
        if (!s.uses || s.uses.startsWith("./")) continue;
        const [action, version] = s.uses.split("@") as [string, string];
        pins.set(action, (pins.get(action) ?? new Set()).add(version));
      }
    }
    for (const [action, versions] of pins)
      assert.equal(versions.size, 1, `${action}: ${[...versions].join(", ")}`);
  });

  it("npmScripts finds what a run line calls", () => {
    assert.deepEqual(npmScripts("npm ci && npm test"), ["test"]);
    assert.deepEqual(npmScripts('npm run preview -- "$STACK" --diff\nnpm run --silent test:e2e'), [
      "preview",
      "test:e2e",
    ]);
    assert.deepEqual(npmScripts("npm run-script lint"), ["lint"]);
  });

  describe("ci.yml", () => {
    it("runs npm ci and npm test on the .nvmrc Node with the npm cache, on push and pull_request", () => {
      const wf = load("ci.yml");
      assert.ok("push" in wf.on && "pull_request" in wf.on);
      const all = steps(wf);
      const node = all.find((s) => s.uses?.startsWith("actions/setup-node@"));
      assert.equal(node?.with?.["node-version-file"], ".nvmrc");
      assert.equal(node?.with?.["node-version"], undefined);
      assert.equal(node?.with?.cache, "npm");
      const runs = all.map((s) => s.run ?? "");
      assert.ok(runs.indexOf("npm ci") >= 0 && runs.indexOf("npm ci") < runs.indexOf("npm test"));
      assert.ok(all.some((s) => s.uses?.startsWith("actions/checkout@")));
    });
  });

  describe("preview.yml", () => {
    it("previews staging and prod on pull requests with OIDC and a read-only role, and may comment", () => {
      const wf = load("preview.yml");
      assert.deepEqual(Object.keys(wf.on), ["pull_request"]);
      assert.deepEqual(wf.permissions, { contents: "read", "id-token": "write", "pull-requests": "write" });
      const [job] = Object.values(wf.jobs);
      assert.deepEqual(job?.strategy?.matrix?.stack, ["staging", "prod"]);
      assert.equal(job?.env?.GITHUB_TOKEN, "${{ github.token }}", "the driver's comment token");
      const all = steps(wf);
      assert.ok(
        all.some((s) => s.uses?.startsWith("pulumi/actions@") && !s.with?.command),
        "installs the CLI only",
      );
      const aws = all.find((s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@"));
      assert.equal(aws?.with?.["role-to-assume"], "${{ vars.AWS_PREVIEW_ROLE_ARN }}");
      assert.ok(all.some((s) => /npm run preview -- "\$STACK"/.test(s.run ?? "")));
    });
  });

  describe("deploy.yml", () => {
    const wf = () => load("deploy.yml");

    it("deploys on push to main: staging, then prod behind the prod environment", () => {
      const { on, jobs } = wf();
      assert.deepEqual(on, { push: { branches: ["main"] } });
      assert.equal(jobs.staging?.environment, "staging");
      assert.equal(jobs.prod?.environment, "prod");
      assert.deepEqual([jobs.prod?.needs].flat(), ["staging"]);
      for (const stack of ["staging", "prod"]) {
        const runs = (jobs[stack]?.steps ?? []).map((s) => s.run ?? "");
        assert.ok(runs.includes(`npm run up -- ${stack}`), `${stack} job runs npm run up -- ${stack}`);
        assert.equal(
          jobs[stack]?.permissions && (jobs[stack]!.permissions as Record<string, string>)["id-token"],
          "write",
        );
      }
    });

    it("one deploy per stack at a time, never cancelling the one in progress", () => {
      const { concurrency, jobs } = wf();
      if (concurrency !== undefined) {
        assert.equal(typeof concurrency === "object" && concurrency["cancel-in-progress"], false);
      }
      for (const [name, job] of Object.entries(jobs)) {
        assert.equal(typeof job.concurrency, "object", `job ${name} has a concurrency block`);
        const c = job.concurrency as { group: string; "cancel-in-progress"?: unknown };
        assert.equal(c.group, `deploy-${name}`);
        assert.strictEqual(
          c["cancel-in-progress"],
          false,
          `job ${name}: cancel-in-progress must be literally false`,
        );
      }
      assert.doesNotMatch(source("deploy.yml"), /cancel-in-progress:\s*(true|\$\{\{)/);
    });
  });

  describe("kind-e2e.yml", () => {
    const wf = () => load("kind-e2e.yml");
    const runs = () => steps(wf()).map((s) => s.run ?? "");

    it("runs the dev loop with Node and Docker only: npm ci, then up dev, which fetches the tools", () => {
      const all = runs();
      const ci = all.indexOf("npm ci");
      const up = all.findIndex((r) => /npm run up -- dev/.test(r));
      assert.ok(ci >= 0 && up > ci, "npm ci, then npm run up -- dev");
      assert.match(all[up]!, /test -x \.tools\/bin\/pulumi && test -x \.tools\/bin\/kind/);
      assert.ok(
        all.slice(0, up).some((r) => /rm -f "\$\(command -v kind\)"/.test(r)),
        "no runner kind",
      );
      assert.ok(!steps(wf()).some((s) => s.uses?.startsWith("pulumi/actions@")), "no Pulumi action");
      assert.equal(wf().jobs.dev?.env?.LOCAL_TAGS, "env -u GITHUB_SHA -u GITHUB_RUN_NUMBER");
      const ups = all.filter((r) => /npm run up -- dev/.test(r));
      assert.ok(
        ups.length === 2 && ups.every((r) => r.includes("$LOCAL_TAGS npm run up -- dev")),
        "local tags: an app edit is a new version",
      );
    });

    it("waits for the root Application Synced and Healthy, then checks /api/info for the built version", () => {
      const all = runs().join("\n");
      assert.match(all, /application\/dev-apps --for=jsonpath='\{\.status\.sync\.status\}'=Synced/);
      assert.match(all, /application\/dev-apps --for=jsonpath='\{\.status\.health\.status\}'=Healthy/);
      assert.match(all, /curl -fsS http:\/\/localhost:30080\/api\/info/);
      assert.match(all, /appImageTag/);
    });

    it("changes the app, ups again, times it into the job summary, and always destroys", () => {
      const all = steps(wf());
      const change = all.find((s) => /app\/src\/server\.ts/.test(s.run ?? ""));
      assert.match(change?.run ?? "", /npm run up -- dev[\s\S]*CHANGE_SECONDS/);
      const summary = all.find((s) => /GITHUB_STEP_SUMMARY/.test(s.run ?? ""));
      assert.equal((summary as Step & { if?: string })?.if, "always()");
      assert.match(summary?.run ?? "", /CHANGE_SECONDS[\s\S]*COMMIT_TO_SERVING_SECONDS/);
      const last = all[all.length - 1] as Step & { if?: string };
      assert.equal(last.run, "npm run destroy -- dev");
      assert.equal(last.if, "always()");
    });
  });
});

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
const REQUIRED = ["ci.yml", "preview.yml", "deploy.yml"];

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
  it("ci.yml, preview.yml and deploy.yml exist", () => {
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

  describe("gitops-diff.yml", () => {
    it("renders base and head of pull requests touching gitops/ and keeps one comment", () => {
      const wf = load("gitops-diff.yml");
      assert.deepEqual(wf.on, { pull_request: { branches: ["main"], paths: ["gitops/**"] } });
      assert.deepEqual(wf.permissions, { contents: "read", "pull-requests": "write" });
      const all = steps(wf);
      const checkout = all.find((s) => s.uses?.startsWith("actions/checkout@"));
      assert.equal(checkout?.with?.["fetch-depth"], 0, "both revisions are in the clone");
      const diff = all.find((s) => /npm run --silent render-diff --/.test(s.run ?? ""));
      assert.ok(diff, "runs automation/render-diff.ts");
      assert.match(diff.run!, /--base "\$BASE" --head "\$HEAD" --comment/);
      assert.equal(diff.env?.BASE, "${{ github.event.pull_request.base.sha }}");
      assert.equal(diff.env?.HEAD, "${{ github.event.pull_request.head.sha }}");
      assert.equal(diff.env?.GITHUB_TOKEN, "${{ github.token }}");
      assert.doesNotMatch(diff.run!, /\|\|\s*true|; *true/, "a render error fails the job");
      assert.ok(
        all.some((s) => /HELM_BIN=/.test(s.run ?? "")),
        "the pinned helm, not whatever the runner has",
      );
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

    it("builds once: prod promotes the digest staging reports, and pushes no image of its own", () => {
      const { jobs } = wf();
      const staging = jobs.staging as Job & { outputs?: Record<string, string> };
      const report = staging.steps?.find((s) => /npm run --silent outputs -- staging/.test(s.run ?? ""));
      assert.ok(report, "staging reads its outputs after the deploy");
      assert.match(report.run ?? "", /appImageDigest/);
      assert.equal(
        staging.outputs?.digest,
        `\${{ steps.${(report as Step & { id?: string }).id}.outputs.digest }}`,
      );
      const up = jobs.prod?.steps?.find((s) => s.run === "npm run up -- prod");
      assert.equal(up?.env?.PROMOTE_DIGEST, "${{ needs.staging.outputs.digest }}");
      const perms = jobs.prod?.permissions as Record<string, string>;
      assert.equal(perms.packages, "read", "prod only reads staging's image from GHCR");
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
});

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
import { previewEnvironment } from "../components/github/github-wiring";
import { IMAGE_COMMIT_MARKER, imageBranch } from "../components/gitops/gitops";

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
  if?: string;
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

/**
 * The workflow as action-validator 0.6.0 (the newest release) can judge it: its bundled schema predates
 * the `attestations` permission that GitHub added for artifact attestations, so those lines are taken
 * out after checking that their value is one GitHub accepts.
 */
function forBundledSchema(text: string): string {
  return text.replace(/^(\s+)attestations:\s*(\S+).*\n/gm, (line, _indent, value: string) => {
    assert.ok(["read", "write", "none"].includes(value), `attestations: ${value} is not read, write or none`);
    return "";
  });
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

/** GitHub's branch and path filter patterns: `*` within a path segment, `**` across segments. */
function githubGlob(pattern: string, value: string): boolean {
  const regex = pattern
    .split("**")
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*"))
    .join(".*");
  return new RegExp(`^${regex}$`).test(value);
}

/** Whether a job is skipped for a head commit message: its own `if` on the marker, or a needed job's. */
function skippedByMarker(job: Job, jobs: Record<string, Job>, message: string): boolean {
  const condition = /^\$\{\{\s*!contains\(github\.event\.head_commit\.message, '([^']+)'\)\s*\}\}$/.exec(
    job.if ?? "",
  );
  if (condition && message.includes(condition[1]!)) return true;
  return [job.needs ?? []].flat().some((need) => skippedByMarker(jobs[need]!, jobs, message));
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
        const state = validateWorkflow(forBundledSchema(source(file)));
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
    it("plans every EKS stack offline and previews staging live, with OIDC and the read-only role, and may comment", () => {
      const wf = load("preview.yml");
      assert.deepEqual(Object.keys(wf.on), ["pull_request"]);
      assert.deepEqual(wf.permissions, { contents: "read" });
      assert.deepEqual(wf.jobs.plan?.strategy?.matrix?.stack, ["staging", "prod"]);
      assert.ok((wf.jobs.plan?.steps ?? []).some((s) => s.run === "npm run plan -- ${{ matrix.stack }}"));
      const job = wf.jobs.preview!;
      assert.deepEqual(job.strategy?.matrix?.stack, ["staging"]);
      assert.equal(job.environment, "${{ matrix.stack }}-preview");
      assert.deepEqual(job.permissions, { contents: "read", "id-token": "write", "pull-requests": "write" });
      assert.equal(job.env?.GITHUB_TOKEN, "${{ github.token }}", "the driver's comment token");
      const all = job.steps ?? [];
      assert.ok(
        all.some((s) => s.uses?.startsWith("pulumi/actions@") && !s.with?.command),
        "installs the CLI only",
      );
      const aws = all.find((s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@"));
      assert.equal(
        aws?.with?.["role-to-assume"],
        "${{ vars.AWS_ROLE_ARN }}",
        "the preview environment's role",
      );
      assert.ok(all.some((s) => /npm run preview -- "\$STACK"/.test(s.run ?? "")));
    });

    it("pull-request previews hold no write secret and no prod passphrase", () => {
      const text = source("preview.yml");
      const wf = load("preview.yml");
      assert.ok(!("pull_request_target" in wf.on), "never pull_request_target (base secrets with PR code)");
      assert.doesNotMatch(text, /secrets:\s*inherit/);
      // Secrets the file can read at all: only the preview environment's passphrase.
      const secretsRead = [...new Set([...text.matchAll(/secrets\.([A-Za-z_][\w]*)/g)].map((m) => m[1]))];
      assert.deepEqual(secretsRead, ["PULUMI_CONFIG_PASSPHRASE"]);
      for (const [name, job] of Object.entries(wf.jobs)) {
        const uses = JSON.stringify(job).includes("secrets.");
        if (uses) {
          // ...and only from a preview environment, which the program creates for non-prod stacks only.
          assert.match(String(job.environment), /^\$\{\{ matrix\.stack \}\}-preview$/, `job ${name}`);
          assert.ok(
            !(job.strategy?.matrix?.stack as string[]).includes("prod"),
            `job ${name} never runs for prod`,
          );
          assert.equal(previewEnvironment("staging"), "staging-preview");
        }
        const permissions = { ...(wf.permissions as object), ...(job.permissions as object) } as Record<
          string,
          string
        >;
        const writes = Object.entries(permissions)
          .filter(([, level]) => level === "write")
          .map(([scope]) => scope);
        assert.deepEqual(
          writes.filter((scope) => !["id-token", "pull-requests"].includes(scope)),
          [],
          `job ${name} may write only its OIDC token and pull-request comments`,
        );
      }
      assert.equal(wf.jobs.plan?.permissions, undefined, "the offline plan runs with the read-only default");
      assert.doesNotMatch(JSON.stringify(wf.jobs.plan), /secrets\.|id-token/);
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
      assert.deepEqual(on, { push: { branches: ["main"], "paths-ignore": ["gitops/envs/*/image.yaml"] } });
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
      const report = staging.steps?.find((s) => /npm run -s outputs -- staging/.test(s.run ?? "")) as
        (Step & { id?: string }) | undefined;
      assert.ok(report, "staging reads its outputs after the deploy");
      assert.match(report.run ?? "", /appImage/);
      assert.match(report.run ?? "", /digest=\$\{ref#\*@\}/, "the digest of the pushed reference");
      assert.equal(staging.outputs?.digest, `\${{ steps.${report.id}.outputs.digest }}`);
      const prodSteps = jobs.prod?.steps ?? [];
      const up = prodSteps.find((s) => s.run === "npm run up -- prod");
      assert.equal(up?.env?.PROMOTE_DIGEST, "${{ needs.staging.outputs.digest }}");
      // The supply-chain steps run on what prod now runs, and that must be staging's digest.
      const read = prodSteps.find((s) => /npm run -s outputs -- prod/.test(s.run ?? ""));
      assert.equal(read?.env?.PROMOTE_DIGEST, "${{ needs.staging.outputs.digest }}");
      assert.match(read?.run ?? "", /\[\[ "\$\{ref#\*@\}" == "\$PROMOTE_DIGEST" \]\] \|\| \{/);
      const perms = jobs.prod?.permissions as Record<string, string>;
      assert.equal(perms.packages, "read", "prod only reads staging's image from GHCR");
      // skopeo reads GHCR with the job's own token, logged in before up.
      const ghcr = prodSteps.findIndex((s) => /docker login ghcr\.io/.test(s.run ?? ""));
      assert.ok(ghcr >= 0 && ghcr < prodSteps.indexOf(up!), "GHCR login before up");
      assert.match(prodSteps[ghcr]!.run!, /^echo "\$GITHUB_TOKEN" \| docker login ghcr\.io/);
      assert.doesNotMatch(source("deploy.yml"), /SRC_CREDS|DEST_CREDS/, "no registry credential in the env");
    });

    it("an image-file commit cannot start it: other branches, image-only pushes and the marker are all out", () => {
      const { on, jobs } = wf();
      const push = on.push as { branches: string[]; "paths-ignore": string[] };
      const starts = (branch: string, files: string[], message: string) => {
        if (!push.branches.some((p) => githubGlob(p, branch))) return false;
        // paths-ignore: the workflow runs only if some changed file matches no pattern.
        if (!files.some((f) => !push["paths-ignore"].some((p) => githubGlob(p, f)))) return false;
        // Every job is skipped by the marker, directly or through the job it needs.
        return Object.values(jobs).some((job) => !skippedByMarker(job, jobs, message));
      };
      const commit = `deploy(staging): ghcr.io/o/demo-app:0123456789ab ${IMAGE_COMMIT_MARKER}`;
      for (const env of ["dev", "staging", "prod"]) {
        const file = `gitops/envs/${env}/image.yaml`;
        assert.equal(
          starts(imageBranch(env), [file], commit),
          false,
          `Pulumi's commit to ${imageBranch(env)}`,
        );
        assert.equal(starts("main", [file], "edit by hand"), false, `an image-only push to main (${env})`);
      }
      assert.equal(
        starts("main", ["app/src/server.ts", "gitops/envs/staging/image.yaml"], commit),
        false,
        "the marker",
      );
      // ...while a real change does deploy.
      assert.equal(starts("main", ["app/src/server.ts"], "feat: faster"), true);
      assert.equal(starts("main", ["gitops/envs/staging/values.yaml"], "more replicas"), true);
      for (const job of Object.values(jobs)) {
        assert.equal(job.if, `\${{ !contains(github.event.head_commit.message, '${IMAGE_COMMIT_MARKER}') }}`);
      }
    });

    it("prod pushes to ECR with the job's own role, logged in before up", () => {
      const steps = wf().jobs.prod!.steps ?? [];
      const login = steps.findIndex((s) => /aws ecr get-login-password/.test(s.run ?? ""));
      const aws = steps.findIndex((s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@"));
      assert.ok(aws >= 0 && aws < login, "after the OIDC credentials");
      assert.ok(login < steps.findIndex((s) => /npm run up/.test(s.run ?? "")), "before up");
      assert.match(steps[login]!.run!, /docker login --username AWS --password-stdin "\$registry"/);
    });

    it("pushes to GHCR with the job's own GITHUB_TOKEN, never the repository-admin token", () => {
      const staging = wf().jobs.staging!;
      assert.equal((staging.permissions as Record<string, string>).packages, "write");
      const steps = staging.steps ?? [];
      const login = steps.findIndex((s) => /docker login ghcr\.io/.test(s.run ?? ""));
      assert.ok(
        login >= 0 && login < steps.findIndex((s) => /npm run up/.test(s.run ?? "")),
        "logs in before up",
      );
      assert.match(
        steps[login]!.run!,
        /^echo "\$GITHUB_TOKEN" \| docker login ghcr\.io --username "\$GITHUB_ACTOR" --password-stdin$/,
      );
      assert.equal(staging.env?.GITHUB_TOKEN, "${{ github.token }}");
      assert.doesNotMatch(
        source("deploy.yml"),
        /GITOPS_GITHUB_TOKEN[^\n]*docker|docker[^\n]*GITOPS_GITHUB_TOKEN/,
      );
    });

    // Pins verified against the action repositories: the tag's commit (git show-ref / rev-parse ^{commit}).
    const SUPPLY_CHAIN_PINS = {
      trivy: "aquasecurity/trivy-action@ed142fd0673e97e23eac54620cfb913e5ce36c25",
      cosignInstaller: "sigstore/cosign-installer@6f9f17788090df1f26f669e9d70d6ae9567deba6",
      provenance: "actions/attest-build-provenance@a2bbfa25375fe432b6a289bc6b6cd05ecd0c4c32",
    };
    const EXPECTED_PERMISSIONS: Record<string, Record<string, string>> = {
      staging: { contents: "read", "id-token": "write", packages: "write", attestations: "write" },
      prod: { contents: "read", "id-token": "write", packages: "read", attestations: "write" },
    };

    for (const stack of ["staging", "prod"]) {
      it(`${stack}: after up, scans, attaches an SBOM, attests provenance and signs the pushed digest, in that order`, () => {
        const job = wf().jobs[stack]!;
        const all = job.steps ?? [];
        const index = (test: (s: Step) => boolean, what: string) => {
          const i = all.findIndex(test);
          assert.ok(i >= 0, `${stack}: no step that ${what}`);
          return i;
        };
        const up = index((s) => s.run === `npm run up -- ${stack}`, "deploys");
        const read = index(
          (s) => /npm run -s outputs -- /.test(s.run ?? ""),
          "reads the pushed or promoted image",
        );
        assert.match(all[read]!.run!, new RegExp(`outputs -- ${stack} `));
        const scan = index(
          (s) => s.uses === SUPPLY_CHAIN_PINS.trivy && s.with?.["exit-code"] === "1",
          "scans with Trivy",
        );
        const scanWith = all[scan]!.with!;
        assert.equal(scanWith.severity, "CRITICAL,HIGH");
        assert.equal(scanWith["ignore-unfixed"], true, "only fixable findings fail");
        assert.match(String(scanWith.version), /^v\d+\.\d+\.\d+$/, "the trivy binary is pinned");
        assert.equal(scanWith["image-ref"], "${{ steps.image.outputs.ref }}");
        const sbom = index(
          (s) => s.uses === SUPPLY_CHAIN_PINS.trivy && s.with?.format === "cyclonedx",
          "writes a CycloneDX SBOM",
        );
        const installer = index((s) => s.uses === SUPPLY_CHAIN_PINS.cosignInstaller, "installs cosign");
        assert.match(String(all[installer]!.with?.["cosign-release"]), /^v\d+\.\d+\.\d+$/);
        const attest = index(
          (s) =>
            /cosign attest --yes .*--type cyclonedx --predicate sbom\.cdx\.json "\$IMAGE"/.test(s.run ?? ""),
          "attaches the SBOM as an attestation",
        );
        const provenance = index((s) => s.uses === SUPPLY_CHAIN_PINS.provenance, "attests build provenance");
        assert.deepEqual(all[provenance]!.with, {
          "subject-name": "${{ steps.image.outputs.name }}",
          "subject-digest": "${{ steps.image.outputs.digest }}",
          "push-to-registry": true,
          "create-storage-record": false,
        });
        const sign = index((s) => /^cosign sign --yes /.test(s.run ?? ""), "signs");
        for (const i of [attest, sign]) {
          assert.equal(all[i]!.env?.IMAGE, "${{ steps.image.outputs.ref }}", "by digest, never by tag");
          assert.doesNotMatch(all[i]!.run!, /--key/, "keyless: the workflow's OIDC identity");
          assert.match(all[i]!.run!, /--new-bundle-format=false --use-signing-config=false/);
        }
        const order = [up, read, scan, sbom, installer, attest, provenance, sign];
        assert.deepEqual(
          [...order].sort((a, b) => a - b),
          order,
          "up, read, scan, SBOM, attest, provenance, sign",
        );
        assert.equal(sign, all.length - 1, "signing is the last step");
      });

      it(`${stack}: permissions are exactly what deploying and signing need`, () => {
        assert.deepEqual(wf().jobs[stack]!.permissions, EXPECTED_PERMISSIONS[stack]);
      });
    }

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

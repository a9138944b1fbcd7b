/**
 * The rendered diff of a GitOps pull request: `tsx automation/render-diff.ts --base <rev> --head <rev>`.
 *
 * For each environment it renders, at both revisions, what Argo CD would render: the app-of-apps chart
 * (gitops/apps, with the values the root Application passes) and the demo-app chart with the env's
 * values and image files (and stand-ins for the platform's values, see below), with the real helm (HELM_BIN, else helm on PATH). Each revision is taken with
 * `git archive`, so the working tree is never touched. It prints one Markdown report (a manifest diff per
 * env, or that nothing changed) and, with --comment on a pull request, keeps it as one edited comment.
 *
 * Exit codes: 0 rendered (changed or not); 1 a render failed at either revision (named in the report);
 * 2 bad command line.
 */
import { execFile, execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { resolvePullRequest, upsertComment, type CommentsApi } from "./github";

export const RENDER_DIFF_MARKER = "<!-- gitops-platform:render-diff -->";
export const ENVS = ["dev", "staging", "prod"] as const;
/** GitHub refuses comments over 65536 characters; the diff is cut well before. */
const MAX_DIFF_CHARS = 50_000;
const PLACEHOLDER_REPO_URL = "https://github.com/gitops-platform/gitops-platform.git";
/**
 * Stand-ins for the values the platform hands the app chart (Pulumi, through the root Application's
 * appValues; not in git): the ingress host the chart requires where the env enables the Ingress. A
 * reserved `.invalid` name, so the diff shows plainly it is not the real host.
 */
export const platformStandInValues = (env: string) => [
  "--set",
  `ingress.host=app.${env}.platform-values.invalid`,
];

export interface RenderDiffOptions {
  /** The git repository (default: the current directory). */
  repoDir: string;
  base: string;
  head: string;
  /** Environments to render. Default: dev, staging, prod. */
  envs?: readonly string[];
  /** The helm binary. */
  helm: string;
}

export interface EnvDiff {
  env: string;
  /** Unified diff of the rendered manifests, base to head; "" when nothing changed. */
  diff: string;
}

export interface RenderError {
  env: string;
  revision: string;
  chart: string;
  message: string;
}

export interface RenderDiffResult {
  envs: EnvDiff[];
  errors: RenderError[];
}

/** What Argo CD renders for one env at one checked-out revision, or the errors of helm. */
async function renderEnv(
  root: string,
  env: string,
  helm: string,
): Promise<{ manifests: string; errors: { chart: string; message: string }[] }> {
  const charts: { chart: string; args: string[] }[] = [];
  if (fs.existsSync(path.join(root, "gitops/apps/Chart.yaml"))) {
    charts.push({
      chart: "gitops/apps",
      args: [
        "template",
        `${env}-apps`,
        "gitops/apps",
        "--namespace",
        "argocd",
        "--set",
        `env=${env},repoURL=${PLACEHOLDER_REPO_URL},targetRevision=main,project=${env}`,
      ],
    });
  }
  const envDir = path.join(root, "gitops/envs", env);
  if (fs.existsSync(path.join(envDir, "values.yaml"))) {
    const valueFiles = ["values.yaml", "image.yaml"]
      .filter((f) => fs.existsSync(path.join(envDir, f)))
      .flatMap((f) => ["-f", `gitops/envs/${env}/${f}`]);
    charts.push({
      chart: "gitops/charts/demo-app",
      args: [
        "template",
        "demo-app",
        "gitops/charts/demo-app",
        "--namespace",
        "demo-app",
        ...valueFiles,
        ...platformStandInValues(env),
      ],
    });
  }
  const results = await Promise.all(charts.map(({ args }) => runHelm(helm, args, root)));
  const errors: { chart: string; message: string }[] = [];
  const parts: string[] = [];
  results.forEach((r, i) => {
    const { chart } = charts[i]!;
    if (r.status !== 0) errors.push({ chart, message: r.stderr.trim() || `helm exited ${r.status}` });
    else parts.push(`# ---- ${chart} ----\n${r.stdout}`);
  });
  return { manifests: parts.join("\n"), errors };
}

function runHelm(
  helm: string,
  args: string[],
  cwd: string,
): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(helm, args, { cwd, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== "number") return reject(error);
      resolve({ status: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

/** `gitops/` of `revision` in a fresh directory. */
function checkout(repoDir: string, revision: string, into: string): void {
  fs.mkdirSync(into, { recursive: true });
  const tar = execFileSync("git", ["-C", repoDir, "archive", "--format=tar", revision, "gitops"], {
    maxBuffer: 256 * 1024 * 1024,
  });
  execFileSync("tar", ["-x", "-C", into], { input: tar });
}

/** A unified diff of two texts (git diff --no-index), headers named after the revisions. */
function unifiedDiff(before: string, after: string, labels: [string, string], dir: string): string {
  const a = path.join(dir, "base.yaml");
  const b = path.join(dir, "head.yaml");
  fs.writeFileSync(a, before);
  fs.writeFileSync(b, after);
  const r = spawnSync("git", ["diff", "--no-index", "--no-color", "-U3", "--", a, b], { encoding: "utf8" });
  if (r.status !== 0 && r.status !== 1) throw new Error(`git diff failed: ${r.stderr}`);
  return r.stdout
    .split("\n")
    .filter((line) => !line.startsWith("diff --git") && !line.startsWith("index "))
    .map((line) =>
      line.startsWith("--- ") ? `--- ${labels[0]}` : line.startsWith("+++ ") ? `+++ ${labels[1]}` : line,
    )
    .join("\n")
    .trimEnd();
}

/** Renders every env at both revisions (all renders at once) and diffs them. */
export async function renderDiff(options: RenderDiffOptions): Promise<RenderDiffResult> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "render-diff-"));
  try {
    const revisions = { base: options.base, head: options.head };
    for (const [side, revision] of Object.entries(revisions))
      checkout(options.repoDir, revision, path.join(work, side));
    const envNames = options.envs ?? ENVS;
    const renders = await Promise.all(
      envNames.map((env) =>
        Promise.all([
          renderEnv(path.join(work, "base"), env, options.helm),
          renderEnv(path.join(work, "head"), env, options.helm),
        ]),
      ),
    );
    const envs: EnvDiff[] = [];
    const errors: RenderError[] = [];
    for (const [i, env] of envNames.entries()) {
      const [base, head] = renders[i]!;
      for (const e of base.errors) errors.push({ env, revision: options.base, ...e });
      for (const e of head.errors) errors.push({ env, revision: options.head, ...e });
      const rendered = { base: base.manifests, head: head.manifests };
      envs.push({
        env,
        diff: unifiedDiff(
          rendered.base!,
          rendered.head!,
          [`${env}@${options.base}`, `${env}@${options.head}`],
          work,
        ),
      });
    }
    return { envs, errors };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** The Markdown report: render errors first, then one section per env. */
export function renderReport(result: RenderDiffResult, base: string, head: string): string {
  const lines = [RENDER_DIFF_MARKER, `## Rendered manifests: \`${base}\` → \`${head}\``, ""];
  if (result.errors.length > 0) {
    lines.push(`**${result.errors.length} render error(s)**: Argo CD would fail to sync these.`, "");
    for (const e of result.errors) {
      lines.push(`- \`${e.env}\` at \`${e.revision}\`, ${e.chart}:`, "", "```", e.message, "```", "");
    }
  }
  let budget = MAX_DIFF_CHARS;
  for (const { env, diff } of result.envs) {
    if (diff === "") {
      lines.push(`- **${env}**: no change`);
      continue;
    }
    const changed = diff.split("\n").filter((l) => /^[+-](?![+-]{2} )/.test(l)).length;
    const shown =
      diff.length <= budget
        ? diff
        : `${diff.slice(0, Math.max(0, budget))}\n... (cut: the diff is too long for a comment)`;
    budget = Math.max(0, budget - shown.length);
    lines.push(
      `<details open><summary><b>${env}</b>: ${changed} line(s) changed</summary>`,
      "",
      "```diff",
      shown,
      "```",
      "</details>",
    );
  }
  return `${lines.join("\n")}\n`;
}

export interface MainDeps {
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  commentsApi: (token: string) => Promise<CommentsApi>;
}

const USAGE =
  "usage: tsx automation/render-diff.ts --base <rev> --head <rev> [--repo <dir>] [--envs dev,staging,prod] [--comment]";

/** Runs the command line; returns the exit code. */
export async function main(argv: readonly string[], deps: MainDeps): Promise<number> {
  const opts: Record<string, string> = {};
  let comment = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--comment") comment = true;
    else if (
      ["--base", "--head", "--repo", "--envs"].includes(arg) &&
      argv[i + 1] &&
      !argv[i + 1]!.startsWith("--")
    )
      opts[arg.slice(2)] = argv[++i] as string;
    else {
      deps.stderr(`error: unexpected argument "${arg}"\n${USAGE}\n`);
      return 2;
    }
  }
  if (!opts.base || !opts.head) {
    deps.stderr(`error: --base and --head are required\n${USAGE}\n`);
    return 2;
  }
  const helm = deps.env.HELM_BIN || "helm";
  const result = await renderDiff({
    repoDir: path.resolve(deps.cwd, opts.repo ?? "."),
    base: opts.base,
    head: opts.head,
    helm,
    ...(opts.envs ? { envs: opts.envs.split(",") } : {}),
  });
  const report = renderReport(result, opts.base, opts.head);
  deps.stdout(report);
  if (comment) {
    const pr = resolvePullRequest(deps.env);
    if (!pr.context) deps.stderr(`no comment: ${pr.reason}\n`);
    else {
      try {
        const api = await deps.commentsApi(pr.context.token);
        const r = await upsertComment(api, pr.context, RENDER_DIFF_MARKER, report);
        deps.stderr(`${r.action} the comment on pull request #${pr.context.number}\n`);
      } catch (err) {
        // A fork's token cannot comment: the report is still in the job's output and summary.
        deps.stderr(
          `warning: could not comment on pull request #${pr.context.number}: ${(err as Error).message}\n`,
        );
      }
    }
  }
  for (const e of result.errors)
    deps.stderr(`error: ${e.env} at ${e.revision}: ${e.chart} does not render\n`);
  return result.errors.length > 0 ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2), {
    env: process.env,
    cwd: process.cwd(),
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    commentsApi: async (token) =>
      (await import("./runner")).octokitCommentsApi(token, process.env.GITHUB_API_URL),
  }).then(
    (code) => process.stdout.write("", () => process.stderr.write("", () => process.exit(code))),
    (err: unknown) => {
      process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}

/**
 * `npm run docs:check`: every command in README.md and docs/*.md either runs or is shown to exist.
 *
 * Commands are the lines of ```bash / ```sh / ```console blocks and the inline code spans that start with
 * a known tool. The offline plan (`npm run plan -- <stack> [--json]`) runs, in process, and must exit 0.
 * Everything else is checked without running it: npm scripts exist in package.json, driver command lines
 * parse (command, stack, flags), `pulumi stack output` names an output some stack exports, `--stack`
 * names a stack, `gitops-platform:<key>` a declared key, `-n <namespace>` a namespace the program
 * creates, and relative paths and links point at files that exist. Placeholders (`<stack>`) stand for
 * any value and are tried as `dev`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs, UsageError } from "./args";
import { evaluateStack, listStacks, PROJECT_DIR, readProject } from "./evaluate";
import { main as planMain } from "./plan";

export interface DocCommand {
  /** Path relative to the project. */
  file: string;
  line: number;
  text: string;
  /** An inline code span in prose: `npm run <script>` alone names the script, it need not run as is. */
  inline?: boolean;
}

export interface CommandResult extends DocCommand {
  outcome: "ran" | "checked" | "failed";
  detail: string;
}

/** Tools whose inline code spans count as commands. */
const TOOLS = [
  "npm",
  "npx",
  "pulumi",
  "kubectl",
  "velero",
  "argocd",
  "kind",
  "docker",
  "git",
  "helm",
  "node",
];
/** Further commands a shell block may use; their arguments get the generic checks only. */
const SHELL_COMMANDS = [
  "aws",
  "cosign",
  "gh",
  "curl",
  "dig",
  "jq",
  "base64",
  "printf",
  "echo",
  "cd",
  "export",
  "unset",
  "date",
];
const SHELL_BLOCKS = new Set(["bash", "sh", "shell", "console"]);
const PLACEHOLDER = /<[^<>\s]+>/g;
const SYSTEM_NAMESPACES = ["default", "kube-system", "kube-public"];

/** The documentation pages: README.md and docs/*.md. */
export function docFiles(projectDir = PROJECT_DIR): string[] {
  const docs = path.join(projectDir, "docs");
  const pages = fs.existsSync(docs)
    ? fs
        .readdirSync(docs)
        .filter((f) => f.endsWith(".md"))
        .sort()
        .map((f) => path.join("docs", f))
    : [];
  return ["README.md", ...pages];
}

/**
 * Commands of one page: lines of shell blocks (a trailing backslash joins the next line), and inline
 * spans starting with a known tool.
 */
export function extractCommands(markdown: string, file: string): DocCommand[] {
  const found: DocCommand[] = [];
  let block: string | undefined;
  let continued: DocCommand | undefined;
  markdown.split("\n").forEach((raw, i) => {
    const fence = /^\s*```(\S*)/.exec(raw);
    if (fence) {
      block = block === undefined ? fence[1]! : undefined;
      return;
    }
    if (block !== undefined) {
      const line = raw.trim();
      if (!SHELL_BLOCKS.has(block) || (!continued && (!line || line.startsWith("#")))) return;
      const text = stripComment(line);
      const joined = text.replace(/\\$/, "").trim();
      if (continued) continued.text = `${continued.text} ${joined}`;
      else found.push((continued = { file, line: i + 1, text: joined }));
      if (!text.endsWith("\\")) continued = undefined;
      return;
    }
    for (const span of raw.matchAll(/`([^`]+)`/g)) {
      const text = span[1]!.trim();
      if (TOOLS.includes(text.split(/\s+/)[0]!) && text.includes(" ") && text !== "npm run") {
        found.push({ file, line: i + 1, text, inline: true });
      }
    }
  });
  return found;
}

function stripComment(line: string): string {
  return line.replace(/\s+#\s.*$/, "").trim();
}

/** What the checks compare against, read once. */
export interface Facts {
  scripts: Record<string, string>;
  stacks: string[];
  keys: string[];
  outputs: Set<string>;
  namespaces: Set<string>;
  projectDir: string;
}

export async function gatherFacts(projectDir = PROJECT_DIR): Promise<Facts> {
  const pkg = JSON.parse(fs.readFileSync(path.join(projectDir, "package.json"), "utf8")) as {
    scripts: Record<string, string>;
  };
  const stacks = listStacks(projectDir);
  const outputs = new Set<string>();
  const namespaces = new Set<string>(SYSTEM_NAMESPACES);
  for (const stack of stacks) {
    const evaluation = await evaluateStack(stack, { projectDir });
    if (evaluation.error) throw new Error(`stack ${stack} does not evaluate: ${evaluation.error.message}`);
    Object.keys(evaluation.outputs).forEach((o) => outputs.add(o));
    for (const r of evaluation.resources) {
      const meta = r.inputs.metadata as { name?: unknown } | undefined;
      if (r.type === "kubernetes:core/v1:Namespace" && typeof meta?.name === "string")
        namespaces.add(meta.name);
    }
  }
  return {
    scripts: pkg.scripts,
    stacks,
    keys: Object.keys(readProject(projectDir).config ?? {}),
    outputs,
    namespaces,
    projectDir,
  };
}

/**
 * Checks (or runs) one command: every segment of `a && b`, `a | b` and `a; b`, and of every `$(...)`
 * inside, each without its leading `VAR=value` assignments and its output redirection.
 */
export async function checkCommand(command: DocCommand, facts: Facts): Promise<CommandResult> {
  const results: Array<Omit<CommandResult, keyof DocCommand>> = [];
  const { outer, substitutions } = splitSubstitutions(command.text);
  for (const part of [outer, ...substitutions]) {
    for (const raw of part.split(/\s*(?:&&|\|\||\||;)\s*/)) {
      const segment = raw
        .replace(/\s+[12]?>\s*\S+$/, "")
        .replace(/^(\w+=("[^"]*"|'[^']*'|\S*)\s*)+/, "")
        .trim();
      if (segment) results.push(await checkSegment(segment, facts, command.inline === true));
    }
  }
  const failed = results.find((r) => r.outcome === "failed");
  const ran = results.some((r) => r.outcome === "ran");
  return {
    ...command,
    outcome: failed ? "failed" : ran ? "ran" : "checked",
    detail: failed ? failed.detail : results.map((r) => r.detail).join("; "),
  };
}

async function checkSegment(
  segment: string,
  facts: Facts,
  inline: boolean,
): Promise<Omit<CommandResult, keyof DocCommand>> {
  const words = shellWords(segment.replace(PLACEHOLDER, (p) => (/stack|env/.test(p) ? "dev" : p)));
  const fail = (detail: string) => ({ outcome: "failed" as const, detail });
  const [tool, ...args] = words;
  if (!tool || !(TOOLS.includes(tool) || SHELL_COMMANDS.includes(tool)))
    return fail(`unknown tool "${tool}"`);

  const generic = genericProblems(args, facts);
  if (generic) return fail(generic);

  if (tool === "npm" && inline && args[0] === "run" && args.length === 2) {
    return args[1]! in facts.scripts
      ? { outcome: "checked", detail: `npm run ${args[1]} exists` }
      : fail(`npm run ${args[1]}: package.json has no such script`);
  }
  if (tool === "npm") return checkNpm(args, facts);
  if (tool === "npx") {
    const bin = args[0] ?? "";
    return fs.existsSync(path.join(facts.projectDir, "node_modules", ".bin", bin))
      ? { outcome: "checked", detail: `npx ${bin} is installed` }
      : fail(`npx ${bin}: not in node_modules/.bin`);
  }
  if (tool === "pulumi" && args[0] === "stack" && args[1] === "output") {
    const name = args.slice(2).find((a) => !a.startsWith("-"));
    if (name && !facts.outputs.has(name))
      return fail(`pulumi stack output ${name}: no stack exports "${name}"`);
  }
  return { outcome: "checked", detail: `${tool}: arguments refer to things that exist` };
}

/** Problems any command can have: unknown stacks, keys, namespaces or files. */
function genericProblems(args: string[], facts: Facts): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    if (arg === "--stack" && next && !isPlaceholder(next) && !facts.stacks.includes(next)) {
      return `--stack ${next}: no Pulumi.${next}.yaml`;
    }
    if ((arg === "-n" || arg === "--namespace") && next && !facts.namespaces.has(next)) {
      return `${arg} ${next}: the program creates no namespace "${next}"`;
    }
    const key = /^gitops-platform:([A-Za-z]+)$/.exec(arg)?.[1];
    if (key && !facts.keys.includes(key)) return `${arg}: not declared in Pulumi.yaml`;
    if (looksLikePath(arg) && !fs.existsSync(path.join(facts.projectDir, arg))) return `${arg}: no such file`;
  }
  return undefined;
}

async function checkNpm(args: string[], facts: Facts): Promise<Omit<CommandResult, keyof DocCommand>> {
  const fail = (detail: string) => ({ outcome: "failed" as const, detail });
  const [sub, ...rest] = args;
  if (sub === "ci" || sub === "install") return { outcome: "checked", detail: `npm ${sub}` };
  if (sub === "test")
    return "test" in facts.scripts ? { outcome: "checked", detail: "npm test" } : fail("no test script");
  if (sub !== "run") return fail(`npm ${sub}: only ci, install, test and run are documented`);
  const positional = rest.filter((a) => a !== "--silent" && a !== "-s");
  const [script, dashes, ...scriptArgs] = positional;
  if (!script || !(script in facts.scripts))
    return fail(`npm run ${script}: package.json has no such script`);
  if (dashes !== undefined && dashes !== "--")
    return fail(`npm run ${script} ${dashes}: arguments go after --`);

  const command = facts.scripts[script]!;
  const driver = /^tsx automation\/cli\.ts (\w+)$/.exec(command);
  if (driver) {
    try {
      parseArgs([driver[1]!, ...scriptArgs], facts.stacks);
    } catch (err) {
      if (err instanceof UsageError) return fail(`npm run ${script}: ${err.message.split("\n")[0]}`);
      throw err;
    }
    return { outcome: "checked", detail: `npm run ${script}: the driver accepts ${scriptArgs.join(" ")}` };
  }
  if (command === "tsx automation/plan.ts") {
    const code = await quietly(() => planMain(scriptArgs));
    return code === 0
      ? { outcome: "ran", detail: `npm run plan -- ${scriptArgs.join(" ")}: exit 0` }
      : fail(`npm run plan -- ${scriptArgs.join(" ")}: exit ${code}`);
  }
  return { outcome: "checked", detail: `npm run ${script} exists` };
}

/** Runs fn with console output and stdout writes swallowed. */
async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const { log, error } = console;
  const write = process.stdout.write;
  console.log = () => undefined;
  console.error = () => undefined;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    return await fn();
  } finally {
    console.log = log;
    console.error = error;
    process.stdout.write = write;
  }
}

function isPlaceholder(word: string): boolean {
  return /^<.*>$/.test(word);
}

function looksLikePath(arg: string): boolean {
  return (
    !arg.startsWith("-") &&
    !/^[a-z]+:\/\//.test(arg) &&
    !arg.includes("<") &&
    !arg.includes("$") &&
    /^(\.\/)?(app|automation|bench|components|dashboards|docs|e2e|gitops|policy|test)(\/|$)/.test(arg)
  );
}

/** Takes each `$(...)` out of a command line (balanced, quotes respected): the rest, and what was inside. */
function splitSubstitutions(text: string): { outer: string; substitutions: string[] } {
  const substitutions: string[] = [];
  let outer = "";
  for (let i = 0; i < text.length; i++) {
    if (!(text[i] === "$" && text[i + 1] === "(")) {
      outer += text[i];
      continue;
    }
    let depth = 0;
    let quote: string | undefined;
    let j = i + 1;
    for (; j < text.length; j++) {
      const c = text[j]!;
      if (quote) {
        if (c === quote) quote = undefined;
      } else if (c === "'" || c === '"') quote = c;
      else if (c === "(") depth++;
      else if (c === ")" && --depth === 0) break;
    }
    substitutions.push(...splitSubstitutions(text.slice(i + 2, j)).substitutions, text.slice(i + 2, j));
    outer += "substituted";
    i = j;
  }
  return { outer, substitutions };
}

/** Splits a command line into words, honouring single and double quotes. */
function shellWords(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

/** Relative links of a page whose target file (or heading anchor) does not exist. */
export function brokenLinks(markdown: string, file: string, projectDir = PROJECT_DIR): string[] {
  const broken: string[] = [];
  for (const [, target] of markdown.matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z]+:/.test(target!)) continue;
    const [rel, anchor] = target!.split("#");
    const resolved = rel
      ? path.join(path.dirname(path.join(projectDir, file)), rel)
      : path.join(projectDir, file);
    if (!fs.existsSync(resolved)) {
      broken.push(`${file}: link ${target} (no such file)`);
      continue;
    }
    if (
      anchor &&
      resolved.endsWith(".md") &&
      !headingAnchors(fs.readFileSync(resolved, "utf8")).has(anchor)
    ) {
      broken.push(`${file}: link ${target} (no such heading)`);
    }
  }
  return broken;
}

/** GitHub's anchors of a page's headings. */
function headingAnchors(markdown: string): Set<string> {
  return new Set(
    [...markdown.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) =>
      m[1]!
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s-]/gu, "")
        .replace(/\s/g, "-"),
    ),
  );
}

/** Every command and link of every page, checked. */
export async function checkDocs(
  projectDir = PROJECT_DIR,
): Promise<{ results: CommandResult[]; links: string[] }> {
  const facts = await gatherFacts(projectDir);
  const results: CommandResult[] = [];
  const links: string[] = [];
  const seen = new Map<string, CommandResult>();
  for (const file of docFiles(projectDir)) {
    const markdown = fs.readFileSync(path.join(projectDir, file), "utf8");
    links.push(...brokenLinks(markdown, file, projectDir));
    for (const command of extractCommands(markdown, file)) {
      const earlier = seen.get(command.text);
      const result = earlier ? { ...earlier, ...command } : await checkCommand(command, facts);
      seen.set(command.text, result);
      results.push(result);
    }
  }
  return { results, links };
}

if (require.main === module) {
  checkDocs().then(
    ({ results, links }) => {
      for (const r of results)
        console.log(`${r.outcome.padEnd(7)} ${r.file}:${r.line}  ${r.text}\n          ${r.detail}`);
      for (const l of links) console.log(`failed  ${l}`);
      const failed = results.filter((r) => r.outcome === "failed").length + links.length;
      const ran = results.filter((r) => r.outcome === "ran").length;
      console.log(`\n${results.length} commands (${ran} ran), ${failed} problems`);
      process.exit(failed > 0 ? 1 : 0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}

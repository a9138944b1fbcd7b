import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  brokenLinks,
  checkCommand,
  checkDocs,
  extractCommands,
  gatherFacts,
  type Facts,
} from "../automation/docs-check";
import { PROJECT_DIR, readProject } from "../automation/evaluate";
import { policies } from "../policy/rules";

const read = (file: string) => fs.readFileSync(path.join(PROJECT_DIR, file), "utf8");
const defaults = readProject().config ?? {};

describe("docs: the README a newcomer reads", () => {
  const readme = read("README.md");

  it("is under 200 lines", () => {
    assert.ok(readme.split("\n").length < 200, `${readme.split("\n").length} lines`);
  });

  it("says on its first screen where the dev app, Argo CD and Grafana answer (the config defaults)", () => {
    const firstScreen = readme.split("\n").slice(0, 45).join("\n");
    for (const key of ["appNodePort", "argocdNodePort", "grafanaNodePort"]) {
      const url = `http://localhost:${String(defaults[key]?.default)}`;
      assert.ok(firstScreen.includes(url), `${url} (${key})`);
    }
    assert.match(firstScreen, /npm ci && npm run up -- dev/);
    assert.match(firstScreen, /npm ci && npm test/);
  });

  it("links every page of docs/", () => {
    for (const page of fs.readdirSync(path.join(PROJECT_DIR, "docs")).filter((f) => f.endsWith(".md"))) {
      assert.ok(readme.includes(`(docs/${page})`), `README links docs/${page}`);
    }
  });
});

describe("docs: every command in README.md and docs/*.md runs or exists (npm run docs:check)", () => {
  let facts: Facts;
  before(async () => {
    facts = await gatherFacts();
  });

  it("runs the offline ones and finds everything the others name; no broken link", async function () {
    this.timeout(60_000);
    const { results, links } = await checkDocs();
    const failed = results.filter((r) => r.outcome === "failed");
    assert.deepEqual(
      failed.map((r) => `${r.file}:${r.line} ${r.text}: ${r.detail}`),
      [],
    );
    assert.deepEqual(links, []);
    assert.ok(results.length >= 30, `${results.length} commands found`);
    assert.ok(
      results.some((r) => r.outcome === "ran" && r.text === "npm run plan -- dev"),
      "the README's offline plan ran",
    );
  });

  const bad: Array<[string, RegExp]> = [
    ["npm run plan -- qa", /exit 2/],
    ["npm run deploy -- dev", /no such script/],
    ["npm run up -- qa", /unknown stack|stack/],
    ["npm run outputs -- dev --show-secret", /--show-secret/],
    ["npm run preview -- prod --show-secrets", /--show-secrets/],
    ["pulumi stack output --show-secrets fooPassword", /no stack exports "fooPassword"/],
    ["pulumi preview --stack qa", /no Pulumi\.qa\.yaml/],
    ["pulumi config set gitops-platform:nodeCount 3", /not declared/],
    ["kubectl -n monitor get pods", /no namespace "monitor"/],
    ["npx mocha test/nope.test.ts", /no such file/],
    ["npx jest", /not in node_modules/],
    ["terraform apply", /unknown tool/],
  ];
  for (const [text, reason] of bad) {
    it(`fails on \`${text}\``, async () => {
      const result = await checkCommand({ file: "x.md", line: 1, text }, facts);
      assert.equal(result.outcome, "failed", result.detail);
      assert.match(result.detail, reason);
    });
  }

  it("checks every part of a shell line: assignments, $(...), pipes, continued lines", async () => {
    const page = [
      "```bash",
      "PASSWORD=$(npm run --silent outputs -- dev --show-secrets \\",
      "  | node -pe 'JSON.parse(require(\"fs\").readFileSync(0)).grafanaAdminPassword')",
      "export KUBECONFIG=$PWD/kubeconfig; kubectl -n monitoring get pods",
      "```",
    ].join("\n");
    const commands = extractCommands(page, "x.md");
    assert.equal(commands.length, 2, "the continued line is one command");
    for (const command of commands)
      assert.equal((await checkCommand(command, facts)).outcome, "checked", command.text);
    const broken = await checkCommand(
      { file: "x.md", line: 1, text: "X=$(npm run --silent outputs -- qa)" },
      facts,
    );
    assert.equal(broken.outcome, "failed", "a bad command inside $(...) is found");
  });

  it("reads shell blocks and tool spans, not diagrams or prose", () => {
    const page = [
      "Run `npm run plan -- dev` or `the thing`.",
      "```",
      "npm run not-a-command-in-a-diagram",
      "```",
      "```bash",
      "# a comment",
      "npm run up -- dev   # deploy",
      "```",
    ].join("\n");
    assert.deepEqual(
      extractCommands(page, "x.md").map((c) => [c.line, c.text]),
      [
        [1, "npm run plan -- dev"],
        [7, "npm run up -- dev"],
      ],
    );
  });

  it("finds a link to a missing page or heading", () => {
    assert.deepEqual(
      brokenLinks("[a](docs/nope.md) [b](docs/stacks.md#no-such) [c](docs/stacks.md#outputs)", "README.md"),
      [
        "README.md: link docs/nope.md (no such file)",
        "README.md: link docs/stacks.md#no-such (no such heading)",
      ],
    );
  });
});

describe("docs: the policy table lists exactly the rules that run", () => {
  it("docs/policy.md", () => {
    const rows = [...read("docs/policy.md").matchAll(/^\| `([a-z0-9-]+)`/gm)].map((m) => m[1]);
    assert.deepEqual(
      rows,
      policies.map((p) => p.name),
    );
  });
});

import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { PROJECT_DIR, readProject } from "../automation/evaluate";
import { ARGOCD_CHART } from "../components/addons/argocd";
import { ARGO_ROLLOUTS_CHART } from "../components/addons/argo-rollouts";
import { VELERO_CHART } from "../components/addons/backup";
import { ALLOY_CHART, LOKI_CHART } from "../components/addons/logs";
import { TEMPO_CHART } from "../components/addons/traces";
import { GRAFANA_CHART, KUBE_PROMETHEUS_STACK_CHART } from "../components/addons/monitoring";

/** A dependency as a Renovate regex manager extracts it. */
interface Extracted {
  file: string;
  depName?: string;
  datasource?: string;
  registryUrl?: string;
  currentValue?: string;
  currentDigest?: string;
}

interface CustomManager {
  customType: string;
  managerFilePatterns: string[];
  matchStrings: string[];
  depNameTemplate?: string;
  datasourceTemplate?: string;
}

const renovate = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "renovate.json"), "utf8")) as {
  enabledManagers: string[];
  customManagers: CustomManager[];
  packageRules: Array<Record<string, unknown>>;
};

/** Renovate's `/regex/` file patterns (the only form this config uses), as JS regular expressions. */
function filePattern(pattern: string): RegExp {
  const match = /^\/(.+)\/$/.exec(pattern);
  assert.ok(match, `managerFilePatterns entry ${pattern} must be a /regex/`);
  return new RegExp(match[1]!);
}

/** What the custom regex managers extract from one file, the way Renovate applies them (every match). */
export function extract(file: string, content: string, managers: CustomManager[]): Extracted[] {
  const found: Extracted[] = [];
  for (const manager of managers) {
    if (!manager.managerFilePatterns.some((p) => filePattern(p).test(file))) continue;
    for (const source of manager.matchStrings) {
      for (const m of content.matchAll(new RegExp(source, "g"))) {
        const g = m.groups ?? {};
        found.push({
          file,
          depName: g.depName ?? manager.depNameTemplate,
          datasource: g.datasource ?? manager.datasourceTemplate,
          registryUrl: g.registryUrl,
          currentValue: g.currentValue,
          currentDigest: g.currentDigest,
        });
      }
    }
  }
  return found;
}

const read = (file: string) => fs.readFileSync(path.join(PROJECT_DIR, file), "utf8");
const EXACT_VERSION = /^v?\d+\.\d+\.\d+$/;
const PINNED_IMAGE = /^(?<name>[\w./-]+):(?<tag>[\w.-]+)@(?<digest>sha256:[a-f0-9]{64})$/;

/** A pin the project holds: where, and the version (and digest) a manager must see. */
interface Pin {
  where: string;
  file: string;
  version: string;
  digest?: string;
}

function pinsOfPulumiYaml(): Pin[] {
  const pins: Pin[] = [];
  for (const [key, spec] of Object.entries(readProject().config ?? {})) {
    const value = String((spec as { default?: unknown }).default ?? "");
    const image = PINNED_IMAGE.exec(value)?.groups;
    if (image) pins.push({ where: key, file: "Pulumi.yaml", version: image.tag!, digest: image.digest });
    else if (EXACT_VERSION.test(value)) pins.push({ where: key, file: "Pulumi.yaml", version: value });
  }
  return pins;
}

function filesUnder(dir: string, suffix: string): string[] {
  return fs
    .readdirSync(path.join(PROJECT_DIR, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(suffix))
    .map((f) => path.posix.join(dir, f.split(path.sep).join("/")));
}

/** Digest-pinned image literals in the program's TypeScript (constants like the Velero plugin). */
function pinsOfSources(): Pin[] {
  const pins: Pin[] = [];
  for (const file of [...filesUnder("components", ".ts"), ...filesUnder("automation", ".ts")]) {
    for (const m of read(file).matchAll(/"([\w./-]+:[\w.-]+@sha256:[a-f0-9]{64})"/g)) {
      const image = PINNED_IMAGE.exec(m[1]!)!.groups!;
      pins.push({ where: m[1]!, file, version: image.tag!, digest: image.digest });
    }
    // Tool versions the program installs itself (minimums, MIN_*, are not pins).
    for (const m of read(file).matchAll(/export const ((?!MIN_)\w+_VERSION) = "(\d+\.\d+\.\d+)"/g)) {
      pins.push({ where: `${file} ${m[1]}`, file, version: m[2]! });
    }
  }
  return pins;
}

function uncovered(pins: Pin[]): Pin[] {
  const extracted = new Map<string, Extracted[]>();
  const of = (file: string) => {
    if (!extracted.has(file)) extracted.set(file, extract(file, read(file), renovate.customManagers));
    return extracted.get(file)!;
  };
  return pins.filter(
    (pin) =>
      !of(pin.file).some(
        (e) =>
          e.depName &&
          e.datasource &&
          e.currentValue === pin.version &&
          (pin.digest === undefined || e.currentDigest === pin.digest),
      ),
  );
}

describe("renovate: every pin is kept current", () => {
  it("uses current Renovate keys only (managerFilePatterns, customManagers)", () => {
    const text = read("renovate.json");
    for (const legacy of ["fileMatch", "regexManagers", "matchPackagePatterns"]) {
      assert.ok(!text.includes(`"${legacy}"`), `${legacy} is a legacy Renovate option`);
    }
    assert.ok(renovate.customManagers.every((m) => m.customType === "regex"));
    for (const manager of renovate.customManagers) {
      manager.managerFilePatterns.forEach(filePattern);
      for (const s of manager.matchStrings) assert.doesNotThrow(() => new RegExp(s), s);
    }
  });

  it("covers every version and image pinned in Pulumi.yaml", () => {
    const pins = pinsOfPulumiYaml();
    assert.ok(pins.length >= 7, `found ${pins.length} pins`);
    assert.deepEqual(uncovered(pins), []);
  });

  it("reads each chart from the repository the program installs it from", () => {
    const charts = extract("Pulumi.yaml", read("Pulumi.yaml"), renovate.customManagers).filter(
      (e) => e.datasource === "helm",
    );
    // Every ChartSource the program declares (components/**/*.ts), so a new add-on cannot be missed.
    const sources = filesUnder("components", ".ts").flatMap((file) =>
      [...read(file).matchAll(/: ChartSource = \{\s*repo: "([^"]+)",\s*chart: "([^"]+)",?\s*\}/g)].map(
        ([, repo, chart]) => ({ repo: repo!, chart: chart! }),
      ),
    );
    for (const known of [
      ARGOCD_CHART,
      KUBE_PROMETHEUS_STACK_CHART,
      GRAFANA_CHART,
      VELERO_CHART,
      LOKI_CHART,
      ALLOY_CHART,
      TEMPO_CHART,
      ARGO_ROLLOUTS_CHART,
    ]) {
      assert.ok(
        sources.some((s) => s.repo === known.repo && s.chart === known.chart),
        known.chart,
      );
    }
    assert.deepEqual(
      charts.map((c) => `${c.registryUrl}#${c.depName}`).sort(),
      sources.map((s) => `${s.repo}#${s.chart}`).sort(),
    );
  });

  it("covers every digest-pinned image and tool version in components/ and automation/", () => {
    const pins = pinsOfSources();
    assert.ok(pins.length >= 1);
    assert.deepEqual(uncovered(pins), []);
    const busybox = extract(
      "components/addons/monitoring.ts",
      read("components/addons/monitoring.ts"),
      renovate.customManagers,
    );
    assert.ok(busybox.some((e) => e.depName === "busybox" && EXACT_VERSION.test(e.currentValue ?? "")));
  });

  it("covers every Dockerfile base image, and FROM lines only use those ARGs", () => {
    const dockerfiles = ["app/Dockerfile", "gitserver/Dockerfile"];
    assert.deepEqual(
      fs
        .readdirSync(PROJECT_DIR, { recursive: true, encoding: "utf8" })
        .filter(
          (f) => path.basename(f) === "Dockerfile" && !f.includes("node_modules") && !f.startsWith("."),
        ),
      dockerfiles,
      "every Dockerfile of the project is checked here",
    );
    for (const file of dockerfiles) {
      const content = read(file);
      const args = [...content.matchAll(/^ARG (\w+)=(\S+)$/gm)];
      assert.ok(args.length > 0);
      const pins = args.map(([, name, image]) => {
        const parsed = PINNED_IMAGE.exec(image!)?.groups;
        assert.ok(parsed, `${file}: ARG ${name} must be an image pinned by tag and digest (${image})`);
        return { where: `${file} ${name}`, file, version: parsed.tag!, digest: parsed.digest };
      });
      assert.deepEqual(uncovered(pins), []);
      for (const [line] of content.matchAll(/^FROM .+$/gm)) {
        assert.match(line, /^FROM \$\{\w+\}( AS \w[\w-]*)?$/, `${file}: ${line}`);
      }
    }
  });

  it("covers the workflows: actions by SHA with their version, the Pulumi CLI, Node from .nvmrc", () => {
    assert.ok(renovate.enabledManagers.includes("github-actions"));
    for (const file of filesUnder(".github/workflows", ".yml")) {
      const content = read(file);
      for (const [line] of content.matchAll(/uses: .+$/gm)) {
        assert.match(line, /^uses: [\w.-]+\/[\w./-]+@[a-f0-9]{40} # v\d+\.\d+\.\d+$/, `${file}: ${line}`);
      }
      const cli = [...content.matchAll(/pulumi-version: (\S+)/g)].map((m) => ({
        where: `${file} pulumi-version`,
        file,
        version: m[1]!,
      }));
      assert.deepEqual(uncovered(cli), []);
      assert.doesNotMatch(content, /node-version:/, `${file}: Node comes from .nvmrc (node-version-file)`);
    }
  });

  it("keeps one Node.js line: .nvmrc, engines, @types/node and the app's base images", () => {
    assert.ok(renovate.enabledManagers.includes("nvm"));
    const nvmrc = read(".nvmrc").trim();
    assert.match(nvmrc, /^\d+\.\d+\.\d+$/);
    const major = nvmrc.split(".")[0]!;
    for (const file of ["package.json", "app/package.json"]) {
      const pkg = JSON.parse(read(file)) as {
        engines: { node: string };
        devDependencies: Record<string, string>;
      };
      assert.match(pkg.engines.node, new RegExp(`^\\^${major}\\.\\d+\\.\\d+$`), `${file} engines`);
      assert.equal(pkg.devDependencies["@types/node"]!.split(".")[0], major, `${file} @types/node`);
    }
    for (const [, image] of read("app/Dockerfile").matchAll(/^ARG \w+=node:(\d+)\./gm)) {
      assert.equal(image, major, "app/Dockerfile node image");
    }
  });

  it("the coverage check reports a pin that no manager extracts", () => {
    const content =
      "config:\n  someImage:\n    type: string\n    default: nginx:1.29.0@sha256:" + "a".repeat(64);
    assert.deepEqual(extract("Pulumi.yaml", content, renovate.customManagers), []);
    const annotated = content.replace(
      "  someImage:",
      "  # renovate: datasource=docker depName=nginx\n  someImage:",
    );
    assert.deepEqual(extract("Pulumi.yaml", annotated, renovate.customManagers), [
      {
        file: "Pulumi.yaml",
        depName: "nginx",
        datasource: "docker",
        registryUrl: undefined,
        currentValue: "1.29.0",
        currentDigest: `sha256:${"a".repeat(64)}`,
      },
    ]);
    assert.ok(parse(content), "the fixture is YAML");
  });
});

import * as fs from "node:fs";
import * as path from "node:path";
import { parseAllDocuments } from "yaml";
import { ofType } from "../../automation/evaluate";
import { helm, ROOT } from "./helm";
import { evaluated } from "./stacks";

const DIR = path.join(ROOT, ".cache", "platform-values");

/**
 * The values Argo CD hands the demo-app chart of a stack besides its value files, found the way Argo CD
 * finds them: the root Application Pulumi creates (evaluated under mocks) renders the real apps chart,
 * whose demo-app Application carries them as `valuesObject`. Written to a file for `helm -f`; undefined
 * when the stack passes none (dev).
 */
export async function platformValuesFile(stack: string): Promise<string | undefined> {
  const evaluation = await evaluated(stack);
  const [root] = ofType(evaluation, "kubernetes:argoproj.io/v1alpha1:Application").filter((r) =>
    r.name.endsWith("-root"),
  );
  if (!root) throw new Error(`${stack}: no root Application`);
  const source = (root.inputs.spec as { source: { path: string; helm: { valuesObject: object } } }).source;
  fs.mkdirSync(DIR, { recursive: true });
  const rootFile = path.join(DIR, `${stack}-root.json`);
  fs.writeFileSync(rootFile, JSON.stringify(source.helm.valuesObject));
  const result = helm(["template", "apps", source.path, "-f", rootFile]);
  if (result.status !== 0) throw new Error(`apps chart of ${stack}: ${result.stderr}`);
  type ChartSource = { helm?: { valuesObject?: object } };
  const app = parseAllDocuments(result.stdout)
    .map(
      (d) =>
        d.toJSON() as { metadata: { name: string }; spec: { source?: ChartSource; sources?: ChartSource[] } },
    )
    .find((a) => a.metadata.name === "demo-app");
  // A single source, or (image file on deploy/<env>) the chart as the first of several.
  const values = (app?.spec.source ?? app?.spec.sources?.[0])?.helm?.valuesObject;
  if (!values) return undefined;
  const file = path.join(DIR, `${stack}.json`);
  fs.writeFileSync(file, JSON.stringify(values));
  return file;
}

/**
 * `helm template` arguments of the demo-app chart of `env` as Argo CD renders it: the env values, the
 * image file (default the committed one) and the platform's values.
 */
export async function demoAppTemplateArgs(
  env: string,
  imageFile = `gitops/envs/${env}/image.yaml`,
): Promise<string[]> {
  const platform = await platformValuesFile(env);
  return [
    "template",
    "demo-app",
    "gitops/charts/demo-app",
    "--namespace",
    "demo-app",
    "-f",
    `gitops/envs/${env}/values.yaml`,
    "-f",
    imageFile,
    ...(platform ? ["-f", platform] : []),
  ];
}

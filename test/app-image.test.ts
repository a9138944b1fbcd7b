import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  MOCK_STACK_REFERENCE_DIGEST,
  MOCK_STACK_REFERENCE_TAG,
  ofType,
  PROJECT_DIR,
  type Evaluation,
} from "../automation/evaluate";
import { IMAGE_COMMIT_MARKER } from "../components/gitops/gitops";
import { contentHash, imageTag } from "../components/image/image-tag";
import { evaluated } from "./support/stacks";

const DIGEST_REF = /@sha256:[a-f0-9]{64}$/;

describe("AppImage: tag", () => {
  it("is the content hash of the build context: same source, same tag, in CI and locally alike", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ctx-"));
    try {
      fs.writeFileSync(path.join(dir, "Dockerfile"), "FROM scratch\n");
      fs.mkdirSync(path.join(dir, "node_modules"));
      fs.writeFileSync(path.join(dir, "node_modules", "x.js"), "ignored");
      const first = imageTag(dir);
      assert.match(first, /^[0-9a-f]{12}$/);
      assert.equal(first, contentHash(dir).slice(0, 12));
      // What CI used to mix in (commit, run number) changes nothing now.
      const saved = { sha: process.env.GITHUB_SHA, run: process.env.GITHUB_RUN_NUMBER };
      process.env.GITHUB_SHA = "0123456789abcdef0123456789abcdef01234567";
      process.env.GITHUB_RUN_NUMBER = "42";
      try {
        assert.equal(imageTag(dir), first, "no commit id or run number in the tag");
      } finally {
        for (const [k, v] of [
          ["GITHUB_SHA", saved.sha],
          ["GITHUB_RUN_NUMBER", saved.run],
        ] as const) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
      fs.writeFileSync(path.join(dir, "node_modules", "x.js"), "still ignored");
      assert.equal(imageTag(dir), first, "node_modules does not affect the tag");
      fs.writeFileSync(path.join(dir, "Dockerfile"), "FROM scratch\nUSER 1\n");
      assert.notEqual(imageTag(dir), first, "a change to the source is a new tag");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the committed stacks tag and label the image with the app's content hash only", async () => {
    const e = await evaluated("staging");
    const img = ofType(e, "docker-build:index:Image")[0]!;
    const tag = contentHash(path.join(PROJECT_DIR, "app")).slice(0, 12);
    assert.deepEqual(img.inputs.tags, [`ghcr.io/gitops-platform/demo-app:${tag}`]);
    assert.deepEqual(img.inputs.labels, { "org.opencontainers.image.version": tag });
  });
});

describe("AppImage: per registry", () => {
  const evaluations = new Map<string, Evaluation>();
  before(async () => {
    for (const stack of ["dev", "staging", "prod"]) evaluations.set(stack, await evaluated(stack));
  });
  const image = (stack: "dev" | "staging") => {
    const images = ofType(evaluations.get(stack)!, "docker-build:index:Image");
    assert.equal(images.length, 1);
    return images[0]!;
  };

  it("dev pushes to the kind registry, native platform, no credentials, after the cluster", () => {
    const img = image("dev");
    assert.match((img.inputs.tags as string[])[0]!, /^localhost:5001\/demo-app:[0-9a-f]{12}$/);
    assert.equal(img.inputs.push, true);
    assert.equal(img.inputs.platforms, undefined);
    assert.equal(img.inputs.registries, undefined);
    assert.equal(img.inputs.buildOnPreview, false, "previews need no Docker daemon");
    const component = ofType(evaluations.get("dev")!, "gitops-platform:app:AppImage")[0]!;
    const registry = ofType(evaluations.get("dev")!, "docker:index/container:Container").find((r) =>
      r.name.endsWith("-registry"),
    )!;
    assert.ok(component.dependsOn.includes(registry.urn), "the registry exists before the push");
    assert.match(
      String(evaluations.get("dev")!.outputs.appImage),
      /^localhost:5001\/demo-app@sha256:[a-f0-9]{64}$/,
    );
  });

  it("staging pushes multi-platform to GHCR with the builder's login, keeping no token in the state", () => {
    const img = image("staging");
    assert.match((img.inputs.tags as string[])[0]!, /^ghcr\.io\/gitops-platform\/demo-app:/);
    assert.deepEqual(img.inputs.platforms, ["linux/amd64", "linux/arm64"]);
    assert.equal(img.inputs.registries, undefined, "deploy.yml logs in with the job's GITHUB_TOKEN");
    assert.match(String(evaluations.get("staging")!.outputs.appImage), DIGEST_REF);
  });

  it("prod pushes multi-platform to a scanned, immutable ECR repository with a lifecycle rule", () => {
    const e = evaluations.get("prod")!;
    const repo = ofType(e, "aws:ecr/repository:Repository")[0]!;
    assert.deepEqual(repo.inputs.imageScanningConfiguration, { scanOnPush: true });
    assert.equal(repo.inputs.imageTagMutability, "IMMUTABLE");
    assert.equal(repo.inputs.name, "gitops-prod/demo-app");
    const lifecycle = ofType(e, "aws:ecr/lifecyclePolicy:LifecyclePolicy")[0]!;
    const rule = (
      JSON.parse(String(lifecycle.inputs.policy)) as { rules: Array<{ selection: { countNumber: number } }> }
    ).rules[0]!;
    assert.equal(rule.selection.countNumber, 30);
    // Prod builds nothing: it promotes the digest staging runs (a marked placeholder under mocks).
    assert.equal(ofType(e, "docker-build:index:Image").length, 0, "no image build in prod");
    const copy = ofType(e, "command:local:Command").find((c) => c.name.endsWith("-promotion-copy"))!;
    const env = copy.inputs.environment as Record<string, string>;
    assert.equal(env.DIGEST, MOCK_STACK_REFERENCE_DIGEST);
    assert.equal(env.SRC_REPO, "ghcr.io/gitops-platform/demo-app");
    assert.equal(env.DST_REPO, "123456789012.dkr.ecr.eu-west-1.amazonaws.com/gitops-prod/demo-app");
    assert.deepEqual(
      Object.keys(env).sort(),
      ["DIGEST", "DST_REPO", "SRC_REPO", "TAG"],
      "no registry credential in the state: skopeo uses the job's logins",
    );
    assert.deepEqual(copy.inputs.triggers, [env.DIGEST, env.DST_REPO], "keyed on the digest");
    assert.match(String(copy.inputs.create), /skopeo copy --all --preserve-digests/);
    assert.equal(e.outputs.appImage, `${env.DST_REPO}@${MOCK_STACK_REFERENCE_DIGEST}`);
    const source = ofType(e, "pulumi:pulumi:StackReference").find((r) =>
      r.name.endsWith("-promotion-source"),
    )!;
    assert.equal(source.inputs.name, "organization/gitops-platform/staging");
    assert.match(
      String((source.inputs.outputs as Record<string, unknown>).placeholder),
      /^offline plan: mocked outputs/,
    );
    const file = ofType(e, "github:index/repositoryFile:RepositoryFile").find((f) =>
      f.name.endsWith("-image-file"),
    )!;
    assert.equal(
      file.inputs.commitMessage,
      `deploy(prod): ${env.DST_REPO}:${MOCK_STACK_REFERENCE_TAG}@${MOCK_STACK_REFERENCE_DIGEST} promoted from staging ${IMAGE_COMMIT_MARKER}`,
      "main's format, the source env before the marker",
    );
  });

  it("staging still builds, and its image file commit names the image, no source env", () => {
    const e = evaluations.get("staging")!;
    const img = image("staging");
    const file = ofType(e, "github:index/repositoryFile:RepositoryFile").find((f) =>
      f.name.endsWith("-image-file"),
    )!;
    assert.match(
      String(file.inputs.commitMessage),
      new RegExp(
        `^deploy\\(staging\\): ghcr\\.io/gitops-platform/demo-app:[0-9a-f]{12}@sha256:[a-f0-9]{64} \\[image-commit\\]$`,
      ),
    );
    assert.deepEqual(img.inputs.platforms, ["linux/amd64", "linux/arm64"]);
    assert.match(String(e.outputs.appImage), DIGEST_REF);
    assert.equal(e.outputs.appImageDigest, String(e.outputs.appImage).split("@")[1]);
    const history = e.outputs.deployedImages as Array<{ digest: string }>;
    assert.equal(history.at(-1)!.digest, e.outputs.appImageDigest, "the history ends with this deploy");
  });
});

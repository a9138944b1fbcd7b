import { strict as assert } from "node:assert";
import { evaluateStack, MOCK_STACK_REFERENCE_DIGEST, ofType } from "../automation/evaluate";
import { appendHistory, HISTORY_LIMIT, resolvePin } from "../components/image/image-history";
import { checkPromotion } from "../components/image/promotion";

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;
const img = (n: number) => ({ repository: "ghcr.io/o/demo-app", tag: `t${n}`, digest: digest(n) });

describe("promotion and pins", () => {
  it("refuses to promote a digest the source stack does not run", () => {
    assert.doesNotThrow(() => checkPromotion("staging", digest(1), undefined));
    assert.doesNotThrow(() => checkPromotion("staging", digest(1), digest(1)));
    assert.throws(
      () => checkPromotion("staging", digest(1), digest(2)),
      /promotion refused: sha256:0+2 is not the digest stack "staging" runs \(sha256:0+1\)/,
    );
    assert.throws(
      () => checkPromotion("staging", undefined as unknown as string, undefined),
      /deploy that stack first/,
    );
  });

  it("keeps a bounded history, the current image last, each digest once", () => {
    let history = appendHistory(undefined, img(1));
    history = appendHistory(history, img(2));
    history = appendHistory(history, img(1));
    assert.deepEqual(
      history.map((h) => h.tag),
      ["t2", "t1"],
    );
    for (let n = 3; n < 40; n++) history = appendHistory(history, img(n));
    assert.equal(history.length, HISTORY_LIMIT);
    assert.equal(history.at(-1)!.digest, digest(39));
    assert.deepEqual(appendHistory([{ junk: true }, "x"], img(1)), [img(1)], "malformed entries are dropped");
  });

  it("pins only a digest the stack deployed", () => {
    assert.deepEqual(resolvePin(digest(2), [img(1), img(2)], "prod"), img(2));
    assert.throws(
      () => resolvePin(digest(9), [img(1)], "prod"),
      /appImagePin: sha256:0+9 was never deployed by stack "prod"/,
    );
  });

  it("prod with PROMOTE_DIGEST other than what staging runs fails the program, naming both", async () => {
    process.env.PROMOTE_DIGEST = digest(7);
    try {
      const e = await evaluateStack("prod");
      assert.match(
        String(e.error?.message),
        /promotion refused: sha256:0+7 is not the digest stack "organization\/gitops-platform\/staging" runs/,
      );
    } finally {
      delete process.env.PROMOTE_DIGEST;
    }
  });

  it("a pinned prod keeps its ECR repository (the images it points at) and copies nothing", async () => {
    const before = await evaluateStack("prod");
    const pinned = await evaluateStack("prod", { overrides: { appImagePin: MOCK_STACK_REFERENCE_DIGEST } });
    assert.equal(pinned.error, undefined);
    const repos = (e: typeof before) => ofType(e, "aws:ecr/repository:Repository").map((r) => r.name);
    assert.deepEqual(repos(pinned), repos(before));
    assert.equal(repos(before).length, 1);
    assert.equal(ofType(pinned, "gitops-platform:image:PromotedImage").length, 0);
  });

  it("a pinned stack builds and copies nothing and commits the pin", async () => {
    const e = await evaluateStack("staging", { overrides: { appImagePin: MOCK_STACK_REFERENCE_DIGEST } });
    assert.equal(e.error, undefined);
    assert.equal(ofType(e, "docker-build:index:Image").length, 0);
    assert.equal(e.outputs.appImageDigest, MOCK_STACK_REFERENCE_DIGEST);
    const file = ofType(e, "github:index/repositoryFile:RepositoryFile").find((f) =>
      f.name.endsWith("-image-file"),
    )!;
    assert.match(
      String(file.inputs.commitMessage),
      /^deploy\(staging\): ghcr\.io\/gitops-platform\/demo-app:0{12}@sha256:0{64} pinned by npm run rollback \(appImagePin\) \[image-commit\]$/,
    );
  });
});

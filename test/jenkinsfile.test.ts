/** The Jenkinsfile: the same stages as GitHub Actions, calling only scripts and driver command lines that exist. */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "../automation/args";
import { knownStacks, PROJECT_DIR } from "../automation/stack-files";

const jenkinsfile = fs.readFileSync(path.join(PROJECT_DIR, "Jenkinsfile"), "utf8");

describe("Jenkinsfile", () => {
  it("has the stages test, preview, deploy staging, approve, promote prod, in that order", () => {
    const stages = [...jenkinsfile.matchAll(/stage\('([^']+)'\)/g)].map((m) => m[1]);
    assert.deepEqual(stages, ["Test", "Preview", "Deploy staging", "Approve", "Promote prod"]);
    const approve = jenkinsfile.slice(jenkinsfile.indexOf("stage('Approve')"));
    assert.match(approve.slice(0, approve.indexOf("stage('Promote prod')")), /input message:/);
  });

  it("calls only npm scripts package.json has, and the driver with command lines it accepts", () => {
    const scripts = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "package.json"), "utf8")).scripts;
    const calls = [...jenkinsfile.matchAll(/npm run (?:--silent )?([\w:-]+)(?: -- ([^'"&|\n]*))?/g)];
    assert.ok(calls.length >= 5);
    for (const [, script, rest] of calls) {
      assert.ok(script! in scripts, `npm run ${script} is not in package.json`);
      if (["preview", "up", "outputs"].includes(script!)) {
        assert.doesNotThrow(() => parseArgs([script!, ...rest!.trim().split(/\s+/)], knownStacks()), rest);
      }
    }
    assert.match(jenkinsfile, /npm ci && npm test/);
  });

  it("prod promotes the digest staging reports, never building", () => {
    assert.match(jenkinsfile, /env\.PROMOTE_DIGEST = sh\([\s\S]*appImageDigest/);
    const promote = jenkinsfile.slice(jenkinsfile.indexOf("stage('Promote prod')"));
    assert.match(promote, /npm run up -- prod/);
    assert.doesNotMatch(jenkinsfile, /docker (build|push)/);
  });
});

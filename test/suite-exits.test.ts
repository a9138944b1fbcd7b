import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { PROJECT_DIR } from "../automation/evaluate";

const FIXTURE = path.join(__dirname, "fixtures", "hanging", "hangs.fixture.ts");
const MOCHA = path.join(PROJECT_DIR, "node_modules", "mocha", "bin", "mocha.js");

describe("the suite fails, never hangs", () => {
  it("mocha with this project's .mocharc.json exits non-zero soon after a test and its after-hook time out", async function () {
    const testTimeoutMs = 1000;
    // Generous margin for a loaded 2-core machine: start-up (tsx) plus the two timeouts; a hang is forever.
    const giveUpMs = 15_000;
    this.timeout(giveUpMs + 5000);
    const config = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, ".mocharc.json"), "utf8")) as {
      exit?: boolean;
      timeout?: number;
    };
    assert.equal(config.exit, true, ".mocharc.json must set exit: true");
    assert.ok(config.timeout && config.timeout <= 60_000, ".mocharc.json must bound every test");

    // The project's own config file, with only the timeout shortened so the check is quick.
    const child = spawn(
      process.execPath,
      [MOCHA, "--config", ".mocharc.json", "--timeout", String(testTimeoutMs), "--reporter", "dot", FIXTURE],
      { cwd: PROJECT_DIR, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr.on("data", (c: Buffer) => (output += c.toString()));
    const outcome = await new Promise<{ code: number | null } | "hung">((resolve) => {
      const timer = setTimeout(() => resolve("hung"), giveUpMs);
      child.on("exit", (code) => {
        clearTimeout(timer);
        resolve({ code });
      });
    });
    if (outcome === "hung") {
      child.kill("SIGKILL");
      assert.fail(`mocha did not exit within ${giveUpMs} ms:\n${output}`);
    }
    assert.ok(outcome.code !== 0 && outcome.code !== null, `exit code ${outcome.code}:\n${output}`);
    assert.match(output, /Timeout of 1000ms exceeded/);
    assert.match(output, /"after all" hook/);
  });
});

import { strict as assert } from "node:assert";
import { Registry } from "prom-client";
import { commitTimeSeconds, registerBuildInfo } from "../src/build-info";
import { ConfigError } from "../src/config";

describe("app: build info and commit time metrics", () => {
  it("exports what runs, and the commit time from GIT_COMMIT_TIME", async () => {
    const registry = new Registry();
    registerBuildInfo(
      registry,
      { version: "1.2.3", commit: "abcdef0", env: "prod" },
      { GIT_COMMIT_TIME: "2026-01-31T12:00:00Z" },
    );
    const text = await registry.metrics();
    assert.match(text, /^app_build_info\{version="1\.2\.3",commit="abcdef0",env="prod"\} 1$/m);
    assert.match(text, /^app_commit_timestamp_seconds 1769860800$/m);
  });

  it("without GIT_COMMIT_TIME there is no commit time series", async () => {
    const registry = new Registry();
    registerBuildInfo(registry, { version: "1", commit: "unknown", env: "dev" }, {});
    assert.doesNotMatch(await registry.metrics(), /app_commit_timestamp_seconds \d/);
  });

  it("reads RFC 3339 or Unix seconds, and names the variable on anything else", () => {
    assert.equal(commitTimeSeconds("1769860800"), 1769860800);
    assert.equal(commitTimeSeconds("2026-01-31T13:00:00+01:00"), 1769860800);
    assert.equal(commitTimeSeconds(undefined), undefined);
    assert.throws(
      () => commitTimeSeconds("yesterday"),
      (err: unknown) =>
        err instanceof ConfigError &&
        /GIT_COMMIT_TIME="yesterday": must be an RFC 3339 time/.test(err.message),
    );
  });
});

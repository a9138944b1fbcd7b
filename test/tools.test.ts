/**
 * The tool downloader against a real HTTP server on 127.0.0.1: a pinned checksum is accepted, a
 * mismatch refused with nothing left behind, redirects followed (GitHub release assets redirect), HTTP
 * errors reported. Plus the pins themselves.
 */
import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { MIN_KIND_VERSION, parseVersion, versionAtLeast } from "../automation/prereqs";
import {
  ChecksumMismatch,
  downloadVerified,
  installPlan,
  KIND_SHA256,
  KIND_VERSION,
  kindPlatform,
  kindReleaseUrl,
  PULUMI_CLI_VERSION,
} from "../automation/tools";

const BINARY = Buffer.from("#!/bin/sh\necho 'kind v0.33.0 go1.26 linux/amd64'\n");
const SHA = createHash("sha256").update(BINARY).digest("hex");

describe("tools: verified download from a local HTTP server", () => {
  let server: http.Server;
  let base: string;
  let dir: string;
  const requests: string[] = [];
  before(async () => {
    server = http.createServer((req, res) => {
      requests.push(req.url ?? "");
      if (req.url === "/releases/download/kind") res.writeHead(302, { location: "/objects/kind-blob" }).end();
      else if (req.url === "/objects/kind-blob") res.writeHead(200).end(BINARY);
      else res.writeHead(404).end("not found");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tools-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("accepts the pinned checksum: the file appears executable, following the redirect", async () => {
    const dest = path.join(dir, "bin", "kind");
    await downloadVerified(`${base}/releases/download/kind`, SHA, dest);
    assert.deepEqual(fs.readFileSync(dest), BINARY);
    assert.equal(fs.statSync(dest).mode & 0o777, 0o755);
    assert.deepEqual(fs.readdirSync(path.dirname(dest)), ["kind"], "no temporary file left");
    assert.deepEqual(requests.slice(-2), ["/releases/download/kind", "/objects/kind-blob"]);
  });

  it("refuses a mismatch with a clear error and leaves nothing behind, not even an older file", async () => {
    const dest = path.join(dir, "bin", "kind");
    const wrong = "0".repeat(64);
    const err = await downloadVerified(`${base}/releases/download/kind`, wrong, dest).then(
      () => assert.fail("accepted a wrong checksum"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ChecksumMismatch);
    assert.match(err.message, new RegExp(`SHA-256 ${SHA} does not match the pinned ${wrong}`));
    assert.match(err.message, /the download was deleted, nothing was installed/);
    assert.deepEqual(fs.readdirSync(path.dirname(dest)), [], "neither the file nor its temporary copy");
  });

  it("reports an HTTP error and leaves nothing behind", async () => {
    const dest = path.join(dir, "kind");
    await assert.rejects(downloadVerified(`${base}/nope`, SHA, dest), /\/nope: HTTP 404/);
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  it("refuses a pin that is not a SHA-256 before downloading", async () => {
    const before = requests.length;
    await assert.rejects(
      downloadVerified(`${base}/releases/download/kind`, "abc", path.join(dir, "k")),
      /not 64 hex/,
    );
    assert.equal(requests.length, before);
  });
});

describe("tools: pins", () => {
  it("the Pulumi CLI pin is the @pulumi/pulumi SDK version the program is built with", () => {
    const sdk = JSON.parse(fs.readFileSync(require.resolve("@pulumi/pulumi/package.json"), "utf8")) as {
      version: string;
    };
    assert.equal(PULUMI_CLI_VERSION, sdk.version);
  });

  it("the kind it fetches passes the driver's own kind check", () => {
    assert.ok(
      versionAtLeast(parseVersion(KIND_VERSION)!, MIN_KIND_VERSION),
      `${KIND_VERSION} >= ${MIN_KIND_VERSION}`,
    );
  });

  it("kind checksums are SHA-256 values of its release assets; other platforms are not fetched", () => {
    for (const [platform, sha] of Object.entries(KIND_SHA256)) {
      assert.match(platform, /^(linux|darwin|windows)-(amd64|arm64)$/);
      assert.match(sha, /^[a-f0-9]{64}$/);
    }
    assert.equal(
      kindReleaseUrl("linux-amd64"),
      `https://github.com/kubernetes-sigs/kind/releases/download/v${KIND_VERSION}/kind-linux-amd64`,
    );
    assert.equal(kindPlatform("linux", "x64"), "linux-amd64");
    assert.equal(kindPlatform("darwin", "arm64"), "darwin-arm64");
    const plan = installPlan("kind", "/p", "windows-amd64");
    assert.ok("unavailable" in plan && /no pinned SHA-256 for kind-windows-amd64/.test(plan.unavailable));
  });
});

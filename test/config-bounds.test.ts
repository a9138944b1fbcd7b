import { strict as assert } from "node:assert";
import { ConfigError, CONFIG_NAMESPACE, parsePlatformConfig } from "../components/config";
import { readProject, resolveStackConfig } from "../automation/evaluate";

/**
 * Every bound of a config value, tried at the bound (accepted) and just outside it (rejected, naming the
 * key and the value) on both sides: a loosened or tightened bound fails here even when its message
 * stayed. Every integer key of Pulumi.yaml needs a line; a side with no bound of its own says why.
 */
interface Bound {
  stack: string;
  /** Values at the bound, accepted; then the values just outside it, rejected. */
  inside: readonly unknown[];
  outside: readonly unknown[];
  /** Companion keys that make the values at the bound valid (e.g. node sizes in order). */
  with?: Record<string, unknown>;
  /** Why a side has no bound of its own. */
  unbounded?: string;
}

const BOUNDS: Record<string, Bound> = {
  kindWorkerNodes: { stack: "dev", inside: [0, 5], outside: [-1, 6] },
  appNodePort: { stack: "dev", inside: [30000, 32767], outside: [29999, 32768] },
  argocdNodePort: { stack: "dev", inside: [30000, 32767], outside: [29999, 32768] },
  grafanaNodePort: { stack: "dev", inside: [30000, 32767], outside: [29999, 32768] },
  localRegistryPort: { stack: "dev", inside: [1024, 65535], outside: [1023, 65536] },
  s3Port: { stack: "dev", inside: [1024, 65535], outside: [1023, 65536] },
  localGitPort: { stack: "dev", inside: [1024, 65535], outside: [1023, 65536] },
  nodeMinSize: {
    stack: "staging",
    inside: [1],
    outside: [0],
    with: { nodeDesiredSize: 2, nodeMaxSize: 4 },
    unbounded: "above: at most nodeMaxSize, a cross-field rule (test/config.test.ts)",
  },
  nodeDesiredSize: {
    stack: "staging",
    inside: [1],
    outside: [0],
    with: { nodeMinSize: 1 },
    unbounded: "above: at most nodeMaxSize, a cross-field rule (test/config.test.ts)",
  },
  nodeMaxSize: {
    stack: "staging",
    inside: [1, 100],
    outside: [0, 101],
    with: { nodeMinSize: 1, nodeDesiredSize: 1 },
  },
  nodeDiskSizeGiB: { stack: "staging", inside: [20, 1000], outside: [19, 1001] },
  ecrKeepImages: { stack: "prod", inside: [1, 1000], outside: [0, 1001] },
  prometheusStorageGiB: { stack: "dev", inside: [1, 1000], outside: [0, 1001] },
  backupRetentionDays: { stack: "dev", inside: [1, 365], outside: [0, 366] },
  logRetentionDays: { stack: "dev", inside: [1, 365], outside: [0, 366] },
  traceRetentionDays: { stack: "dev", inside: [1, 90], outside: [0, 91] },
  // A bucket of the app's duration histogram: the first and the last, and just past each.
  sloLatencyThresholdMs: { stack: "dev", inside: [5, 5000], outside: [4, 5001] },

  vpcCidr: {
    stack: "staging",
    inside: ["10.0.0.0/16", "10.0.0.0/24"],
    outside: ["10.0.0.0/15", "10.0.0.0/25"],
  },
  availabilityZones: {
    stack: "staging",
    inside: [
      ["eu-west-1a", "eu-west-1b"],
      ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
    ],
    outside: [["eu-west-1a"], ["eu-west-1a", "eu-west-1b", "eu-west-1c", "eu-west-1d"]],
  },
  kubernetesVersion: { stack: "staging", inside: ["1.35", "1.36"], outside: ["1.34", "1.37"] },
  clusterName: { stack: "dev", inside: ["a", "a".repeat(63)], outside: ["", "a".repeat(64)] },
  gitopsRevision: { stack: "dev", inside: ["a", "a".repeat(255)], outside: ["", "a".repeat(256)] },
  prometheusRetention: {
    stack: "dev",
    inside: ["1h", "1y"],
    outside: ["0d"],
    unbounded: "above: any whole number of hours, days, weeks or years",
  },
};

const declared = readProject().config ?? {};
const context = { project: "gitops-platform", stack: "test" };

/** The stack's values as the program receives them (strings), keys without the namespace. */
function rawConfig(stack: string, set: Record<string, unknown>): Record<string, string> {
  const raw: Record<string, string> = {};
  for (const [key, { value }] of Object.entries(resolveStackConfig(stack))) {
    if (key.startsWith(`${CONFIG_NAMESPACE}:`)) raw[key.slice(CONFIG_NAMESPACE.length + 1)] = value;
  }
  for (const [key, value] of Object.entries(set))
    raw[key] = typeof value === "string" ? value : JSON.stringify(value);
  delete raw.ciConfigPassphrase;
  return raw;
}

describe("config: every bound, at it and just outside it on both sides", () => {
  it("has a line for every integer key of Pulumi.yaml", () => {
    const integers = Object.entries(declared)
      .filter(([, d]) => d.type === "integer")
      .map(([k]) => k);
    const missing = integers.filter((k) => !(k in BOUNDS));
    assert.deepEqual(missing, [], `add a line to BOUNDS in ${__filename} for: ${missing.join(", ")}`);
  });

  for (const [key, bound] of Object.entries(BOUNDS)) {
    it(`${key}: accepts ${bound.inside.map((v) => JSON.stringify(v)).join(", ")}; rejects ${bound.outside.map((v) => JSON.stringify(v)).join(", ")}`, () => {
      assert.ok(key in declared, `${key} is declared in Pulumi.yaml`);
      assert.equal(bound.outside.length + (bound.unbounded ? 1 : 0), 2, `${key}: both sides are covered`);
      for (const value of bound.inside) {
        assert.doesNotThrow(
          () => parsePlatformConfig(rawConfig(bound.stack, { ...bound.with, [key]: value }), context),
          `${key}=${JSON.stringify(value)} is inside the bound`,
        );
      }
      for (const value of bound.outside) {
        assert.throws(
          () => parsePlatformConfig(rawConfig(bound.stack, { ...bound.with, [key]: value }), context),
          (err: unknown) => {
            assert.ok(err instanceof ConfigError, String(err));
            assert.match(err.message, new RegExp(`${CONFIG_NAMESPACE}:${key}\\b`));
            if (!Array.isArray(value))
              assert.ok(err.message.includes(`${value}`), `names ${value}: ${err.message}`);
            return true;
          },
          `${key}=${JSON.stringify(value)} is outside the bound`,
        );
      }
    });
  }
});

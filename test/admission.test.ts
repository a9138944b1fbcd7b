/**
 * The cluster's admission policies, evaluated with a real CEL library: exactly the ValidatingAdmissionPolicies
 * each stack creates (read from the offline evaluation), over the demo-app chart as helm renders it for that
 * environment (all admitted), and over mutated objects (each denied with its message). The CEL half and the
 * TypeScript half of every pod rule (policy/pod-rules.ts) are run on the same objects and must agree.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseAllDocuments, stringify } from "yaml";
import {
  IMAGE_SOURCE_POLICY,
  imageSourcePolicySpec,
  POD_SECURITY_POLICY,
  registryPrefixOf,
  type AdmissionPolicySpec,
} from "../components/addons/admission-policies";
import { POD_RULES, podRuleViolations } from "../policy/pod-rules";
import { APP_NAMESPACE_LABEL } from "../policy/rules";
import { denials } from "./support/admission";
import { helm, helmUnavailableReason } from "./support/helm";
import { demoAppTemplateArgs } from "./support/platform-values";
import { evaluated, resourcesOf } from "./support/stacks";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const STACKS = ["dev", "staging", "prod"] as const;
const VAP = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy";
const BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding";
const DIGEST = `sha256:${"4f".repeat(32)}`;

/** The two policies a stack creates, as its evaluation records them. */
async function stackPolicies(stack: string): Promise<Record<string, AdmissionPolicySpec>> {
  const evaluation = await evaluated(stack);
  const policies = resourcesOf(evaluation, VAP);
  return Object.fromEntries(
    policies.map((p) => [p.inputs.metadata.name, p.inputs.spec as AdmissionPolicySpec]),
  );
}

/** The demo-app chart of `env`, with the image file Pulumi would commit for an image in `repository`. */
async function renderChart(env: string, repository: string): Promise<Obj[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "admission-test-"));
  try {
    const imageFile = path.join(dir, "image.yaml");
    fs.writeFileSync(imageFile, stringify({ image: { repository, tag: "abc1234-7", digest: DIGEST } }));
    // With the platform's values too (staging and prod: the ingress host), as Argo CD hands them over.
    const result = helm(await demoAppTemplateArgs(env, imageFile));
    assert.equal(result.status, 0, result.stderr);
    return parseAllDocuments(result.stdout)
      .map((d) => d.toJSON() as Obj | null)
      .filter((o): o is Obj => o !== null);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The app's workload: a Deployment (dev) or an Argo Rollouts Rollout (staging, prod). */
const workloadOf = (objects: Obj[]): Obj => {
  const found = objects.filter((o) => o.kind === "Deployment" || o.kind === "Rollout");
  assert.equal(found.length, 1, `one Deployment or Rollout, got ${found.map((o) => o.kind).join(", ")}`);
  return found[0]!;
};

/**
 * The workload, and the ReplicaSet and Pod its controller makes from it (a Rollout's controller makes
 * plain apps/v1 ReplicaSets too): every object the policies see.
 */
function podCarriers(workload: Obj): Obj[] {
  const template = workload.spec.template;
  return [
    workload,
    {
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      metadata: workload.metadata,
      spec: { replicas: 1, selector: workload.spec.selector, template },
    },
    {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { ...template.metadata, name: "demo-app-x" },
      spec: template.spec,
    },
  ];
}

const container = (o: Obj): Obj => o.spec.template.spec.containers[0];

/** Whether a policy's resource rules match the object's group, version and resource (its kind, plural). */
function policyMatches(policy: AdmissionPolicySpec, object: Obj): boolean {
  const [group, version] = String(object.apiVersion).includes("/")
    ? String(object.apiVersion).split("/")
    : ["", object.apiVersion];
  const resource = `${String(object.kind).toLowerCase()}s`;
  return policy.matchConstraints.resourceRules.some(
    (r) =>
      r.apiGroups.includes(group!) &&
      r.apiVersions.includes(version!) &&
      r.resources.includes(resource) &&
      r.operations.includes("CREATE") &&
      r.operations.includes("UPDATE"),
  );
}
function mutated(workload: Obj, change: (d: Obj) => void): Obj {
  const copy = structuredClone(workload);
  change(copy);
  return copy;
}

/** The rule ids the CEL policy denies, by validation position (one validation per rule, in table order). */
function celFailingRules(policy: AdmissionPolicySpec, object: Obj): string[] {
  const messages = denials(policy, object);
  return POD_RULES.filter((_, i) => messages.includes(policy.validations[i]!.message)).map((r) => r.id);
}

const podSpecOf = (o: Obj): Obj => (o.kind === "Pod" ? o.spec : o.spec.template.spec);
const tsFailingRules = (o: Obj): string[] => [
  ...new Set(podRuleViolations(podSpecOf(o), o.kind).map((v) => v.rule)),
];

describe("admission: ValidatingAdmissionPolicies (CEL) against the rendered chart", function () {
  before(function () {
    const reason = helmUnavailableReason();
    if (reason) {
      if (process.env.CI && process.env.CI !== "false") throw new Error(`helm is required in CI: ${reason}`);
      this.skip();
    }
  });

  for (const stack of STACKS) {
    describe(stack, () => {
      let policies: Record<string, AdmissionPolicySpec>;
      let workload: Obj;
      let prefix: string;
      before(async function () {
        this.timeout(30000);
        policies = await stackPolicies(stack);
        const evaluation = await evaluated(stack);
        prefix = registryPrefixOf(String(evaluation.outputs.appImage).split("@")[0]!);
        workload = workloadOf(await renderChart(stack, `${prefix}demo-app`));
      });

      it("creates the pod-security and image-source policies, bound with Deny to the app namespaces", async () => {
        assert.deepEqual(Object.keys(policies).sort(), [IMAGE_SOURCE_POLICY, POD_SECURITY_POLICY].sort());
        for (const policy of Object.values(policies)) {
          assert.equal(policy.failurePolicy, "Fail");
          assert.ok(policy.validations.length > 0);
        }
        assert.equal(policies[POD_SECURITY_POLICY]!.validations.length, POD_RULES.length, "one per pod rule");
        assert.deepEqual(policies[IMAGE_SOURCE_POLICY], imageSourcePolicySpec(prefix));
        const bindings = resourcesOf(await evaluated(stack), BINDING);
        assert.deepEqual(bindings.map((b) => b.inputs.spec.policyName).sort(), Object.keys(policies).sort());
        for (const b of bindings) {
          assert.deepEqual(b.inputs.spec.validationActions, ["Deny"]);
          assert.deepEqual(b.inputs.spec.matchResources, {
            namespaceSelector: { matchLabels: { [APP_NAMESPACE_LABEL]: "true" } },
          });
        }
      });

      it(`admits the chart's ${stack === "dev" ? "Deployment" : "Rollout"}, its ReplicaSet and its Pod (matched, every CEL expression evaluated)`, () => {
        assert.equal(workload.kind, stack === "dev" ? "Deployment" : "Rollout");
        for (const object of podCarriers(workload)) {
          for (const [name, policy] of Object.entries(policies)) {
            assert.ok(policyMatches(policy, object), `${name} matches the ${object.kind}`);
            assert.deepEqual(denials(policy, object), [], `${name} denies the ${object.kind}`);
          }
        }
      });

      const cases: Array<{ name: string; policy: string; change: (d: Obj) => void; message: RegExp }> = [
        {
          name: "a root user",
          policy: POD_SECURITY_POLICY,
          change: (d) => (container(d).securityContext.runAsUser = 0),
          message: /runAsUser must not be 0/,
        },
        {
          name: "runAsNonRoot off",
          policy: POD_SECURITY_POLICY,
          change: (d) => {
            delete container(d).securityContext.runAsNonRoot;
            delete d.spec.template.spec.securityContext.runAsNonRoot;
          },
          message: /runAsNonRoot must be true/,
        },
        {
          name: "a writable root filesystem",
          policy: POD_SECURITY_POLICY,
          change: (d) => (container(d).securityContext.readOnlyRootFilesystem = false),
          message: /readOnlyRootFilesystem must be true/,
        },
        {
          name: "a tag-only image",
          policy: IMAGE_SOURCE_POLICY,
          change: (d) => (container(d).image = container(d).image.replace(/@sha256:.*$/, ":abc1234-7")),
          message: /pinned by digest/,
        },
        {
          name: "a foreign registry",
          policy: IMAGE_SOURCE_POLICY,
          change: (d) => (container(d).image = container(d).image.replace(/^.*\//, "docker.io/attacker/")),
          message: /must come from the stack's registry/,
        },
      ];
      for (const c of cases) {
        it(`denies ${c.name} with its message, as the workload and as Pod`, () => {
          for (const object of podCarriers(mutated(workload, c.change)).filter(
            (o) => o.kind !== "ReplicaSet",
          )) {
            const messages = denials(policies[c.policy]!, object);
            assert.equal(
              messages.length,
              1,
              `${object.kind}: exactly one denial, got ${JSON.stringify(messages)}`,
            );
            assert.match(messages[0]!, c.message);
          }
        });
      }
    });
  }
});

describe("admission: the CEL and the TypeScript halves of every pod rule agree", () => {
  let policy: AdmissionPolicySpec;
  let workload: Obj;
  before(async function () {
    if (helmUnavailableReason() && !process.env.CI) this.skip();
    this.timeout(30000);
    policy = (await stackPolicies("dev"))[POD_SECURITY_POLICY]!;
    // prod's workload is a Rollout: both halves read its pod template like a Deployment's.
    workload = workloadOf(await renderChart("prod", "localhost:5001/demo-app"));
    assert.equal(workload.kind, "Rollout");
  });

  // At least one breach of every rule; each object is judged by both halves.
  const breaches: Record<string, (d: Obj) => void> = {
    "has-containers": (d) => (d.spec.template.spec.containers = []),
    "run-as-non-root": (d) => (container(d).securityContext.runAsNonRoot = false),
    "run-as-user-not-root": (d) => {
      delete container(d).securityContext.runAsUser;
      d.spec.template.spec.securityContext.runAsUser = 0;
    },
    "read-only-root-filesystem": (d) => delete container(d).securityContext.readOnlyRootFilesystem,
    "no-privilege-escalation": (d) => (container(d).securityContext.allowPrivilegeEscalation = true),
    "not-privileged": (d) => (container(d).securityContext.privileged = true),
    "drop-all-capabilities": (d) => (container(d).securityContext.capabilities.drop = ["NET_RAW"]),
    "no-added-capabilities": (d) => (container(d).securityContext.capabilities.add = ["NET_ADMIN"]),
    "seccomp-runtime-default": (d) => {
      container(d).securityContext.seccompProfile = { type: "Unconfined" };
    },
    "requests-cpu": (d) => delete container(d).resources.requests.cpu,
    "requests-memory": (d) => delete container(d).resources.requests,
    "limits-cpu": (d) => delete container(d).resources.limits.cpu,
    "limits-memory": (d) => delete container(d).resources,
    "liveness-probe": (d) => delete container(d).livenessProbe,
    "readiness-probe": (d) => delete container(d).readinessProbe,
    "no-host-namespaces": (d) => (d.spec.template.spec.hostPID = true),
  };

  it("the table has a breach case for every rule", () => {
    assert.deepEqual(Object.keys(breaches).sort(), POD_RULES.map((r) => r.id).sort());
  });

  it("both admit the rendered chart", () => {
    assert.deepEqual(celFailingRules(policy, workload), []);
    assert.deepEqual(tsFailingRules(workload), []);
  });

  for (const [rule, change] of Object.entries(breaches)) {
    it(`${rule}: both deny the same rules`, () => {
      const object = mutated(workload, change);
      const ts = tsFailingRules(object);
      assert.ok(ts.includes(rule), `the TypeScript half catches ${rule} (got ${ts.join(", ")})`);
      assert.deepEqual(celFailingRules(policy, object).sort(), ts.sort());
    });
  }

  it("an init container is held to the container rules, not to probes", () => {
    const object = mutated(workload, (d) => {
      const init = structuredClone(container(d));
      delete init.livenessProbe;
      delete init.readinessProbe;
      delete init.startupProbe;
      d.spec.template.spec.initContainers = [{ ...init, name: "init" }];
    });
    assert.deepEqual(celFailingRules(policy, object), []);
    assert.deepEqual(tsFailingRules(object), []);
    object.spec.template.spec.initContainers[0].securityContext.readOnlyRootFilesystem = false;
    assert.deepEqual(celFailingRules(policy, object), ["read-only-root-filesystem"]);
    assert.deepEqual(tsFailingRules(object), ["read-only-root-filesystem"]);
  });

  it("batch work needs no probes: a Job, and a Pod a Job owns, without probes are admitted by both", () => {
    const template = mutated(workload, (d) => {
      delete container(d).livenessProbe;
      delete container(d).readinessProbe;
    }).spec.template;
    const job = { apiVersion: "batch/v1", kind: "Job", metadata: { name: "j" }, spec: { template } };
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: "j-1",
        ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name: "j", uid: "u" }],
      },
      spec: template.spec,
    };
    assert.deepEqual(celFailingRules(policy, job), []);
    assert.deepEqual(tsFailingRules(job), []);
    assert.deepEqual(celFailingRules(policy, pod), []);
    const bare = { ...pod, metadata: { name: "bare" } };
    assert.deepEqual(celFailingRules(policy, bare).sort(), ["liveness-probe", "readiness-probe"]);
  });
});

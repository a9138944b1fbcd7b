import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { parse } from "yaml";
import { ofType, PROJECT_DIR, type Evaluation } from "../automation/evaluate";
import { main as planMain } from "../automation/plan";
import { evaluated } from "./support/stacks";

const TSX = path.join(PROJECT_DIR, "node_modules", ".bin", "tsx");
function one(evaluation: Evaluation, type: string, nameSuffix = "") {
  const found = ofType(evaluation, type).filter((r) => r.name.endsWith(nameSuffix));
  assert.equal(
    found.length,
    1,
    `expected one ${type}${nameSuffix ? ` named *${nameSuffix}` : ""}, got ${found.length}`,
  );
  return found[0]!;
}

describe("stacks: every Kubernetes resource uses the stack's explicit provider", () => {
  for (const stack of ["dev", "staging", "prod"]) {
    it(stack, async () => {
      const evaluation = await evaluated(stack);
      const providers = ofType(evaluation, "pulumi:providers:kubernetes");
      assert.equal(providers.length, 1, "one Kubernetes provider per stack");
      const providerUrn = providers[0]!.urn;
      assert.equal(
        providers[0]!.secretPaths.includes("kubeconfig"),
        true,
        "kubeconfig reaches the provider as a secret",
      );
      for (const r of evaluation.resources.filter((r) => r.type.startsWith("kubernetes:"))) {
        assert.equal(r.provider, providerUrn, `${r.type} ${r.name} must use the explicit provider`);
      }
      assert.ok(evaluation.secretOutputs.includes("kubeconfig"), "kubeconfig output is secret");
    });
  }
});

describe("stacks: dev (kind)", () => {
  it("creates the kind cluster by command with its config piped as YAML", async () => {
    const evaluation = await evaluated("dev");
    const kind = one(evaluation, "command:local:Command", "-kind");
    assert.match(String(kind.inputs.create), /^kind create cluster --name gitops-dev --config - /);
    assert.equal(kind.inputs.delete, "kind delete cluster --name gitops-dev");
    const config = parse(String(kind.inputs.stdin)) as {
      kind: string;
      nodes: Array<{
        role: string;
        image: string;
        extraPortMappings?: Array<{ hostPort: number; listenAddress: string }>;
      }>;
    };
    assert.equal(config.kind, "Cluster");
    assert.deepEqual(
      config.nodes.map((n) => n.role),
      ["control-plane", "worker"],
    );
    assert.ok(config.nodes.every((n) => /^kindest\/node:v1\.35\.\d+@sha256:[a-f0-9]{64}$/.test(n.image)));
    const mappings = config.nodes[0]!.extraPortMappings ?? [];
    assert.deepEqual(
      mappings.map((m) => m.hostPort),
      [30080, 30081, 30082],
    );
    assert.ok(
      mappings.every((m) => m.listenAddress === "127.0.0.1"),
      "NodePorts published on loopback only",
    );
    // kind >= 0.27 node images read /etc/containerd/certs.d already; a v2 CRI patch would not apply to containerd 2.
    assert.doesNotMatch(String(kind.inputs.stdin), /containerdConfigPatches/);
  });

  it("runs the local registry and the S3 server on the kind network, loopback only, pinned by digest", async () => {
    const evaluation = await evaluated("dev");
    const registry = one(evaluation, "docker:index/container:Container", "-registry");
    assert.match(String(registry.inputs.image), /^registry:3\.\d+\.\d+@sha256:[a-f0-9]{64}$/);
    assert.deepEqual(registry.inputs.ports, [{ internal: 5000, external: 5001, ip: "127.0.0.1" }]);
    assert.deepEqual(
      (registry.inputs.networksAdvanced as Array<{ name: string }>).map((n) => n.name),
      ["kind"],
    );
    const s3 = one(evaluation, "docker:index/container:Container", "-s3");
    assert.match(String(s3.inputs.image), /^versity\/versitygw:v\d+\.\d+\.\d+@sha256:[a-f0-9]{64}$/);
    assert.deepEqual(s3.inputs.command, ["posix", "/data"]);
    assert.deepEqual(s3.inputs.ports, [{ internal: 9000, external: 9000, ip: "127.0.0.1" }]);
    assert.deepEqual(
      s3.secretPaths.filter((p) => p.startsWith("envs")),
      ["envs[0]", "envs[1]"],
      "credentials secret",
    );
    const kind = one(evaluation, "command:local:Command", "-kind");
    assert.ok(
      registry.dependsOn.includes(kind.urn) && s3.dependsOn.includes(kind.urn),
      "containers wait for the network",
    );
  });

  it("advertises the registry to the nodes and per KEP-1755", async () => {
    const evaluation = await evaluated("dev");
    const mirror = one(evaluation, "command:local:Command", "-registry-mirror");
    assert.match(String(mirror.inputs.create), /certs\.d\/localhost:5001\/hosts\.toml/);
    assert.match(String(mirror.inputs.create), /\[host\."http:\/\/gitops-dev-registry:5000"\]/);
    const hosting = one(evaluation, "kubernetes:core/v1:ConfigMap", "-local-registry-hosting");
    assert.deepEqual(hosting.inputs.metadata, { name: "local-registry-hosting", namespace: "kube-public" });
    assert.match(
      String((hosting.inputs.data as Record<string, string>)["localRegistryHosting.v1"]),
      /host: localhost:5001/,
    );
  });

  it("registers no AWS or EKS resources", async () => {
    const evaluation = await evaluated("dev");
    const cloud = evaluation.resources.filter(
      (r) => /^(aws|eks|awsx):/.test(r.type) || r.type === "pulumi:providers:aws",
    );
    assert.deepEqual(
      cloud.map((r) => r.type),
      [],
    );
  });

  it("leaves no @pulumi/aws, @pulumi/eks or @pulumi/awsx module in the module cache", function () {
    this.timeout(30000);
    // A fresh process: this one has loaded the EKS stacks already.
    const script = [
      'const { evaluateStack, loadedModules } = require("./automation/evaluate");',
      'evaluateStack("dev").then((e) => {',
      "  if (e.error) throw e.error;",
      '  const loaded = ["@pulumi/aws", "@pulumi/eks", "@pulumi/awsx"].flatMap((m) => loadedModules(m));',
      '  const k8s = loadedModules("@pulumi/kubernetes").length;',
      '  const releases = e.resources.filter((r) => r.type === "kubernetes:helm.sh/v3:Release").length;',
      "  console.log(JSON.stringify({ resources: e.resources.length, releases, loaded, k8s }));",
      "});",
    ].join("\n");
    const run = spawnSync(TSX, ["-e", script], { cwd: PROJECT_DIR, encoding: "utf8", timeout: 25_000 });
    assert.equal(run.status, 0, run.stderr);
    const result = JSON.parse(run.stdout.trim().split("\n").pop()!) as {
      resources: number;
      releases: number;
      loaded: string[];
      k8s: number;
    };
    assert.ok(result.resources > 5, "the dev program really ran");
    assert.equal(
      result.releases,
      9,
      "with every add-on: Argo CD, kube-prometheus-stack, Grafana, Velero, Loki, Alloy, Tempo, External Secrets, Argo Rollouts",
    );
    assert.ok(result.k8s > 0, "the module-cache probe sees loaded modules");
    assert.deepEqual(result.loaded, []);
  });
});

for (const [stack, expected] of [
  [
    "staging",
    { nat: "Single", azs: 2, types: ["t3.large", "t3a.large"], capacity: "SPOT", sizes: [2, 2, 4], logs: 0 },
  ],
  [
    "prod",
    { nat: "OnePerAz", azs: 3, types: ["m6i.large"], capacity: "ON_DEMAND", sizes: [3, 3, 9], logs: 5 },
  ],
] as const) {
  describe(`stacks: ${stack} (EKS)`, () => {
    it("builds the VPC over the configured AZs with the environment's NAT policy", async () => {
      const evaluation = await evaluated(stack);
      const vpc = one(evaluation, "awsx:ec2:Vpc");
      assert.deepEqual(vpc.inputs.natGateways, { strategy: expected.nat });
      assert.equal((vpc.inputs.availabilityZoneNames as string[]).length, expected.azs);
      const specs = vpc.inputs.subnetSpecs as Array<{ type: string; tags: Record<string, string> }>;
      assert.deepEqual(specs.map((s) => s.type).sort(), ["Private", "Public"]);
      assert.equal(specs.find((s) => s.type === "Private")?.tags["kubernetes.io/role/internal-elb"], "1");
    });

    it("creates the EKS cluster with a pinned version, OIDC and API access entries", async () => {
      const evaluation = await evaluated(stack);
      const cluster = one(evaluation, "eks:index:Cluster");
      assert.equal(cluster.inputs.version, "1.35");
      assert.deepEqual(
        cluster.inputs.upgradePolicy,
        { supportType: "STANDARD" },
        "no silent extended support",
      );
      assert.equal(cluster.inputs.createOidcProvider, true);
      assert.equal(cluster.inputs.authenticationMode, "API");
      assert.equal(cluster.inputs.skipDefaultNodeGroup, true);
      assert.equal(cluster.inputs.nodeAssociatePublicIpAddress, false);
      assert.equal((cluster.inputs.enabledClusterLogTypes as string[]).length, expected.logs);
      assert.deepEqual(cluster.inputs.privateSubnetIds, ["subnet-priv-a", "subnet-priv-b"]);
    });

    it("runs a managed node group of the configured size and types in private subnets", async () => {
      const evaluation = await evaluated(stack);
      const nodes = one(evaluation, "eks:index:ManagedNodeGroup");
      assert.deepEqual(nodes.inputs.instanceTypes, expected.types);
      assert.equal(nodes.inputs.capacityType, expected.capacity);
      const [min, desired, max] = expected.sizes;
      assert.deepEqual(nodes.inputs.scalingConfig, { minSize: min, desiredSize: desired, maxSize: max });
      assert.deepEqual(nodes.inputs.subnetIds, ["subnet-priv-a", "subnet-priv-b"]);
    });

    it("uses one explicit AWS provider in the configured region", async () => {
      const evaluation = await evaluated(stack);
      const aws = one(evaluation, "pulumi:providers:aws");
      assert.equal(aws.inputs.region, "eu-west-1");
      for (const r of evaluation.resources.filter((r) => r.type.startsWith("aws:"))) {
        assert.equal(r.provider, aws.urn, `${r.type} ${r.name} must use the explicit AWS provider`);
      }
    });

    it("installs the EBS CSI driver with an IRSA role for its controller only", async () => {
      const evaluation = await evaluated(stack);
      one(evaluation, "aws:eks/addon:Addon", "-ebs-csi");
      const role = one(evaluation, "aws:iam/role:Role", "-ebs-csi");
      const policy = JSON.parse(String(role.inputs.assumeRolePolicy)) as {
        Statement: Array<{ Condition: { StringEquals: Record<string, string> } }>;
      };
      const conditions = policy.Statement[0]!.Condition.StringEquals;
      const sub = Object.entries(conditions).find(([k]) => k.endsWith(":sub"));
      assert.deepEqual(sub?.[1], "system:serviceaccount:kube-system:ebs-csi-controller-sa");
    });
  });
}

describe("offline plan command", () => {
  const plan = (args: string[]) =>
    spawnSync(TSX, ["automation/plan.ts", ...args], { cwd: PROJECT_DIR, encoding: "utf8", timeout: 25_000 });

  it("prints the tree of dev, its outputs with secrets masked, and the policy verdicts", function () {
    this.timeout(30000);
    const text = plan(["dev"]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /pulumi:pulumi:Stack {2}gitops-platform-dev/);
    assert.match(text.stdout, /\n {4}gitops-platform:cluster:KindCluster {2}gitops-dev/);
    assert.match(text.stdout, /\n {2}kubeconfig: \[secret\]\n/);
    assert.match(text.stdout, /\n {2}pass {2}pods-restricted \(mandatory\)/);
    assert.doesNotMatch(text.stdout, /mock-password-|mock-private-key-/, "no secret value is printed");
  });

  it("writes all of a large --json into a pipe before it exits", function () {
    this.timeout(30000);
    const piped = spawnSync("sh", ["-c", `"${TSX}" automation/plan.ts prod --json | cat`], {
      cwd: PROJECT_DIR,
      encoding: "utf8",
    });
    assert.equal(piped.status, 0, piped.stderr);
    assert.ok(
      piped.stdout.length > 65536,
      `a prod plan is larger than one pipe buffer (${piped.stdout.length})`,
    );
    assert.ok(JSON.parse(piped.stdout).resources.length > 5);
  });

  it("prints valid --json of prod, with secrets masked", function () {
    this.timeout(30000);
    const json = plan(["prod", "--json"]);
    assert.equal(json.status, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as {
      resources: Array<{ type: string; name: string; parent: string | null; inputs: object }>;
      outputs: Record<string, unknown>;
    };
    assert.ok(parsed.resources.length > 5);
    assert.ok(parsed.resources.some((r) => r.type === "eks:index:Cluster"));
    assert.ok(parsed.resources.every((r) => r.type && r.name && "inputs" in r && "parent" in r));
    assert.equal(parsed.outputs.kubeconfig, "[secret]");
    assert.doesNotMatch(json.stdout, /mock-password-|mock-private-key-/, "no secret value is printed");
  });

  it("rejects an unknown stack with the list of stacks (exit 2)", async () => {
    const printed: string[] = [];
    const { error } = console;
    console.error = (line: string) => printed.push(line);
    try {
      assert.equal(await planMain(["qa"]), 2);
    } finally {
      console.error = error;
    }
    assert.match(printed.join("\n"), /unknown stack "qa"; stacks: dev, prod, staging/);
  });
});

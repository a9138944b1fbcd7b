import { strict as assert } from "node:assert";
import { parse } from "yaml";
import { evaluateProgram, ofType, type Evaluation } from "../automation/evaluate";
import type { Resource } from "./support/stacks";

/**
 * The defaults each component's Args interface documents, with only the required arguments given (the
 * program always passes everything, so only these tests see the components' own defaults).
 */
const one = (e: Evaluation, type: string, suffix = "") => {
  const found = ofType(e, type).filter((r) => r.name.endsWith(suffix));
  assert.equal(found.length, 1, `one ${type} *${suffix}`);
  return found[0] as Resource;
};

describe("components: documented defaults", () => {
  it("KindCluster: 1 worker, registry on 5001, the S3 server on 9000, bucket velero", async () => {
    const e = await evaluateProgram(async () => {
      const { KindCluster } = await import("../components/cluster/kind-cluster");
      new KindCluster("lab", {
        clusterName: "lab",
        nodeImage: `kindest/node:v1.35.8@sha256:${"a".repeat(64)}`,
        nodePorts: [30080],
        registry: { image: `registry:3.1.2@sha256:${"b".repeat(64)}` },
        s3: { image: `versity/versitygw:v1.8.0@sha256:${"c".repeat(64)}` },
      });
    });
    assert.equal(e.error, undefined);
    const kind = parse(String(one(e, "command:local:Command", "lab-kind").inputs.stdin)) as {
      nodes: Array<{ role: string }>;
    };
    assert.deepEqual(
      kind.nodes.map((n) => n.role),
      ["control-plane", "worker"],
    );
    assert.equal(one(e, "docker:index/container:Container", "-registry").inputs.ports[0].external, 5001);
    assert.equal(one(e, "docker:index/container:Container", "-s3").inputs.ports[0].external, 9000);
    assert.match(
      String(one(e, "command:local:Command", "-s3-bucket").inputs.create),
      /mkdir -p \/data\/velero$/,
    );
  });

  it("EksCluster: 10.0.0.0/16, a NAT gateway per AZ, on-demand 50 GiB nodes, public API for no one, no logs, no admins", async () => {
    const e = await evaluateProgram(async () => {
      const { EksCluster } = await import("../components/cluster/eks-cluster");
      new EksCluster("lab", {
        clusterName: "lab",
        kubernetesVersion: "1.35",
        region: "eu-west-1",
        availabilityZones: ["eu-west-1a", "eu-west-1b"],
        nodeGroup: { instanceTypes: ["t3.large"], minSize: 2, desiredSize: 2, maxSize: 3 },
      });
    });
    assert.equal(e.error, undefined);
    const vpc = one(e, "awsx:ec2:Vpc");
    assert.equal(vpc.inputs.cidrBlock, "10.0.0.0/16");
    assert.deepEqual(vpc.inputs.natGateways, { strategy: "OnePerAz" });
    const nodes = one(e, "eks:index:ManagedNodeGroup");
    assert.equal(nodes.inputs.capacityType, "ON_DEMAND");
    const template = one(e, "aws:ec2/launchTemplate:LaunchTemplate");
    assert.equal(template.inputs.blockDeviceMappings[0].ebs.volumeSize, 50);
    assert.equal(nodes.inputs.capacityType, "ON_DEMAND");
    const cluster = one(e, "eks:index:Cluster");
    assert.equal(cluster.inputs.endpointPublicAccess, true);
    assert.deepEqual(cluster.inputs.publicAccessCidrs, [], "no CIDR unless given");
    assert.deepEqual(cluster.inputs.enabledClusterLogTypes ?? [], []);
    assert.deepEqual(cluster.inputs.accessEntries ?? {}, {});
  });
});

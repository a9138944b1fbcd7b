import { strict as assert } from "node:assert";
import { evaluateStack } from "../automation/evaluate";
import { evaluated } from "./support/stacks";
import { policyVerdicts } from "../automation/plan";
import { parseAllDocuments } from "yaml";
import {
  APP_NAMESPACE_LABEL,
  evaluatePolicies,
  isPinnedImage,
  podSecurityViolations,
  policies,
  type PolicyResource,
} from "../policy/rules";
import { helm, helmUnavailableReason } from "./support/helm";

let counter = 0;
const res = (
  type: string,
  props: Record<string, unknown>,
  extra: Partial<PolicyResource> = {},
): PolicyResource => {
  const name = extra.name ?? `r${++counter}`;
  return { type, name, urn: `urn:pulumi:test::p::${type}::${name}`, props, ...extra };
};
const violations = (policy: string, resources: PolicyResource[]) =>
  evaluatePolicies(
    resources,
    policies.filter((p) => p.name === policy),
  ).map((v) => v.message);

const bucketSet = (overrides: { sse?: boolean; versioning?: string; block?: boolean } = {}) => [
  res("aws:s3/bucket:Bucket", { bucket: "backups" }, { name: "backups" }),
  ...(overrides.sse === false
    ? []
    : [
        res("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", {
          bucket: "backups",
        }),
      ]),
  res("aws:s3/bucketVersioning:BucketVersioning", {
    bucket: "backups",
    versioningConfiguration: { status: overrides.versioning ?? "Enabled" },
  }),
  res("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", {
    bucket: "backups",
    blockPublicAcls: true,
    blockPublicPolicy: true,
    ignorePublicAcls: true,
    restrictPublicBuckets: overrides.block ?? true,
  }),
];

const prodCluster = (props: Record<string, unknown> = {}) => [
  res("eks:index:Cluster", {
    tags: { "gitops-platform:environment": "prod" },
    enabledClusterLogTypes: ["api", "audit"],
    nodeAssociatePublicIpAddress: false,
    privateSubnetIds: ["p1", "p2"],
    ...props,
  }),
  res("eks:index:ManagedNodeGroup", { subnetIds: props.nodeSubnets ?? ["p1", "p2"] }),
];

const trust = (conditions: Record<string, unknown>) =>
  res("aws:iam/role:Role", {
    assumeRolePolicy: JSON.stringify({
      Statement: [{ Effect: "Allow", Action: "sts:AssumeRoleWithWebIdentity", Condition: conditions }],
    }),
  });

const appNamespace = (name: string, level: string) =>
  res("kubernetes:core/v1:Namespace", {
    metadata: {
      name,
      labels: { "pod-security.kubernetes.io/enforce": level, [APP_NAMESPACE_LABEL]: "true" },
    },
  });
const networkPolicy = (namespace: string, spec: Record<string, unknown>) =>
  res("kubernetes:networking.k8s.io/v1:NetworkPolicy", { metadata: { namespace }, spec });
const denyAll = { podSelector: {}, policyTypes: ["Ingress", "Egress"] };

function restrictedPod(container: Record<string, unknown> = {}, resources?: Record<string, unknown>) {
  return {
    securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: "RuntimeDefault" } },
    containers: [
      {
        name: "app",
        image: "app:1.0.0",
        resources: resources ?? {
          requests: { cpu: "50m", memory: "64Mi" },
          limits: { cpu: "500m", memory: "256Mi" },
        },
        securityContext: {
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ["ALL"] },
          ...container,
        },
      },
    ],
  };
}

// Each rule: resources that pass, resources that violate, and what the message must say.
const cases: Record<string, { pass: PolicyResource[][]; fail: Array<[PolicyResource[], RegExp]> }> = {
  "helm-chart-version-pinned": {
    pass: [[res("kubernetes:helm.sh/v3:Release", { version: "10.1.1" })]],
    fail: [
      [
        [res("kubernetes:helm.sh/v3:Release", { version: "^9.1.0" })],
        /exact chart version .* \(got "\^9\.1\.0"\)/,
      ],
      [[res("kubernetes:helm.sh/v3:Release", {})], /got undefined/],
    ],
  },
  "images-pinned": {
    pass: [
      [res("docker:index/container:Container", { image: "registry:2.8.3" })],
      [
        res("kubernetes:apps/v1:Deployment", {
          spec: { template: { spec: { containers: [{ image: `app@sha256:${"a".repeat(64)}` }] } } },
        }),
      ],
    ],
    fail: [
      [[res("docker:index/container:Container", { image: "registry:latest" })], /"registry:latest"/],
      [
        [
          res("kubernetes:apps/v1:Deployment", {
            spec: { template: { spec: { containers: [{ image: "nginx" }] } } },
          }),
        ],
        /"nginx"/,
      ],
      [[res("docker-build:index:Image", { tags: ["localhost:5001/app"] })], /localhost:5001\/app/],
    ],
  },
  "s3-bucket-secure": {
    pass: [bucketSet()],
    fail: [
      [bucketSet({ sse: false }), /no server-side encryption/],
      [bucketSet({ versioning: "Suspended" }), /versioning Enabled/],
      [bucketSet({ block: false }), /block public access/],
    ],
  },
  "eks-prod-hardening": {
    pass: [
      prodCluster(),
      [
        res("eks:index:Cluster", {
          tags: { "gitops-platform:environment": "staging" },
          enabledClusterLogTypes: [],
        }),
      ],
    ],
    fail: [
      [prodCluster({ enabledClusterLogTypes: [] }), /control-plane logging/],
      [prodCluster({ nodeAssociatePublicIpAddress: true }), /public IP/],
      [prodCluster({ nodeSubnets: ["public1"] }), /private subnets/],
    ],
  },
  "deploy-keys-read-only": {
    pass: [[res("github:index/repositoryDeployKey:RepositoryDeployKey", { readOnly: true })]],
    fail: [
      [
        [res("github:index/repositoryDeployKey:RepositoryDeployKey", { readOnly: false })],
        /must be read-only/,
      ],
    ],
  },
  "kubernetes-secrets-from-pulumi-secrets": {
    pass: [
      [
        res(
          "kubernetes:core/v1:Secret",
          { stringData: { url: "git@x", sshPrivateKey: "k" } },
          { secretPaths: ["stringData.sshPrivateKey"] },
        ),
      ],
      [res("kubernetes:core/v1:Secret", { data: { password: "p" } }, { secretPaths: ["data"] })],
    ],
    fail: [
      [
        [res("kubernetes:core/v1:Secret", { stringData: { password: "hunter2" } }, { secretPaths: [] })],
        /stringData\.password must come from a Pulumi secret/,
      ],
    ],
  },
  "namespaces-pod-security": {
    pass: [
      [appNamespace("demo-app", "restricted")],
      [
        res("kubernetes:core/v1:Namespace", {
          metadata: { labels: { "pod-security.kubernetes.io/enforce": "privileged" } },
        }),
      ],
    ],
    fail: [
      [
        [res("kubernetes:core/v1:Namespace", { metadata: { name: "x" } })],
        /must set the pod-security\.kubernetes\.io\/enforce label/,
      ],
      [[appNamespace("demo-app", "baseline")], /must enforce "restricted" \(got "baseline"\)/],
    ],
  },
  "app-namespaces-default-deny": {
    pass: [[appNamespace("demo-app", "restricted"), networkPolicy("demo-app", denyAll)]],
    fail: [
      [[appNamespace("demo-app", "restricted")], /"demo-app" needs a default-deny NetworkPolicy/],
      [[appNamespace("demo-app", "restricted"), networkPolicy("other", denyAll)], /default-deny/],
      [
        [appNamespace("demo-app", "restricted"), networkPolicy("demo-app", { ...denyAll, ingress: [{}] })],
        /default-deny/,
      ],
    ],
  },
  "pods-restricted": {
    pass: [[res("kubernetes:apps/v1:Deployment", { spec: { template: { spec: restrictedPod() } } })]],
    fail: [
      [
        [
          res("kubernetes:apps/v1:Deployment", {
            spec: { template: { spec: restrictedPod({ readOnlyRootFilesystem: false }) } },
          }),
        ],
        /readOnlyRootFilesystem must be true/,
      ],
      [
        [res("kubernetes:core/v1:Pod", { spec: restrictedPod({ capabilities: { drop: ["NET_RAW"] } }) })],
        /capabilities must drop ALL/,
      ],
      [
        [
          res("kubernetes:apps/v1:Deployment", {
            spec: { template: { spec: restrictedPod({}, { limits: { cpu: "1" } }) } },
          }),
        ],
        /limits\.memory must be set/,
      ],
      [
        [
          res("kubernetes:apps/v1:Deployment", {
            spec: { template: { spec: { ...restrictedPod(), securityContext: {} } } },
          }),
        ],
        /runAsNonRoot must be true/,
      ],
    ],
  },
  "oidc-roles-scoped": {
    pass: [
      [
        trust({
          StringEquals: {
            "oidc:sub": "system:serviceaccount:velero:velero-server",
            "oidc:aud": "sts.amazonaws.com",
          },
        }),
      ],
    ],
    fail: [
      [
        [trust({ StringEquals: { "oidc:aud": "sts.amazonaws.com" } })],
        /needs a StringEquals ":sub" condition/,
      ],
      [
        [trust({ StringEquals: { "oidc:sub": "repo:org/*:environment:prod" } })],
        /must not contain wildcards/,
      ],
      [
        [
          trust({
            StringEquals: { "oidc:sub": "repo:org/r:environment:prod" },
            StringLike: { "oidc:sub": "repo:org/*" },
          }),
        ],
        /StringLike/,
      ],
    ],
  },
};

describe("policy: every rule fails a violating resource and passes a good one", () => {
  it("covers every rule, each with a rationale", () => {
    assert.deepEqual(Object.keys(cases).sort(), policies.map((p) => p.name).sort());
    for (const p of policies) assert.ok(p.rationale.length > 30, `${p.name} needs a rationale`);
  });
  for (const [policy, { pass, fail }] of Object.entries(cases)) {
    it(policy, () => {
      for (const resources of pass)
        assert.deepEqual(violations(policy, resources), [], `${policy} should pass`);
      for (const [resources, expected] of fail) {
        const messages = violations(policy, resources);
        assert.ok(
          messages.length > 0,
          `${policy} should fail ${JSON.stringify(resources.map((r) => r.props))}`,
        );
        assert.ok(
          messages.some((m) => expected.test(m)),
          `${messages.join(" | ")} !~ ${expected}`,
        );
      }
    });
  }
  it("image pinning accepts registry ports and rejects latest", () => {
    assert.equal(isPinnedImage("localhost:5001/demo-app:abc1234-1"), true);
    assert.equal(isPinnedImage("localhost:5001/demo-app"), false);
    assert.equal(isPinnedImage("kindest/node:v1.35.8@sha256:" + "0".repeat(64)), true);
  });
});

describe("policy: every stack passes every mandatory rule in the offline plan", () => {
  for (const stack of ["dev", "staging", "prod"]) {
    it(stack, async () => {
      const evaluation = await evaluated(stack);
      assert.deepEqual(
        policyVerdicts(evaluation).filter((v) => v.enforcementLevel === "mandatory"),
        [],
      );
    });
  }

  it("the plan fails a stack that breaks a rule (prod without control-plane logs)", async () => {
    const evaluation = await evaluateStack("prod", {
      overrides: { "gitops-platform:controlPlaneLogging": "false" },
    });
    const violations = policyVerdicts(evaluation);
    assert.ok(
      violations.some((v) => v.policy === "eks-prod-hardening" && /control-plane logging/.test(v.message)),
    );
  });
});

describe("policy: the rendered demo-app chart passes the same pod-security checks", () => {
  for (const env of ["dev", "staging", "prod"]) {
    it(env, function () {
      if (helmUnavailableReason() && !process.env.CI) this.skip();
      const result = helm([
        "template",
        "demo-app",
        "gitops/charts/demo-app",
        "-f",
        `gitops/envs/${env}/values.yaml`,
        "-f",
        `gitops/envs/${env}/image.yaml`,
      ]);
      assert.equal(result.status, 0, result.stderr);
      const objects = parseAllDocuments(result.stdout).map(
        (d) => d.toJSON() as { kind?: string; spec?: unknown } | null,
      );
      // dev runs a Deployment, staging and prod an Argo Rollouts Rollout: the same pod rules hold.
      const deployments = objects.filter((o) => o?.kind === (env === "dev" ? "Deployment" : "Rollout"));
      assert.equal(deployments.length, 1);
      const podSpec = (deployments[0]!.spec as { template: { spec: Record<string, unknown> } }).template.spec;
      assert.deepEqual(podSecurityViolations(podSpec), []);
      // And the same check has teeth on this very spec:
      const loosened = structuredClone(podSpec) as {
        containers: Array<{ securityContext: Record<string, unknown> }>;
      };
      loosened.containers[0]!.securityContext.readOnlyRootFilesystem = false;
      assert.match(podSecurityViolations(loosened).join("\n"), /readOnlyRootFilesystem must be true/);
    });
  }
});

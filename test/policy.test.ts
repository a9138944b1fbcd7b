import { strict as assert } from "node:assert";
import { evaluateStack } from "../automation/evaluate";
import { platformValuesFile } from "./support/platform-values";
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

const iamPolicy = (type: string, statement: unknown) =>
  res(type, { policy: JSON.stringify({ Version: "2012-10-17", Statement: statement }) });
const WORKFLOW_REF = "token.actions.githubusercontent.com:job_workflow_ref";
const githubTrust = (conditions: Record<string, Record<string, string>>) =>
  res("aws:iam/role:Role", {
    assumeRolePolicy: JSON.stringify({
      Statement: [
        {
          Effect: "Allow",
          Principal: {
            Federated: "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
          },
          Action: "sts:AssumeRoleWithWebIdentity",
          Condition: {
            ...conditions,
            StringEquals: {
              "token.actions.githubusercontent.com:sub": "repo:o/r:environment:prod",
              ...conditions.StringEquals,
            },
          },
        },
      ],
    }),
  });
const appProject = (name: string, spec: Record<string, unknown>) =>
  res("kubernetes:argoproj.io/v1alpha1:AppProject", {
    metadata: { name, namespace: "argocd" },
    spec: {
      sourceRepos: ["git@github.com:o/r.git"],
      destinations: [],
      clusterResourceWhitelist: [],
      namespaceResourceWhitelist: [{ group: "apps", kind: "Deployment" }],
      ...spec,
    },
  });
const lockedDefault = (spec: Record<string, unknown> = {}) =>
  res("kubernetes:argoproj.io/v1alpha1:AppProjectPatch", {
    metadata: { name: "default", namespace: "argocd" },
    spec: { sourceRepos: [], destinations: [], clusterResourceWhitelist: [], ...spec },
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
        livenessProbe: { httpGet: { path: "/healthz", port: 8080 } },
        readinessProbe: { httpGet: { path: "/readyz", port: 8080 } },
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

const albIngress = (annotations: Record<string, string>) =>
  res("kubernetes:networking.k8s.io/v1:Ingress", {
    metadata: {
      annotations: Object.fromEntries(
        Object.entries(annotations).map(([k, v]) => [
          `alb.ingress.kubernetes.io/${k === "group" ? "group.name" : k}`,
          v,
        ]),
      ),
    },
  });
/** An argo-cd or grafana release with an ALB Ingress in the chart's own values layout. */
const adminChart = (chart: "argo-cd" | "grafana", alb: { scheme: string; group: string }) => {
  const ingress = {
    enabled: true,
    annotations: {
      "alb.ingress.kubernetes.io/scheme": alb.scheme,
      "alb.ingress.kubernetes.io/group.name": alb.group,
    },
  };
  return res("kubernetes:helm.sh/v3:Release", {
    chart,
    values: chart === "argo-cd" ? { server: { service: { type: "ClusterIP" }, ingress } } : { ingress },
  });
};
const allowPolicy = (statement: Record<string, unknown>) =>
  res("aws:iam/rolePolicy:RolePolicy", {
    policy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", ...statement }] }),
  });
/** A pod spec whose containers have no liveness or readiness probe (fine for batch work only). */
function withoutProbes(pod: ReturnType<typeof restrictedPod>) {
  return {
    ...pod,
    containers: pod.containers.map(({ livenessProbe: _l, readinessProbe: _r, ...c }) => c),
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
    pass: [
      [res("kubernetes:apps/v1:Deployment", { spec: { template: { spec: restrictedPod() } } })],
      [
        res("kubernetes:batch/v1:Job", {
          spec: { template: { spec: withoutProbes(restrictedPod()) } },
        }),
      ],
    ],
    fail: [
      [
        [
          res("kubernetes:apps/v1:Deployment", {
            spec: { template: { spec: withoutProbes(restrictedPod()) } },
          }),
        ],
        /livenessProbe must be set/,
      ],
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
  "admin-uis-private": {
    pass: [
      // Internet-facing, the group admitting only the admin networks (set on another Ingress of the group).
      [
        adminChart("argo-cd", { scheme: "internet-facing", group: "admin" }),
        albIngress({ scheme: "internet-facing", group: "admin", "inbound-cidrs": "203.0.113.0/24" }),
      ],
      // Internal: reachable only from the VPC (VPN, port-forward), no adminCidrs needed.
      [adminChart("grafana", { scheme: "internal", group: "admin" })],
      // The public app is not an admin UI.
      [albIngress({ scheme: "internet-facing", group: "app" })],
      [
        res("kubernetes:core/v1:Service", {
          spec: { type: "LoadBalancer", loadBalancerSourceRanges: ["10.0.0.0/8"] },
        }),
      ],
    ],
    fail: [
      [
        [adminChart("grafana", { scheme: "internet-facing", group: "admin" })],
        /inbound-cidrs unset: 0\.0\.0\.0\/0/,
      ],
      [
        [
          adminChart("argo-cd", { scheme: "internet-facing", group: "admin" }),
          // inbound-cidrs on an Ingress of another load balancer do not count.
          albIngress({ scheme: "internet-facing", group: "app", "inbound-cidrs": "203.0.113.0/24" }),
        ],
        /must admit only adminCidrs/,
      ],
      [
        [
          res("kubernetes:helm.sh/v3:Release", {
            chart: "grafana",
            values: { service: { type: "LoadBalancer" } },
          }),
        ],
        /not a LoadBalancer Service/,
      ],
      [
        [
          res("kubernetes:helm.sh/v3:Release", {
            chart: "argo-cd",
            values: { server: { service: { type: "LoadBalancer" } } },
          }),
        ],
        /not a LoadBalancer Service/,
      ],
      [[res("kubernetes:core/v1:Service", { spec: { type: "LoadBalancer" } })], /open to 0\.0\.0\.0\/0/],
    ],
  },
  "certificates-dns-validated": {
    pass: [
      [
        res("aws:acm/certificate:Certificate", { validationMethod: "DNS" }),
        res("aws:acm/certificateValidation:CertificateValidation", {
          validationRecordFqdns: ["_x.example.com"],
        }),
      ],
    ],
    fail: [
      [
        [
          res("aws:acm/certificate:Certificate", { validationMethod: "EMAIL" }),
          res("aws:acm/certificateValidation:CertificateValidation", {
            validationRecordFqdns: ["_x.example.com"],
          }),
        ],
        /must use validationMethod "DNS" \(got "EMAIL"\)/,
      ],
      [
        [res("aws:acm/certificate:Certificate", { validationMethod: "DNS" })],
        /1 ACM certificate\(s\) but 0 CertificateValidation/,
      ],
    ],
  },
  "iam-policies-scoped": {
    pass: [
      [
        allowPolicy({
          Action: ["route53:ChangeResourceRecordSets"],
          Resource: ["arn:aws:route53:::hostedzone/Z1"],
        }),
      ],
      [
        allowPolicy({
          Action: ["autoscaling:SetDesiredCapacity"],
          Resource: ["*"],
          Condition: { StringEquals: { "aws:ResourceTag/k8s.io/cluster-autoscaler/c": "owned" } },
        }),
      ],
      // Describe calls cannot be scoped and change nothing.
      [allowPolicy({ Action: ["ec2:DescribeInstanceTypes"], Resource: ["*"] })],
    ],
    fail: [
      [
        [allowPolicy({ Action: "route53:*", Resource: ["arn:aws:route53:::hostedzone/Z1"] })],
        /wildcard actions route53:\*/,
      ],
      [[allowPolicy({ Action: "*", Resource: "*" })], /wildcard actions \*/],
      [
        [allowPolicy({ Action: ["route53:ChangeResourceRecordSets"], Resource: "*" })],
        /route53:ChangeResourceRecordSets on Resource "\*" without a condition/,
      ],
      [
        [allowPolicy({ Action: ["autoscaling:TerminateInstanceInAutoScalingGroup"], Resource: ["*"] })],
        /TerminateInstanceInAutoScalingGroup on Resource "\*"/,
      ],
    ],
  },
  "iam-no-wildcard-actions": {
    pass: [
      [
        iamPolicy("aws:iam/policy:Policy", [
          { Effect: "Allow", Action: ["eks:*"], Resource: "arn:aws:eks:*" },
        ]),
      ],
      // Denying everything is fine; so is a single statement that is not an array.
      [iamPolicy("aws:iam/rolePolicy:RolePolicy", { Effect: "Deny", Action: "*", Resource: "*" })],
      [
        res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", {
          policyArn: "arn:aws:iam::aws:policy/ReadOnlyAccess",
        }),
      ],
    ],
    fail: [
      [
        [iamPolicy("aws:iam/policy:Policy", [{ Effect: "Allow", Action: "*", Resource: "*" }])],
        /allows every action \("\*"\)/,
      ],
      [
        [
          iamPolicy("aws:iam/rolePolicy:RolePolicy", [
            { Effect: "Allow", Action: ["s3:GetObject", "*:*"], Resource: "*" },
          ]),
        ],
        /allows every action \("\*:\*"\)/,
      ],
      [
        [
          res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", {
            policyArn: "arn:aws:iam::aws:policy/AdministratorAccess",
          }),
        ],
        /attaches AdministratorAccess/,
      ],
    ],
  },
  "github-oidc-workflow-pinned": {
    pass: [
      [githubTrust({ StringEquals: { [WORKFLOW_REF]: "o/r/.github/workflows/deploy.yml@refs/heads/main" } })],
      [
        githubTrust({
          StringLike: { [WORKFLOW_REF]: "o/r/.github/workflows/preview.yml@refs/pull/*/merge" },
        }),
      ],
      // Not GitHub's issuer: IRSA trusts are judged by oidc-roles-scoped only.
      [trust({ StringEquals: { "oidc:sub": "system:serviceaccount:a:b" } })],
    ],
    fail: [
      [[githubTrust({})], /must pin token\.actions\.githubusercontent\.com:job_workflow_ref .* got null/],
      [
        [githubTrust({ StringLike: { [WORKFLOW_REF]: "o/r/.github/workflows/*.yml@refs/heads/main" } })],
        /must pin/,
      ],
      [[githubTrust({ StringEquals: { [WORKFLOW_REF]: "o/r/*" } })], /must pin/],
    ],
  },
  "argocd-projects-scoped": {
    pass: [
      [
        appProject("staging", {
          destinations: [{ server: "https://kubernetes.default.svc", namespace: "demo-app" }],
        }),
        appProject("staging-bootstrap", {
          destinations: [{ server: "https://kubernetes.default.svc", namespace: "argocd" }],
          namespaceResourceWhitelist: [{ group: "argoproj.io", kind: "Application" }],
        }),
        lockedDefault(),
      ],
      // No AppProject at all: nothing to lock.
      [res("kubernetes:core/v1:Namespace", { metadata: { name: "x" } })],
    ],
    fail: [
      [[appProject("p", { sourceRepos: ["*"] }), lockedDefault()], /sourceRepos must not contain "\*"/],
      [
        [appProject("p", { destinations: [{ server: "*", namespace: "demo-app" }] }), lockedDefault()],
        /must not use "\*"/,
      ],
      [
        [
          appProject("p", {
            destinations: [{ server: "https://kubernetes.default.svc", namespace: "argocd" }],
          }),
          lockedDefault(),
        ],
        /only a project limited to Applications may deploy into Argo CD's namespace "argocd"/,
      ],
      [
        [appProject("p", { clusterResourceWhitelist: [{ group: "*", kind: "*" }] }), lockedDefault()],
        /clusterResourceWhitelist must name groups and kinds/,
      ],
      [[appProject("p", {})], /"default" AppProject must be locked/],
      [[appProject("p", {}), lockedDefault({ sourceRepos: ["*"] })], /"default" AppProject must be locked/],
    ],
  },
  "eks-endpoint-restricted": {
    pass: [
      prodCluster({ endpointPublicAccess: true, publicAccessCidrs: ["198.51.100.0/24"] }),
      prodCluster({ endpointPublicAccess: false, publicAccessCidrs: [] }),
      [
        res("eks:index:Cluster", {
          tags: { "gitops-platform:environment": "staging" },
          publicAccessCidrs: ["0.0.0.0/0"],
        }),
      ],
    ],
    fail: [
      [
        prodCluster({ endpointPublicAccess: true, publicAccessCidrs: ["0.0.0.0/0"] }),
        /open to 0\.0\.0\.0\/0/,
      ],
      [
        prodCluster({ endpointPublicAccess: true, publicAccessCidrs: [] }),
        /open to everyone \(no publicAccessCidrs\)/,
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
    it(env, async function () {
      if (helmUnavailableReason() && !process.env.CI) this.skip();
      const platform = env === "dev" ? undefined : await platformValuesFile(env);
      const result = helm([
        "template",
        "demo-app",
        "gitops/charts/demo-app",
        "-f",
        `gitops/envs/${env}/values.yaml`,
        "-f",
        `gitops/envs/${env}/image.yaml`,
        ...(platform ? ["-f", platform] : []),
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

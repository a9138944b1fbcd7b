/**
 * Who may do what on the EKS stacks: the GitHub Actions roles (trust, scoped policies, permissions
 * boundary, EKS access entries), the account's one GitHub OIDC provider, and the cluster's endpoint,
 * nodes and CNI. The IAM documents are also run through a small evaluator (explicit deny wins, the
 * boundary intersects) so the tests say what a deploy can and cannot do, not only what the JSON holds.
 */
import { strict as assert } from "node:assert";
import { evaluateStack, type Evaluation } from "../automation/evaluate";
import { EKS_ACCESS_POLICIES } from "../components/cluster/access-entry";
import {
  deployBoundaryDocument,
  deployPolicyDocument,
  previewPolicyDocument,
  type DeployScope,
} from "../components/github/deploy-policy";
import { evaluated, resourcesOf, type Resource } from "./support/stacks";

const EKS_STACKS = ["staging", "prod"] as const;
const evaluations = new Map<string, Evaluation>();
before(async () => {
  for (const stack of EKS_STACKS) evaluations.set(stack, await evaluated(stack));
});
const find = (stack: string, type: string, suffix = ""): Resource[] =>
  resourcesOf(evaluations.get(stack)!, type, suffix);
const only = (stack: string, type: string, suffix = "") => {
  const found = find(stack, type, suffix);
  assert.equal(found.length, 1, `${stack}: one ${type} *${suffix}, got ${found.length}`);
  return found[0]!;
};
const ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry";
const ACCESS_POLICY = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation";

type Statement = {
  Effect: string;
  Action: string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
};
const statements = (document: string) => (JSON.parse(document) as { Statement: Statement[] }).Statement;
const glob = (pattern: string, value: string) =>
  new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`).test(value);
const matches = (s: Statement, action: string, resource: string) =>
  s.Action.some((a) => glob(a, action)) && [s.Resource].flat().some((r) => glob(r, resource));
/**
 * Whether the documents allow `action` on `resource`: some Allow matches and no Deny does, in the
 * policy and (when given) in the boundary. Conditions are not evaluated (the tests check them apart).
 */
function allowed(action: string, resource: string, policy: string, boundary?: string): boolean {
  const within = (document: string) => {
    const all = statements(document).filter((s) => matches(s, action, resource));
    return all.some((s) => s.Effect === "Allow") && !all.some((s) => s.Effect === "Deny");
  };
  return within(policy) && (boundary === undefined || within(boundary));
}

const SCOPE: DeployScope = {
  partition: "aws",
  accountId: "123456789012",
  region: "eu-west-1",
  clusterName: "gitops-staging",
  stateBucket: "acme-pulumi-state",
  managesGitHubOidcProvider: true,
};
const IAM = "arn:aws:iam::123456789012";

describe("access: what the deploy role can and cannot do", () => {
  const policy = deployPolicyDocument(SCOPE);
  const boundary = deployBoundaryDocument(SCOPE);
  const can = (action: string, resource: string) => allowed(action, resource, policy, boundary);

  it("manages the stack's own cluster, roles, policies, repository, buckets and state", () => {
    for (const [action, resource] of [
      ["eks:CreateCluster", "*"],
      ["eks:UpdateClusterConfig", "arn:aws:eks:eu-west-1:123456789012:cluster/gitops-staging"],
      ["eks:CreateAccessEntry", "arn:aws:eks:eu-west-1:123456789012:access-entry/gitops-staging/role/x"],
      ["iam:CreateRole", `${IAM}:role/gitops-staging-node-role-1a2b3c`],
      ["iam:PassRole", `${IAM}:role/gitops-staging-node-role-1a2b3c`],
      ["iam:CreatePolicy", `${IAM}:policy/gitops-staging-velero-1a2b`],
      ["iam:CreateOpenIDConnectProvider", `${IAM}:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC`],
      ["iam:CreateOpenIDConnectProvider", `${IAM}:oidc-provider/token.actions.githubusercontent.com`],
      ["ecr:PutImage", "arn:aws:ecr:eu-west-1:123456789012:repository/gitops-staging/demo-app"],
      ["ecr:GetAuthorizationToken", "*"],
      ["s3:PutBucketVersioning", "arn:aws:s3:::gitops-staging-velero-1a2b"],
      ["s3:PutObject", "arn:aws:s3:::acme-pulumi-state/.pulumi/stacks/staging.json"],
      ["ec2:CreateVpc", "*"],
    ] as const) {
      assert.ok(can(action, resource), `may ${action} on ${resource}`);
    }
  });

  it("touches nothing else: other stacks' names, users, its own role and boundary, backup objects", () => {
    for (const [action, resource] of [
      ["iam:CreateRole", `${IAM}:role/gitops-prod-node-role`],
      ["iam:CreateUser", `${IAM}:user/mallory`],
      ["iam:CreateAccessKey", `${IAM}:user/mallory`],
      ["iam:PutRolePolicy", `${IAM}:role/gitops-staging-github-actions-role-1a2b`],
      ["iam:AttachRolePolicy", `${IAM}:role/gitops-staging-github-actions-role-1a2b`],
      ["iam:CreatePolicyVersion", `${IAM}:policy/gitops-staging-github-actions-boundary-1a2b`],
      ["iam:DeleteRolePermissionsBoundary", `${IAM}:role/gitops-staging-github-actions-role-1a2b`],
      ["iam:PutRolePermissionsBoundary", `${IAM}:role/gitops-staging-node-role`],
      ["s3:GetObject", "arn:aws:s3:::gitops-staging-velero-1a2b/backups/daily/secrets.json"],
      ["s3:PutObject", "arn:aws:s3:::gitops-staging-velero-1a2b/backups/daily/secrets.json"],
      ["s3:DeleteObject", "arn:aws:s3:::gitops-staging-velero-1a2b/backups/daily/secrets.json"],
      ["eks:DeleteCluster", "arn:aws:eks:eu-west-1:123456789012:cluster/other"],
      ["ecr:PutImage", "arn:aws:ecr:eu-west-1:123456789012:repository/other/app"],
      ["sts:AssumeRole", `${IAM}:role/OrganizationAccountAccessRole`],
      ["organizations:LeaveOrganization", "*"],
    ] as const) {
      assert.ok(!can(action, resource), `may not ${action} on ${resource}`);
    }
  });

  it("the boundary caps it even if AdministratorAccess were attached", () => {
    const admin = JSON.stringify({ Statement: [{ Effect: "Allow", Action: ["*"], Resource: "*" }] });
    assert.ok(allowed("iam:CreateUser", `${IAM}:user/x`, admin), "the evaluator does allow with admin alone");
    assert.ok(!allowed("iam:CreateUser", `${IAM}:user/x`, admin, boundary));
    assert.ok(
      !allowed("iam:PutRolePolicy", `${IAM}:role/gitops-staging-github-actions-role`, admin, boundary),
    );
    assert.ok(!allowed("kms:Decrypt", "*", admin, boundary));
  });

  it("EC2 and GitHub OIDC provider rights depend on the stack's tag and on who owns the provider", () => {
    const ec2 = statements(policy).filter((s) =>
      s.Action.some((a) => a.startsWith("ec2:") && !a.includes("Describe")),
    );
    assert.ok(ec2.length > 0);
    for (const s of ec2) {
      const condition = JSON.stringify(s.Condition ?? {});
      assert.match(condition, /aws:(Request|Resource)Tag\/gitops-platform:cluster":"gitops-staging"/);
    }
    const shared = deployPolicyDocument({ ...SCOPE, managesGitHubOidcProvider: false });
    assert.ok(
      !allowed(
        "iam:DeleteOpenIDConnectProvider",
        `${IAM}:oidc-provider/token.actions.githubusercontent.com`,
        shared,
      ),
      "a stack that uses an existing provider may not delete it",
    );
  });

  for (const stack of EKS_STACKS) {
    it(`${stack}: covers every bucket and IRSA storage role the plan creates (Velero, Loki, Tempo)`, () => {
      const scope = { ...SCOPE, clusterName: `gitops-${stack}` };
      const mayDo = (action: string, resource: string) =>
        allowed(action, resource, deployPolicyDocument(scope), deployBoundaryDocument(scope));
      const prefixes = find(stack, "aws:s3/bucket:Bucket").map((b) => String(b.inputs.bucketPrefix));
      for (const store of ["velero", "loki", "tempo"]) {
        assert.ok(prefixes.includes(`gitops-${stack}-${store}-`), `${stack}: a ${store} bucket`);
      }
      for (const prefix of prefixes) {
        for (const action of ["s3:CreateBucket", "s3:PutBucketPolicy", "s3:PutLifecycleConfiguration"]) {
          assert.ok(mayDo(action, `arn:aws:s3:::${prefix}1a2b`), `may ${action} on ${prefix}*`);
        }
      }
      for (const store of ["backup", "logs", "traces"]) {
        const role = only(stack, "aws:iam/role:Role", `-${store}-storage-role`);
        for (const action of ["iam:CreateRole", "iam:PutRolePolicy", "iam:UpdateRoleDescription"]) {
          assert.ok(mayDo(action, `${IAM}:role/${role.name}-1a2b3c`), `may ${action} on ${role.name}`);
        }
      }
    });
  }

  it("the preview role reads and takes the state lock, and writes nothing else", () => {
    const preview = previewPolicyDocument(SCOPE);
    assert.ok(
      allowed("eks:DescribeCluster", "arn:aws:eks:eu-west-1:123456789012:cluster/gitops-staging", preview),
    );
    assert.ok(allowed("s3:GetObject", "arn:aws:s3:::acme-pulumi-state/.pulumi/stacks/staging.json", preview));
    assert.ok(
      allowed("s3:PutObject", "arn:aws:s3:::acme-pulumi-state/.pulumi/locks/staging/1.json", preview),
    );
    for (const [action, resource] of [
      ["s3:PutObject", "arn:aws:s3:::acme-pulumi-state/.pulumi/stacks/staging.json"],
      ["s3:GetObject", "arn:aws:s3:::gitops-staging-velero-1a2b/backups/x"],
      ["eks:UpdateClusterConfig", "arn:aws:eks:eu-west-1:123456789012:cluster/gitops-staging"],
      ["iam:CreateRole", `${IAM}:role/gitops-staging-x`],
      ["ecr:PutImage", "arn:aws:ecr:eu-west-1:123456789012:repository/gitops-staging/demo-app"],
      ["ecr:GetAuthorizationToken", "*"],
      ["ec2:CreateVpc", "*"],
    ] as const) {
      assert.ok(!allowed(action, resource, preview), `preview may not ${action} on ${resource}`);
    }
  });
});

describe("access: the stacks' GitHub Actions roles", () => {
  for (const stack of EKS_STACKS) {
    it(`${stack}: the deploy role has the scoped policy and a permissions boundary, and no AdministratorAccess`, () => {
      const role = only(stack, "aws:iam/role:Role", "-github-actions-role");
      const boundary = only(stack, "aws:iam/policy:Policy", "-github-actions-boundary");
      assert.equal(role.inputs.permissionsBoundary, `arn:aws:mock:::${boundary.name}`);
      const deploy = only(stack, "aws:iam/policy:Policy", "-github-actions-deploy");
      assert.match(String(deploy.inputs.policy), new RegExp(`role/gitops-${stack}-\\*`));
      const attached = find(stack, "aws:iam/rolePolicyAttachment:RolePolicyAttachment").map((a) =>
        String(a.inputs.policyArn),
      );
      assert.ok(attached.includes(`arn:aws:mock:::${deploy.name}`), "the deploy policy is attached");
      assert.deepEqual(
        attached.filter((arn) => /AdministratorAccess/.test(arn)),
        [],
      );
    });

    it(`${stack}: the deploy role is admitted to the cluster as cluster admin through an access entry`, () => {
      const outputs = evaluations.get(stack)!.outputs;
      const entry = only(stack, ACCESS_ENTRY, "-github-actions-access");
      assert.equal(entry.inputs.principalArn, outputs.githubActionsRoleArn);
      assert.equal(entry.inputs.clusterName, `gitops-${stack}`);
      assert.equal(entry.inputs.type, "STANDARD");
      const association = only(stack, ACCESS_POLICY, "-github-actions-access-policy");
      assert.equal(association.inputs.policyArn, EKS_ACCESS_POLICIES.clusterAdmin);
      assert.deepEqual(association.inputs.accessScope, { type: "cluster" });
      assert.equal(association.inputs.principalArn, outputs.githubActionsRoleArn);
    });
  }

  it("staging: the preview role reads (view access policy), trusted only from preview.yml on pull requests", () => {
    const outputs = evaluations.get("staging")!.outputs;
    const association = only("staging", ACCESS_POLICY, "-github-preview-access-policy");
    assert.equal(association.inputs.policyArn, EKS_ACCESS_POLICIES.view);
    assert.equal(association.inputs.principalArn, outputs.githubPreviewRoleArn);
    const role = only("staging", "aws:iam/role:Role", "-github-preview-role");
    const trust = JSON.parse(String(role.inputs.assumeRolePolicy)).Statement[0];
    assert.equal(
      trust.Condition.StringEquals["token.actions.githubusercontent.com:sub"],
      "repo:gitops-platform/gitops-platform:environment:staging-preview",
    );
    assert.deepEqual(trust.Condition.StringLike, {
      "token.actions.githubusercontent.com:job_workflow_ref":
        "gitops-platform/gitops-platform/.github/workflows/preview.yml@refs/pull/*/merge",
    });
    const read = only("staging", "aws:iam/policy:Policy", "-github-preview-read");
    assert.doesNotMatch(String(read.inputs.policy), /"(ec2:Create\*|iam:CreateRole|s3:Put\*)"/);
    assert.equal(
      find("prod", "aws:iam/role:Role", "-github-preview-role").length,
      0,
      "prod has no preview role",
    );
  });

  it("clusterAdminArns get cluster-admin access entries of their own", async () => {
    const admin = "arn:aws:iam::123456789012:role/platform-admins";
    const e = await evaluateStack("prod", { overrides: { "gitops-platform:clusterAdminArns": [admin] } });
    assert.equal(e.error, undefined);
    const entry = resourcesOf(e, ACCESS_ENTRY, "-admin-0-access")[0]!;
    assert.equal(entry.inputs.principalArn, admin);
    const association = resourcesOf(e, ACCESS_POLICY, "-admin-0-access-policy")[0]!;
    assert.equal(association.inputs.policyArn, EKS_ACCESS_POLICIES.clusterAdmin);
  });
});

describe("access: one GitHub OIDC provider per account", () => {
  const OIDC = "aws:iam/openIdConnectProvider:OpenIdConnectProvider";
  const trustedProvider = (e: Evaluation) =>
    JSON.parse(
      String(resourcesOf(e, "aws:iam/role:Role", "-github-actions-role")[0]!.inputs.assumeRolePolicy),
    ).Statement[0].Principal.Federated;

  it("separate accounts (as committed): staging and prod each create their account's provider", () => {
    for (const stack of EKS_STACKS) {
      const provider = only(stack, OIDC);
      assert.equal(provider.inputs.url, "https://token.actions.githubusercontent.com");
      assert.deepEqual(provider.inputs.clientIdLists, ["sts.amazonaws.com"]);
      assert.equal(trustedProvider(evaluations.get(stack)!), `arn:aws:mock:::${provider.name}`);
    }
  });

  it("one account: prod uses the provider staging created, looked up by URL or given by ARN", async () => {
    const lookedUp = await evaluateStack("prod", {
      overrides: { "gitops-platform:githubOidcProvider": "existing" },
    });
    assert.equal(lookedUp.error, undefined);
    assert.equal(resourcesOf(lookedUp, OIDC).length, 0, "prod creates none");
    assert.equal(
      trustedProvider(lookedUp),
      "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
    );
    const deploy = resourcesOf(lookedUp, "aws:iam/policy:Policy", "-github-actions-deploy")[0]!;
    assert.doesNotMatch(
      String(deploy.inputs.policy),
      /oidc-provider\/token\.actions/,
      "nor may it delete it",
    );

    const arn = "arn:aws:iam::210987654321:oidc-provider/token.actions.githubusercontent.com";
    const byArn = await evaluateStack("prod", {
      overrides: {
        "gitops-platform:githubOidcProvider": "existing",
        "gitops-platform:githubOidcProviderArn": arn,
      },
    });
    assert.equal(byArn.error, undefined);
    assert.equal(resourcesOf(byArn, OIDC).length, 0);
    assert.equal(trustedProvider(byArn), arn);
  });
});

describe("access: the EKS endpoint, nodes and network", () => {
  it("the public endpoint admits only the configured CIDRs", () => {
    assert.deepEqual(only("prod", "eks:index:Cluster").inputs.publicAccessCidrs, ["198.51.100.0/24"]);
    assert.deepEqual(only("staging", "eks:index:Cluster").inputs.publicAccessCidrs, ["0.0.0.0/0"]);
  });

  for (const stack of EKS_STACKS) {
    it(`${stack}: nodes take IMDSv2 only with hop limit 1 from their launch template, disk size included`, () => {
      const template = only(stack, "aws:ec2/launchTemplate:LaunchTemplate", "-nodes");
      assert.deepEqual(template.inputs.metadataOptions, {
        httpEndpoint: "enabled",
        httpTokens: "required",
        httpPutResponseHopLimit: 1,
        instanceMetadataTags: "disabled",
      });
      const disk = template.inputs.blockDeviceMappings[0];
      assert.equal(disk.ebs.volumeSize, stack === "prod" ? 100 : 50);
      assert.equal(disk.ebs.encrypted, "true");
      const group = only(stack, "eks:index:ManagedNodeGroup");
      assert.equal(group.inputs.launchTemplate.id, `${template.name}-id`);
      assert.equal(group.inputs.diskSize, undefined, "EKS refuses a disk size next to a launch template");
    });

    it(`${stack}: the VPC CNI enforces NetworkPolicies and gets its policy through IRSA, not the node role`, () => {
      const addon = only(stack, "aws:eks/addon:Addon", "-vpc-cni");
      assert.equal(addon.inputs.addonName, "vpc-cni");
      assert.deepEqual(JSON.parse(String(addon.inputs.configurationValues)), { enableNetworkPolicy: "true" });
      const role = only(stack, "aws:iam/role:Role", "-vpc-cni");
      assert.equal(addon.inputs.serviceAccountRoleArn, `arn:aws:mock:::${role.name}`);
      const trust = JSON.parse(String(role.inputs.assumeRolePolicy)).Statement[0];
      assert.match(
        JSON.stringify(trust.Condition.StringEquals),
        /:sub":"system:serviceaccount:kube-system:aws-node"/,
      );
      assert.equal(
        only(stack, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "-vpc-cni-policy").inputs.policyArn,
        "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
      );
      const nodePolicies = find(stack, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        .filter((a) => /-node-policy-\d+$/.test(a.name))
        .map((a) => a.inputs.policyArn);
      assert.deepEqual(nodePolicies, [
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
      ]);
      assert.equal(only(stack, "eks:index:Cluster").inputs.useDefaultVpcCni, true, "no second CNI add-on");
      const group = only(stack, "eks:index:ManagedNodeGroup");
      assert.ok(group.dependsOn.includes(addon.urn), "nodes join after the CNI has its role");
    });
  }
});

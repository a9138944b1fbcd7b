import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import { GITHUB_HOOKS_IPV4, readProject, evaluateStack, type Evaluation } from "../automation/evaluate";
import { planJson, policyVerdicts } from "../automation/plan";
import {
  adminLayout,
  ALB_MAX_VALUES_PER_CONDITION,
  ALB_MAX_VALUES_PER_RULE,
  ALB_SSL_POLICY,
} from "../components/addons/alb-ingress";
import { webhookIngressSpec } from "../components/addons/argocd-webhook-ingress";
import {
  LBC_IAM_POLICY_FILE,
  LBC_IAM_POLICY_RELEASE,
} from "../components/addons/aws-load-balancer-controller";
import { WAF_MANAGED_RULE_GROUPS } from "../components/addons/web-acl";
import { evaluated } from "./support/stacks";

// The masked plan JSON (what `npm run plan -- <stack> --json` prints) is read freely.
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const A = "alb.ingress.kubernetes.io";
const EKS_STACKS = ["staging", "prod"] as const;
const plans = new Map<string, { plan: Obj; evaluation: Evaluation }>();
before(async function () {
  this.timeout(30000);
  for (const stack of EKS_STACKS) {
    const evaluation = await evaluated(stack);
    // Exactly what the plan command prints with --json: secrets masked.
    const plan = JSON.parse(JSON.stringify(planJson(evaluation, policyVerdicts(evaluation)))) as Obj;
    plans.set(stack, { plan, evaluation });
  }
});

const resources = (stack: string, type: string, suffix = ""): Obj[] =>
  plans.get(stack)!.plan.resources.filter((r: Obj) => r.type === type && r.name.endsWith(suffix));
const one = (stack: string, type: string, suffix = ""): Obj => {
  const found = resources(stack, type, suffix);
  assert.equal(found.length, 1, `${stack}: one ${type} *${suffix} (got ${found.length})`);
  return found[0]!;
};
const release = (stack: string, name: string): Obj =>
  resources(stack, "kubernetes:helm.sh/v3:Release").find((r) => r.inputs.name === name)!.inputs;
const rolePolicy = (stack: string, prefix: string): Obj =>
  JSON.parse(one(stack, "aws:iam/rolePolicy:RolePolicy", `${prefix}-policy`).inputs.policy);
const trustSubject = (stack: string, prefix: string): string => {
  const trust = JSON.parse(one(stack, "aws:iam/role:Role", `${prefix}-role`).inputs.assumeRolePolicy);
  const equals = trust.Statement[0].Condition.StringEquals as Record<string, string>;
  return Object.entries(equals).find(([k]) => k.endsWith(":sub"))![1];
};

for (const stack of EKS_STACKS) {
  const domain = `${stack}.example.com`;
  const cluster = `gitops-${stack}`;

  describe(`front door: ${stack} plan (--json)`, () => {
    it("an ACM certificate for <domain> and *.<domain>, its DNS validation record in the zone, and the wait for it", () => {
      const cert = one(stack, "aws:acm/certificate:Certificate");
      assert.equal(cert.inputs.domainName, domain);
      assert.deepEqual(cert.inputs.subjectAlternativeNames, [`*.${domain}`]);
      assert.equal(cert.inputs.validationMethod, "DNS");
      // ACM gives a name and its wildcard the same CNAME: one record validates both.
      const record = one(stack, "aws:route53/record:Record", "-validation");
      assert.equal(record.inputs.type, "CNAME");
      assert.match(record.inputs.name, new RegExp(`^_[0-9a-f]+\\.${domain.replace(/\./g, "\\.")}\\.$`));
      assert.equal(record.inputs.zoneId, "Z0MOCKZONE00000000000", "the zone found by the domain's name");
      const validation = one(stack, "aws:acm/certificateValidation:CertificateValidation");
      assert.deepEqual(validation.inputs.validationRecordFqdns, [record.inputs.name.replace(/\.$/, "")]);
      // Every load balancer uses the validated certificate (the validation's ARN, not the bare one).
      const annotations = release(stack, "grafana").values.ingress.annotations;
      assert.equal(annotations[`${A}/certificate-arn`], validation.inputs.certificateArn);
    });

    it("external-dns limited to the domain and its one zone, records never deleted by default", () => {
      const values = release(stack, "external-dns").values;
      assert.equal(release(stack, "external-dns").namespace, "external-dns");
      assert.deepEqual(values.domainFilters, [domain]);
      assert.equal(values.policy, "upsert-only");
      assert.equal(values.txtOwnerId, cluster);
      assert.deepEqual(values.sources, ["ingress"]);
      assert.deepEqual(values.extraArgs, [
        "--zone-id-filter=Z0MOCKZONE00000000000",
        "--aws-zone-type=public",
      ]);
      assert.equal(trustSubject(stack, "-external-dns"), "system:serviceaccount:external-dns:external-dns");
      assert.match(values.serviceAccount.annotations["eks.amazonaws.com/role-arn"], /external-dns-role/);
      const policy = rolePolicy(stack, "-external-dns");
      const change = policy.Statement.find((s: Obj) => s.Action.includes("route53:ChangeResourceRecordSets"));
      assert.deepEqual(change.Resource, ["arn:aws:route53:::hostedzone/Z0MOCKZONE00000000000"]);
      assert.deepEqual(change.Condition["ForAllValues:StringLike"], {
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": [domain, `*.${domain}`],
      });
      assert.deepEqual(change.Condition["ForAllValues:StringEquals"], {
        "route53:ChangeResourceRecordSetsActions": ["CREATE", "UPSERT"],
      });
      for (const statement of policy.Statement) {
        if (statement.Resource.includes("*")) assert.deepEqual(statement.Action, ["route53:ListHostedZones"]);
      }
    });

    it("the AWS Load Balancer Controller with its published IAM policy, the current TLS policy and no Service webhook", () => {
      const lbc = release(stack, "aws-load-balancer-controller");
      assert.equal(lbc.namespace, "kube-system");
      assert.equal(lbc.values.clusterName, cluster);
      assert.equal(lbc.values.region, "eu-west-1");
      assert.match(lbc.values.vpcId, /^vpc-/);
      assert.equal(lbc.values.defaultSSLPolicy, ALB_SSL_POLICY);
      assert.equal(lbc.values.enableServiceMutatorWebhook, false);
      assert.equal(lbc.values.ingressClass, "alb");
      assert.equal(lbc.values.replicaCount, 2);
      assert.deepEqual(lbc.values.podDisruptionBudget, { maxUnavailable: 1 });
      assert.equal(
        trustSubject(stack, "-lb-controller"),
        "system:serviceaccount:kube-system:aws-load-balancer-controller",
      );
      assert.deepEqual(
        rolePolicy(stack, "-lb-controller"),
        JSON.parse(fs.readFileSync(LBC_IAM_POLICY_FILE, "utf8")),
        "the project's iam_policy.json, unchanged",
      );
    });

    it("metrics-server for the HPA's resource metrics", () => {
      const values = release(stack, "metrics-server").values;
      assert.equal(release(stack, "metrics-server").namespace, "kube-system");
      if (stack === "prod") {
        assert.equal(values.replicas, 2);
        assert.deepEqual(values.podDisruptionBudget, { enabled: true, minAvailable: 1 });
      } else assert.equal(values.replicas, 1);
    });

    it("Cluster Autoscaler over the managed node groups, resizing only groups tagged as this cluster's", () => {
      const values = release(stack, "cluster-autoscaler").values;
      assert.deepEqual(values.autoDiscovery, { clusterName: cluster });
      assert.equal(values.awsRegion, "eu-west-1");
      assert.equal(values.rbac.serviceAccount.name, "cluster-autoscaler");
      assert.equal(
        trustSubject(stack, "-cluster-autoscaler"),
        "system:serviceaccount:kube-system:cluster-autoscaler",
      );
      const policy = rolePolicy(stack, "-cluster-autoscaler");
      const scale = policy.Statement.find((s: Obj) => s.Action.includes("autoscaling:SetDesiredCapacity"));
      assert.deepEqual(scale.Condition, {
        StringEquals: { [`aws:ResourceTag/k8s.io/cluster-autoscaler/${cluster}`]: "owned" },
      });
      // The node group it scales: spot on staging, on-demand on prod, over the private subnets of every AZ.
      const nodes = one(stack, "eks:index:ManagedNodeGroup");
      assert.equal(nodes.inputs.capacityType, stack === "prod" ? "ON_DEMAND" : "SPOT");
      assert.ok(nodes.inputs.scalingConfig.maxSize > nodes.inputs.scalingConfig.minSize, "room to scale");
    });

    it("a default, encrypted gp3 StorageClass that Prometheus's volume uses", () => {
      const sc = one(stack, "kubernetes:storage.k8s.io/v1:StorageClass").inputs;
      assert.equal(sc.metadata.name, "gp3");
      assert.equal(sc.metadata.annotations["storageclass.kubernetes.io/is-default-class"], "true");
      assert.equal(sc.provisioner, "ebs.csi.aws.com");
      assert.deepEqual(sc.parameters, {
        type: "gp3",
        encrypted: "true",
        "csi.storage.k8s.io/fstype": "ext4",
      });
      assert.equal(sc.volumeBindingMode, "WaitForFirstConsumer");
      const claim = release(stack, "kube-prometheus-stack").values.prometheus.prometheusSpec.storageSpec;
      assert.equal(claim.volumeClaimTemplate.spec.storageClassName, "gp3");
    });

    it("Argo CD and Grafana through HTTPS Ingresses only: no LoadBalancer Service anywhere", () => {
      const text = JSON.stringify(plans.get(stack)!.plan.resources);
      assert.doesNotMatch(text, /"type":"LoadBalancer"/);
      assert.doesNotMatch(text, /aws-load-balancer-type/);
      for (const [name, ingress] of [
        ["argocd", release(stack, "argocd").values.server.ingress],
        ["grafana", release(stack, "grafana").values.ingress],
      ]) {
        assert.equal(ingress.enabled, true, name);
        assert.equal(ingress.annotations[`${A}/listen-ports`], '[{"HTTP":80},{"HTTPS":443}]', name);
        assert.equal(ingress.annotations[`${A}/ssl-redirect`], "443", `${name}: HTTP only redirects`);
        assert.equal(ingress.annotations[`${A}/ssl-policy`], ALB_SSL_POLICY, name);
      }
      const outputs = plans.get(stack)!.plan.outputs;
      assert.equal(outputs.appUrl, `https://app.${domain}`);
      assert.equal(outputs.argocdUrl, `https://argocd.${domain}`);
      assert.equal(outputs.grafanaUrl, `https://grafana.${domain}`);
    });

    it("a GitHub webhook to https://argocd.<domain>/api/webhook, and the Ingress that admits GitHub's hook ranges there", () => {
      const hook = one(stack, "github:index/repositoryWebhook:RepositoryWebhook");
      assert.equal(hook.inputs.configuration.url, `https://argocd.${domain}/api/webhook`);
      assert.equal(hook.inputs.configuration.secret, "[secret]");
      const ingress = one(stack, "kubernetes:networking.k8s.io/v1:Ingress", "-argocd-webhook-ingress").inputs;
      assert.equal(ingress.metadata.namespace, "argocd");
      const rule = ingress.spec.rules.find((r: Obj) => r.host === `argocd.${domain}`);
      const webhookPaths = rule.http.paths.filter((p: Obj) => p.path === "/api/webhook");
      assert.ok(webhookPaths.every((p: Obj) => p.pathType === "Exact"));
      // Every hook range is admitted by one rule or another, none beyond them.
      const admitted = webhookPaths.flatMap((p: Obj) => {
        const conditions = JSON.parse(
          ingress.metadata.annotations[`${A}/conditions.${p.backend.service.name}`],
        );
        return conditions[0].sourceIpConfig.values;
      });
      assert.deepEqual(admitted, GITHUB_HOOKS_IPV4);
      assert.equal(ingress.metadata.annotations[`${A}/scheme`], "internet-facing");
    });

    it(
      stack === "staging"
        ? "staging (adminCidrs set): UIs and webhook share one internet-facing load balancer admitting the admin range and GitHub, GitHub refused on the UIs"
        : "prod (adminCidrs empty): internal UIs, argocd.<domain> published for the webhook's own internet-facing load balancer",
      () => {
        const webhook = one(
          stack,
          "kubernetes:networking.k8s.io/v1:Ingress",
          "-argocd-webhook-ingress",
        ).inputs;
        const w = webhook.metadata.annotations;
        const ui = release(stack, "argocd").values.server.ingress.annotations;
        const grafana = release(stack, "grafana").values.ingress.annotations;
        if (stack === "staging") {
          assert.equal(ui[`${A}/scheme`], "internet-facing");
          assert.equal(w[`${A}/group.name`], ui[`${A}/group.name`]);
          assert.equal(w[`${A}/inbound-cidrs`], ["203.0.113.0/24", ...GITHUB_HOOKS_IPV4].join(","));
          const hosts = webhook.spec.rules.map((r: Obj) => r.host);
          assert.deepEqual(hosts, [`argocd.${domain}`, `grafana.${domain}`]);
          const refusals = webhook.spec.rules.flatMap((r: Obj) =>
            r.http.paths
              .filter((p: Obj) => p.path === "/")
              .map((p: Obj) => JSON.parse(w[`${A}/actions.${p.backend.service.name}`])),
          );
          assert.ok(
            refusals.length >= 2 && refusals.every((a: Obj) => a.fixedResponseConfig.statusCode === "403"),
          );
        } else {
          assert.equal(ui[`${A}/scheme`], "internal");
          assert.equal(grafana[`${A}/scheme`], "internal");
          assert.equal(ui["external-dns.alpha.kubernetes.io/ingress-hostname-source"], "annotation-only");
          assert.equal(w[`${A}/scheme`], "internet-facing");
          assert.notEqual(w[`${A}/group.name`], ui[`${A}/group.name`]);
          assert.equal(w[`${A}/inbound-cidrs`], GITHUB_HOOKS_IPV4.join(","));
          assert.deepEqual(
            webhook.spec.rules.map((r: Obj) => r.host),
            [`argocd.${domain}`],
          );
        }
        assert.equal(grafana[`${A}/healthcheck-path`], "/api/health");
      },
    );

    it(`WAF on the app's load balancer ${stack === "prod" ? "(prod: on)" : "(staging: off unless wafEnabled)"}`, () => {
      const acls = resources(stack, "aws:wafv2/webAcl:WebAcl");
      if (stack === "staging") {
        assert.equal(acls.length, 0);
        return;
      }
      const acl = acls[0]!.inputs;
      assert.equal(acl.scope, "REGIONAL");
      assert.deepEqual(acl.defaultAction, { allow: {} });
      const rules = acl.rules as Obj[];
      assert.deepEqual(
        rules
          .filter((r) => r.statement.managedRuleGroupStatement)
          .map((r) => r.statement.managedRuleGroupStatement.name),
        WAF_MANAGED_RULE_GROUPS,
      );
      const rate = rules.find((r) => r.statement.rateBasedStatement)!;
      assert.deepEqual(rate.action, { block: {} });
      assert.equal(rate.statement.rateBasedStatement.aggregateKeyType, "IP");
    });

    it("passes every mandatory policy, the front door's rules among them", () => {
      const verdicts = plans.get(stack)!.plan.policies as Obj[];
      for (const name of ["admin-uis-private", "certificates-dns-validated", "iam-policies-scoped"]) {
        assert.deepEqual(verdicts.find((p) => p.name === name)?.violations, [], name);
      }
    });
  });
}

describe("front door: admin load balancers", () => {
  const base = { clusterName: "c", domain: "d.example.com", certificateArn: "arn:aws:acm:x" };

  it("with adminCidrs: one internet-facing load balancer admitting the admin networks and GitHub's ranges, GitHub refused on the UIs", () => {
    const layout = adminLayout({ ...base, adminCidrs: ["203.0.113.0/24"], hookCidrs: GITHUB_HOOKS_IPV4 });
    assert.equal(layout.argocd.scheme, "internet-facing");
    assert.equal(
      layout.argocd.inboundCidrs,
      undefined,
      "inbound-cidrs once per group, on the webhook Ingress",
    );
    assert.deepEqual(layout.webhook!.inboundCidrs, ["203.0.113.0/24", ...GITHUB_HOOKS_IPV4]);
    assert.equal(layout.webhook!.group, layout.argocd.group);
    assert.ok(layout.webhook!.groupOrder! < 0, "the webhook's rules come first");
    assert.deepEqual(layout.denyHooksOnHosts, ["argocd.d.example.com", "grafana.d.example.com"]);
  });

  it("without adminCidrs: internal UIs, and an internet-facing webhook load balancer that owns argocd.<domain> in DNS", () => {
    const layout = adminLayout({ ...base, adminCidrs: [], hookCidrs: GITHUB_HOOKS_IPV4 });
    assert.equal(layout.argocd.scheme, "internal");
    assert.equal(layout.grafana.scheme, "internal");
    assert.equal(layout.argocd.skipDns, true);
    assert.equal(
      layout.grafana.skipDns,
      undefined,
      "grafana.<domain> resolves to the internal load balancer",
    );
    assert.equal(layout.webhook!.scheme, "internet-facing");
    assert.notEqual(layout.webhook!.group, layout.argocd.group);
    assert.deepEqual(layout.webhook!.inboundCidrs, GITHUB_HOOKS_IPV4);
  });

  it("with adminCidrs and no webhook: the UIs' own Ingress carries the admin networks", () => {
    const layout = adminLayout({ ...base, adminCidrs: ["203.0.113.0/24"], hookCidrs: [] });
    assert.equal(layout.webhook, undefined);
    assert.deepEqual(layout.argocd.inboundCidrs, ["203.0.113.0/24"]);
  });

  it("every webhook rule stays within the ALB limits (3 values per condition, 5 per rule)", () => {
    const ranges = [...GITHUB_HOOKS_IPV4, "10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"];
    const layout = adminLayout({ ...base, adminCidrs: ["203.0.113.0/24"], hookCidrs: ranges });
    const spec = webhookIngressSpec({
      host: "argocd.d.example.com",
      alb: layout.webhook!,
      hookCidrs: ranges,
      denyHooksOnHosts: layout.denyHooksOnHosts,
      service: { name: "argocd-server", port: 80 },
    });
    const seen: string[] = [];
    for (const rule of spec.rules) {
      for (const path of rule.http.paths) {
        const conditions = JSON.parse(spec.annotations[`${A}/conditions.${path.backend.service.name}`]!);
        const sources = conditions[0].sourceIpConfig.values as string[];
        assert.ok(sources.length <= ALB_MAX_VALUES_PER_CONDITION);
        assert.ok(1 + 1 + sources.length <= ALB_MAX_VALUES_PER_RULE, "host + path + source ranges");
        if (path.path === "/api/webhook") seen.push(...sources);
      }
    }
    assert.deepEqual(seen, ranges, "every range admitted exactly once");
    assert.throws(
      () =>
        webhookIngressSpec({
          ...spec,
          host: "h",
          alb: layout.webhook!,
          hookCidrs: [],
          service: { name: "s", port: 80 },
        }),
      /hook ranges/,
    );
  });

  it("a staging stack with 0.0.0.0/0 in adminCidrs is an explicit, warned choice; prod refuses it", async () => {
    const open = await evaluateStack("staging", {
      overrides: { "gitops-platform:adminCidrs": ["0.0.0.0/0"] },
    });
    assert.equal(open.error, undefined);
    const prod = await evaluateStack("prod", { overrides: { "gitops-platform:adminCidrs": ["0.0.0.0/0"] } });
    assert.match(String(prod.error), /gitops-platform:adminCidrs: 0\.0\.0\.0\/0 would open/);
  });
});

describe("front door: pins kept in step", () => {
  it("the shipped IAM policy is the controller's at the release the pinned chart installs", () => {
    const pinned = String(readProject().config?.awsLoadBalancerControllerChartVersion?.default);
    assert.equal(
      pinned,
      LBC_IAM_POLICY_RELEASE.chartVersion,
      `chart ${pinned}: fetch docs/install/iam_policy.json of its controller release and update LBC_IAM_POLICY_RELEASE`,
    );
    const policy = JSON.parse(fs.readFileSync(LBC_IAM_POLICY_FILE, "utf8"));
    assert.equal(policy.Version, "2012-10-17");
    const actions = policy.Statement.flatMap((s: Obj) => s.Action);
    for (const needed of [
      "elasticloadbalancing:CreateLoadBalancer",
      "wafv2:AssociateWebACL",
      "acm:DescribeCertificate",
    ]) {
      assert.ok(actions.includes(needed), needed);
    }
  });
});

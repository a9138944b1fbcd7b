import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import {
  ConfigError,
  CONFIG_NAMESPACE,
  configWarnings,
  parsePlatformConfig,
  rawConfigSchema,
  SECRET_CONFIG_KEYS,
} from "../components/config";
import * as prettier from "prettier";
import { CONFIG_DOC, END_MARKER, renderConfigDoc, START_MARKER } from "../automation/config-reference";
import { evaluateStack, listStacks, PROJECT_DIR, readProject, readStackFile } from "../automation/evaluate";

const project = readProject();
const declared = project.config ?? {};
const schemaKeys = Object.keys(rawConfigSchema.shape).sort();
/** Provider namespaces a stack file may set besides the project's own keys. */
const PROVIDER_NAMESPACES = ["aws", "github", "kubernetes", "docker", "command"];

describe("config: Pulumi.yaml is the declared schema", () => {
  it("declares exactly the keys components/config.ts validates", () => {
    assert.deepEqual(Object.keys(declared).sort(), [...schemaKeys, ...SECRET_CONFIG_KEYS].sort());
    for (const key of SECRET_CONFIG_KEYS)
      assert.equal(declared[key]?.secret, true, `${key} is declared secret`);
  });

  it("gives every key a known type, a description, and a default of that type", () => {
    const jsType = { string: "string", integer: "number", boolean: "boolean", array: "object" } as const;
    for (const [key, decl] of Object.entries(declared)) {
      assert.ok(
        decl.type && decl.type in jsType,
        `${key}: type ${decl.type} is not string|integer|boolean|array`,
      );
      assert.ok((decl.description ?? "").length > 10, `${key}: needs a description`);
      if (decl.default !== undefined) {
        assert.equal(typeof decl.default, jsType[decl.type as keyof typeof jsType], `${key}: default type`);
        if (decl.type === "integer")
          assert.ok(Number.isInteger(decl.default), `${key}: default not an integer`);
        if (decl.type === "array") assert.ok(Array.isArray(decl.default), `${key}: default not an array`);
      }
    }
  });

  it("pins every chart version exactly", () => {
    const chartKeys = Object.keys(declared).filter((k) => k.endsWith("ChartVersion"));
    assert.ok(
      chartKeys.length >= 4,
      "argo-cd, kube-prometheus-stack, grafana and velero versions are declared",
    );
    for (const key of chartKeys) assert.match(String(declared[key]?.default), /^\d+\.\d+\.\d+$/, key);
  });

  /** Keys of a stack file that Pulumi.yaml does not declare, or in a namespace no provider owns. */
  const strayKeys = (stack: string, projectDir = PROJECT_DIR) =>
    Object.keys(readStackFile(stack, projectDir)).flatMap((key) => {
      const [namespace, name] = key.split(":");
      if (namespace === CONFIG_NAMESPACE) return name && name in declared ? [] : [`${key} is not declared`];
      return PROVIDER_NAMESPACES.includes(namespace ?? "") ? [] : [`${key} has an unknown namespace`];
    });

  for (const stack of listStacks()) {
    it(`Pulumi.${stack}.yaml sets only declared keys`, () => {
      assert.deepEqual(strayKeys(stack), [], `Pulumi.${stack}.yaml`);
    });
  }

  it("the same check catches an undeclared key and an unknown namespace", () => {
    const dir = fs.mkdtempSync(path.join(PROJECT_DIR, ".cache", "stray-"));
    try {
      fs.copyFileSync(path.join(PROJECT_DIR, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
      fs.writeFileSync(
        path.join(dir, "Pulumi.x.yaml"),
        "config:\n  gitops-platform:nodeCount: 3\n  gitops-platform:nodeMinSize: 2\n  gcp:project: p\n",
      );
      assert.deepEqual(strayKeys("x", dir), [
        "gitops-platform:nodeCount is not declared",
        "gcp:project has an unknown namespace",
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("docs/configuration.md holds the reference generated from Pulumi.yaml, as Prettier writes it (npm run docs:config)", async () => {
    const page = fs.readFileSync(CONFIG_DOC, "utf8");
    assert.equal(page, await renderConfigDoc(), "stale: run npm run docs:config");
    assert.ok(
      await prettier.check(page, { ...(await prettier.resolveConfig(CONFIG_DOC)), filepath: CONFIG_DOC }),
    );
    const section = page.slice(page.indexOf(START_MARKER), page.indexOf(END_MARKER));
    for (const key of Object.keys(declared))
      assert.match(section, new RegExp(`\\|\\s*\`${key}\`\\s*\\|`), `the reference lacks ${key}`);
  });
});

describe("config: validation", () => {
  const defaults = Object.fromEntries(
    Object.entries(declared)
      .filter(([, d]) => d.default !== undefined)
      .map(([k, d]) => [k, typeof d.default === "string" ? d.default : JSON.stringify(d.default)]),
  );
  const context = { project: "gitops-platform", stack: "test" };
  const devRaw = { ...defaults, gitopsRepoUrl: "https://github.com/o/r.git" };

  it("returns a frozen, typed object", () => {
    const config = parsePlatformConfig(devRaw, context);
    assert.equal(config.cluster.provider, "kind");
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.cluster) && Object.isFrozen(config.charts));
    assert.throws(() => {
      (config as { environment: string }).environment = "prod";
    }, TypeError);
  });

  it("reports every problem at once", () => {
    const err = captureConfigError(() =>
      parsePlatformConfig({ ...devRaw, environment: "qa", kindWorkerNodes: "-1" }, context),
    );
    assert.equal(err.problems.length, 2);
  });

  // Each case: overrides on top of a real stack file, then what the message must name.
  const badCases: Array<{ title: string; stack: string; set: Record<string, unknown>; expect: RegExp[] }> = [
    {
      title: "wrong cluster kind",
      stack: "dev",
      set: { clusterProvider: "gke" },
      expect: [/gitops-platform:clusterProvider/, /"kind"\|"eks"/, /"gke"/],
    },
    {
      title: "unknown environment",
      stack: "dev",
      set: { environment: "qa" },
      expect: [/gitops-platform:environment/, /"dev"\|"staging"\|"prod"/, /"qa"/],
    },
    {
      title: "zero node count",
      stack: "staging",
      set: { nodeMinSize: 0 },
      expect: [/gitops-platform:nodeMinSize/, />=1/, /got "0"/],
    },
    {
      title: "negative node count",
      stack: "prod",
      set: { nodeDesiredSize: -2 },
      expect: [/gitops-platform:nodeDesiredSize/, />=1/, /"-2"/],
    },
    {
      title: "non-integer node count",
      stack: "prod",
      set: { nodeMaxSize: "three" },
      expect: [/gitops-platform:nodeMaxSize/, /integer/, /"three"/],
    },
    {
      title: "min greater than max",
      stack: "staging",
      set: { nodeMinSize: 5, nodeMaxSize: 3, nodeDesiredSize: 4 },
      expect: [/gitops-platform:nodeMinSize/, /must not exceed nodeMaxSize/, /5 > nodeMaxSize 3/],
    },
    {
      title: "desired outside min..max",
      stack: "prod",
      set: { nodeDesiredSize: 20 },
      expect: [/gitops-platform:nodeDesiredSize/, /between nodeMinSize 3 and nodeMaxSize 9/, /got 20/],
    },
    {
      title: "bad CIDR",
      stack: "staging",
      set: { vpcCidr: "10.0.0.0/33" },
      expect: [/gitops-platform:vpcCidr/, /IPv4 CIDR .* \/16 to \/24/, /"10.0.0.0\/33"/],
    },
    {
      title: "CIDR with host bits",
      stack: "staging",
      set: { vpcCidr: "10.0.1.0/16" },
      expect: [/gitops-platform:vpcCidr/, /"10.0.1.0\/16"/],
    },
    {
      title: "eks without region",
      stack: "prod",
      set: { awsRegion: undefined },
      expect: [/gitops-platform:awsRegion/, /required when clusterProvider is "eks"/],
    },
    {
      title: "malformed region",
      stack: "prod",
      set: { awsRegion: "Europe" },
      expect: [/gitops-platform:awsRegion/, /AWS region such as eu-west-1/, /"Europe"/],
    },
    {
      title: "AZ outside the region",
      stack: "staging",
      set: { availabilityZones: ["eu-west-1a", "us-east-1b"] },
      expect: [/gitops-platform:availabilityZones/, /"eu-west-1"/, /us-east-1b/],
    },
    {
      title: "one AZ only",
      stack: "staging",
      set: { availabilityZones: ["eu-west-1a"] },
      expect: [/gitops-platform:availabilityZones/, /2 or 3/],
    },
    {
      title: "github enabled without owner",
      stack: "staging",
      set: { githubOwner: undefined },
      expect: [/gitops-platform:githubOwner/, /required when githubEnabled is true/],
    },
    {
      title: "EKS with github disabled and no repository URL (no local git server there)",
      stack: "staging",
      set: { githubEnabled: false, gitopsRepoUrl: undefined },
      expect: [/gitops-platform:gitopsRepoUrl/, /required when githubEnabled is false on EKS/],
    },
    {
      title: "local git server on the registry's port",
      stack: "dev",
      set: { localGitPort: 5001 },
      expect: [/gitops-platform:localGitPort/, /5001 is already used by localRegistryPort/],
    },
    {
      title: "local git server on the app's NodePort (mapped on the host at the same number)",
      stack: "dev",
      set: { localGitPort: 30080 },
      expect: [/gitops-platform:localGitPort/, /30080 is already used by appNodePort/],
    },
    {
      title: "local git server base image without a tag",
      stack: "dev",
      set: { localGitBaseImage: "debian:bookworm-slim" },
      expect: [/gitops-platform:localGitBaseImage/, /pinned by tag and digest/, /"debian:bookworm-slim"/],
    },
    {
      title: "plain-http repository URL",
      stack: "dev",
      set: { gitopsRepoUrl: "http://example.com/r.git" },
      expect: [/gitops-platform:gitopsRepoUrl/, /https:\/\//],
    },
    {
      title: "malformed chart version",
      stack: "dev",
      set: { argocdChartVersion: "^9.1" },
      expect: [/gitops-platform:argocdChartVersion/, /exact chart version of argo-cd like 1.2.3/, /"\^9.1"/],
    },
    {
      title: "chart version 'latest'",
      stack: "prod",
      set: { veleroChartVersion: "latest" },
      expect: [/gitops-platform:veleroChartVersion/, /"latest"/],
    },
    {
      title: "a pin that is not a digest",
      stack: "prod",
      set: { appImagePin: "sha256:abc" },
      expect: [
        /gitops-platform:appImagePin/,
        /must be an image digest: sha256:<64 lowercase hex>/,
        /"sha256:abc"/,
      ],
    },
    {
      title: "a stack promoting from itself",
      stack: "prod",
      set: { promoteFromStack: "organization/gitops-platform/prod" },
      expect: [/gitops-platform:promoteFromStack/, /cannot promote from itself/],
    },
    {
      title: "a promotion source that is not a stack name",
      stack: "prod",
      set: { promoteFromStack: "staging stack" },
      expect: [/gitops-platform:promoteFromStack/, /must be a stack name/],
    },
    {
      title: "NodePort out of range",
      stack: "dev",
      set: { appNodePort: 8080 },
      expect: [/gitops-platform:appNodePort/, />=30000/, /"8080"/],
    },
    {
      title: "two NodePorts on one port",
      stack: "dev",
      set: { grafanaNodePort: 30081 },
      expect: [/gitops-platform:grafanaNodePort/, /already used by argocdNodePort/],
    },
    {
      title: "kind image without digest",
      stack: "dev",
      set: { kindNodeImage: "kindest/node:v1.33.1" },
      expect: [/gitops-platform:kindNodeImage/, /pinned by tag and digest/],
    },
    {
      title: "kind image of another Kubernetes version",
      stack: "dev",
      set: { kubernetesVersion: "1.36" },
      expect: [/gitops-platform:kindNodeImage/, /Kubernetes 1.35 but kubernetesVersion is 1.36/],
    },
    {
      title: "unsupported Kubernetes version",
      stack: "prod",
      set: { kubernetesVersion: "1.20" },
      expect: [/gitops-platform:kubernetesVersion/, /"1.35"\|"1.36"/],
    },
    {
      title: "local registry on EKS",
      stack: "staging",
      set: { imageRegistry: "local" },
      expect: [/gitops-platform:imageRegistry/, /"local" works only with kind/],
    },
    {
      title: "ECR with kind",
      stack: "dev",
      set: { imageRegistry: "ecr" },
      expect: [/gitops-platform:imageRegistry/, /"ecr" needs an EKS stack/],
    },
    {
      title: "boolean that is not one",
      stack: "dev",
      set: { githubEnabled: "yes" },
      expect: [/gitops-platform:githubEnabled/, /"true" or "false"/, /"yes"/],
    },
    {
      title: "unknown spot capacity spelling",
      stack: "staging",
      set: { nodeCapacityType: "spot" },
      expect: [/gitops-platform:nodeCapacityType/, /"ON_DEMAND"\|"SPOT"/],
    },
    {
      title: "a missing domain on an EKS stack",
      stack: "staging",
      set: { domain: undefined },
      expect: [/gitops-platform:domain/, /required when clusterProvider is "eks"/, /it is not set/],
    },
    {
      title: "a malformed domain",
      stack: "prod",
      set: { domain: "https://Prod.Example.com/" },
      expect: [/gitops-platform:domain/, /must be a DNS name/, /"https:\/\/Prod.Example.com\/"/],
    },
    {
      title: "a one-label domain",
      stack: "staging",
      set: { domain: "localhost" },
      expect: [/gitops-platform:domain/, /must be a DNS name/, /"localhost"/],
    },
    {
      title: "an adminCidrs entry that is not a CIDR",
      stack: "staging",
      set: { adminCidrs: ["203.0.113.0/24", "office"] },
      expect: [/gitops-platform:adminCidrs\[1\]/, /IPv4 CIDR block/, /"office"/],
    },
    {
      title: "an adminCidrs entry with host bits",
      stack: "staging",
      set: { adminCidrs: ["203.0.113.7/24"] },
      expect: [/gitops-platform:adminCidrs\[0\]/, /IPv4 CIDR block/, /"203.0.113.7\/24"/],
    },
    {
      title: "0.0.0.0/0 in prod adminCidrs",
      stack: "prod",
      set: { adminCidrs: ["198.51.100.0/24", "0.0.0.0/0"] },
      expect: [
        /gitops-platform:adminCidrs/,
        /0\.0\.0\.0\/0 would open the Argo CD and Grafana UIs/,
        /"0.0.0.0\/0"/,
      ],
    },
    {
      title: "an unknown external-dns policy",
      stack: "prod",
      set: { externalDnsPolicy: "delete-all" },
      expect: [/gitops-platform:externalDnsPolicy/, /"upsert-only"\|"sync"/],
    },
    {
      title: "a public EKS endpoint without CIDRs",
      stack: "staging",
      set: { publicAccessCidrs: [] },
      expect: [
        /gitops-platform:publicAccessCidrs: the public EKS API endpoint needs the CIDRs/,
        /endpointPublicAccess/,
      ],
    },
    {
      title: "prod's endpoint open to 0.0.0.0/0",
      stack: "prod",
      set: { publicAccessCidrs: ["10.0.0.0/8", "0.0.0.0/0"] },
      expect: [
        /gitops-platform:publicAccessCidrs: prod must not open its EKS API endpoint to 0\.0\.0\.0\/0/,
        /"0\.0\.0\.0\/0"/,
      ],
    },
    {
      title: "an unknown OIDC provider mode",
      stack: "prod",
      set: { githubOidcProvider: "lookup" },
      expect: [/gitops-platform:githubOidcProvider/, /"create"\|"existing"/, /"lookup"/],
    },
    {
      title: "an OIDC provider ARN with mode create",
      stack: "staging",
      set: {
        githubOidcProviderArn: "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
      },
      expect: [/gitops-platform:githubOidcProviderArn: only used with githubOidcProvider "existing"/],
    },
    {
      title: "live pull-request previews of prod",
      stack: "prod",
      set: { pullRequestPreviews: true },
      expect: [/gitops-platform:pullRequestPreviews: prod is never previewed live/, /\(got true\)/],
    },
    {
      title: "SSO without organisation, client secret, URL or team roles",
      stack: "staging",
      set: { argocdSsoClientId: "Iv1.0123456789abcdef" },
      expect: [
        /gitops-platform:argocdSsoGithubOrg: required when argocdSsoClientId is set/,
        /gitops-platform:argocdSsoClientSecret: required when argocdSsoClientId is set/,
        /gitops-platform:argocdPublicUrl: required when argocdSsoClientId is set/,
        /gitops-platform:argocdSsoTeamRoles: map at least one team/,
      ],
    },
    {
      title: "a team role that is not a built-in role",
      stack: "staging",
      set: { argocdSsoTeamRoles: ["platform:owner"] },
      expect: [/gitops-platform:argocdSsoTeamRoles\[0\]/, /admin, readonly/, /"platform:owner"/],
    },
    {
      title: "bad admin ARN",
      stack: "prod",
      set: { clusterAdminArns: ["admin"] },
      expect: [/gitops-platform:clusterAdminArns\[0\]/, /IAM role or user ARN/, /"admin"/],
    },
    // Cross-field rules not covered above: each must have a failing case.
    {
      title: "four AZs",
      stack: "prod",
      set: { availabilityZones: ["eu-west-1a", "eu-west-1b", "eu-west-1c", "eu-west-1d"] },
      expect: [/gitops-platform:availabilityZones/, /2 or 3/],
    },
    {
      title: "an EKS node group without instance types",
      stack: "staging",
      set: { nodeInstanceTypes: [] },
      expect: [/gitops-platform:nodeInstanceTypes/, /at least one instance type/],
    },
    {
      title: "desired below min",
      stack: "prod",
      set: { nodeDesiredSize: 2 },
      expect: [/gitops-platform:nodeDesiredSize/, /between nodeMinSize 3 and nodeMaxSize 9/, /got 2/],
    },
    {
      title: "GHCR without an owner",
      stack: "dev",
      set: { imageRegistry: "ghcr" },
      expect: [/gitops-platform:githubOwner/, /required when imageRegistry is "ghcr"/],
    },
    {
      title: "the registry and the S3 server on one host port",
      stack: "dev",
      set: { s3Port: 5001 },
      expect: [/gitops-platform:s3Port/, /port 5001 is already used by localRegistryPort/],
    },
    {
      title: "the app NodePort on Argo CD's",
      stack: "dev",
      set: { appNodePort: 30081 },
      expect: [/gitops-platform:argocdNodePort/, /port 30081 is already used by appNodePort/],
    },
    {
      title: "highly available Argo CD on a kind cluster of one worker",
      stack: "dev",
      set: { argocdHighAvailability: true },
      expect: [/gitops-platform:argocdHighAvailability/, /at least 3 schedulable nodes/, /kindWorkerNodes 1/],
    },
    {
      title: "highly available Argo CD on an EKS node group that may shrink to 2",
      stack: "staging",
      set: { argocdHighAvailability: true },
      expect: [/gitops-platform:argocdHighAvailability/, /raise nodeMinSize/, /nodeMinSize 2/],
    },
    {
      title: "github enabled without a repository",
      stack: "prod",
      set: { githubRepository: undefined },
      expect: [/gitops-platform:githubRepository/, /required when githubEnabled is true/],
    },
  ];

  for (const c of badCases) {
    it(`rejects ${c.title} before any resource is registered`, async () => {
      const overrides = Object.fromEntries(
        Object.entries(c.set).map(([k, v]) => [`${CONFIG_NAMESPACE}:${k}`, v]),
      );
      const evaluation = await evaluateStack(c.stack, { overrides });
      assert.ok(evaluation.error instanceof ConfigError, `expected a ConfigError, got ${evaluation.error}`);
      for (const pattern of c.expect) assert.match(evaluation.error.message, pattern);
      const registered = evaluation.resources.filter((r) => r.type !== "pulumi:pulumi:Stack");
      assert.deepEqual(
        registered.map((r) => r.type),
        [],
        "nothing may be registered on bad config",
      );
    });
  }

  it("warns about wide but explicit choices, naming the key: open endpoint, AdministratorAccess, anonymous GHCR", () => {
    const staging: Record<string, unknown> = { ...defaults };
    for (const [k, v] of Object.entries(readStackFile("staging")))
      staging[k.slice(CONFIG_NAMESPACE.length + 1)] = typeof v === "string" ? v : JSON.stringify(v);
    staging.githubActionsPolicyArns = JSON.stringify(["arn:aws:iam::aws:policy/AdministratorAccess"]);
    const stagingContext = { ...context, stack: "staging" };
    const warnings = configWarnings(parsePlatformConfig(staging, stagingContext), stagingContext);
    assert.equal(warnings.length, 3, warnings.join("\n"));
    assert.match(
      warnings[0]!,
      /^gitops-platform:publicAccessCidrs: .*open to the internet \(0\.0\.0\.0\/0\)/,
    );
    assert.match(warnings[1]!, /^gitops-platform:githubActionsPolicyArns: .*AdministratorAccess/);
    assert.match(warnings[2]!, /^gitops-platform:ghcrPullToken: not set/);
    const narrowed = { ...staging, publicAccessCidrs: '["198.51.100.0/24"]', githubActionsPolicyArns: "[]" };
    const withToken = { ...stagingContext, secretsSet: ["ghcrPullToken"] as const };
    assert.deepEqual(configWarnings(parsePlatformConfig(narrowed, withToken), withToken), []);
  });

  it("every stack file is valid as committed", () => {
    for (const stack of listStacks()) {
      const raw: Record<string, unknown> = { ...defaults };
      for (const [k, v] of Object.entries(readStackFile(stack))) {
        if (k.startsWith(`${CONFIG_NAMESPACE}:`))
          raw[k.slice(CONFIG_NAMESPACE.length + 1)] = typeof v === "string" ? v : JSON.stringify(v);
      }
      assert.doesNotThrow(() => parsePlatformConfig(raw, { ...context, stack }), `Pulumi.${stack}.yaml`);
    }
  });

  it("stack files parse as YAML with a config map", () => {
    for (const stack of listStacks()) {
      const doc = parse(fs.readFileSync(path.join(PROJECT_DIR, `Pulumi.${stack}.yaml`), "utf8")) as {
        config: object;
      };
      assert.equal(typeof doc.config, "object");
    }
  });
});

function captureConfigError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  assert.fail("expected a ConfigError");
}

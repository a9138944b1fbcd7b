import { execFileSync } from "node:child_process";
import { strict as assert } from "node:assert";
import * as k8s from "@pulumi/kubernetes";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse, parseAllDocuments } from "yaml";
import { evaluateProgram, evaluateStack, ofType, type Evaluation } from "../automation/evaluate";
import { githubTrustPolicy } from "../components/github/github-oidc-role";
import { GitOps, IN_CLUSTER } from "../components/gitops/gitops";
import { helm, helmUnavailableReason } from "./support/helm";
import { evaluated, resourcesOf, type Resource } from "./support/stacks";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const evaluations = new Map<string, Evaluation>();
before(async () => {
  for (const stack of ["dev", "staging", "prod"]) evaluations.set(stack, await evaluated(stack));
});
const find = (stack: string, type: string, suffix = ""): Resource[] =>
  resourcesOf(evaluations.get(stack)!, type, suffix);
const only = (stack: string, type: string, suffix = "") => {
  const found = find(stack, type, suffix);
  assert.equal(found.length, 1, `${stack}: one ${type} *${suffix}`);
  return found[0]!;
};

async function validateArgo(resource: Resource) {
  const models = await import("@kubernetes-models/argo-cd/argoproj.io/v1alpha1");
  const kind = resource.inputs.kind as "Application" | "AppProject";
  const Model = models[kind] as unknown as new (data: unknown) => { validate(): void };
  new Model({
    apiVersion: resource.inputs.apiVersion,
    kind,
    metadata: resource.inputs.metadata,
    spec: resource.inputs.spec,
  }).validate();
}

describe("GitOps with GitHub managed (staging, prod)", () => {
  for (const stack of ["staging", "prod"]) {
    it(`${stack}: a read-only ED25519 deploy key titled for the stack; the private key only ever secret`, () => {
      const key = only(stack, "tls:index/privateKey:PrivateKey", "-deploy-key");
      assert.equal(key.inputs.algorithm, "ED25519");
      const deployKey = only(stack, "github:index/repositoryDeployKey:RepositoryDeployKey");
      assert.equal(deployKey.inputs.readOnly, true);
      assert.equal(deployKey.inputs.title, `argocd ${stack} (${stack}) read-only`);
      assert.match(String(deployKey.inputs.key), /^ssh-ed25519 /);
      const repoSecret = only(stack, "kubernetes:core/v1:Secret", "-repository");
      assert.ok(
        repoSecret.secretPaths.includes("stringData.sshPrivateKey") ||
          repoSecret.secretPaths.includes("stringData"),
      );
      const everything = JSON.stringify(evaluations.get(stack)!.resources.map((r) => r.maskedInputs));
      assert.doesNotMatch(everything, /mock-private-key-/, "private key never appears in plain inputs");
    });

    it(`${stack}: the repository secret is labelled for Argo CD and uses the SSH URL`, () => {
      const secret = only(stack, "kubernetes:core/v1:Secret", "-repository");
      assert.equal(secret.inputs.metadata.labels["argocd.argoproj.io/secret-type"], "repository");
      assert.equal(secret.inputs.metadata.namespace, "argocd");
      assert.equal(secret.inputs.stringData.type, "git");
      assert.equal(secret.inputs.stringData.url, "git@github.com:gitops-platform/gitops-platform.git");
    });

    it(`${stack}: commits the digest-pinned image reference to gitops/envs/${stack}/image.yaml`, () => {
      const file = only(stack, "github:index/repositoryFile:RepositoryFile");
      assert.equal(file.inputs.file, `gitops/envs/${stack}/image.yaml`);
      assert.equal(file.inputs.branch, "main");
      const values = parse(String(file.inputs.content)) as {
        image: { repository: string; tag: string; digest: string; commitTime: string };
      };
      assert.match(values.image.digest, /^sha256:[a-f0-9]{64}$/);
      // The commit's time (this checkout's HEAD), for the app's lead-time metric.
      const head = execFileSync("git", ["show", "-s", "--format=%ct", "HEAD"], { encoding: "utf8" }).trim();
      assert.equal(Date.parse(values.image.commitTime) / 1000, Number(head));
      assert.match(values.image.tag, /^[0-9a-f]{7}-/);
      assert.match(String(file.inputs.commitMessage), new RegExp(`^deploy\\(${stack}\\): `));
    });
  }

  it("prod: the Actions environment requires reviewers and protected branches; staging does not", () => {
    const prod = only("prod", "github:index/repositoryEnvironment:RepositoryEnvironment");
    assert.equal(prod.inputs.environment, "prod");
    assert.deepEqual(
      prod.inputs.reviewers,
      [{ teams: [1014], users: [] }].map((r) => ({ teams: r.teams })),
    );
    assert.equal(prod.inputs.deploymentBranchPolicy.protectedBranches, true);
    const staging = only("staging", "github:index/repositoryEnvironment:RepositoryEnvironment");
    assert.equal(staging.inputs.reviewers, undefined);
  });

  for (const stack of ["staging", "prod"]) {
    it(`${stack}: the OIDC role admits only this repository's ${stack} environment`, () => {
      const role = only(stack, "aws:iam/role:Role", "-github-actions-role");
      const statement = JSON.parse(String(role.inputs.assumeRolePolicy)).Statement[0];
      assert.equal(statement.Action, "sts:AssumeRoleWithWebIdentity");
      assert.deepEqual(statement.Condition.StringEquals, {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": `repo:gitops-platform/gitops-platform:environment:${stack}`,
      });
      const variables = find(stack, "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable");
      assert.deepEqual(variables.map((v) => v.inputs.variableName).sort(), [
        "AWS_REGION",
        "AWS_ROLE_ARN",
        "PULUMI_STACK",
      ]);
    });
  }

  it("ciConfigPassphrase (a secure config value) becomes an environment secret, still secret", async () => {
    assert.equal(find("staging", "github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret").length, 0);
    const e = await evaluateStack("staging", {
      overrides: { "gitops-platform:ciConfigPassphrase": { secure: "v1:ciphertext" } },
    });
    assert.equal(e.error, undefined);
    const secrets = ofType(e, "github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret") as Resource[];
    assert.deepEqual(
      secrets.map((r) => [r.inputs.secretName, r.inputs.environment]),
      [["PULUMI_CONFIG_PASSPHRASE", "staging"]],
    );
    assert.ok(secrets[0]!.secretPaths.includes("plaintextValue"), "the passphrase is a Pulumi secret");
  });

  it("the trust policy refuses wildcard repositories", () => {
    assert.throws(() => githubTrustPolicy("arn", "org/*", "prod"), /without wildcards \(got "org\/\*"\)/);
  });
});

describe("GitOps with GitHub off (dev)", () => {
  it("creates no GitHub resource and reads the public repository anonymously over HTTPS", () => {
    const github = evaluations
      .get("dev")!
      .resources.filter((r) => r.type.startsWith("github:") || r.type === "pulumi:providers:github");
    assert.deepEqual(
      github.map((r) => r.type),
      [],
    );
    assert.equal(find("dev", "tls:index/privateKey:PrivateKey").length, 0);
    const secret = only("dev", "kubernetes:core/v1:Secret", "-repository");
    assert.deepEqual(secret.inputs.stringData, {
      type: "git",
      url: "https://github.com/gitops-platform/gitops-platform.git",
    });
  });
});

describe("GitOps: Argo CD objects (every stack)", () => {
  for (const stack of ["dev", "staging", "prod"]) {
    it(`${stack}: AppProject limited to the repository, the app namespaces and the app's kinds`, async () => {
      const project = only(stack, "kubernetes:argoproj.io/v1alpha1:AppProject");
      const spec = project.inputs.spec as Obj;
      assert.deepEqual(spec.sourceRepos, [evaluations.get(stack)!.outputs.gitopsRepoUrl]);
      assert.deepEqual(spec.destinations, [
        { server: IN_CLUSTER, namespace: "demo-app" },
        { server: IN_CLUSTER, namespace: "argocd" },
      ]);
      assert.deepEqual(spec.clusterResourceWhitelist, [{ group: "", kind: "Namespace" }]);
      const kinds = (spec.namespaceResourceWhitelist as Obj[]).map((k) => k.kind);
      assert.ok(kinds.includes("Deployment") && kinds.includes("Application") && !kinds.includes("*"));
      await validateArgo(project);
    });

    it(`${stack}: root Application syncs gitops/apps automatically with prune, self-heal, retry`, async () => {
      const root = only(stack, "kubernetes:argoproj.io/v1alpha1:Application", "-root");
      const spec = root.inputs.spec as Obj;
      assert.equal(spec.source.path, "gitops/apps");
      const { imageOverride, ...values } = spec.source.helm.valuesObject as Obj;
      assert.deepEqual(values, {
        env: stack,
        repoURL: evaluations.get(stack)!.outputs.gitopsRepoUrl,
        targetRevision: "main",
        project: stack,
        argocdNamespace: "argocd",
      });
      if (stack === "dev") {
        // GitHub off: the freshly built image reaches Argo CD through the root Application's values.
        assert.equal(
          `${imageOverride.repository}@${imageOverride.digest}`,
          evaluations.get("dev")!.outputs.appImage,
        );
      } else {
        assert.equal(imageOverride, undefined, "with GitHub managed the image goes through git only");
      }
      assert.deepEqual(spec.syncPolicy.automated, { prune: true, selfHeal: true });
      assert.ok(spec.syncPolicy.syncOptions.includes("CreateNamespace=true"));
      assert.deepEqual(spec.syncPolicy.retry, {
        limit: 5,
        backoff: { duration: "10s", factor: 2, maxDuration: "3m" },
      });
      assert.deepEqual(root.inputs.metadata.finalizers, ["resources-finalizer.argocd.argoproj.io"]);
      await validateArgo(root);
    });

    it(`${stack}: app namespace is restricted with a default-deny policy; cluster facts annotate in-cluster`, () => {
      const ns = only(stack, "kubernetes:core/v1:Namespace", "-ns-demo-app");
      assert.equal(ns.inputs.metadata.labels["pod-security.kubernetes.io/enforce"], "restricted");
      const deny = only(stack, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "-default-deny-demo-app");
      assert.deepEqual(deny.inputs.spec, { podSelector: {}, policyTypes: ["Ingress", "Egress"] });
      const cluster = only(stack, "kubernetes:core/v1:Secret", "-in-cluster");
      assert.equal(cluster.inputs.metadata.labels["argocd.argoproj.io/secret-type"], "cluster");
      assert.equal(cluster.inputs.metadata.annotations.environment, stack);
      assert.equal(cluster.inputs.stringData.server, IN_CLUSTER);
      assert.equal(
        cluster.inputs.metadata.annotations.backup_bucket,
        evaluations.get(stack)!.outputs.backupBucket,
      );
    });
  }
});

describe("GitOps: the root Application's values render the apps chart", () => {
  for (const stack of ["dev", "staging", "prod"]) {
    it(stack, function () {
      if (helmUnavailableReason() && !process.env.CI) this.skip();
      const root = only(stack, "kubernetes:argoproj.io/v1alpha1:Application", "-root");
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "root-values-"));
      const valuesFile = path.join(dir, "values.json");
      fs.writeFileSync(valuesFile, JSON.stringify(root.inputs.spec.source.helm.valuesObject));
      const result = helm(["template", "apps", root.inputs.spec.source.path as string, "-f", valuesFile]);
      fs.rmSync(dir, { recursive: true, force: true });
      assert.equal(result.status, 0, result.stderr);
      const apps = parseAllDocuments(result.stdout).map((d) => d.toJSON() as Obj);
      assert.deepEqual(
        apps.map((a) => a.metadata.name),
        ["demo-app"],
      );
      assert.equal(apps[0]!.spec.project, stack);
      const image = apps[0]!.spec.source.helm.valuesObject?.image;
      if (stack === "dev") assert.match(String(image?.digest), /^sha256:[a-f0-9]{64}$/);
      else assert.equal(image, undefined);
    });
  }
});

describe("GitOps: the webhook to Argo CD", () => {
  const run = (argocdPublicUrl?: string) =>
    evaluateProgram(() => {
      const provider = new k8s.Provider("k8s", { kubeconfig: "{}" });
      new GitOps("wh", {
        environment: "staging",
        stack: "staging",
        repoUrl: "git@github.com:o/r.git",
        revision: "main",
        github: { repository: "r", argocdPublicUrl, webhookSecret: "webhook-secret-value" },
        image: { repository: "ghcr.io/o/app", tag: "abc1234-1", digest: `sha256:${"b".repeat(64)}` },
        provider,
      });
    });

  it("POSTs JSON to /api/webhook with the shared secret when Argo CD has a public URL", async () => {
    const e = await run("https://argocd.example.com");
    assert.equal(e.error, undefined);
    const hook = ofType(e, "github:index/repositoryWebhook:RepositoryWebhook")[0] as Resource;
    assert.deepEqual(hook.inputs.events, ["push"]);
    assert.equal(hook.inputs.configuration.url, "https://argocd.example.com/api/webhook");
    assert.equal(hook.inputs.configuration.contentType, "json");
    assert.equal(hook.inputs.configuration.secret, "webhook-secret-value");
    assert.ok(
      hook.secretPaths.some((p) => p.startsWith("configuration")),
      "the secret is a Pulumi secret",
    );
    assert.doesNotMatch(JSON.stringify(hook.maskedInputs), /webhook-secret-value/);
  });

  it("the staging stack registers it with Argo CD's own webhook secret once argocdPublicUrl is set", async () => {
    assert.equal(
      find("staging", "github:index/repositoryWebhook:RepositoryWebhook").length,
      0,
      "no URL, no webhook",
    );
    const e = await evaluateStack("staging", {
      overrides: { "gitops-platform:argocdPublicUrl": "https://argocd.staging.example.com/" },
    });
    assert.equal(e.error, undefined);
    const hook = ofType(e, "github:index/repositoryWebhook:RepositoryWebhook")[0] as Resource;
    assert.equal(hook.inputs.configuration.url, "https://argocd.staging.example.com/api/webhook");
    assert.equal(hook.inputs.configuration.secret, "mock-password-gitops-staging-argocd-webhook-secret");
    assert.doesNotMatch(
      JSON.stringify(e.resources.map((r) => r.maskedInputs)),
      /mock-password-gitops-staging-argocd-webhook/,
    );
  });

  it("registers no webhook when Argo CD is not reachable from GitHub (kind)", async () => {
    const e = await run(undefined);
    assert.equal(ofType(e, "github:index/repositoryWebhook:RepositoryWebhook").length, 0);
  });
});

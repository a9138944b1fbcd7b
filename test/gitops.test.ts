import { execFileSync } from "node:child_process";
import { strict as assert } from "node:assert";
import * as k8s from "@pulumi/kubernetes";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse, parseAllDocuments } from "yaml";
import { evaluateProgram, evaluateStack, ofType, type Evaluation } from "../automation/evaluate";
import { githubTrustPolicy } from "../components/github/github-oidc-role";
import { GitOps, IMAGE_COMMIT_MARKER, IN_CLUSTER } from "../components/gitops/gitops";
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

    it(`${stack}: commits the digest-pinned image to gitops/envs/${stack}/image.yaml on deploy/${stack}, never main`, () => {
      const file = only(stack, "github:index/repositoryFile:RepositoryFile");
      assert.equal(file.name, `gitops-${stack}-gitops-image-file`, "same resource name as before the writer");
      assert.equal(file.inputs.file, `gitops/envs/${stack}/image.yaml`);
      assert.equal(file.inputs.branch, `deploy/${stack}`);
      assert.equal(file.inputs.autocreateBranch, true);
      assert.equal(file.inputs.autocreateBranchSourceBranch, "main");
      const values = parse(String(file.inputs.content)) as {
        image: { repository: string; tag: string; digest: string; commitTime: string };
      };
      assert.match(values.image.digest, /^sha256:[a-f0-9]{64}$/);
      // The time of the last commit that changed the app's source, for the app's lead-time metric: stable
      // while the source is, like the content-hash tag.
      const appCommit = execFileSync(
        "git",
        ["log", "-1", "--format=%ct", "HEAD", "--", "app", ":!app/test", ":!app/node_modules", ":!app/dist"],
        { encoding: "utf8" },
      ).trim();
      assert.equal(Date.parse(values.image.commitTime) / 1000, Number(appCommit));
      assert.match(values.image.tag, /^[0-9a-f]{12}$/);
      // Prod promotes staging's digest (promoteFromStack): the message names the source env too.
      const origin = stack === "prod" ? " promoted from staging" : "";
      assert.equal(
        file.inputs.commitMessage,
        `deploy(${stack}): ${values.image.repository}:${values.image.tag}@${values.image.digest}${origin} ${IMAGE_COMMIT_MARKER}`,
        "the message names the image and carries the marker, last",
      );
    });
  }

  it("prod: the Actions environment requires reviewers; staging does not; both admit only main", () => {
    const prod = only(
      "prod",
      "github:index/repositoryEnvironment:RepositoryEnvironment",
      "-github-environment",
    );
    assert.equal(prod.inputs.environment, "prod");
    assert.deepEqual(
      prod.inputs.reviewers,
      [{ teams: [1014], users: [] }].map((r) => ({ teams: r.teams })),
    );
    const staging = only(
      "staging",
      "github:index/repositoryEnvironment:RepositoryEnvironment",
      "-github-environment",
    );
    assert.equal(staging.inputs.reviewers, undefined);
    for (const [stack, env] of [
      ["prod", prod],
      ["staging", staging],
    ] as const) {
      assert.deepEqual(env.inputs.deploymentBranchPolicy, {
        protectedBranches: false,
        customBranchPolicies: true,
      });
      const policies = find(
        stack,
        "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy",
      );
      assert.deepEqual(
        policies.map((p) => [p.inputs.environment, p.inputs.branchPattern]),
        [[stack, "main"]],
        `${stack}: one deployment branch policy, main`,
      );
    }
  });

  it("staging previews pull requests from its own environment, which holds no write credential; prod has none", () => {
    const envs = find("staging", "github:index/repositoryEnvironment:RepositoryEnvironment").map(
      (e) => e.inputs.environment,
    );
    assert.deepEqual(envs.sort(), ["staging", "staging-preview"]);
    assert.deepEqual(
      find("prod", "github:index/repositoryEnvironment:RepositoryEnvironment").map(
        (e) => e.inputs.environment,
      ),
      ["prod"],
    );
    const preview = only(
      "staging",
      "github:index/repositoryEnvironment:RepositoryEnvironment",
      "-github-preview-environment",
    );
    assert.equal(preview.inputs.deploymentBranchPolicy, undefined, "pull requests run on refs/pull/N/merge");
    const vars = find("staging", "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable")
      .filter((v) => v.inputs.environment === "staging-preview")
      .map((v) => [v.inputs.variableName, v.inputs.value]);
    assert.deepEqual(Object.fromEntries(vars), {
      PULUMI_STACK: "staging",
      AWS_REGION: "eu-west-1",
      AWS_ROLE_ARN: evaluations.get("staging")!.outputs.githubPreviewRoleArn,
    });
  });

  for (const stack of ["staging", "prod"]) {
    it(`${stack}: the OIDC role admits only this repository's ${stack} environment running deploy.yml from main`, () => {
      const role = only(stack, "aws:iam/role:Role", "-github-actions-role");
      const statement = JSON.parse(String(role.inputs.assumeRolePolicy)).Statement[0];
      assert.equal(statement.Action, "sts:AssumeRoleWithWebIdentity");
      assert.deepEqual(statement.Condition, {
        StringEquals: {
          "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
          "token.actions.githubusercontent.com:sub": `repo:gitops-platform/gitops-platform:environment:${stack}`,
          "token.actions.githubusercontent.com:job_workflow_ref":
            "gitops-platform/gitops-platform/.github/workflows/deploy.yml@refs/heads/main",
        },
      });
      const variables = find(
        stack,
        "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable",
      ).filter((v) => v.inputs.environment === stack);
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
    assert.deepEqual(secrets.map((r) => [r.inputs.secretName, r.inputs.environment]).sort(), [
      ["PULUMI_CONFIG_PASSPHRASE", "staging"],
      ["PULUMI_CONFIG_PASSPHRASE", "staging-preview"],
    ]);
    assert.ok(
      secrets.every((s) => s.secretPaths.includes("plaintextValue")),
      "the passphrase is a Pulumi secret",
    );
    assert.equal(
      ofType(e, "github:index/actionsSecret:ActionsSecret").length,
      0,
      "never a repository-wide secret",
    );
  });

  it("with ghcrPullToken, every app namespace gets a managed pull secret that the image file names", async () => {
    const e = await evaluateStack("staging", {
      overrides: { "gitops-platform:ghcrPullToken": { secure: "v1:ciphertext" } },
    });
    assert.equal(e.error, undefined);
    const secret = (ofType(e, "kubernetes:core/v1:Secret") as Resource[]).find((r) =>
      r.name.endsWith("-image-pull-demo-app"),
    )!;
    assert.deepEqual(secret.inputs.metadata, { name: "image-pull", namespace: "demo-app" });
    assert.equal(secret.inputs.type, "kubernetes.io/dockerconfigjson");
    assert.ok(
      secret.secretPaths.some((p) => p.startsWith("stringData")),
      "the token stays a Pulumi secret",
    );
    const auth = JSON.parse(secret.inputs.stringData[".dockerconfigjson"]).auths["ghcr.io"].auth;
    assert.equal(Buffer.from(auth, "base64").toString(), "gitops-platform:[secret]");
    const file = ofType(e, "github:index/repositoryFile:RepositoryFile")[0] as Resource;
    assert.deepEqual(parse(String(file.inputs.content)).imagePullSecrets, [{ name: "image-pull" }]);
    assert.equal(
      find("prod", "kubernetes:core/v1:Secret", "-image-pull-demo-app").length,
      0,
      "ECR pulls through the node role",
    );
    assert.equal(
      parse(String(only("prod", "github:index/repositoryFile:RepositoryFile").inputs.content))
        .imagePullSecrets,
      undefined,
    );
  });

  it("the trust policy refuses wildcard repositories", () => {
    const workflow = ".github/workflows/deploy.yml@refs/heads/main";
    assert.throws(
      () => githubTrustPolicy("arn", "org/*", "prod", workflow),
      /without wildcards \(got "org\/\*"\)/,
    );
    for (const bad of [
      ".github/workflows/*.yml@refs/heads/main",
      ".github/workflows/deploy.yml@refs/heads/*",
      "deploy.yml",
    ]) {
      assert.throws(() => githubTrustPolicy("arn", "o/r", "prod", bad), /workflow must be/, bad);
    }
    const preview = JSON.parse(
      githubTrustPolicy("arn", "o/r", "staging-preview", ".github/workflows/preview.yml@refs/pull/*/merge"),
    );
    assert.deepEqual(preview.Statement[0].Condition.StringLike, {
      "token.actions.githubusercontent.com:job_workflow_ref":
        "o/r/.github/workflows/preview.yml@refs/pull/*/merge",
    });
  });
});

describe("GitOps with GitHub off (dev)", () => {
  it("creates no GitHub resource; Argo CD reads the local git server anonymously over HTTP", () => {
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
      url: "http://gitops-dev-git:8080/git/gitops.git",
    });
  });

  it("with gitopsRepoUrl (a fork), reads it anonymously and commits nothing", async () => {
    const e = await evaluateStack("dev", {
      overrides: { "gitops-platform:gitopsRepoUrl": "https://github.com/someone/gitops-platform.git" },
    });
    assert.equal(e.error, undefined);
    const secret = ofType(e, "kubernetes:core/v1:Secret").find((r) => r.name.endsWith("-repository"))!;
    assert.deepEqual(secret.inputs.stringData, {
      type: "git",
      url: "https://github.com/someone/gitops-platform.git",
    });
    const local = e.resources.filter(
      (r) =>
        r.type === "gitops-platform:cluster:LocalGitServer" ||
        (r.type === "command:local:Command" && /-(gitops-tree|image-file)$/.test(r.name)),
    );
    assert.deepEqual(
      local.map((r) => r.name),
      [],
      "no local git server, no commit",
    );
  });
});

describe("GitOps: Argo CD objects (every stack)", () => {
  for (const stack of ["dev", "staging", "prod"]) {
    it(`${stack}: the app project: the repository, the app namespaces and the app's kinds, never Argo CD's`, async () => {
      const project = only(stack, "kubernetes:argoproj.io/v1alpha1:AppProject", "-gitops-project");
      const spec = project.inputs.spec as Obj;
      assert.equal(project.inputs.metadata.name, stack);
      assert.deepEqual(spec.sourceRepos, [evaluations.get(stack)!.outputs.gitopsRepoUrl]);
      assert.deepEqual(spec.destinations, [{ server: IN_CLUSTER, namespace: "demo-app" }]);
      assert.deepEqual(spec.clusterResourceWhitelist, [], "no cluster-scoped kind, not even Namespace");
      const kinds = (spec.namespaceResourceWhitelist as Obj[]).map((k) => k.kind);
      assert.ok(kinds.includes("Deployment") && !kinds.includes("Application") && !kinds.includes("*"));
      await validateArgo(project);
    });

    it(`${stack}: the bootstrap project: only Applications, only in Argo CD's namespace`, async () => {
      const project = only(stack, "kubernetes:argoproj.io/v1alpha1:AppProject", "-bootstrap-project");
      assert.equal(project.inputs.metadata.name, `${stack}-bootstrap`);
      assert.deepEqual(project.inputs.spec.destinations, [{ server: IN_CLUSTER, namespace: "argocd" }]);
      assert.deepEqual(project.inputs.spec.clusterResourceWhitelist, []);
      assert.deepEqual(project.inputs.spec.namespaceResourceWhitelist, [
        { group: "argoproj.io", kind: "Application" },
      ]);
      await validateArgo(project);
    });

    it(`${stack}: the default project is taken over (forced server-side apply) and emptied`, () => {
      const patch = only(stack, "kubernetes:argoproj.io/v1alpha1:AppProjectPatch", "-default-project");
      assert.equal(patch.inputs.metadata.name, "default");
      assert.equal(patch.inputs.metadata.namespace, "argocd");
      assert.equal(patch.inputs.metadata.annotations["pulumi.com/patchForce"], "true");
      const spec = patch.inputs.spec as Obj;
      for (const field of [
        "sourceRepos",
        "destinations",
        "clusterResourceWhitelist",
        "namespaceResourceWhitelist",
      ])
        assert.deepEqual(spec[field], [], field);
      assert.deepEqual(spec.namespaceResourceBlacklist, [{ group: "*", kind: "*" }]);
    });

    it(`${stack}: root Application syncs gitops/apps automatically with prune, self-heal, retry`, async () => {
      const root = only(stack, "kubernetes:argoproj.io/v1alpha1:Application", "-root");
      const spec = root.inputs.spec as Obj;
      assert.equal(spec.source.path, "gitops/apps");
      assert.equal(spec.project, `${stack}-bootstrap`, "the root Application is in the bootstrap project");
      const { appValues, imageRevision, ...values } = spec.source.helm.valuesObject as Obj;
      assert.deepEqual(values, {
        env: stack,
        repoURL: evaluations.get(stack)!.outputs.gitopsRepoUrl,
        targetRevision: "main",
        project: stack,
        argocdNamespace: "argocd",
      });
      assert.doesNotMatch(JSON.stringify(spec), /sha256:|imageOverride/, "no image reaches Argo CD inline");
      // EKS: the app's host and load balancer annotations come from the platform, not from git.
      if (stack === "dev") assert.equal(appValues, undefined);
      else assert.equal(appValues.ingress.host, `app.${stack}.example.com`);
      assert.equal(imageRevision, stack === "dev" ? undefined : `deploy/${stack}`);
      assert.deepEqual(spec.syncPolicy.automated, { prune: true, selfHeal: true });
      assert.deepEqual(spec.syncPolicy.syncOptions, ["ServerSideApply=true"], "Argo CD creates no namespace");
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
      assert.equal(apps[0]!.spec.project, stack, "each child Application is bound to the app project");
      if (stack === "dev") {
        assert.equal(
          apps[0]!.spec.source.helm.valuesObject,
          undefined,
          "the image comes from image.yaml only",
        );
      } else {
        // Multi-source: the chart from main, image.yaml from deploy/<env> as the `values` source.
        const [chart, values] = apps[0]!.spec.sources as Obj[];
        assert.equal(chart!.targetRevision, "main");
        assert.deepEqual(chart!.helm.valueFiles, [
          `../../envs/${stack}/values.yaml`,
          `$values/gitops/envs/${stack}/image.yaml`,
        ]);
        // The platform's values reach the app's Application unchanged; the image comes from git only.
        assert.deepEqual(chart!.helm.valuesObject, root.inputs.spec.source.helm.valuesObject.appValues);
        assert.equal(chart!.helm.valuesObject.image, undefined);
        assert.deepEqual(values, {
          repoURL: chart!.repoURL,
          targetRevision: `deploy/${stack}`,
          ref: "values",
        });
      }
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

  for (const stack of ["staging", "prod"]) {
    it(`${stack} registers it by default at https://argocd.<domain>/api/webhook with Argo CD's own secret`, () => {
      const [hook, ...more] = find(stack, "github:index/repositoryWebhook:RepositoryWebhook");
      assert.equal(more.length, 0);
      assert.equal(hook!.inputs.configuration.url, `https://argocd.${stack}.example.com/api/webhook`);
      assert.equal(hook!.inputs.configuration.secret, `mock-password-gitops-${stack}-argocd-webhook-secret`);
      assert.equal(hook!.inputs.configuration.insecureSsl, false);
      assert.doesNotMatch(
        JSON.stringify(evaluations.get(stack)!.resources.map((r) => r.maskedInputs)),
        new RegExp(`mock-password-gitops-${stack}-argocd-webhook`),
      );
    });
  }

  it("argocdPublicUrl overrides the default URL", async () => {
    const e = await evaluateStack("staging", {
      overrides: { "gitops-platform:argocdPublicUrl": "https://cd.example.org/" },
    });
    assert.equal(e.error, undefined);
    const hook = ofType(e, "github:index/repositoryWebhook:RepositoryWebhook")[0] as Resource;
    assert.equal(hook.inputs.configuration.url, "https://cd.example.org/api/webhook");
  });

  it("registers no webhook when Argo CD is not reachable from GitHub (kind)", async () => {
    const e = await run(undefined);
    assert.equal(ofType(e, "github:index/repositoryWebhook:RepositoryWebhook").length, 0);
  });
});

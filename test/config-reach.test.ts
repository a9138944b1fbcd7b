import { strict as assert } from "node:assert";
import { CONFIG_NAMESPACE } from "../components/config";
import { evaluateStack, readProject } from "../automation/evaluate";
import { evaluated } from "./support/stacks";
import { planDiff, touches } from "./support/plan-diff";

/**
 * Every key of Pulumi.yaml, with a valid non-default value, must change the plan where it acts: a key whose
 * value never reaches its resource fails here. One line per key; a key added to Pulumi.yaml without a line
 * fails the first test. `acts` lists changes as planDiff writes them (`~ <type> <name> <input path>`, or
 * `+`/`- <type> <name>` for a resource the value adds or removes); `with` holds companion keys the value
 * needs to be valid (they must not be what makes the change). `noEffect` says why a key changes nothing.
 */
type Entry =
  { stack: string; value: unknown; with?: Record<string, unknown>; acts: string[] } | { noEffect: string };

const KIND = "command:local:Command gitops-dev-kind";
const REGISTRY = "docker:index/container:Container gitops-dev-registry";
const S3 = "docker:index/container:Container gitops-dev-s3";
const GIT = "docker:index/container:Container gitops-dev-git-container";
const ARGOCD_STAGING = `kubernetes:helm.sh/v3:Release gitops-staging-argocd-release values`;
const DIGEST = `sha256:${"a".repeat(64)}`;
/** A complete GitHub SSO setting of staging; each SSO key's entry changes one part of it. */
const SSO = {
  argocdPublicUrl: "https://argocd.staging.example.com",
  argocdSsoClientId: "Iv1.0123456789abcdef",
  argocdSsoClientSecret: { secure: "v1:placeholder" },
  argocdSsoGithubOrg: "acme",
  argocdSsoTeamRoles: ["platform:admin"],
};
const RELEASE = "kubernetes:helm.sh/v3:Release";
const KPS = `${RELEASE} gitops-dev-monitoring-kube-prometheus-stack values.prometheus.prometheusSpec`;
const VELERO = `${RELEASE} gitops-dev-backup-release`;
const LOKI = `${RELEASE} gitops-dev-logs-loki`;
const TEMPO = `${RELEASE} gitops-dev-traces-release`;
const SLO_RULES = `${RELEASE} gitops-dev-monitoring-kube-prometheus-stack values.additionalPrometheusRulesMap`;
const ROOT_APP = "kubernetes:argoproj.io/v1alpha1:Application gitops-dev-gitops-root";
const IMAGE = "docker-build:index:Image";
const VPC = "awsx:ec2:Vpc gitops-staging-vpc";
const EKS = "eks:index:Cluster gitops-staging-eks";
const NODES = "eks:index:ManagedNodeGroup gitops-staging-nodes";
const GH_ENV = "github:index/repositoryEnvironment:RepositoryEnvironment gitops-staging-github-environment";
const ACCOUNT = "123456789012";

const REACHES: Record<string, Entry> = {
  environment: { stack: "dev", value: "staging", acts: [`~ ${ROOT_APP} spec.project`] },
  clusterProvider: {
    stack: "dev",
    value: "eks",
    with: {
      awsRegion: "eu-west-1",
      availabilityZones: ["eu-west-1a", "eu-west-1b"],
      imageRegistry: "ghcr",
      githubOwner: "acme",
      githubRepository: "platform",
      gitopsRepoUrl: "https://github.com/acme/platform.git",
      domain: "dev.example.com",
      publicAccessCidrs: ["203.0.113.0/24"],
    },
    acts: ["+ eks:index:Cluster gitops-dev-eks", `- ${KIND}`],
  },
  clusterName: {
    stack: "dev",
    value: "gitops-lab",
    acts: ["+ command:local:Command gitops-lab-kind", `- ${KIND}`],
  },
  kubernetesVersion: { stack: "staging", value: "1.36", acts: [`~ ${EKS} version`] },
  kindNodeImage: {
    stack: "dev",
    value: `kindest/node:v1.35.7@${DIGEST}`,
    acts: [`~ ${KIND} stdin`],
  },
  kindWorkerNodes: { stack: "dev", value: 2, acts: [`~ ${KIND} stdin`] },
  appNodePort: { stack: "dev", value: 30090, acts: [`~ ${KIND} stdin`] },
  argocdNodePort: {
    stack: "dev",
    value: 30091,
    acts: [`~ ${KIND} stdin`, `~ ${RELEASE} gitops-dev-argocd-release values.server.service.nodePortHttp`],
  },
  grafanaNodePort: {
    stack: "dev",
    value: 30092,
    acts: [`~ ${KIND} stdin`, `~ ${RELEASE} gitops-dev-monitoring-grafana values.service.nodePort`],
  },
  localRegistryPort: {
    stack: "dev",
    value: 5002,
    acts: [`~ ${REGISTRY} ports.0.external`, `~ ${IMAGE} gitops-dev-app-image tags`],
  },
  localRegistryImage: { stack: "dev", value: `registry:3.1.1@${DIGEST}`, acts: [`~ ${REGISTRY} image`] },
  s3Port: {
    stack: "dev",
    value: 9002,
    acts: [`~ ${S3} ports.0.external`, `~ ${VELERO} values.configuration.backupStorageLocation`],
  },
  s3Image: { stack: "dev", value: `versity/versitygw:v1.7.0@${DIGEST}`, acts: [`~ ${S3} image`] },
  localGitPort: {
    stack: "dev",
    value: 3001,
    acts: [
      `~ ${GIT} ports.0.external`,
      "~ command:local:Command gitops-dev-gitops-image-file environment.GIT_URL",
    ],
  },
  localGitBaseImage: {
    stack: "dev",
    value: `debian:bookworm-20260101-slim@${DIGEST}`,
    acts: ["~ command:local:Command gitops-dev-git-image environment.BASE_IMAGE", `~ ${GIT} image`],
  },
  domain: {
    stack: "staging",
    value: "stage.example.org",
    acts: [
      "~ aws:acm/certificate:Certificate gitops-staging-domain-certificate domainName",
      "~ github:index/repositoryWebhook:RepositoryWebhook gitops-staging-gitops-webhook configuration.url",
    ],
  },
  hostedZoneId: {
    stack: "staging",
    value: "Z0123456789ABCDEFGHIJ",
    acts: [
      "~ aws:route53/record:Record gitops-staging-domain-validation zoneId",
      "~ aws:iam/rolePolicy:RolePolicy gitops-staging-external-dns-policy policy",
      "~ aws:iam/policy:Policy gitops-staging-github-actions-deploy policy",
    ],
  },
  adminCidrs: {
    stack: "staging",
    value: ["198.51.100.0/24"],
    acts: [
      "~ kubernetes:networking.k8s.io/v1:Ingress gitops-staging-argocd-webhook-ingress metadata.annotations.alb.ingress.kubernetes.io/inbound-cidrs",
    ],
  },
  wafEnabled: { stack: "staging", value: true, acts: ["+ aws:wafv2/webAcl:WebAcl gitops-staging-waf-acl"] },
  externalDnsPolicy: {
    stack: "staging",
    value: "sync",
    acts: ["~ kubernetes:helm.sh/v3:Release gitops-staging-external-dns-release values.policy"],
  },

  awsRegion: {
    stack: "staging",
    value: "eu-central-1",
    with: { availabilityZones: ["eu-central-1a", "eu-central-1b"] },
    acts: [
      "~ pulumi:providers:aws gitops-staging-aws region",
      `~ ${RELEASE} gitops-staging-backup-release values.configuration.backupStorageLocation.0.config.region`,
    ],
  },
  availabilityZones: {
    stack: "staging",
    value: ["eu-west-1a", "eu-west-1c"],
    acts: [`~ ${VPC} availabilityZoneNames`],
  },
  vpcCidr: { stack: "staging", value: "10.21.0.0/16", acts: [`~ ${VPC} cidrBlock`] },
  natGateways: { stack: "staging", value: "OnePerAz", acts: [`~ ${VPC} natGateways.strategy`] },
  nodeInstanceTypes: { stack: "staging", value: ["m6i.large"], acts: [`~ ${NODES} instanceTypes`] },
  nodeCapacityType: {
    stack: "prod",
    value: "SPOT",
    acts: ["~ eks:index:ManagedNodeGroup gitops-prod-nodes capacityType"],
  },
  nodeMinSize: { stack: "staging", value: 1, acts: [`~ ${NODES} scalingConfig.minSize`] },
  nodeDesiredSize: { stack: "staging", value: 3, acts: [`~ ${NODES} scalingConfig.desiredSize`] },
  nodeMaxSize: { stack: "staging", value: 5, acts: [`~ ${NODES} scalingConfig.maxSize`] },
  nodeDiskSizeGiB: {
    stack: "staging",
    value: 80,
    acts: [
      "~ aws:ec2/launchTemplate:LaunchTemplate gitops-staging-nodes blockDeviceMappings.0.ebs.volumeSize",
    ],
  },
  controlPlaneLogging: { stack: "staging", value: true, acts: [`~ ${EKS} enabledClusterLogTypes`] },
  endpointPublicAccess: { stack: "staging", value: false, acts: [`~ ${EKS} endpointPublicAccess`] },
  publicAccessCidrs: { stack: "staging", value: ["203.0.113.0/24"], acts: [`~ ${EKS} publicAccessCidrs`] },
  clusterAdminArns: {
    stack: "staging",
    value: [`arn:aws:iam::${ACCOUNT}:role/admin`],
    acts: ["+ aws:eks/accessEntry:AccessEntry gitops-staging-admin-0-access"],
  },

  imageRegistry: {
    stack: "staging",
    value: "ecr",
    acts: ["+ aws:ecr/repository:Repository gitops-staging-app-ecr-repo"],
  },
  appImageName: {
    stack: "dev",
    value: "shop",
    acts: [
      `~ ${IMAGE} gitops-dev-app-image tags`,
      "~ command:local:Command gitops-dev-gitops-image-file stdin",
    ],
  },
  ecrKeepImages: {
    stack: "prod",
    value: 10,
    acts: ["~ aws:ecr/lifecyclePolicy:LifecyclePolicy gitops-prod-app-ecr-lifecycle policy"],
  },

  githubEnabled: {
    stack: "dev",
    value: true,
    with: { githubOwner: "acme", githubRepository: "platform" },
    acts: ["+ github:index/repositoryDeployKey:RepositoryDeployKey gitops-dev-gitops-deploy-key"],
  },
  githubOwner: { stack: "staging", value: "acme", acts: ["~ pulumi:providers:github github owner"] },
  githubRepository: { stack: "staging", value: "platform", acts: [`~ ${GH_ENV} repository`] },
  gitopsRepoUrl: {
    stack: "dev",
    value: "https://github.com/example/fork.git",
    acts: [`~ ${ROOT_APP} spec.source.repoURL`],
  },
  gitopsRevision: { stack: "dev", value: "release", acts: [`~ ${ROOT_APP} spec.source.targetRevision`] },
  appNamespaces: {
    stack: "dev",
    value: ["demo-app", "shop"],
    acts: ["+ kubernetes:core/v1:Namespace gitops-dev-gitops-ns-shop"],
  },
  githubReviewerTeams: { stack: "staging", value: ["platform-leads"], acts: [`~ ${GH_ENV} reviewers`] },
  githubActionsPolicyArns: {
    stack: "staging",
    value: ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
    acts: ["+ aws:iam/rolePolicyAttachment:RolePolicyAttachment gitops-staging-github-actions-policy-1"],
  },
  ciConfigPassphrase: {
    stack: "staging",
    value: { secure: "v1:placeholder" },
    acts: [
      "+ github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret gitops-staging-github-secret-pulumi-config-passphrase",
    ],
  },
  argocdPublicUrl: {
    stack: "staging",
    value: "https://argocd.example.com",
    acts: [
      "~ github:index/repositoryWebhook:RepositoryWebhook gitops-staging-gitops-webhook configuration.url",
      `~ ${ARGOCD_STAGING}.configs.cm.url`,
    ],
  },
  githubOidcProviderArn: {
    stack: "staging",
    // Another account's provider than the one the lookup finds (the mock answers with ACCOUNT's).
    value: "arn:aws:iam::210987654321:oidc-provider/token.actions.githubusercontent.com",
    with: { githubOidcProvider: "existing" },
    acts: ["~ aws:iam/role:Role gitops-staging-github-actions-role assumeRolePolicy"],
  },
  githubOidcProvider: {
    stack: "staging",
    value: "existing",
    acts: ["- aws:iam/openIdConnectProvider:OpenIdConnectProvider gitops-staging-github-oidc"],
  },
  pulumiStateBucket: {
    stack: "staging",
    value: "acme-pulumi-state",
    acts: ["~ aws:iam/policy:Policy gitops-staging-github-actions-deploy policy"],
  },
  pullRequestPreviews: {
    stack: "staging",
    value: false,
    acts: ["- aws:iam/role:Role gitops-staging-github-preview-role"],
  },
  ghcrPullToken: {
    stack: "staging",
    value: { secure: "v1:placeholder" },
    acts: [
      "+ kubernetes:core/v1:Secret gitops-staging-gitops-image-pull-demo-app",
      "~ github:index/repositoryFile:RepositoryFile gitops-staging-gitops-image-file content",
    ],
  },
  ghcrPullUsername: {
    stack: "staging",
    value: "robot",
    with: { ghcrPullToken: { secure: "v1:placeholder" } },
    acts: ["~ kubernetes:core/v1:Secret gitops-staging-gitops-image-pull-demo-app stringData"],
  },
  argocdSsoClientId: {
    stack: "staging",
    value: "Iv1.fedcba9876543210",
    with: SSO,
    acts: [`~ ${ARGOCD_STAGING}.configs.cm.dex.config`],
  },
  argocdSsoClientSecret: {
    stack: "staging",
    value: { secure: "v1:placeholder" },
    with: { ...SSO, argocdSsoClientSecret: undefined },
    acts: [`~ ${ARGOCD_STAGING}.configs.secret.extra`, `~ ${ARGOCD_STAGING}.dex.enabled`],
  },
  argocdSsoGithubOrg: {
    stack: "staging",
    value: "globex",
    with: SSO,
    acts: [`~ ${ARGOCD_STAGING}.configs.cm.dex.config`, `~ ${ARGOCD_STAGING}.configs.rbac.policy.csv`],
  },
  argocdSsoTeamRoles: {
    stack: "staging",
    value: ["ops:readonly"],
    with: SSO,
    acts: [`~ ${ARGOCD_STAGING}.configs.rbac.policy.csv`],
  },

  argocdChartVersion: {
    stack: "dev",
    value: "10.1.2",
    acts: [`~ ${RELEASE} gitops-dev-argocd-release version`],
  },
  kubePrometheusStackChartVersion: {
    stack: "dev",
    value: "88.5.4",
    acts: [`~ ${RELEASE} gitops-dev-monitoring-kube-prometheus-stack version`],
  },
  grafanaChartVersion: {
    stack: "dev",
    value: "12.11.2",
    acts: [`~ ${RELEASE} gitops-dev-monitoring-grafana version`],
  },
  promoteFromStack: {
    stack: "prod",
    value: "acme/gitops-platform/staging",
    acts: ["~ pulumi:pulumi:StackReference gitops-prod-app-promotion-source name"],
  },
  appImagePin: {
    stack: "staging",
    value: `sha256:${"0".repeat(64)}`,
    acts: [
      "- docker-build:index:Image gitops-staging-app-image",
      "~ github:index/repositoryFile:RepositoryFile gitops-staging-gitops-image-file content",
    ],
  },
  argoRolloutsChartVersion: {
    stack: "dev",
    value: "2.41.1",
    acts: [`~ ${RELEASE} gitops-dev-argo-rollouts-release version`],
  },
  veleroChartVersion: { stack: "dev", value: "12.1.1", acts: [`~ ${VELERO} version`] },
  externalSecretsChartVersion: {
    stack: "dev",
    value: "2.9.1",
    acts: [`~ ${RELEASE} gitops-dev-external-secrets-release version`],
  },
  policyControllerChartVersion: {
    stack: "staging",
    value: "0.10.7",
    acts: [`~ ${RELEASE} gitops-staging-image-signatures-release version`],
  },
  awsLoadBalancerControllerChartVersion: {
    stack: "staging",
    value: "3.5.1",
    acts: [`~ ${RELEASE} gitops-staging-lb-controller-release version`],
  },
  externalDnsChartVersion: {
    stack: "staging",
    value: "1.21.2",
    acts: [`~ ${RELEASE} gitops-staging-external-dns-release version`],
  },
  metricsServerChartVersion: {
    stack: "staging",
    value: "3.13.2",
    acts: [`~ ${RELEASE} gitops-staging-metrics-server-release version`],
  },
  clusterAutoscalerChartVersion: {
    stack: "staging",
    value: "9.59.1",
    acts: [`~ ${RELEASE} gitops-staging-cluster-autoscaler-release version`],
  },

  argocdHighAvailability: {
    stack: "staging",
    value: true,
    with: { nodeMinSize: 3, nodeDesiredSize: 3 },
    acts: [`~ ${RELEASE} gitops-staging-argocd-release values.redis-ha.enabled`],
  },
  prometheusRetention: { stack: "dev", value: "3d", acts: [`~ ${KPS}.retention`] },
  prometheusStorageGiB: { stack: "dev", value: 30, acts: [`~ ${KPS}.storageSpec`, `~ ${KPS}.retentionSize`] },
  backupSchedule: { stack: "dev", value: "0 3 * * *", acts: [`~ ${VELERO} values.schedules.daily.schedule`] },
  backupRetentionDays: { stack: "dev", value: 9, acts: [`~ ${VELERO} values.schedules.daily.template.ttl`] },
  lokiChartVersion: { stack: "dev", value: "18.11.1", acts: [`~ ${LOKI} version`] },
  alloyChartVersion: { stack: "dev", value: "1.11.2", acts: [`~ ${RELEASE} gitops-dev-logs-alloy version`] },
  tempoChartVersion: { stack: "dev", value: "2.2.5", acts: [`~ ${TEMPO} version`] },
  logRetentionDays: {
    stack: "dev",
    value: 10,
    acts: [`~ ${LOKI} values.loki.limits_config.retention_period`],
  },
  traceRetentionDays: { stack: "dev", value: 5, acts: [`~ ${TEMPO} values.tempo.retention`] },
  // The SLO keys shape the burn-rate and error-rate rules Prometheus is handed.
  sloAvailabilityPercent: { stack: "dev", value: "99.5", acts: [`~ ${SLO_RULES}`] },
  sloLatencyThresholdMs: { stack: "dev", value: 250, acts: [`~ ${SLO_RULES}`] },
  sloLatencyPercent: { stack: "dev", value: "99", acts: [`~ ${SLO_RULES}`] },
  sloErrorRatePercent: { stack: "dev", value: "2", acts: [`~ ${SLO_RULES}`] },
};

const declared = readProject().config ?? {};
const qualified = (set: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(set).map(([k, v]) => [`${CONFIG_NAMESPACE}:${k}`, v]));

describe("config: every key reaches its resource", () => {
  it("has an entry for every key Pulumi.yaml declares, and none for keys it does not", () => {
    const missing = Object.keys(declared).filter((k) => !(k in REACHES));
    const stale = Object.keys(REACHES).filter((k) => !(k in declared));
    assert.deepEqual(missing, [], `add a line to REACHES in ${__filename} for: ${missing.join(", ")}`);
    assert.deepEqual(stale, [], `REACHES names keys Pulumi.yaml no longer declares: ${stale.join(", ")}`);
  });

  for (const [key, entry] of Object.entries(REACHES)) {
    if ("noEffect" in entry) {
      it(`${key}: no effect on any stack under test (${entry.noEffect})`, () => {
        assert.ok(entry.noEffect.length > 10, "say why");
      });
      continue;
    }
    it(`${key} = ${JSON.stringify(entry.value)} on ${entry.stack}: ${entry.acts.join("; ")}`, async () => {
      const declaredDefault = declared[key]?.default;
      const before = await evaluated(entry.stack);
      // Where the stack file itself sets a non-default value (a boolean such as pullRequestPreviews on
      // staging), the default is the other value there is, and the stack's own value is what is exercised.
      if (before.config[`${CONFIG_NAMESPACE}:${key}`] === undefined) {
        assert.notDeepEqual(entry.value, declaredDefault, `${key}: the value must differ from the default`);
      }
      assert.notDeepEqual(
        entry.value,
        before.config[`${CONFIG_NAMESPACE}:${key}`]?.value,
        `${key}: the value must differ from what the stack already has`,
      );
      const companions = entry.with
        ? await evaluateStack(entry.stack, { overrides: qualified(entry.with) })
        : before;
      const after = await evaluateStack(entry.stack, {
        overrides: qualified({ ...entry.with, [key]: entry.value }),
      });
      assert.equal(after.error, undefined, `${key}: ${after.error?.message}`);
      // Companions that are invalid alone (a region without its zones) leave the stack as it was.
      const changes = planDiff(entry.with && !companions.error ? companions : before, after);
      for (const target of entry.acts) {
        assert.ok(
          touches(changes, target),
          `${key}: expected ${target}; the plan changed:\n  ${changes.join("\n  ")}`,
        );
      }
    });
  }
});

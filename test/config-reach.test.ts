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
const MINIO = "docker:index/container:Container gitops-dev-minio";
const RELEASE = "kubernetes:helm.sh/v3:Release";
const KPS = `${RELEASE} gitops-dev-monitoring-kube-prometheus-stack values.prometheus.prometheusSpec`;
const VELERO = `${RELEASE} gitops-dev-backup-release`;
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
    },
    acts: ["+ eks:index:Cluster gitops-dev-eks", `- ${KIND}`],
  },
  clusterName: {
    stack: "dev",
    value: "gitops-lab",
    acts: ["+ command:local:Command gitops-lab-kind", `- ${KIND}`],
  },
  kubernetesVersion: { stack: "staging", value: "1.34", acts: [`~ ${EKS} version`] },
  kindNodeImage: {
    stack: "dev",
    value: `kindest/node:v1.33.4@sha256:${"a".repeat(64)}`,
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
  localRegistryImage: { stack: "dev", value: "registry:2.8.2", acts: [`~ ${REGISTRY} image`] },
  minioPort: {
    stack: "dev",
    value: 9002,
    acts: [`~ ${MINIO} ports.0.external`, `~ ${VELERO} values.configuration.backupStorageLocation`],
  },
  minioImage: { stack: "dev", value: "minio/minio:RELEASE.2025-01-01T00-00-00Z", acts: [`~ ${MINIO} image`] },

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
  nodeDiskSizeGiB: { stack: "staging", value: 80, acts: [`~ ${NODES} diskSize`] },
  controlPlaneLogging: { stack: "staging", value: true, acts: [`~ ${EKS} enabledClusterLogTypes`] },
  endpointPublicAccess: { stack: "staging", value: false, acts: [`~ ${EKS} endpointPublicAccess`] },
  publicAccessCidrs: { stack: "staging", value: ["203.0.113.0/24"], acts: [`~ ${EKS} publicAccessCidrs`] },
  clusterAdminArns: {
    stack: "staging",
    value: [`arn:aws:iam::${ACCOUNT}:role/admin`],
    acts: [`~ ${EKS} accessEntries`],
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
      `~ ${ROOT_APP} spec.source.helm.valuesObject.imageOverride.repository`,
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
    acts: [
      "~ aws:iam/rolePolicyAttachment:RolePolicyAttachment gitops-staging-github-actions-policy-0 policyArn",
    ],
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
    acts: ["+ github:index/repositoryWebhook:RepositoryWebhook gitops-staging-gitops-webhook"],
  },
  githubOidcProviderArn: {
    stack: "staging",
    value: `arn:aws:iam::${ACCOUNT}:oidc-provider/token.actions.githubusercontent.com`,
    acts: ["- aws:iam/openIdConnectProvider:OpenIdConnectProvider gitops-staging-github-actions-oidc"],
  },

  argocdChartVersion: {
    stack: "dev",
    value: "9.1.5",
    acts: [`~ ${RELEASE} gitops-dev-argocd-release version`],
  },
  kubePrometheusStackChartVersion: {
    stack: "dev",
    value: "80.7.1",
    acts: [`~ ${RELEASE} gitops-dev-monitoring-kube-prometheus-stack version`],
  },
  grafanaChartVersion: {
    stack: "dev",
    value: "10.1.6",
    acts: [`~ ${RELEASE} gitops-dev-monitoring-grafana version`],
  },
  veleroChartVersion: { stack: "dev", value: "11.2.1", acts: [`~ ${VELERO} version`] },

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
      assert.notDeepEqual(entry.value, declaredDefault, `${key}: the value must differ from the default`);
      const before = await evaluated(entry.stack);
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

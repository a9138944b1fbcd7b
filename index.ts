import * as pulumi from "@pulumi/pulumi";
import { AdmissionPolicies } from "./components/addons/admission-policies";
import { ArgoCD, ARGOCD_SERVER_SERVICE } from "./components/addons/argocd";
import { ArgoCdWebhookIngress } from "./components/addons/argocd-webhook-ingress";
import { ArgoRollouts } from "./components/addons/argo-rollouts";
import { createBackup } from "./components/addons/backup";
import { createExternalSecrets } from "./components/addons/external-secrets";
import { ImageSignatureVerification } from "./components/addons/image-signatures";
import { createCluster } from "./components/cluster/cluster";
import { loadPlatformConfig, loadSecretConfig } from "./components/config";
import { createGitHubResources } from "./components/github/github-wiring";
import { createGitWriter } from "./components/gitops/git-wiring";
import { GitOps } from "./components/gitops/gitops";
import { APP_DIR } from "./components/image/image-registry";
import { commitTime } from "./components/image/image-tag";
import { createStackImage } from "./components/image/promotion";
import { Monitoring } from "./components/addons/monitoring";
import { createPlatformAddons } from "./components/addons/platform-addons";
import { platformRuleGroups } from "./components/addons/alert-rules";
import { createLogs, LOG_LINES_METRIC } from "./components/addons/logs";
import { createTraces } from "./components/addons/traces";

/**
 * gitops-platform: one program from laptop to production.
 *
 *   1. config     every key validated once (components/config.ts)
 *   2. cluster    kind (dev) or EKS (staging, prod), and the one Kubernetes provider
 *   3. image      the app built and pushed (staging, dev), promoted by digest (prod) or pinned (rollback)
 *   4. GitHub     Actions environments limited to main, variables, and on EKS the OIDC deploy (and
 *                 preview) roles with their access entries (when githubEnabled); docs/security.md
 *   5. platform   EKS: certificate, load balancer controller, external-dns, WAF, metrics-server, Cluster
 *                 Autoscaler, gp3 (components/addons/eks-addons.ts); kind: NodePorts
 *   6. add-ons    in parallel once the cluster is up: Monitoring (kube-prometheus-stack + Grafana),
 *                 Argo CD (+ its webhook Ingress on EKS), Argo Rollouts, Backup (Velero), Logs (Loki +
 *                 Alloy) and Traces (Tempo); only their ServiceMonitors wait for the Prometheus CRDs
 *   7. GitOps     repository, bootstrap and app projects (default locked), root Application; the image
 *                 reference committed to git (deploy/<env> on GitHub, or the local git server next to
 *                 kind that Pulumi pushes gitops/ to), its pull secret where the registry needs one
 *   8. admission  ValidatingAdmissionPolicies on the app namespaces (pod rules, image source), image
 *                 signature verification (policy-controller) outside dev; External Secrets beside the add-ons
 */
export = async () => {
  const config = loadPlatformConfig();
  const cluster = await createCluster(config);
  // Built here (dev, staging), promoted by digest from another stack (prod) or pinned by a rollback.
  const appImage = await createStackImage(config, cluster);

  const kind = config.cluster.provider === "kind" ? config.cluster : undefined;
  const gitHub = await createGitHubResources(config, cluster);
  // The component waits for every resource of the cluster: nodes, storage driver, registry.
  const clusterReady = [cluster as unknown as pulumi.Resource];
  const platform = await createPlatformAddons(config, cluster, {
    provider: cluster.provider,
    dependsOn: clusterReady,
    githubProvider: gitHub?.provider,
  });
  const addonOptions = { provider: cluster.provider, dependsOn: clusterReady };
  const withIngress = [...clusterReady, ...platform.ready.ingress];
  // Volumes wait for the stack's storage class (gp3 on EKS).
  const withStorage = [...clusterReady, ...platform.ready.storage];
  const monitoring = new Monitoring(`${config.cluster.name}-monitoring`, {
    ...addonOptions,
    dependsOn: [...withIngress, ...platform.ready.storage],
    dashboardConstants: {
      slo_availability: String(config.slo.availability),
      slo_latency_ratio: String(config.slo.latency.ratio),
    },
    alertRules: platformRuleGroups({
      slo: config.slo,
      appNamespaces: config.gitops.appNamespaces,
      logLinesMetric: LOG_LINES_METRIC,
    }),
    chartVersions: { kubePrometheusStack: config.charts.kubePrometheusStack, grafana: config.charts.grafana },
    retention: config.addons.prometheus.retention,
    storageGiB: config.addons.prometheus.storageGiB,
    storageClass: platform.storageClass,
    // kind nodes are containers: the host's / is not a shared mount there.
    hostRootFsMount: !kind,
    grafanaExposure: platform.exposure.grafana,
  });
  const argocd = new ArgoCD(`${config.cluster.name}-argocd`, {
    ...addonOptions,
    dependsOn: withIngress,
    chartVersion: config.charts.argocd,
    highAvailability: config.addons.argocdHighAvailability,
    exposure: platform.exposure.argocd,
    // EKS: https://<ingress host> through global.domain, unless argocdPublicUrl names another URL.
    url: kind
      ? `http://localhost:${kind.ports.argocd}`
      : config.github.enabled
        ? config.github.argocdPublicUrl
        : undefined,
    // The local git server notifies Argo CD on every push (polling stays as the fallback); GitHub
    // cannot reach a kind cluster, so a fork on kind is polled every minute.
    reconciliationTimeout: kind ? (config.gitops.source === "local" ? "180s" : "60s") : undefined,
    monitoringCrds: monitoring.prometheusStack,
    sso: config.addons.argocdSso
      ? {
          ...config.addons.argocdSso,
          clientSecret: loadSecretConfig().argocdSsoClientSecret as pulumi.Output<string>,
        }
      : undefined,
  });
  // Runs the app's canary and blue-green Rollouts (gitops/charts/demo-app, rollout.enabled).
  new ArgoRollouts(`${config.cluster.name}-argo-rollouts`, {
    ...addonOptions,
    chartVersion: config.charts.argoRollouts,
    highAvailability: config.addons.argocdHighAvailability,
    monitoringCrds: monitoring.prometheusStack,
  });
  if (platform.webhook) {
    new ArgoCdWebhookIngress(`${config.cluster.name}-argocd-webhook`, {
      namespace: argocd.namespace,
      host: platform.webhook.host,
      alb: platform.webhook.alb,
      hookCidrs: platform.webhook.hookCidrs,
      denyHooksOnHosts: platform.webhook.denyHooksOnHosts,
      service: ARGOCD_SERVER_SERVICE,
      provider: cluster.provider,
      dependsOn: [argocd.release, ...platform.ready.ingress],
    });
  }
  const backup = await createBackup(config, cluster, {
    ...addonOptions,
    monitoringCrds: monitoring.prometheusStack,
  });

  const logs = await createLogs(config, cluster, {
    ...addonOptions,
    dependsOn: withStorage,
    storageClass: platform.storageClass,
    grafanaNamespace: monitoring.namespace,
    monitoringCrds: monitoring.prometheusStack,
  });
  const traces = await createTraces(config, cluster, {
    ...addonOptions,
    dependsOn: withStorage,
    storageClass: platform.storageClass,
    grafanaNamespace: monitoring.namespace,
  });

  const externalSecrets = await createExternalSecrets(config, cluster, {
    ...addonOptions,
    monitoringCrds: monitoring.prometheusStack,
  });

  const admission = new AdmissionPolicies(`${config.cluster.name}-admission`, {
    ...addonOptions,
    imageRepository: appImage.repository,
  });
  const signatures = config.imageSigner
    ? new ImageSignatureVerification(`${config.cluster.name}-image-signatures`, {
        ...addonOptions,
        chartVersion: config.charts.policyController,
        imageRepository: appImage.repository,
        signer: config.imageSigner,
        replicas: config.environment === "prod" ? 2 : 1,
        monitoringCrds: monitoring.prometheusStack,
      })
    : undefined;
  const { localServer: localGit, ...git } = await createGitWriter(config, { cluster, argocd });
  // GHCR is pulled with a read:packages token from config; ECR through the node role; local needs none.
  const ghcrPullToken = config.imageRegistry === "ghcr" ? loadSecretConfig().ghcrPullToken : undefined;

  const gitops = new GitOps(
    `${config.cluster.name}-gitops`,
    {
      environment: config.environment,
      stack: config.stack,
      repoUrl: config.gitops.repoUrl,
      revision: config.gitops.revision,
      appNamespaces: [...config.gitops.appNamespaces],
      github: config.github.enabled
        ? {
            repository: config.github.repository,
            // EKS: https://argocd.<domain>, whose /api/webhook path admits GitHub's hook ranges.
            argocdPublicUrl: config.github.argocdPublicUrl ?? platform.webhook?.url,
            webhookSecret: argocd.webhookSecret,
          }
        : undefined,
      image: {
        repository: appImage.repository,
        tag: appImage.tag,
        digest: appImage.digest,
        // A rollback pin runs an older image than this checkout's source: its commit time is unknown here.
        commitTime: config.appImage.pin ? undefined : commitTime(APP_DIR),
      },
      imageOrigin: appImage.origin,
      ...git,
      appValues: platform.appValues,
      imagePullCredentials: ghcrPullToken
        ? {
            registry: "ghcr.io",
            username: config.appImage.ghcrPullUsername ?? (config.appImage.ghcrOwner as string),
            password: ghcrPullToken,
          }
        : undefined,
      clusterFacts: {
        ...platform.facts,
        cluster_name: cluster.clusterName,
        cluster_provider: config.cluster.provider,
        ...(config.cluster.provider === "eks" ? { aws_region: config.cluster.region } : {}),
        backup_bucket: backup.bucket,
      },
      provider: cluster.provider,
      // Argo CD's CRDs must exist before its Applications, and the admission checks and the secret
      // store before the app syncs; on destroy, Applications go first.
      dependsOn: [
        argocd.release,
        externalSecrets.release,
        admission,
        ...(signatures ? [signatures.release] : []),
      ],
    },
    gitHub ? { providers: [gitHub.provider] } : undefined,
  );

  return {
    environment: config.environment,
    clusterProvider: config.cluster.provider,
    clusterName: cluster.clusterName,
    kubeconfig: pulumi.secret(cluster.kubeconfig),
    appImage: appImage.ref,
    appImageTag: appImage.tag,
    appImageRepository: appImage.repository,
    appImageDigest: appImage.digest,
    deployedImages: appImage.history,
    gitopsRepoUrl: config.gitops.repoUrl,
    gitopsRevision: config.gitops.revision,
    argocdProject: gitops.projectName,
    argocdBootstrapProject: gitops.bootstrapProjectName,
    argocdRootApplication: gitops.rootApplicationName,
    appUrl: platform.appUrl,
    argocdUrl: argocd.url,
    argocdAdminPassword: argocd.adminPassword,
    grafanaUrl: monitoring.grafanaUrl,
    grafanaAdminPassword: monitoring.grafanaAdminPassword,
    prometheusUrl: monitoring.prometheusUrl,
    backupBucket: backup.bucket,
    lokiUrl: logs.lokiUrl,
    logsBucket: logs.bucket,
    tempoOtlpUrl: traces.otlpHttpUrl,
    tracesBucket: traces.bucket,
    secretStore: externalSecrets.storeName,
    admissionPolicies: admission.policyNames,
    ...(signatures ? { imageSignaturePolicy: signatures.policyName } : {}),
    ...(gitHub?.actionsRoleArn ? { githubActionsRoleArn: gitHub.actionsRoleArn } : {}),
    ...(gitHub?.previewRoleArn ? { githubPreviewRoleArn: gitHub.previewRoleArn } : {}),
    // The local git server (dev): clone, revert and push by hand as user "pulumi" (docs/dev.md).
    ...(localGit ? { gitopsPushUrl: localGit.pushUrl, gitopsPushPassword: localGit.pushPassword } : {}),
  };
};

import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { APP_NAMESPACE_LABEL } from "../../policy/rules";
import type { EksCluster } from "../cluster/eks-cluster";
import type { PlatformCluster } from "../cluster/kubernetes-provider";
import type { PlatformConfig } from "../config";
import { addonNamespace, pinnedRelease, type ChartSource } from "./helm-release";

export const EXTERNAL_SECRETS_CHART: ChartSource = {
  repo: "https://charts.external-secrets.io",
  chart: "external-secrets",
};
export const EXTERNAL_SECRETS_NAMESPACE = "external-secrets";
/** The operator's own service account (chart `serviceAccount.name`). */
export const EXTERNAL_SECRETS_CONTROLLER_SA = "external-secrets";
/** The service account the store authenticates as; the operator may mint tokens for it and nothing else. */
export const SECRET_STORE_SERVICE_ACCOUNT = "platform-secret-store";
/** The ClusterSecretStore the apps' ExternalSecrets name (gitops/charts/demo-app `externalSecret.store`). */
export const SECRET_STORE_NAME = "platform-secrets";
/** kind: the namespace holding the secrets the Kubernetes provider serves (never an app namespace). */
export const LOCAL_SECRETS_NAMESPACE = "platform-secrets";

/** Where the store reads secrets from. */
export type SecretBackend =
  | {
      /** ESO's Kubernetes provider over Secrets Pulumi writes into a source namespace (kind, no cloud). */
      provider: "kubernetes";
      /** The secrets: Secret name -> key -> value (Pulumi secrets). */
      secrets: Record<string, Record<string, pulumi.Input<string>>>;
    }
  | {
      /** AWS Secrets Manager through IRSA: the store's service account assumes `roleArn`. */
      provider: "aws";
      region: string;
      /** IAM role limited to `keyPrefix*` (see ExternalSecretsAws). */
      roleArn: pulumi.Input<string>;
      /** Prefix of every key the store reads, e.g. `gitops-platform/staging/`; ExternalSecrets name keys below it. */
      keyPrefix: string;
    };

/** The external-secrets chart values this component sets (deploy/charts/external-secrets/values.yaml at 2.9.0). */
export interface ExternalSecretsValues {
  installCRDs: boolean;
  serviceAccount: { create: boolean; name: string };
  rbac: { serviceAccountTokenCreate: boolean };
  /** Only cluster-wide stores the platform creates; app teams cannot bring their own (namespaced) stores. */
  processSecretStore: boolean;
  resources: Resources;
  webhook: { resources: Resources };
  certController: { resources: Resources };
  serviceMonitor: { enabled: boolean };
}
interface Resources {
  requests: { cpu: string; memory: string };
  limits: { cpu: string; memory: string };
}
const SMALL: Resources = {
  requests: { cpu: "10m", memory: "64Mi" },
  limits: { cpu: "200m", memory: "256Mi" },
};

/** Arguments of {@link ExternalSecrets}. */
export interface ExternalSecretsArgs {
  /** Exact external-secrets chart version (config `externalSecretsChartVersion`). */
  chartVersion: string;
  /** The store's backend. */
  backend: SecretBackend;
  /** The release installing the Prometheus Operator CRDs: the metrics ServiceMonitor is on. Default: none. */
  monitoringCrds?: pulumi.Resource;
  /** The stack's Kubernetes provider. */
  provider: k8s.Provider;
  /** Resources the install waits for (the cluster). Default: none. */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/**
 * External Secrets Operator and the one ClusterSecretStore of the stack, usable from app namespaces only.
 * The store authenticates as its own service account, for which alone the operator may request tokens:
 * on EKS that account carries the IRSA role (AWS Secrets Manager, the stack's path only); on kind it may
 * read Secrets of one source namespace that Pulumi fills (ESO's Kubernetes provider).
 */
export class ExternalSecrets extends pulumi.ComponentResource {
  public readonly release: k8s.helm.v3.Release;
  public readonly storeName = SECRET_STORE_NAME;

  constructor(name: string, args: ExternalSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:addons:ExternalSecrets", name, {}, opts);
    const k8sOpts = { parent: this, provider: args.provider };
    const backend = args.backend;
    const namespace = addonNamespace(`${name}-ns`, {
      name: EXTERNAL_SECRETS_NAMESPACE,
      podSecurity: "baseline",
      provider: args.provider,
      parent: this,
    });
    const storeAccount = new k8s.core.v1.ServiceAccount(
      `${name}-store-sa`,
      {
        metadata: {
          name: SECRET_STORE_SERVICE_ACCOUNT,
          namespace: namespace.metadata.name,
          ...(backend.provider === "aws"
            ? { annotations: { "eks.amazonaws.com/role-arn": backend.roleArn } }
            : {}),
        },
        automountServiceAccountToken: false,
      },
      k8sOpts,
    );
    // In place of the chart's cluster-wide serviceaccounts/token permission: tokens of the store's account only.
    const tokenRole = new k8s.rbac.v1.Role(
      `${name}-store-token`,
      {
        metadata: { name: "store-token-requester", namespace: namespace.metadata.name },
        rules: [
          {
            apiGroups: [""],
            resources: ["serviceaccounts/token"],
            resourceNames: [SECRET_STORE_SERVICE_ACCOUNT],
            verbs: ["create"],
          },
        ],
      },
      k8sOpts,
    );
    new k8s.rbac.v1.RoleBinding(
      `${name}-store-token`,
      {
        metadata: { name: "store-token-requester", namespace: namespace.metadata.name },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: tokenRole.metadata.name },
        subjects: [
          {
            kind: "ServiceAccount",
            name: EXTERNAL_SECRETS_CONTROLLER_SA,
            namespace: EXTERNAL_SECRETS_NAMESPACE,
          },
        ],
      },
      k8sOpts,
    );

    const values: ExternalSecretsValues = {
      installCRDs: true,
      serviceAccount: { create: true, name: EXTERNAL_SECRETS_CONTROLLER_SA },
      rbac: { serviceAccountTokenCreate: false },
      processSecretStore: false,
      resources: SMALL,
      webhook: { resources: SMALL },
      certController: { resources: SMALL },
      serviceMonitor: { enabled: args.monitoringCrds !== undefined },
    };
    this.release = pinnedRelease(`${name}-release`, {
      source: EXTERNAL_SECRETS_CHART,
      version: args.chartVersion,
      releaseName: "external-secrets",
      namespace: namespace.metadata.name,
      values,
      provider: args.provider,
      parent: this,
      dependsOn: args.dependsOn,
      monitoringCrds: args.monitoringCrds,
    });

    const auth = {
      serviceAccount: { name: SECRET_STORE_SERVICE_ACCOUNT, namespace: EXTERNAL_SECRETS_NAMESPACE },
    };
    let provider: Record<string, unknown>;
    if (backend.provider === "kubernetes") {
      const source = new k8s.core.v1.Namespace(
        `${name}-source-ns`,
        {
          metadata: {
            name: LOCAL_SECRETS_NAMESPACE,
            labels: {
              "pod-security.kubernetes.io/enforce": "restricted",
              "pod-security.kubernetes.io/audit": "restricted",
              "pod-security.kubernetes.io/warn": "restricted",
            },
          },
        },
        k8sOpts,
      );
      for (const [secretName, data] of Object.entries(backend.secrets)) {
        new k8s.core.v1.Secret(
          `${name}-source-${secretName}`,
          {
            metadata: { name: secretName, namespace: source.metadata.name },
            type: "Opaque",
            stringData: pulumi.secret(data),
          },
          k8sOpts,
        );
      }
      const reader = new k8s.rbac.v1.Role(
        `${name}-source-reader`,
        {
          metadata: { name: "secret-store-reader", namespace: source.metadata.name },
          rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch"] }],
        },
        k8sOpts,
      );
      new k8s.rbac.v1.RoleBinding(
        `${name}-source-reader`,
        {
          metadata: { name: "secret-store-reader", namespace: source.metadata.name },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: reader.metadata.name },
          subjects: [{ kind: "ServiceAccount", ...auth.serviceAccount }],
        },
        k8sOpts,
      );
      provider = {
        kubernetes: {
          remoteNamespace: LOCAL_SECRETS_NAMESPACE,
          server: {
            url: "https://kubernetes.default.svc",
            caProvider: {
              type: "ConfigMap",
              name: "kube-root-ca.crt",
              key: "ca.crt",
              namespace: LOCAL_SECRETS_NAMESPACE,
            },
          },
          auth,
        },
      };
    } else {
      provider = {
        aws: {
          service: "SecretsManager",
          region: backend.region,
          prefix: backend.keyPrefix,
          auth: { jwt: { serviceAccountRef: auth.serviceAccount } },
        },
      };
    }

    new k8s.apiextensions.CustomResource(
      `${name}-store`,
      {
        apiVersion: "external-secrets.io/v1",
        kind: "ClusterSecretStore",
        metadata: { name: SECRET_STORE_NAME },
        spec: {
          provider,
          // Only app namespaces may read through this store.
          conditions: [{ namespaceSelector: { matchLabels: { [APP_NAMESPACE_LABEL]: "true" } } }],
        },
      },
      { ...k8sOpts, dependsOn: [this.release, storeAccount] },
    );
    this.registerOutputs({ storeName: this.storeName });
  }
}

/** The app secrets the platform provides: the demo app's API token, generated once per stack. */
export const APP_SECRET = { name: "demo-app", key: "api-token" } as const;

/**
 * Creates the stack's External Secrets: the Kubernetes provider over a Pulumi-filled namespace (kind), or
 * Secrets Manager under `gitops-platform/<stack>/` through IRSA (EKS). The AWS part (and with it
 * @pulumi/aws) is imported only on EKS stacks.
 */
export async function createExternalSecrets(
  config: PlatformConfig,
  cluster: PlatformCluster,
  options: Pick<ExternalSecretsArgs, "monitoringCrds" | "dependsOn">,
): Promise<ExternalSecrets> {
  const name = `${config.cluster.name}-external-secrets`;
  const token = new random.RandomPassword(`${name}-${APP_SECRET.name}-token`, { length: 40, special: false });
  const secrets = { [APP_SECRET.name]: { [APP_SECRET.key]: token.result } };
  const common = { chartVersion: config.charts.externalSecrets, provider: cluster.provider, ...options };
  if (config.cluster.provider === "kind") {
    return new ExternalSecrets(name, { ...common, backend: { provider: "kubernetes", secrets } });
  }
  const { SecretsManagerAccess } = await import("./external-secrets-aws");
  const eks = cluster as EksCluster;
  const keyPrefix = `${config.project}/${config.stack}/`;
  const access = new SecretsManagerAccess(`${name}-aws`, {
    keyPrefix,
    secrets,
    oidcProviderArn: eks.oidcProviderArn,
    oidcProviderUrl: eks.oidcProviderUrl,
    serviceAccount: { namespace: EXTERNAL_SECRETS_NAMESPACE, name: SECRET_STORE_SERVICE_ACCOUNT },
    awsProvider: eks.awsProvider,
  });
  return new ExternalSecrets(name, {
    ...common,
    backend: { provider: "aws", region: config.cluster.region, roleArn: access.roleArn, keyPrefix },
  });
}

import * as command from "@pulumi/command";
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { stringify } from "yaml";
import { ALB_INGRESS_CLASS } from "./alb-ingress";
import { addonNamespace, exposureUrl, pinnedRelease, type ChartSource, type Exposure } from "./helm-release";

export const ARGOCD_CHART: ChartSource = { repo: "https://argoproj.github.io/argo-helm", chart: "argo-cd" };

/** Arguments of {@link ArgoCD}. */
export interface ArgoCDArgs {
  /** Exact argo-cd chart version (config `argocdChartVersion`). */
  chartVersion: string;
  /** Namespace of Argo CD. Default: "argocd". */
  namespace?: string;
  /** redis-ha, two replicas of server, repo server and ApplicationSet controller, PDBs. Default: false. */
  highAvailability?: boolean;
  /** NodePort on kind (plain HTTP, kind has no TLS), or an ALB Ingress on EKS (UI and gRPC, TLS at the ALB). */
  exposure: Exposure;
  /** URL at which users reach Argo CD (argocd-cm `url`: SSO callbacks, links in notifications). Default: https://<host> of the Ingress, or the chart's placeholder. */
  url?: string;
  /** Git polling interval (`timeout.reconciliation`); lower it where webhooks cannot arrive. Default: the chart's 120s plus up to 60s jitter. */
  reconciliationTimeout?: string;
  /** The release installing the Prometheus Operator CRDs: metrics ServiceMonitors are on and the install waits for it. Default: none (no ServiceMonitors). */
  monitoringCrds?: pulumi.Resource;
  /**
   * GitHub OAuth through Dex: members of the organisation sign in, teams map to roles, and the local
   * `admin` account is disabled. Default: none (the admin account, whose password is a stack output).
   */
  sso?: ArgoCdSso & { clientSecret: pulumi.Input<string> };
  /** Resources the install waits for, typically the cluster with its nodes. Default: none. */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
  /** The stack's Kubernetes provider. */
  provider: k8s.Provider;
}

interface Metrics {
  enabled: boolean;
  serviceMonitor: { enabled: boolean };
}
interface Component {
  replicas?: number;
  pdb?: { enabled: boolean; minAvailable?: number };
  metrics: Metrics;
}

/** Single sign-on through Dex's GitHub connector. */
export interface ArgoCdSso {
  /** Organisation whose members may sign in. */
  githubOrg: string;
  /** Client id of the GitHub OAuth App (its callback: `<url>/api/dex/callback`). */
  clientId: string;
  /** Argo CD's public URL (argocd-cm `url`). */
  url: string;
  /** Teams (slugs) of the organisation and the built-in role each gets. */
  teamRoles: readonly { team: string; role: "admin" | "readonly" }[];
}

/** The argo-cd chart values this component sets (charts/argo-cd/values.yaml). */
export interface ArgoCdValues {
  global: { networkPolicy: { create: boolean }; domain?: string };
  dex: { enabled: boolean };
  configs: {
    cm: Record<string, string>;
    params: { "server.insecure": boolean };
    rbac: { "policy.default": string; "policy.csv": string; scopes: string };
    /** A Pulumi secret of its own: the rest of the values stays readable in previews. */
    secret: pulumi.Input<{
      argocdServerAdminPassword: string;
      argocdServerAdminPasswordMtime: string;
      githubSecret: string;
      extra?: Record<string, string>;
    }>;
  };
  controller: Component;
  server: Component & {
    service: { type: string; nodePortHttp?: number };
    ingress?: {
      enabled: boolean;
      controller: "aws";
      ingressClassName: string;
      hostname: string;
      path: string;
      pathType: string;
      annotations: pulumi.Input<Record<string, string>>;
      aws: { backendProtocolVersion: "GRPC"; serviceType: "ClusterIP" };
    };
  };
  repoServer: Component;
  applicationSet: Component;
  notifications: { metrics: Metrics };
  redis: { metrics: Metrics; exporter: { enabled: boolean } };
  "redis-ha": {
    enabled: boolean;
    exporter?: { enabled: boolean; serviceMonitor: { enabled: boolean } };
  };
}

/** Argo CD's release name: the chart's objects are named argocd-server, argocd-repo-server, ... */
const RELEASE = "argocd";
/** The server's Service and its plain-HTTP port: what the load balancer forwards to (TLS ends there). */
export const ARGOCD_SERVER_SERVICE = { name: `${RELEASE}-server`, port: 80 };

/**
 * Argo CD from the pinned argo-cd chart: a generated admin password (stored bcrypt-hashed, exported as a
 * secret), read-only default RBAC, metrics with ServiceMonitors, an optional highly available layout,
 * the server on a NodePort (kind) or an ALB Ingress for UI and gRPC (EKS), and a generated GitHub webhook
 * secret.
 */
export class ArgoCD extends pulumi.ComponentResource {
  public readonly namespace: pulumi.Output<string>;
  public readonly release: k8s.helm.v3.Release;
  /** The `admin` password; a secret output. */
  public readonly adminPassword: pulumi.Output<string>;
  /** Shared secret of the GitHub webhook (argocd-secret `webhook.github.secret`); a secret output. */
  public readonly webhookSecret: pulumi.Output<string>;
  /** URL of the UI and API: http://localhost:<nodePort> on kind, https://argocd.<domain> on EKS. */
  public readonly url: pulumi.Output<string>;

  constructor(name: string, args: ArgoCDArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:addons:ArgoCD", name, {}, opts);
    const ha = args.highAvailability ?? false;
    const serviceMonitors = args.monitoringCrds !== undefined;

    const namespace = addonNamespace(`${name}-ns`, {
      name: args.namespace ?? "argocd",
      // Argo CD's own pods meet "restricted" (warned on); the redis-ha subchart's are not guaranteed to.
      podSecurity: "baseline",
      provider: args.provider,
      parent: this,
    });
    const password = new random.RandomPassword(
      `${name}-admin-password`,
      { length: 24, special: false },
      { parent: this },
    );
    const webhookSecret = new random.RandomPassword(
      `${name}-webhook-secret`,
      { length: 40, special: false },
      { parent: this },
    );

    // Argo CD ends every session issued before admin.passwordMtime. The chart stamps "now" on each
    // render unless told otherwise, so the time is taken once, when the password (its hash) is new.
    const passwordMtime = new command.local.Command(
      `${name}-admin-password-mtime`,
      {
        create: `node -e "process.stdout.write(new Date().toISOString().slice(0, 19) + 'Z')"`,
        triggers: [password.bcryptHash],
      },
      { parent: this },
    );

    // bcryptHash is computed once by the random provider, so the argocd-secret stays stable across runs.
    const values = argoCdValues({
      ...args,
      highAvailability: ha,
      serviceMonitors,
      hash: password.bcryptHash,
      mtime: passwordMtime.stdout,
      githubSecret: webhookSecret.result,
    });
    this.release = pinnedRelease(`${name}-release`, {
      source: ARGOCD_CHART,
      version: args.chartVersion,
      releaseName: RELEASE,
      namespace: namespace.metadata.name,
      values,
      provider: args.provider,
      parent: this,
      dependsOn: args.dependsOn,
      monitoringCrds: args.monitoringCrds,
    });

    this.namespace = namespace.metadata.name;
    this.adminPassword = pulumi.secret(password.result);
    this.webhookSecret = pulumi.secret(webhookSecret.result);
    this.url = pulumi.output(exposureUrl(args.exposure));

    this.registerOutputs({
      namespace: this.namespace,
      adminPassword: this.adminPassword,
      webhookSecret: this.webhookSecret,
      url: this.url,
    });
  }
}

/** The values of the argo-cd chart for the given settings. */
export function argoCdValues(settings: {
  highAvailability: boolean;
  serviceMonitors: boolean;
  exposure: Exposure;
  url?: string;
  reconciliationTimeout?: string;
  hash: pulumi.Input<string>;
  /** When the password was set (RFC 3339, UTC). */
  mtime: pulumi.Input<string>;
  githubSecret: pulumi.Input<string>;
  sso?: ArgoCdSso & { clientSecret: pulumi.Input<string> };
}): ArgoCdValues {
  const metrics = { enabled: true, serviceMonitor: { enabled: settings.serviceMonitors } };
  const ha = settings.highAvailability;
  const replicated = (replicas: number): Component => ({
    replicas: ha ? replicas : 1,
    pdb: { enabled: ha, ...(ha ? { minAvailable: 1 } : {}) },
    metrics,
  });
  const exposure = settings.exposure;
  const sso = settings.sso;
  return {
    global: {
      // The chart's NetworkPolicies (its default since 10.0): each component admits only its known peers,
      // the server and every metrics port stay open. Enforced where the CNI implements NetworkPolicy.
      networkPolicy: { create: true },
      // argocd-cm `url` (links, SSO callbacks) is https://<global.domain> unless configs.cm.url says otherwise.
      ...(exposure.type === "Ingress" ? { domain: exposure.host } : {}),
    },
    // Without SSO the admin account is the way in; with it, Dex and GitHub teams.
    dex: { enabled: sso !== undefined },
    configs: {
      cm: {
        ...(settings.url ? { url: settings.url } : {}),
        ...(settings.reconciliationTimeout
          ? { "timeout.reconciliation": settings.reconciliationTimeout }
          : {}),
        ...(sso ? ssoSettings(sso) : {}),
      },
      // Plain HTTP inside the cluster: kind has no TLS, and on EKS TLS ends at the load balancer.
      params: { "server.insecure": true },
      // No role for anyone not named: a signed-in stranger of the organisation sees nothing.
      rbac: {
        "policy.default": "",
        "policy.csv": (sso?.teamRoles ?? [])
          .map(({ team, role }) => `g, ${sso?.githubOrg}:${team}, role:${role}`)
          .join("\n"),
        scopes: "[groups]",
      },
      secret: pulumi.secret(
        pulumi
          .all([settings.hash, settings.mtime, settings.githubSecret, sso?.clientSecret ?? ""])
          .apply(([argocdServerAdminPassword, argocdServerAdminPasswordMtime, githubSecret, ssoSecret]) => ({
            argocdServerAdminPassword,
            argocdServerAdminPasswordMtime,
            githubSecret,
            // Rendered into argocd-secret; dex.config refers to it as $dex.github.clientSecret.
            ...(sso ? { extra: { "dex.github.clientSecret": ssoSecret } } : {}),
          })),
      ),
    },
    // The controller shards clusters instead of replicating them: one replica (and so no PDB, which would
    // block node drains) is the chart's HA layout for a single cluster.
    controller: { replicas: 1, metrics },
    server: {
      ...replicated(2),
      ...(exposure.type === "NodePort"
        ? { service: { type: "NodePort", nodePortHttp: exposure.nodePort } }
        : {
            service: { type: "ClusterIP" },
            // The chart's ALB layout: one host, gRPC requests (Content-Type application/grpc) to an
            // argocd-server-grpc Service with backend protocol GRPC, everything else to argocd-server.
            ingress: {
              enabled: true,
              controller: "aws",
              ingressClassName: ALB_INGRESS_CLASS,
              hostname: exposure.host,
              path: "/",
              pathType: "Prefix",
              annotations: exposure.annotations,
              aws: { backendProtocolVersion: "GRPC", serviceType: "ClusterIP" },
            },
          }),
    },
    repoServer: replicated(2),
    applicationSet: replicated(2),
    notifications: { metrics },
    // The redis metrics Service points at the exporter sidecar's port: without the exporter it scrapes
    // nothing. With redis-ha on, the chart drops the single redis and redis-ha's exporter takes over.
    redis: { metrics, exporter: { enabled: true } },
    "redis-ha": ha
      ? { enabled: true, exporter: { enabled: true, serviceMonitor: { enabled: settings.serviceMonitors } } }
      : { enabled: false },
  };
}

/** argocd-cm entries of GitHub SSO: the URL Dex calls back to, the connector, and no local admin. */
function ssoSettings(sso: ArgoCdSso): Record<string, string> {
  const connector = {
    type: "github",
    id: "github",
    name: "GitHub",
    config: {
      clientID: sso.clientId,
      clientSecret: "$dex.github.clientSecret",
      // Only members of these teams may sign in; groups are "<org>:<team-slug>".
      orgs: [{ name: sso.githubOrg, teams: [...new Set(sso.teamRoles.map((t) => t.team))] }],
      teamNameField: "slug",
    },
  };
  return { url: sso.url, "dex.config": stringify({ connectors: [connector] }), "admin.enabled": "false" };
}

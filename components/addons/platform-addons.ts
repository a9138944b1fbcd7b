import type * as github from "@pulumi/github";
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { PlatformConfig } from "../config";
import type { EksCluster } from "../cluster/eks-cluster";
import type { PlatformCluster } from "../cluster/kubernetes-provider";
import type { AlbSettings } from "./alb-ingress";
import type { Exposure } from "./helm-release";

/** What the cluster-specific add-ons hand the rest of the program. */
export interface PlatformAddons {
  /** Where the app answers: http://localhost:<appNodePort> on kind, https://app.<domain> on EKS. */
  appUrl: string;
  /** StorageClass of the add-ons' volumes: kind's "standard", EKS's encrypted gp3. */
  storageClass: string;
  /** What add-ons wait for: Ingresses for the load balancer controller (its webhook validates them), volumes for the StorageClass. */
  ready: { ingress: pulumi.Resource[]; storage: pulumi.Resource[] };
  /** How the Argo CD and Grafana UIs are reached. */
  exposure: { argocd: Exposure; grafana: Exposure };
  /** Argo CD's GitHub webhook door (EKS with GitHub managed); undefined where GitHub cannot reach. */
  webhook?: {
    /** Argo CD's public URL; GitHub posts to <url>/api/webhook. */
    url: string;
    host: string;
    alb: pulumi.Output<AlbSettings>;
    hookCidrs: pulumi.Output<string[]>;
    denyHooksOnHosts: pulumi.Output<string[]>;
  };
  /** Values the platform hands the apps (gitops/apps `appValues`): ingress host and annotations. */
  appValues?: pulumi.Output<Record<string, unknown>>;
  /** Cluster facts for git-side charts (gitops-bridge annotations). */
  facts: Record<string, pulumi.Input<string>>;
}

/**
 * The add-ons that differ per cluster. kind: NodePorts on 127.0.0.1 and its "standard" class, nothing
 * installed. EKS: the load balancer controller, DNS, certificates, WAF, metrics-server, node autoscaling
 * and gp3 (components/addons/eks-addons.ts, imported only here so dev never loads @pulumi/aws).
 */
export async function createPlatformAddons(
  config: PlatformConfig,
  cluster: PlatformCluster,
  opts: {
    provider: k8s.Provider;
    dependsOn: pulumi.Input<pulumi.Resource>[];
    githubProvider?: github.Provider;
  },
): Promise<PlatformAddons> {
  const settings = config.cluster;
  if (settings.provider === "kind") {
    return {
      appUrl: `http://localhost:${settings.ports.app}`,
      storageClass: "standard",
      ready: { ingress: [], storage: [] },
      exposure: {
        argocd: { type: "NodePort", nodePort: settings.ports.argocd },
        grafana: { type: "NodePort", nodePort: settings.ports.grafana },
      },
      facts: {},
    };
  }
  const { createEksAddons } = await import("./eks-addons");
  return createEksAddons(config, settings, cluster as EksCluster, opts);
}

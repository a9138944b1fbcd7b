// Loaded only by EKS stacks (see createPlatformAddons in components/addons/platform-addons.ts): the dev stack never loads @pulumi/aws.
import * as github from "@pulumi/github";
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { isWholeInternet, type EksSettings, type PlatformConfig } from "../config";
import type { EksCluster } from "../cluster/eks-cluster";
import { adminLayout, albAnnotations, stackHosts, type AdminLayout } from "./alb-ingress";
import { AwsLoadBalancerController } from "./aws-load-balancer-controller";
import { ClusterAutoscaler } from "./cluster-autoscaler";
import { DomainCertificate } from "./domain-certificate";
import { ExternalDns } from "./external-dns";
import { MetricsServer } from "./metrics-server";
import type { PlatformAddons } from "./platform-addons";
import { DefaultStorageClass, GP3_STORAGE_CLASS } from "./storage-class";
import { AppWebAcl } from "./web-acl";

/**
 * The EKS baseline every blueprint installs, on the managed node groups of EksCluster:
 *   front door  ACM certificate (DNS-validated), AWS Load Balancer Controller, external-dns, WAF (optional)
 *   capacity    metrics-server (the HPA's metrics), Cluster Autoscaler, the default encrypted gp3 class
 * and the load balancer layout of the app, Argo CD (with its GitHub webhook path) and Grafana.
 *
 * Why managed node groups and self-installed controllers rather than EKS Auto Mode: see docs/eks.md
 * ("Auto Mode or managed node groups"). In short, Auto Mode charges a per-instance management fee on top
 * of EC2 and takes node AMIs, upgrades and the load balancer and storage drivers out of our hands; with
 * node groups each controller is a pinned chart we review, test and upgrade on our own schedule.
 */
export function createEksAddons(
  config: PlatformConfig,
  settings: EksSettings,
  cluster: EksCluster,
  opts: {
    provider: k8s.Provider;
    dependsOn: pulumi.Input<pulumi.Resource>[];
    /** The GitHub provider when GitHub is managed: the webhook's source ranges are read through it. */
    githubProvider?: github.Provider;
  },
): PlatformAddons {
  const name = settings.name;
  const edge = settings.edge;
  const hosts = stackHosts(edge.domain);
  const oidc = { arn: cluster.oidcProviderArn, url: cluster.oidcProviderUrl };
  const aws = { awsProvider: cluster.awsProvider };
  const k8sOpts = { provider: opts.provider, dependsOn: opts.dependsOn };
  const ha = config.environment === "prod";

  const certificate = new DomainCertificate(`${name}-domain`, {
    domain: edge.domain,
    hostedZoneId: edge.hostedZoneId,
    ...aws,
  });
  const loadBalancers = new AwsLoadBalancerController(`${name}-lb-controller`, {
    chartVersion: config.charts.awsLoadBalancerController,
    clusterName: cluster.clusterName,
    region: settings.region,
    vpcId: cluster.vpcId,
    oidc,
    ...aws,
    ...k8sOpts,
  });
  new ExternalDns(`${name}-external-dns`, {
    chartVersion: config.charts.externalDns,
    domain: edge.domain,
    zoneId: certificate.zoneId,
    policy: edge.externalDnsPolicy,
    txtOwnerId: name,
    oidc,
    ...aws,
    ...k8sOpts,
  });
  const waf = edge.wafEnabled ? new AppWebAcl(`${name}-waf`, { namePrefix: name, ...aws }) : undefined;

  new MetricsServer(`${name}-metrics-server`, {
    chartVersion: config.charts.metricsServer,
    highAvailability: ha,
    ...k8sOpts,
  });
  new ClusterAutoscaler(`${name}-cluster-autoscaler`, {
    chartVersion: config.charts.clusterAutoscaler,
    clusterName: name,
    region: settings.region,
    oidc,
    ...aws,
    ...k8sOpts,
  });
  const storage = new DefaultStorageClass(`${name}-storage`, k8sOpts);

  // GitHub's webhook senders, read at every deploy (github.getIpRanges); IPv4 only, like the load balancers.
  const hookCidrs = opts.githubProvider
    ? github.getIpRangesOutput({ provider: opts.githubProvider }).hooksIpv4s
    : pulumi.output([] as string[]);
  const layout: pulumi.Output<AdminLayout> = pulumi
    .all([certificate.certificateArn, hookCidrs])
    .apply(([certificateArn, cidrs]) =>
      adminLayout({
        clusterName: name,
        domain: edge.domain,
        certificateArn,
        adminCidrs: edge.adminCidrs,
        hookCidrs: cidrs,
      }),
    );
  const appAnnotations = pulumi
    .all([certificate.certificateArn, waf?.arn])
    .apply(([certificateArn, wafAclArn]) =>
      albAnnotations({
        group: `${name}-app`,
        scheme: "internet-facing",
        certificateArn,
        wafAclArn,
        healthcheckPath: "/readyz",
      }),
    );

  if (edge.adminCidrs.some(isWholeInternet)) {
    pulumi.log.warn(
      `gitops-platform:adminCidrs contains 0.0.0.0/0: the Argo CD and Grafana UIs of ${name} answer the whole internet (their logins are the only protection)`,
    );
  }

  return {
    appUrl: `https://${hosts.app}`,
    storageClass: GP3_STORAGE_CLASS,
    ready: { ingress: [loadBalancers.release], storage: [storage] },
    exposure: {
      argocd: {
        type: "Ingress",
        host: hosts.argocd,
        annotations: layout.apply((l) => albAnnotations(l.argocd)),
      },
      grafana: {
        type: "Ingress",
        host: hosts.grafana,
        // Grafana answers / with a redirect to its login; the load balancer checks its health endpoint.
        annotations: layout.apply((l) => albAnnotations({ ...l.grafana, healthcheckPath: "/api/health" })),
      },
    },
    webhook: opts.githubProvider
      ? {
          url: `https://${hosts.argocd}`,
          host: hosts.argocd,
          alb: layout.apply((l) => l.webhook!),
          hookCidrs,
          denyHooksOnHosts: layout.apply((l) => l.denyHooksOnHosts),
        }
      : undefined,
    // Reaches the demo-app chart through the root Application (gitops/apps `appValues`).
    appValues: appAnnotations.apply((annotations): Record<string, unknown> => ({
      ingress: { host: hosts.app, annotations },
      // The load balancer reaches the pods from its subnets: admit the VPC on the app port.
      networkPolicy: { ingress: { from: [{ ipBlock: { cidr: settings.vpcCidr } }] } },
    })),
    facts: { domain: edge.domain, app_url: `https://${hosts.app}` },
  };
}

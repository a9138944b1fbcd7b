/**
 * How the platform's Ingresses become AWS Application Load Balancers (AWS Load Balancer Controller
 * annotations, docs/guide/ingress/annotations.md at the pinned controller version). Pure functions: the
 * same annotations reach the Argo CD and Grafana charts, the webhook Ingress and, through git-side
 * values, the demo-app chart.
 *
 * Two load balancers per stack (an IngressGroup each, docs/eks.md):
 * - `<cluster>-app`: internet-facing, the app only, WAF optional;
 * - `<cluster>-admin`: Argo CD and Grafana. With `adminCidrs` it is internet-facing and its security group
 *   admits only those networks (plus GitHub's hook ranges, which listener rules confine to
 *   `/api/webhook`); without, it is internal and Argo CD's webhook path gets its own internet-facing
 *   load balancer (`<cluster>-webhook`) that admits GitHub's hook ranges only.
 */

/** The IngressClass the AWS Load Balancer Controller chart creates (`ingressClass`, default "alb"). */
export const ALB_INGRESS_CLASS = "alb";
/**
 * TLS policy of every HTTPS listener: TLS 1.3 and 1.2 only, forward secrecy, hybrid post-quantum key
 * exchange. AWS's recommended ALB policy (the console default since 2025-09); the controller's own
 * default is still ELBSecurityPolicy-2016-08, which allows TLS 1.0.
 */
export const ALB_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09";
/** ALB listener-rule limits: at most 3 values in one condition and 5 across a rule's conditions. */
export const ALB_MAX_VALUES_PER_CONDITION = 3;
export const ALB_MAX_VALUES_PER_RULE = 5;

const A = "alb.ingress.kubernetes.io";
/** An Ingress whose hostname external-dns must not publish (the webhook load balancer owns it). */
export const EXTERNAL_DNS_SKIP = {
  "external-dns.alpha.kubernetes.io/ingress-hostname-source": "annotation-only",
};

export type AlbScheme = "internet-facing" | "internal";

/** The hostnames of a stack's domain. */
export function stackHosts(domain: string) {
  return { app: `app.${domain}`, argocd: `argocd.${domain}`, grafana: `grafana.${domain}` };
}

/** Settings shared by every Ingress of one load balancer. */
export interface AlbSettings {
  /** IngressGroup name: Ingresses with the same group share one load balancer. */
  group: string;
  scheme: AlbScheme;
  /** ACM certificate of the HTTPS listener. */
  certificateArn: string;
  /**
   * Source CIDRs the load balancer's security group admits. Set on exactly one Ingress of a group (the
   * controller merges them per listener port). Default: unset (the controller opens 0.0.0.0/0).
   */
  inboundCidrs?: readonly string[];
  /** AWS WAF web ACL associated with the load balancer. Default: none. */
  wafAclArn?: string;
  /** Order of this Ingress's rules within the group (lower first). Default: 0. */
  groupOrder?: number;
  /** Health-check path of the targets. Default: the controller's "/". */
  healthcheckPath?: string;
  /** Leave the hostname out of DNS (see {@link EXTERNAL_DNS_SKIP}). Default: false. */
  skipDns?: boolean;
}

/**
 * The annotations of an Ingress on an ALB: HTTPS on 443 with the certificate and a current TLS policy,
 * port 80 only redirecting to 443, pods as targets (VPC CNI gives them VPC addresses), and the load
 * balancer placed by the subnet tags (kubernetes.io/role/elb: public, role/internal-elb: private).
 */
export function albAnnotations(s: AlbSettings): Record<string, string> {
  return {
    [`${A}/group.name`]: s.group,
    [`${A}/scheme`]: s.scheme,
    [`${A}/target-type`]: "ip",
    [`${A}/listen-ports`]: JSON.stringify([{ HTTP: 80 }, { HTTPS: 443 }]),
    [`${A}/ssl-redirect`]: "443",
    [`${A}/ssl-policy`]: ALB_SSL_POLICY,
    [`${A}/certificate-arn`]: s.certificateArn,
    ...(s.inboundCidrs ? { [`${A}/inbound-cidrs`]: s.inboundCidrs.join(",") } : {}),
    ...(s.wafAclArn ? { [`${A}/wafv2-acl-arn`]: s.wafAclArn } : {}),
    ...(s.groupOrder !== undefined ? { [`${A}/group.order`]: String(s.groupOrder) } : {}),
    ...(s.healthcheckPath ? { [`${A}/healthcheck-path`]: s.healthcheckPath } : {}),
    ...(s.skipDns ? EXTERNAL_DNS_SKIP : {}),
  };
}

/** Splits a list into chunks of at most `size` (ALB condition values). */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Where the admin UIs and Argo CD's webhook path are served, for a stack's `adminCidrs`. */
export interface AdminLayout {
  /** Settings of the Argo CD server Ingress (UI and gRPC). */
  argocd: AlbSettings;
  /** Settings of the Grafana Ingress. */
  grafana: AlbSettings;
  /** Settings of the webhook Ingress; undefined when no webhook is registered. */
  webhook?: AlbSettings;
  /** Hosts on which GitHub's ranges are refused (they share the load balancer with the UIs). */
  denyHooksOnHosts: string[];
}

/**
 * Decides the admin load balancers. Private by default: with no `adminCidrs` the UIs sit on an internal
 * load balancer; with a webhook, `argocd.<domain>` is then published for the webhook's internet-facing
 * load balancer, which admits GitHub's hook ranges only, and the internal UI is reached by port-forward or
 * over VPN (docs/eks.md). With `adminCidrs` the UIs and the webhook share one internet-facing load
 * balancer whose security group admits the admin networks and GitHub's ranges; rules ahead of the UIs'
 * confine GitHub's ranges to `/api/webhook`.
 */
export function adminLayout(args: {
  clusterName: string;
  domain: string;
  certificateArn: string;
  adminCidrs: readonly string[];
  /** GitHub's webhook source ranges (IPv4); empty when no webhook is registered. */
  hookCidrs: readonly string[];
}): AdminLayout {
  const hosts = stackHosts(args.domain);
  const webhook = args.hookCidrs.length > 0;
  const admin = { certificateArn: args.certificateArn, group: `${args.clusterName}-admin` };
  if (args.adminCidrs.length > 0) {
    const ui: AlbSettings = { ...admin, scheme: "internet-facing" };
    if (!webhook) {
      return { argocd: { ...ui, inboundCidrs: args.adminCidrs }, grafana: ui, denyHooksOnHosts: [] };
    }
    return {
      argocd: ui,
      grafana: ui,
      // The group's one inbound-cidrs (the controller merges them per listener port).
      webhook: { ...ui, inboundCidrs: [...args.adminCidrs, ...args.hookCidrs], groupOrder: -100 },
      denyHooksOnHosts: [hosts.argocd, hosts.grafana],
    };
  }
  const ui: AlbSettings = { ...admin, scheme: "internal" };
  return {
    argocd: { ...ui, skipDns: webhook },
    grafana: ui,
    webhook: webhook
      ? {
          certificateArn: args.certificateArn,
          group: `${args.clusterName}-webhook`,
          scheme: "internet-facing",
          inboundCidrs: args.hookCidrs,
        }
      : undefined,
    denyHooksOnHosts: [],
  };
}

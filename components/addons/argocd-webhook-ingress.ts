import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
  ALB_INGRESS_CLASS,
  ALB_MAX_VALUES_PER_CONDITION,
  albAnnotations,
  chunks,
  type AlbSettings,
} from "./alb-ingress";

/** The path GitHub posts push events to (Argo CD's webhook handler). */
export const ARGOCD_WEBHOOK_PATH = "/api/webhook";

/** Arguments of {@link ArgoCdWebhookIngress}. */
export interface ArgoCdWebhookIngressArgs {
  /** Argo CD's namespace. */
  namespace: pulumi.Input<string>;
  /** Argo CD's public host, `argocd.<domain>`. */
  host: string;
  /** The load balancer this Ingress joins (see adminLayout in alb-ingress.ts). */
  alb: pulumi.Input<AlbSettings>;
  /** GitHub's hook source ranges, read at deploy time (`github.getIpRanges`, `hooksIpv4s`). */
  hookCidrs: pulumi.Input<string[]>;
  /** Hosts of the same load balancer on which GitHub's ranges get 403 (UIs sharing it). Default: none. */
  denyHooksOnHosts?: pulumi.Input<string[]>;
  /** Argo CD's server Service and its plain-HTTP port (TLS ends at the load balancer). */
  service: { name: string; port: number };
  /** The stack's Kubernetes provider. */
  provider: k8s.Provider;
  /** Resources the Ingress waits for: the Argo CD release (its Service) and the controller. */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/**
 * The one public door into Argo CD: `https://argocd.<domain>/api/webhook`, answered only for GitHub's
 * hook ranges. Each range chunk is its own listener rule, because an ALB rule holds at most three
 * source-ip values (host and path take the other two of its five); on a load balancer shared with the UIs,
 * further rules answer those ranges 403 on every other path.
 */
export class ArgoCdWebhookIngress extends pulumi.ComponentResource {
  public readonly ingress: k8s.networking.v1.Ingress;

  constructor(name: string, args: ArgoCdWebhookIngressArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:addons:ArgoCdWebhookIngress", name, {}, opts);
    const spec = pulumi
      .all([args.alb, args.hookCidrs, args.denyHooksOnHosts ?? []])
      .apply(([alb, hookCidrs, denyHooksOnHosts]) =>
        webhookIngressSpec({ host: args.host, service: args.service, alb, hookCidrs, denyHooksOnHosts }),
      );
    this.ingress = new k8s.networking.v1.Ingress(
      `${name}-ingress`,
      {
        metadata: { name: "argocd-webhook", namespace: args.namespace, annotations: spec.annotations },
        spec: { ingressClassName: ALB_INGRESS_CLASS, rules: spec.rules },
      },
      { parent: this, provider: args.provider, dependsOn: args.dependsOn },
    );
    this.registerOutputs({ ingress: this.ingress.metadata.name });
  }
}

interface IngressPath {
  path: string;
  pathType: "Exact" | "Prefix";
  backend: { service: { name: string; port: { name: string } } };
}

/** Annotations and rules of the webhook Ingress (pure, for tests). */
export function webhookIngressSpec(args: {
  host: string;
  alb: AlbSettings;
  hookCidrs: readonly string[];
  denyHooksOnHosts?: readonly string[];
  service: { name: string; port: number };
}): {
  annotations: Record<string, string>;
  rules: { host: string; http: { paths: IngressPath[] } }[];
} {
  const ranges = chunks(args.hookCidrs, ALB_MAX_VALUES_PER_CONDITION);
  if (ranges.length === 0) throw new Error("the webhook Ingress needs GitHub's hook ranges (got none)");
  const annotations: Record<string, string> = { ...albAnnotations(args.alb) };
  // An action name stands in for a backend (port "use-annotation"); its conditions add the source ranges.
  const rule = (
    action: string,
    config: object,
    sources: string[],
    path: string,
    pathType: IngressPath["pathType"],
  ) => {
    annotations[`alb.ingress.kubernetes.io/actions.${action}`] = JSON.stringify(config);
    annotations[`alb.ingress.kubernetes.io/conditions.${action}`] = JSON.stringify([
      { field: "source-ip", sourceIpConfig: { values: sources } },
    ]);
    return { path, pathType, backend: { service: { name: action, port: { name: "use-annotation" } } } };
  };
  const forward = {
    type: "forward",
    forwardConfig: {
      targetGroups: [{ serviceName: args.service.name, servicePort: args.service.port }],
    },
  };
  const refuse = {
    type: "fixed-response",
    fixedResponseConfig: { contentType: "text/plain", statusCode: "403", messageBody: "Forbidden" },
  };
  const webhookPaths = ranges.map((r, i) =>
    rule(`github-hooks-${i}`, forward, r, ARGOCD_WEBHOOK_PATH, "Exact"),
  );
  const denied = new Map<string, IngressPath[]>();
  (args.denyHooksOnHosts ?? []).forEach((host, h) =>
    denied.set(
      host,
      ranges.map((r, i) => rule(`github-hooks-deny-${h}-${i}`, refuse, r, "/", "Prefix")),
    ),
  );
  // Rules are prioritised in the order of the paths: the webhook first, then the refusals.
  const rules = [{ host: args.host, http: { paths: [...webhookPaths, ...(denied.get(args.host) ?? [])] } }];
  for (const [host, paths] of denied) if (host !== args.host) rules.push({ host, http: { paths } });
  return { annotations, rules };
}

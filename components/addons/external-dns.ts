// Loaded only by EKS stacks (imported by components/addons/eks-addons.ts): the dev stack never loads @pulumi/aws.
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { irsaRole, type IrsaAddonArgs } from "../cluster/irsa-role";
import { addonNamespace, pinnedRelease, type ChartSource } from "./helm-release";

export const EXTERNAL_DNS_CHART: ChartSource = {
  repo: "https://kubernetes-sigs.github.io/external-dns",
  chart: "external-dns",
};
const NAMESPACE = "external-dns";
const SERVICE_ACCOUNT = "external-dns";

/** Arguments of {@link ExternalDns}. */
export interface ExternalDnsArgs extends IrsaAddonArgs {
  /** The domain whose names external-dns may write (`--domain-filter`). */
  domain: string;
  /** The one hosted zone it may change. */
  zoneId: pulumi.Input<string>;
  /** "upsert-only" (never deletes) or "sync". Default: "upsert-only". */
  policy?: "upsert-only" | "sync";
  /** Owner id of its TXT registry records: tells this cluster's records from others'. */
  txtOwnerId: string;
}

/**
 * external-dns: publishes the hosts of the cluster's Ingresses as Route 53 alias records of their load
 * balancers, in one zone only: `--domain-filter` and `--zone-id-filter` in the process, and an IRSA role
 * that may change records of that zone and of names under the domain only.
 */
export class ExternalDns extends pulumi.ComponentResource {
  public readonly release: k8s.helm.v3.Release;
  public readonly roleArn: pulumi.Output<string>;

  constructor(name: string, args: ExternalDnsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:addons:ExternalDns", name, {}, opts);
    const policy = args.policy ?? "upsert-only";
    const namespace = addonNamespace(`${name}-ns`, {
      name: NAMESPACE,
      podSecurity: "restricted",
      provider: args.provider,
      parent: this,
    });
    const { role } = irsaRole(name, {
      ...args,
      serviceAccount: { namespace: NAMESPACE, name: SERVICE_ACCOUNT },
      policy: externalDnsPolicy(args.zoneId, args.domain, policy),
      description: `external-dns for ${args.domain}`,
      parent: this,
    });
    this.release = pinnedRelease(`${name}-release`, {
      source: EXTERNAL_DNS_CHART,
      version: args.chartVersion,
      releaseName: "external-dns",
      namespace: namespace.metadata.name,
      values: {
        provider: { name: "aws" },
        sources: ["ingress"],
        domainFilters: [args.domain],
        policy,
        registry: "txt",
        txtOwnerId: args.txtOwnerId,
        extraArgs: pulumi
          .output(args.zoneId)
          .apply((zone) => [`--zone-id-filter=${zone}`, "--aws-zone-type=public"]),
        serviceAccount: {
          create: true,
          name: SERVICE_ACCOUNT,
          annotations: { "eks.amazonaws.com/role-arn": role.arn },
        },
        // The chart's container lacks requests and limits; restricted namespaces expect them.
        resources: { requests: { cpu: "10m", memory: "64Mi" }, limits: { cpu: "100m", memory: "128Mi" } },
      },
      provider: args.provider,
      parent: this,
      dependsOn: args.dependsOn,
    });
    this.roleArn = role.arn;
    this.registerOutputs({ roleArn: this.roleArn });
  }
}

/**
 * external-dns's least privilege: read and change record sets of one zone, for names at or under the
 * domain only (and without DELETE unless the policy is "sync"); listing zones cannot be scoped.
 */
export function externalDnsPolicy(
  zoneId: pulumi.Input<string>,
  domain: string,
  policy: "upsert-only" | "sync",
): pulumi.Output<string> {
  const zoneArn = pulumi.interpolate`arn:aws:route53:::hostedzone/${zoneId}`;
  return pulumi.jsonStringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "ChangeRecordsOfTheZone",
        Effect: "Allow",
        Action: ["route53:ChangeResourceRecordSets"],
        Resource: [zoneArn],
        Condition: {
          "ForAllValues:StringLike": {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames": [domain, `*.${domain}`],
          },
          "ForAllValues:StringEquals": {
            "route53:ChangeResourceRecordSetsActions":
              policy === "sync" ? ["CREATE", "UPSERT", "DELETE"] : ["CREATE", "UPSERT"],
          },
        },
      },
      {
        Sid: "ReadTheZone",
        Effect: "Allow",
        Action: ["route53:ListResourceRecordSets", "route53:ListTagsForResources"],
        Resource: [zoneArn],
      },
      { Sid: "FindZones", Effect: "Allow", Action: ["route53:ListHostedZones"], Resource: ["*"] },
    ],
  });
}

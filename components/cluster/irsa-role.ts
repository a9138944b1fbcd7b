// Loaded only by EKS stacks, with the add-ons that need AWS permissions.
import * as aws from "@pulumi/aws";
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { irsaTrustPolicy, type OidcProvider } from "./irsa";

/**
 * An IAM role for one Kubernetes service account (IRSA) with one inline policy: only that service account
 * of that namespace may assume it, and the policy is the add-on's least privilege. The resources are
 * `<name>-role` and `<name>-policy`.
 */
export function irsaRole(
  name: string,
  args: {
    oidc: OidcProvider;
    serviceAccount: { namespace: string; name: string };
    /** The inline policy document (JSON). */
    policy: pulumi.Input<string>;
    description: string;
    awsProvider: aws.Provider;
    parent: pulumi.Resource;
  },
): { role: aws.iam.Role; policy: aws.iam.RolePolicy } {
  const opts = { parent: args.parent, provider: args.awsProvider };
  const { namespace, name: account } = args.serviceAccount;
  const role = new aws.iam.Role(
    `${name}-role`,
    {
      description: `${args.description} (${namespace}/${account}) via IRSA`,
      assumeRolePolicy: irsaTrustPolicy(args.oidc.arn, args.oidc.url, namespace, account),
    },
    opts,
  );
  const policy = new aws.iam.RolePolicy(`${name}-policy`, { role: role.id, policy: args.policy }, opts);
  return { role, policy };
}

/** What every add-on with an IRSA role and a pinned chart takes. */
export interface IrsaAddonArgs {
  /** Exact chart version (its `*ChartVersion` config key). */
  chartVersion: string;
  /** The cluster's IAM OIDC provider: the add-on's role trusts its service account through it. */
  oidc: OidcProvider;
  /** The stack's explicit AWS provider. */
  awsProvider: aws.Provider;
  /** The stack's Kubernetes provider. */
  provider: k8s.Provider;
  /** Resources the install waits for, typically the cluster with its nodes. Default: none. */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

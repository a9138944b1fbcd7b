// Loaded only by EKS stacks (through the lazily imported *-aws modules): the dev stack never loads @pulumi/aws.
import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";
import { irsaTrustPolicy } from "./irsa";

/** What an IRSA role needs: the cluster's OIDC provider, the one service account, and its permissions. */
export interface IrsaRoleArgs {
  /** What the role is for; the service account is appended. */
  purpose: string;
  oidcProviderArn: pulumi.Input<string>;
  oidcProviderUrl: pulumi.Input<string>;
  /** The only service account that may assume the role. */
  serviceAccount: { namespace: string; name: string };
  /** The role's inline policy (JSON). */
  policy: pulumi.Input<string>;
}

/** An IAM role only `serviceAccount` can assume through the cluster's OIDC provider, with one inline policy. */
export function irsaRole(name: string, args: IrsaRoleArgs, opts: pulumi.CustomResourceOptions): aws.iam.Role {
  const { namespace, name: account } = args.serviceAccount;
  const role = new aws.iam.Role(
    `${name}-role`,
    {
      description: `${args.purpose} (${namespace}/${account}) via IRSA`,
      assumeRolePolicy: irsaTrustPolicy(args.oidcProviderArn, args.oidcProviderUrl, namespace, account),
    },
    opts,
  );
  new aws.iam.RolePolicy(`${name}-policy`, { role: role.id, policy: args.policy }, opts);
  return role;
}

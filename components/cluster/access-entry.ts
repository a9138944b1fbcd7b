// Loaded only by EKS stacks, like the rest of the AWS code.
import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";

/**
 * The EKS access policies this program grants. Cluster admin is the narrowest one a deploy works with:
 * the Helm releases install CRDs, ClusterRoles and ClusterRoleBindings, and Kubernetes lets an identity
 * grant only permissions it holds itself (Argo CD's controller role is `*` on `*`), so any deployer of
 * these charts is effectively cluster-admin. View is for previews: read, no Secrets.
 */
export const EKS_ACCESS_POLICIES = {
  clusterAdmin: "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
  view: "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy",
} as const;

export type EksAccessLevel = keyof typeof EKS_ACCESS_POLICIES;

/**
 * Admits an IAM principal to the cluster: an EKS access entry and one cluster-wide access policy.
 * The principal keeps no Kubernetes groups of its own, so the access policy is all it gets.
 */
export function grantClusterAccess(
  name: string,
  args: {
    clusterName: pulumi.Input<string>;
    principalArn: pulumi.Input<string>;
    access: EksAccessLevel;
    awsProvider: aws.Provider;
    parent: pulumi.Resource;
  },
): aws.eks.AccessEntry {
  const opts = { parent: args.parent, provider: args.awsProvider };
  const entry = new aws.eks.AccessEntry(
    `${name}-access`,
    { clusterName: args.clusterName, principalArn: args.principalArn, type: "STANDARD" },
    opts,
  );
  new aws.eks.AccessPolicyAssociation(
    `${name}-access-policy`,
    {
      clusterName: args.clusterName,
      principalArn: entry.principalArn,
      policyArn: EKS_ACCESS_POLICIES[args.access],
      accessScope: { type: "cluster" },
    },
    opts,
  );
  return entry;
}

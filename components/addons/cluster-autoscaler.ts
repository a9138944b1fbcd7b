// Loaded only by EKS stacks (imported by components/addons/eks-addons.ts): the dev stack never loads @pulumi/aws.
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { irsaRole, type IrsaAddonArgs } from "../cluster/irsa-role";
import { pinnedRelease, type ChartSource } from "./helm-release";

export const CLUSTER_AUTOSCALER_CHART: ChartSource = {
  repo: "https://kubernetes.github.io/autoscaler",
  chart: "cluster-autoscaler",
};
const NAMESPACE = "kube-system";
const SERVICE_ACCOUNT = "cluster-autoscaler";

/** Arguments of {@link ClusterAutoscaler}. */
export interface ClusterAutoscalerArgs extends IrsaAddonArgs {
  /** EKS cluster name: managed node groups tag their Auto Scaling groups with it. */
  clusterName: string;
  /** AWS region of the cluster. */
  region: string;
}

/**
 * Cluster Autoscaler for the managed node groups: adds nodes when pods are pending for lack of room and
 * removes nodes that stay under half used, within each group's min and max. It finds the groups by the
 * tags EKS puts on their Auto Scaling groups, and its IRSA role may resize and terminate instances only in
 * groups tagged as owned by this cluster.
 */
export class ClusterAutoscaler extends pulumi.ComponentResource {
  public readonly release: k8s.helm.v3.Release;
  public readonly roleArn: pulumi.Output<string>;

  constructor(name: string, args: ClusterAutoscalerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:addons:ClusterAutoscaler", name, {}, opts);
    const { role } = irsaRole(name, {
      ...args,
      serviceAccount: { namespace: NAMESPACE, name: SERVICE_ACCOUNT },
      policy: clusterAutoscalerPolicy(args.clusterName),
      description: `Cluster Autoscaler of ${args.clusterName}`,
      parent: this,
    });
    this.release = pinnedRelease(`${name}-release`, {
      source: CLUSTER_AUTOSCALER_CHART,
      version: args.chartVersion,
      releaseName: "cluster-autoscaler",
      namespace: NAMESPACE,
      values: {
        cloudProvider: "aws",
        awsRegion: args.region,
        autoDiscovery: { clusterName: args.clusterName },
        rbac: {
          serviceAccount: {
            create: true,
            name: SERVICE_ACCOUNT,
            annotations: { "eks.amazonaws.com/role-arn": role.arn },
          },
        },
        extraArgs: {
          // Node groups over the same instance types in different zones grow together.
          "balance-similar-node-groups": true,
          // Spot and on-demand groups: pick the one that wastes least.
          expander: "least-waste",
          "skip-nodes-with-system-pods": false,
        },
        resources: { requests: { cpu: "50m", memory: "128Mi" }, limits: { cpu: "500m", memory: "512Mi" } },
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
 * Cluster Autoscaler's least privilege with auto-discovery: read Auto Scaling groups, instance types and
 * launch templates anywhere (the describe calls cannot be scoped), resize and terminate only in groups
 * tagged `k8s.io/cluster-autoscaler/<cluster>: owned`, read this cluster's node groups only.
 */
export function clusterAutoscalerPolicy(clusterName: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "Discover",
        Effect: "Allow",
        Action: [
          "autoscaling:DescribeAutoScalingGroups",
          "autoscaling:DescribeAutoScalingInstances",
          "autoscaling:DescribeLaunchConfigurations",
          "autoscaling:DescribeScalingActivities",
          "autoscaling:DescribeTags",
          "ec2:DescribeImages",
          "ec2:DescribeInstanceTypes",
          "ec2:DescribeLaunchTemplateVersions",
          "ec2:GetInstanceTypesFromInstanceRequirements",
        ],
        Resource: ["*"],
      },
      {
        Sid: "ScaleOwnGroups",
        Effect: "Allow",
        Action: ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
        Resource: ["*"],
        Condition: {
          StringEquals: { [`aws:ResourceTag/k8s.io/cluster-autoscaler/${clusterName}`]: "owned" },
        },
      },
      {
        Sid: "ReadOwnNodeGroups",
        Effect: "Allow",
        Action: ["eks:DescribeNodegroup"],
        Resource: [`arn:aws:eks:*:*:nodegroup/${clusterName}/*/*`],
      },
    ],
  });
}

// Loaded only by EKS stacks (imported by components/addons/eks-addons.ts): the dev stack never loads @pulumi/aws.
import * as fs from "node:fs";
import * as path from "node:path";
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { irsaRole, type IrsaAddonArgs } from "../cluster/irsa-role";
import { ALB_INGRESS_CLASS, ALB_SSL_POLICY } from "./alb-ingress";
import { pinnedRelease, type ChartSource } from "./helm-release";

export const AWS_LOAD_BALANCER_CONTROLLER_CHART: ChartSource = {
  repo: "https://aws.github.io/eks-charts",
  chart: "aws-load-balancer-controller",
};
/**
 * The controller's IAM policy as its project publishes it (docs/install/iam_policy.json) at the release
 * the pinned chart installs: chart 3.5.0 → controller v3.5.0. A chart bump needs the policy of the new
 * release (test/front-door.test.ts keeps the pair in step).
 */
export const LBC_IAM_POLICY_FILE = path.join(__dirname, "aws-load-balancer-controller-iam-policy.json");
export const LBC_IAM_POLICY_RELEASE = { chartVersion: "3.5.0", controllerVersion: "v3.5.0" };
const NAMESPACE = "kube-system";
const SERVICE_ACCOUNT = "aws-load-balancer-controller";

/** Arguments of {@link AwsLoadBalancerController}. */
export interface AwsLoadBalancerControllerArgs extends IrsaAddonArgs {
  /** EKS cluster name. */
  clusterName: pulumi.Input<string>;
  /** AWS region of the cluster (passed explicitly: the controller then needs no instance metadata). */
  region: string;
  /** The cluster's VPC. */
  vpcId: pulumi.Input<string>;
  /** Two replicas with a PodDisruptionBudget. Default: true. */
  highAvailability?: boolean;
}

/**
 * The AWS Load Balancer Controller: turns Ingresses of class `alb` into Application Load Balancers (in
 * the subnets tagged for them) with ACM certificates, WAF and security groups. IRSA role with the
 * project's published policy; the Service mutator webhook is off (this platform creates no LoadBalancer
 * Services, and a failing webhook would block every Service create).
 */
export class AwsLoadBalancerController extends pulumi.ComponentResource {
  public readonly release: k8s.helm.v3.Release;
  public readonly roleArn: pulumi.Output<string>;

  constructor(name: string, args: AwsLoadBalancerControllerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:addons:AwsLoadBalancerController", name, {}, opts);
    const { role } = irsaRole(name, {
      ...args,
      serviceAccount: { namespace: NAMESPACE, name: SERVICE_ACCOUNT },
      policy: JSON.stringify(JSON.parse(fs.readFileSync(LBC_IAM_POLICY_FILE, "utf8"))),
      description: `AWS Load Balancer Controller ${LBC_IAM_POLICY_RELEASE.controllerVersion}`,
      awsProvider: args.awsProvider,
      parent: this,
    });
    const ha = args.highAvailability ?? true;
    this.release = pinnedRelease(`${name}-release`, {
      source: AWS_LOAD_BALANCER_CONTROLLER_CHART,
      version: args.chartVersion,
      releaseName: "aws-load-balancer-controller",
      namespace: NAMESPACE,
      values: {
        clusterName: args.clusterName,
        // Explicit, so the controller never needs the node's instance metadata (IMDSv2 hop limit 1).
        region: args.region,
        vpcId: args.vpcId,
        serviceAccount: {
          create: true,
          name: SERVICE_ACCOUNT,
          annotations: { "eks.amazonaws.com/role-arn": role.arn },
        },
        replicaCount: ha ? 2 : 1,
        podDisruptionBudget: ha ? { maxUnavailable: 1 } : {},
        ingressClass: ALB_INGRESS_CLASS,
        createIngressClassResource: true,
        defaultSSLPolicy: ALB_SSL_POLICY,
        defaultTargetType: "ip",
        enableServiceMutatorWebhook: false,
      },
      provider: args.provider,
      parent: this,
      dependsOn: args.dependsOn,
    });
    this.roleArn = role.arn;
    this.registerOutputs({ roleArn: this.roleArn });
  }
}

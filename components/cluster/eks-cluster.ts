// Loaded only by EKS stacks (see components/cluster/cluster.ts): the dev stack never pays for the AWS SDKs.
import * as aws from "@pulumi/aws";
import * as awsx from "@pulumi/awsx";
import * as eks from "@pulumi/eks";
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { irsaTrustPolicy } from "./irsa";
import { createKubernetesProvider, type PlatformCluster } from "./kubernetes-provider";

/** Arguments of {@link EksCluster}. */
export interface EksClusterArgs {
  /** EKS cluster name. */
  clusterName: string;
  /** Kubernetes minor version, pinned (e.g. "1.35"); the cluster stays on standard support (no extended-support billing). */
  kubernetesVersion: string;
  /** AWS region. */
  region: string;
  /** Availability zones of the VPC (2 or 3). */
  availabilityZones: readonly string[];
  /** VPC CIDR. Default: 10.0.0.0/16. */
  vpcCidr?: string;
  /** NAT gateways: "Single" (staging) or "OnePerAz" (prod). Default: "OnePerAz". */
  natGateways?: "Single" | "OnePerAz";
  /** The managed node group. Nodes always live in the private subnets. */
  nodeGroup: {
    instanceTypes: readonly string[];
    /** Default: "ON_DEMAND". */
    capacityType?: "ON_DEMAND" | "SPOT";
    minSize: number;
    desiredSize: number;
    maxSize: number;
    /** Root volume in GiB. Default: 50. */
    diskSizeGiB?: number;
  };
  /** Send every control-plane log type to CloudWatch. Default: false. */
  controlPlaneLogging?: boolean;
  /** Whether the API endpoint is public (it is always private too). Default: true. */
  endpointPublicAccess?: boolean;
  /** CIDRs allowed on the public endpoint. Default: ["0.0.0.0/0"]. */
  publicAccessCidrs?: readonly string[];
  /** IAM principals granted cluster-admin through access entries. Default: none. */
  clusterAdminArns?: readonly string[];
  /** Tags on every AWS resource. */
  tags?: Record<string, string>;
}

const CONTROL_PLANE_LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"];
const NODE_POLICIES = [
  "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
  "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
  "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
];
const CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";

/**
 * An EKS cluster for staging and prod: a VPC with public and private subnets over the given AZs and NAT
 * per the environment's policy, the cluster (API authentication mode with access entries, OIDC provider
 * for IRSA, pinned version, optional control-plane logs), one managed node group in the private subnets,
 * and the EBS CSI driver add-on so workloads get persistent volumes.
 */
export class EksCluster extends pulumi.ComponentResource implements PlatformCluster {
  public readonly clusterName: pulumi.Output<string>;
  public readonly kubeconfig: pulumi.Output<string>;
  public readonly provider: k8s.Provider;
  public readonly awsProvider: aws.Provider;
  public readonly vpcId: pulumi.Output<string>;
  public readonly oidcProviderArn: pulumi.Output<string>;
  public readonly oidcProviderUrl: pulumi.Output<string>;

  constructor(name: string, args: EksClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:cluster:EksCluster", name, {}, opts);
    const tags = { "gitops-platform:cluster": args.clusterName, ...args.tags };

    this.awsProvider = new aws.Provider(
      `${name}-aws`,
      { region: args.region, defaultTags: { tags } },
      { parent: this },
    );
    // Custom resources take the explicit AWS provider; (remote) components pass it on to their children.
    const awsOpts = { parent: this, provider: this.awsProvider };
    const componentOpts = { parent: this, providers: [this.awsProvider] };

    const vpc = new awsx.ec2.Vpc(
      `${name}-vpc`,
      {
        cidrBlock: args.vpcCidr ?? "10.0.0.0/16",
        availabilityZoneNames: [...args.availabilityZones],
        natGateways: { strategy: args.natGateways ?? "OnePerAz" },
        enableDnsHostnames: true,
        subnetStrategy: "Auto",
        subnetSpecs: [
          // Load balancer discovery tags: internet-facing on public, internal on private subnets.
          { type: "Public", cidrMask: 20, tags: { "kubernetes.io/role/elb": "1" } },
          { type: "Private", cidrMask: 19, tags: { "kubernetes.io/role/internal-elb": "1" } },
        ],
        tags: { Name: `${args.clusterName}-vpc` },
      },
      componentOpts,
    );

    const cluster = new eks.Cluster(
      `${name}-eks`,
      {
        name: args.clusterName,
        version: args.kubernetesVersion,
        // EKS defaults to EXTENDED: a version past standard support keeps running at the extended price.
        // STANDARD upgrades the control plane when standard support ends instead.
        upgradePolicy: { supportType: "STANDARD" },
        vpcId: vpc.vpcId,
        publicSubnetIds: vpc.publicSubnetIds,
        privateSubnetIds: vpc.privateSubnetIds,
        nodeAssociatePublicIpAddress: false,
        skipDefaultNodeGroup: true,
        authenticationMode: "API",
        createOidcProvider: true,
        endpointPrivateAccess: true,
        endpointPublicAccess: args.endpointPublicAccess ?? true,
        publicAccessCidrs: [...(args.publicAccessCidrs ?? ["0.0.0.0/0"])],
        enabledClusterLogTypes: args.controlPlaneLogging ? CONTROL_PLANE_LOG_TYPES : [],
        accessEntries: Object.fromEntries(
          (args.clusterAdminArns ?? []).map((arn, i) => [
            `admin-${i}`,
            {
              principalArn: arn,
              accessPolicies: {
                admin: { policyArn: CLUSTER_ADMIN_POLICY, accessScope: { type: "cluster" } },
              },
            },
          ]),
        ),
        tags,
      },
      componentOpts,
    );

    const nodeRole = new aws.iam.Role(
      `${name}-node-role`,
      { assumeRolePolicy: aws.iam.assumeRolePolicyForPrincipal({ Service: "ec2.amazonaws.com" }) },
      awsOpts,
    );
    const nodePolicies = NODE_POLICIES.map(
      (policyArn, i) =>
        new aws.iam.RolePolicyAttachment(
          `${name}-node-policy-${i}`,
          { role: nodeRole.name, policyArn },
          awsOpts,
        ),
    );
    new eks.ManagedNodeGroup(
      `${name}-nodes`,
      {
        cluster,
        nodeRole,
        subnetIds: vpc.privateSubnetIds,
        instanceTypes: [...args.nodeGroup.instanceTypes],
        capacityType: args.nodeGroup.capacityType ?? "ON_DEMAND",
        scalingConfig: {
          minSize: args.nodeGroup.minSize,
          desiredSize: args.nodeGroup.desiredSize,
          maxSize: args.nodeGroup.maxSize,
        },
        diskSize: args.nodeGroup.diskSizeGiB ?? 50,
        labels: { "gitops-platform/node-group": "default" },
        tags,
      },
      { ...componentOpts, dependsOn: nodePolicies },
    );

    this.oidcProviderArn = cluster.oidcProviderArn;
    this.oidcProviderUrl = cluster.oidcProviderUrl;

    const ebsCsiRole = new aws.iam.Role(
      `${name}-ebs-csi`,
      {
        assumeRolePolicy: irsaTrustPolicy(
          this.oidcProviderArn,
          this.oidcProviderUrl,
          "kube-system",
          "ebs-csi-controller-sa",
        ),
      },
      awsOpts,
    );
    new aws.iam.RolePolicyAttachment(
      `${name}-ebs-csi-policy`,
      { role: ebsCsiRole.name, policyArn: "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy" },
      awsOpts,
    );
    new aws.eks.Addon(
      `${name}-ebs-csi`,
      {
        clusterName: cluster.eksCluster.name,
        addonName: "aws-ebs-csi-driver",
        serviceAccountRoleArn: ebsCsiRole.arn,
        resolveConflictsOnUpdate: "OVERWRITE",
      },
      awsOpts,
    );

    this.clusterName = pulumi.output(args.clusterName);
    this.vpcId = vpc.vpcId;
    this.kubeconfig = pulumi.secret(cluster.kubeconfigJson);
    this.provider = createKubernetesProvider(name, this.kubeconfig, this);

    this.registerOutputs({
      clusterName: this.clusterName,
      kubeconfig: this.kubeconfig,
      vpcId: this.vpcId,
      oidcProviderArn: this.oidcProviderArn,
    });
  }
}

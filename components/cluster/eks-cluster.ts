// Loaded only by EKS stacks (see components/cluster/cluster.ts): the dev stack never pays for the AWS SDKs.
import * as aws from "@pulumi/aws";
import * as awsx from "@pulumi/awsx";
import * as eks from "@pulumi/eks";
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { grantClusterAccess } from "./access-entry";
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
  /** CIDRs allowed on the public endpoint; config validation requires them while it is public. Default: none. */
  publicAccessCidrs?: readonly string[];
  /** IAM principals granted cluster-admin through access entries (besides the creator). Default: none. */
  clusterAdminArns?: readonly string[];
  /** Tags on every AWS resource. */
  tags?: Record<string, string>;
}

const CONTROL_PLANE_LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"];
// The CNI policy is not here: the VPC CNI gets it through IRSA, so pods on the node cannot borrow it.
// ECR read-only is: every node pulls the app image from the stack's ECR repository without a secret.
const NODE_POLICIES = [
  "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
  "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
];
const CNI_POLICY = "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy";
/** Root volume of the EKS AL2023 AMIs. */
const ROOT_DEVICE = "/dev/xvda";

/**
 * An EKS cluster for staging and prod: a VPC with public and private subnets over the given AZs and NAT
 * per the environment's policy, the cluster (API authentication mode with access entries, OIDC provider
 * for IRSA, pinned version, optional control-plane logs), one managed node group in the private subnets,
 * and the EBS CSI driver add-on so workloads get persistent volumes.
 */
export class EksCluster extends pulumi.ComponentResource implements PlatformCluster {
  public readonly clusterName: pulumi.Output<string>;
  /** The EKS cluster's name as AWS knows it, once the cluster exists (for access entries). */
  public readonly eksClusterName: pulumi.Output<string>;
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
        publicAccessCidrs: [...(args.publicAccessCidrs ?? [])],
        enabledClusterLogTypes: args.controlPlaneLogging ? CONTROL_PLANE_LOG_TYPES : [],
        // The VPC CNI is the add-on below (IRSA, network policy on), not one this component configures.
        useDefaultVpcCni: true,
        tags,
      },
      componentOpts,
    );

    const nodeRole = new aws.iam.Role(
      `${name}-node-role`,
      { assumeRolePolicy: aws.iam.assumeRolePolicyForPrincipal({ Service: "ec2.amazonaws.com" }) },
      awsOpts,
    );
    this.eksClusterName = cluster.eksCluster.name;
    this.oidcProviderArn = cluster.oidcProviderArn;
    this.oidcProviderUrl = cluster.oidcProviderUrl;
    (args.clusterAdminArns ?? []).forEach((principalArn, i) =>
      grantClusterAccess(`${name}-admin-${i}`, {
        clusterName: this.eksClusterName,
        principalArn,
        access: "clusterAdmin",
        awsProvider: this.awsProvider,
        parent: this,
      }),
    );

    // VPC CNI with its own IRSA role and the network policy agent on, so NetworkPolicies are enforced.
    const cni = this.addonRole(`${name}-vpc-cni`, "aws-node", CNI_POLICY, awsOpts);
    const vpcCni = new aws.eks.Addon(
      `${name}-vpc-cni`,
      {
        clusterName: this.eksClusterName,
        addonName: "vpc-cni",
        serviceAccountRoleArn: cni.role.arn,
        // aws-vpc-cni chart values (charts/aws-vpc-cni/values.yaml): a string, "false" by default.
        configurationValues: JSON.stringify({ enableNetworkPolicy: "true" }),
        resolveConflictsOnCreate: "OVERWRITE",
        resolveConflictsOnUpdate: "OVERWRITE",
      },
      { ...awsOpts, dependsOn: [cni.attachment] },
    );

    // IMDSv2 only, one hop: the node reaches its metadata, pods (one hop further) do not.
    const launchTemplate = new aws.ec2.LaunchTemplate(
      `${name}-nodes`,
      {
        description: `Nodes of ${args.clusterName}: IMDSv2 with hop limit 1, encrypted gp3 root volume`,
        metadataOptions: {
          httpEndpoint: "enabled",
          httpTokens: "required",
          httpPutResponseHopLimit: 1,
          instanceMetadataTags: "disabled",
        },
        blockDeviceMappings: [
          {
            deviceName: ROOT_DEVICE,
            ebs: {
              volumeSize: args.nodeGroup.diskSizeGiB ?? 50,
              volumeType: "gp3",
              encrypted: "true",
              deleteOnTermination: "true",
            },
          },
        ],
        tagSpecifications: [{ resourceType: "instance", tags }],
      },
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
        // The disk size lives in the launch template (EKS refuses both).
        launchTemplate: { id: launchTemplate.id, version: launchTemplate.latestVersion.apply(String) },
        labels: { "gitops-platform/node-group": "default" },
        tags,
      },
      // Nodes join once the CNI has its role: aws-node never falls back to the node role.
      { ...componentOpts, dependsOn: [...nodePolicies, vpcCni] },
    );

    const ebsCsi = this.addonRole(
      `${name}-ebs-csi`,
      "ebs-csi-controller-sa",
      "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy",
      awsOpts,
    );
    new aws.eks.Addon(
      `${name}-ebs-csi`,
      {
        clusterName: this.eksClusterName,
        addonName: "aws-ebs-csi-driver",
        serviceAccountRoleArn: ebsCsi.role.arn,
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

  /** An IRSA role for a kube-system add-on's service account, with one managed policy (`<name>-policy`). */
  private addonRole(
    name: string,
    serviceAccount: string,
    policyArn: string,
    awsOpts: pulumi.CustomResourceOptions,
  ): { role: aws.iam.Role; attachment: aws.iam.RolePolicyAttachment } {
    const role = new aws.iam.Role(
      name,
      {
        assumeRolePolicy: irsaTrustPolicy(
          this.oidcProviderArn,
          this.oidcProviderUrl,
          "kube-system",
          serviceAccount,
        ),
      },
      awsOpts,
    );
    const attachment = new aws.iam.RolePolicyAttachment(
      `${name}-policy`,
      { role: role.name, policyArn },
      awsOpts,
    );
    return { role, attachment };
  }
}

/**
 * The IAM policy documents of the GitHub Actions roles, as pure functions of what the stack manages.
 *
 * Scope: the services the program uses on AWS (EC2 for the VPC and launch template, EKS, IAM for its own
 * roles, ECR, S3, CloudWatch Logs; ACM, Route 53 and WAF for the EKS front door), narrowed by resource name prefix (every name the program gives
 * starts with the cluster name) and, for EC2 where ARNs are random, by the `gitops-platform:cluster`
 * tag the stack's AWS provider puts on everything it creates. The permissions boundary caps the deploy
 * role whatever else gets attached, and keeps CI from rewriting its own role.
 */

/** What the documents are scoped to. */
export interface DeployScope {
  partition: string;
  accountId: string;
  region: string;
  /** The cluster name: the prefix of every IAM, ECR, S3 and log group name the program creates. */
  clusterName: string;
  /** Bucket of the Pulumi state (s3:// backend), if any. */
  stateBucket?: string;
  /** Whether this stack creates the account's GitHub OIDC provider (githubOidcProvider: create). */
  managesGitHubOidcProvider: boolean;
  /** The Route 53 zone of the stack's domain (config hostedZoneId); unset, the zone is looked up by name and any zone of the account may be changed. */
  hostedZoneId?: string;
  /** Extra managed policies the deploy role may attach to the program's roles (githubActionsPolicyArns). */
  extraPolicyArns?: readonly string[];
}

/** The tag every AWS resource of a stack carries (EksCluster's provider default tags). */
export const CLUSTER_TAG = "gitops-platform:cluster";

/** Name prefix of the GitHub Actions roles and their policies (`<cluster>-github-...`). */
export const githubRolePrefix = (clusterName: string) => `${clusterName}-github-`;

/** S3 bucket-level configuration, as the suffix of its Get and Put actions (no object action). */
const BUCKET_CONFIGURATION = [
  "Bucket*",
  "EncryptionConfiguration",
  "LifecycleConfiguration",
  "ReplicationConfiguration",
  "AnalyticsConfiguration",
  "InventoryConfiguration",
  "MetricsConfiguration",
  "IntelligentTieringConfiguration",
];

type Statement = {
  Sid: string;
  Effect: "Allow" | "Deny";
  Action: string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
};
const document = (statements: Statement[]) =>
  JSON.stringify({ Version: "2012-10-17", Statement: statements });

function arns(s: DeployScope) {
  const iam = `arn:${s.partition}:iam::${s.accountId}`;
  const eks = `arn:${s.partition}:eks:${s.region}:${s.accountId}`;
  return {
    roles: `${iam}:role/${s.clusterName}-*`,
    policies: `${iam}:policy/${s.clusterName}-*`,
    githubRoles: `${iam}:role/${githubRolePrefix(s.clusterName)}*`,
    githubPolicies: `${iam}:policy/${githubRolePrefix(s.clusterName)}*`,
    clusterOidcProviders: `${iam}:oidc-provider/oidc.eks.${s.region}.amazonaws.com/id/*`,
    githubOidcProvider: `${iam}:oidc-provider/token.actions.githubusercontent.com`,
    eks: [
      `${eks}:cluster/${s.clusterName}`,
      `${eks}:nodegroup/${s.clusterName}/*`,
      `${eks}:addon/${s.clusterName}/*`,
      `${eks}:access-entry/${s.clusterName}/*`,
    ],
    accessPolicies: `arn:${s.partition}:eks::aws:cluster-access-policy/*`,
    ecr: `arn:${s.partition}:ecr:${s.region}:${s.accountId}:repository/${s.clusterName}/*`,
    buckets: `arn:${s.partition}:s3:::${s.clusterName}-*`,
    logGroups: `arn:${s.partition}:logs:${s.region}:${s.accountId}:log-group:/aws/eks/${s.clusterName}/*`,
    eksAmiParameters: `arn:${s.partition}:ssm:${s.region}::parameter/aws/service/eks/*`,
    certificates: `arn:${s.partition}:acm:${s.region}:${s.accountId}:certificate/*`,
    hostedZone: `arn:${s.partition}:route53:::hostedzone/${s.hostedZoneId ?? "*"}`,
    webAcls: `arn:${s.partition}:wafv2:${s.region}:${s.accountId}:regional/webacl/${s.clusterName}-*/*`,
  };
}

/** Reads that previews, refreshes and deploys all make; none of them reads data (no S3 objects, no secrets). */
function readStatements(s: DeployScope): Statement[] {
  const a = arns(s);
  return [
    {
      Sid: "DescribeWhatTheStackManages",
      Effect: "Allow",
      Action: [
        "ec2:Describe*",
        "eks:Describe*",
        "eks:List*",
        "iam:Get*",
        "iam:List*",
        "ecr:Describe*",
        "ecr:List*",
        "ecr:GetLifecyclePolicy",
        "ecr:GetRepositoryPolicy",
        "logs:Describe*",
        "logs:ListTagsForResource",
        "sts:GetCallerIdentity",
      ],
      Resource: "*",
    },
    { Sid: "EksAmiParameters", Effect: "Allow", Action: ["ssm:GetParameter"], Resource: a.eksAmiParameters },
    // Bucket configuration only, never the objects (Velero backups hold the cluster's Secrets). The
    // actions are named: a resource wildcard like <cluster>-* also matches <cluster>-bucket/<object>.
    {
      Sid: "ReadBucketConfiguration",
      Effect: "Allow",
      Action: [...BUCKET_CONFIGURATION.map((c) => `s3:Get${c}`), "s3:GetAccelerateConfiguration"],
      Resource: a.buckets,
    },
  ];
}

function stateStatements(s: DeployScope, access: "readWrite" | "readAndLock"): Statement[] {
  if (!s.stateBucket) return [];
  const bucket = `arn:${s.partition}:s3:::${s.stateBucket}`;
  return [
    {
      Sid: "PulumiStateList",
      Effect: "Allow",
      Action: ["s3:ListBucket", "s3:GetBucketLocation"],
      Resource: bucket,
    },
    {
      Sid: "PulumiStateRead",
      Effect: "Allow",
      Action: ["s3:GetObject"],
      Resource: `${bucket}/*`,
    },
    {
      Sid: access === "readWrite" ? "PulumiStateWrite" : "PulumiStateLock",
      Effect: "Allow",
      Action: ["s3:PutObject", "s3:DeleteObject"],
      Resource: access === "readWrite" ? `${bucket}/*` : `${bucket}/.pulumi/locks/*`,
    },
  ];
}

/** The deploy role's policy: create, change and delete what the stack manages, nothing else. */
export function deployPolicyDocument(s: DeployScope): string {
  const a = arns(s);
  const tagged = { StringEquals: { [`aws:ResourceTag/${CLUSTER_TAG}`]: s.clusterName } };
  return document([
    ...readStatements(s),
    {
      Sid: "Ec2CreateTagged",
      Effect: "Allow",
      Action: ["ec2:Create*", "ec2:AllocateAddress"],
      Resource: "*",
      Condition: { StringEquals: { [`aws:RequestTag/${CLUSTER_TAG}`]: s.clusterName } },
    },
    {
      Sid: "Ec2ChangeTagged",
      Effect: "Allow",
      Action: [
        "ec2:CreateTags",
        "ec2:DeleteTags",
        "ec2:Delete*",
        "ec2:Modify*",
        "ec2:Associate*",
        "ec2:Disassociate*",
        "ec2:Attach*",
        "ec2:Detach*",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:AuthorizeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:CreateRoute",
        "ec2:ReplaceRoute",
        "ec2:ReleaseAddress",
        "ec2:CreateLaunchTemplateVersion",
      ],
      Resource: "*",
      Condition: tagged,
    },
    { Sid: "EksCluster", Effect: "Allow", Action: ["eks:*"], Resource: a.eks },
    { Sid: "EksCreate", Effect: "Allow", Action: ["eks:CreateCluster"], Resource: "*" },
    {
      Sid: "EksAccessPolicies",
      Effect: "Allow",
      Action: ["eks:AssociateAccessPolicy", "eks:DisassociateAccessPolicy"],
      Resource: a.accessPolicies,
    },
    {
      Sid: "IamOwnRoles",
      Effect: "Allow",
      Action: [
        "iam:CreateRole",
        "iam:DeleteRole",
        "iam:UpdateRole",
        "iam:UpdateRoleDescription",
        "iam:UpdateAssumeRolePolicy",
        "iam:TagRole",
        "iam:UntagRole",
        "iam:PutRolePolicy",
        "iam:DeleteRolePolicy",
        "iam:DetachRolePolicy",
      ],
      Resource: a.roles,
    },
    {
      Sid: "IamAttachKnownPolicies",
      Effect: "Allow",
      Action: ["iam:AttachRolePolicy"],
      Resource: a.roles,
      Condition: {
        ArnLike: {
          "iam:PolicyARN": [
            `arn:${s.partition}:iam::aws:policy/AmazonEKS*`,
            `arn:${s.partition}:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly`,
            `arn:${s.partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy`,
            a.policies,
            ...(s.extraPolicyArns ?? []),
          ],
        },
      },
    },
    {
      Sid: "IamOwnPolicies",
      Effect: "Allow",
      Action: [
        "iam:CreatePolicy",
        "iam:DeletePolicy",
        "iam:CreatePolicyVersion",
        "iam:DeletePolicyVersion",
        "iam:TagPolicy",
        "iam:UntagPolicy",
      ],
      Resource: a.policies,
    },
    {
      Sid: "IamOidcProviders",
      Effect: "Allow",
      Action: [
        "iam:CreateOpenIDConnectProvider",
        "iam:DeleteOpenIDConnectProvider",
        "iam:UpdateOpenIDConnectProviderThumbprint",
        "iam:AddClientIDToOpenIDConnectProvider",
        "iam:TagOpenIDConnectProvider",
        "iam:UntagOpenIDConnectProvider",
      ],
      Resource: [a.clusterOidcProviders, ...(s.managesGitHubOidcProvider ? [a.githubOidcProvider] : [])],
    },
    {
      Sid: "PassOwnRolesToEksAndEc2",
      Effect: "Allow",
      Action: ["iam:PassRole"],
      Resource: a.roles,
      Condition: { StringEquals: { "iam:PassedToService": ["eks.amazonaws.com", "ec2.amazonaws.com"] } },
    },
    {
      Sid: "ServiceLinkedRoles",
      Effect: "Allow",
      Action: ["iam:CreateServiceLinkedRole"],
      Resource: "*",
      Condition: {
        StringEquals: {
          "iam:AWSServiceName": [
            "eks.amazonaws.com",
            "eks-nodegroup.amazonaws.com",
            "autoscaling.amazonaws.com",
            "elasticloadbalancing.amazonaws.com",
          ],
        },
      },
    },
    { Sid: "EcrOwnRepositories", Effect: "Allow", Action: ["ecr:*"], Resource: a.ecr },
    // `docker login` to the account's registry, for the push (deploy.yml).
    { Sid: "EcrLogin", Effect: "Allow", Action: ["ecr:GetAuthorizationToken"], Resource: "*" },
    {
      Sid: "S3OwnBuckets",
      Effect: "Allow",
      Action: [
        "s3:CreateBucket",
        "s3:DeleteBucket",
        "s3:ListBucket",
        "s3:DeleteBucketPolicy",
        ...BUCKET_CONFIGURATION.map((c) => `s3:Put${c}`),
      ],
      Resource: a.buckets,
    },
    {
      Sid: "ControlPlaneLogs",
      Effect: "Allow",
      Action: [
        "logs:CreateLogGroup",
        "logs:DeleteLogGroup",
        "logs:PutRetentionPolicy",
        "logs:TagResource",
        "logs:UntagResource",
      ],
      Resource: a.logGroups,
    },
    // The EKS front door (components/addons/eks-addons.ts): the domain's certificate, its DNS
    // validation records and the app's WAF. ACM has no resource-level RequestCertificate.
    {
      Sid: "CertificateRequest",
      Effect: "Allow",
      Action: ["acm:RequestCertificate", "acm:AddTagsToCertificate"],
      Resource: "*",
    },
    {
      Sid: "Certificates",
      Effect: "Allow",
      Action: [
        "acm:DescribeCertificate",
        "acm:DeleteCertificate",
        "acm:ListTagsForCertificate",
        "acm:RemoveTagsFromCertificate",
      ],
      Resource: a.certificates,
    },
    {
      Sid: "DnsZone",
      Effect: "Allow",
      Action: [
        "route53:GetHostedZone",
        "route53:ListResourceRecordSets",
        "route53:ChangeResourceRecordSets",
        "route53:ListTagsForResource",
      ],
      Resource: a.hostedZone,
    },
    {
      Sid: "DnsChanges",
      Effect: "Allow",
      Action: ["route53:GetChange", "route53:ListHostedZones"],
      Resource: "*",
    },
    { Sid: "WebAcl", Effect: "Allow", Action: ["wafv2:*"], Resource: a.webAcls },
    {
      Sid: "WafManagedRules",
      Effect: "Allow",
      Action: ["wafv2:Get*", "wafv2:List*", "wafv2:Describe*", "wafv2:CheckCapacity"],
      Resource: "*",
    },
    ...stateStatements(s, "readWrite"),
  ]);
}

/**
 * The deploy role's permissions boundary: the ceiling of everything attached to it. The same services
 * as the deploy policy, and explicit denials that hold whatever else is attached: CI may not change the
 * GitHub roles, their policies or this boundary (an admin's local `up` does), nor remove boundaries.
 */
export function deployBoundaryDocument(s: DeployScope): string {
  const a = arns(s);
  return document([
    {
      Sid: "Ceiling",
      Effect: "Allow",
      Action: [
        "ec2:*",
        "eks:*",
        "ecr:*",
        "logs:*",
        "s3:*",
        "acm:*",
        "route53:*",
        "wafv2:*",
        "ssm:GetParameter",
        "sts:GetCallerIdentity",
        "iam:Get*",
        "iam:List*",
        "iam:*Role",
        "iam:*RolePolicy",
        "iam:TagRole",
        "iam:UntagRole",
        "iam:UpdateRoleDescription",
        "iam:UpdateAssumeRolePolicy",
        "iam:PassRole",
        "iam:*Policy",
        "iam:*PolicyVersion",
        "iam:TagPolicy",
        "iam:UntagPolicy",
        "iam:*OpenIDConnectProvider*",
        "iam:CreateServiceLinkedRole",
      ],
      Resource: "*",
    },
    {
      Sid: "NoSelfChange",
      Effect: "Deny",
      Action: [
        "iam:Create*",
        "iam:Delete*",
        "iam:Update*",
        "iam:Put*",
        "iam:Attach*",
        "iam:Detach*",
        "iam:Tag*",
        "iam:Untag*",
        "iam:SetDefaultPolicyVersion",
      ],
      Resource: [a.githubRoles, a.githubPolicies],
    },
    {
      Sid: "NoBoundaryRemoval",
      Effect: "Deny",
      Action: ["iam:DeleteRolePermissionsBoundary", "iam:PutRolePermissionsBoundary"],
      Resource: "*",
    },
  ]);
}

/** The preview role's policy: the reads of a preview, plus the state bucket's lock. */
export function previewPolicyDocument(s: DeployScope): string {
  return document([...readStatements(s), ...stateStatements(s, "readAndLock")]);
}

import * as pulumi from "@pulumi/pulumi";

/** Further claim conditions of a web-identity trust, by operator (e.g. GitHub's `job_workflow_ref`). */
export type ClaimConditions = { StringEquals?: Record<string, string>; StringLike?: Record<string, string> };

/**
 * A trust policy for `sts:AssumeRoleWithWebIdentity` through an OIDC provider, admitting exactly one
 * subject (`sub`) for the STS audience, plus any further claim conditions. Shared by IRSA roles and the
 * GitHub Actions roles.
 */
export function webIdentityTrustPolicy(
  providerArn: string,
  issuerHost: string,
  subject: string,
  claims: ClaimConditions = {},
): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Federated: providerArn },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: {
          StringEquals: {
            [`${issuerHost}:aud`]: "sts.amazonaws.com",
            [`${issuerHost}:sub`]: subject,
            ...claims.StringEquals,
          },
          ...(claims.StringLike ? { StringLike: claims.StringLike } : {}),
        },
      },
    ],
  });
}

/**
 * Trust policy of an IAM role for a Kubernetes service account (IRSA): only the named service account of
 * the named namespace, through the cluster's OIDC provider, may assume the role.
 */
export function irsaTrustPolicy(
  oidcProviderArn: pulumi.Input<string>,
  oidcProviderUrl: pulumi.Input<string>,
  namespace: string,
  serviceAccount: string,
): pulumi.Output<string> {
  return pulumi
    .all([oidcProviderArn, oidcProviderUrl])
    .apply(([arn, url]) =>
      webIdentityTrustPolicy(
        arn,
        url.replace(/^https:\/\//, ""),
        `system:serviceaccount:${namespace}:${serviceAccount}`,
      ),
    );
}

/** The cluster's IAM OIDC provider, as IRSA roles need it. */
export interface OidcProvider {
  arn: pulumi.Input<string>;
  url: pulumi.Input<string>;
}

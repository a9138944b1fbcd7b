import * as pulumi from "@pulumi/pulumi";

/**
 * A trust policy for `sts:AssumeRoleWithWebIdentity` through an OIDC provider, admitting exactly one
 * subject (`sub`) for the STS audience. Shared by IRSA roles and the GitHub Actions role.
 */
export function webIdentityTrustPolicy(providerArn: string, issuerHost: string, subject: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Federated: providerArn },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: {
          StringEquals: { [`${issuerHost}:aud`]: "sts.amazonaws.com", [`${issuerHost}:sub`]: subject },
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

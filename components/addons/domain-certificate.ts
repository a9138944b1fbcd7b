// Loaded only by EKS stacks (imported by components/addons/eks-addons.ts): the dev stack never loads @pulumi/aws.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/** Arguments of {@link DomainCertificate}. */
export interface DomainCertificateArgs {
  /** The stack's domain (config `domain`); the certificate covers it and `*.<domain>`. */
  domain: string;
  /** Its public Route 53 hosted zone; looked up by the domain's name when unset. */
  hostedZoneId?: string;
  /** The stack's explicit AWS provider. */
  awsProvider: aws.Provider;
}

/**
 * The stack's public name: its Route 53 zone (given or looked up by name) and an ACM certificate for
 * `<domain>` and `*.<domain>`, validated by DNS through a record Pulumi writes into that zone and waited
 * for, so nothing uses the certificate before it is issued. ACM renews it as long as the record stays.
 */
export class DomainCertificate extends pulumi.ComponentResource {
  public readonly zoneId: pulumi.Output<string>;
  /** ARN of the issued certificate (resolves once validation has completed). */
  public readonly certificateArn: pulumi.Output<string>;

  constructor(name: string, args: DomainCertificateArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:addons:DomainCertificate", name, {}, opts);
    const awsOpts = { parent: this, provider: args.awsProvider };

    this.zoneId = args.hostedZoneId
      ? pulumi.output(args.hostedZoneId)
      : aws.route53.getZoneOutput({ name: args.domain, privateZone: false }, awsOpts).zoneId;

    const certificate = new aws.acm.Certificate(
      `${name}-certificate`,
      {
        domainName: args.domain,
        subjectAlternativeNames: [`*.${args.domain}`],
        validationMethod: "DNS",
        keyAlgorithm: "RSA_2048",
        tags: { Name: args.domain },
      },
      awsOpts,
    );
    // ACM asks for the same CNAME for a name and its wildcard, so one record validates both.
    const option = certificate.domainValidationOptions.apply((options) => {
      const forDomain = options.find((o) => o.domainName === args.domain) ?? options[0];
      if (!forDomain) throw new Error(`ACM returned no DNS validation option for ${args.domain}`);
      return forDomain;
    });
    const record = new aws.route53.Record(
      `${name}-validation`,
      {
        zoneId: this.zoneId,
        name: option.resourceRecordName,
        type: option.resourceRecordType,
        records: [option.resourceRecordValue],
        ttl: 300,
        allowOverwrite: true,
      },
      awsOpts,
    );
    const validation = new aws.acm.CertificateValidation(
      `${name}-validation`,
      { certificateArn: certificate.arn, validationRecordFqdns: [record.fqdn] },
      awsOpts,
    );

    this.certificateArn = validation.certificateArn;
    this.registerOutputs({ zoneId: this.zoneId, certificateArn: this.certificateArn });
  }
}

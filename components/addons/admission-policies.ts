import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { celString, IMAGE_RULES, POD_RULES, POD_VARIABLES, podRuleExpression } from "../../policy/pod-rules";
import { APP_NAMESPACE_LABEL } from "../../policy/rules";

/** Names of the two ValidatingAdmissionPolicies (and of their bindings). */
export const POD_SECURITY_POLICY = "gitops-platform-pod-security";
export const IMAGE_SOURCE_POLICY = "gitops-platform-image-source";

/** Everything that carries a pod spec: pods and the workloads that template them. */
const POD_CARRIERS = [
  { apiGroups: [""], apiVersions: ["v1"], resources: ["pods"] },
  {
    apiGroups: ["apps"],
    apiVersions: ["v1"],
    resources: ["deployments", "replicasets", "statefulsets", "daemonsets"],
  },
  { apiGroups: ["batch"], apiVersions: ["v1"], resources: ["jobs", "cronjobs"] },
  // The app's workload in staging and prod (Argo Rollouts); its ReplicaSets and Pods are matched above.
  { apiGroups: ["argoproj.io"], apiVersions: ["v1alpha1"], resources: ["rollouts"] },
].map((rule) => ({ ...rule, operations: ["CREATE", "UPDATE"] }));

/** One validation of a ValidatingAdmissionPolicy. */
export interface Validation {
  expression: string;
  message: string;
  reason: "Forbidden";
}

/** The spec of a ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1) as this component writes it. */
export interface AdmissionPolicySpec {
  failurePolicy: "Fail";
  matchConstraints: { resourceRules: typeof POD_CARRIERS };
  variables: Array<{ name: string; expression: string }>;
  validations: Validation[];
}

/** The pod-security policy: one validation per rule of policy/pod-rules.ts. */
export function podSecurityPolicySpec(): AdmissionPolicySpec {
  return {
    failurePolicy: "Fail",
    matchConstraints: { resourceRules: POD_CARRIERS },
    variables: [...POD_VARIABLES],
    validations: POD_RULES.map((rule) => ({
      expression: podRuleExpression(rule),
      message:
        rule.scope === "pod" ? rule.message : `every container: ${rule.message} (gitops-platform pod rules)`,
      reason: "Forbidden",
    })),
  };
}

/** The image-source policy: every container image from `registryPrefix`, by digest. */
export function imageSourcePolicySpec(registryPrefix: string): AdmissionPolicySpec {
  if (!/^[a-z0-9.-]+(:\d+)?\/([a-z0-9._-]+\/)*$/.test(registryPrefix)) {
    throw new Error(
      `registryPrefix must be a registry host with an optional path ending in "/", e.g. ghcr.io/org/ (got ${JSON.stringify(registryPrefix)})`,
    );
  }
  return {
    failurePolicy: "Fail",
    matchConstraints: { resourceRules: POD_CARRIERS },
    variables: [...POD_VARIABLES],
    validations: IMAGE_RULES.map((rule) => ({
      expression: `variables.containers.all(c, ${rule.cel(celString(registryPrefix))})`,
      message: rule.message(registryPrefix),
      reason: "Forbidden",
    })),
  };
}

/** The registry prefix of an image repository: everything up to its last path segment, e.g. `ghcr.io/org/`. */
export function registryPrefixOf(repository: string): string {
  const slash = repository.lastIndexOf("/");
  if (slash <= 0) throw new Error(`image repository has no registry part: ${JSON.stringify(repository)}`);
  return repository.slice(0, slash + 1);
}

/** Arguments of {@link AdmissionPolicies}. */
export interface AdmissionPoliciesArgs {
  /** Repository of the stack's app image (`ghcr.io/org/demo-app`); images must come from its registry path. */
  imageRepository: pulumi.Input<string>;
  /** The stack's Kubernetes provider. */
  provider: k8s.Provider;
  /** Resources the policies wait for (the cluster). Default: none. */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/**
 * The cluster refuses what the platform would not build: ValidatingAdmissionPolicies (CEL, in-tree, no
 * webhook to keep alive) with the pod rules of policy/pod-rules.ts and the image source (the stack's
 * registry, by digest), bound with `Deny` to every namespace labelled as an app namespace.
 */
export class AdmissionPolicies extends pulumi.ComponentResource {
  /** Names of the policies. */
  public readonly policyNames: string[] = [POD_SECURITY_POLICY, IMAGE_SOURCE_POLICY];

  constructor(name: string, args: AdmissionPoliciesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("gitops-platform:addons:AdmissionPolicies", name, {}, opts);
    const k8sOpts = { parent: this, provider: args.provider, dependsOn: args.dependsOn };
    const specs: Record<string, pulumi.Input<AdmissionPolicySpec>> = {
      [POD_SECURITY_POLICY]: podSecurityPolicySpec(),
      [IMAGE_SOURCE_POLICY]: pulumi
        .output(args.imageRepository)
        .apply((repository) => imageSourcePolicySpec(registryPrefixOf(repository))),
    };
    for (const [policyName, spec] of Object.entries(specs)) {
      const policy = new k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
        `${name}-${policyName}`,
        { metadata: { name: policyName }, spec },
        k8sOpts,
      );
      new k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
        `${name}-${policyName}-binding`,
        {
          metadata: { name: policyName },
          spec: {
            policyName: policy.metadata.name,
            validationActions: ["Deny"],
            matchResources: { namespaceSelector: { matchLabels: { [APP_NAMESPACE_LABEL]: "true" } } },
          },
        },
        { ...k8sOpts, dependsOn: [policy] },
      );
    }
    this.registerOutputs({ policyNames: this.policyNames });
  }
}

import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";

/**
 * The one Kubernetes provider of a stack, built from the cluster's kubeconfig and passed explicitly to
 * every Kubernetes resource, so nothing ever falls back to the ambient ~/.kube/config.
 */
export function createKubernetesProvider(
  name: string,
  kubeconfig: pulumi.Input<string>,
  parent: pulumi.Resource,
): k8s.Provider {
  return new k8s.Provider(
    `${name}-k8s`,
    {
      kubeconfig,
      // Server-side apply lets Argo CD and Pulumi share objects without fighting over field ownership.
      enableServerSideApply: true,
      // A deleted cluster should not strand its Kubernetes resources in the state forever.
      deleteUnreachable: true,
    },
    { parent },
  );
}

/** What index.ts needs from either cluster kind. */
export interface PlatformCluster {
  /** Cluster name. */
  readonly clusterName: pulumi.Output<string>;
  /** Kubeconfig of the cluster admin; always a secret output. */
  readonly kubeconfig: pulumi.Output<string>;
  /** The stack's Kubernetes provider (see createKubernetesProvider). */
  readonly provider: k8s.Provider;
}

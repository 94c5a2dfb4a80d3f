/**
 * Validating rendered Kubernetes objects: the Cilium kinds of the current release with
 * @kubernetes-models/cilium (generated from Cilium's Go types), and, where no published model
 * exists, schemas of ours written from the CRDs: K3s' HelmChart (helm.cattle.io/v1, from
 * helm-controller) and the kinds Cilium removed (CiliumBGPPeeringPolicy, `spec.cidrs`).
 */
import * as v2 from "@kubernetes-models/cilium/cilium.io/v2";
import * as v2alpha1 from "@kubernetes-models/cilium/cilium.io/v2alpha1";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { Ingress } from "kubernetes-models/networking.k8s.io/v1/Ingress";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Service } from "kubernetes-models/v1/Service";
import { z } from "zod";

const Name = z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/).max(253);
const Labels = z.record(z.string().regex(/^([a-z0-9.-]+\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/), z.string().max(63));
const Metadata = z.strictObject({ name: Name, namespace: Name.optional(), labels: Labels.optional() });
const Selector = z.strictObject({ matchLabels: Labels.optional(), matchExpressions: z.array(z.strictObject({ key: z.string(), operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"]), values: z.array(z.string()).optional() })).optional() });

/** helm.cattle.io/v1 HelmChart, spec fields as in helm-controller (shared/reference, section C). */
export const HelmChartSchema = z.strictObject({
  apiVersion: z.literal("helm.cattle.io/v1"),
  kind: z.literal("HelmChart"),
  metadata: Metadata.extend({ namespace: Name }),
  spec: z
    .strictObject({
      chart: z.string().min(1),
      repo: z.url().optional(),
      version: z.string().optional(),
      chartContent: z.string().optional(),
      targetNamespace: Name.optional(),
      createNamespace: z.boolean().optional(),
      bootstrap: z.boolean().optional(),
      valuesContent: z.string().optional(),
      set: z.record(z.string(), z.union([z.string(), z.int()])).optional(),
      timeout: z.string().optional(),
      failurePolicy: z.enum(["abort", "reinstall", "retry"]).optional(),
    })
    .refine((s) => s.repo === undefined || !s.chart.startsWith("https://"), "chart is a URL: repo must not be set"),
});

const Neighbor = z.strictObject({
  peerAddress: z.string().regex(/^\d+\.\d+\.\d+\.\d+\/32$/, "the legacy policy takes a /32 CIDR"),
  peerASN: z.int().min(0).max(4294967295),
  peerPort: z.int().min(1).max(65535).optional(),
  eBGPMultihopTTL: z.int().min(1).max(255).optional(),
  connectRetryTimeSeconds: z.int().min(1).max(2147483647).optional(),
  holdTimeSeconds: z.int().min(3).max(65535).optional(),
  keepAliveTimeSeconds: z.int().min(1).max(65535).optional(),
  gracefulRestart: z.strictObject({ enabled: z.boolean(), restartTimeSeconds: z.int().min(1).max(4095).optional() }).optional(),
});

/** cilium.io/v2alpha1 CiliumBGPPeeringPolicy (Cilium ≤ 1.18's CRD). */
export const PeeringPolicySchema = z.strictObject({
  apiVersion: z.literal("cilium.io/v2alpha1"),
  kind: z.literal("CiliumBGPPeeringPolicy"),
  metadata: Metadata,
  spec: z.strictObject({
    nodeSelector: Selector.optional(),
    virtualRouters: z
      .array(
        z.strictObject({
          localASN: z.int().min(0).max(4294967295),
          exportPodCIDR: z.boolean().optional(),
          serviceSelector: Selector.optional(),
          podIPPoolSelector: Selector.optional(),
          neighbors: z.array(Neighbor).min(1),
        }),
      )
      .min(1),
  }),
});

/** cilium.io/v2alpha1 CiliumLoadBalancerIPPool as Cilium ≤ 1.15 accepts it (spec.cidrs). */
export const LegacyPoolSchema = z.strictObject({
  apiVersion: z.literal("cilium.io/v2alpha1"),
  kind: z.literal("CiliumLoadBalancerIPPool"),
  metadata: Metadata,
  spec: z.strictObject({ cidrs: z.array(z.strictObject({ cidr: z.cidrv4() })).min(1) }),
});

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: never) => Validatable;

const MODELS: Readonly<Record<string, Readonly<Record<string, ModelClass>>>> = {
  v1: { Namespace, ConfigMap, Service },
  "apps/v1": { Deployment, StatefulSet },
  "networking.k8s.io/v1": { NetworkPolicy, Ingress },
  "cilium.io/v2": {
    CiliumBGPClusterConfig: v2.CiliumBGPClusterConfig,
    CiliumBGPPeerConfig: v2.CiliumBGPPeerConfig,
    CiliumBGPAdvertisement: v2.CiliumBGPAdvertisement,
    CiliumLoadBalancerIPPool: v2.CiliumLoadBalancerIPPool,
  },
  "cilium.io/v2alpha1": {
    CiliumBGPClusterConfig: v2alpha1.CiliumBGPClusterConfig,
    CiliumBGPPeerConfig: v2alpha1.CiliumBGPPeerConfig,
    CiliumBGPAdvertisement: v2alpha1.CiliumBGPAdvertisement,
    CiliumLoadBalancerIPPool: v2alpha1.CiliumLoadBalancerIPPool,
  },
};

/** Throws when the object is not valid for its kind; says which validator judged it. */
export function validateObject(object: Record<string, unknown>): "model" | "schema" {
  const apiVersion = String(object["apiVersion"]);
  const kind = String(object["kind"]);
  if (apiVersion === "helm.cattle.io/v1" && kind === "HelmChart") {
    HelmChartSchema.parse(object);
    return "schema";
  }
  if (kind === "CiliumBGPPeeringPolicy") {
    PeeringPolicySchema.parse(object);
    return "schema";
  }
  const spec = object["spec"];
  if (kind === "CiliumLoadBalancerIPPool" && spec !== null && typeof spec === "object" && "cidrs" in spec) {
    LegacyPoolSchema.parse(object);
    return "schema";
  }
  const Model = MODELS[apiVersion]?.[kind];
  if (Model === undefined) throw new Error(`no validator for ${apiVersion} ${kind}`);
  new Model(object as never).validate();
  return "model";
}

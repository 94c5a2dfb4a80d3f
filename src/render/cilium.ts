/**
 * Cilium for the cluster: the K3s HelmChart that installs it (`cilium/helmchart.yaml`) and the
 * BGP and LB-IPAM objects that need its CRDs (`cilium/bgp.yaml`). Pure.
 *
 * The chart's values come from a typed object whose every path and type is checked against the
 * chart's values schema (shared/reference, section B) before it is written. BGP objects follow
 * the release the inventory pins: the BGPv2 kinds (cilium.io/v2 from 1.18, v2alpha1 on 1.16 and
 * 1.17) or the legacy CiliumBGPPeeringPolicy (cilium.io/v2alpha1, up to 1.18).
 */
import { stringify } from "yaml";
import { RenderError } from "../errors.js";
import { ciliumApiVersion } from "../inventory/versions.js";
import type { BgpGroup, Lab } from "../model/lab.js";
import type { Artifact } from "./artifact.js";
import { BGP_GROUP_LABEL } from "./k3s.js";

/** Services with this label have their LoadBalancer address advertised over BGP. */
export const ADVERTISE_LABEL = { key: "edgelab.dev/advertise", value: "bgp" } as const;
/** The advertisement's own label, which the peer configs' families select. */
const ADVERTISEMENT_LABEL = { key: "edgelab.dev/advertisement", value: "lb-ips" } as const;
export const CILIUM_NAMESPACE = "kube-system";
/** Where the Ansible stage puts the HelmChart on the first server, before K3s starts. */
export const CILIUM_MANIFEST_PATH = "/var/lib/rancher/k3s/server/manifests/edgelab-cilium.yaml";
/** Where K3s serves packaged charts from (https://%{KUBERNETES_API}%/static/charts/...). */
export const K3S_STATIC_CHARTS_DIR = "/var/lib/rancher/k3s/server/static/charts";
/** The local API load balancer every K3s node runs (agents and servers alike). */
const LOCAL_API = { host: "127.0.0.1", port: 6444 } as const;

/* ------------------------------------------------------------------ Helm values */

/** The Helm values edgelab sets (the chart's defaults stand for everything else). */
export interface CiliumValues {
  readonly kubeProxyReplacement: boolean;
  readonly k8sServiceHost: string;
  readonly k8sServicePort: number;
  readonly routingMode: "tunnel";
  readonly tunnelProtocol: "vxlan";
  readonly ipam: { readonly mode: "kubernetes" };
  readonly k8s: { readonly requireIPv4PodCIDR: boolean };
  readonly bgpControlPlane: { readonly enabled: boolean };
  readonly ingressController: {
    readonly enabled: boolean;
    readonly default: boolean;
    readonly loadbalancerMode: "shared" | "dedicated";
    readonly service: { readonly labels: Readonly<Record<string, string>> };
  };
  readonly operator: { readonly replicas: number };
}

type JsonType = "string" | "boolean" | "integer" | "number" | "array" | "object" | "null";

/**
 * Value paths of the Cilium chart's values.schema.json and the types it accepts (a few with the
 * values the chart documents). Every path edgelab writes must be here.
 */
export const CILIUM_VALUE_SCHEMA: ReadonlyMap<string, { readonly types: readonly JsonType[]; readonly values?: readonly unknown[] }> = new Map<string, { types: JsonType[]; values?: unknown[] }>([
  ["kubeProxyReplacement", { types: ["string", "boolean"], values: [true, false, "true", "false"] }],
  ["k8sServiceHost", { types: ["string"] }],
  ["k8sServicePort", { types: ["string", "integer"] }],
  ["routingMode", { types: ["string"], values: ["", "native", "tunnel"] }],
  ["tunnelProtocol", { types: ["string"], values: ["", "vxlan", "geneve"] }],
  ["ipam.mode", { types: ["string"] }],
  ["ipam.operator.clusterPoolIPv4PodCIDRList", { types: ["array", "string"] }],
  ["bgpControlPlane.enabled", { types: ["boolean"] }],
  ["ingressController.enabled", { types: ["boolean"] }],
  ["ingressController.loadbalancerMode", { types: ["string"], values: ["shared", "dedicated"] }],
  ["ingressController.default", { types: ["boolean"] }],
  ["ingressController.service.labels", { types: ["object"] }],
  ["l2announcements.enabled", { types: ["boolean"] }],
  ["operator.replicas", { types: ["integer"] }],
  ["hubble.enabled", { types: ["boolean"] }],
  ["hubble.relay.enabled", { types: ["boolean"] }],
  ["k8s.requireIPv4PodCIDR", { types: ["boolean"] }],
  ["autoDirectNodeRoutes", { types: ["boolean", "string"] }],
  ["bpf.masquerade", { types: ["null", "boolean"] }],
  ["ipv4NativeRoutingCIDR", { types: ["string"] }],
  ["gatewayAPI.enabled", { types: ["boolean"] }],
]);

function jsonType(value: unknown): JsonType {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  if (typeof value === "object") return "object";
  return typeof value === "boolean" ? "boolean" : "string";
}

/** Every path and type of `values` against the chart's schema; throws RenderError on the first misfit. */
export function checkCiliumValues(file: string, values: unknown, prefix = ""): void {
  if (values === null || typeof values !== "object" || Array.isArray(values)) throw new RenderError(file, "Cilium values must be a mapping");
  for (const [key, value] of Object.entries(values)) {
    const path = prefix === "" ? key : `${prefix}.${key}`;
    const spec = CILIUM_VALUE_SCHEMA.get(path);
    if (spec === undefined && jsonType(value) === "object" && [...CILIUM_VALUE_SCHEMA.keys()].some((k) => k.startsWith(`${path}.`))) {
      checkCiliumValues(file, value, path);
      continue;
    }
    if (spec === undefined) throw new RenderError(file, `'${path}' is not a value of the Cilium chart`, "Only value paths from the chart's values.schema.json are written (see CILIUM_VALUE_SCHEMA).");
    const type = jsonType(value);
    const accepted = spec.types.includes(type) || (type === "integer" && spec.types.includes("number"));
    if (!accepted) throw new RenderError(file, `Cilium value '${path}' takes ${spec.types.join(" or ")}, not ${type}`);
    if (spec.values !== undefined && !spec.values.includes(value)) throw new RenderError(file, `Cilium value '${path}' cannot be ${JSON.stringify(value)}`, `Accepted: ${spec.values.map((v) => JSON.stringify(v)).join(", ")}.`);
  }
}

export function ciliumValues(lab: Lab): CiliumValues {
  return {
    // kube-proxy replacement, through each node's local API load balancer (no Service VIP yet).
    kubeProxyReplacement: true,
    k8sServiceHost: LOCAL_API.host,
    k8sServicePort: LOCAL_API.port,
    // Nodes sit in different subnets: a VXLAN overlay needs only IP reachability between them.
    routingMode: "tunnel",
    tunnelProtocol: "vxlan",
    // Pod addresses from K3s' per-node PodCIDRs (k3s.cluster_cidr, checked against the lab's networks).
    ipam: { mode: "kubernetes" },
    k8s: { requireIPv4PodCIDR: true },
    bgpControlPlane: { enabled: true },
    ingressController: { enabled: true, default: true, loadbalancerMode: "shared", service: { labels: { [ADVERTISE_LABEL.key]: ADVERTISE_LABEL.value } } },
    operator: { replicas: Math.max(1, Math.min(2, lab.servers.length)) },
  };
}

/* ------------------------------------------------------------------ HelmChart */

export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels: Readonly<Record<string, string>> };
  readonly spec: Readonly<Record<string, unknown>>;
}

function labels(lab: Lab, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  return { "app.kubernetes.io/managed-by": "edgelab", "edgelab.dev/lab": lab.name, ...extra };
}

/** The chart archive's name when the air-gap source provides it (K3s serves it itself). */
function chartFile(lab: Lab): string | undefined {
  const chart = lab.airgap?.ciliumChart;
  return chart === undefined ? undefined : (chart.split("/").pop() ?? chart);
}

export function ciliumHelmChart(lab: Lab): KubeObject {
  const values = ciliumValues(lab);
  checkCiliumValues("cilium/helmchart.yaml", values);
  const archive = chartFile(lab);
  const source = archive === undefined ? { repo: lab.cilium.chartRepo, chart: "cilium", version: lab.cilium.version } : { chart: `https://%{KUBERNETES_API}%/static/charts/${archive}` };
  return {
    apiVersion: "helm.cattle.io/v1",
    kind: "HelmChart",
    metadata: { name: "cilium", namespace: CILIUM_NAMESPACE, labels: labels(lab) },
    spec: {
      ...source,
      targetNamespace: CILIUM_NAMESPACE,
      // The install job runs on the host network of a server: it works before any CNI exists.
      bootstrap: true,
      valuesContent: stringify(values, { lineWidth: 0 }),
    },
  };
}

/* ------------------------------------------------------------------ BGP and LB-IPAM */

function objectName(label: string): string {
  return `edgelab-${label}`;
}

function bgpv2Objects(lab: Lab, groups: readonly BgpGroup[], localAsn: number): KubeObject[] {
  const apiVersion = ciliumApiVersion(lab.cilium.version);
  const out: KubeObject[] = [];
  for (const group of groups) {
    out.push({
      apiVersion,
      kind: "CiliumBGPClusterConfig",
      metadata: { name: objectName(group.label), labels: labels(lab) },
      spec: {
        // One config per node group; the selectors are disjoint (a node has one bgp-group).
        nodeSelector: { matchLabels: { [BGP_GROUP_LABEL]: group.label } },
        bgpInstances: [
          {
            name: `asn-${localAsn}`,
            localASN: localAsn,
            peers: group.peers.map((p) => ({ name: p.name, peerASN: p.asn, peerAddress: p.address, peerConfigRef: { name: objectName(group.label) } })),
          },
        ],
      },
    });
  }
  for (const group of groups) {
    const s = group.session;
    out.push({
      apiVersion,
      kind: "CiliumBGPPeerConfig",
      metadata: { name: objectName(group.label), labels: labels(lab) },
      spec: {
        ebgpMultihop: s.ebgpMultihop,
        timers: { connectRetryTimeSeconds: s.connectRetry, holdTimeSeconds: s.holdTime, keepAliveTimeSeconds: s.keepaliveTime },
        gracefulRestart: { enabled: s.gracefulRestart.enabled, restartTimeSeconds: s.gracefulRestart.restartTime },
        families: [{ afi: "ipv4", safi: "unicast", advertisements: { matchLabels: { [ADVERTISEMENT_LABEL.key]: ADVERTISEMENT_LABEL.value } } }],
      },
    });
  }
  out.push({
    apiVersion,
    kind: "CiliumBGPAdvertisement",
    metadata: { name: "edgelab-lb-ips", labels: labels(lab, { [ADVERTISEMENT_LABEL.key]: ADVERTISEMENT_LABEL.value }) },
    spec: {
      advertisements: [{ advertisementType: "Service", service: { addresses: ["LoadBalancerIP"] }, selector: { matchLabels: { [ADVERTISE_LABEL.key]: ADVERTISE_LABEL.value } } }],
    },
  });
  return out;
}

function peeringPolicies(lab: Lab, groups: readonly BgpGroup[], localAsn: number): KubeObject[] {
  return groups.map((group) => {
    const s = group.session;
    return {
      apiVersion: "cilium.io/v2alpha1",
      kind: "CiliumBGPPeeringPolicy",
      metadata: { name: objectName(group.label), labels: labels(lab) },
      spec: {
        // Only one policy may match a node: the selectors are disjoint (a node has one bgp-group).
        nodeSelector: { matchLabels: { [BGP_GROUP_LABEL]: group.label } },
        virtualRouters: [
          {
            localASN: localAsn,
            exportPodCIDR: false,
            serviceSelector: { matchLabels: { [ADVERTISE_LABEL.key]: ADVERTISE_LABEL.value } },
            neighbors: group.peers.map((p) => ({
              peerAddress: `${p.address}/32`,
              peerASN: p.asn,
              eBGPMultihopTTL: s.ebgpMultihop,
              connectRetryTimeSeconds: s.connectRetry,
              holdTimeSeconds: s.holdTime,
              keepAliveTimeSeconds: s.keepaliveTime,
              gracefulRestart: { enabled: s.gracefulRestart.enabled, restartTimeSeconds: s.gracefulRestart.restartTime },
            })),
          },
        ],
      },
    };
  });
}

function lbPool(lab: Lab): KubeObject | undefined {
  if (lab.cilium.lbPool.length === 0) return undefined;
  const blocks = lab.cilium.lbPool.map((cidr) => ({ cidr }));
  return {
    apiVersion: ciliumApiVersion(lab.cilium.version),
    kind: "CiliumLoadBalancerIPPool",
    metadata: { name: "edgelab-lb-pool", labels: labels(lab) },
    spec: lab.cilium.lbPoolField === "blocks" ? { blocks } : { cidrs: blocks },
  };
}

/** Every object that needs Cilium's CRDs, in apply order. */
export function ciliumNetworkObjects(lab: Lab): KubeObject[] {
  const out: KubeObject[] = [];
  const bgp = lab.cilium.bgp;
  if (bgp !== undefined) out.push(...(bgp.api === "bgpv2" ? bgpv2Objects(lab, bgp.groups, bgp.localAsn) : peeringPolicies(lab, bgp.groups, bgp.localAsn)));
  const pool = lbPool(lab);
  if (pool !== undefined) out.push(pool);
  return out;
}

function yamlDocuments(objects: readonly KubeObject[]): string {
  return objects.map((o) => `---\n${stringify(o, { lineWidth: 0 })}`).join("");
}

export function renderCilium(lab: Lab): Artifact[] {
  const chart = ciliumHelmChart(lab);
  const chartHeader = [
    `# Cilium ${lab.cilium.version} for lab ${lab.name}: a K3s HelmChart. Rendered by edgelab: do not edit.`,
    `# Copied to ${CILIUM_MANIFEST_PATH} on the first server before K3s starts;`,
    "# bootstrap: true lets its install job run before any CNI exists.",
    "",
  ].join("\n");
  const objects = ciliumNetworkObjects(lab);
  const bgp = lab.cilium.bgp;
  const bgpHeader = [
    `# BGP and LB-IPAM for lab ${lab.name} (Cilium ${lab.cilium.version}, ${bgp === undefined ? "no BGP" : bgp.api === "bgpv2" ? `BGPv2, ${ciliumApiVersion(lab.cilium.version)}` : "legacy CiliumBGPPeeringPolicy"}). Rendered by edgelab: do not edit.`,
    "# Applied once Cilium's CRDs exist. Services labelled",
    `# ${ADVERTISE_LABEL.key}: ${ADVERTISE_LABEL.value} have their LoadBalancer address advertised to the routers.`,
    "",
  ].join("\n");
  return [
    { path: "cilium/helmchart.yaml", content: chartHeader + yamlDocuments([chart]), mode: 0o644, family: "cilium" },
    { path: "cilium/bgp.yaml", content: bgpHeader + (objects.length > 0 ? yamlDocuments(objects) : "# (nothing: the inventory sets neither cilium.bgp nor cilium.lb_pool)\n"), mode: 0o644, family: "cilium" },
  ];
}

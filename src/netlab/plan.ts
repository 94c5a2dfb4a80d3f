/**
 * The network lab's topology, derived from the Lab model: which namespaces, links, addresses,
 * routers and BGP speakers `edgelab netlab up` makes. Pure and deterministic.
 *
 * Addresses are never the inventory's own: every inventory subnet (in order), then every LB pool
 * block, then the /24 of any peer address outside them, gets its own /24 in 198.18.0.0/16
 * (198.18.<n>.0/24), host offsets kept. The links edgelab adds (router to router, router to
 * client) take addresses from 198.19.0.0/16, which no inventory subnet maps to.
 */
import { createHash } from "node:crypto";
import type { Lab } from "../model/lab.js";
import { peerRouters, type PeerRouter } from "../render/frr.js";
import { EdgelabError, EXIT_USAGE } from "../errors.js";
import { cidrContains, formatIpv4, parseCidr, parseIpv4, type Cidr } from "../util/ipv4.js";

export const MAPPED_BASE = parseIpv4("198.18.0.0") ?? 0;
export const INFRA_BASE = parseIpv4("198.19.0.0") ?? 0;
/** 198.18.0.0/16 holds one /24 per mapped block. */
const MAX_MAPPED = 256;

export class NetlabPlanError extends EdgelabError {
  override readonly name = "NetlabPlanError";
  constructor(message: string, hint?: string) {
    super(message, { hint, exitCode: EXIT_USAGE });
  }
}

/** One inventory block and the /24 it becomes. */
export interface MappedBlock {
  /** The inventory's block, e.g. 172.16.222.0/24. */
  readonly from: string;
  /** e.g. 198.18.1.0/24 */
  readonly to: string;
  /** What it is: "vlan 222 (region-west)", "LB pool", "peer address". */
  readonly what: string;
}

export interface AddressMap {
  readonly blocks: readonly MappedBlock[];
}

interface ParsedBlock {
  readonly from: Cidr;
  readonly to: number;
  readonly toPrefix: number;
}

function parsedBlocks(map: AddressMap): ParsedBlock[] {
  return map.blocks.map((b) => {
    const from = parseCidr(b.from);
    const to = parseCidr(b.to);
    if (!from.ok || !to.ok) throw new Error(`bad mapped block ${b.from} → ${b.to}`);
    return { from: from.cidr, to: to.cidr.network, toPrefix: to.cidr.prefix };
  });
}

/** The mapped address of an inventory address; undefined when no block holds it. */
export function mapAddress(map: AddressMap, address: string): string | undefined {
  const value = parseIpv4(address);
  if (value === undefined) return undefined;
  for (const block of parsedBlocks(map)) {
    if (cidrContains(block.from, value)) return formatIpv4((block.to + (value - block.from.network)) >>> 0);
  }
  return undefined;
}

/**
 * Every IPv4 address and CIDR in `text` replaced by its mapped value (a block by its mapped
 * block, an address by its mapped address); anything unmapped is an error, so nothing of the
 * inventory's real ranges can slip through.
 */
export function mapText(map: AddressMap, text: string): string {
  const blocks = parsedBlocks(map);
  return text.replace(/\b(\d{1,3}(?:\.\d{1,3}){3})(?:\/(\d{1,2}))?\b/g, (whole, ip: string, prefix: string | undefined) => {
    if (prefix !== undefined) {
      const block = blocks.find((b) => b.from.text === whole);
      if (block !== undefined) return `${formatIpv4(block.to)}/${block.toPrefix}`;
    }
    const mapped = mapAddress(map, ip);
    if (mapped === undefined) throw new NetlabPlanError(`address ${whole} is in no mapped block`, "Every address the network lab uses must be in an inventory subnet, the LB pool or a peer's address.");
    return prefix === undefined ? mapped : `${mapped}/${prefix}`;
  });
}

function block24(value: number): number {
  return (value & 0xffffff00) >>> 0;
}

/** The address mapping of a lab: inventory subnets, then LB pool blocks, then stray peer addresses' /24s. */
export function addressMap(lab: Lab): AddressMap {
  const blocks: MappedBlock[] = [];
  const taken: Cidr[] = [];
  const add = (cidr: Cidr, what: string): void => {
    if (taken.some((t) => cidrContains(t, cidr.network))) return;
    if (cidr.prefix < 24) {
      throw new NetlabPlanError(`${cidr.text} (${what}) is larger than a /24`, "The network lab maps every block to its own /24; use /24 or smaller subnets in the inventory for it.");
    }
    const index = blocks.length;
    if (index >= MAX_MAPPED) throw new NetlabPlanError(`more than ${MAX_MAPPED} blocks to map`, "The network lab maps at most 256 blocks into 198.18.0.0/16.");
    const base = (MAPPED_BASE + index * 256) >>> 0;
    // A block smaller than a /24 keeps its offset inside the /24 (so its hosts keep theirs).
    const offset = cidr.network - block24(cidr.network);
    blocks.push({ from: cidr.text, to: `${formatIpv4((base + offset) >>> 0)}/${cidr.prefix}`, what });
    taken.push(cidr);
  };
  for (const subnet of lab.subnets) {
    const parsed = parseCidr(subnet.cidr);
    if (parsed.ok) add(parsed.cidr, `vlan ${subnet.vlan}${subnet.name === undefined ? "" : ` (${subnet.name})`}`);
  }
  for (const pool of lab.cilium.lbPool) {
    const parsed = parseCidr(pool);
    if (parsed.ok) add(parsed.cidr, "LB pool");
  }
  for (const group of lab.cilium.bgp?.groups ?? []) {
    for (const peer of group.peers) {
      const value = parseIpv4(peer.address);
      if (value === undefined || taken.some((t) => cidrContains(t, value))) continue;
      const parsed = parseCidr(`${formatIpv4(block24(value))}/24`);
      if (parsed.ok) add(parsed.cidr, `peer ${peer.name}`);
    }
  }
  return { blocks };
}

/* ------------------------------------------------------------------ topology */

export type NamespaceRole = "router" | "dc" | "worker" | "client";

export interface NamespacePlan {
  /** el-<id>-<short>, e.g. el-3fa9c1-r0 */
  readonly name: string;
  readonly role: NamespaceRole;
  /** What it stands for: the router's or host's inventory name, or "client of <router>". */
  readonly stands: string;
  /** Addresses on lo (a /32 each), e.g. a router's own address when not on a link, the service IP. */
  readonly loopback: readonly string[];
  /** Routes: destination ("default" or a CIDR) via a gateway. */
  readonly routes: readonly { readonly to: string; readonly via: string }[];
}

export interface LinkEnd {
  readonly ns: string;
  /** Interface name inside the namespace (short: <= 15 characters). */
  readonly ifname: string;
  /** Address with prefix, e.g. 198.18.1.1/24; undefined for a bridge port. */
  readonly address: string | undefined;
  /** Enslave to this bridge in the same namespace. */
  readonly bridge?: string | undefined;
}

export type LinkKind = "site" | "client" | "ibgp" | "uplink";

export interface LinkPlan {
  readonly kind: LinkKind;
  readonly a: LinkEnd;
  readonly b: LinkEnd;
}

/** A bridge (a site's subnet) inside a router namespace. */
export interface BridgePlan {
  readonly ns: string;
  readonly name: string;
  readonly address: string;
}

/** A BGP session edgelab adds between routers (not in the rendered configuration). */
export interface ExtraNeighbor {
  readonly address: string;
  readonly asn: number;
  readonly ibgp: boolean;
  readonly description: string;
}

export interface RouterPlan {
  /** Inventory name, e.g. region-router01. */
  readonly name: string;
  readonly ns: string;
  readonly asn: number;
  /** Mapped address (router id). */
  readonly address: string;
  readonly kind: "dc" | "region";
  /** Short id for file names: r0, r1, ... */
  readonly short: string;
  readonly neighbors: readonly ExtraNeighbor[];
  /** Client namespace behind it (region routers). */
  readonly client: string | undefined;
}

export interface SpeakerPlan {
  /** Worker host name. */
  readonly host: string;
  readonly label: string;
  readonly ns: string;
  /** Mapped worker address. */
  readonly address: string;
  /** gobgpd's gRPC API inside the namespace. */
  readonly apiPort: number;
}

export interface ClientPlan {
  readonly ns: string;
  readonly router: string;
  readonly address: string;
}

export interface NetlabPlan {
  /** Short id of this lab (from the inventory's path): el-<id>-* */
  readonly id: string;
  readonly prefix: string;
  readonly lab: string;
  readonly map: AddressMap;
  /** The service address (mapped), as LB-IPAM would give the first Service. */
  readonly serviceIp: string;
  readonly namespaces: readonly NamespacePlan[];
  readonly bridges: readonly BridgePlan[];
  readonly links: readonly LinkPlan[];
  readonly routers: readonly RouterPlan[];
  readonly speakers: readonly SpeakerPlan[];
  readonly clients: readonly ClientPlan[];
}

/** el-<6 hex of the inventory path and lab name>: two labs never share a name. */
export function labId(inventoryPath: string, labName: string): string {
  return createHash("sha256").update(`${inventoryPath}\0${labName}`).digest("hex").slice(0, 6);
}

/**
 * The address LB-IPAM gives the first LoadBalancer Service: the first address of the first pool
 * block (edgelab's pool sets no allowFirstLastIPs, and Cilium then allocates the first and last
 * addresses too).
 */
export function firstPoolAddress(lab: Lab): string {
  const first = lab.cilium.lbPool[0];
  const parsed = first === undefined ? undefined : parseCidr(first);
  if (parsed === undefined || !parsed.ok) throw new NetlabPlanError("the inventory has no cilium.lb_pool", "The network lab announces the service address from the LB pool: set cilium.lb_pool.");
  return formatIpv4(parsed.cidr.network);
}

/** The n-th /30 of 198.19.0.0/24 as [a, b] (the two usable addresses) with prefix. */
function p2p(n: number): readonly [string, string] {
  const base = (INFRA_BASE + n * 4) >>> 0;
  return [`${formatIpv4(base + 1)}/30`, `${formatIpv4(base + 2)}/30`];
}

function withoutPrefix(cidr: string): string {
  return cidr.split("/")[0] ?? cidr;
}

/** gobgpd API ports inside each worker namespace (one speaker per namespace, so one port). */
export const SPEAKER_API_PORT = 50051;

export function netlabPlan(lab: Lab, inventoryPath: string): NetlabPlan {
  const bgp = lab.cilium.bgp;
  if (bgp === undefined) throw new NetlabPlanError("the inventory has no cilium.bgp", "The network lab runs the BGP sessions of cilium.bgp: set its local_asn and peers.");
  const id = labId(inventoryPath, lab.name);
  const prefix = `el-${id}`;
  const map = addressMap(lab);
  const must = (address: string, what: string): string => {
    const mapped = mapAddress(map, address);
    if (mapped === undefined) throw new NetlabPlanError(`${what} ${address} is in no inventory subnet`);
    return mapped;
  };
  const serviceIp = must(firstPoolAddress(lab), "the service address");
  const routers = peerRouters(lab);
  const serverLabels = new Set(lab.servers.map((s) => s.label));
  const workerLabels = new Set(lab.agents.map((a) => a.label));
  const isDc = (r: PeerRouter): boolean => r.groups.some((g) => serverLabels.has(g.label));
  const dcRouters = routers.filter(isDc);
  const regionRouters = routers.filter((r) => !isDc(r) && r.groups.some((g) => workerLabels.has(g.label)));
  const dc = dcRouters[0];
  if (dc === undefined || dcRouters.length > 1) {
    throw new NetlabPlanError(
      dc === undefined ? "no router peers with the servers' group" : `several routers peer with the servers' group (${dcRouters.map((r) => r.name).join(", ")})`,
      "The network lab needs exactly one DC router: the peer of the servers' node group in cilium.bgp.peers.",
    );
  }
  if (regionRouters.length === 0) throw new NetlabPlanError("no router peers with a worker group", "Give each worker group a peer router in cilium.bgp.peers.");
  for (const group of bgp.groups) {
    if (workerLabels.has(group.label) && group.peers.length !== 1) {
      throw new NetlabPlanError(`worker group ${group.label} has ${group.peers.length} peer routers`, "The network lab links each worker group to exactly one region router.");
    }
  }

  const ordered = [dc, ...regionRouters];
  const shortOf = new Map(ordered.map((r, i) => [r.name, `r${i}`]));
  const nsOf = (r: PeerRouter): string => `${prefix}-${shortOf.get(r.name) ?? "r"}`;
  const namespaces: NamespacePlan[] = [];
  const bridges: BridgePlan[] = [];
  const links: LinkPlan[] = [];
  const speakers: SpeakerPlan[] = [];
  const clients: ClientPlan[] = [];
  const routerLoopback = new Map<string, string[]>();
  const extra = new Map<string, ExtraNeighbor[]>(ordered.map((r) => [r.name, []]));
  let p2pIndex = 0;

  // Routers' own addresses: on the site bridge when it is the site's gateway, else on lo.
  const gatewaysOf = new Map<string, Set<string>>();

  // The DC site: one namespace holding every server address, behind the DC router.
  const dcSubnet = lab.servers[0]?.subnet;
  if (dcSubnet === undefined) throw new NetlabPlanError("the servers have no data_vlan subnet", "Give the servers a data_vlan from network.vlans.");
  const dcNs = `${prefix}-dc`;
  const dcGateway = must(dcSubnet.gateway, "the servers' gateway");
  const dcMapped = mapText(map, dcSubnet.cidr);
  const dcPrefix = dcMapped.split("/")[1] ?? "24";
  const serverAddresses = lab.servers.map((s) => must(s.address, `server ${s.name}`));
  links.push({
    kind: "site",
    a: { ns: nsOf(dc), ifname: "dc", address: `${dcGateway}/${dcPrefix}` },
    b: { ns: dcNs, ifname: "eth0", address: `${serverAddresses[0] ?? ""}/${dcPrefix}` },
  });
  gatewaysOf.set(dc.name, new Set([dcGateway]));
  namespaces.push({ name: dcNs, role: "dc", stands: `servers ${lab.servers.map((s) => s.name).join(", ")}`, loopback: serverAddresses.slice(1), routes: [{ to: "default", via: dcGateway }] });

  // Worker sites: a bridge in the region router (the subnet), one namespace per worker on it.
  let workerIndex = 0;
  const sitesOf = new Map<string, string[]>();
  for (const router of regionRouters) {
    const rns = nsOf(router);
    const gateways = new Set<string>();
    for (const [siteIndex, group] of router.groups.filter((g) => workerLabels.has(g.label)).entries()) {
      const members = lab.agents.filter((a) => a.label === group.label);
      const subnet = members[0]?.subnet;
      if (subnet === undefined) throw new NetlabPlanError(`worker group ${group.label} has no data_vlan subnet`);
      const gateway = must(subnet.gateway, `gateway of ${group.label}`);
      const mappedPrefix = mapText(map, subnet.cidr).split("/")[1] ?? "24";
      const bridge = `s${siteIndex}`;
      bridges.push({ ns: rns, name: bridge, address: `${gateway}/${mappedPrefix}` });
      gateways.add(gateway);
      for (const [memberIndex, member] of members.entries()) {
        const wns = `${prefix}-w${workerIndex}`;
        workerIndex += 1;
        const address = must(member.address, `worker ${member.name}`);
        links.push({ kind: "site", a: { ns: rns, ifname: `${bridge}p${memberIndex}`, address: undefined, bridge }, b: { ns: wns, ifname: "eth0", address: `${address}/${mappedPrefix}` } });
        namespaces.push({ name: wns, role: "worker", stands: member.name, loopback: [serviceIp], routes: [{ to: "default", via: gateway }] });
        speakers.push({ host: member.name, label: group.label, ns: wns, address, apiPort: SPEAKER_API_PORT });
        sitesOf.set(router.name, [...(sitesOf.get(router.name) ?? []), wns]);
      }
    }
    gatewaysOf.set(router.name, gateways);
  }

  for (const router of ordered) {
    const mapped = must(router.address, `router ${router.name}`);
    const onLink = gatewaysOf.get(router.name)?.has(mapped) ?? false;
    routerLoopback.set(router.name, onLink ? [] : [mapped]);
  }

  // Region routers to the DC router (uplinks), and to each other when they share an AS (iBGP).
  const addPair = (kind: LinkKind, x: PeerRouter, y: PeerRouter, xIf: string, yIf: string): void => {
    const [ax, ay] = p2p(p2pIndex);
    p2pIndex += 1;
    links.push({ kind, a: { ns: nsOf(x), ifname: xIf, address: ax }, b: { ns: nsOf(y), ifname: yIf, address: ay } });
    const ibgp = x.asn === y.asn;
    extra.get(x.name)?.push({ address: withoutPrefix(ay), asn: y.asn, ibgp, description: `${kind} ${y.name}` });
    extra.get(y.name)?.push({ address: withoutPrefix(ax), asn: x.asn, ibgp, description: `${kind} ${x.name}` });
  };
  for (const router of regionRouters) addPair("uplink", dc, router, `to-${shortOf.get(router.name) ?? ""}`, "to-r0");
  for (const [i, x] of regionRouters.entries()) {
    for (const y of regionRouters.slice(i + 1)) {
      if (x.asn === y.asn) addPair("ibgp", x, y, `to-${shortOf.get(y.name) ?? ""}`, `to-${shortOf.get(x.name) ?? ""}`);
    }
  }

  // One client namespace behind each region router: 198.19.<1+i>.0/24.
  for (const [i, router] of regionRouters.entries()) {
    const base = (INFRA_BASE + (i + 1) * 256) >>> 0;
    const gw = formatIpv4(base + 1);
    const address = formatIpv4(base + 2);
    const cns = `${prefix}-c${i}`;
    links.push({ kind: "client", a: { ns: nsOf(router), ifname: "clients", address: `${gw}/24` }, b: { ns: cns, ifname: "eth0", address: `${address}/24` } });
    namespaces.push({ name: cns, role: "client", stands: `clients of ${router.name}`, loopback: [], routes: [{ to: "default", via: gw }] });
    clients.push({ ns: cns, router: router.name, address });
  }

  const routerPlans: RouterPlan[] = ordered.map((r) => ({
    name: r.name,
    ns: nsOf(r),
    asn: r.asn,
    address: must(r.address, `router ${r.name}`),
    kind: r === dc ? "dc" : "region",
    short: shortOf.get(r.name) ?? "r",
    neighbors: extra.get(r.name) ?? [],
    client: clients.find((c) => c.router === r.name)?.ns,
  }));
  const routerNamespaces: NamespacePlan[] = routerPlans.map((r) => ({ name: r.ns, role: "router", stands: r.name, loopback: routerLoopback.get(r.name) ?? [], routes: [] }));
  return {
    id,
    prefix,
    lab: lab.name,
    map,
    serviceIp,
    namespaces: [...routerNamespaces, ...namespaces],
    bridges,
    links,
    routers: routerPlans,
    speakers,
    clients,
  };
}

/** Size check for interface names (the kernel's limit is 15 characters). */
export function longestInterfaceName(plan: NetlabPlan): number {
  return Math.max(...plan.links.flatMap((l) => [l.a.ifname.length, l.b.ifname.length]), ...plan.bridges.map((b) => b.name.length));
}


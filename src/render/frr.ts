/**
 * The routers' side of the cluster's BGP sessions (`routers/<router>.frr.conf`): for each peer
 * router of the inventory, the FRR configuration that completes its sessions with the node
 * groups it serves. Pure.
 */
import type { BgpGroup, BgpSessionModel, Lab } from "../model/lab.js";
import type { Artifact } from "./artifact.js";
import type { TemplateEnvironment } from "./environment.js";

/** Several nodes advertising one service address become equal-cost paths (up to this many). */
export const MAX_PATHS = 16;

export interface RouterGroup {
  readonly label: string;
  readonly peerGroup: string;
  readonly subnets: readonly string[];
  readonly session: BgpSessionModel;
  readonly ibgp: boolean;
}

export interface PeerRouter {
  readonly name: string;
  readonly address: string;
  readonly asn: number;
  readonly groups: readonly RouterGroup[];
  readonly ebgp: boolean;
  readonly ibgp: boolean;
}

function peerGroupName(group: BgpGroup): string {
  return `EDGELAB-${group.label.toUpperCase()}`;
}

/** Each distinct router (by name), with the node groups that peer with it, in inventory order. */
export function peerRouters(lab: Lab): PeerRouter[] {
  const bgp = lab.cilium.bgp;
  if (bgp === undefined) return [];
  const routers = new Map<string, { name: string; address: string; asn: number; groups: RouterGroup[] }>();
  for (const group of bgp.groups) {
    for (const peer of group.peers) {
      const router = routers.get(peer.name) ?? { name: peer.name, address: peer.address, asn: peer.asn, groups: [] };
      routers.set(peer.name, router);
      if (!router.groups.some((g) => g.label === group.label)) {
        router.groups.push({ label: group.label, peerGroup: peerGroupName(group), subnets: group.subnets, session: group.session, ibgp: peer.asn === bgp.localAsn });
      }
    }
  }
  return [...routers.values()].map((r) => ({ ...r, ebgp: r.groups.some((g) => !g.ibgp), ibgp: r.groups.some((g) => g.ibgp) }));
}

export function renderRouterConf(lab: Lab, router: PeerRouter, env: TemplateEnvironment): string {
  return env.render("frr/router.frr.conf.njk", { lab, router, localAsn: lab.cilium.bgp?.localAsn, pool: lab.cilium.lbPool, maxPaths: MAX_PATHS });
}

export function renderRouters(lab: Lab, env: TemplateEnvironment): Artifact[] {
  return peerRouters(lab).map((router) => ({ path: `routers/${router.name}.frr.conf`, content: renderRouterConf(lab, router, env), mode: 0o644, family: "routers" }));
}

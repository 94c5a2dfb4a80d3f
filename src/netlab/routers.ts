/**
 * What runs in the network lab's router and worker namespaces. Pure.
 *
 * Routers run the rendered `routers/<router>.frr.conf` with only the address mapping applied
 * (`mappedRouterConf`); the sessions edgelab adds between routers (uplinks to the DC router,
 * iBGP between region routers of one AS with next-hop-self) are a separate file applied after
 * start (`routerAdditions`). Worker speakers (gobgpd) take their settings from the same Cilium
 * objects `edgelab render` writes to cilium/bgp.yaml (`speakerGroups`).
 */
import { z } from "zod";
import type { Lab } from "../model/lab.js";
import { ciliumNetworkObjects, type KubeObject } from "../render/cilium.js";
import type { TemplateEnvironment } from "../render/environment.js";
import { peerRouters, renderRouterConf } from "../render/frr.js";
import { BGP_GROUP_LABEL } from "../render/k3s.js";
import { mapAddress, mapText, NetlabPlanError, type NetlabPlan, type RouterPlan, type SpeakerPlan } from "./plan.js";

/** The rendered router configuration with every address mapped, nothing else changed. */
export function mappedRouterConf(lab: Lab, plan: NetlabPlan, routerName: string, env: TemplateEnvironment): { rendered: string; mapped: string } {
  const router = peerRouters(lab).find((r) => r.name === routerName);
  if (router === undefined) throw new NetlabPlanError(`no router ${routerName} in the inventory`);
  const rendered = renderRouterConf(lab, router, env);
  return { rendered, mapped: mapText(plan.map, rendered) };
}

/** Keepalive and hold time of the sessions edgelab adds between routers (seconds). */
export const ROUTER_TIMERS = { keepalive: 3, hold: 9, connect: 1 } as const;

/** The sessions between routers (not part of the rendered file), as FRR configuration. */
export function routerAdditions(router: RouterPlan): string {
  const lines = [
    `! ${router.name}: sessions the network lab adds between its routers (not in routers/${router.name}.frr.conf).`,
    "! Uplinks to the DC router and iBGP between region routers of one AS carry the lab's own",
    "! subnets (redistribute connected) and the service /32 (next-hop-self on iBGP, as in the seed).",
    "route-map EDGELAB-NETLAB-ANY permit 10",
    "exit",
    "!",
    `router bgp ${router.asn}`,
  ];
  for (const n of router.neighbors) {
    lines.push(` neighbor ${n.address} remote-as ${n.ibgp ? "internal" : n.asn}`, ` neighbor ${n.address} description netlab ${n.description}`);
    lines.push(` neighbor ${n.address} timers ${ROUTER_TIMERS.keepalive} ${ROUTER_TIMERS.hold}`, ` neighbor ${n.address} timers connect ${ROUTER_TIMERS.connect}`);
  }
  lines.push(" !", " address-family ipv4 unicast", "  redistribute connected");
  for (const n of router.neighbors) {
    lines.push(`  neighbor ${n.address} activate`);
    if (n.ibgp) lines.push(`  neighbor ${n.address} next-hop-self`);
    lines.push(`  neighbor ${n.address} route-map EDGELAB-NETLAB-ANY in`, `  neighbor ${n.address} route-map EDGELAB-NETLAB-ANY out`);
  }
  lines.push(" exit-address-family", "exit", "!");
  return `${lines.join("\n")}\n`;
}

/* ------------------------------------------------------------------ speakers from Cilium's objects */

const Timers = z.object({ connectRetryTimeSeconds: z.number(), holdTimeSeconds: z.number(), keepAliveTimeSeconds: z.number() });
const GracefulRestart = z.object({ enabled: z.boolean(), restartTimeSeconds: z.number() });
const ClusterConfigSpec = z.object({
  nodeSelector: z.object({ matchLabels: z.record(z.string(), z.string()) }),
  bgpInstances: z.array(z.object({ localASN: z.number(), peers: z.array(z.object({ name: z.string(), peerASN: z.number(), peerAddress: z.string(), peerConfigRef: z.object({ name: z.string() }) })) })),
});
const PeerConfigSpec = z.object({ ebgpMultihop: z.number(), timers: Timers, gracefulRestart: GracefulRestart });
const PeeringPolicySpec = z.object({
  nodeSelector: z.object({ matchLabels: z.record(z.string(), z.string()) }),
  virtualRouters: z.array(
    z.object({
      localASN: z.number(),
      neighbors: z.array(
        z.object({
          peerAddress: z.string(),
          peerASN: z.number(),
          eBGPMultihopTTL: z.number(),
          connectRetryTimeSeconds: z.number(),
          holdTimeSeconds: z.number(),
          keepAliveTimeSeconds: z.number(),
          gracefulRestart: GracefulRestart,
        }),
      ),
    }),
  ),
});

export interface SpeakerPeer {
  /** Inventory address (mapped later). */
  readonly address: string;
  readonly asn: number;
  readonly ebgpMultihop: number;
  readonly connectRetry: number;
  readonly holdTime: number;
  readonly keepalive: number;
  readonly gracefulRestart: { readonly enabled: boolean; readonly restartTime: number };
}

export interface SpeakerGroup {
  /** The bgp-group label the object selects. */
  readonly label: string;
  readonly localAsn: number;
  readonly peers: readonly SpeakerPeer[];
}

/** The per-group BGP settings as Cilium would run them, read back from the objects edgelab renders. */
export function speakerGroups(objects: readonly KubeObject[]): SpeakerGroup[] {
  const peerConfigs = new Map(objects.filter((o) => o.kind === "CiliumBGPPeerConfig").map((o) => [o.metadata.name, PeerConfigSpec.parse(o.spec)]));
  const out: SpeakerGroup[] = [];
  for (const o of objects) {
    if (o.kind === "CiliumBGPClusterConfig") {
      const spec = ClusterConfigSpec.parse(o.spec);
      const label = spec.nodeSelector.matchLabels[BGP_GROUP_LABEL];
      const instance = spec.bgpInstances[0];
      if (label === undefined || instance === undefined) continue;
      out.push({
        label,
        localAsn: instance.localASN,
        peers: instance.peers.map((p) => {
          const pc = peerConfigs.get(p.peerConfigRef.name);
          if (pc === undefined) throw new NetlabPlanError(`CiliumBGPClusterConfig ${o.metadata.name} refers to a missing CiliumBGPPeerConfig ${p.peerConfigRef.name}`);
          return {
            address: p.peerAddress,
            asn: p.peerASN,
            ebgpMultihop: pc.ebgpMultihop,
            connectRetry: pc.timers.connectRetryTimeSeconds,
            holdTime: pc.timers.holdTimeSeconds,
            keepalive: pc.timers.keepAliveTimeSeconds,
            gracefulRestart: { enabled: pc.gracefulRestart.enabled, restartTime: pc.gracefulRestart.restartTimeSeconds },
          };
        }),
      });
    } else if (o.kind === "CiliumBGPPeeringPolicy") {
      const spec = PeeringPolicySpec.parse(o.spec);
      const label = spec.nodeSelector.matchLabels[BGP_GROUP_LABEL];
      const vr = spec.virtualRouters[0];
      if (label === undefined || vr === undefined) continue;
      out.push({
        label,
        localAsn: vr.localASN,
        peers: vr.neighbors.map((n) => ({
          address: n.peerAddress.replace(/\/32$/, ""),
          asn: n.peerASN,
          ebgpMultihop: n.eBGPMultihopTTL,
          connectRetry: n.connectRetryTimeSeconds,
          holdTime: n.holdTimeSeconds,
          keepalive: n.keepAliveTimeSeconds,
          gracefulRestart: { enabled: n.gracefulRestart.enabled, restartTime: n.gracefulRestart.restartTimeSeconds },
        })),
      });
    }
  }
  return out;
}

/** The groups of a lab, from the objects `edgelab render` writes to cilium/bgp.yaml. */
export function labSpeakerGroups(lab: Lab): SpeakerGroup[] {
  return speakerGroups(ciliumNetworkObjects(lab));
}

function tomlString(value: string): string {
  return JSON.stringify(value);
}

/** gobgpd's configuration for one worker: its group's ASN, peers (mapped) and timers; it does not listen (Cilium initiates). */
export function speakerConfig(plan: NetlabPlan, speaker: SpeakerPlan, group: SpeakerGroup): string {
  const lines = [
    `# ${speaker.host} (group ${group.label}) in lab ${plan.lab}: the worker's BGP speaker, as Cilium runs it.`,
    "# From cilium/bgp.yaml with the network lab's address mapping. Rendered by edgelab: do not edit.",
    "[global.config]",
    `  as = ${group.localAsn}`,
    `  router-id = ${tomlString(speaker.address)}`,
    "  port = -1",
  ];
  for (const peer of group.peers) {
    const address = mapAddress(plan.map, peer.address);
    if (address === undefined) throw new NetlabPlanError(`peer ${peer.address} of group ${group.label} is in no mapped block`);
    lines.push(
      "",
      "[[neighbors]]",
      "  [neighbors.config]",
      `    neighbor-address = ${tomlString(address)}`,
      `    peer-as = ${peer.asn}`,
      "  [neighbors.transport.config]",
      `    local-address = ${tomlString(speaker.address)}`,
      "  [neighbors.timers.config]",
      `    connect-retry = ${peer.connectRetry}`,
      `    hold-time = ${peer.holdTime}`,
      `    keepalive-interval = ${peer.keepalive}`,
    );
    if (peer.ebgpMultihop > 1) lines.push("  [neighbors.ebgp-multihop.config]", "    enabled = true", `    multihop-ttl = ${peer.ebgpMultihop}`);
    if (peer.gracefulRestart.enabled) lines.push("  [neighbors.graceful-restart.config]", "    enabled = true", `    restart-time = ${peer.gracefulRestart.restartTime}`);
    lines.push("  [[neighbors.afi-safis]]", "    [neighbors.afi-safis.config]", '      afi-safi-name = "ipv4-unicast"');
  }
  return `${lines.join("\n")}\n`;
}

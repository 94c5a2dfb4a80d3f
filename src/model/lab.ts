/**
 * The Lab model: what every later stage (provision, k3s, cilium, render, deploy, smoke) reads.
 * Built from a validated inventory; pure and deterministic (inventory order is kept).
 */
import { hostLabel, type HostFacts, type HostRole, type InventoryFacts } from "../inventory/facts.js";
import type { SecretRef } from "../inventory/schema.js";
import { parseCidr } from "../util/ipv4.js";

export type Provider = "local" | "proxmox";

export interface Subnet {
  readonly vlan: number;
  readonly name: string | undefined;
  /** e.g. "172.16.221.0/24" */
  readonly cidr: string;
  readonly prefix: number;
  readonly gateway: string;
}

/** The VM a host is on, for provider proxmox. */
export interface VmSpec {
  readonly vmid: number;
  readonly node: string;
  readonly storage: string;
  readonly cores: number;
  readonly memoryMiB: number;
  /** Boot disk size in GiB; undefined keeps the template's size. */
  readonly diskGiB: number | undefined;
  readonly bridge: string;
  readonly vlan: number;
}

export interface LabHost {
  readonly name: string;
  readonly address: string;
  readonly role: HostRole;
  /** Node group label (K3s label bgp-group=<label>). */
  readonly label: string;
  /** Every inventory group the host is in, outermost first. */
  readonly groups: readonly string[];
  readonly vlan: number | undefined;
  readonly subnet: Subnet | undefined;
  readonly sshUser: string | undefined;
  readonly sshPort: number;
  readonly vm: VmSpec | undefined;
}

export interface BgpPeerModel {
  readonly name: string;
  readonly address: string;
  readonly asn: number;
}

/** Hosts sharing a label and the routers they peer with. */
export interface BgpGroup {
  readonly label: string;
  readonly hosts: readonly string[];
  readonly peers: readonly BgpPeerModel[];
}

export interface StreamModel {
  readonly name: string;
  readonly key: SecretRef;
  readonly source: { readonly type: "testsrc" } | { readonly type: "url"; readonly url: string } | { readonly type: "external" };
}

/**
 * Streams from an RTMP URL are pulled by the media server itself (nginx-rtmp `pull ... static`);
 * every other source is published with a key (a test pattern, ffmpeg pulling a URL, the user's encoder).
 */
export function pulledByMediaServer(stream: Pick<StreamModel, "source">): boolean {
  return stream.source.type === "url" && /^rtmps?:\/\//.test(stream.source.url);
}

/**
 * Who publishes a stream: the lab's own source process (test pattern, or ffmpeg pulling a URL),
 * the user's encoder (external), or nobody because the media server pulls it itself.
 */
export function publisherOf(stream: Pick<StreamModel, "source">): "source" | "external" | "pull" {
  if (stream.source.type === "external") return "external";
  return pulledByMediaServer(stream) ? "pull" : "source";
}

export interface RenditionModel {
  readonly name: string;
  readonly width: number;
  readonly height: number;
  readonly videoKbps: number;
  readonly audioKbps: number;
}

export interface MediaModel {
  readonly servers: number;
  readonly fps: number;
  readonly hls: { readonly fragment: number; readonly playlistLength: number };
  readonly dash: { readonly enabled: boolean; readonly fragment: number; readonly playlistLength: number };
  readonly rtmpPlayback: boolean;
  readonly record: { readonly path: string; readonly unique: boolean } | undefined;
  readonly push: readonly string[];
  readonly abr: readonly RenditionModel[];
}

export interface LocalPorts {
  readonly edge: number;
  readonly origin: number;
  readonly router: number;
  readonly redis: number;
  readonly mediaHttp: number;
  readonly mediaRtmp: number;
}

export interface Lab {
  readonly name: string;
  readonly provider: Provider;
  readonly hosts: readonly LabHost[];
  readonly servers: readonly LabHost[];
  readonly agents: readonly LabHost[];
  readonly subnets: readonly Subnet[];
  readonly k3s: {
    readonly version: string;
    readonly token: SecretRef;
    /** Address the API is reached at: the VIP, else the first server. */
    readonly apiAddress: string;
    readonly apiVip: string | undefined;
    readonly clusterCidr: string;
    readonly serviceCidr: string;
  };
  readonly cilium: {
    readonly version: string;
    readonly bgp: { readonly localAsn: number; readonly groups: readonly BgpGroup[] } | undefined;
    readonly lbPool: readonly string[];
  };
  readonly proxmox:
    | {
        readonly url: string;
        readonly node: string;
        readonly template: number;
        readonly clone: "full" | "linked";
        readonly bridge: string;
        readonly pool: string | undefined;
        readonly tokenId: string | undefined;
        readonly tokenSecret: SecretRef | undefined;
        readonly tlsFingerprint: string | undefined;
        readonly caFile: string | undefined;
        readonly sshKeys: readonly string[];
        readonly nameservers: readonly string[];
        readonly searchDomain: string | undefined;
      }
    | undefined;
  readonly dnsName: string | undefined;
  readonly streams: readonly StreamModel[];
  readonly media: MediaModel;
  readonly edge: { readonly cacheMb: number; readonly segmentTtl: number; readonly playlistTtl: number };
  readonly localPorts: LocalPorts;
}

export class ModelError extends Error {
  override readonly name = "ModelError";
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new ModelError(`${what} is missing (the inventory was not validated)`);
  return value;
}

function peerName(address: string): string {
  return `peer-${address.replaceAll(".", "-")}`;
}

export function buildLab(facts: InventoryFacts): Lab {
  const settings = required(facts.lab, "lab settings").value;
  const k3s = required(facts.k3s, "k3s settings").value;
  const cilium = required(facts.cilium, "cilium settings").value;
  const proxmox = facts.proxmox?.value;
  const network = facts.network?.value;

  const subnets: Subnet[] = facts.vlans.map(({ value }) => {
    const parsed = parseCidr(value.subnet);
    return { vlan: value.id, name: value.name, cidr: value.subnet, prefix: parsed.ok ? parsed.cidr.prefix : 0, gateway: value.gateway };
  });
  const subnetByVlan = new Map(subnets.map((s) => [s.vlan, s]));

  const toHost = (host: HostFacts): LabHost => {
    const f = host.fields;
    const vlan = f.data_vlan?.value;
    const vm: VmSpec | undefined =
      settings.provider === "proxmox" && proxmox !== undefined
        ? {
            vmid: required(f.vmid, `vmid of ${host.name}`).value,
            node: f.proxmox_node?.value ?? proxmox.node,
            storage: required(f.storage?.value ?? proxmox.storage, `storage of ${host.name}`),
            cores: required(f.vcpus, `vcpus of ${host.name}`).value,
            memoryMiB: required(f.memory, `memory of ${host.name}`).value,
            diskGiB: f.disk?.value,
            bridge: proxmox.bridge,
            vlan: required(vlan, `data_vlan of ${host.name}`),
          }
        : undefined;
    return {
      name: host.name,
      address: required(f.ansible_host, `ansible_host of ${host.name}`).value,
      role: required(host.role, `role of ${host.name}`),
      label: hostLabel(host),
      groups: host.groups,
      vlan,
      subnet: vlan === undefined ? undefined : subnetByVlan.get(vlan),
      sshUser: f.ansible_user?.value,
      sshPort: f.ansible_port?.value ?? 22,
      vm,
    };
  };

  const hosts = facts.hosts.map(toHost);
  const servers = hosts.filter((h) => h.role === "server");
  const agents = hosts.filter((h) => h.role === "agent");

  const labels: string[] = [];
  for (const host of hosts) if (!labels.includes(host.label)) labels.push(host.label);
  const bgp = cilium.bgp
    ? {
        localAsn: cilium.bgp.local_asn,
        groups: labels
          .filter((label) => cilium.bgp?.peers[label] !== undefined)
          .map((label) => ({
            label,
            hosts: hosts.filter((h) => h.label === label).map((h) => h.name),
            peers: (cilium.bgp?.peers[label] ?? []).map((p) => ({ name: p.name ?? peerName(p.address), address: p.address, asn: p.asn })),
          })),
      }
    : undefined;

  const media = required(facts.media, "media settings").value;
  const edge = required(facts.edge, "edge settings").value;
  const ports = required(facts.local, "local settings").value.ports;
  const firstServer = required(servers[0], "a K3s server");
  return {
    name: settings.name,
    provider: settings.provider,
    hosts,
    servers,
    agents,
    subnets,
    k3s: {
      version: k3s.version,
      token: k3s.token,
      apiAddress: k3s.api_vip ?? firstServer.address,
      apiVip: k3s.api_vip,
      clusterCidr: k3s.cluster_cidr,
      serviceCidr: k3s.service_cidr,
    },
    cilium: { version: cilium.version, bgp, lbPool: facts.lbPool.map((b) => b.value) },
    proxmox:
      settings.provider === "proxmox" && proxmox !== undefined
        ? {
            url: proxmox.url,
            node: proxmox.node,
            template: proxmox.template,
            clone: proxmox.clone,
            bridge: proxmox.bridge,
            pool: proxmox.pool,
            tokenId: proxmox.token_id,
            tokenSecret: proxmox.token_secret,
            tlsFingerprint: proxmox.tls_fingerprint,
            caFile: proxmox.ca_file,
            sshKeys: proxmox.ssh_keys,
            nameservers: network?.nameservers ?? [],
            searchDomain: network?.search_domain,
          }
        : undefined,
    dnsName: facts.dns?.value.name,
    streams: facts.streams.map(({ value }) => ({ name: value.name, key: value.key, source: value.source })),
    media: {
      servers: media.servers,
      fps: media.fps,
      hls: { fragment: media.hls.fragment, playlistLength: media.hls.playlist_length },
      dash: { enabled: media.dash.enabled, fragment: media.dash.fragment, playlistLength: media.dash.playlist_length },
      rtmpPlayback: media.rtmp_playback,
      record: media.record,
      push: media.push,
      abr: media.abr.map((r) => ({ name: r.name, width: r.width, height: r.height, videoKbps: r.video_kbps, audioKbps: r.audio_kbps })),
    },
    edge: { cacheMb: edge.cache_mb, segmentTtl: edge.segment_ttl, playlistTtl: edge.playlist_ttl },
    localPorts: { edge: ports.edge, origin: ports.origin, router: ports.router, redis: ports.redis, mediaHttp: ports.media_http, mediaRtmp: ports.media_rtmp },
  };
}

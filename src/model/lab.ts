/**
 * The Lab model: what every later stage (provision, k3s, cilium, render, deploy, smoke) reads.
 * Built from a validated inventory; pure and deterministic (inventory order is kept).
 */
import { hostLabel, type HostFacts, type HostRole, type InventoryFacts } from "../inventory/facts.js";
import type { BgpSessionOut, SecretRef } from "../inventory/schema.js";
import { effectiveBgpApi, effectiveLbPoolField, type BgpApi, type LbPoolField } from "../inventory/versions.js";
import { formatIpv4, parseCidr } from "../util/ipv4.js";

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

export interface NfsMount {
  /** server:/path */
  readonly export: string;
  readonly path: string;
  readonly options: string;
}

export interface IscsiMount {
  /** address:port */
  readonly portal: string;
  readonly target: string;
  readonly lun: number;
  /** The block device once logged in (stable by-path name unless the inventory names one). */
  readonly device: string;
  readonly path: string;
  readonly fstype: "ext4" | "xfs";
  /** Create the filesystem when the device is empty (never when it holds one or a partition table). */
  readonly format: boolean;
  readonly options: string;
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
  readonly storage: { readonly nfs: readonly NfsMount[]; readonly iscsi: readonly IscsiMount[] };
  /** Host public keys given in the inventory (empty: learned when provisioned). */
  readonly sshHostKeys: readonly string[];
  /** The private key SSH logs in with (Ansible's ansible_ssh_private_key_file), as written. */
  readonly sshPrivateKeyFile: string | undefined;
}

export interface BgpPeerModel {
  readonly name: string;
  readonly address: string;
  readonly asn: number;
}

export interface BgpSessionModel {
  readonly ebgpMultihop: number;
  readonly holdTime: number;
  readonly keepaliveTime: number;
  readonly connectRetry: number;
  readonly gracefulRestart: { readonly enabled: boolean; readonly restartTime: number };
}

/** Hosts sharing a label and the routers they peer with. */
export interface BgpGroup {
  readonly label: string;
  readonly hosts: readonly string[];
  /** The node subnets of the group's hosts, in host order (routers accept sessions from them). */
  readonly subnets: readonly string[];
  readonly peers: readonly BgpPeerModel[];
  readonly session: BgpSessionModel;
}

export interface ApiVip {
  readonly address: string;
  /** Prefix length of the servers' subnet (the VIP is added with it). */
  readonly prefix: number | undefined;
  readonly holder: "keepalived" | "external";
  readonly vrrp: {
    readonly routerId: number;
    readonly interface: string | undefined;
    readonly password: SecretRef | undefined;
    /** Per server, in inventory order: the first is preferred. */
    readonly priorities: readonly { readonly host: string; readonly priority: number }[];
  };
}

export interface AirgapModel {
  readonly k3sBinary: string;
  readonly k3sImages: string;
  readonly k3sChecksums: string | undefined;
  readonly ciliumChart: string | undefined;
  readonly imageArchives: readonly string[];
}

export interface RegistryModel {
  readonly address: string;
  readonly username: string | undefined;
  readonly password: SecretRef | undefined;
  readonly caFile: string | undefined;
}

export interface DnsModel {
  readonly name: string;
  readonly server: string | undefined;
  readonly port: number;
  readonly zone: string;
  readonly ttl: number;
  readonly tsig: { readonly name: string; readonly algorithm: string; readonly secret: SecretRef } | undefined;
}

export interface EdgeGroupModel {
  readonly label: string;
  readonly workers: readonly string[];
  readonly replicas: number;
  readonly cacheMb: number;
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
    readonly vip: ApiVip | undefined;
    readonly clusterCidr: string;
    readonly serviceCidr: string;
    readonly clusterDns: string;
    readonly clusterDomain: string;
    readonly secretsEncryption: boolean;
    /** Further config keys from the inventory (checked against K3s' keys by validation). */
    readonly serverConfig: Readonly<Record<string, string | number | boolean | readonly string[]>>;
    readonly agentConfig: Readonly<Record<string, string | number | boolean | readonly string[]>>;
  };
  readonly cilium: {
    readonly version: string;
    readonly chartRepo: string;
    readonly bgp: { readonly localAsn: number; readonly api: BgpApi; readonly groups: readonly BgpGroup[] } | undefined;
    readonly lbPool: readonly string[];
    readonly lbPoolField: LbPoolField;
  };
  readonly airgap: AirgapModel | undefined;
  readonly images: { readonly archiveDir: string; readonly registry: RegistryModel | undefined };
  readonly dns: DnsModel | undefined;
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
  readonly edge: {
    readonly cacheMb: number;
    readonly segmentTtl: number;
    readonly playlistTtl: number;
    /** One per label that has workers, in host order. */
    readonly groups: readonly EdgeGroupModel[];
  };
  readonly localPorts: LocalPorts;
}

/** An Ansible variable's value when it is a plain string (not a Jinja expression, which only Ansible resolves). */
function stringVar(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" && !value.includes("{{") ? value : undefined;
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

function sessionModel(session: BgpSessionOut): BgpSessionModel {
  return {
    ebgpMultihop: session.ebgp_multihop,
    holdTime: session.hold_time,
    keepaliveTime: session.keepalive_time,
    connectRetry: session.connect_retry,
    gracefulRestart: { enabled: session.graceful_restart.enabled, restartTime: session.graceful_restart.restart_time },
  };
}

/** The 10th address of a block (K3s' default cluster DNS: 10.43.0.10). */
function tenthAddress(cidr: string): string {
  const parsed = parseCidr(cidr);
  return parsed.ok ? formatIpv4((parsed.cidr.network + 10) >>> 0) : cidr;
}

/** Stable device name of an iSCSI LUN (udev's by-path link). */
export function iscsiByPath(portal: string, target: string, lun: number): string {
  return `/dev/disk/by-path/ip-${portal}-iscsi-${target}-lun-${lun}`;
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
      storage: {
        nfs: (f.nfs_exports?.value ?? []).map((n) => ({ export: n.export, path: n.path, options: n.options })),
        iscsi: (f.iscsi_targets?.value ?? []).map((t) => {
          const portal = t.portal.includes(":") ? t.portal : `${t.portal}:3260`;
          return { portal, target: t.target, lun: t.lun, device: t.device ?? iscsiByPath(portal, t.target, t.lun), path: t.path, fstype: t.fstype, format: t.format, options: t.options };
        }),
      },
      sshHostKeys: f.ssh_host_keys?.value ?? [],
      sshPrivateKeyFile: stringVar(host.raw.get("ansible_ssh_private_key_file")?.value ?? host.raw.get("ansible_private_key_file")?.value),
    };
  };

  const hosts = facts.hosts.map(toHost);
  const servers = hosts.filter((h) => h.role === "server");
  const agents = hosts.filter((h) => h.role === "agent");

  const labels: string[] = [];
  for (const host of hosts) if (!labels.includes(host.label)) labels.push(host.label);
  const bgpSettings = cilium.bgp;
  const bgp = bgpSettings
    ? {
        localAsn: bgpSettings.local_asn,
        api: effectiveBgpApi(cilium.version, bgpSettings.api),
        groups: labels
          .filter((label) => bgpSettings.peers[label] !== undefined)
          .map((label): BgpGroup => {
            const members = hosts.filter((h) => h.label === label);
            const override = bgpSettings.sessions[label] ?? {};
            const shared = bgpSettings.session;
            const session: BgpSessionOut = {
              ebgp_multihop: override.ebgp_multihop ?? shared.ebgp_multihop,
              hold_time: override.hold_time ?? shared.hold_time,
              keepalive_time: override.keepalive_time ?? shared.keepalive_time,
              connect_retry: override.connect_retry ?? shared.connect_retry,
              graceful_restart: override.graceful_restart ?? shared.graceful_restart,
            };
            return {
              label,
              hosts: members.map((h) => h.name),
              subnets: [...new Set(members.map((h) => h.subnet?.cidr).filter((c): c is string => c !== undefined))],
              peers: (bgpSettings.peers[label] ?? []).map((p) => ({ name: p.name ?? peerName(p.address), address: p.address, asn: p.asn })),
              session: sessionModel(session),
            };
          }),
      }
    : undefined;

  const media = required(facts.media, "media settings").value;
  const edge = required(facts.edge, "edge settings").value;
  const ports = required(facts.local, "local settings").value.ports;
  const firstServer = required(servers[0], "a K3s server");
  const vipAddress = k3s.api_vip;
  const vip: ApiVip | undefined =
    vipAddress === undefined
      ? undefined
      : {
          address: vipAddress,
          prefix: firstServer.subnet?.prefix,
          holder: k3s.api_vip_holder,
          vrrp: {
            routerId: k3s.vrrp?.router_id ?? (Number(vipAddress.split(".")[3]) || 255),
            interface: k3s.vrrp?.interface,
            password: k3s.vrrp?.password,
            priorities: servers.map((h, i) => ({ host: h.name, priority: Math.max(1, 150 - 10 * i) })),
          },
        };
  const airgapSettings = facts.airgap?.value;
  const images = required(facts.images, "images settings").value;
  const dnsSettings = facts.dns?.value;
  const workerLabels: string[] = [];
  for (const agent of agents) if (!workerLabels.includes(agent.label)) workerLabels.push(agent.label);
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
      vip,
      clusterCidr: k3s.cluster_cidr,
      serviceCidr: k3s.service_cidr,
      clusterDns: k3s.cluster_dns ?? tenthAddress(k3s.service_cidr),
      clusterDomain: k3s.cluster_domain,
      secretsEncryption: k3s.secrets_encryption,
      serverConfig: k3s.server_config,
      agentConfig: k3s.agent_config,
    },
    cilium: {
      version: cilium.version,
      chartRepo: cilium.chart_repo,
      bgp,
      lbPool: facts.lbPool.map((b) => b.value),
      lbPoolField: effectiveLbPoolField(cilium.version, cilium.lb_pool_field),
    },
    airgap:
      airgapSettings === undefined
        ? undefined
        : {
            k3sBinary: airgapSettings.k3s_binary,
            k3sImages: airgapSettings.k3s_images,
            k3sChecksums: airgapSettings.k3s_checksums,
            ciliumChart: airgapSettings.cilium_chart,
            imageArchives: airgapSettings.image_archives,
          },
    images: {
      archiveDir: images.archive_dir,
      registry:
        images.registry === undefined
          ? undefined
          : { address: images.registry.address, username: images.registry.username, password: images.registry.password, caFile: images.registry.ca_file },
    },
    dns:
      dnsSettings === undefined
        ? undefined
        : {
            name: dnsSettings.name,
            server: dnsSettings.server,
            port: dnsSettings.port,
            zone: dnsSettings.zone ?? (dnsSettings.name.includes(".") ? dnsSettings.name.slice(dnsSettings.name.indexOf(".") + 1) : dnsSettings.name),
            ttl: dnsSettings.ttl,
            tsig: dnsSettings.tsig === undefined ? undefined : { name: dnsSettings.tsig.name, algorithm: dnsSettings.tsig.algorithm, secret: dnsSettings.tsig.secret },
          },
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
    edge: {
      cacheMb: edge.cache_mb,
      segmentTtl: edge.segment_ttl,
      playlistTtl: edge.playlist_ttl,
      groups: workerLabels.map((label) => {
        const workers = agents.filter((a) => a.label === label).map((a) => a.name);
        const own = edge.groups[label];
        return { label, workers, replicas: own?.replicas ?? workers.length, cacheMb: own?.cache_mb ?? edge.cache_mb };
      }),
    },
    localPorts: { edge: ports.edge, origin: ports.origin, router: ports.router, redis: ports.redis, mediaHttp: ports.media_http, mediaRtmp: ports.media_rtmp },
  };
}

/**
 * The inventory schema: one source for the TypeScript types, the runtime checks and the JSON
 * Schema that `edgelab schema` prints for editors. Pure.
 *
 * The inventory is an Ansible YAML inventory: groups under `all.children`, hosts under a group's
 * `hosts`, variables under `vars`. Host variables may be set on the host or inherited from any
 * enclosing group's `vars` (Ansible precedence: host > child group > parent group > all).
 * Lab-wide settings live in `all.vars`.
 */
import { z } from "zod";

/* ------------------------------------------------------------------ secrets */

const SecretEnv = z
  .strictObject({
    env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name")
      .describe("Name of the environment variable that holds the secret."),
  })
  .describe("Read the secret from an environment variable at run time.");

const SecretFile = z
  .strictObject({
    file: z
      .string()
      .min(1)
      .describe("Path of a file holding the secret (relative to the inventory; must be mode 0600)."),
  })
  .describe("Read the secret from a file that only its owner can read.");

const SecretGenerate = z
  .strictObject({
    generate: z
      .literal(true)
      .describe("Generate a random secret once and keep it in .edgelab/secrets/ (mode 0600)."),
  })
  .describe("Let edgelab generate the secret and keep it beside the inventory.");

const SecretVault = z
  .strictObject({
    vault: z
      .string()
      .regex(/^\$ANSIBLE_VAULT;/, "must be Ansible Vault ciphertext")
      .describe("Ansible Vault ciphertext, as written by `ansible-vault encrypt_string`."),
  })
  .describe("An inline Ansible Vault value (`!vault |` in YAML).");

/**
 * A secret: never a literal. Strings are accepted by the schema only so that the validator can
 * tell Jinja references to vault variables (`"{{ vault_k3s_token }}"`) from secrets pasted
 * inline, which it flags with a hint.
 */
export const SecretRef = z
  .union([
    SecretEnv,
    SecretFile,
    SecretGenerate,
    SecretVault,
    z
      .string()
      .describe(
        "A Jinja reference to an Ansible Vault variable, e.g. \"{{ vault_k3s_token }}\". Literal secrets are rejected.",
      ),
  ])
  .describe(
    "Where a secret comes from: {env: NAME}, {file: path}, {generate: true}, an `!vault` value, or \"{{ vault_var }}\". Never the secret itself.",
  );
export type SecretRef = z.infer<typeof SecretRef>;

/* ------------------------------------------------------------------ primitives */

const Ipv4 = z.ipv4();
export const Cidr4 = z.cidrv4();
const DnsLabel = z
  .string()
  .regex(
    /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i,
    "must be a DNS label: letters, digits and '-', at most 63 characters, not starting or ending with '-'",
  );
const DnsName = z
  .string()
  .max(253)
  .regex(
    /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i,
    "must be a DNS name such as live.example.com",
  );
/** VLAN ids 1–4094 (0 and 4095 are reserved by 802.1Q). */
const VlanId = z.int().min(1).max(4094);
/** 32-bit ASN (RFC 6793); reserved values are checked by the validator with a clearer message. */
const Asn = z.int().min(1).max(4294967295);

/* ------------------------------------------------------------------ host variables */

/** Variables that describe one VM / host. Allowed on a host and in any group's `vars`. */
export const HostFields = {
  ansible_host: Ipv4.describe("IPv4 address of the host; also its static address (ipconfig0) on Proxmox."),
  ansible_user: z.string().min(1).describe("SSH user Ansible connects as; also the cloud-init user on Proxmox."),
  ansible_port: z.int().min(1).max(65535).describe("SSH port (default 22)."),
  vmid: z
    .int()
    .min(100)
    .max(999999999)
    .describe("Proxmox VM id to create (100–999999999). Explicit ids avoid nextid races between parallel clones."),
  proxmox_node: z.string().min(1).describe("Proxmox node to place this VM on (default: proxmox.node)."),
  storage: z.string().min(1).describe("Proxmox storage for the VM's disks (default: proxmox.storage)."),
  vcpus: z.int().positive().describe("Number of virtual CPU cores."),
  memory: z.int().positive().describe("Memory in MiB."),
  disk: z.int().positive().describe("Boot disk size in GiB; grown from the template's size, never shrunk."),
  data_vlan: VlanId.describe("VLAN id (802.1Q tag, 1–4094) of the host's data NIC; must be listed in network.vlans."),
  label: DnsLabel.describe(
    "Node group label, e.g. master, west-worker, east-worker. Becomes the K3s node label bgp-group=<label> and selects the host's BGP peers (cilium.bgp.peers.<label>).",
  ),
  ansible_password: SecretRef.describe("SSH password (prefer keys). A secret: env/file/vault only."),
  ansible_become_password: SecretRef.describe("sudo password. A secret: env/file/vault only."),
} as const;

export const HOST_FIELD_NAMES = Object.keys(HostFields) as readonly (keyof typeof HostFields)[];

const hostVarsShape = Object.fromEntries(
  Object.entries(HostFields).map(([key, schema]) => [key, schema.optional()]),
) as { [K in keyof typeof HostFields]: z.ZodOptional<(typeof HostFields)[K]> };

/** A host's own variables. Unknown keys are allowed (they are Ansible variables). */
export const HostVars = z
  .looseObject(hostVarsShape)
  .describe("Variables of one host. Any edgelab host field may also be set in an enclosing group's vars.");
export type HostVars = z.infer<typeof HostVars>;

/* ------------------------------------------------------------------ lab-wide settings */

export const LabSettings = z
  .strictObject({
    name: DnsLabel.default("edgelab").describe(
      "Name of this lab; tags and describes every VM edgelab creates so it only ever touches its own.",
    ),
    provider: z
      .enum(["local", "proxmox"])
      .default("local")
      .describe("Where the lab runs: `local` (processes on loopback, one machine) or `proxmox` (VMs + K3s)."),
  })
  .describe("What this lab is and where it runs.");

export const ProxmoxSettings = z
  .strictObject({
    url: z
      .url({ protocol: /^https?$/ })
      .describe("API endpoint, e.g. https://pve01.example.com:8006. Overridden by PROXMOX_URL."),
    node: z.string().min(1).describe("Node that holds the template and receives the clones."),
    template: z.int().min(100).describe("VM id of the cloud-init template to clone."),
    clone: z
      .enum(["full", "linked"])
      .default("full")
      .describe("Full clones copy the disk (any storage); linked clones share the template's base disk."),
    bridge: z.string().min(1).default("vmbr0").describe("Bridge the VMs' NIC attaches to; the host's data_vlan is the tag."),
    storage: z.string().min(1).optional().describe("Default storage for VM disks (a host's `storage` overrides)."),
    pool: z.string().min(1).optional().describe("Resource pool to put the VMs in."),
    token_id: z
      .string()
      .regex(/^[^@!\s]+@[^@!\s]+![^@!\s]+$/, "must look like user@realm!tokenname")
      .optional()
      .describe("API token id (user@realm!name). Overridden by PROXMOX_TOKEN_ID. The secret comes from the environment."),
    token_secret: SecretRef.optional().describe("API token secret. Default: {env: PROXMOX_TOKEN_SECRET}."),
    tls_fingerprint: z
      .string()
      .regex(/^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$/, "must be a SHA-256 fingerprint: 32 hex bytes separated by ':'")
      .optional()
      .describe("Pinned SHA-256 fingerprint of the API certificate (for self-signed hosts). Overridden by PROXMOX_TLS_FINGERPRINT."),
    ca_file: z.string().min(1).optional().describe("PEM file with the CA that signed the API certificate."),
    ssh_keys: z
      .array(z.string().regex(/^(ssh-|ecdsa-|sk-)\S+ \S+/, "must be an OpenSSH public key line"))
      .default([])
      .describe("OpenSSH public keys cloud-init installs for the host's ansible_user."),
  })
  .describe("Proxmox VE endpoint and clone settings (provider: proxmox).");

export const VlanSettings = z
  .strictObject({
    id: VlanId.describe("802.1Q VLAN id, 1–4094."),
    name: z.string().min(1).optional().describe("Human name, e.g. dc-east."),
    subnet: Cidr4.describe("IPv4 subnet of the VLAN with its prefix, e.g. 172.16.221.0/24."),
    gateway: Ipv4.describe("Default gateway of the subnet; must lie inside it."),
  })
  .describe("One L2 segment the hosts attach to.");

export const NetworkSettings = z
  .strictObject({
    vlans: z.array(VlanSettings).min(1).describe("Subnets per VLAN. Every host's data_vlan must be listed here."),
    nameservers: z.array(Ipv4).default([]).describe("DNS servers given to the hosts (cloud-init)."),
    search_domain: DnsName.optional().describe("DNS search domain given to the hosts (cloud-init)."),
  })
  .describe("The node networks: one subnet per VLAN.");

export const K3sSettings = z
  .strictObject({
    version: z
      .string()
      .regex(/^v\d+\.\d+\.\d+\+k3s\d+$/, "must be a K3s release such as v1.34.3+k3s1")
      .default("v1.34.3+k3s1")
      .describe("K3s release to install (INSTALL_K3S_VERSION)."),
    token: SecretRef.default({ generate: true }).describe("Cluster join token. Generated once and kept secret by default."),
    api_vip: Ipv4.optional().describe("Virtual IP for the Kubernetes API (tls-san); default: the first server's address."),
    cluster_cidr: Cidr4.default("10.42.0.0/16").describe("Pod network (cluster-cidr)."),
    service_cidr: Cidr4.default("10.43.0.0/16").describe("Service network (service-cidr)."),
    allow_even_servers: z
      .boolean()
      .default(false)
      .describe("Allow an even number of servers. etcd needs a majority: 2 servers tolerate no failure, 4 tolerate one like 3."),
  })
  .describe("K3s cluster settings (HA with embedded etcd).");

export const BgpPeer = z
  .strictObject({
    name: DnsLabel.optional().describe("Peer name (e.g. region-router01); default derived from the address."),
    address: Ipv4.describe("Peer router address (a bare IPv4 address)."),
    asn: Asn.describe("Peer's autonomous system number."),
  })
  .describe("A BGP neighbour of a node group.");

export const CiliumSettings = z
  .strictObject({
    version: z
      .string()
      .regex(/^\d+\.\d+\.\d+$/, "must be a Cilium release such as 1.19.1")
      .default("1.19.1")
      .describe("Cilium release (Helm chart version)."),
    bgp: z
      .strictObject({
        local_asn: Asn.describe("The cluster's ASN (use a private ASN: 64512–65534 or 4200000000–4294967294)."),
        peers: z
          .record(DnsLabel, z.array(BgpPeer).min(1))
          .default({})
          .describe("BGP peers per node label: every label that has hosts needs at least one peer."),
      })
      .optional()
      .describe("BGP control plane: the cluster's ASN and the routers each node group peers with."),
    lb_pool: z
      .array(Cidr4)
      .default([])
      .describe("CIDR blocks LB-IPAM assigns LoadBalancer addresses from (advertised over BGP)."),
  })
  .describe("Cilium CNI, BGP peering and LB-IPAM.");

export const DnsSettings = z
  .strictObject({
    name: DnsName.describe("DNS name viewers use for the service, e.g. live.example.com."),
  })
  .describe("DNS for the service address.");

export const StreamSettings = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "must be lowercase letters, digits, '-' or '_' (it becomes a URL path segment)")
      .describe("Stream name; viewers play /hls/<name>/index.m3u8."),
    key: SecretRef.default({ generate: true }).describe("Publishing key for the stream (a secret)."),
    source: z
      .union([
        z.strictObject({ type: z.literal("testsrc").describe("The ffmpeg test pattern (testsrc2) with a tone.") }).describe("Generated test stream."),
        z
          .strictObject({
            type: z.literal("url").describe("Pull the stream from a URL."),
            url: z
              .string()
              .regex(/^(rtmp|rtsp|srt|https?):\/\/\S+$/, "must be an rtmp://, rtsp://, srt:// or http(s):// URL")
              .describe("Camera or encoder URL, e.g. rtsp://camera.example.com/stream1."),
          })
          .describe("A camera or encoder pulled in with ffmpeg."),
        z
          .strictObject({
            type: z
              .literal("external")
              .describe("Your own encoder (OBS, ffmpeg, a hardware encoder) publishes to the lab's RTMP ingest with the stream key (`edgelab keys show <stream>`)."),
          })
          .describe("An encoder you run yourself; the lab starts no source and waits for it (reported as \"waiting for publisher\", not a failure)."),
      ])
      .default({ type: "testsrc" })
      .describe("What feeds the stream in the lab: the ffmpeg test pattern, a camera/encoder URL to pull, or your own encoder publishing to it."),
  })
  .describe("A live stream the lab carries.");

const Seconds = (what: string, fallback: number) => z.number().positive().max(3600).default(fallback).describe(what);

export const Rendition = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9]+$/, "must be lowercase letters and digits, e.g. 360p").describe("Suffix of the rendition, e.g. 360p (URLs: /hls/<stream>_360p/index.m3u8)."),
    width: z.int().min(16).max(7680).describe("Frame width in pixels."),
    height: z.int().min(16).max(4320).describe("Frame height in pixels."),
    video_kbps: z.int().min(50).max(100000).describe("Video bit rate in kbit/s."),
    audio_kbps: z.int().min(16).max(512).default(96).describe("Audio bit rate in kbit/s."),
  })
  .describe("One rung of the ABR ladder.");

export const MediaSettings = z
  .strictObject({
    servers: z.int().min(1).max(64).default(2).describe("Number of media servers (RTMP ingest + packaging); streams are spread across them."),
    fps: z.int().min(1).max(120).default(30).describe("Frame rate of the test sources; the GOP is fps × hls.fragment so segments cut on keyframes."),
    hls: z
      .strictObject({
        fragment: Seconds("HLS segment length in seconds (hls_fragment).", 2),
        playlist_length: Seconds("HLS playlist window in seconds (hls_playlist_length); keep it ≥ 6 fragments.", 12),
      })
      .default({ fragment: 2, playlist_length: 12 })
      .describe("HLS packaging."),
    dash: z
      .strictObject({
        enabled: z.boolean().default(true).describe("Package DASH too."),
        fragment: Seconds("DASH segment length in seconds.", 2),
        playlist_length: Seconds("DASH window in seconds.", 12),
      })
      .default({ enabled: true, fragment: 2, playlist_length: 12 })
      .describe("DASH packaging."),
    rtmp_playback: z.boolean().default(false).describe("Allow RTMP playback from the media servers (off: viewers use HLS/DASH only)."),
    record: z
      .strictObject({
        path: z.string().min(1).describe("Directory recordings are written to (relative paths: under the lab's state directory)."),
        unique: z.boolean().default(true).describe("Append a timestamp to each recording's name (record_unique)."),
      })
      .optional()
      .describe("Record every published stream (record all)."),
    push: z
      .array(z.string().regex(/^rtmps?:\/\/\S+$/, "must be an rtmp:// URL"))
      .default([])
      .describe("RTMP relays every published stream is pushed to (push)."),
    abr: z.array(Rendition).default([]).describe("ABR ladder: each published stream is transcoded to these renditions, with an HLS master playlist /hls/<stream>.m3u8."),
  })
  .describe("Origin media servers: ingest, packaging, publishing rules.");

export const EdgeSettings = z
  .strictObject({
    cache_mb: z.int().min(8).max(65536).default(256).describe("Size of each edge's cache (memory-backed in the cluster) in MiB."),
    segment_ttl: z.int().min(10).max(86400).default(600).describe("How long a media segment stays cached, in seconds."),
    playlist_ttl: z.int().min(1).max(10).default(1).describe("How long a playlist or MPD stays cached, in whole seconds (nginx cache times are whole seconds); the origin also tells edges to drop playlists at the end of each second."),
  })
  .describe("Edge caches (one per worker host).");

export const LocalSettings = z
  .strictObject({
    ports: z
      .strictObject({
        edge: z.int().min(1024).max(65535).default(8080).describe("HTTP port of each edge (on its worker's address)."),
        origin: z.int().min(1024).max(65535).default(8000).describe("HTTP port of the origin front (stream-key router's nginx)."),
        router: z.int().min(1024).max(65535).default(8001).describe("Port of the stream-key router service."),
        redis: z.int().min(1024).max(65535).default(6390).describe("Port of redis."),
        media_http: z.int().min(1024).max(65535).default(8100).describe("HTTP port of media server 0 (server i uses this + i)."),
        media_rtmp: z.int().min(1024).max(65535).default(1935).describe("RTMP port of media server 0 (server i uses this + i)."),
      })
      .default({ edge: 8080, origin: 8000, router: 8001, redis: 6390, media_http: 8100, media_rtmp: 1935 })
      .describe("Ports of the local lab's processes (each on its host's loopback address)."),
  })
  .describe("Local lab (provider local) settings.");

const labSettingsShape = {
  lab: LabSettings.optional(),
  proxmox: ProxmoxSettings.optional(),
  network: NetworkSettings.optional(),
  k3s: K3sSettings.optional(),
  cilium: CiliumSettings.optional(),
  dns: DnsSettings.optional(),
  streams: z.array(StreamSettings).optional().describe("Live streams the lab carries (default: one test stream named live)."),
  media: MediaSettings.optional(),
  edge: EdgeSettings.optional(),
  local: LocalSettings.optional(),
};

export const LAB_SETTING_NAMES = Object.keys(labSettingsShape) as readonly (keyof typeof labSettingsShape)[];

/** `all.vars`: lab-wide settings plus defaults for every host variable. */
export const AllVars = z
  .looseObject({ ...labSettingsShape, ...hostVarsShape })
  .describe("Lab-wide settings, plus defaults for host variables (hosts and groups override them).");
export type AllVars = z.infer<typeof AllVars>;

/* ------------------------------------------------------------------ groups */

export interface Group {
  vars?: HostVars | null | undefined;
  hosts?: Record<string, HostVars | null> | null | undefined;
  children?: Record<string, Group | null> | null | undefined;
}

const GroupVarsDesc = "Variables for every host in this group and its sub-groups.";
const HostsDesc = "Hosts of this group, by inventory hostname (also the VM name).";

export const Group: z.ZodType<Group> = z
  .strictObject({
    vars: HostVars.nullable().optional().describe(GroupVarsDesc),
    hosts: z
      .record(z.string(), HostVars.nullable())
      .nullable()
      .optional()
      .describe(HostsDesc),
    get children() {
      return z.record(z.string(), Group.nullable()).nullable().optional().describe("Sub-groups.");
    },
  })
  .describe("An Ansible group.");

const K3sCluster = z
  .strictObject({
    vars: HostVars.nullable().optional().describe(GroupVarsDesc),
    hosts: z.record(z.string(), HostVars.nullable()).nullable().optional().describe(HostsDesc),
    children: z
      .looseObject({
        master: Group.describe("K3s servers (control plane + embedded etcd). Use an odd number: 1, 3 or 5."),
        node: Group.optional().describe("K3s agents (workers): the edges run here."),
      })
      .catchall(Group.nullable())
      .describe("`master` (servers) and `node` (agents) groups."),
  })
  .describe("The K3s cluster: every host edgelab manages is in this group.");

export const Inventory = z
  .strictObject({
    all: z
      .strictObject({
        vars: AllVars.optional(),
        hosts: z.record(z.string(), HostVars.nullable()).nullable().optional().describe("Hosts outside any group (edgelab ignores them)."),
        children: z
          .looseObject({ k3s_cluster: K3sCluster })
          .catchall(Group.nullable())
          .describe("Top-level groups; edgelab manages the hosts under k3s_cluster."),
      })
      .describe("The Ansible `all` group."),
  })
  .describe("An edgelab inventory: an Ansible YAML inventory with edgelab's settings in all.vars.");
export type Inventory = z.infer<typeof Inventory>;

/** Settings after defaults are applied. */
export type LabSettingsOut = z.output<typeof LabSettings>;
export type ProxmoxSettingsOut = z.output<typeof ProxmoxSettings>;
export type NetworkSettingsOut = z.output<typeof NetworkSettings>;
export type K3sSettingsOut = z.output<typeof K3sSettings>;
export type CiliumSettingsOut = z.output<typeof CiliumSettings>;
export type DnsSettingsOut = z.output<typeof DnsSettings>;
export type VlanSettingsOut = z.output<typeof VlanSettings>;
export type StreamSettingsOut = z.output<typeof StreamSettings>;
export type BgpPeerOut = z.output<typeof BgpPeer>;
export type MediaSettingsOut = z.output<typeof MediaSettings>;
export type EdgeSettingsOut = z.output<typeof EdgeSettings>;
export type LocalSettingsOut = z.output<typeof LocalSettings>;

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
import { checkPublicKeyLine } from "../util/ssh-public-key.js";

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

const AbsolutePath = z.string().regex(/^\/[^\0\s]*$/, "must be an absolute path without spaces, e.g. /mnt/data");

const SshPublicKey = z
  .string()
  .regex(/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( \S.*)?$/, "must be an OpenSSH public key line such as 'ssh-ed25519 AAAA...'");

export const NfsExport = z
  .strictObject({
    export: z
      .string()
      .regex(/^[A-Za-z0-9.-]+:\/\S*$/, "must be server:/path, e.g. 172.16.221.10:/export/longhorn")
      .describe("The export as server:/path, e.g. 172.16.221.10:/export/longhorn."),
    path: AbsolutePath.describe("Where it is mounted on the host, e.g. /mnt/longhorn/data."),
    options: z.string().regex(/^\S+$/, "must be comma-separated mount options without spaces").default("defaults,_netdev").describe("Mount options (fstab), comma-separated."),
  })
  .describe("An NFS export the host mounts.");

export const IscsiTarget = z
  .strictObject({
    portal: z
      .string()
      .regex(/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}(:\d{1,5})?$/, "must be an IPv4 address with an optional port, e.g. 172.16.221.10:3260")
      .describe("Portal address[:port] (port 3260 by default) the host discovers targets on."),
    target: z
      .string()
      .regex(/^(iqn\.\d{4}-\d{2}\.[a-z0-9.-]+(:\S+)?|eui\.[0-9A-Fa-f]{16}|naa\.[0-9A-Fa-f]{16,32})$/, "must be an iSCSI name: iqn.YYYY-MM.reversed.domain[:name], eui.<16 hex> or naa.<hex>")
      .describe("Target name (IQN), e.g. iqn.2024-04.com.example:storage.lab-k3s01."),
    lun: z.int().min(0).max(16383).default(0).describe("Logical unit number."),
    device: AbsolutePath.optional().describe("Block device of the LUN once logged in. Default: its stable name /dev/disk/by-path/ip-<portal>-iscsi-<target>-lun-<lun> (never /dev/sdX, which can change between boots)."),
    path: AbsolutePath.describe("Where the filesystem is mounted, e.g. /mnt/iscsi."),
    fstype: z.enum(["ext4", "xfs"]).default("ext4").describe("Filesystem on the LUN."),
    format: z
      .boolean()
      .default(false)
      .describe("Create the filesystem when the device is empty. Off by default; even when on, a device holding a filesystem or a partition table is never formatted (wipe it yourself if that is what you want)."),
    options: z.string().regex(/^\S+$/, "must be comma-separated mount options without spaces").default("defaults,_netdev").describe("Mount options (fstab); keep _netdev so boot waits for the network."),
  })
  .describe("An iSCSI LUN the host logs in to and mounts.");

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
  nfs_exports: z
    .array(NfsExport)
    .describe("NFS exports this host mounts (the storage role: nfs-common, mount point, fstab entry)."),
  iscsi_targets: z
    .array(IscsiTarget)
    .describe("iSCSI LUNs this host logs in to and mounts. A device is formatted only when its entry says `format: true` and it holds no filesystem and no partition table."),
  ssh_host_keys: z
    .array(SshPublicKey)
    .describe("The host's SSH host public keys (`ssh-ed25519 AAAA...`, as in /etc/ssh/ssh_host_*_key.pub). Optional: edgelab reads them from VMs it provisions; give them for hosts it did not create, so SSH is verified from the first connection."),
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
      .regex(/^(?:sha-?256\s*)?(?:fingerprint\s*)?[=:]?\s*(?:[0-9a-f]{2}:?){31}[0-9a-f]{2}$/i, "must be a SHA-256 fingerprint: 32 hex bytes (AA:BB:..., with or without colons, or as `openssl x509 -fingerprint -sha256` prints it)")
      .optional()
      .describe("Pinned SHA-256 fingerprint of the node's API certificate, as users paste it: AA:BB:..., lower case, without colons, or with openssl's `sha256 Fingerprint=` prefix. The pin is the trust decision whatever issued the certificate (a fresh node's is signed by its cluster CA). Overridden by --tls-fingerprint and PROXMOX_TLS_FINGERPRINT."),
    ca_file: z.string().min(1).optional().describe("PEM file with the CA that signed the API certificate."),
    ssh_keys: z
      .array(
        z
          .string()
          .superRefine((line, ctx) => {
            const checked = checkPublicKeyLine(line);
            if (!checked.ok) ctx.addIssue({ code: "custom", message: `${checked.reason} (${checked.hint})` });
          })
          // For editors (JSON Schema only): the shape of a key line; the check above is the full one.
          .meta({ pattern: "^(ssh-|ecdsa-|sk-)\\S+\\s+AAAA[A-Za-z0-9+/]+={0,2}(\\s.*)?$" }),
      )
      .default([])
      .describe("OpenSSH public key lines (`ssh-ed25519 AAAA... you@host`, the line of a .pub file) cloud-init installs for the host's ansible_user: Ansible's way in. Never a private key."),
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
    api_vip: Ipv4.optional().describe(
      "Virtual IP of the Kubernetes API: joining nodes and the kubeconfig use it and every server's certificate covers it (tls-san). It must be a free address in the servers' subnet. Default: no VIP; the first server's address is the endpoint.",
    ),
    api_vip_holder: z
      .enum(["keepalived", "external"])
      .default("keepalived")
      .describe("Who answers on api_vip: `keepalived` (the servers hold it with VRRP; edgelab installs and configures keepalived) or `external` (a load balancer or router outside edgelab forwards it to the servers' port 6443)."),
    vrrp: z
      .strictObject({
        router_id: z.int().min(1).max(255).optional().describe("VRRP virtual router id, unique among the VRRP instances of the servers' segment. Default: the last octet of api_vip (255 when it is 0)."),
        interface: z.string().regex(/^[A-Za-z0-9_.:@-]{1,15}$/, "must be a network interface name such as eth0").optional().describe("Interface that carries api_vip. Default: the interface holding the server's ansible_host address."),
        password: SecretRef.optional().describe("VRRP password (PASS authentication: keepalived uses its first 8 characters and sends them in clear text; it guards against mistakes, not attackers). Default: none."),
      })
      .optional()
      .describe("keepalived settings when api_vip_holder is keepalived. Priorities follow the order of the servers in the inventory (the first server is preferred)."),
    cluster_cidr: Cidr4.default("10.42.0.0/16").describe("Pod network (cluster-cidr)."),
    service_cidr: Cidr4.default("10.43.0.0/16").describe("Service network (service-cidr)."),
    cluster_dns: Ipv4.optional().describe("Address of the cluster DNS Service (cluster-dns); must lie in service_cidr. Default: the 10th address of service_cidr (10.43.0.10 with the default)."),
    cluster_domain: DnsName.default("cluster.local").describe("Cluster DNS domain (cluster-domain)."),
    secrets_encryption: z.boolean().default(true).describe("Encrypt Secrets at rest in etcd (secrets-encryption)."),
    server_config: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.array(z.string())]))
      .default({})
      .describe("Further K3s config keys for every server (e.g. kube-apiserver-arg), merged into the rendered config.yaml. Each must be a real K3s server key of the right type; keys edgelab sets itself are refused, except tls-san, node-label and disable, whose items are added."),
    agent_config: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.array(z.string())]))
      .default({})
      .describe("Further K3s config keys for every agent (e.g. kubelet-arg), checked and merged the same way."),
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

const bgpSessionShape = {
  ebgp_multihop: z.int().min(1).max(255).describe("TTL of eBGP packets (ebgpMultihop): 1 when the router is on the nodes' subnet, more when it is further away. The router side uses the same value."),
  hold_time: z.int().min(3).max(65535).describe("Hold time in seconds: the session drops when nothing arrives for this long."),
  keepalive_time: z.int().min(1).max(65535).describe("Keepalive interval in seconds; at most a third of hold_time."),
  connect_retry: z.int().min(1).max(3600).describe("Seconds between attempts to open the session."),
  graceful_restart: z
    .strictObject({
      enabled: z.boolean().default(false).describe("Ask the router to keep this node's routes while the Cilium agent restarts."),
      restart_time: z.int().min(1).max(4095).default(120).describe("Seconds the router keeps the routes of a restarting node."),
    })
    .describe("BGP graceful restart (RFC 4724). Off by default: while a node's routes are kept, traffic to a node that is really gone is lost until restart_time ends."),
} as const;

export const BGP_SESSION_DEFAULTS = {
  ebgp_multihop: 1,
  hold_time: 90,
  keepalive_time: 30,
  connect_retry: 120,
  graceful_restart: { enabled: false, restart_time: 120 },
} as const;

export const BgpSession = z
  .strictObject({
    ebgp_multihop: bgpSessionShape.ebgp_multihop.default(BGP_SESSION_DEFAULTS.ebgp_multihop),
    hold_time: bgpSessionShape.hold_time.default(BGP_SESSION_DEFAULTS.hold_time),
    keepalive_time: bgpSessionShape.keepalive_time.default(BGP_SESSION_DEFAULTS.keepalive_time),
    connect_retry: bgpSessionShape.connect_retry.default(BGP_SESSION_DEFAULTS.connect_retry),
    graceful_restart: bgpSessionShape.graceful_restart.default(BGP_SESSION_DEFAULTS.graceful_restart),
  })
  .describe("Session settings of the cluster's BGP peerings (Cilium's BGP peer config and the routers' side).");

export const BgpSessionOverride = z
  .strictObject({
    ebgp_multihop: bgpSessionShape.ebgp_multihop.optional(),
    hold_time: bgpSessionShape.hold_time.optional(),
    keepalive_time: bgpSessionShape.keepalive_time.optional(),
    connect_retry: bgpSessionShape.connect_retry.optional(),
    graceful_restart: bgpSessionShape.graceful_restart.optional(),
  })
  .describe("Settings of one node group's sessions; what is not set comes from cilium.bgp.session.");

export const CiliumSettings = z
  .strictObject({
    version: z
      .string()
      .regex(/^\d+\.\d+\.\d+$/, "must be a Cilium release such as 1.19.1")
      .default("1.19.1")
      .describe("Cilium release (Helm chart version), 1.14 or later."),
    chart_repo: z.url({ protocol: /^https?$/ }).default("https://helm.cilium.io/").describe("Helm repository of the Cilium chart (a mirror, for example). Not used when airgap.cilium_chart is set."),
    bgp: z
      .strictObject({
        local_asn: Asn.describe("The cluster's ASN (use a private ASN: 64512–65534 or 4200000000–4294967294)."),
        api: z
          .enum(["auto", "bgpv2", "peering-policy"])
          .default("auto")
          .describe("Which Cilium BGP resources to render: `bgpv2` (CiliumBGPClusterConfig, CiliumBGPPeerConfig, CiliumBGPAdvertisement; Cilium ≥ 1.16), `peering-policy` (the legacy CiliumBGPPeeringPolicy; Cilium ≤ 1.18, removed in 1.19), or `auto`: bgpv2 from Cilium 1.18, the peering policy before."),
        peers: z
          .record(DnsLabel, z.array(BgpPeer).min(1))
          .default({})
          .describe("BGP peers per node label: every label that has hosts needs at least one peer."),
        session: BgpSession.default(BGP_SESSION_DEFAULTS).describe("Session settings for every node group (multihop, timers, graceful restart)."),
        sessions: z
          .record(DnsLabel, BgpSessionOverride)
          .default({})
          .describe("Per node label: session settings that differ from cilium.bgp.session."),
      })
      .optional()
      .describe("BGP control plane: the cluster's ASN and the routers each node group peers with."),
    lb_pool: z
      .array(Cidr4)
      .default([])
      .describe("CIDR blocks LB-IPAM assigns LoadBalancer addresses from (advertised over BGP)."),
    lb_pool_field: z
      .enum(["auto", "blocks", "cidrs"])
      .default("auto")
      .describe("Field of CiliumLoadBalancerIPPool that lists the pool: `blocks` (Cilium ≥ 1.15), `cidrs` (Cilium ≤ 1.15; removed in 1.16), or `auto`: blocks from 1.15, cidrs before."),
  })
  .describe("Cilium CNI, BGP peering and LB-IPAM.");

export const DnsSettings = z
  .strictObject({
    name: DnsName.describe("DNS name viewers use for the service, e.g. live.example.com."),
    server: z
      .union([Ipv4, DnsName])
      .optional()
      .describe("Authoritative DNS server that accepts dynamic updates (RFC 2136) for the zone; edgelab writes the A record of `name` there. Without it, edgelab prints the hosts-file line instead."),
    port: z.int().min(1).max(65535).default(53).describe("Port of the DNS server."),
    zone: DnsName.optional().describe("Zone the record is updated in; `name` must be inside it. Default: `name` without its first label (live.example.com → example.com)."),
    ttl: z.int().min(1).max(86400).default(60).describe("TTL of the record, in seconds."),
    tsig: z
      .strictObject({
        name: DnsName.describe("Name of the TSIG key, as the server knows it (e.g. edgelab-update)."),
        algorithm: z.enum(["hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224"]).default("hmac-sha256").describe("TSIG algorithm."),
        secret: SecretRef.describe("The key's base64 secret (as in BIND's key statement). A secret: env/file/vault only."),
      })
      .optional()
      .describe("TSIG key that signs the updates; required with `server` (edgelab never sends unsigned updates)."),
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
    groups: z
      .record(
        DnsLabel,
        z
          .strictObject({
            replicas: z.int().min(1).max(1000).optional().describe("Edge replicas in this node group. Default: one per worker of the group."),
            cache_mb: z.int().min(8).max(65536).optional().describe("Cache size of each of this group's edges, in MiB. Default: edge.cache_mb."),
          })
          .describe("Edges of one node group."),
      )
      .default({})
      .describe("Per node label (of workers): how many edges run there and how big their caches are. The local lab runs one edge per worker with edge.cache_mb."),
  })
  .describe("Edge caches (one per worker host).");

const FilePath = z.string().min(1).regex(/^[^\0]+$/, "must be a path");

export const AirgapSettings = z
  .strictObject({
    k3s_binary: FilePath.describe("The K3s binary of k3s.version for the nodes' architecture (relative paths: from the inventory's directory)."),
    k3s_images: FilePath.regex(/\.(tar|tar\.gz|tgz|tar\.zst|tar\.lz4|tar\.bz2)$/, "must be an image archive K3s imports: .tar, .tar.gz, .tar.zst, .tar.lz4 or .tar.bz2").describe("K3s' air-gap images archive of the same release (k3s-airgap-images-<arch>.tar.zst)."),
    k3s_checksums: FilePath.optional().describe("The release's sha256sum-<arch>.txt; when given, the binary and the images archive are checked against it before they are copied."),
    cilium_chart: FilePath.regex(/\.tgz$/, "must be a packaged Helm chart (.tgz)").optional().describe("The Cilium chart of cilium.version as a .tgz (helm pull cilium/cilium --version <v>); served to the install job by K3s itself, so no chart repository is needed."),
    image_archives: z
      .array(FilePath.regex(/\.(tar|tar\.gz|tgz|tar\.zst|tar\.lz4|tar\.bz2)$/, "must be an image archive K3s imports: .tar, .tar.gz, .tar.zst, .tar.lz4 or .tar.bz2"))
      .default([])
      .describe("Further image archives imported on every node, e.g. Cilium's images for cilium.version."),
  })
  .describe("Install without internet access: everything the nodes need comes from these files, copied from the machine running edgelab.");

export const ImagesSettings = z
  .strictObject({
    archive_dir: FilePath.default(".edgelab/images").describe("Directory of edgelab's own image archives (origin, edge) as `edgelab images build` writes them; the K3s roles import every archive found there on every node."),
    registry: z
      .strictObject({
        address: z
          .string()
          .regex(/^[A-Za-z0-9.-]+(:\d{1,5})?(\/[a-z0-9._-]+)*$/, "must be host[:port][/namespace], e.g. registry.example.com:5000/edgelab")
          .describe("Registry and namespace edgelab's images are pushed to and pulled from, e.g. ghcr.io/example or registry.example.com:5000/edgelab."),
        username: z.string().min(1).optional().describe("User name for the registry."),
        password: SecretRef.optional().describe("Password or token for the registry. A secret: env/file/vault only."),
        ca_file: FilePath.optional().describe("PEM file with the CA that signed the registry's certificate (otherwise the system's CAs)."),
      })
      .optional()
      .describe("Image registry for edgelab's images (push with `edgelab images build --push`, pull by the nodes with a pull secret). Optional: without it the nodes import the archives."),
  })
  .describe("edgelab's own container images.");

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
  airgap: AirgapSettings.optional(),
  images: ImagesSettings.optional(),
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
export type AirgapSettingsOut = z.output<typeof AirgapSettings>;
export type ImagesSettingsOut = z.output<typeof ImagesSettings>;
export type BgpSessionOut = z.output<typeof BgpSession>;
export type BgpSessionOverrideOut = z.output<typeof BgpSessionOverride>;
export type NfsExportOut = z.output<typeof NfsExport>;
export type IscsiTargetOut = z.output<typeof IscsiTarget>;

/**
 * The wizard's answers and what they become: the inventory's YAML text. Pure: no prompts, no
 * network. The same Answers are what `edgelab init --answers answers.yml` reads, so the
 * interactive path and the answers file produce the same inventory.
 *
 * Every answer is checked by building the candidate inventory and running the validator
 * `edgelab validate` uses; its issues are mapped back to the answer that caused them.
 */
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { formatPath, type Issue, type LocatedIssue, type PathSegment } from "../inventory/issue.js";
import { validateInventoryText } from "../inventory/validate.js";
import { formatIpv4, parseCidr, parseIpv4, prefixMask } from "../util/ipv4.js";
import { checkPublicKeyLine, type ParsedPublicKey } from "../util/ssh-public-key.js";

/* ------------------------------------------------------------------ answers */

const Peer = z.strictObject({
  address: z.string().describe("BGP peer router address."),
  asn: z.int().describe("BGP peer router ASN."),
  name: z.string().optional().describe("Peer name (default derived from the group)."),
});

const Vlan = z.strictObject({
  id: z.int().describe("VLAN id (802.1Q tag)."),
  name: z.string().optional().describe("Human name of the VLAN."),
  subnet: z.string().describe("IPv4 subnet with prefix, e.g. 172.16.221.0/24."),
  gateway: z.string().describe("Gateway of the subnet."),
});

const NodeGroup = {
  vlan: Vlan,
  peer: Peer,
  count: z.int().min(0).describe("Number of hosts."),
  addresses: z.array(z.string()).optional().describe("Addresses (default: proposed from the subnet)."),
  vmids: z.array(z.int()).optional().describe("VM ids (default: proposed from a free range)."),
  names: z.array(z.string()).optional().describe("Host (VM) names (default: proposed)."),
};

export const Answers = z
  .strictObject({
    provider: z.literal("proxmox").optional().describe("Where the lab runs (proxmox; see LocalAnswers for local)."),
    name: z.string().default("edgelab").describe("Lab name."),
    proxmox: z.strictObject({
      url: z.string(),
      node: z.string(),
      template: z.int(),
      storage: z.string(),
      bridge: z.string().default("vmbr0"),
      clone: z.enum(["full", "linked"]).default("full"),
      token_id: z.string(),
      tls_fingerprint: z.string().optional(),
    }),
    user: z.string().default("ansibleuser").describe("SSH / cloud-init user."),
    ssh_keys: z
      .array(z.string())
      .default([])
      .describe("OpenSSH public key lines (`ssh-ed25519 AAAA... you@host`) cloud-init installs for `user`: Ansible's way in to the VMs. Written to proxmox.ssh_keys. At least one key is needed, here or in ssh_key_files."),
    ssh_key_files: z
      .array(z.string())
      .default([])
      .describe("Public key files (.pub, or one key per line) whose keys are added to ssh_keys; `~/` is the home directory, a relative path is from the answers file. The keys, not the paths, are written."),
    vcpus: z.int().default(4),
    memory: z.int().default(4096),
    disk: z.int().default(32),
    local_asn: z.int().default(64513),
    servers: z.strictObject(NodeGroup),
    workers: z.array(z.strictObject({ label: z.string(), ...NodeGroup })).default([]),
    vmid_start: z.int().default(3001).describe("Where proposed VM ids start."),
    nameservers: z.array(z.string()).default([]),
    search_domain: z.string().optional(),
    k3s_version: z.string().optional(),
    cilium_version: z.string().optional(),
    lb_pool: z.array(z.string()).default([]),
    dns_name: z.string(),
    streams: z.array(z.string()).default(["live"]),
  })
  .describe("Answers of `edgelab init` (also the format of --answers answers.yml).");
export type Answers = z.output<typeof Answers>;
export type AnswersInput = z.input<typeof Answers>;

/** What the wizard knows of the cluster (discovery); empty when not discovered. */
export interface ClusterFacts {
  readonly vmids: readonly number[];
  readonly names: readonly string[];
  /** Boot disk size of the chosen template, GiB. */
  readonly templateDiskGiB?: number | undefined;
}

/* ------------------------------------------------------------------ proposals */

/** Host addresses of `subnet`, skipping the network, broadcast, gateway and `taken`, from offset 10 when the subnet is big enough. */
export function proposeAddresses(subnet: string, gateway: string, count: number, taken: readonly string[] = []): string[] {
  const parsed = parseCidr(subnet);
  if (!parsed.ok) return [];
  const { network, prefix } = parsed.cidr;
  const size = 2 ** (32 - prefix);
  const first = prefix >= 31 ? 0 : 1;
  const last = prefix >= 31 ? size - 1 : size - 2;
  const avoid = new Set<number>([parseIpv4(gateway) ?? -1, ...taken.map((t) => parseIpv4(t) ?? -1)]);
  const start = last - first + 1 > count + 20 ? 10 : first;
  const out: string[] = [];
  for (let offset = start; offset <= last && out.length < count; offset++) {
    const address = (network + offset) >>> 0;
    if (!avoid.has(address)) out.push(formatIpv4(address));
  }
  return out;
}

/** The first `count` consecutive free VM ids from `start` (ids in `taken` are avoided). */
export function proposeVmids(start: number, count: number, taken: readonly number[]): number[] {
  const used = new Set(taken);
  let base = Math.max(100, start);
  for (;;) {
    let free = true;
    for (let i = 0; i < count; i++) {
      if (used.has(base + i)) {
        base = base + i + 1;
        free = false;
        break;
      }
    }
    if (free) return Array.from({ length: count }, (_, i) => base + i);
  }
}

/** `<prefix>NN` names not in `taken`. */
export function proposeNames(prefix: string, count: number, taken: readonly string[]): string[] {
  const used = new Set(taken);
  const out: string[] = [];
  for (let n = 1; out.length < count; n++) {
    const name = `${prefix}${String(n).padStart(2, "0")}`;
    if (!used.has(name)) out.push(name);
  }
  return out;
}

/* ------------------------------------------------------------------ hosts */

export interface PlannedHost {
  readonly name: string;
  readonly address: string;
  readonly vmid: number;
  readonly vlan: number;
  readonly label: string;
  readonly group: "master" | "node";
  /** Where the answer for this host lives, e.g. servers / workers[0]. */
  readonly question: string;
  readonly index: number;
}

/** Every host the answers describe, with proposals filling what was not given. */
export function plannedHosts(answers: Answers, cluster: ClusterFacts = { vmids: [], names: [] }): PlannedHost[] {
  const groups = [
    { question: "servers", group: "master" as const, label: "master", prefix: `${answers.name}-k3s`, ...answers.servers },
    ...answers.workers.map((w, i) => ({ question: `workers[${i}]`, group: "node" as const, prefix: `${w.label}-k3s`, ...w })),
  ];
  const takenAddresses: string[] = [];
  const takenVmids = [...cluster.vmids];
  const takenNames = [...cluster.names];
  for (const g of groups) {
    takenAddresses.push(...(g.addresses ?? []));
    takenVmids.push(...(g.vmids ?? []));
    takenNames.push(...(g.names ?? []));
  }
  const out: PlannedHost[] = [];
  for (const g of groups) {
    const addresses = g.addresses ?? proposeAddresses(g.vlan.subnet, g.vlan.gateway, g.count, takenAddresses);
    const vmids = g.vmids ?? proposeVmids(answers.vmid_start, g.count, takenVmids);
    const names = g.names ?? proposeNames(g.prefix, g.count, takenNames);
    if (g.addresses === undefined) takenAddresses.push(...addresses);
    if (g.vmids === undefined) takenVmids.push(...vmids);
    if (g.names === undefined) takenNames.push(...names);
    for (let i = 0; i < g.count; i++) {
      out.push({
        name: names[i] ?? "",
        address: addresses[i] ?? "",
        vmid: vmids[i] ?? 0,
        vlan: g.vlan.id,
        label: g.label,
        group: g.group,
        question: g.question,
        index: i,
      });
    }
  }
  return out;
}

/* ------------------------------------------------------------------ YAML text */

/** A scalar as YAML that reads back as the same value (quoted when needed), safe in flow and block context. */
function scalar(value: string | number): string {
  if (typeof value === "number") return String(value);
  if (/^[A-Za-z0-9_][A-Za-z0-9._/@!+-]*(:[A-Za-z0-9._/@!+-]+)*$/.test(value) && parseYaml(value) === value) return value;
  return JSON.stringify(value);
}

function flowList(values: readonly (string | number)[]): string {
  return `[${values.map(scalar).join(", ")}]`;
}

function vlanLine(v: Answers["servers"]["vlan"]): string {
  const name = v.name !== undefined ? `, name: ${scalar(v.name)}` : "";
  return `        - {id: ${v.id}${name}, subnet: ${scalar(v.subnet)}, gateway: ${scalar(v.gateway)}}`;
}

/** Where each answer lands in the inventory, so validator issues can be named by question. */
interface Mapping {
  readonly path: readonly PathSegment[];
  readonly question: string;
}

export interface BuiltInventory {
  readonly text: string;
  readonly hosts: readonly PlannedHost[];
  readonly mappings: readonly Mapping[];
}

const V = ["all", "vars"] as const;

type MapAnswer = (question: string, ...path: PathSegment[]) => void;

/** The mappings of an inventory being written, and the function recording one (answer → path). */
function mappingRecorder(): { mappings: Mapping[]; map: MapAnswer } {
  const mappings: Mapping[] = [];
  return {
    mappings,
    map: (question, ...path) => {
      mappings.push({ path, question });
    },
  };
}

/** The streams (each with a generated key), then the head of the hosts' tree: both writers end so. */
function pushStreamsAndHostsHead(L: string[], map: MapAnswer, streams: readonly string[]): void {
  L.push("    streams:");
  streams.forEach((s, i) => {
    L.push(`      - name: ${scalar(s)}`);
    L.push("        key: {generate: true}");
    map(`streams[${i}]`, ...V, "streams", i);
  });
  L.push("  children:");
  L.push("    k3s_cluster:");
  L.push("      children:");
}

/**
 * The answers' public keys that are keys (each with its place in ssh_keys), the first of each
 * key only: what is not a public key (a private key pasted by mistake above all) never reaches
 * the inventory text; keyIssues says why it was left out.
 */
function usableKeys(lines: readonly string[]): { index: number; key: ParsedPublicKey }[] {
  const out: { index: number; key: ParsedPublicKey }[] = [];
  lines.forEach((line, index) => {
    const checked = checkPublicKeyLine(line);
    if (checked.ok && !out.some((k) => k.key.type === checked.key.type && k.key.key === checked.key.key)) out.push({ index, key: checked.key });
  });
  return out;
}

/** What is wrong with the answers' SSH public keys: none given, or a line that is not one. */
export function keyIssues(answers: Answers): AnswerIssue[] {
  if (answers.ssh_keys.length === 0 && answers.ssh_key_files.length === 0) {
    return [
      {
        severity: "error",
        question: "ssh_keys",
        message: `no SSH public key for ${answers.user}: cloud-init would install none, and Ansible would have no way to log in to the VMs`,
        hint: "Add your public key to the answers: ssh_keys: [\"ssh-ed25519 AAAA... you@host\"] (the line of your .pub file), or ssh_key_files: [~/.ssh/id_ed25519.pub].",
      },
    ];
  }
  const out: AnswerIssue[] = [];
  answers.ssh_keys.forEach((line, i) => {
    const checked = checkPublicKeyLine(line);
    if (!checked.ok) out.push({ severity: "error", question: `ssh_keys[${i}]`, message: checked.reason, hint: checked.hint });
  });
  return out;
}

/** The inventory text for the answers, laid out like inventories/lab.yml, secrets as references only. */
export function buildInventory(answers: Answers, cluster: ClusterFacts = { vmids: [], names: [] }): BuiltInventory {
  const hosts = plannedHosts(answers, cluster);
  const { mappings, map } = mappingRecorder();
  const p = answers.proxmox;
  const vlans = new Map<number, Answers["servers"]["vlan"]>();
  const vlanQuestion = new Map<number, string>();
  for (const [question, g] of [["servers", answers.servers], ...answers.workers.map((w, i) => [`workers[${i}]`, w] as const)] as const) {
    if (!vlans.has(g.vlan.id)) {
      vlanQuestion.set(g.vlan.id, question);
      vlans.set(g.vlan.id, g.vlan);
    }
  }
  const L: string[] = [];
  L.push("# yaml-language-server: $schema=./inventory.schema.json");
  L.push("#");
  L.push(`# The ${answers.name} lab, written by \`edgelab init\`: ${answers.servers.count} K3s server(s)` + (answers.workers.length > 0 ? ` and ${answers.workers.map((w) => `${w.count} ${w.label} worker(s)`).join(", ")}.` : "."));
  L.push("#");
  L.push("# Secrets are not in this file: the Proxmox token secret comes from PROXMOX_TOKEN_SECRET, the");
  L.push("# K3s token from K3S_TOKEN, the stream keys are generated into .edgelab/secrets/.");
  L.push("#");
  L.push("#   edgelab validate -i <this file>");
  L.push("#   edgelab plan -i <this file>");
  L.push("all:");
  L.push("  vars:");
  L.push("    lab:");
  L.push(`      name: ${scalar(answers.name)}`);
  map("name", ...V, "lab", "name");
  L.push("      provider: proxmox");
  L.push("    # Host defaults (any host or group may override them).");
  L.push(`    ansible_user: ${scalar(answers.user)}`);
  map("user", ...V, "ansible_user");
  L.push(`    storage: ${scalar(p.storage)}`);
  map("proxmox.storage", ...V, "storage");
  L.push(`    vcpus: ${answers.vcpus}`);
  map("vcpus", ...V, "vcpus");
  L.push(`    memory: ${answers.memory}        # MiB`);
  map("memory", ...V, "memory");
  L.push(`    disk: ${answers.disk}            # GiB, grown from the template's disk`);
  map("disk", ...V, "disk");
  L.push("    proxmox:");
  for (const key of ["url", "node", "template", "clone", "bridge", "token_id"] as const) {
    L.push(`      ${key}: ${scalar(p[key])}`);
    map(`proxmox.${key}`, ...V, "proxmox", key);
  }
  L.push("      token_secret: {env: PROXMOX_TOKEN_SECRET}");
  if (p.tls_fingerprint !== undefined) {
    L.push("      # The API certificate's SHA-256 fingerprint, pinned when it was shown.");
    L.push(`      tls_fingerprint: ${scalar(p.tls_fingerprint)}`);
    map("proxmox.tls_fingerprint", ...V, "proxmox", "tls_fingerprint");
  }
  const keys = usableKeys(answers.ssh_keys);
  if (keys.length > 0) {
    L.push(`      # cloud-init installs these for ${answers.user}: Ansible's way in to the VMs.`);
    L.push("      ssh_keys:");
    keys.forEach(({ index, key }, at) => {
      const line = `${key.type} ${key.key}${key.comment === "" ? "" : ` ${key.comment}`}`;
      L.push(`        - ${parseYaml(line) === line ? line : JSON.stringify(line)}`);
      map(`ssh_keys[${index}]`, ...V, "proxmox", "ssh_keys", at);
    });
  }
  L.push("    network:");
  L.push("      vlans:");
  [...vlans.values()].forEach((v, i) => {
    L.push(vlanLine(v));
    map(`${vlanQuestion.get(v.id) ?? "servers"}.vlan`, ...V, "network", "vlans", i);
  });
  if (answers.nameservers.length > 0) {
    L.push(`      nameservers: ${flowList(answers.nameservers)}`);
    map("nameservers", ...V, "network", "nameservers");
  }
  if (answers.search_domain !== undefined) {
    L.push(`      search_domain: ${scalar(answers.search_domain)}`);
    map("search_domain", ...V, "network", "search_domain");
  }
  L.push("    k3s:");
  if (answers.k3s_version !== undefined) {
    L.push(`      version: ${scalar(answers.k3s_version)}`);
    map("k3s_version", ...V, "k3s", "version");
  }
  L.push("      token: {env: K3S_TOKEN}");
  L.push("    cilium:");
  if (answers.cilium_version !== undefined) {
    L.push(`      version: ${scalar(answers.cilium_version)}`);
    map("cilium_version", ...V, "cilium", "version");
  }
  L.push("      bgp:");
  L.push(`        local_asn: ${answers.local_asn}`);
  map("local_asn", ...V, "cilium", "bgp", "local_asn");
  L.push("        peers:");
  const peerGroups = [
    { label: "master", question: "servers", g: answers.servers },
    ...answers.workers.map((w, i) => ({ label: w.label, question: `workers[${i}]`, g: w })),
  ];
  for (const { label, question, g } of peerGroups) {
    if (g.count === 0) continue;
    L.push(`          ${scalar(label)}:`);
    map(`${question}.label`, ...V, "cilium", "bgp", "peers", label);
    const name = g.peer.name ?? `${label}-router`;
    L.push(`            - {name: ${scalar(name)}, address: ${scalar(g.peer.address)}, asn: ${g.peer.asn}}`);
    map(`${question}.peer`, ...V, "cilium", "bgp", "peers", label, 0);
  }
  if (answers.lb_pool.length > 0) {
    L.push(`      lb_pool: ${flowList(answers.lb_pool)}`);
    map("lb_pool", ...V, "cilium", "lb_pool");
  }
  L.push("    dns:");
  L.push(`      name: ${scalar(answers.dns_name)}`);
  map("dns_name", ...V, "dns", "name");
  pushStreamsAndHostsHead(L, map, answers.streams);
  for (const group of ["master", "node"] as const) {
    const members = hosts.filter((h) => h.group === group);
    if (group === "node" && members.length === 0) continue;
    L.push(`        ${group}:`);
    L.push("          hosts:");
    for (const h of members) {
      L.push(`            ${scalar(h.name)}: {ansible_host: ${scalar(h.address)}, vmid: ${h.vmid}, data_vlan: ${h.vlan}, label: ${scalar(h.label)}}`);
      const base = ["all", "children", "k3s_cluster", "children", group, "hosts", h.name];
      map(`${h.question}.names[${h.index}]`, ...base);
      map(`${h.question}.addresses[${h.index}]`, ...base, "ansible_host");
      map(`${h.question}.vmids[${h.index}]`, ...base, "vmid");
      map(`${h.question}.vlan`, ...base, "data_vlan");
      map(`${h.question}.label`, ...base, "label");
    }
  }
  if (answers.servers.count === 0) L.push("          hosts: {}");
  return { text: `${L.join("\n")}\n`, hosts, mappings };
}

/* ------------------------------------------------------------------ local lab */

/** Answers for a local lab (processes on loopback on this machine): a lab name and its streams. */
export const LocalAnswers = z
  .strictObject({
    provider: z.literal("local"),
    name: z.string().default("local").describe("Lab name."),
    streams: z.array(z.string()).default(["live", "sports"]).describe("Stream names; each gets an ffmpeg test source and a generated key."),
    media_servers: z.int().default(2).describe("Number of media servers (the streams are spread across them)."),
    edges: z.int().default(2).describe("Number of edge caches (worker hosts), 1 to 3."),
  })
  .describe("Answers of `edgelab init` for a local lab.");
export type LocalAnswers = z.output<typeof LocalAnswers>;
export type LocalAnswersInput = z.input<typeof LocalAnswers>;

/** The loopback subnets and hosts of the local lab (as in inventories/local.yml). */
const LOCAL_VLANS = [
  { id: 221, name: "dc-east", net: 221, host: 38, name0: "lab-k3s01", label: "master" },
  { id: 222, name: "region-west", net: 222, host: 41, name0: "west-lab-k3s01", label: "west-worker" },
  { id: 223, name: "region-east", net: 223, host: 42, name0: "east-lab-k3s01", label: "east-worker" },
  { id: 224, name: "region-north", net: 224, host: 43, name0: "north-lab-k3s01", label: "north-worker" },
] as const;

/** The local lab's inventory for the answers, laid out like inventories/local.yml. */
export function buildLocalInventory(answers: LocalAnswers): BuiltInventory {
  const { mappings, map } = mappingRecorder();
  const used = LOCAL_VLANS.slice(0, 1 + Math.max(1, Math.min(3, answers.edges)));
  const L: string[] = [];
  L.push("# yaml-language-server: $schema=./inventory.schema.json");
  L.push("#");
  L.push(`# The ${answers.name} lab, written by \`edgelab init\`: a local lab, every "host" a loopback address`);
  L.push("# (127.0.x.y) on this machine, so nothing leaves it and no root is needed. The server hosts the");
  L.push("# origin (redis, the media servers, the stream-key router and its nginx); each worker hosts an edge");
  L.push("# cache. Each stream gets an ffmpeg test source publishing with a key generated into .edgelab/secrets/.");
  L.push("#");
  L.push("#   edgelab up -i <this file>      # then: edgelab status, edgelab smoke, edgelab down");
  L.push("all:");
  L.push("  vars:");
  L.push("    lab:");
  L.push(`      name: ${scalar(answers.name)}`);
  map("name", ...V, "lab", "name");
  L.push("      provider: local");
  L.push("    # Ansible runs these \"hosts\" on this machine; it never opens SSH to them.");
  L.push("    ansible_connection: local");
  L.push("    network:");
  L.push("      vlans:");
  used.forEach((v, i) => {
    L.push(`        - {id: ${v.id}, name: ${v.name}, subnet: 127.0.${v.net}.0/24, gateway: 127.0.${v.net}.1}`);
    map("edges", ...V, "network", "vlans", i);
  });
  L.push("    media:");
  L.push(`      servers: ${answers.media_servers}          # the streams are spread across the media servers`);
  map("media_servers", ...V, "media", "servers");
  L.push("    dns:");
  L.push("      name: live.localhost");
  pushStreamsAndHostsHead(L, map, answers.streams);
  const hosts: PlannedHost[] = used.map((v, i) => ({ name: v.name0, address: `127.0.${v.net}.${v.host}`, vmid: 0, vlan: v.id, label: v.label, group: i === 0 ? "master" : "node", question: i === 0 ? "servers" : "edges", index: i === 0 ? 0 : i - 1 }));
  for (const group of ["master", "node"] as const) {
    L.push(`        ${group}:`);
    L.push("          hosts:");
    for (const h of hosts.filter((x) => x.group === group)) {
      L.push(`            ${h.name}: {ansible_host: ${h.address}, data_vlan: ${h.vlan}, label: ${h.label}}`);
      map(h.question, "all", "children", "k3s_cluster", "children", group, "hosts", h.name);
    }
  }
  return { text: `${L.join("\n")}\n`, hosts, mappings };
}

/** Builds the local inventory and checks it with the validator `edgelab validate` uses. */
export function checkLocalAnswers(answers: LocalAnswers, file = "inventory.yml"): AnswersResult {
  const inventory = buildLocalInventory(answers);
  const issues: AnswerIssue[] = [];
  if (answers.streams.length === 0) issues.push({ severity: "error", question: "streams", message: "no stream given", hint: "Give at least one stream name, e.g. live." });
  if (answers.edges < 1 || answers.edges > 3) issues.push({ severity: "error", question: "edges", message: `${answers.edges} edges: the local lab has 1 to 3`, hint: "Give 1, 2 or 3." });
  const validation = validateInventoryText(inventory.text, file);
  issues.push(...validation.issues.map((i) => fromValidator(i, inventory.mappings)));
  return { inventory, issues };
}

/* ------------------------------------------------------------------ checks */

export interface AnswerIssue {
  readonly severity: "error" | "warning";
  /** The answer it is about, e.g. servers.count, workers[0].addresses[1], lb_pool. */
  readonly question: string;
  readonly message: string;
  readonly hint?: string | undefined;
  /** Where the validator found it in the candidate inventory (absent for cluster checks). */
  readonly where?: string | undefined;
}

function questionFor(path: readonly PathSegment[], mappings: readonly Mapping[]): string {
  let best: Mapping | undefined;
  for (const m of mappings) {
    if (m.path.length > path.length) continue;
    if (!m.path.every((seg, i) => seg === path[i])) continue;
    if (best === undefined || m.path.length > best.path.length) best = m;
  }
  if (best !== undefined) return best.question;
  // The master group itself (e.g. the number of servers).
  if (path.join(".").startsWith("all.children.k3s_cluster.children.master")) return "servers.count";
  return formatPath(path);
}

function fromValidator(issue: LocatedIssue | Issue, mappings: readonly Mapping[]): AnswerIssue {
  // An overlap with the LB pool is reported on the later block (a node subnet); the answer to
  // change is the pool, which the wizard asks last.
  const pool = /LB pool/.test(issue.message) && /overlaps|inside/.test(issue.message);
  return {
    severity: issue.severity,
    question: pool ? "lb_pool" : questionFor(issue.path, mappings),
    message: issue.message,
    hint: issue.hint,
    where: formatPath(issue.path),
  };
}

/** Checks the answers against what the cluster already holds (vmids, names, template disk). */
export function clusterIssues(answers: Answers, hosts: readonly PlannedHost[], cluster: ClusterFacts): AnswerIssue[] {
  const out: AnswerIssue[] = [];
  const vmids = new Set(cluster.vmids);
  const names = new Set(cluster.names);
  for (const h of hosts) {
    if (vmids.has(h.vmid)) {
      out.push({ severity: "error", question: `${h.question}.vmids[${h.index}]`, message: `vmid ${h.vmid} is already taken on the cluster`, hint: "Pick a free id (or leave the ids out to have free ones proposed)." });
    }
    if (names.has(h.name)) {
      out.push({ severity: "error", question: `${h.question}.names[${h.index}]`, message: `a VM named ${h.name} already exists on the cluster`, hint: "Pick another name (or leave the names out to have free ones proposed)." });
    }
  }
  if (cluster.templateDiskGiB !== undefined && answers.disk < cluster.templateDiskGiB) {
    out.push({ severity: "error", question: "disk", message: `disk ${answers.disk} GiB is smaller than the template's ${cluster.templateDiskGiB} GiB`, hint: "A clone's disk can be grown, never shrunk: give at least the template's size." });
  }
  return out;
}

/** Checks that the answers give each group as many addresses/vmids/names as hosts. */
function countIssues(answers: Answers): AnswerIssue[] {
  const out: AnswerIssue[] = [];
  const groups = [["servers", answers.servers], ...answers.workers.map((w, i) => [`workers[${i}]`, w] as const)] as const;
  for (const [question, g] of groups) {
    for (const key of ["addresses", "vmids", "names"] as const) {
      const list = g[key];
      if (list !== undefined && list.length !== g.count) {
        out.push({ severity: "error", question: `${question}.${key}`, message: `${list.length} ${key} given for ${g.count} host(s)`, hint: `Give exactly ${g.count}, or leave ${key} out to have them proposed.` });
      }
    }
    const subnet = parseCidr(g.vlan.subnet);
    if (subnet.ok && g.addresses === undefined) {
      const usable = 2 ** (32 - subnet.cidr.prefix) - 3;
      if (g.count > usable) out.push({ severity: "error", question: `${question}.count`, message: `${g.count} hosts do not fit in ${g.vlan.subnet}`, hint: "Use a larger subnet or fewer hosts." });
    }
  }
  return out;
}

export interface AnswersResult {
  readonly inventory: BuiltInventory;
  readonly issues: readonly AnswerIssue[];
}

/** Builds the inventory and checks it with the validator and against the cluster. */
export function checkAnswers(answers: Answers, cluster: ClusterFacts = { vmids: [], names: [] }, file = "inventory.yml"): AnswersResult {
  const inventory = buildInventory(answers, cluster);
  const counted = countIssues(answers);
  const validation = validateInventoryText(inventory.text, file);
  const keys = keyIssues(answers);
  // With no usable key the validator warns that Ansible has no way in; the answers' errors say why, with the fix.
  const noKey = keys.length > 0;
  const issues = [
    ...keys,
    ...counted,
    ...validation.issues.filter((i) => !(noKey && /^proxmox\.ssh_keys is empty/.test(i.message))).map((i) => fromValidator(i, inventory.mappings)),
    ...clusterIssues(answers, inventory.hosts, cluster),
  ];
  return { inventory, issues };
}

/** Whether `address` lies in `subnet` (for prompt-side hints; the validator has the last word). */
export function inSubnet(address: string, subnet: string): boolean {
  const a = parseIpv4(address);
  const c = parseCidr(subnet);
  return a !== undefined && c.ok && ((a & prefixMask(c.cidr.prefix)) >>> 0) === c.cidr.network;
}

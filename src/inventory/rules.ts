/**
 * Cross-field rules: what a schema cannot say. Each rule reads the typed facts and returns every
 * problem it finds (never the first only). Pure.
 */
import { cidrContains, cidrLast, cidrsOverlap, isLoopback, parseCidr, parseIpv4, type Cidr } from "../util/ipv4.js";
import { closest } from "../util/suggest.js";
import { AGENT_GROUP, CLUSTER_GROUP, hostLabel, SERVER_GROUP, type HostFacts, type InventoryFacts } from "./facts.js";
import { isRecord } from "./flatten.js";
import { error, formatPath, warning, type Issue, type PathSegment } from "./issue.js";
import { CLUSTER_RULES } from "./cluster-rules.js";
import { AllVars, HOST_FIELD_NAMES, LAB_SETTING_NAMES, SecretRef } from "./schema.js";
import { z } from "zod";

export type Rule = (facts: InventoryFacts) => Issue[];

const where = (path: readonly PathSegment[]): string => formatPath(path);

/* ------------------------------------------------------------------ structure */

export const clusterGroups: Rule = (facts) => {
  const issues: Issue[] = [];
  const servers = facts.hosts.filter((h) => h.role === "server");
  const hasCluster = facts.flat.groups.some((g) => g.name === CLUSTER_GROUP);
  if (hasCluster && servers.length === 0) {
    issues.push(
      error(
        ["all", "children", CLUSTER_GROUP, "children", SERVER_GROUP],
        `group '${SERVER_GROUP}' under ${CLUSTER_GROUP} has no hosts`,
        "A lab needs at least one K3s server: list it under k3s_cluster.children.master.hosts.",
      ),
    );
  }
  for (const host of facts.hosts) {
    if (host.role !== undefined) continue;
    const both = host.groups.includes(SERVER_GROUP) && host.groups.includes(AGENT_GROUP);
    issues.push(
      both
        ? error(host.paths[1] ?? host.path, `host '${host.name}' is in both '${SERVER_GROUP}' and '${AGENT_GROUP}'`, "A host is either a K3s server (master) or an agent (node); remove one entry.", true)
        : error(host.path, `host '${host.name}' is in ${CLUSTER_GROUP} but in neither '${SERVER_GROUP}' nor '${AGENT_GROUP}'`, "Move it under k3s_cluster.children.master or k3s_cluster.children.node.", true),
    );
  }
  return issues;
};

/** Lab-wide settings belong in all.vars; Ansible would silently scope them to a group. */
export const settingsPlacement: Rule = (facts) => {
  const issues: Issue[] = [];
  for (const group of facts.flat.groups) {
    if (group.name === "all") continue;
    for (const key of group.varKeys) {
      if ((LAB_SETTING_NAMES as readonly string[]).includes(key)) {
        issues.push(error([...group.path, "vars", key], `lab-wide setting '${key}' is set in group '${group.name}'`, "Move it to all.vars: edgelab reads lab settings only there.", true));
      }
    }
  }
  return issues;
};

const VALID_HOSTNAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

export const hostNames: Rule = (facts) => {
  const issues: Issue[] = [];
  const seen = new Map<string, HostFacts>();
  for (const host of facts.hosts) {
    if (!VALID_HOSTNAME.test(host.name)) {
      issues.push(error(host.path, `host name '${host.name}' is not a valid DNS label`, "Use letters, digits and '-' (at most 63): it becomes the VM name and the K3s node name.", true));
    }
    const key = host.name.toLowerCase();
    const other = seen.get(key);
    if (other !== undefined) {
      issues.push(error(host.path, `duplicate host name '${host.name}' (also '${other.name}' at ${where(other.path)})`, "Host names are case-insensitive DNS names: give each host its own name.", true));
    } else {
      seen.set(key, host);
    }
  }
  return issues;
};

/* ------------------------------------------------------------------ identity */

function duplicates(
  facts: InventoryFacts,
  pick: (h: HostFacts) => { value: string | number; path: readonly PathSegment[] } | undefined,
  what: string,
  hint: string,
): Issue[] {
  const issues: Issue[] = [];
  const seen = new Map<string | number, HostFacts>();
  for (const host of facts.hosts) {
    const field = pick(host);
    if (field === undefined) continue;
    const first = seen.get(field.value);
    if (first === undefined) seen.set(field.value, host);
    else issues.push(error(field.path, `duplicate ${what} ${field.value}: host '${host.name}' and host '${first.name}'`, hint));
  }
  return issues;
}

export const duplicateVmids: Rule = (facts) =>
  facts.lab?.value.provider === "local"
    ? []
    : duplicates(facts, (h) => h.fields.vmid, "vmid", "Every VM needs its own vmid; pick an unused one (pvesh get /cluster/nextid).");

export const duplicateAddresses: Rule = (facts) => {
  const issues = duplicates(facts, (h) => h.fields.ansible_host, "address", "Each host needs its own IP address.");
  const byAddress = new Map<string, HostFacts>();
  for (const host of facts.hosts) if (host.fields.ansible_host) byAddress.set(host.fields.ansible_host.value, host);
  for (const { value: vlan, path } of facts.vlans) {
    const host = byAddress.get(vlan.gateway);
    if (host?.fields.ansible_host) {
      issues.push(error(host.fields.ansible_host.path, `host '${host.name}' uses ${vlan.gateway}, the gateway of VLAN ${vlan.id}`, `Pick another address; the gateway is set at ${where([...path, "gateway"])}.`));
    }
  }
  const vip = facts.k3s?.value.api_vip;
  if (vip !== undefined && facts.k3s) {
    const host = byAddress.get(vip);
    if (host !== undefined) {
      issues.push(error([...facts.k3s.path, "api_vip"], `api_vip ${vip} is also the address of host '${host.name}'`, "The API VIP must be an unused address that floats between the servers."));
    }
  }
  return issues;
};

/* ------------------------------------------------------------------ network */

export const vlanSubnets: Rule = (facts) => {
  const issues: Issue[] = [];
  const seen = new Map<number, number>();
  const parsed: { path: readonly PathSegment[]; id: number; cidr: Cidr }[] = [];
  for (const { value: vlan, path: base, index } of facts.vlans) {
    const firstIndex = seen.get(vlan.id);
    if (firstIndex !== undefined) {
      issues.push(error([...base, "id"], `VLAN ${vlan.id} is listed twice (also at vlans[${firstIndex}])`, "List each VLAN once."));
    } else {
      seen.set(vlan.id, index);
    }
    const subnet = parseCidr(vlan.subnet);
    if (!subnet.ok) {
      if (subnet.reason === "host-bits") {
        issues.push(error([...base, "subnet"], `subnet ${vlan.subnet} has host bits set`, `Did you mean ${subnet.network}?`));
      }
      continue;
    }
    parsed.push({ path: [...base, "subnet"], id: vlan.id, cidr: subnet.cidr });
    const gateway = parseIpv4(vlan.gateway);
    if (gateway === undefined) continue;
    if (!cidrContains(subnet.cidr, gateway)) {
      issues.push(error([...base, "gateway"], `gateway ${vlan.gateway} is outside VLAN ${vlan.id}'s subnet ${vlan.subnet}`, "The gateway must be an address inside the subnet."));
    } else if (subnet.cidr.prefix < 31 && (gateway === subnet.cidr.network || gateway === cidrLast(subnet.cidr))) {
      issues.push(error([...base, "gateway"], `gateway ${vlan.gateway} is the ${gateway === subnet.cidr.network ? "network" : "broadcast"} address of ${vlan.subnet}`, "Use a usable host address, e.g. the first one."));
    }
  }
  for (let i = 0; i < parsed.length; i++) {
    for (let j = i + 1; j < parsed.length; j++) {
      const a = parsed[i];
      const b = parsed[j];
      if (a && b && a.id !== b.id && cidrsOverlap(a.cidr, b.cidr)) {
        issues.push(error(b.path, `subnet ${b.cidr.text} of VLAN ${b.id} overlaps ${a.cidr.text} of VLAN ${a.id}`, "Each VLAN needs its own subnet."));
      }
    }
  }
  return issues;
};

export const hostInSubnet: Rule = (facts) => {
  const issues: Issue[] = [];
  const vlans = new Map(facts.vlans.map((v) => [v.value.id, v.value]));
  for (const host of facts.hosts) {
    const vlanField = host.fields.data_vlan;
    const addressField = host.fields.ansible_host;
    if (vlanField === undefined) continue;
    const vlan = vlans.get(vlanField.value);
    if (vlan === undefined) {
      if (facts.vlansBroken) continue; // the schema reported the malformed VLAN entry
      const known = [...vlans.keys()].join(", ");
      issues.push(
        error(
          vlanField.path,
          `host '${host.name}' is on VLAN ${vlanField.value}, which network.vlans does not define`,
          facts.vlansWritten ? `Add VLAN ${vlanField.value} with its subnet and gateway to network.vlans (defined: ${known || "none"}).` : "Add network.vlans to all.vars with this VLAN's subnet and gateway.",
        ),
      );
      continue;
    }
    if (addressField === undefined) continue;
    const subnet = parseCidr(vlan.subnet);
    const address = parseIpv4(addressField.value);
    if (!subnet.ok || address === undefined) continue;
    if (!cidrContains(subnet.cidr, address)) {
      issues.push(error(addressField.path, `address ${addressField.value} of host '${host.name}' is outside VLAN ${vlan.id}'s subnet ${vlan.subnet}`, `Use an address in ${vlan.subnet}, or put the host on the VLAN that holds ${addressField.value}.`));
    } else if (subnet.cidr.prefix < 31 && (address === subnet.cidr.network || address === cidrLast(subnet.cidr))) {
      issues.push(error(addressField.path, `address ${addressField.value} of host '${host.name}' is the ${address === subnet.cidr.network ? "network" : "broadcast"} address of ${vlan.subnet}`, "Use a usable host address."));
    }
  }
  return issues;
};

/** Pod, service, LB and node networks must not overlap (routes would shadow each other). */
export const cidrOverlaps: Rule = (facts) => {
  const issues: Issue[] = [];
  const blocks: { what: string; path: readonly PathSegment[]; cidr: Cidr }[] = [];
  const add = (what: string, path: readonly PathSegment[], text: string): void => {
    const parsed = parseCidr(text);
    if (parsed.ok) blocks.push({ what, path, cidr: parsed.cidr });
    else if (parsed.reason === "host-bits") issues.push(error(path, `${text} has host bits set`, `Did you mean ${parsed.network}?`));
  };
  if (facts.k3s) {
    add("pod network (k3s.cluster_cidr)", [...facts.k3s.path, "cluster_cidr"], facts.k3s.value.cluster_cidr);
    add("service network (k3s.service_cidr)", [...facts.k3s.path, "service_cidr"], facts.k3s.value.service_cidr);
  }
  for (const { index, value, path } of facts.lbPool) add(`LB pool (cilium.lb_pool[${index}])`, path, value);
  for (const { value: vlan, path } of facts.vlans) {
    const parsed = parseCidr(vlan.subnet);
    if (parsed.ok) blocks.push({ what: `node subnet of VLAN ${vlan.id}`, path: [...path, "subnet"], cidr: parsed.cidr });
  }
  for (let i = 0; i < blocks.length; i++) {
    for (let j = i + 1; j < blocks.length; j++) {
      const a = blocks[i];
      const b = blocks[j];
      if (!a || !b || !cidrsOverlap(a.cidr, b.cidr)) continue;
      if (a.what.startsWith("node subnet") && b.what.startsWith("node subnet")) continue; // vlanSubnets reports these
      // A K3s default (10.42/16, 10.43/16) colliding with the user's own ranges needs a different fix.
      const k3sWritten = isRecord(facts.allVars["k3s"]) ? facts.allVars["k3s"] : {};
      const defaulted = [a, b].some((x) => (x.what.startsWith("pod") && !("cluster_cidr" in k3sWritten)) || (x.what.startsWith("service") && !("service_cidr" in k3sWritten)));
      issues.push(
        error(
          b.path,
          `${b.what} ${b.cidr.text} overlaps ${a.what} ${a.cidr.text}`,
          defaulted ? "K3s uses 10.42.0.0/16 for pods and 10.43.0.0/16 for services unless told otherwise: set k3s.cluster_cidr / k3s.service_cidr to ranges your network does not use." : "Pod, service, load-balancer and node networks must be disjoint.",
        ),
      );
    }
  }
  // An LB pool address must not be a host's address either.
  const pools = blocks.filter((b) => b.what.startsWith("LB pool"));
  for (const host of facts.hosts) {
    const address = host.fields.ansible_host ? parseIpv4(host.fields.ansible_host.value) : undefined;
    if (address === undefined || !host.fields.ansible_host) continue;
    for (const pool of pools) {
      if (cidrContains(pool.cidr, address)) issues.push(error(host.fields.ansible_host.path, `address of host '${host.name}' is inside the ${pool.what} ${pool.cidr.text}`, "LB-IPAM would hand this address to a Service; keep host addresses out of the pool."));
    }
  }
  return issues;
};

/* ------------------------------------------------------------------ K3s */

export const serverQuorum: Rule = (facts) => {
  const servers = facts.hosts.filter((h) => h.role === "server");
  const n = servers.length;
  if (n === 0 || n % 2 === 1 || facts.k3s?.value.allow_even_servers === true) return [];
  const first = servers[0];
  return [
    error(
      first ? ["all", "children", CLUSTER_GROUP, "children", SERVER_GROUP] : [],
      `${n} K3s servers: etcd needs a majority, so ${n} servers tolerate no more failures than ${n - 1}`,
      `Use an odd number (${n - 1} or ${n + 1}), or set k3s.allow_even_servers: true to accept it.`,
    ),
  ];
};

/* ------------------------------------------------------------------ BGP */

const RESERVED_ASNS: readonly [number, number, string][] = [
  [0, 0, "reserved (RFC 7607)"],
  [23456, 23456, "AS_TRANS (RFC 6793)"],
  [64496, 64511, "reserved for documentation (RFC 5398)"],
  [65535, 65535, "reserved (RFC 7300)"],
  [65536, 65551, "reserved for documentation (RFC 5398)"],
  [4294967295, 4294967295, "reserved (RFC 7300)"],
];

export function reservedAsn(asn: number): string | undefined {
  for (const [low, high, why] of RESERVED_ASNS) if (asn >= low && asn <= high) return why;
  return undefined;
}

export function isPrivateAsn(asn: number): boolean {
  return (asn >= 64512 && asn <= 65534) || (asn >= 4200000000 && asn <= 4294967294);
}

export const bgpAsns: Rule = (facts) => {
  const issues: Issue[] = [];
  const bgp = facts.cilium?.value.bgp;
  if (bgp === undefined || facts.cilium === undefined) return issues;
  const bgpPath = [...facts.cilium.path, "bgp"];
  const local = bgp.local_asn;
  const localWhy = reservedAsn(local);
  if (localWhy !== undefined) {
    issues.push(error([...bgpPath, "local_asn"], `local ASN ${local} is ${localWhy}`, "Use a private ASN: 64512–65534 or 4200000000–4294967294."));
  } else if (!isPrivateAsn(local)) {
    issues.push(warning([...bgpPath, "local_asn"], `local ASN ${local} is a public ASN`, "A lab cluster normally uses a private ASN (64512–65534 or 4200000000–4294967294) unless that ASN is assigned to you."));
  }
  for (const [label, peers] of Object.entries(bgp.peers)) {
    const seen = new Set<string>();
    for (const [i, peer] of peers.entries()) {
      const peerPath = [...bgpPath, "peers", label, i];
      const why = reservedAsn(peer.asn);
      if (why !== undefined) issues.push(error([...peerPath, "asn"], `peer ASN ${peer.asn} is ${why}`, "Check the router's ASN."));
      if (peer.asn === local) {
        issues.push(warning([...peerPath, "asn"], `peer ${peer.address} has the cluster's own ASN ${local}: this is iBGP, not eBGP`, "Give the cluster its own private ASN unless you intend iBGP with this router (then routes need next-hop-self / route reflection on the router)."));
      }
      if (seen.has(peer.address)) issues.push(error([...peerPath, "address"], `peer ${peer.address} is listed twice for label '${label}'`, "List each neighbour once."));
      seen.add(peer.address);
    }
  }
  return issues;
};

export const bgpPeersPerLabel: Rule = (facts) => {
  const issues: Issue[] = [];
  const cilium = facts.cilium;
  const bgp = cilium?.value.bgp;
  if (cilium === undefined) return issues;
  const labels = new Map<string, HostFacts[]>();
  for (const host of facts.hosts) {
    const label = hostLabel(host);
    labels.set(label, [...(labels.get(label) ?? []), host]);
  }
  if (bgp === undefined) {
    const lbPool = facts.lbPool.length > 0;
    if (facts.lab?.value.provider === "proxmox" && lbPool) {
      issues.push(warning([...cilium.path, "lb_pool"], "an LB pool is set but cilium.bgp is not: LoadBalancer addresses will not be advertised", "Add cilium.bgp with local_asn and peers per node label."));
    }
    return issues;
  }
  for (const [label, hosts] of labels) {
    if (bgp.peers[label] !== undefined) continue;
    const agents = hosts.filter((h) => h.role === "agent");
    const first = agents[0] ?? hosts[0];
    if (agents.length === 0) continue; // servers without peers simply do not advertise
    issues.push(
      error(
        first?.fields.label?.path ?? [...cilium.path, "bgp", "peers"],
        `node label '${label}' has ${agents.length} worker${agents.length === 1 ? "" : "s"} (${agents.map((h) => h.name).join(", ")}) but no BGP peer`,
        `Add cilium.bgp.peers.${label} with the router(s) these workers peer with; without it their LoadBalancer addresses are never advertised.`,
      ),
    );
  }
  for (const label of Object.keys(bgp.peers)) {
    if (!labels.has(label)) {
      const suggestion = closest(label, labels.keys());
      issues.push(
        warning(
          [...cilium.path, "bgp", "peers", label],
          `BGP peers are set for label '${label}', but no host has that label`,
          suggestion !== undefined ? `Did you mean '${suggestion}'?` : `Host labels in use: ${[...labels.keys()].join(", ") || "none"}.`,
          true,
        ),
      );
    }
  }
  return issues;
};

/* ------------------------------------------------------------------ secrets */

const JINJA_REF = /^\s*\{\{\s*[A-Za-z_][A-Za-z0-9_]*(\s*\|[^}]*)?\s*\}\}\s*$/;
const SECRET_LIKE_NAME = /(pass(word|wd)?|secret|token|api_?key|private_?key|credential)s?$/i;

function inlineSecret(value: unknown): boolean {
  return typeof value === "string" && value.length > 0 && !JINJA_REF.test(value);
}

/** Calls `visit` with the value and path of every secret field the schema declares in `value`. */
function secretPlaces(schema: z.ZodType, value: unknown, path: readonly PathSegment[], visit: (value: unknown, path: readonly PathSegment[]) => void, depth = 0): void {
  if (depth > 12 || value === undefined || value === null) return;
  let inner = schema;
  for (let i = 0; i < 8; i++) {
    if (inner instanceof z.ZodOptional || inner instanceof z.ZodNullable || inner instanceof z.ZodDefault) inner = inner.unwrap() as z.ZodType;
    else break;
  }
  if (inner instanceof z.ZodUnion && (inner.options as readonly z.ZodType[]).includes(SecretRef.options[0])) {
    visit(value, path);
  } else if (inner instanceof z.ZodObject && isRecord(value)) {
    const shape = inner.shape as Record<string, z.ZodType>;
    for (const [key, child] of Object.entries(shape)) if (key in value) secretPlaces(child, value[key], [...path, key], visit, depth + 1);
  } else if (inner instanceof z.ZodRecord && isRecord(value)) {
    for (const [key, child] of Object.entries(value)) secretPlaces(inner.valueType as z.ZodType, child, [...path, key], visit, depth + 1);
  } else if (inner instanceof z.ZodArray && Array.isArray(value)) {
    for (const [i, child] of value.entries()) secretPlaces(inner.element as z.ZodType, child, [...path, i], visit, depth + 1);
  } else if (inner instanceof z.ZodUnion) {
    for (const option of inner.options as readonly z.ZodType[]) secretPlaces(option, value, path, visit, depth + 1);
  }
}

/** A suggested environment variable name for a secret at this path (K3S_TOKEN, PROXMOX_TOKEN_SECRET...). */
export function secretEnvName(path: readonly PathSegment[]): string {
  const strings = path.filter((p): p is string => typeof p === "string");
  const name = strings[strings.length - 1] ?? "secret";
  if (strings.includes("streams")) return "EDGELAB_STREAM_KEY";
  const section = strings[2];
  // A lab setting: its section and the keys below it (K3S_TOKEN, DNS_TSIG_SECRET, ...).
  const parts = strings[0] === "all" && strings[1] === "vars" && section !== undefined && (LAB_SETTING_NAMES as readonly string[]).includes(section) && strings.length > 3 ? strings.slice(2) : [name];
  return parts.join("_").replace(/[^A-Za-z0-9]+/g, "_").toUpperCase();
}

function inlineHint(path: readonly PathSegment[]): string {
  const envName = secretEnvName(path);
  return `Never write secrets in the inventory: use {env: ${envName}}, {file: path}, {generate: true}, an \`ansible-vault encrypt_string\` value (!vault), or "{{ vault_${envName.toLowerCase()} }}" from a vault file.`;
}

export const inlineSecrets: Rule = (facts) => {
  const issues: Issue[] = [];
  const check = (value: unknown, path: readonly PathSegment[]): void => {
    if (inlineSecret(value)) issues.push(error(path, "secret written inline", inlineHint(path)));
  };
  // Every place the lab settings' schema declares a secret (tokens, keys, passwords).
  for (const section of LAB_SETTING_NAMES) {
    const schema = (AllVars.shape as Record<string, z.ZodType>)[section];
    if (schema !== undefined) secretPlaces(schema, facts.allVars[section], ["all", "vars", section], check);
  }
  // Host-level secrets (ansible_password...) and anything else named like a secret, anywhere a
  // variable can be set. Checked per place written, so each is reported once.
  const reported = new Set<string>();
  const visitVars = (entries: Iterable<[string, unknown]>, base: readonly PathSegment[], topLevel: boolean): void => {
    for (const [key, value] of entries) {
      if (topLevel && (LAB_SETTING_NAMES as readonly string[]).includes(key)) continue;
      const isKnownSecret = key === "ansible_password" || key === "ansible_become_password" || key === "ansible_ssh_pass" || key === "ansible_become_pass";
      if (!isKnownSecret && !SECRET_LIKE_NAME.test(key)) continue;
      const path = [...base, key];
      const id = formatPath(path);
      if (reported.has(id) || !inlineSecret(value)) continue;
      reported.add(id);
      issues.push(isKnownSecret ? error(path, "secret written inline", inlineHint(path)) : warning(path, `'${key}' looks like a secret written inline`, inlineHint(path)));
    }
  };
  for (const group of facts.flat.groups) {
    visitVars(Object.entries(group.vars), [...group.path, "vars"], group.name === "all");
  }
  for (const host of facts.flat.hosts) {
    for (const [key, sourced] of host.own()) visitVars([[key, sourced.value]], sourced.path.slice(0, -1), false);
  }
  return issues;
};

/* ------------------------------------------------------------------ provider requirements */

const PROXMOX_REQUIRED: readonly (keyof HostFacts["fields"])[] = ["ansible_host", "vmid", "vcpus", "memory", "data_vlan"];

export const providerRequirements: Rule = (facts) => {
  const issues: Issue[] = [];
  const provider = facts.lab?.value.provider;
  if (provider === undefined) return issues;
  for (const host of facts.hosts) {
    if (host.fields.ansible_host === undefined && !host.raw.has("ansible_host")) {
      issues.push(error(host.path, `host '${host.name}' has no ansible_host`, "Set ansible_host to the host's IPv4 address.", true));
    }
  }
  if (provider === "proxmox") {
    if (facts.proxmox === undefined && !("proxmox" in facts.allVars)) {
      issues.push(error(["all", "vars"], "provider is proxmox but all.vars.proxmox is missing", "Add proxmox: {url, node, template} (see `edgelab schema`)."));
    }
    if (facts.network === undefined && !("network" in facts.allVars)) {
      issues.push(error(["all", "vars"], "provider is proxmox but all.vars.network is missing", "Add network.vlans with each VLAN's subnet and gateway."));
    }
    for (const host of facts.hosts) {
      for (const field of PROXMOX_REQUIRED) {
        if (field === "ansible_host") continue;
        if (host.fields[field] === undefined && !host.raw.has(field)) {
          issues.push(error(host.path, `host '${host.name}' has no ${field}`, `Set ${field} on the host or in a group's vars (provider proxmox needs it).`, true));
        }
      }
      if (host.fields.storage === undefined && !host.raw.has("storage") && facts.proxmox?.value.storage === undefined) {
        issues.push(error(host.path, `host '${host.name}' has no storage`, "Set storage on the host, in a group's vars, or proxmox.storage for all.", true));
      }
    }
  } else {
    for (const host of facts.hosts) {
      const field = host.fields.ansible_host;
      const address = field ? parseIpv4(field.value) : undefined;
      if (field && address !== undefined && !isLoopback(address)) {
        issues.push(error(field.path, `host '${host.name}' has address ${field.value}, but the local lab runs on loopback`, `Use a 127.x.y.z address (e.g. 127.0.${(address >>> 8) & 255}.${address & 255}), or set lab.provider: proxmox.`));
      }
    }
  }
  return issues;
};

/* ------------------------------------------------------------------ names and typos */

const KNOWN_ANSIBLE_MISTAKES: Readonly<Record<string, string>> = {
  ansible_username: "ansible_user",
  ansible_ssh_host: "ansible_host",
  ansible_ip: "ansible_host",
  ansible_hostname: "ansible_host",
};

export const unknownVariables: Rule = (facts) => {
  const issues: Issue[] = [];
  const hostKeys = [...HOST_FIELD_NAMES];
  const allKeys = [...HOST_FIELD_NAMES, ...LAB_SETTING_NAMES];
  const check = (key: string, path: readonly PathSegment[], candidates: readonly string[]): void => {
    const mistake = KNOWN_ANSIBLE_MISTAKES[key];
    if (mistake !== undefined) {
      issues.push(warning(path, `'${key}' is not an Ansible variable`, `Did you mean '${mistake}'?`, true));
      return;
    }
    if (key.startsWith("ansible_") || candidates.includes(key)) return;
    const suggestion = closest(key, candidates);
    if (suggestion !== undefined) issues.push(warning(path, `unknown variable '${key}' (kept as a plain Ansible variable)`, `Did you mean '${suggestion}'?`, true));
  };
  for (const key of Object.keys(facts.allVars)) check(key, ["all", "vars", key], allKeys);
  for (const group of facts.flat.groups) {
    if (group.name === "all") continue;
    for (const key of group.varKeys) check(key, [...group.path, "vars", key], hostKeys);
  }
  for (const host of facts.flat.hosts) {
    for (const [key, sourced] of host.own()) check(key, sourced.path, hostKeys);
  }
  return issues;
};

export const streamNames: Rule = (facts) => {
  const issues: Issue[] = [];
  const seen = new Map<string, number>();
  for (const { index, value: stream, path } of facts.streams) {
    const first = seen.get(stream.name);
    if (first !== undefined) issues.push(error([...path, "name"], `stream '${stream.name}' is listed twice (also streams[${first}])`, "Stream names are URL paths; make each unique."));
    else seen.set(stream.name, index);
  }
  return issues;
};

/* ------------------------------------------------------------------ media */

export const packaging: Rule = (facts) => {
  const issues: Issue[] = [];
  const media = facts.media;
  if (media === undefined) return issues;
  for (const kind of ["hls", "dash"] as const) {
    const settings = media.value[kind];
    if (kind === "dash" && !media.value.dash.enabled) continue;
    const ratio = settings.playlist_length / settings.fragment;
    const path = [...media.path, kind, "playlist_length"];
    if (ratio < 3) {
      issues.push(error(path, `${kind} playlist_length ${settings.playlist_length}s holds ${ratio.toFixed(1)} fragments of ${settings.fragment}s`, "RFC 8216 asks for at least 3 target durations (players start 3 behind the live edge); use at least 6 fragments."));
    } else if (ratio < 6) {
      issues.push(warning(path, `${kind} playlist_length ${settings.playlist_length}s holds only ${ratio.toFixed(1)} fragments of ${settings.fragment}s`, "nginx-rtmp may delete playlists and init files of very short windows: keep at least 6 fragments."));
    }
    if (kind === "hls" && !Number.isInteger(settings.fragment * media.value.fps)) {
      issues.push(error([...media.path, "hls", "fragment"], `a ${settings.fragment}s fragment at ${media.value.fps} fps is not a whole number of frames`, "Segments are cut on keyframes every fps × fragment frames: pick a fragment that gives a whole GOP."));
    }
  }
  const seen = new Set<string>();
  for (const [i, rendition] of media.value.abr.entries()) {
    if (seen.has(rendition.name)) issues.push(error([...media.path, "abr", i, "name"], `rendition '${rendition.name}' is listed twice`, "Each rendition needs its own name."));
    seen.add(rendition.name);
  }
  return issues;
};

/** In the local lab every process listens on its host's loopback address: no two may share a port. */
export const localPorts: Rule = (facts) => {
  const issues: Issue[] = [];
  const local = facts.local;
  if (facts.lab?.value.provider !== "local" || local === undefined || facts.media === undefined) return issues;
  const ports = local.value.ports;
  const servers = facts.media.value.servers;
  const used = new Map<number, string>();
  const claim = (port: number, what: string, key: string): void => {
    const other = used.get(port);
    if (other !== undefined) issues.push(error([...local.path, "ports", key], `port ${port} of ${what} is also the port of ${other}`, "Processes on the server host share its address: give each its own port."));
    else used.set(port, what);
  };
  claim(ports.origin, "the origin front", "origin");
  claim(ports.router, "the stream-key router", "router");
  claim(ports.redis, "redis", "redis");
  for (let i = 0; i < servers; i++) claim(ports.media_http + i, `media server ${i} (HTTP)`, "media_http");
  for (let i = 0; i < servers; i++) claim(ports.media_rtmp + i, `media server ${i} (RTMP)`, "media_rtmp");
  const serverAddresses = new Set(facts.hosts.filter((h) => h.role === "server").map((h) => h.fields.ansible_host?.value));
  if (facts.hosts.some((h) => h.role === "agent" && serverAddresses.has(h.fields.ansible_host?.value))) claim(ports.edge, "an edge", "edge");
  return issues;
};

/** All rules, in the order their findings are produced (output is sorted by position anyway). */
export const RULES: readonly Rule[] = [
  clusterGroups,
  settingsPlacement,
  hostNames,
  duplicateVmids,
  duplicateAddresses,
  vlanSubnets,
  hostInSubnet,
  cidrOverlaps,
  serverQuorum,
  bgpAsns,
  bgpPeersPerLabel,
  inlineSecrets,
  providerRequirements,
  unknownVariables,
  streamNames,
  packaging,
  localPorts,
  ...CLUSTER_RULES,
];


/**
 * Cross-field rules of the cluster half: API VIP, cluster DNS, BGP sessions and API versions,
 * storage, host keys, edge groups, registry, DNS updates, air-gap. Each returns every problem
 * it finds, located, with a hint. Pure.
 */
import { cidrContains, cidrLast, formatIpv4, parseCidr, parseIpv4, type Cidr } from "../util/ipv4.js";
import { closest } from "../util/suggest.js";
import { hostLabel, type HostFacts, type InventoryFacts } from "./facts.js";
import { isRecord } from "./flatten.js";
import { error, warning, type Issue, type PathSegment } from "./issue.js";
import type { BgpSessionOut, SecretRef } from "./schema.js";
import { compareVersions, MIN_CILIUM } from "./versions.js";
import { checkK3sKey, K3S_MANAGED_KEYS } from "./k3s-keys.js";

type Rule = (facts: InventoryFacts) => Issue[];

function parsedVlans(facts: InventoryFacts): Map<number, { cidr: Cidr; gateway: string; subnet: string }> {
  const out = new Map<number, { cidr: Cidr; gateway: string; subnet: string }>();
  for (const { value } of facts.vlans) {
    const parsed = parseCidr(value.subnet);
    if (parsed.ok && !out.has(value.id)) out.set(value.id, { cidr: parsed.cidr, gateway: value.gateway, subnet: value.subnet });
  }
  return out;
}

function labelsInUse(facts: InventoryFacts): Map<string, HostFacts[]> {
  const labels = new Map<string, HostFacts[]>();
  for (const host of facts.hosts) {
    const label = hostLabel(host);
    labels.set(label, [...(labels.get(label) ?? []), host]);
  }
  return labels;
}

/* ------------------------------------------------------------------ API VIP */

export const apiVip: Rule = (facts) => {
  const issues: Issue[] = [];
  const k3s = facts.k3s;
  const vip = k3s?.value.api_vip;
  if (k3s === undefined) return issues;
  const vipPath = [...k3s.path, "api_vip"];
  const k3sWritten = isRecord(facts.allVars["k3s"]) ? facts.allVars["k3s"] : {};
  if (vip === undefined) {
    if ("vrrp" in k3sWritten) issues.push(warning([...k3s.path, "vrrp"], "k3s.vrrp is set but k3s.api_vip is not: it is ignored", "Set k3s.api_vip to the address the servers should share, or remove k3s.vrrp.", true));
    return issues;
  }
  const holder = k3s.value.api_vip_holder;
  if (holder === "external" && "vrrp" in k3sWritten) {
    issues.push(warning([...k3s.path, "vrrp"], "k3s.vrrp is ignored: api_vip_holder is external", "keepalived runs only with api_vip_holder: keepalived; remove k3s.vrrp or change the holder.", true));
  }
  const address = parseIpv4(vip);
  if (address === undefined) return issues;
  const vlans = parsedVlans(facts);
  const servers = facts.hosts.filter((h) => h.role === "server");
  if (servers.length === 1) {
    issues.push(warning(vipPath, `api_vip ${vip} with a single K3s server: there is nothing to fail over to`, "A VIP pays off with 3 servers; with one, the server's own address works as well (leave api_vip out), or add servers."));
  }
  const serverVlans = [...new Set(servers.map((h) => h.fields.data_vlan?.value).filter((v): v is number => v !== undefined))];
  if (holder === "keepalived" && serverVlans.length > 1) {
    issues.push(
      error(vipPath, `api_vip ${vip} is held with VRRP, but the servers are in ${serverVlans.length} subnets (VLANs ${serverVlans.join(", ")})`, "VRRP moves an address within one layer-2 segment: put every server on one VLAN, or set api_vip_holder: external and let a load balancer hold the VIP."),
    );
  } else if (holder === "keepalived" && serverVlans.length === 1) {
    const id = serverVlans[0] ?? 0;
    const vlan = vlans.get(id);
    if (vlan !== undefined && !cidrContains(vlan.cidr, address)) {
      issues.push(error(vipPath, `api_vip ${vip} is not in the servers' subnet ${vlan.subnet} (VLAN ${id})`, `keepalived can only hold an address of the servers' own subnet: pick a free address in ${vlan.subnet}.`));
    } else if (vlan !== undefined && vlan.cidr.prefix < 31 && (address === vlan.cidr.network || address === cidrLast(vlan.cidr))) {
      issues.push(error(vipPath, `api_vip ${vip} is the ${address === vlan.cidr.network ? "network" : "broadcast"} address of ${vlan.subnet}`, "Pick a usable, unused host address of the subnet."));
    }
  }
  for (const { value } of facts.vlans) {
    if (value.gateway === vip) issues.push(error(vipPath, `api_vip ${vip} is the gateway of VLAN ${value.id}`, "The VIP must be an unused address; the gateway belongs to the router."));
  }
  const nameservers = facts.network?.value.nameservers ?? [];
  if (nameservers.includes(vip)) issues.push(error(vipPath, `api_vip ${vip} is one of network.nameservers`, "The VIP must be an unused address; pick one no other machine answers on."));
  if (facts.dns?.value.server === vip) issues.push(error(vipPath, `api_vip ${vip} is the DNS server (dns.server)`, "The VIP must be an unused address; pick one no other machine answers on."));
  for (const { value, index } of facts.lbPool) {
    const pool = parseCidr(value);
    if (pool.ok && cidrContains(pool.cidr, address)) {
      issues.push(error(vipPath, `api_vip ${vip} is inside the LB pool ${value} (cilium.lb_pool[${index}])`, "LB-IPAM would hand the VIP to a Service: pick an address outside the pool, or shrink the pool."));
    }
  }
  for (const key of ["cluster_cidr", "service_cidr"] as const) {
    const block = parseCidr(k3s.value[key]);
    if (block.ok && cidrContains(block.cidr, address)) issues.push(error(vipPath, `api_vip ${vip} is inside the ${key === "cluster_cidr" ? "pod" : "service"} network ${k3s.value[key]}`, "The VIP must be a node-network address reachable from outside the cluster."));
  }
  return issues;
};

/* ------------------------------------------------------------------ cluster DNS */

export const clusterDns: Rule = (facts) => {
  const k3s = facts.k3s;
  const dns = k3s?.value.cluster_dns;
  if (k3s === undefined || dns === undefined) return [];
  const address = parseIpv4(dns);
  const services = parseCidr(k3s.value.service_cidr);
  if (address === undefined || !services.ok) return [];
  const path = [...k3s.path, "cluster_dns"];
  const tenth = formatIpv4((services.cidr.network + 10) >>> 0);
  if (!cidrContains(services.cidr, address)) {
    return [error(path, `cluster_dns ${dns} is outside the service network ${k3s.value.service_cidr}`, `CoreDNS gets a Service address: use one in service_cidr, e.g. ${tenth}, or leave cluster_dns out.`)];
  }
  if (address === services.cidr.network || address === services.cidr.network + 1 || address === cidrLast(services.cidr)) {
    const what = address === services.cidr.network ? "the network address" : address === services.cidr.network + 1 ? "the address of the kubernetes API Service" : "the broadcast address";
    return [error(path, `cluster_dns ${dns} is ${what} of ${k3s.value.service_cidr}`, `Use another address of the service network, e.g. ${tenth}.`)];
  }
  return [];
};


/* ------------------------------------------------------------------ BGP */

/** One node group's session settings: the defaults, then its override, with where each came from. */
export function groupSession(facts: InventoryFacts, label: string): { session: BgpSessionOut; path: (key: keyof BgpSessionOut) => readonly PathSegment[] } | undefined {
  const cilium = facts.cilium;
  const bgp = cilium?.value.bgp;
  if (cilium === undefined || bgp === undefined) return undefined;
  const override = bgp.sessions[label] ?? {};
  const session: BgpSessionOut = {
    ebgp_multihop: override.ebgp_multihop ?? bgp.session.ebgp_multihop,
    hold_time: override.hold_time ?? bgp.session.hold_time,
    keepalive_time: override.keepalive_time ?? bgp.session.keepalive_time,
    connect_retry: override.connect_retry ?? bgp.session.connect_retry,
    graceful_restart: override.graceful_restart ?? bgp.session.graceful_restart,
  };
  const base = [...cilium.path, "bgp"];
  return { session, path: (key) => (override[key] !== undefined ? [...base, "sessions", label, key] : [...base, "session", key]) };
}

export const bgpSessions: Rule = (facts) => {
  const issues: Issue[] = [];
  const cilium = facts.cilium;
  const bgp = cilium?.value.bgp;
  if (cilium === undefined || bgp === undefined) return issues;
  const labels = labelsInUse(facts);
  const vlans = parsedVlans(facts);
  const reported = new Set<string>();
  const once = (issue: Issue): void => {
    const key = `${issue.path.join("/")}|${issue.message}`;
    if (!reported.has(key)) issues.push(issue);
    reported.add(key);
  };
  const groups = new Set([...Object.keys(bgp.peers), ...Object.keys(bgp.sessions)]);
  groups.add("");
  for (const label of groups) {
    const found = groupSession(facts, label);
    if (found === undefined) continue;
    const { session, path } = found;
    const override = label === "" ? undefined : bgp.sessions[label];
    const ownTimers = label === "" || override?.hold_time !== undefined || override?.keepalive_time !== undefined;
    if (!ownTimers) {
      // the shared settings are checked once, under the label ""
    } else if (session.keepalive_time > session.hold_time) {
      once(error(path("keepalive_time"), `keepalive_time ${session.keepalive_time}s is longer than hold_time ${session.hold_time}s${label === "" ? "" : ` for '${label}'`}`, "The session would expire between keepalives: use at most a third of hold_time (e.g. 30 with 90)."));
    } else if (session.keepalive_time * 3 > session.hold_time) {
      once(warning(path("keepalive_time"), `keepalive_time ${session.keepalive_time}s is more than a third of hold_time ${session.hold_time}s${label === "" ? "" : ` for '${label}'`}`, "One lost keepalive could drop the session: keep keepalive_time ≤ hold_time / 3."));
    }
    if (label === "") continue;
    const hosts = labels.get(label) ?? [];
    for (const [i, peer] of (bgp.peers[label] ?? []).entries()) {
      if (peer.asn === bgp.local_asn || session.ebgp_multihop > 1) continue;
      const address = parseIpv4(peer.address);
      if (address === undefined) continue;
      const away = hosts.filter((h) => {
        const vlan = h.fields.data_vlan ? vlans.get(h.fields.data_vlan.value) : undefined;
        return vlan !== undefined && !cidrContains(vlan.cidr, address);
      });
      if (away.length > 0) {
        once(
          error(
            [...cilium.path, "bgp", "peers", label, i, "address"],
            `peer ${peer.address} is not on the subnet of ${away.map((h) => `'${h.name}'`).join(", ")}, and ebgp_multihop is 1`,
            `With ebgp_multihop 1 an eBGP session only reaches a directly connected router: set cilium.bgp.sessions.${label}.ebgp_multihop to the hop count (e.g. 2), or peer with the router on the nodes' subnet.`,
          ),
        );
      }
    }
  }
  for (const label of Object.keys(bgp.sessions)) {
    const path = [...cilium.path, "bgp", "sessions", label];
    if (!labels.has(label)) {
      const suggestion = closest(label, labels.keys());
      issues.push(warning(path, `BGP session settings are set for label '${label}', but no host has that label`, suggestion !== undefined ? `Did you mean '${suggestion}'?` : `Host labels in use: ${[...labels.keys()].join(", ") || "none"}.`, true));
    } else if (bgp.peers[label] === undefined) {
      issues.push(warning(path, `BGP session settings are set for label '${label}', which has no peers`, `Add cilium.bgp.peers.${label}, or remove these settings.`, true));
    }
  }
  return issues;
};

/** Names become router file names and peer names in Cilium: one name, one router. */
export const bgpPeerNames: Rule = (facts) => {
  const issues: Issue[] = [];
  const cilium = facts.cilium;
  const bgp = cilium?.value.bgp;
  if (cilium === undefined || bgp === undefined) return issues;
  const byName = new Map<string, { address: string; asn: number; where: string }>();
  for (const [label, peers] of Object.entries(bgp.peers)) {
    for (const [i, peer] of peers.entries()) {
      if (peer.name === undefined) continue;
      const first = byName.get(peer.name);
      if (first === undefined) {
        byName.set(peer.name, { address: peer.address, asn: peer.asn, where: `peers.${label}[${i}]` });
      } else if (first.address !== peer.address || first.asn !== peer.asn) {
        issues.push(
          error(
            [...cilium.path, "bgp", "peers", label, i, "name"],
            `peer name '${peer.name}' is also used at ${first.where} for ${first.address} AS ${first.asn}, not ${peer.address} AS ${peer.asn}`,
            "A name is one router (it names the router's rendered configuration): give each router its own name, or make both entries the same router.",
          ),
        );
      }
    }
  }
  return issues;
};

export const ciliumVersions: Rule = (facts) => {
  const issues: Issue[] = [];
  const cilium = facts.cilium;
  if (cilium === undefined) return issues;
  const version = cilium.value.version;
  const versionPath = [...cilium.path, "version"];
  if (compareVersions(version, MIN_CILIUM) < 0) {
    issues.push(error(versionPath, `Cilium ${version} is older than ${MIN_CILIUM}, the oldest release edgelab renders for`, `Use Cilium ${MIN_CILIUM} or later (current: 1.19).`));
    return issues;
  }
  const bgp = cilium.value.bgp;
  if (bgp !== undefined) {
    const apiPath = [...cilium.path, "bgp", "api"];
    if (bgp.api === "peering-policy" && compareVersions(version, "1.19.0") >= 0) {
      issues.push(
        error(apiPath, `CiliumBGPPeeringPolicy was removed in Cilium 1.19 (cilium.version is ${version})`, "Write `api: bgpv2` (or leave api out): edgelab renders CiliumBGPClusterConfig, CiliumBGPPeerConfig and CiliumBGPAdvertisement (cilium.io/v2) from the same peers."),
      );
    } else if (bgp.api === "peering-policy" && compareVersions(version, "1.18.0") >= 0) {
      issues.push(warning(apiPath, `CiliumBGPPeeringPolicy is deprecated in Cilium 1.18 and removed in 1.19`, "Write `api: bgpv2` (or leave api out) to render the current resources; upgrades to 1.19 need them."));
    } else if (bgp.api === "bgpv2" && compareVersions(version, "1.16.0") < 0) {
      issues.push(error(apiPath, `the BGPv2 resources (CiliumBGPClusterConfig, ...) need Cilium 1.16 or later (cilium.version is ${version})`, "Write `api: peering-policy` (or leave api out) for this release, or upgrade Cilium."));
    }
  }
  const fieldPath = [...cilium.path, "lb_pool_field"];
  if (cilium.value.lb_pool_field === "cidrs" && compareVersions(version, "1.16.0") >= 0) {
    issues.push(error(fieldPath, `CiliumLoadBalancerIPPool.spec.cidrs was removed in Cilium 1.16 (cilium.version is ${version})`, "Write `lb_pool_field: blocks` (or leave it out): the same lb_pool is rendered as spec.blocks."));
  } else if (cilium.value.lb_pool_field === "blocks" && compareVersions(version, "1.15.0") < 0) {
    issues.push(error(fieldPath, `CiliumLoadBalancerIPPool.spec.blocks needs Cilium 1.15 or later (cilium.version is ${version})`, "Write `lb_pool_field: cidrs` (or leave it out) for this release."));
  }
  return issues;
};

/* ------------------------------------------------------------------ storage and host keys */

export const hostStorage: Rule = (facts) => {
  const issues: Issue[] = [];
  const luns = new Map<string, { host: string; path: readonly PathSegment[] }>();
  const local = facts.lab?.value.provider === "local";
  for (const host of facts.hosts) {
    const nfs = host.fields.nfs_exports;
    const iscsi = host.fields.iscsi_targets;
    if (local && (nfs !== undefined || iscsi !== undefined)) {
      issues.push(warning((nfs ?? iscsi)?.path ?? host.path, `storage of host '${host.name}' is ignored by the local lab`, "NFS and iSCSI mounts are made on cluster hosts (provider proxmox) only.", true));
      continue;
    }
    const mounts = new Map<string, readonly PathSegment[]>();
    const claim = (mountPath: string, path: readonly PathSegment[]): void => {
      const normalized = mountPath.replace(/\/+$/, "") || "/";
      if (normalized === "/") {
        issues.push(error(path, `host '${host.name}' would mount storage on /`, "Mount it on a directory of its own, e.g. /mnt/data."));
        return;
      }
      const first = mounts.get(normalized);
      if (first !== undefined) issues.push(error(path, `host '${host.name}' mounts two things on ${normalized}`, "Give each mount its own directory."));
      else mounts.set(normalized, path);
    };
    for (const [i, entry] of (nfs?.value ?? []).entries()) claim(entry.path, [...(nfs?.path ?? host.path), i, "path"]);
    for (const [i, entry] of (iscsi?.value ?? []).entries()) {
      const base = [...(iscsi?.path ?? host.path), i];
      claim(entry.path, [...base, "path"]);
      if (!entry.options.split(",").includes("_netdev")) {
        issues.push(warning([...base, "options"], `iSCSI mount ${entry.path} of host '${host.name}' lacks _netdev`, "Without _netdev, boot waits for the device before the network (and the iSCSI session) is up: add _netdev to options."));
      }
      const key = `${entry.target}|${entry.lun}`;
      const other = luns.get(key);
      if (other === undefined) {
        luns.set(key, { host: host.name, path: base });
      } else if (other.host !== host.name) {
        issues.push(
          error(
            [...base, "target"],
            `iSCSI LUN ${entry.lun} of ${entry.target} is also mounted by host '${other.host}'`,
            `${entry.fstype} is not a cluster filesystem: two hosts mounting one LUN corrupt it. Give each host its own LUN.`,
          ),
        );
      } else {
        issues.push(error([...base, "target"], `iSCSI LUN ${entry.lun} of ${entry.target} is listed twice for host '${host.name}'`, "List each LUN once."));
      }
    }
  }
  return issues;
};

export const sshHostKeys: Rule = (facts) => {
  const issues: Issue[] = [];
  const seen = new Map<string, string>();
  for (const host of facts.hosts) {
    const keys = host.fields.ssh_host_keys;
    if (keys === undefined) continue;
    for (const [i, line] of keys.value.entries()) {
      const [type, blob] = line.split(" ");
      const id = `${type ?? ""} ${blob ?? ""}`;
      const other = seen.get(id);
      if (other !== undefined && other !== host.name) {
        issues.push(warning([...keys.path, i], `host '${host.name}' has the same ${type ?? ""} host key as host '${other}'`, "Hosts cloned from one image without regenerating their host keys cannot be told apart over SSH: regenerate them (ssh-keygen -A after removing /etc/ssh/ssh_host_*)."));
      } else {
        seen.set(id, host.name);
      }
    }
  }
  return issues;
};

/**
 * A proxmox lab's VMs get their login from cloud-init: the keys in proxmox.ssh_keys for
 * ansible_user. With none, and no ansible_password for a host, Ansible has no way in (unless the
 * template already trusts a key, which edgelab cannot see): a warning naming those hosts.
 */
export const ansibleAccess: Rule = (facts) => {
  const proxmox = facts.proxmox;
  if (facts.lab?.value.provider !== "proxmox" || proxmox === undefined) return [];
  if (proxmox.value.ssh_keys.length > 0) return [];
  const locked = facts.hosts.filter((h) => h.fields.ansible_password === undefined).map((h) => h.name);
  if (locked.length === 0) return [];
  const who = locked.length === facts.hosts.length ? "no host has an ansible_password" : `host${locked.length === 1 ? "" : "s"} ${locked.join(", ")} ${locked.length === 1 ? "has" : "have"} no ansible_password`;
  return [
    warning(
      proxmox.path,
      `proxmox.ssh_keys is empty and ${who}: Ansible has no way to log in to the VMs (unless the template already trusts your key)`,
      "Add your public key to proxmox.ssh_keys (cloud-init installs it for ansible_user), e.g. ssh_keys: [\"ssh-ed25519 AAAA... you@host\"], or give ansible_password as {env: NAME}.",
    ),
  ];
};

/* ------------------------------------------------------------------ edges per node group */

export const edgeGroups: Rule = (facts) => {
  const issues: Issue[] = [];
  const edge = facts.edge;
  if (edge === undefined) return issues;
  const groups = edge.value.groups;
  const labels = labelsInUse(facts);
  for (const [label, settings] of Object.entries(groups)) {
    const path = [...edge.path, "groups", label];
    if (facts.lab?.value.provider === "local") {
      issues.push(warning(path, `edge.groups.${label} is ignored by the local lab`, "The local lab runs one edge per worker with edge.cache_mb; per-group edges apply to the cluster.", true));
      continue;
    }
    const workers = (labels.get(label) ?? []).filter((h) => h.role === "agent");
    if (workers.length === 0) {
      const workerLabels = [...labels.entries()].filter(([, hosts]) => hosts.some((h) => h.role === "agent")).map(([l]) => l);
      const suggestion = closest(label, workerLabels);
      issues.push(
        error(path, `edge.groups names label '${label}', which has no workers`, suggestion !== undefined ? `Did you mean '${suggestion}'?` : `Edges run on workers; worker labels: ${workerLabels.join(", ") || "none"}.`, true),
      );
      continue;
    }
    const cacheMb = settings.cache_mb ?? edge.value.cache_mb;
    const replicas = settings.replicas ?? workers.length;
    const perWorker = Math.ceil(replicas / workers.length);
    const memories = workers.map((h) => h.fields.memory?.value).filter((m): m is number => m !== undefined);
    const smallest = memories.length > 0 ? Math.min(...memories) : undefined;
    if (smallest === undefined) continue;
    const need = cacheMb * perWorker;
    const where = settings.cache_mb !== undefined ? [...path, "cache_mb"] : settings.replicas !== undefined ? [...path, "replicas"] : path;
    const detail = `${perWorker} edge${perWorker === 1 ? "" : "s"} × ${cacheMb} MiB of memory-backed cache per worker`;
    if (need >= smallest) {
      issues.push(error(where, `the '${label}' edges need ${detail}, but a worker there has ${smallest} MiB of memory`, "Lower cache_mb or replicas, or give the workers more memory."));
    } else if (need * 2 > smallest) {
      issues.push(warning(where, `the '${label}' edges take ${detail}: more than half of a worker's ${smallest} MiB`, "Leave room for K3s, Cilium and nginx itself: keep the cache under half of the worker's memory."));
    }
  }
  return issues;
};

/* ------------------------------------------------------------------ registry, DNS updates, air-gap */

function isGenerate(ref: SecretRef | undefined): boolean {
  return ref !== undefined && typeof ref === "object" && "generate" in ref;
}

export const registryAndDns: Rule = (facts) => {
  const issues: Issue[] = [];
  const registry = facts.images?.value.registry;
  if (registry !== undefined && facts.images !== undefined) {
    const base = [...facts.images.path, "registry"];
    if (registry.username !== undefined && registry.password === undefined) {
      issues.push(error([...base, "username"], "images.registry has a username but no password", "Add password: {env: EDGELAB_REGISTRY_PASSWORD} (or {file: ...}, a vault value)."));
    }
    if (registry.password !== undefined && registry.username === undefined) {
      issues.push(error([...base, "password"], "images.registry has a password but no username", "Add the user name the password belongs to."));
    }
    if (isGenerate(registry.password)) {
      issues.push(error([...base, "password"], "a registry password cannot be generated", "The registry already has it: use {env: EDGELAB_REGISTRY_PASSWORD}, {file: path} or a vault value."));
    }
  }
  const dns = facts.dns;
  if (dns !== undefined) {
    const value = dns.value;
    if (value.zone !== undefined && value.name !== value.zone && !value.name.toLowerCase().endsWith(`.${value.zone.toLowerCase()}`)) {
      issues.push(error([...dns.path, "zone"], `dns.name ${value.name} is not inside zone ${value.zone}`, `The record is updated in its zone: use a zone that ${value.name} ends with (e.g. ${value.name.split(".").slice(1).join(".") || value.name}).`));
    }
    if (value.zone === undefined && value.server !== undefined && !value.name.includes(".")) {
      issues.push(error([...dns.path, "name"], `dns.name ${value.name} has no parent zone to update`, "Set dns.zone, or use a fully qualified name such as live.example.com."));
    }
    if (value.server !== undefined && value.tsig === undefined) {
      issues.push(error([...dns.path, "server"], "dns.server is set but dns.tsig is not", "edgelab only sends signed updates: add tsig: {name: <key name>, secret: {env: EDGELAB_DNS_TSIG_SECRET}} with the key the server accepts."));
    }
    if (value.tsig !== undefined && value.server === undefined) {
      issues.push(warning([...dns.path, "tsig"], "dns.tsig is set but dns.server is not: it is unused", "Set dns.server to the server that accepts the updates.", true));
    }
    if (isGenerate(value.tsig?.secret)) {
      issues.push(error([...dns.path, "tsig", "secret"], "a TSIG secret cannot be generated", "It must be the key the DNS server has: use {env: EDGELAB_DNS_TSIG_SECRET}, {file: path} or a vault value."));
    }
  }
  return issues;
};

export const airgap: Rule = (facts) => {
  const issues: Issue[] = [];
  const section = facts.airgap;
  if (section === undefined) return issues;
  if (facts.lab?.value.provider === "local") {
    issues.push(warning(section.path, "airgap is ignored by the local lab", "It applies to cluster hosts (provider proxmox).", true));
    return issues;
  }
  const version = facts.cilium?.value.version;
  const chart = section.value.cilium_chart;
  if (chart === undefined) {
    issues.push(warning(section.path, "airgap is set but airgap.cilium_chart is not: the Cilium chart will be fetched from cilium.chart_repo", "Add cilium_chart: <path>/cilium-<version>.tgz (helm pull cilium/cilium --version <version>) for a lab without internet access.", true));
  } else if (version !== undefined) {
    const named = /(\d+\.\d+\.\d+)\.tgz$/.exec(chart)?.[1];
    if (named !== undefined && named !== version) {
      issues.push(error([...section.path, "cilium_chart"], `airgap.cilium_chart is version ${named}, but cilium.version is ${version}`, "The chart must be the release the inventory pins: pull the matching chart or change cilium.version."));
    }
  }
  const k3sVersion = facts.k3s?.value.version;
  const binaryVersion = /(v\d+\.\d+\.\d+[+-]k3s\d+)/.exec(section.value.k3s_images)?.[1]?.replace("-k3s", "+k3s");
  if (k3sVersion !== undefined && binaryVersion !== undefined && binaryVersion !== k3sVersion) {
    issues.push(error([...section.path, "k3s_images"], `airgap.k3s_images is for ${binaryVersion}, but k3s.version is ${k3sVersion}`, "The images archive must come from the release the inventory pins."));
  }
  return issues;
};

/* ------------------------------------------------------------------ extra K3s config */

export const k3sExtraConfig: Rule = (facts) => {
  const issues: Issue[] = [];
  const k3s = facts.k3s;
  if (k3s === undefined) return issues;
  for (const [field, role] of [["server_config", "server"], ["agent_config", "agent"]] as const) {
    for (const [key, value] of Object.entries(k3s.value[field])) {
      const path = [...k3s.path, field, key];
      const managed = K3S_MANAGED_KEYS[key];
      if (managed !== undefined) {
        issues.push(error(path, `K3s key '${key}' is set by edgelab`, `Set ${managed} instead.`, true));
        continue;
      }
      const problem = checkK3sKey(role, key, value);
      if (problem !== undefined) issues.push(error(path, problem.message, problem.hint, true));
    }
  }
  return issues;
};

export const CLUSTER_RULES: readonly Rule[] = [apiVip, clusterDns, bgpSessions, bgpPeerNames, ciliumVersions, hostStorage, sshHostKeys, ansibleAccess, edgeGroups, registryAndDns, airgap, k3sExtraConfig];

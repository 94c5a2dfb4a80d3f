/** The cluster half's settings: each cross-field rule, both sides, with its location and hint. */
import { describe, expect, it } from "vitest";
import { at, check, errors, host, labData, localData, matching, vars, type Data } from "../../helpers/inventory.js";

const K3S = "all.vars.k3s";
const BGP = "all.vars.cilium.bgp";

function issueAt(data: Data, pattern: RegExp) {
  return check(data).issues.find((i) => pattern.test(i.message));
}

describe("API VIP", () => {
  it("accepts a free address in the servers' subnet, with no warning", () => {
    const data = labData();
    at(data, K3S)["api_vip"] = "172.16.221.37";
    expect(check(data).issues).toEqual([]);
  });
  it("rejects the gateway, a nameserver, the DNS server, a host's address and an LB pool address", () => {
    const data = labData();
    at(data, K3S)["api_vip"] = "172.16.221.1";
    expect(matching(check(data), /api_vip/, "error")).toEqual([
      "all.vars.k3s.api_vip: api_vip 172.16.221.1 is one of network.nameservers",
      "all.vars.k3s.api_vip: api_vip 172.16.221.1 is the gateway of VLAN 221",
    ]);
    at(data, "all.vars.network")["nameservers"] = ["172.16.221.53"];
    at(data, K3S)["api_vip"] = "172.16.221.53";
    expect(matching(check(data), /api_vip/, "error")).toEqual(["all.vars.k3s.api_vip: api_vip 172.16.221.53 is one of network.nameservers"]);
    at(data, "all.vars.dns")["server"] = "172.16.221.54";
    at(data, "all.vars.dns")["tsig"] = { name: "edgelab", secret: { env: "TSIG" } };
    at(data, K3S)["api_vip"] = "172.16.221.54";
    expect(matching(check(data), /api_vip/, "error")).toEqual(["all.vars.k3s.api_vip: api_vip 172.16.221.54 is the DNS server (dns.server)"]);
    at(data, K3S)["api_vip"] = "172.16.221.40";
    expect(matching(check(data), /api_vip/, "error")).toEqual(["all.vars.k3s.api_vip: api_vip 172.16.221.40 is also the address of host 'lab-k3s03'"]);
  });
  it("rejects an address inside the LB pool, saying which block", () => {
    const data = labData();
    at(data, "all.vars.cilium")["lb_pool"] = ["172.16.228.0/24", "172.16.221.192/27"];
    at(data, K3S)["api_vip"] = "172.16.221.200";
    const issue = issueAt(data, /inside the LB pool/);
    expect(issue?.message).toBe("api_vip 172.16.221.200 is inside the LB pool 172.16.221.192/27 (cilium.lb_pool[1])");
    expect(issue?.hint).toMatch(/outside the pool/);
    expect(issue?.position.line).toBeGreaterThan(1);
  });
  it("rejects the subnet's network and broadcast addresses", () => {
    const data = labData();
    at(data, K3S)["api_vip"] = "172.16.221.255";
    expect(matching(check(data), /broadcast address of 172.16.221.0\/24/, "error")).toHaveLength(1);
  });
  it("rejects keepalived when the servers span subnets, and accepts an external holder there", () => {
    const data = labData();
    host(data, "lab-k3s03")["data_vlan"] = 222;
    host(data, "lab-k3s03")["ansible_host"] = "172.16.222.40";
    at(data, BGP)["sessions"] = { master: { ebgp_multihop: 2 } };
    at(data, K3S)["api_vip"] = "172.16.221.37";
    const issue = issueAt(data, /held with VRRP, but the servers are in 2 subnets/);
    expect(issue?.severity).toBe("error");
    expect(issue?.hint).toMatch(/api_vip_holder: external/);
    at(data, K3S)["api_vip_holder"] = "external";
    expect(errors(check(data))).toEqual([]);
  });
  it("warns about a VIP with a single server, and not with three", () => {
    const data = labData();
    const masters = at(data, "all.children.k3s_cluster.children.master.hosts");
    delete masters["lab-k3s02"];
    delete masters["lab-k3s03"];
    at(data, K3S)["api_vip"] = "172.16.221.37";
    expect(matching(check(data), /single K3s server/, "warning")).toEqual(["all.vars.k3s.api_vip: api_vip 172.16.221.37 with a single K3s server: there is nothing to fail over to"]);
    expect(matching(check(labData()), /single K3s server/)).toEqual([]);
  });
  it("warns that vrrp settings without a VIP, or with an external holder, are ignored", () => {
    const data = labData();
    at(data, K3S)["vrrp"] = { router_id: 7 };
    expect(matching(check(data), /k3s.vrrp is set but k3s.api_vip is not/, "warning")).toHaveLength(1);
    at(data, K3S)["api_vip"] = "172.16.221.37";
    expect(check(data).issues).toEqual([]);
    at(data, K3S)["api_vip_holder"] = "external";
    expect(matching(check(data), /k3s.vrrp is ignored: api_vip_holder is external/, "warning")).toHaveLength(1);
  });
  it("rejects an inline VRRP password", () => {
    const data = labData();
    at(data, K3S)["api_vip"] = "172.16.221.37";
    at(data, K3S)["vrrp"] = { password: "hunter2" };
    const issue = issueAt(data, /secret written inline/);
    expect(issue?.path).toEqual(["all", "vars", "k3s", "vrrp", "password"]);
    expect(issue?.hint).toMatch(/\{env: K3S_VRRP_PASSWORD\}/);
  });
});

describe("cluster DNS", () => {
  it("accepts an address inside the service network", () => {
    const data = labData();
    at(data, K3S)["cluster_dns"] = "10.43.0.53";
    expect(check(data).issues).toEqual([]);
  });
  it("rejects an address outside the service network, suggesting its 10th address", () => {
    const data = labData();
    at(data, K3S)["service_cidr"] = "10.96.0.0/16";
    at(data, K3S)["cluster_dns"] = "10.43.0.10";
    const issue = issueAt(data, /cluster_dns/);
    expect(issue?.message).toBe("cluster_dns 10.43.0.10 is outside the service network 10.96.0.0/16");
    expect(issue?.hint).toMatch(/e\.g\. 10\.96\.0\.10/);
  });
  it("rejects the kubernetes API Service's address", () => {
    const data = labData();
    at(data, K3S)["cluster_dns"] = "10.43.0.1";
    expect(matching(check(data), /cluster_dns/)).toEqual(["all.vars.k3s.cluster_dns: cluster_dns 10.43.0.1 is the address of the kubernetes API Service of 10.43.0.0/16"]);
  });
});

describe("BGP sessions", () => {
  it("accepts session defaults and per-group overrides for labels that have peers", () => {
    const data = labData();
    at(data, BGP)["session"] = { hold_time: 9, keepalive_time: 3, graceful_restart: { enabled: true } };
    at(data, BGP)["sessions"] = { "west-worker": { ebgp_multihop: 4, connect_retry: 5 } };
    expect(check(data).issues).toEqual([]);
  });
  it("rejects a keepalive longer than the hold time, at the group's override", () => {
    const data = labData();
    at(data, BGP)["sessions"] = { "west-worker": { keepalive_time: 100 } };
    expect(matching(check(data), /keepalive_time/)).toEqual(["all.vars.cilium.bgp.sessions.west-worker.keepalive_time: keepalive_time 100s is longer than hold_time 90s for 'west-worker'"]);
  });
  it("warns when keepalives are more than a third of the hold time, at the shared setting", () => {
    const data = labData();
    at(data, BGP)["session"] = { hold_time: 60, keepalive_time: 30 };
    expect(matching(check(data), /keepalive_time/, "warning")).toEqual(["all.vars.cilium.bgp.session.keepalive_time: keepalive_time 30s is more than a third of hold_time 60s"]);
  });
  it("rejects a router off the nodes' subnet with ebgp_multihop 1, and accepts it with 2", () => {
    const data = labData();
    const peers = at(data, `${BGP}.peers`);
    peers["west-worker"] = [{ name: "region-router01", address: "172.16.30.128", asn: 30 }];
    const issue = issueAt(data, /not on the subnet/);
    expect(issue?.message).toBe("peer 172.16.30.128 is not on the subnet of 'west-lab-k3s01', and ebgp_multihop is 1");
    expect(issue?.path).toEqual(["all", "vars", "cilium", "bgp", "peers", "west-worker", 0, "address"]);
    expect(issue?.hint).toMatch(/cilium\.bgp\.sessions\.west-worker\.ebgp_multihop/);
    at(data, BGP)["sessions"] = { "west-worker": { ebgp_multihop: 2 } };
    expect(errors(check(data))).toEqual([]);
  });
  it("warns about session settings for a label no host has (with a suggestion) or one without peers", () => {
    const data = labData();
    at(data, BGP)["sessions"] = { "west-wroker": { ebgp_multihop: 2 } };
    const issue = issueAt(data, /no host has that label/);
    expect(issue?.severity).toBe("warning");
    expect(issue?.hint).toBe("Did you mean 'west-worker'?");
    const other = labData();
    delete at(other, `${BGP}.peers`)["master"];
    at(other, BGP)["sessions"] = { master: { ebgp_multihop: 2 } };
    expect(matching(check(other), /which has no peers/, "warning")).toEqual(["all.vars.cilium.bgp.sessions.master: BGP session settings are set for label 'master', which has no peers"]);
  });
  it("rejects one peer name for two different routers", () => {
    const data = labData();
    at(data, `${BGP}.peers`)["east-worker"] = [{ name: "region-router01", address: "172.16.223.1", asn: 30 }];
    expect(matching(check(data), /peer name/)).toEqual([
      "all.vars.cilium.bgp.peers.east-worker[0].name: peer name 'region-router01' is also used at peers.west-worker[0] for 172.16.222.1 AS 30, not 172.16.223.1 AS 30",
    ]);
    const same = labData();
    at(same, `${BGP}.peers`)["east-worker"] = [{ name: "region-router01", address: "172.16.222.1", asn: 30 }];
    at(same, BGP)["sessions"] = { "east-worker": { ebgp_multihop: 2 } };
    expect(matching(check(same), /peer name/)).toEqual([]);
  });
});

describe("Cilium releases and the resources they accept", () => {
  it("refuses the peering policy on 1.19 and says what to write instead", () => {
    const data = labData();
    at(data, BGP)["api"] = "peering-policy";
    const issue = issueAt(data, /CiliumBGPPeeringPolicy/);
    expect(issue?.severity).toBe("error");
    expect(issue?.message).toBe("CiliumBGPPeeringPolicy was removed in Cilium 1.19 (cilium.version is 1.19.1)");
    expect(issue?.hint).toMatch(/^Write `api: bgpv2`/);
    expect(issue?.path).toEqual(["all", "vars", "cilium", "bgp", "api"]);
  });
  it("warns about the peering policy on 1.18 and accepts it on 1.17", () => {
    const data = labData();
    at(data, BGP)["api"] = "peering-policy";
    at(data, "all.vars.cilium")["version"] = "1.18.4";
    expect(matching(check(data), /deprecated in Cilium 1.18/, "warning")).toHaveLength(1);
    at(data, "all.vars.cilium")["version"] = "1.17.9";
    expect(check(data).issues).toEqual([]);
  });
  it("refuses BGPv2 before 1.16", () => {
    const data = labData();
    at(data, BGP)["api"] = "bgpv2";
    at(data, "all.vars.cilium")["version"] = "1.15.7";
    expect(matching(check(data), /need Cilium 1.16 or later/, "error")).toHaveLength(1);
    at(data, "all.vars.cilium")["version"] = "1.16.0";
    expect(check(data).issues).toEqual([]);
  });
  it("refuses `cidrs` on 1.16 and later, saying to write blocks", () => {
    const data = labData();
    at(data, "all.vars.cilium")["lb_pool_field"] = "cidrs";
    at(data, "all.vars.cilium")["version"] = "1.16.0";
    const issue = issueAt(data, /spec.cidrs/);
    expect(issue?.message).toBe("CiliumLoadBalancerIPPool.spec.cidrs was removed in Cilium 1.16 (cilium.version is 1.16.0)");
    expect(issue?.hint).toMatch(/^Write `lb_pool_field: blocks`/);
    at(data, "all.vars.cilium")["version"] = "1.15.7";
    at(data, BGP)["api"] = "peering-policy";
    expect(check(data).issues).toEqual([]);
  });
  it("refuses `blocks` before 1.15 and releases before 1.14", () => {
    const data = labData();
    at(data, "all.vars.cilium")["lb_pool_field"] = "blocks";
    at(data, "all.vars.cilium")["version"] = "1.14.9";
    expect(matching(check(data), /spec.blocks needs Cilium 1.15/, "error")).toHaveLength(1);
    at(data, "all.vars.cilium")["version"] = "1.13.4";
    expect(matching(check(data), /older than 1.14.0/, "error")).toHaveLength(1);
  });
});

describe("storage per host", () => {
  const nfs = { export: "172.16.221.10:/export/longhorn", path: "/mnt/longhorn/data" };
  const lun = { portal: "172.16.221.10", target: "iqn.2024-04.com.example:storage.lab-k3s01", path: "/mnt/iscsi" };
  it("accepts an NFS export and an iSCSI LUN per host, inherited or on the host", () => {
    const data = labData();
    at(data, "all.children.k3s_cluster.vars")["nfs_exports"] = [nfs];
    host(data, "lab-k3s01")["iscsi_targets"] = [{ ...lun, format: true }];
    host(data, "lab-k3s02")["iscsi_targets"] = [{ ...lun, target: "iqn.2024-04.com.example:storage.lab-k3s02" }];
    expect(check(data).issues).toEqual([]);
  });
  it("rejects one LUN mounted by two hosts", () => {
    const data = labData();
    host(data, "lab-k3s01")["iscsi_targets"] = [lun];
    host(data, "lab-k3s02")["iscsi_targets"] = [lun];
    const issue = issueAt(data, /also mounted by host/);
    expect(issue?.message).toBe("iSCSI LUN 0 of iqn.2024-04.com.example:storage.lab-k3s01 is also mounted by host 'lab-k3s01'");
    expect(issue?.path).toEqual(["all", "children", "k3s_cluster", "children", "master", "hosts", "lab-k3s02", "iscsi_targets", 0, "target"]);
    expect(issue?.hint).toMatch(/not a cluster filesystem/);
  });
  it("rejects two mounts on one directory and a mount on /", () => {
    const data = labData();
    host(data, "lab-k3s01")["nfs_exports"] = [nfs, { ...nfs, path: "/" }];
    host(data, "lab-k3s01")["iscsi_targets"] = [{ ...lun, path: "/mnt/longhorn/data/" }];
    expect(matching(check(data), /mounts two things|on \//, "error")).toEqual([
      "all.children.k3s_cluster.children.master.hosts.lab-k3s01.nfs_exports[1].path: host 'lab-k3s01' would mount storage on /",
      "all.children.k3s_cluster.children.master.hosts.lab-k3s01.iscsi_targets[0].path: host 'lab-k3s01' mounts two things on /mnt/longhorn/data",
    ]);
  });
  it("warns about an iSCSI mount without _netdev", () => {
    const data = labData();
    host(data, "lab-k3s01")["iscsi_targets"] = [{ ...lun, options: "defaults" }];
    expect(matching(check(data), /lacks _netdev/, "warning")).toHaveLength(1);
  });
  it("rejects malformed exports, IQNs and relative mount paths", () => {
    const data = labData();
    host(data, "lab-k3s01")["nfs_exports"] = [{ export: "nfs-server/export", path: "mnt/data" }];
    host(data, "lab-k3s02")["iscsi_targets"] = [{ ...lun, target: "storage-lun-1" }];
    expect(errors(check(data)).map((i) => i.message)).toEqual([
      'must be server:/path, e.g. 172.16.221.10:/export/longhorn, got the string "nfs-server/export"',
      'must be an absolute path without spaces, e.g. /mnt/data, got the string "mnt/data"',
      'must be an iSCSI name: iqn.YYYY-MM.reversed.domain[:name], eui.<16 hex> or naa.<hex>, got the string "storage-lun-1"',
    ]);
  });
  it("warns that the local lab ignores storage", () => {
    const data = localData();
    host(data, "lab-k3s01")["nfs_exports"] = [nfs];
    expect(matching(check(data), /ignored by the local lab/, "warning")).toHaveLength(1);
  });
});

describe("a way in for Ansible (provider proxmox)", () => {
  it("warns when cloud-init gets no key and no host has a password, with the fix", () => {
    const data = labData();
    at(data, "all.vars.proxmox")["ssh_keys"] = [];
    const found = check(data).issues.filter((i) => /no way to log in/.test(i.message));
    expect(found.map((i) => [i.severity, i.path.join("."), i.message])).toEqual([
      ["warning", "all.vars.proxmox", "proxmox.ssh_keys is empty and no host has an ansible_password: Ansible has no way to log in to the VMs (unless the template already trusts your key)"],
    ]);
    expect(found[0]?.hint).toMatch(/Add your public key to proxmox\.ssh_keys/);
  });
  it("names only the hosts without a password, and is quiet once every host has one or a key is given", () => {
    const data = labData();
    at(data, "all.vars.proxmox")["ssh_keys"] = [];
    for (const h of ["lab-k3s01", "lab-k3s02", "lab-k3s03"]) host(data, h)["ansible_password"] = { env: "LAB_SSH_PASSWORD" };
    expect(matching(check(data), /no way to log in/, "warning")).toEqual([
      "all.vars.proxmox: proxmox.ssh_keys is empty and hosts west-lab-k3s01, east-lab-k3s01 have no ansible_password: Ansible has no way to log in to the VMs (unless the template already trusts your key)",
    ]);
    at(data, "all.vars")["ansible_password"] = { env: "LAB_SSH_PASSWORD" };
    expect(check(data).issues).toEqual([]);
    const keyed = labData();
    expect(check(keyed).issues).toEqual([]);
  });
  it("does not apply to the local lab", () => {
    expect(check(localData()).issues.filter((i) => /no way to log in/.test(i.message))).toEqual([]);
  });
});

describe("SSH host keys", () => {
  const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBm6v0pCSaV0qiyb2zX0Wc0N1a1p8o1ukGxHcX1yLr4E";
  it("accepts each host's own keys", () => {
    const data = labData();
    host(data, "lab-k3s01")["ssh_host_keys"] = [key];
    host(data, "lab-k3s02")["ssh_host_keys"] = [key.replace("AAAAIBm6", "AAAAIBm7") + " root@lab-k3s02"];
    expect(check(data).issues).toEqual([]);
  });
  it("warns when two hosts share a host key", () => {
    const data = labData();
    host(data, "lab-k3s01")["ssh_host_keys"] = [key];
    host(data, "lab-k3s02")["ssh_host_keys"] = [`${key} root@clone`];
    expect(matching(check(data), /same ssh-ed25519 host key/, "warning")).toEqual([
      "all.children.k3s_cluster.children.master.hosts.lab-k3s02.ssh_host_keys[0]: host 'lab-k3s02' has the same ssh-ed25519 host key as host 'lab-k3s01'",
    ]);
  });
  it("rejects something that is not a public key line", () => {
    const data = labData();
    host(data, "lab-k3s01")["ssh_host_keys"] = ["-----BEGIN OPENSSH PRIVATE KEY-----"];
    expect(errors(check(data)).map((i) => i.message)[0]).toMatch(/^must be an OpenSSH public key line/);
  });
});

describe("edges per node group", () => {
  it("accepts replicas and cache sizes that fit the workers", () => {
    const data = labData();
    at(data, "all.vars.edge")["groups"] = { "west-worker": { replicas: 1, cache_mb: 1024 }, "east-worker": { cache_mb: 512 } };
    expect(check(data).issues).toEqual([]);
  });
  it("rejects a cache that does not fit in a worker's memory, and warns past half of it", () => {
    const data = labData();
    at(data, "all.vars.edge")["groups"] = { "west-worker": { replicas: 2, cache_mb: 2048 } };
    expect(matching(check(data), /'west-worker' edges/, "error")).toEqual([
      "all.vars.edge.groups.west-worker.cache_mb: the 'west-worker' edges need 2 edges × 2048 MiB of memory-backed cache per worker, but a worker there has 4096 MiB of memory",
    ]);
    at(data, "all.vars.edge")["groups"] = { "west-worker": { cache_mb: 3000 } };
    expect(matching(check(data), /'west-worker' edges take/, "warning")).toHaveLength(1);
  });
  it("rejects a label without workers, suggesting the closest worker label", () => {
    const data = labData();
    at(data, "all.vars.edge")["groups"] = { "west-workers": { replicas: 2 } };
    const issue = issueAt(data, /has no workers/);
    expect(issue?.severity).toBe("error");
    expect(issue?.hint).toBe("Did you mean 'west-worker'?");
    at(data, "all.vars.edge")["groups"] = { master: { replicas: 2 } };
    expect(matching(check(data), /label 'master', which has no workers/, "error")).toHaveLength(1);
  });
  it("warns that the local lab ignores per-group edges", () => {
    const data = localData();
    at(data, "all.vars.edge")["groups"] = { "west-worker": { replicas: 2 } };
    expect(matching(check(data), /ignored by the local lab/, "warning")).toHaveLength(1);
  });
});

describe("image registry", () => {
  it("accepts an address with a user and a password from the environment", () => {
    const data = labData();
    at(data, "all.vars.images")["registry"] = { address: "registry.example.com:5000/edgelab", username: "edgelab", password: { env: "EDGELAB_REGISTRY_PASSWORD" } };
    expect(check(data).issues).toEqual([]);
  });
  it("rejects a user without a password, a password without a user, and a generated password", () => {
    const data = labData();
    at(data, "all.vars.images")["registry"] = { address: "ghcr.io/example", username: "edgelab" };
    expect(matching(check(data), /registry/, "error")).toEqual(["all.vars.images.registry.username: images.registry has a username but no password"]);
    at(data, "all.vars.images")["registry"] = { address: "ghcr.io/example", password: { generate: true } };
    expect(matching(check(data), /registry/, "error")).toEqual([
      "all.vars.images.registry.password: a registry password cannot be generated",
      "all.vars.images.registry.password: images.registry has a password but no username",
    ]);
  });
  it("rejects an inline password, naming the environment variable to use", () => {
    const data = labData();
    at(data, "all.vars.images")["registry"] = { address: "ghcr.io/example", username: "edgelab", password: "ghp_123" };
    expect(issueAt(data, /secret written inline/)?.hint).toMatch(/\{env: IMAGES_REGISTRY_PASSWORD\}/);
  });
});

describe("DNS updates", () => {
  const tsig = { name: "edgelab-update", secret: { env: "EDGELAB_DNS_TSIG_SECRET" } };
  it("accepts a server with a TSIG key and a zone the name is in", () => {
    const data = labData();
    Object.assign(at(data, "all.vars.dns"), { server: "172.16.221.1", zone: "example.com", tsig });
    expect(check(data).issues).toEqual([]);
  });
  it("rejects a server without TSIG: updates are always signed", () => {
    const data = labData();
    at(data, "all.vars.dns")["server"] = "ns1.example.com";
    const issue = issueAt(data, /dns.server is set but dns.tsig is not/);
    expect(issue?.severity).toBe("error");
    expect(issue?.hint).toMatch(/\{env: EDGELAB_DNS_TSIG_SECRET\}/);
  });
  it("rejects a name outside its zone and a generated or inline TSIG secret", () => {
    const data = labData();
    Object.assign(at(data, "all.vars.dns"), { server: "172.16.221.1", zone: "example.org", tsig: { ...tsig, secret: { generate: true } } });
    expect(matching(check(data), /zone|TSIG/, "error")).toEqual([
      "all.vars.dns.zone: dns.name live.example.com is not inside zone example.org",
      "all.vars.dns.tsig.secret: a TSIG secret cannot be generated",
    ]);
    Object.assign(at(data, "all.vars.dns"), { zone: "example.com", tsig: { ...tsig, secret: "c2VjcmV0" } });
    expect(matching(check(data), /secret written inline/)).toEqual(["all.vars.dns.tsig.secret: secret written inline"]);
  });
  it("warns about a TSIG key with no server to use it", () => {
    const data = labData();
    at(data, "all.vars.dns")["tsig"] = tsig;
    expect(matching(check(data), /dns.tsig is set but dns.server is not/, "warning")).toHaveLength(1);
  });
});

describe("air-gap source", () => {
  const airgap = { k3s_binary: "files/k3s", k3s_images: "files/k3s-airgap-images-amd64.tar.zst", cilium_chart: "files/cilium-1.19.1.tgz", image_archives: ["files/cilium-images.tar"] };
  it("accepts a binary, its images, the matching chart and more archives", () => {
    const data = labData();
    vars(data)["airgap"] = airgap;
    expect(check(data).issues).toEqual([]);
  });
  it("rejects a chart of another Cilium release and images of another K3s release", () => {
    const data = labData();
    vars(data)["airgap"] = { ...airgap, cilium_chart: "files/cilium-1.18.2.tgz", k3s_images: "files/v1.33.1+k3s1/k3s-airgap-images-amd64.tar.zst" };
    expect(matching(check(data), /airgap/, "error")).toEqual([
      "all.vars.airgap.k3s_images: airgap.k3s_images is for v1.33.1+k3s1, but k3s.version is v1.34.3+k3s1",
      "all.vars.airgap.cilium_chart: airgap.cilium_chart is version 1.18.2, but cilium.version is 1.19.1",
    ]);
  });
  it("warns when the Cilium chart would still come from the internet", () => {
    const data = labData();
    vars(data)["airgap"] = { k3s_binary: airgap.k3s_binary, k3s_images: airgap.k3s_images };
    expect(matching(check(data), /fetched from cilium.chart_repo/, "warning")).toHaveLength(1);
  });
  it("rejects an images archive K3s would not import", () => {
    const data = labData();
    vars(data)["airgap"] = { ...airgap, k3s_images: "files/images.zip" };
    expect(errors(check(data)).map((i) => i.message)[0]).toMatch(/^must be an image archive K3s imports/);
  });
});

describe("extra K3s config keys", () => {
  it("accepts real keys of the right role and type", () => {
    const data = labData();
    at(data, K3S)["server_config"] = { "kube-apiserver-arg": ["audit-log-maxage=7"], "etcd-snapshot-retention": 10, "tls-san": ["k8s.example.com"] };
    at(data, K3S)["agent_config"] = { "kubelet-arg": ["max-pods=150"], "disable-apiserver-lb": false };
    expect(check(data).issues).toEqual([]);
  });
  it("rejects a typo with a suggestion, at the key", () => {
    const data = labData();
    at(data, K3S)["agent_config"] = { "kubelet-args": ["max-pods=150"] };
    const issue = issueAt(data, /kubelet-args/);
    expect(issue?.message).toBe("'kubelet-args' is not a K3s agent config key");
    expect(issue?.hint).toBe("Did you mean 'kubelet-arg'?");
    expect(issue?.atKey).toBe(true);
  });
  it("rejects a server-only key for agents and an agent-only key for servers", () => {
    const data = labData();
    at(data, K3S)["agent_config"] = { "kube-apiserver-arg": ["x=y"] };
    at(data, K3S)["server_config"] = { "disable-apiserver-lb": true };
    expect(matching(check(data), /refuses to start/, "error")).toEqual([
      "all.vars.k3s.agent_config.kube-apiserver-arg: 'kube-apiserver-arg' is a K3s server key; a K3s agent refuses to start with it",
      "all.vars.k3s.server_config.disable-apiserver-lb: 'disable-apiserver-lb' is a K3s agent key; a K3s server refuses to start with it",
    ]);
  });
  it("rejects a value of the wrong type and an unknown component to disable", () => {
    const data = labData();
    at(data, K3S)["server_config"] = { "tls-san": "k8s.example.com", disable: ["traefik", "treafik"], "etcd-s3-timeout": "five minutes" };
    expect(matching(check(data), /K3s/, "error")).toEqual([
      "all.vars.k3s.server_config.tls-san: K3s key 'tls-san' takes a list of strings",
      "all.vars.k3s.server_config.disable: K3s cannot disable 'treafik'",
      "all.vars.k3s.server_config.etcd-s3-timeout: K3s key 'etcd-s3-timeout' takes a duration such as 5m",
    ]);
  });
  it("refuses keys edgelab sets itself, naming the inventory field to use", () => {
    const data = labData();
    at(data, K3S)["server_config"] = { "cluster-cidr": ["10.50.0.0/16"], token: "abc" };
    const result = check(data);
    expect(result.issues.find((i) => /'cluster-cidr' is set by edgelab/.test(i.message))?.hint).toBe("Set k3s.cluster_cidr instead.");
    expect(matching(result, /'token' is set by edgelab/, "error")).toHaveLength(1);
  });
});

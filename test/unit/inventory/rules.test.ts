import { describe, expect, it } from "vitest";
import { at, check, errors, host, labData, localData, matching, shipped, vars } from "../../helpers/inventory.js";

/** Adds a west worker (VLAN 222) to the seed lab; the near misses below are built from it. */
function addWorker(data: ReturnType<typeof labData>, name: string, address: string, vmid: number): void {
  at(data, "all.children.k3s_cluster.children.node.hosts")[name] = { ansible_host: address, vmid, data_vlan: 222, label: "west-worker" };
}

describe("shipped inventories", () => {
  it("lab.yml and local.yml are valid with no warnings", () => {
    for (const data of [labData(), localData()]) {
      const result = check(data);
      expect(result.issues).toEqual([]);
      expect(result.facts).toBeDefined();
    }
  });
});

describe("duplicate host names", () => {
  it("rejects a host listed as both server and agent", () => {
    const data = labData();
    at(data, "all.children.k3s_cluster.children.node.hosts")["lab-k3s01"] = { ansible_host: "172.16.222.50", vmid: 3050, data_vlan: 222 };
    expect(matching(check(data), /is in both 'master' and 'node'/)).toHaveLength(1);
  });
  it("rejects names that differ only in case", () => {
    const data = labData();
    at(data, "all.children.k3s_cluster.children.node.hosts")["LAB-K3S01"] = { ansible_host: "172.16.222.50", vmid: 3050, data_vlan: 222, label: "west-worker" };
    expect(matching(check(data), /duplicate host name 'LAB-K3S01'/)).toHaveLength(1);
  });
  it("rejects a host name that is not a DNS label", () => {
    const data = labData();
    at(data, "all.children.k3s_cluster.children.node.hosts")["west_lab"] = { ansible_host: "172.16.222.50", vmid: 3050, data_vlan: 222, label: "west-worker" };
    expect(matching(check(data), /not a valid DNS label/)).toEqual(["all.children.k3s_cluster.children.node.hosts.west_lab: host name 'west_lab' is not a valid DNS label"]);
  });
  it("accepts distinct names, even when one is a prefix of another or differs by one character", () => {
    const data = labData();
    addWorker(data, "west-lab-k3s011", "172.16.222.50", 3050);
    addWorker(data, "west-lab-k3s02", "172.16.222.51", 3051);
    addWorker(data, "west-lab-k3s0", "172.16.222.52", 3052);
    const result = check(data);
    expect(matching(result, /host name/)).toEqual([]);
    expect(errors(result)).toEqual([]);
  });
});

describe("duplicate vmids", () => {
  it("rejects two hosts with one vmid, naming both", () => {
    const data = labData();
    host(data, "lab-k3s02")["vmid"] = 3001;
    expect(matching(check(data), /duplicate vmid/)).toEqual([
      "all.children.k3s_cluster.children.master.hosts.lab-k3s02.vmid: duplicate vmid 3001: host 'lab-k3s02' and host 'lab-k3s01'",
    ]);
  });
  it("accepts distinct vmids, even adjacent or sharing digits, and ignores vmids on the local provider", () => {
    const data = labData();
    addWorker(data, "west-lab-k3s02", "172.16.222.50", 3006); // next to east-lab-k3s01's 3005
    addWorker(data, "west-lab-k3s03", "172.16.222.51", 30010); // 3001 with a digit more
    expect(matching(check(data), /duplicate vmid/)).toEqual([]);
    expect(errors(check(data))).toEqual([]);
    const local = localData();
    host(local, "lab-k3s01")["vmid"] = 500;
    host(local, "west-lab-k3s01")["vmid"] = 500;
    expect(matching(check(local), /duplicate vmid/)).toEqual([]);
  });
});

describe("duplicate addresses", () => {
  it("rejects two hosts with one IP", () => {
    const data = labData();
    host(data, "lab-k3s03")["ansible_host"] = "172.16.221.38";
    expect(matching(check(data), /duplicate address 172.16.221.38/)).toHaveLength(1);
  });
  it("rejects a host on its VLAN's gateway address", () => {
    const data = labData();
    host(data, "lab-k3s03")["ansible_host"] = "172.16.221.1";
    expect(matching(check(data), /the gateway of VLAN 221/)).toHaveLength(1);
  });
  it("rejects an API VIP that is a host's address", () => {
    const data = labData();
    at(data, "all.vars.k3s")["api_vip"] = "172.16.221.39";
    expect(matching(check(data), /api_vip 172.16.221.39 is also the address of host 'lab-k3s02'/)).toHaveLength(1);
  });
  it("accepts distinct addresses, even when one is a textual prefix of another", () => {
    const data = labData();
    addWorker(data, "west-lab-k3s02", "172.16.222.4", 3050); // "172.16.222.41" starts with it
    addWorker(data, "west-lab-k3s03", "172.16.222.141", 3051);
    at(data, "all.vars.k3s")["api_vip"] = "172.16.221.3"; // a textual prefix of the servers' .38 and .39
    expect(matching(check(data), /duplicate address|gateway of VLAN|also the address/)).toEqual([]);
  });
});

describe("address inside its VLAN's subnet", () => {
  it("rejects an address outside the host's VLAN subnet", () => {
    const data = labData();
    host(data, "west-lab-k3s01")["ansible_host"] = "172.16.223.41";
    expect(matching(check(data), /outside VLAN 222's subnet/)).toEqual([
      "all.children.k3s_cluster.children.node.hosts.west-lab-k3s01.ansible_host: address 172.16.223.41 of host 'west-lab-k3s01' is outside VLAN 222's subnet 172.16.222.0/24",
    ]);
  });
  it("rejects a VLAN that network.vlans does not define", () => {
    const data = labData();
    host(data, "east-lab-k3s01")["data_vlan"] = 299;
    expect(matching(check(data), /VLAN 299, which network.vlans does not define/)).toHaveLength(1);
  });
  it("rejects the network and broadcast addresses", () => {
    const data = labData();
    host(data, "lab-k3s02")["ansible_host"] = "172.16.221.255";
    expect(matching(check(data), /is the broadcast address/)).toHaveLength(1);
  });
  it("accepts the first and last usable addresses of a subnet", () => {
    const data = labData();
    addWorker(data, "west-lab-k3s02", "172.16.222.2", 3050);
    addWorker(data, "west-lab-k3s03", "172.16.222.254", 3051);
    const result = check(data);
    expect(matching(result, /outside VLAN|does not define|broadcast address|network address/)).toEqual([]);
    expect(errors(result)).toEqual([]);
  });
});

describe("gateway inside its subnet", () => {
  it("rejects a gateway outside the subnet", () => {
    const data = labData();
    const vlans = at(data, "all.vars.network")["vlans"] as Record<string, unknown>[];
    vlans[1] = { ...vlans[1], gateway: "172.16.229.1" };
    expect(matching(check(data), /gateway 172.16.229.1 is outside VLAN 222's subnet 172.16.222.0\/24/)).toEqual([
      "all.vars.network.vlans[1].gateway: gateway 172.16.229.1 is outside VLAN 222's subnet 172.16.222.0/24",
    ]);
  });
  it("rejects a subnet written with host bits", () => {
    const data = labData();
    const vlans = at(data, "all.vars.network")["vlans"] as Record<string, unknown>[];
    vlans[0] = { ...vlans[0], subnet: "172.16.221.5/24" };
    const found = check(data).issues.filter((i) => /host bits/.test(i.message));
    expect(found[0]?.hint).toBe("Did you mean 172.16.221.0/24?");
  });
  it("accepts a gateway anywhere inside its subnet, up to the last usable address", () => {
    const data = labData();
    const vlans = at(data, "all.vars.network")["vlans"] as Record<string, unknown>[];
    vlans[1] = { ...vlans[1], gateway: "172.16.222.254" };
    const peers = at(data, "all.vars.cilium.bgp.peers")["west-worker"] as Record<string, unknown>[];
    peers[0] = { ...peers[0], address: "172.16.222.254" };
    expect(matching(check(data), /gateway/)).toEqual([]);
    expect(errors(check(data))).toEqual([]);
  });
});

describe("VLAN ids", () => {
  it("rejects VLAN 0 and 4095 on hosts and in network.vlans", () => {
    const data = labData();
    host(data, "lab-k3s01")["data_vlan"] = 0;
    const vlans = at(data, "all.vars.network")["vlans"] as Record<string, unknown>[];
    vlans[2] = { ...vlans[2], id: 4095 };
    const result = check(data);
    expect(matching(result, /must be at least 1, got the integer 0/)).toEqual(["all.children.k3s_cluster.children.master.hosts.lab-k3s01.data_vlan: must be at least 1, got the integer 0"]);
    expect(matching(result, /must be at most 4094, got the integer 4095/)).toEqual(["all.vars.network.vlans[2].id: must be at most 4094, got the integer 4095"]);
  });
  it("accepts 1 and 4094", () => {
    const data = labData();
    const vlans = at(data, "all.vars.network")["vlans"] as Record<string, unknown>[];
    vlans[0] = { ...vlans[0], id: 1 };
    vlans[1] = { ...vlans[1], id: 4094 };
    for (const name of ["lab-k3s01", "lab-k3s02", "lab-k3s03"]) host(data, name)["data_vlan"] = 1;
    host(data, "west-lab-k3s01")["data_vlan"] = 4094;
    expect(errors(check(data))).toEqual([]);
  });
  it("rejects a VLAN listed twice and overlapping VLAN subnets", () => {
    const data = labData();
    const vlans = at(data, "all.vars.network")["vlans"] as Record<string, unknown>[];
    vlans.push({ id: 221, subnet: "172.16.230.0/24", gateway: "172.16.230.1" });
    vlans.push({ id: 231, subnet: "172.16.222.128/25", gateway: "172.16.222.129" });
    const result = check(data);
    expect(matching(result, /VLAN 221 is listed twice/)).toHaveLength(1);
    expect(matching(result, /172.16.222.128\/25 of VLAN 231 overlaps 172.16.222.0\/24 of VLAN 222/)).toHaveLength(1);
  });
});

describe("sizes are positive", () => {
  it.each([
    ["memory", 0],
    ["vcpus", -2],
    ["disk", 0],
  ])("rejects %s = %d", (field, value) => {
    const data = labData();
    host(data, "lab-k3s01")[field] = value;
    expect(matching(check(data), /must be positive/)).toEqual([`all.children.k3s_cluster.children.master.hosts.lab-k3s01.${field}: must be positive, got the integer ${value}`]);
  });
  it("rejects a non-integer size", () => {
    const data = labData();
    vars(data)["memory"] = 1.5;
    expect(errors(check(data)).map((i) => i.message)).toEqual(["expected an integer, got the number 1.5"]);
  });
  it("accepts positive sizes", () => {
    const data = labData();
    host(data, "lab-k3s01")["memory"] = 1;
    host(data, "lab-k3s01")["vcpus"] = 1;
    expect(errors(check(data))).toEqual([]);
  });
});

describe("etcd quorum", () => {
  const twoServers = () => {
    const data = labData();
    delete at(data, "all.children.k3s_cluster.children.master.hosts")["lab-k3s03"];
    return data;
  };
  it("rejects an even number of servers", () => {
    const result = check(twoServers());
    expect(matching(result, /2 K3s servers: etcd needs a majority/)).toHaveLength(1);
    expect(result.issues.find((i) => /etcd/.test(i.message))?.hint).toMatch(/allow_even_servers/);
  });
  it("accepts an even number when explicitly allowed, and odd numbers", () => {
    const data = twoServers();
    at(data, "all.vars.k3s")["allow_even_servers"] = true;
    expect(errors(check(data))).toEqual([]);
    const five = labData();
    const masters = at(five, "all.children.k3s_cluster.children.master.hosts");
    masters["lab-k3s04"] = { ansible_host: "172.16.221.41", vmid: 3011, data_vlan: 221, label: "master" };
    masters["lab-k3s05"] = { ansible_host: "172.16.221.42", vmid: 3012, data_vlan: 221, label: "master" };
    expect(matching(check(five), /etcd/)).toEqual([]);
  });
  it("rejects a cluster without servers", () => {
    const data = labData();
    at(data, "all.children.k3s_cluster.children.master")["hosts"] = {};
    expect(matching(check(data), /group 'master' under k3s_cluster has no hosts/)).toHaveLength(1);
  });
});

describe("overlapping CIDRs", () => {
  it("rejects a pod network that covers a node subnet", () => {
    const data = labData();
    at(data, "all.vars.k3s")["cluster_cidr"] = "172.16.0.0/12";
    const found = matching(check(data), /overlaps pod network/);
    expect(found).toContain("all.vars.network.vlans[0].subnet: node subnet of VLAN 221 172.16.221.0/24 overlaps pod network (k3s.cluster_cidr) 172.16.0.0/12");
    expect(found).toContain("all.vars.cilium.lb_pool[0]: LB pool (cilium.lb_pool[0]) 172.16.228.0/24 overlaps pod network (k3s.cluster_cidr) 172.16.0.0/12");
  });
  it("rejects service and pod networks that overlap", () => {
    const data = labData();
    at(data, "all.vars.k3s")["service_cidr"] = "10.42.128.0/17";
    expect(matching(check(data), /service network .* overlaps pod network/)).toHaveLength(1);
  });
  it("rejects an LB pool inside a node subnet, and a host inside the LB pool", () => {
    const data = labData();
    at(data, "all.vars.cilium")["lb_pool"] = ["172.16.222.0/25"];
    const result = check(data);
    expect(matching(result, /LB pool .* overlaps node subnet of VLAN 222|node subnet of VLAN 222 .* overlaps LB pool/)).toHaveLength(1);
    expect(matching(result, /address of host 'west-lab-k3s01' is inside the LB pool/)).toHaveLength(1);
  });
  it("explains K3s's default pod network when a node subnet collides with it", () => {
    const data = labData();
    const vlans = at(data, "all.vars.network")["vlans"] as Record<string, unknown>[];
    vlans[1] = { ...vlans[1], subnet: "10.42.222.0/24", gateway: "10.42.222.1" };
    host(data, "west-lab-k3s01")["ansible_host"] = "10.42.222.41";
    const peers = at(data, "all.vars.cilium.bgp.peers")["west-worker"] as Record<string, unknown>[];
    peers[0] = { ...peers[0], address: "10.42.222.1" };
    const issue = check(data).issues.find((i) => /overlaps/.test(i.message));
    expect(issue?.message).toBe("node subnet of VLAN 222 10.42.222.0/24 overlaps pod network (k3s.cluster_cidr) 10.42.0.0/16");
    expect(issue?.hint).toMatch(/unless told otherwise: set k3s.cluster_cidr/);
  });
  it("accepts disjoint networks, even when they touch", () => {
    const data = labData();
    at(data, "all.vars.k3s")["cluster_cidr"] = "10.42.0.0/16";
    at(data, "all.vars.k3s")["service_cidr"] = "10.43.0.0/16"; // starts where the pod network ends
    at(data, "all.vars.cilium")["lb_pool"] = ["172.16.224.0/24", "172.16.220.0/24"]; // either side of the node subnets
    expect(matching(check(data), /overlaps|inside the LB pool/)).toEqual([]);
  });
});

describe("ASNs", () => {
  it("rejects reserved ASNs", () => {
    const data = labData();
    at(data, "all.vars.cilium.bgp")["local_asn"] = 23456;
    expect(matching(check(data), /local ASN 23456 is AS_TRANS/, "error")).toHaveLength(1);
    const doc = labData();
    at(doc, "all.vars.cilium.bgp")["local_asn"] = 64500;
    expect(matching(check(doc), /reserved for documentation/, "error")).toHaveLength(1);
  });
  it("warns about a public local ASN", () => {
    const data = labData();
    at(data, "all.vars.cilium.bgp")["local_asn"] = 13335;
    const result = check(data);
    expect(errors(result)).toEqual([]);
    expect(matching(result, /local ASN 13335 is a public ASN/, "warning")).toHaveLength(1);
  });
  it("flags a peer with the cluster's own ASN", () => {
    const data = labData();
    const peers = at(data, "all.vars.cilium.bgp.peers")["west-worker"] as Record<string, unknown>[];
    peers[0] = { ...peers[0], asn: 64513 };
    expect(matching(check(data), /has the cluster's own ASN 64513/, "warning")).toEqual(["all.vars.cilium.bgp.peers.west-worker[0].asn: peer 172.16.222.1 has the cluster's own ASN 64513: this is iBGP, not eBGP"]);
  });
  it("accepts the edges of the private ASN ranges, 2- and 4-byte, with distinct peers", () => {
    for (const asn of [64512, 65534, 4200000000, 4294967294]) {
      const data = labData();
      at(data, "all.vars.cilium.bgp")["local_asn"] = asn;
      expect(check(data).issues, `local_asn ${asn}`).toEqual([]);
    }
  });
});

describe("BGP peers per node label", () => {
  it("rejects a worker label without peers", () => {
    const data = labData();
    delete at(data, "all.vars.cilium.bgp.peers")["east-worker"];
    const result = check(data);
    expect(matching(result, /node label 'east-worker' has 1 worker \(east-lab-k3s01\) but no BGP peer/)).toEqual([
      "all.children.k3s_cluster.children.node.hosts.east-lab-k3s01.label: node label 'east-worker' has 1 worker (east-lab-k3s01) but no BGP peer",
    ]);
  });
  it("does not require peers for servers only", () => {
    const data = labData();
    delete at(data, "all.vars.cilium.bgp.peers")["master"];
    expect(errors(check(data))).toEqual([]);
  });
  it("warns about peers for a label no host has, suggesting the near one", () => {
    const data = labData();
    const peers = at(data, "all.vars.cilium.bgp.peers");
    peers["west-workers"] = peers["west-worker"];
    delete peers["west-worker"];
    const result = check(data);
    const warning = result.issues.find((i) => /no host has that label/.test(i.message));
    expect(warning?.hint).toBe("Did you mean 'west-worker'?");
    expect(matching(result, /'west-worker' has 1 worker/, "error")).toHaveLength(1);
  });
});

describe("secrets written inline", () => {
  it("rejects a literal K3s token, Proxmox secret and stream key", () => {
    const data = labData();
    at(data, "all.vars.k3s")["token"] = "K10abc::server:s3cret";
    at(data, "all.vars.proxmox")["token_secret"] = "3f1c2a9e-0000-4000-8000-000000000000";
    (vars(data)["streams"] as Record<string, unknown>[])[0] = { name: "live", key: "s3cret" };
    const result = check(data);
    expect(matching(result, /secret written inline/)).toEqual([
      "all.vars.proxmox.token_secret: secret written inline",
      "all.vars.k3s.token: secret written inline",
      "all.vars.streams[0].key: secret written inline",
    ]);
    expect(result.issues.find((i) => i.path.join(".") === "all.vars.k3s.token")?.hint).toMatch(/\{env: K3S_TOKEN\}/);
  });
  it("rejects an inline ansible_password on a host and warns about secret-looking variables", () => {
    const data = labData();
    host(data, "lab-k3s01")["ansible_password"] = "hunter2";
    vars(data)["registry_password"] = "hunter2";
    const result = check(data);
    expect(matching(result, /secret written inline/, "error")).toEqual(["all.children.k3s_cluster.children.master.hosts.lab-k3s01.ansible_password: secret written inline"]);
    expect(matching(result, /looks like a secret/, "warning")).toEqual(["all.vars.registry_password: 'registry_password' looks like a secret written inline"]);
  });
  it("accepts env, file, generate, vault ciphertext and Jinja vault references", () => {
    const text = shipped("lab")
      .replace("token: {env: K3S_TOKEN}", 'token: "{{ vault_k3s_token }}"')
      .replace("token_secret: {env: PROXMOX_TOKEN_SECRET}", "token_secret: !vault |\n        $ANSIBLE_VAULT;1.1;AES256\n        6231386461353139\n")
      .replace("      - name: live\n        key: {generate: true}", "      - {name: live, key: {generate: true}}\n      - {name: cam, key: {file: keys/cam}}\n      - {name: news, key: {env: NEWS_KEY}}");
    expect(text).toContain("key: {file: keys/cam}");
    const result = check(text);
    expect(result.issues).toEqual([]);
    expect(result.facts?.streams.map((s) => s.value.key)).toEqual([{ generate: true }, { file: "keys/cam" }, { env: "NEWS_KEY" }]);
  });
});

describe("provider requirements", () => {
  it("requires vmid, vcpus, memory, data_vlan and storage for proxmox hosts", () => {
    const data = labData();
    delete host(data, "lab-k3s02")["vmid"];
    delete vars(data)["storage"];
    const result = check(data);
    expect(matching(result, /host 'lab-k3s02' has no vmid/)).toHaveLength(1);
    expect(matching(result, /has no storage/)).toHaveLength(5);
  });
  it("lets a group's vars supply a host field (Ansible inheritance)", () => {
    const data = labData();
    delete vars(data)["storage"];
    at(data, "all.children.k3s_cluster.vars")["storage"] = "local-lvm";
    expect(errors(check(data))).toEqual([]);
  });
  it("keeps the local lab on loopback", () => {
    const data = localData();
    host(data, "west-lab-k3s01")["ansible_host"] = "172.16.222.41";
    const found = check(data).issues.filter((i) => /local lab runs on loopback/.test(i.message));
    expect(found).toHaveLength(1);
    expect(found[0]?.hint).toMatch(/127\.0\.222\.41/);
  });
  it("requires the proxmox section for provider proxmox", () => {
    const data = labData();
    delete vars(data)["proxmox"];
    expect(matching(check(data), /all.vars.proxmox is missing/)).toHaveLength(1);
  });
});

describe("placement and typos", () => {
  it("rejects lab-wide settings inside a group", () => {
    const data = labData();
    at(data, "all.children.k3s_cluster.vars")["k3s"] = { version: "v1.34.3+k3s1" };
    expect(matching(check(data), /lab-wide setting 'k3s' is set in group 'k3s_cluster'/)).toHaveLength(1);
  });
  it("flags the seed's ansible_username and near-miss variable names", () => {
    const data = labData();
    host(data, "lab-k3s01")["ansible_username"] = "ansibleuser";
    host(data, "lab-k3s02")["vmidd"] = 3;
    const result = check(data);
    expect(result.issues.find((i) => /not an Ansible variable/.test(i.message))?.hint).toBe("Did you mean 'ansible_user'?");
    expect(result.issues.find((i) => /unknown variable 'vmidd'/.test(i.message))?.hint).toBe("Did you mean 'vmid'?");
  });
  it("suggests the right key for a typo inside a settings section", () => {
    const data = labData();
    at(data, "all.vars.k3s")["clustr_cidr"] = "10.42.0.0/16";
    const issue = errors(check(data))[0];
    expect(issue?.message).toBe("unknown key 'clustr_cidr'");
    expect(issue?.hint).toBe("Did you mean 'cluster_cidr'?");
  });
  it("rejects duplicate stream names", () => {
    const data = labData();
    vars(data)["streams"] = [{ name: "live" }, { name: "live" }];
    expect(matching(check(data), /stream 'live' is listed twice/)).toEqual(["all.vars.streams[1].name: stream 'live' is listed twice (also streams[0])"]);
  });
  it("rejects an API VIP outside the servers' subnet", () => {
    const data = labData();
    at(data, "all.vars.k3s")["api_vip"] = "172.16.222.100";
    expect(matching(check(data), /api_vip 172.16.222.100 is not in the servers' subnet 172.16.221.0\/24/, "error")).toEqual([
      "all.vars.k3s.api_vip: api_vip 172.16.222.100 is not in the servers' subnet 172.16.221.0/24 (VLAN 221)",
    ]);
    at(data, "all.vars.k3s")["api_vip"] = "172.16.221.100";
    expect(check(data).issues).toEqual([]);
  });
});

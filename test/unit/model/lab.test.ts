import { describe, expect, it } from "vitest";
import { buildLab } from "../../../src/model/lab.js";
import { at, check, host, labData, localData, vars } from "../../helpers/inventory.js";
import type { Data } from "../../helpers/inventory.js";

function lab(data: Data) {
  const result = check(data);
  if (result.facts === undefined) throw new Error(result.issues.map((i) => i.message).join("; "));
  return buildLab(result.facts);
}

describe("Lab model from the seed inventory", () => {
  const model = lab(labData());
  it("splits servers and agents in inventory order", () => {
    expect(model.servers.map((h) => h.name)).toEqual(["lab-k3s01", "lab-k3s02", "lab-k3s03"]);
    expect(model.agents.map((h) => h.name)).toEqual(["west-lab-k3s01", "east-lab-k3s01"]);
    expect(model.hosts.map((h) => h.role)).toEqual(["server", "server", "server", "agent", "agent"]);
  });
  it("resolves inherited host fields into VM specs", () => {
    expect(model.hosts[3]?.vm).toEqual({ vmid: 3004, node: "pve01", storage: "ssd02-4T", cores: 4, memoryMiB: 4096, diskGiB: 32, bridge: "vmbr0", vlan: 222 });
    expect(model.hosts[3]?.subnet).toEqual({ vlan: 222, name: "region-west", cidr: "172.16.222.0/24", prefix: 24, gateway: "172.16.222.1" });
    expect(model.hosts[3]?.sshUser).toBe("ansibleuser");
  });
  it("builds one BGP group per label with its peers", () => {
    expect(model.cilium.bgp).toMatchObject({
      localAsn: 64513,
      api: "bgpv2",
      groups: [
        { label: "master", hosts: ["lab-k3s01", "lab-k3s02", "lab-k3s03"], peers: [{ name: "dc-router01", address: "172.16.221.1", asn: 200 }] },
        { label: "west-worker", hosts: ["west-lab-k3s01"], peers: [{ name: "region-router01", address: "172.16.222.1", asn: 30 }] },
        { label: "east-worker", hosts: ["east-lab-k3s01"], peers: [{ name: "region-router02", address: "172.16.223.1", asn: 30 }] },
      ],
    });
    expect(model.cilium.lbPool).toEqual(["172.16.228.0/24"]);
  });
  it("applies K3s defaults and points the API at the first server without a VIP", () => {
    expect(model.k3s).toMatchObject({ version: "v1.34.3+k3s1", apiAddress: "172.16.221.38", clusterCidr: "10.42.0.0/16", serviceCidr: "10.43.0.0/16", token: { env: "K3S_TOKEN" } });
  });
  it("carries Proxmox settings with cloud-init network facts", () => {
    expect(model.proxmox).toMatchObject({ url: "https://pve01.example.com:8006", node: "pve01", template: 9000, clone: "full", nameservers: ["172.16.221.1"], searchDomain: "example.com" });
  });
});

describe("Lab model variations", () => {
  it("lets a host's own value beat its group's, and the group's beat all.vars", () => {
    const data = labData();
    at(data, "all.children.k3s_cluster.children.node.vars")["memory"] = 8192;
    host(data, "east-lab-k3s01")["memory"] = 16384;
    const model = lab(data);
    expect(model.hosts.map((h) => h.vm?.memoryMiB)).toEqual([4096, 4096, 4096, 8192, 16384]);
  });
  it("uses the API VIP when set, a host's proxmox_node override, and peer names from addresses", () => {
    const data = labData();
    at(data, "all.vars.k3s")["api_vip"] = "172.16.221.37";
    host(data, "lab-k3s02")["proxmox_node"] = "pve02";
    const peers = at(data, "all.vars.cilium.bgp.peers")["master"] as Record<string, unknown>[];
    delete peers[0]?.["name"];
    const model = lab(data);
    expect(model.k3s.apiAddress).toBe("172.16.221.37");
    expect(model.hosts[1]?.vm?.node).toBe("pve02");
    expect(model.cilium.bgp?.groups[0]?.peers[0]?.name).toBe("peer-172-16-221-1");
  });
  it("defaults labels by role and streams to one test stream", () => {
    const data = localData();
    delete host(data, "lab-k3s01")["label"];
    delete vars(data)["streams"];
    const model = lab(data);
    expect(model.hosts[0]?.label).toBe("master");
    expect(model.streams).toEqual([{ name: "live", key: { generate: true }, source: { type: "testsrc" } }]);
  });
  it("has no VMs and no Proxmox settings for the local provider", () => {
    const model = lab(localData());
    expect(model.provider).toBe("local");
    expect(model.proxmox).toBeUndefined();
    expect(model.hosts.every((h) => h.vm === undefined)).toBe(true);
    expect(model.streams.map((s) => s.name)).toEqual(["live", "sports"]);
  });
});

describe("Lab model: cluster settings", () => {
  it("derives cluster DNS from the service network unless it is set", () => {
    expect(lab(labData()).k3s).toMatchObject({ clusterDns: "10.43.0.10", clusterDomain: "cluster.local", secretsEncryption: true });
    const data = labData();
    Object.assign(at(data, "all.vars.k3s"), { service_cidr: "10.96.0.0/12", cluster_domain: "lab.internal" });
    expect(lab(data).k3s).toMatchObject({ clusterDns: "10.96.0.10", clusterDomain: "lab.internal" });
    at(data, "all.vars.k3s")["cluster_dns"] = "10.96.0.53";
    expect(lab(data).k3s.clusterDns).toBe("10.96.0.53");
  });
  it("describes the VIP: holder, VRRP id from its last octet, priorities in server order", () => {
    const data = labData();
    Object.assign(at(data, "all.vars.k3s"), { api_vip: "172.16.221.37", vrrp: { password: { env: "VRRP_PASS" } } });
    expect(lab(data).k3s.vip).toEqual({
      address: "172.16.221.37",
      prefix: 24,
      holder: "keepalived",
      vrrp: {
        routerId: 37,
        interface: undefined,
        password: { env: "VRRP_PASS" },
        priorities: [
          { host: "lab-k3s01", priority: 150 },
          { host: "lab-k3s02", priority: 140 },
          { host: "lab-k3s03", priority: 130 },
        ],
      },
    });
    expect(lab(labData()).k3s.vip).toBeUndefined();
  });
  it("merges each group's session settings over the shared ones and lists the group's subnets", () => {
    const data = labData();
    at(data, "all.vars.cilium.bgp")["session"] = { ebgp_multihop: 2, graceful_restart: { enabled: true } };
    at(data, "all.vars.cilium.bgp")["sessions"] = { "west-worker": { hold_time: 9, keepalive_time: 3 } };
    const groups = lab(data).cilium.bgp?.groups ?? [];
    expect(groups.map((g) => [g.label, g.subnets, g.session])).toEqual([
      ["master", ["172.16.221.0/24"], { ebgpMultihop: 2, holdTime: 90, keepaliveTime: 30, connectRetry: 120, gracefulRestart: { enabled: true, restartTime: 120 } }],
      ["west-worker", ["172.16.222.0/24"], { ebgpMultihop: 2, holdTime: 9, keepaliveTime: 3, connectRetry: 120, gracefulRestart: { enabled: true, restartTime: 120 } }],
      ["east-worker", ["172.16.223.0/24"], { ebgpMultihop: 2, holdTime: 90, keepaliveTime: 30, connectRetry: 120, gracefulRestart: { enabled: true, restartTime: 120 } }],
    ]);
  });
  it("picks the BGP API and the pool field from the Cilium release unless they are set", () => {
    expect(lab(labData()).cilium).toMatchObject({ bgp: { api: "bgpv2" }, lbPoolField: "blocks" });
    const legacy = labData();
    at(legacy, "all.vars.cilium")["version"] = "1.14.6";
    expect(lab(legacy).cilium).toMatchObject({ bgp: { api: "peering-policy" }, lbPoolField: "cidrs" });
    const pinned = labData();
    at(pinned, "all.vars.cilium")["version"] = "1.17.3";
    at(pinned, "all.vars.cilium.bgp")["api"] = "bgpv2";
    expect(lab(pinned).cilium).toMatchObject({ bgp: { api: "bgpv2" }, lbPoolField: "blocks" });
  });
  it("resolves storage: default iSCSI port and stable device, mount options", () => {
    const data = labData();
    host(data, "lab-k3s01")["nfs_exports"] = [{ export: "172.16.221.10:/export/longhorn", path: "/mnt/longhorn/data" }];
    host(data, "lab-k3s01")["iscsi_targets"] = [{ portal: "172.16.221.10", target: "iqn.2024-04.com.example:lab", lun: 1, path: "/mnt/iscsi", format: true }];
    host(data, "lab-k3s02")["iscsi_targets"] = [{ portal: "172.16.221.11:3261", target: "iqn.2024-04.com.example:lab2", device: "/dev/sdb", path: "/mnt/iscsi" }];
    const [first, second] = lab(data).hosts;
    expect(first?.storage).toEqual({
      nfs: [{ export: "172.16.221.10:/export/longhorn", path: "/mnt/longhorn/data", options: "defaults,_netdev" }],
      iscsi: [{ portal: "172.16.221.10:3260", target: "iqn.2024-04.com.example:lab", lun: 1, device: "/dev/disk/by-path/ip-172.16.221.10:3260-iscsi-iqn.2024-04.com.example:lab-lun-1", path: "/mnt/iscsi", fstype: "ext4", format: true, options: "defaults,_netdev" }],
    });
    expect(second?.storage.iscsi[0]).toMatchObject({ portal: "172.16.221.11:3261", device: "/dev/sdb", format: false });
  });
  it("gives every worker label an edge group: replicas per worker and edge.cache_mb unless set", () => {
    const data = labData();
    at(data, "all.vars.edge")["groups"] = { "east-worker": { replicas: 2, cache_mb: 512 } };
    expect(lab(data).edge.groups).toEqual([
      { label: "west-worker", workers: ["west-lab-k3s01"], replicas: 1, cacheMb: 256 },
      { label: "east-worker", workers: ["east-lab-k3s01"], replicas: 2, cacheMb: 512 },
    ]);
  });
  it("carries the air-gap source, images, registry and DNS update settings", () => {
    const data = labData();
    vars(data)["airgap"] = { k3s_binary: "files/k3s", k3s_images: "files/k3s-airgap-images-amd64.tar.zst" };
    vars(data)["images"] = { registry: { address: "ghcr.io/example", username: "u", password: { env: "REG" } } };
    Object.assign(at(data, "all.vars.dns"), { server: "172.16.221.1", tsig: { name: "edgelab", secret: { env: "TSIG" } } });
    const model = lab(data);
    expect(model.airgap).toEqual({ k3sBinary: "files/k3s", k3sImages: "files/k3s-airgap-images-amd64.tar.zst", k3sChecksums: undefined, ciliumChart: undefined, imageArchives: [] });
    expect(model.images).toEqual({ archiveDir: ".edgelab/images", registry: { address: "ghcr.io/example", username: "u", password: { env: "REG" }, caFile: undefined } });
    expect(model.dns).toEqual({ name: "live.example.com", server: "172.16.221.1", port: 53, zone: "example.com", ttl: 60, tsig: { name: "edgelab", algorithm: "hmac-sha256", secret: { env: "TSIG" } } });
    expect(lab(labData()).airgap).toBeUndefined();
  });
  it("gives host keys from the inventory", () => {
    const data = labData();
    const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBm6v0pCSaV0qiyb2zX0Wc0N1a1p8o1ukGxHcX1yLr4E";
    host(data, "west-lab-k3s01")["ssh_host_keys"] = [key];
    expect(lab(data).hosts.map((h) => h.sshHostKeys.length)).toEqual([0, 0, 0, 1, 0]);
  });
});

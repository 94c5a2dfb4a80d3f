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
    expect(model.cilium.bgp).toEqual({
      localAsn: 64513,
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

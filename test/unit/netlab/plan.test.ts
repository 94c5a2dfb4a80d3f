import { describe, expect, it } from "vitest";
import { addressMap, labId, mapAddress, mapText, netlabPlan, longestInterfaceName, NetlabPlanError } from "../../../src/netlab/plan.js";
import { labOf } from "../../helpers/cluster-labs.js";
import { at, labData } from "../../helpers/inventory.js";
import { netlabData } from "../../helpers/netlab.js";

const INVENTORY = "/labs/seed/inventory.yml";

describe("address mapping", () => {
  it("gives every inventory subnet, then the LB pool, its own /24 in 198.18.0.0/16, in order", () => {
    expect(addressMap(labOf(labData())).blocks).toEqual([
      { from: "172.16.221.0/24", to: "198.18.0.0/24", what: "vlan 221 (dc-east)" },
      { from: "172.16.222.0/24", to: "198.18.1.0/24", what: "vlan 222 (region-west)" },
      { from: "172.16.223.0/24", to: "198.18.2.0/24", what: "vlan 223 (region-east)" },
      { from: "172.16.228.0/24", to: "198.18.3.0/24", what: "LB pool" },
    ]);
  });
  it("maps a peer address outside every subnet into the next /24, keeping the host part", () => {
    const data = labData();
    at(data, "all.vars.cilium.bgp.peers")["east-worker"] = [{ name: "region-router02", address: "172.16.30.129", asn: 30 }];
    at(data, "all.vars.cilium.bgp")["sessions"] = { "east-worker": { ebgp_multihop: 2 } };
    const map = addressMap(labOf(data));
    expect(map.blocks.at(-1)).toEqual({ from: "172.16.30.0/24", to: "198.18.4.0/24", what: "peer region-router02" });
    expect(mapAddress(map, "172.16.30.129")).toBe("198.18.4.129");
  });
  it("rewrites addresses and blocks in text, and refuses an address it cannot map", () => {
    const map = addressMap(labOf(labData()));
    expect(mapText(map, "bgp listen range 172.16.222.0/24 peer-group X\n bgp router-id 172.16.222.1\npermit 172.16.228.0/24 ge 32")).toBe(
      "bgp listen range 198.18.1.0/24 peer-group X\n bgp router-id 198.18.1.1\npermit 198.18.3.0/24 ge 32",
    );
    expect(() => mapText(map, "neighbor 10.1.2.3")).toThrow(NetlabPlanError);
  });
  it("refuses a subnet larger than a /24 with a hint", () => {
    const data = labData();
    at(data, "all.vars.cilium")["lb_pool"] = ["172.20.0.0/16"];
    expect(() => addressMap(labOf(data))).toThrow(/172\.20\.0\.0\/16 \(LB pool\) is larger than a \/24/);
  });
});

describe("netlabPlan (seed lab with two west workers)", () => {
  const plan = netlabPlan(labOf(netlabData()), INVENTORY);

  it("names every namespace el-<id>-<role>, unique per inventory path", () => {
    expect(plan.prefix).toBe(`el-${labId(INVENTORY, "seed-lab")}`);
    expect(labId("/other/inventory.yml", "seed-lab")).not.toBe(labId(INVENTORY, "seed-lab"));
    const names = plan.namespaces.map((n) => n.name.slice(plan.prefix.length + 1));
    expect(names).toEqual(["r0", "r1", "r2", "dc", "w0", "w1", "w2", "c0", "c1"]);
    expect(plan.namespaces.every((n) => n.name.length <= 15)).toBe(true);
    expect(longestInterfaceName(plan)).toBeLessThanOrEqual(15);
  });
  it("makes the servers' router the DC router and the workers' routers region routers, each with a client namespace", () => {
    expect(plan.routers.map((r) => [r.name, r.kind, r.asn, r.address, r.client?.slice(plan.prefix.length + 1)])).toEqual([
      ["dc-router01", "dc", 200, "198.18.0.1", undefined],
      ["region-router01", "region", 30, "198.18.1.1", "c0"],
      ["region-router02", "region", 30, "198.18.2.1", "c1"],
    ]);
  });
  it("announces the first address of the LB pool, from every worker, each in its own namespace", () => {
    expect(plan.serviceIp).toBe("198.18.3.0");
    expect(plan.speakers.map((s) => [s.host, s.label, s.address])).toEqual([
      ["west-lab-k3s01", "west-worker", "198.18.1.41"],
      ["west-lab-k3s02", "west-worker", "198.18.1.43"],
      ["east-lab-k3s01", "east-worker", "198.18.2.42"],
    ]);
    for (const s of plan.speakers) expect(plan.namespaces.find((n) => n.name === s.ns)?.loopback).toEqual(["198.18.3.0"]);
  });
  it("links region routers of one AS for iBGP and every region router to the DC router", () => {
    const kinds = plan.links.map((l) => `${l.kind}:${l.a.ns.slice(-2)}-${l.b.ns.slice(-2)}`);
    expect(kinds).toEqual(["site:r0-dc", "site:r1-w0", "site:r1-w1", "site:r2-w2", "uplink:r0-r1", "uplink:r0-r2", "ibgp:r1-r2", "client:r1-c0", "client:r2-c1"]);
    const r1 = plan.routers[1];
    expect(r1?.neighbors).toEqual([
      { address: "198.19.0.1", asn: 200, ibgp: false, description: "uplink dc-router01" },
      { address: "198.19.0.10", asn: 30, ibgp: true, description: "ibgp region-router02" },
    ]);
  });
  it("uses no address of the inventory's own ranges anywhere", () => {
    const text = JSON.stringify({ ...plan, map: undefined });
    expect(text).not.toMatch(/172\.16\./);
  });
});

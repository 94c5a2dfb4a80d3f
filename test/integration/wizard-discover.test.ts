/** Wizard discovery over real HTTP against the simulator, through the provider's client. */
import type { Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProxmoxClient } from "../../src/providers/proxmox/client.js";
import { DEFAULT_DURATIONS, NO_FAULTS, ProxmoxSimulator } from "../../src/providers/proxmox/simulator.js";
import { discoverBridges, discoverCluster, discoverStorages } from "../../src/wizard/discover.js";
import { WIZARD_STATE, WIZARD_TOKEN } from "../helpers/wizard-sim.js";

const HOST = "127.0.239.10";
const PORT = 18740;
let server: Server;
let client: ProxmoxClient;
beforeAll(async () => {
  const sim = new ProxmoxSimulator(WIZARD_STATE, { seed: 1, durations: DEFAULT_DURATIONS, faults: NO_FAULTS, resourcesLagMs: 0, tokens: [WIZARD_TOKEN], users: [] });
  server = await sim.listen(PORT, HOST);
  client = new ProxmoxClient({ url: `http://${HOST}:${PORT}`, tokenId: WIZARD_TOKEN.id, tokenSecret: WIZARD_TOKEN.secret, timeoutMs: 5000 });
});
afterAll(async () => {
  client.close();
  await new Promise<void>((r) => server.close(() => r()));
});

describe("wizard discovery", () => {
  it("reads nodes with free memory, templates with name, ostype, description and disk size, and every VM", async () => {
    const cluster = await discoverCluster(client);
    // pve01: 128 GiB minus the running VM's 8192 MiB.
    expect(cluster.nodes).toEqual([
      { name: "pve01", online: true, freeMemoryMiB: 128 * 1024 - 8192 },
      { name: "pve02", online: true, freeMemoryMiB: 64 * 1024 },
    ]);
    expect(cluster.templates).toEqual([
      { vmid: 9000, node: "pve01", name: "debian12-cloud", ostype: "l26", description: "Debian 12 genericcloud", diskGiB: 10 },
      { vmid: 9001, node: "pve02", name: "ubuntu24-cloud", ostype: "l26", description: undefined, diskGiB: 3.5 },
    ]);
    expect(cluster.vms.map((v) => [v.vmid, v.name])).toEqual([[3001, "db01"], [3002, "seed-lab-k3s01"], [9000, "debian12-cloud"], [9001, "ubuntu24-cloud"]]);
  });

  it("reads a node's VM-disk storages with the shared flag and free space, and its bridges with VLAN awareness", async () => {
    const storages = await discoverStorages(client, "pve01");
    expect(storages.map((s) => [s.id, s.shared])).toEqual([["ceph-vm", true], ["local-lvm", false]]);
    // local-lvm holds one 32 GiB disk in the simulator's accounting.
    expect(storages.find((s) => s.id === "local-lvm")?.availGiB).toBe(800 - 32);
    expect(await discoverBridges(client, "pve01")).toEqual([
      { iface: "vmbr0", vlanAware: true, comments: "trunk" },
      { iface: "vmbr1", vlanAware: false, comments: undefined },
    ]);
    expect((await discoverBridges(client, "pve02")).map((b) => b.iface)).toEqual(["vmbr0"]);
  });
});

/**
 * `edgelab plan` for the seed lab against the simulator over HTTP: only the simulator's loopback
 * API is contacted; the lab's own 172.16.x addresses are never dialed.
 */
import type { Server } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { desiredVm, toApiConfig } from "../../src/providers/proxmox/mapper.js";
import { DEFAULT_DURATIONS, NO_FAULTS, ProxmoxSimulator } from "../../src/providers/proxmox/simulator.js";
import { cli } from "../helpers/cli.js";
import { labFrom } from "../helpers/dataplane.js";
import { labData, ROOT } from "../helpers/inventory.js";

const HOST = "127.0.237.30";
const PORT = 18792;
const TOKEN = { id: "edgelab@pve!plan", secret: "6f1d2c3b-4a59-4e68-8f7a-9b0c1d2e3f40" };
const LAB = join(ROOT, "inventories", "lab.yml");
const env = { ...process.env, PROXMOX_URL: `http://${HOST}:${PORT}`, PROXMOX_VE_API_TOKEN: `${TOKEN.id}=${TOKEN.secret}`, PROXMOX_TOKEN_SECRET: undefined, PROXMOX_TOKEN_ID: undefined };

// The cluster: the template, two of the lab's VMs as edgelab left them (one since resized by
// hand), a VM of someone else's, and a leftover VM of this lab.
const lab = labFrom(labData());
const converged = (index: number, override: Record<string, string> = {}) => {
  const host = lab.hosts[index];
  const desired = host === undefined ? undefined : desiredVm(lab, host);
  if (host?.vm === undefined || desired === undefined) throw new Error("fixture");
  const params = Object.fromEntries(Object.entries(toApiConfig(desired)).map(([k, v]) => [k, String(v)]));
  return { vmid: host.vm.vmid, node: "pve01", status: "running" as const, config: { ...params, net0: `virtio=BC:24:11:00:00:0${index},bridge=vmbr0,tag=${host.vm.vlan}`, scsi0: `ssd02-4T:vm-${host.vm.vmid}-disk-0,size=32G`, ...override } };
};
const sim = new ProxmoxSimulator(
  {
    nodes: [{ name: "pve01", storages: [{ id: "ssd02-4T", shared: false, totalGiB: 4000 }] }],
    vms: [
      { vmid: 9000, node: "pve01", template: true, config: { name: "tpl", scsi0: "ssd02-4T:base-9000-disk-0,size=4G" } },
      converged(0),
      converged(1, { memory: "2048" }),
      { vmid: 3005, node: "pve01", config: { name: "not-ours", tags: "prod" } },
      { vmid: 3099, node: "pve01", config: { name: "old-edge", tags: "edgelab;edgelab-seed-lab" } },
    ],
  },
  { seed: 3, durations: DEFAULT_DURATIONS, faults: NO_FAULTS, resourcesLagMs: 0, tokens: [TOKEN], users: [] },
);
let server: Server;
beforeAll(async () => {
  server = await sim.listen(PORT, HOST);
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("edgelab plan against the simulator", () => {
  it("prints create, update, delete, unchanged and conflict, with a summary, and writes nothing", async () => {
    const before = sim.calls.length;
    const r = await cli(["plan", "-i", LAB], { env });
    expect(r.stdout.split("\n").filter(Boolean)).toEqual([
      "= unchanged  lab-k3s01 (vmid 3001)",
      "~ update     lab-k3s02 (vmid 3002: memory: 2048 → 4096 [at restart])",
      "+ create     lab-k3s03 (vmid 3003 on pve01: 4 cores, 4096 MiB, 172.16.221.40/24)",
      "+ create     west-lab-k3s01 (vmid 3004 on pve01: 4 cores, 4096 MiB, 172.16.222.41/24)",
      "! conflict   east-lab-k3s01 (vmid 3005 is taken on pve01 by 'not-ours', which is not tagged edgelab-seed-lab)",
      "- delete     old-edge (vmid 3099 on pve01: tagged for this lab but no longer in the inventory)",
      "Plan: 2 to create, 1 to update, 0 to replace, 1 to delete, 1 unchanged, 1 in conflict.",
    ]);
    expect(r.code).toBe(2); // a conflict stops provisioning before it starts
    expect(sim.calls.slice(before).every((c) => c.startsWith("GET "))).toBe(true);
  });
  it("gives JSON counts", async () => {
    const r = await cli(["--json", "plan", "-i", LAB], { env });
    expect((JSON.parse(r.stdout) as { counts: Record<string, number> }).counts).toEqual({ create: 2, update: 1, replace: 0, delete: 1, unchanged: 1, conflict: 1 });
  });
  it("asks for a token when none is given", async () => {
    const r = await cli(["plan", "-i", LAB], { env: { ...env, PROXMOX_VE_API_TOKEN: undefined } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/secret proxmox-token-secret: environment variable PROXMOX_TOKEN_SECRET is not set/);
  });
  it("refuses the local provider", async () => {
    const r = await cli(["plan", "-i", join(ROOT, "inventories", "local.yml")], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/plan is for provider proxmox/);
  });
});

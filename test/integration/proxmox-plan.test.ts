/**
 * `edgelab plan` for the seed lab against the simulator over HTTP: only the simulator's loopback
 * API is contacted; the lab's own 172.16.x addresses are never dialed.
 */
import type { Server } from "node:http";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_DURATIONS, NO_FAULTS, ProxmoxSimulator } from "../../src/providers/proxmox/simulator.js";
import { cli } from "../helpers/cli.js";
import { labData, ROOT } from "../helpers/inventory.js";
import { SEED_LAB_VMS } from "../helpers/proxmox-wire.js";

const HOST = "127.0.237.30";
const PORT = 18792;
const TOKEN = { id: "edgelab@pve!plan", secret: "6f1d2c3b-4a59-4e68-8f7a-9b0c1d2e3f40" };
const LAB = join(ROOT, "inventories", "lab.yml");
const env = { ...process.env, PROXMOX_URL: `http://${HOST}:${PORT}`, PROXMOX_VE_API_TOKEN: `${TOKEN.id}=${TOKEN.secret}`, PROXMOX_TOKEN_SECRET: undefined, PROXMOX_TOKEN_ID: undefined };

// The cluster: the template, two of the lab's VMs as edgelab left them (one since resized by
// hand), a VM of someone else's, and a leftover VM of this lab.
const converged = (index: 0 | 1, override: Record<string, string> = {}) => {
  const vm = SEED_LAB_VMS[index];
  return { vmid: vm.vmid, node: "pve01", status: "running" as const, config: { ...vm.config, ...override } };
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

describe("edgelab provision and destroy against the simulator (CLI)", () => {
  const FAST_HOST = "127.0.237.31";
  const FAST_PORT = 18793;
  const fastEnv = { ...env, PROXMOX_URL: `http://${FAST_HOST}:${FAST_PORT}` };
  // A clock 200× faster than real time: the CLI reads the scale from GET /version and polls on it.
  const fastDurations = { ...DEFAULT_DURATIONS };
  const fast = new ProxmoxSimulator(
    { nodes: [{ name: "pve01", storages: [{ id: "ssd02-4T", shared: false, totalGiB: 4000 }] }], vms: [{ vmid: 9000, node: "pve01", template: true, config: { name: "tpl", scsi0: "ssd02-4T:base-9000-disk-0,size=3584M", net0: "virtio=BC:24:11:90:00:01,bridge=vmbr0", agent: "1" } }] },
    { seed: 5, durations: fastDurations, faults: { ...NO_FAULTS }, resourcesLagMs: 2000, timeScale: 0.005, tokens: [TOKEN], users: [] },
  );
  let fastServer: Server;
  beforeAll(async () => {
    fastServer = await fast.listen(FAST_PORT, FAST_HOST);
  });
  afterAll(() => new Promise<void>((r) => fastServer.close(() => r())));

  it("provisions the seed lab, then says there is nothing to change", async () => {
    const first = await cli(["provision", "-i", LAB, "--no-wait-ssh"], { env: fastEnv });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain("Plan: 5 to create, 0 to update, 0 to replace, 0 to delete, 0 unchanged.");
    expect(first.stderr).toMatch(/west-lab-k3s01\s+wait for guest agent/);
    const second = await cli(["provision", "-i", LAB, "--no-wait-ssh"], { env: fastEnv });
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("Nothing to change: 5 VMs of inventories/lab.yml match the inventory.");
    const creates = fast.calls.filter((c) => c.endsWith("/clone")).length;
    expect(creates).toBe(5);
  }, 60_000);

  it("edgelab up with a proxmox inventory runs provisioning as its first stage", async () => {
    // --no-wait-ssh: the seed lab's own addresses are never dialed from here.
    // A copy: the run's journal (.edgelab/ beside the inventory) stays out of the repository.
    const dir = mkdtempSync(join(tmpdir(), "edgelab-up-"));
    const inventory = join(dir, "lab.yml");
    copyFileSync(LAB, inventory);
    const r = await cli(["up", "-i", inventory, "--no-wait-ssh"], { env: fastEnv });
    rmSync(dir, { recursive: true, force: true });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("provision: Plan: 0 to create, 0 to update, 0 to replace, 0 to delete, 5 unchanged.");
    expect(r.stdout).toMatch(/^provision +ok +0 .* 5 VMs match the inventory, 0 changed/m);
    // The Ansible stages contact the hosts: in a rehearsal they run, skipping that step and saying so.
    for (const stage of ["prepare", "k3s", "cilium"]) expect(r.stdout).toMatch(new RegExp(`^${stage} +ok +0 .*skipped \\(rehearsal, nothing contacted\\)`, "m"));
    // A rehearsal has no cluster to deploy to, no Ingress to smoke-test: said so, nothing dialed.
    for (const stage of ["deploy", "dns", "smoke"]) expect(r.stdout).toMatch(new RegExp(`^${stage} +ok +0 .* rehearsal: .* skipped`, "m"));
  }, 60_000);

  it("emits JSON events", async () => {
    const r = await cli(["--json", "provision", "-i", LAB, "--no-wait-ssh"], { env: fastEnv });
    const events = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { event: string });
    expect(events[0]).toMatchObject({ event: "plan", counts: { unchanged: 5 } });
    expect(events.at(-1)).toMatchObject({ event: "done", created: [], failed: [] });
  }, 30_000);

  it("reports a failed run with the VMs it created, and removes them with --destroy-on-failure", async () => {
    const failing = labData();
    const children = (failing["all"] as { children: { k3s_cluster: { children: { node: { hosts: Record<string, unknown> } } } } }).children.k3s_cluster.children.node.hosts;
    children["north-lab-k3s01"] = { ansible_host: "172.16.222.77", vmid: 3077, data_vlan: 222, label: "west-worker" };
    const { stringify } = await import("yaml");
    const { writeFileSync } = await import("node:fs");
    const dir = mkdtempSync(join(tmpdir(), "edgelab-fail-"));
    const file = join(dir, "lab.yml");
    writeFileSync(file, stringify(failing));
    fastDurations.bootToAgent = 10_000_000; // the new VM's guest agent never answers in time
    try {
      const r = await cli(["provision", "-i", file, "--no-wait-ssh", "--destroy-on-failure", "--agent-timeout", "1"], { env: fastEnv });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/north-lab-k3s01 \(vmid 3077\), step wait for guest agent: VM 3077 \(north-lab-k3s01\): the guest agent did not report 172\.16\.222\.77 within 1 s/);
      expect(r.stderr).toMatch(/Created by this run: 3077 \(destroyed again\)/);
    } finally {
      fastDurations.bootToAgent = DEFAULT_DURATIONS.bootToAgent;
      rmSync(dir, { recursive: true, force: true });
    }
    const resources = (await (await fetch(`http://${FAST_HOST}:${FAST_PORT}/api2/json/cluster/resources?type=vm`, { headers: { Authorization: `PVEAPIToken=${TOKEN.id}=${TOKEN.secret}` } })).json()) as { data: { vmid: number }[] };
    expect(resources.data.map((v) => v.vmid)).not.toContain(3077);
  }, 60_000);

  it("destroy: dry run lists our VMs, refuses without --yes off a terminal, deletes with --yes", async () => {
    const dry = await cli(["destroy", "-i", LAB, "--dry-run"], { env: fastEnv });
    expect(dry.stdout.match(/^- provision: delete \S+ \(vmid \d+ on pve01, running\)$/gm)).toHaveLength(5);
    const refused = await cli(["destroy", "-i", LAB], { env: fastEnv });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/refusing to destroy without confirmation/);
    const done = await cli(["destroy", "-i", LAB, "--yes"], { env: fastEnv });
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/^provision +ok +5 .* 5 VM\(s\) deleted/m);
    const left = (await (await fetch(`http://${FAST_HOST}:${FAST_PORT}/api2/json/cluster/resources?type=vm`, { headers: { Authorization: `PVEAPIToken=${TOKEN.id}=${TOKEN.secret}` } })).json()) as { data: { vmid: number }[] };
    expect(left.data.map((v) => v.vmid)).toEqual([9000]);
  }, 60_000);
});

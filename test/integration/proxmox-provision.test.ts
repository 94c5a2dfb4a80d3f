/**
 * Provisioning the seed lab onto the simulator over real HTTP, with task times scaled down
 * 100×. Only the simulator's loopback API is contacted (no SSH wait: nothing dials 172.16.x).
 */
import type { Server } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
// (expect is also used at module level below, to keep the scaled durations in step with the defaults)
import { ProxmoxClient } from "../../src/providers/proxmox/client.js";
import { planVms } from "../../src/providers/proxmox/plan.js";
import { Provisioner, type ProvisionOptions } from "../../src/providers/proxmox/provision.js";
import { readActual } from "../../src/providers/proxmox/read.js";
import { DEFAULT_DURATIONS, NO_FAULTS, ProxmoxSimulator, type SimFaults } from "../../src/providers/proxmox/simulator.js";
import { labFrom } from "../helpers/dataplane.js";
import { host, labData } from "../helpers/inventory.js";

const HOST = "127.0.237.40";
const TOKEN = { id: "edgelab@pve!prov", secret: "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d" };
const FAST: ProvisionOptions = { clonesPerSource: 1, concurrency: 5, pollMs: 10, taskTimeoutMs: 10_000, agentTimeoutMs: 10_000, retries: 8, backoffMs: 10, start: true };
const scaled: typeof DEFAULT_DURATIONS = { clone: 80, config: 5, start: 20, stop: 10, shutdown: 30, destroy: 10, resize: 5, bootToAgent: 100 };
expect(Object.keys(scaled).sort()).toEqual(Object.keys(DEFAULT_DURATIONS).sort());

let port = 18800;
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

async function cluster(faults: SimFaults = NO_FAULTS, seed = 11) {
  port += 1;
  const sim = new ProxmoxSimulator(
    {
      nodes: [{ name: "pve01", storages: [{ id: "ssd02-4T", shared: false, totalGiB: 4000 }] }],
      vms: [{ vmid: 9000, node: "pve01", template: true, config: { name: "debian12", cores: "2", memory: "2048", scsi0: "ssd02-4T:base-9000-disk-0,size=4G", net0: "virtio=BC:24:11:90:00:01,bridge=vmbr0", agent: "1" } }],
    },
    // Brand-new tasks answer 400 for their first 15 ms, as on a real node.
    { seed, durations: scaled, faults: { ...faults }, resourcesLagMs: 20, newTaskUnknownMs: 15, tokens: [TOKEN], users: [] },
  );
  servers.push(await sim.listen(port, HOST));
  const client = new ProxmoxClient({ url: `http://${HOST}:${port}`, tokenId: TOKEN.id, tokenSecret: TOKEN.secret, timeoutMs: 5000, readRetries: 8, backoffMs: 10 });
  return { sim, client };
}

async function provision(client: ProxmoxClient, data = labData(), steps: string[] = []) {
  const lab = labFrom(data);
  const plan = planVms(lab, await readActual(client, lab));
  const result = await new Provisioner(client, lab, FAST, (e) => steps.push(`${e.host} ${e.step}`)).apply(plan);
  return { lab, plan, result };
}

describe("provision the seed lab", () => {
  it("creates, configures, grows, starts every VM and waits for its address; a second run changes nothing", async () => {
    const { sim, client } = await cluster();
    const steps: string[] = [];
    const first = await provision(client, labData(), steps);
    expect(first.result.failed).toEqual([]);
    expect([...first.result.created].sort()).toEqual([3001, 3002, 3003, 3004, 3005]);
    expect(steps.filter((s) => s.startsWith("west-lab-k3s01"))).toEqual(["west-lab-k3s01 clone", "west-lab-k3s01 configure", "west-lab-k3s01 resize to 32G", "west-lab-k3s01 start", "west-lab-k3s01 wait for guest agent", "west-lab-k3s01 done"]);
    // Clones of the one template ran one at a time: no clone ever hit a lock timeout.
    expect(steps.some((s) => s.includes("clone retry"))).toBe(false);
    const lab = first.lab;
    const again = planVms(lab, await readActual(client, lab));
    expect(again.counts).toEqual({ create: 0, update: 0, replace: 0, delete: 0, unchanged: 5, conflict: 0 });
    const vm = (await client.doRequest("GET", "/nodes/pve01/qemu/3004/config", "")) as Record<string, string>;
    expect(vm).toMatchObject({ name: "west-lab-k3s01", cores: "4", memory: "4096", ipconfig0: "ip=172.16.222.41/24,gw=172.16.222.1", tags: "edgelab;edgelab-seed-lab" });
    expect(vm["scsi0"]).toMatch(/size=32G/);
    const clonePosts = sim.calls.filter((c) => /^POST \/nodes\/pve01\/qemu\/9000\/clone$/.test(c)).length;
    expect(clonePosts).toBe(5);
    client.close();
  }, 60_000);

  it("updates in place what changed, and deletes what left the inventory", async () => {
    const { client } = await cluster();
    await provision(client);
    const data = labData();
    host(data, "east-lab-k3s01")["memory"] = 8192;
    const children = (data["all"] as { children: { k3s_cluster: { children: { node: { hosts: Record<string, unknown> } } } } }).children.k3s_cluster.children.node.hosts;
    delete children["west-lab-k3s01"];
    const second = await provision(client, data);
    expect(second.plan.counts).toMatchObject({ update: 1, delete: 1, unchanged: 3 });
    expect(second.result.failed).toEqual([]);
    const left = ((await client.doRequest("GET", "/cluster/resources", "", { type: "vm" })) as { vmid: number }[]).map((r) => r.vmid).sort();
    expect(left).toEqual([3001, 3002, 3003, 3005, 9000]);
    expect(((await client.doRequest("GET", "/nodes/pve01/qemu/3005/config", "")) as Record<string, string>)["memory"]).toBe("8192");
    client.close();
  }, 60_000);

  it("converges under faults (20% lock timeouts, 5% task failures, 5% 596s) with no duplicate or orphaned VM", async () => {
    const { sim, client } = await cluster({ ...NO_FAULTS, lockTimeoutRate: 0.2, taskFailureRate: 0.05, proxy596Rate: 0.05 }, 20261121);
    // The seed lab plus 25 more workers, so every kind of fault shows up.
    const big = labData();
    const workers = (big["all"] as { children: { k3s_cluster: { children: { node: { hosts: Record<string, unknown> } } } } }).children.k3s_cluster.children.node.hosts;
    for (let i = 0; i < 25; i++) workers[`west-edge-${i}`] = { ansible_host: `172.16.222.${100 + i}`, vmid: 3100 + i, data_vlan: 222, label: "west-worker" };
    const runs = [];
    for (let i = 0; i < 5; i++) {
      const run = await provision(client, structuredClone(big));
      runs.push(run.result.failed.length);
      if (run.result.failed.length === 0 && run.plan.counts.create === 0 && run.plan.counts.update === 0) break;
    }
    sim.faults = { ...NO_FAULTS };
    const lab = labFrom(big);
    const final = planVms(lab, await readActual(client, lab));
    expect(final.counts).toEqual({ create: 0, update: 0, replace: 0, delete: 0, unchanged: 30, conflict: 0 });
    const resources = (await client.doRequest("GET", "/cluster/resources", "", { type: "vm" })) as { vmid: number; lock?: string }[];
    const expected = [3001, 3002, 3003, 3004, 3005, ...Array.from({ length: 25 }, (_, i) => 3100 + i), 9000];
    expect(resources.map((r) => r.vmid).sort((a, b) => a - b)).toEqual(expected);
    expect(resources.filter((r) => r.lock !== undefined)).toEqual([]);
    expect(runs.length).toBeLessThanOrEqual(5);
    // The faults did happen (the seed replays this run exactly).
    expect(sim.injected.lockTimeouts).toBeGreaterThan(0);
    expect(sim.injected.taskFailures).toBeGreaterThan(0);
    expect(sim.injected.proxy596).toBeGreaterThan(0);
    client.close();
  }, 120_000);
});

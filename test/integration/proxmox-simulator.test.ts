/**
 * The simulator over real HTTP, driven by the real `proxmox-api` client: envelope, errors,
 * auth, tasks, locks, guest-agent states. Time is simulated (an injected clock).
 */
import type { Server } from "node:http";
import proxmoxApi from "proxmox-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeSshKeys } from "../../src/providers/proxmox/mapper.js";
import { DEFAULT_DURATIONS, NO_FAULTS, ProxmoxSimulator } from "../../src/providers/proxmox/simulator.js";

const HOST = "127.0.237.10";
const PORT = 18706;
const TOKEN = { id: "edgelab@pve!ci", secret: "0d7a0f4e-3c9b-4a8e-9f5e-1a2b3c4d5e6f" };
let clock = 1_800_000_000_000;
const advance = (ms: number): void => {
  clock += ms;
};

const sim = new ProxmoxSimulator(
  {
    nodes: [{ name: "pve01", storages: [{ id: "local-lvm", shared: false, totalGiB: 500 }, { id: "ceph", shared: true, totalGiB: 2000 }] }, { name: "pve02", storages: [{ id: "local-lvm", shared: false, totalGiB: 500 }] }],
    vms: [{ vmid: 9000, node: "pve01", template: true, config: { name: "debian12-ci", cores: "2", memory: "2048", scsi0: "local-lvm:base-9000-disk-0,size=4G", net0: "virtio=BC:24:11:00:00:01,bridge=vmbr0", ide2: "local-lvm:vm-9000-cloudinit,media=cdrom", agent: "1" } }],
  },
  { seed: 7, durations: DEFAULT_DURATIONS, faults: { ...NO_FAULTS }, resourcesLagMs: 2000, tokens: [TOKEN], users: [{ username: "root@pam", password: "hunter2" }], now: () => clock },
);
let server: Server;
beforeAll(async () => {
  server = await sim.listen(PORT, HOST);
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const api = proxmoxApi({ host: HOST, port: PORT, schema: "http", tokenID: TOKEN.id, tokenSecret: TOKEN.secret });
const node = api.nodes.$("pve01");

async function task(upid: string, nodeName = "pve01"): Promise<{ status: string; exitstatus?: string }> {
  return api.nodes.$(nodeName).tasks.$(upid).status.$get();
}

describe("envelope, auth and errors", () => {
  it("answers with data through the real client", async () => {
    expect((await api.version.$get()).version).toBe("8.2.4");
    expect((await api.nodes.$get()).map((n) => n.node)).toEqual(["pve01", "pve02"]);
  });
  it("answers 401 with the reason phrase for a bad token", async () => {
    const bad = proxmoxApi({ host: HOST, port: PORT, schema: "http", tokenID: TOKEN.id, tokenSecret: "00000000-0000-0000-0000-000000000000" });
    await expect(bad.nodes.$get()).rejects.toThrow(/401 authentication failure/);
  });
  it("logs in with a ticket and requires the CSRF token on writes", async () => {
    const ticketed = proxmoxApi({ host: HOST, port: PORT, schema: "http", username: "root@pam", password: "hunter2" });
    expect(String(await ticketed.cluster.nextid.$get())).toBe("100");
    const raw = await fetch(`http://${HOST}:${PORT}/api2/json/access/ticket`, { method: "POST", body: new URLSearchParams({ username: "root@pam", password: "hunter2" }) });
    const { data } = (await raw.json()) as { data: { ticket: string } };
    const noCsrf = await fetch(`http://${HOST}:${PORT}/api2/json/nodes/pve01/qemu/9000/config`, { method: "PUT", headers: { cookie: `PVEAuthCookie=${encodeURIComponent(data.ticket)}` }, body: new URLSearchParams({ cores: "2" }) });
    expect([noCsrf.status, noCsrf.statusText]).toEqual([401, "Permission denied - invalid csrf token"]);
  });
  it("returns nextid as a string and reserves nothing; ?vmid= answers 400 when taken", async () => {
    expect(typeof (await api.cluster.nextid.$get())).toBe("string");
    await expect(api.cluster.nextid.$get({ vmid: 9000 })).rejects.toThrow(/400 Parameter verification failed\..*VM 9000 already exists/);
  });
  it("uses the exact content type, and puts the failure in the reason phrase", async () => {
    const res = await fetch(`http://${HOST}:${PORT}/api2/json/nodes/pve01/qemu/4242/config`, { headers: { Authorization: `PVEAPIToken=${TOKEN.id}=${TOKEN.secret}` } });
    expect(res.headers.get("content-type")).toBe("application/json;charset=UTF-8");
    expect([res.status, res.statusText]).toEqual([500, "Configuration file 'nodes/pve01/qemu-server/4242.conf' does not exist"]);
    expect(await res.json()).toMatchObject({ data: null });
  });
});

describe("clone, config, resize, power, agent, destroy", () => {
  it("clones as a task; the new VM is locked until the task ends", async () => {
    const upid = await node.qemu.$(9000).clone.$post({ newid: 3001, name: "lab-k3s01", full: true, storage: "local-lvm" });
    expect(upid).toMatch(/^UPID:pve01:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:qmclone:9000:edgelab@pve:$/);
    expect(await task(upid)).toMatchObject({ status: "running" });
    expect((await node.qemu.$(3001).config.$get()).lock).toBe("clone");
    await expect(node.qemu.$(3001).config.$put({ cores: 4 })).rejects.toThrow(/VM is locked \(clone\)/);
    const resources = (await api.cluster.resources.$get({ type: "vm" })).find((r) => r.vmid === 3001);
    expect(resources?.status).toBe("unknown");
    advance(DEFAULT_DURATIONS.clone);
    expect(await task(upid)).toMatchObject({ status: "stopped", exitstatus: "OK" });
    const config = await node.qemu.$(3001).config.$get();
    expect(config.lock).toBeUndefined();
    expect(config.name).toBe("lab-k3s01");
    expect(config.scsi0).toBe("local-lvm:vm-3001-disk-0,size=4G");
  });
  it("refuses synchronously what the real pre-checks refuse", async () => {
    await expect(node.qemu.$(9000).clone.$post({ newid: 3001 })).rejects.toThrow(/unable to create VM 3001: config file already exists/);
    await expect(node.qemu.$(9000).clone.$post({ newid: 3002, storage: "local-lvm" })).rejects.toThrow(/parameter 'storage' not allowed for linked clones/);
    await expect(node.qemu.$(9000).clone.$post({ newid: 3002, full: true, target: "pve02" })).rejects.toThrow(/can't clone VM to node 'pve02' \(VM uses local storage\)/);
  });
  it("times out a second clone of the same source while the first runs", async () => {
    const first = await node.qemu.$(9000).clone.$post({ newid: 3002, name: "a", full: true });
    const second = await node.qemu.$(9000).clone.$post({ newid: 3003, name: "b", full: true });
    advance(DEFAULT_DURATIONS.clone);
    expect(await task(first)).toMatchObject({ exitstatus: "OK" });
    expect(await task(second)).toMatchObject({ exitstatus: "clone failed: can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout" });
    await expect(node.qemu.$(3003).config.$get()).rejects.toThrow(/does not exist/);
  });
  it("stores NICs with a generated MAC and accepts only encoded sshkeys", async () => {
    await node.qemu.$(3001).config.$put({ net0: "virtio,bridge=vmbr0,tag=221", ipconfig0: "ip=172.16.221.38/24,gw=172.16.221.1", sshkeys: encodeSshKeys(["ssh-ed25519 AAAA alice"]) });
    expect((await node.qemu.$(3001).config.$get()).net0).toMatch(/^virtio=BC:24:11:[0-9A-F:]{8},bridge=vmbr0,tag=221$/);
    await expect(node.qemu.$(3001).config.$put({ sshkeys: "ssh-ed25519+AAAA+alice" })).rejects.toThrow(/400 Parameter verification failed.*invalid urlencoded string/);
    await expect(node.qemu.$(3001).config.$put({ ipconfig0: "ip=nonsense" })).rejects.toThrow(/ipconfig0/);
  });
  it("grows disks and refuses to shrink them", async () => {
    const upid = await node.qemu.$(3001).resize.$put({ disk: "scsi0", size: "+28G" });
    advance(DEFAULT_DURATIONS.resize);
    expect(await task(upid)).toMatchObject({ exitstatus: "OK" });
    expect((await node.qemu.$(3001).config.$get()).scsi0).toMatch(/size=32G/);
    await expect(node.qemu.$(3001).resize.$put({ disk: "scsi0", size: "16G" })).rejects.toThrow(/shrinking disks is not supported/);
  });
  it("walks the guest agent through not running, booting and ready", async () => {
    await expect(node.qemu.$(3001).agent["network-get-interfaces"].$get()).rejects.toThrow(/VM 3001 is not running/);
    const start = await node.qemu.$(3001).status.start.$post();
    advance(DEFAULT_DURATIONS.start);
    expect(await task(start)).toMatchObject({ exitstatus: "OK" });
    await expect(node.qemu.$(3001).agent["network-get-interfaces"].$get()).rejects.toThrow(/QEMU guest agent is not running/);
    advance(DEFAULT_DURATIONS.bootToAgent);
    const { result } = (await node.qemu.$(3001).agent["network-get-interfaces"].$get()) as { result: { name: string; "ip-addresses"?: { "ip-address": string }[] }[] };
    expect(result.find((i) => i.name === "eth0")?.["ip-addresses"]?.[0]?.["ip-address"]).toBe("172.16.221.38");
    const again = await node.qemu.$(3001).status.start.$post();
    advance(DEFAULT_DURATIONS.start);
    expect(await task(again)).toMatchObject({ exitstatus: "VM 3001 already running" });
  });
  it("refuses to destroy a running VM; destroys a stopped one", async () => {
    await expect(node.qemu.$(3001).$delete({ purge: true })).rejects.toThrow(/VM 3001 is running - destroy failed/);
    const stop = await node.qemu.$(3001).status.shutdown.$post({ timeout: 60 });
    advance(DEFAULT_DURATIONS.shutdown);
    expect(await task(stop)).toMatchObject({ exitstatus: "OK" });
    const destroy = await node.qemu.$(3001).$delete({ purge: true, "destroy-unreferenced-disks": true });
    advance(DEFAULT_DURATIONS.destroy);
    expect(await task(destroy)).toMatchObject({ exitstatus: "OK" });
    expect((await api.cluster.resources.$get({ type: "vm" })).map((r) => r.vmid)).not.toContain(3001);
  });
  it("answers 400 for a task too new to be known yet, then its status", async () => {
    const young = new ProxmoxSimulator(
      { nodes: [{ name: "pve01", storages: [] }], vms: [{ vmid: 100, node: "pve01", config: { name: "a" } }] },
      { seed: 1, durations: DEFAULT_DURATIONS, faults: NO_FAULTS, resourcesLagMs: 0, newTaskUnknownMs: 500, tokens: [TOKEN], users: [], now: () => clock },
    );
    const s = await young.listen(PORT + 50, HOST);
    try {
      const yapi = proxmoxApi({ host: HOST, port: PORT + 50, schema: "http", tokenID: TOKEN.id, tokenSecret: TOKEN.secret });
      const upid = await yapi.nodes.$("pve01").qemu.$(100).status.start.$post();
      await expect(yapi.nodes.$("pve01").tasks.$(upid).status.$get()).rejects.toThrow(/400/);
      advance(500);
      expect(await yapi.nodes.$("pve01").tasks.$(upid).status.$get()).toMatchObject({ upid });
    } finally {
      await new Promise<void>((r) => s.close(() => r()));
    }
  });
  it("answers 400 for an unknown task", async () => {
    await expect(task("UPID:pve01:00000001:00000001:00000001:qmstart:1:x@pam:")).rejects.toThrow(/400/);
  });
});

describe("fault injection", () => {
  it("runs a share of tasks slow", async () => {
    sim.faults.slowTaskRate = 1;
    sim.faults.slowTaskFactor = 3;
    try {
      const upid = await node.qemu.$(9000).config.$post({ description: "slow" });
      advance(DEFAULT_DURATIONS.config * 2);
      expect(await task(upid)).toMatchObject({ status: "running" });
      advance(DEFAULT_DURATIONS.config);
      expect(await task(upid)).toMatchObject({ status: "stopped", exitstatus: "OK" });
      expect(sim.injected.slowTasks).toBeGreaterThan(0);
    } finally {
      sim.faults.slowTaskRate = 0;
    }
  });
  it("injects 596s at the configured rate, repeatably from the seed", async () => {
    const res = await fetch(`http://${HOST}:${PORT}/api2/json/_sim/faults`, { method: "POST", headers: { Authorization: `PVEAPIToken=${TOKEN.id}=${TOKEN.secret}` }, body: new URLSearchParams({ proxy596Rate: "1" }) });
    expect(res.status).toBe(200);
    await expect(api.nodes.$get()).rejects.toThrow(/596 Connection timed out/);
    sim.faults.proxy596Rate = 0;
    expect((await api.nodes.$get()).length).toBe(2);
  });
});

describe("edgelab's client with a ticket login (no token)", () => {
  it("logs in, sends the CSRF token on writes, and logs in again when the ticket is refused", async () => {
    const { ProxmoxClient } = await import("../../src/providers/proxmox/client.js");
    const client = new ProxmoxClient({ url: `http://${HOST}:${PORT}`, username: "root@pam", password: "hunter2", timeoutMs: 5000 });
    expect(((await client.doRequest("GET", "/nodes", "")) as { node: string }[]).map((n) => n.node)).toEqual(["pve01", "pve02"]);
    await client.doRequest("PUT", "/nodes/pve01/qemu/9000/config", "", { description: "template" });
    expect(((await client.doRequest("GET", "/nodes/pve01/qemu/9000/config", "")) as Record<string, string>)["description"]).toBe("template");
    const logins = sim.calls.filter((c) => c === "POST /access/ticket").length;
    sim.forgetTickets();
    expect(((await client.doRequest("GET", "/nodes", "")) as unknown[]).length).toBe(2);
    expect(sim.calls.filter((c) => c === "POST /access/ticket").length).toBe(logins + 1);
    const wrong = new ProxmoxClient({ url: `http://${HOST}:${PORT}`, username: "root@pam", password: "nope", timeoutMs: 5000 });
    await expect(wrong.doRequest("GET", "/nodes", "")).rejects.toThrow(/login as root@pam failed: 401 authentication failure/);
    client.close();
    wrong.close();
  });
});

/**
 * The simulator over real HTTP, driven by the real `proxmox-api` client: envelope, errors,
 * auth, tasks, locks, the clone model, guest-agent states and commands. Time is simulated (an
 * injected clock).
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
    vms: [
      { vmid: 9000, node: "pve01", template: true, config: { name: "debian12-ci", cores: "2", memory: "2048", scsi0: "local-lvm:base-9000-disk-0,size=4G", net0: "virtio=BC:24:11:00:00:01,bridge=vmbr0", ide2: "local-lvm:vm-9000-cloudinit,media=cdrom", agent: "1" } },
      { vmid: 8000, node: "pve01", status: "running", config: { name: "running-source", scsi0: "ceph:vm-8000-disk-0,size=1G" } },
    ],
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
  it("answers with data through the real client, and says in GET /version that it is the simulator", async () => {
    const version = await api.version.$get();
    expect(version).toMatchObject({ version: "8.2.4", release: "8.2", "edgelab-simulator": { name: "edgelab proxmox-sim", timeScale: 1 } });
    expect((await api.nodes.$get()).map((n) => n.node)).toEqual(["pve01", "pve02"]);
  });
  it("answers 401 with the reason phrase for a bad token, after the configured delay", async () => {
    const bad = proxmoxApi({ host: HOST, port: PORT, schema: "http", tokenID: TOKEN.id, tokenSecret: "00000000-0000-0000-0000-000000000000" });
    await expect(bad.nodes.$get()).rejects.toThrow(/401 authentication failure/);
    sim.faults.authDelayMs = 300;
    try {
      const started = Date.now();
      await expect(bad.nodes.$get()).rejects.toThrow(/401 authentication failure/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    } finally {
      sim.faults.authDelayMs = 0;
    }
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
  it("clones as a task; the new VM is locked until the task ends; a lone full clone of 4 GiB at 200 MiB/s takes 20.48 s", async () => {
    const upid = await node.qemu.$(9000).clone.$post({ newid: 3001, name: "lab-k3s01", full: true, storage: "local-lvm" });
    expect(upid).toMatch(/^UPID:pve01:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:qmclone:9000:edgelab@pve:$/);
    expect(await task(upid)).toMatchObject({ status: "running" });
    expect((await node.qemu.$(3001).config.$get()).lock).toBe("clone");
    await expect(node.qemu.$(3001).config.$put({ cores: 4 })).rejects.toThrow(/VM is locked \(clone\)/);
    const resources = (await api.cluster.resources.$get({ type: "vm" })).find((r) => r.vmid === 3001);
    expect(resources?.status).toBe("unknown");
    advance(20_400);
    expect(await task(upid)).toMatchObject({ status: "running" });
    advance(80);
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
  it("locks a stopped template shared: two full clones of it run at once, sharing the storage's bandwidth", async () => {
    const first = await node.qemu.$(9000).clone.$post({ newid: 3002, name: "a", full: true, storage: "ceph" });
    const second = await node.qemu.$(9000).clone.$post({ newid: 3003, name: "b", full: true, storage: "ceph" });
    // Each gets 100 MiB/s: 4 GiB takes 40.96 s instead of 20.48 s.
    advance(40_900);
    expect([await task(first), await task(second)]).toMatchObject([{ status: "running" }, { status: "running" }]);
    advance(100);
    expect([await task(first), await task(second)]).toMatchObject([{ exitstatus: "OK" }, { exitstatus: "OK" }]);
    expect((await node.qemu.$(3003).config.$get()).scsi0).toBe("ceph:vm-3003-disk-0,size=4G");
  });
  it("locks a running source exclusively: a second clone of it times out on the lock after 1 s, and leaves nothing", async () => {
    const first = await node.qemu.$(8000).clone.$post({ newid: 3010, name: "c1", full: true, storage: "ceph" });
    const second = await node.qemu.$(8000).clone.$post({ newid: 3011, name: "c2", full: true, storage: "ceph" });
    advance(1000);
    expect(await task(second)).toMatchObject({ status: "stopped", exitstatus: "clone failed: can't lock file '/var/lock/qemu-server/lock-8000.conf' - got timeout" });
    await expect(node.qemu.$(3011).config.$get()).rejects.toThrow(/does not exist/);
    advance(5120);
    expect(await task(first)).toMatchObject({ exitstatus: "OK" });
  });
  it("takes about a second for a linked clone, on the template's storage", async () => {
    const upid = await node.qemu.$(9000).clone.$post({ newid: 3020, name: "linked" });
    advance(999);
    expect(await task(upid)).toMatchObject({ status: "running" });
    advance(1);
    expect(await task(upid)).toMatchObject({ exitstatus: "OK" });
    expect((await node.qemu.$(3020).config.$get()).scsi0).toBe("local-lvm:base-9000-disk-0/vm-3020-disk-0,size=4G");
  });
  it("times out clones on a busy storage's lock at the configured rate; another storage is unaffected", async () => {
    // Every other clone on the same storage makes a timeout certain; alone, none.
    const contended = new ProxmoxSimulator(
      { nodes: [{ name: "pve01", storages: [{ id: "local-lvm", totalGiB: 500 }, { id: "nvme", totalGiB: 500 }] }], vms: [{ vmid: 9000, node: "pve01", template: true, config: { name: "t", scsi0: "local-lvm:base-9000-disk-0,size=1G" } }] },
      { seed: 1, durations: DEFAULT_DURATIONS, faults: NO_FAULTS, model: { storageLockRatePerClone: 1 }, resourcesLagMs: 0, tokens: [TOKEN], users: [], now: () => clock },
    );
    const s = await contended.listen(PORT + 51, HOST);
    try {
      const capi = proxmoxApi({ host: HOST, port: PORT + 51, schema: "http", tokenID: TOKEN.id, tokenSecret: TOKEN.secret });
      const t = capi.nodes.$("pve01").qemu.$(9000);
      const status = (upid: string) => capi.nodes.$("pve01").tasks.$(upid).status.$get();
      const alone = await t.clone.$post({ newid: 101, name: "alone" });
      const crowded = await t.clone.$post({ newid: 102, name: "crowded" });
      const elsewhere = await t.clone.$post({ newid: 103, name: "elsewhere", full: true, storage: "nvme" });
      advance(1000);
      expect(await status(alone)).toMatchObject({ exitstatus: "OK" });
      expect(await status(crowded)).toMatchObject({ status: "running" });
      advance(9000);
      expect(await status(crowded)).toMatchObject({ exitstatus: "clone failed: can't lock file '/var/lock/pve-manager/pve-storage-local-lvm' - got timeout" });
      expect(await status(elsewhere)).toMatchObject({ exitstatus: "OK" });
      expect(contended.injected.storageLockTimeouts).toBe(1);
    } finally {
      await new Promise<void>((r) => s.close(() => r()));
    }
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
    const template = await node.qemu.$(9000).status.start.$post();
    advance(DEFAULT_DURATIONS.start);
    expect(await task(template)).toMatchObject({ exitstatus: "you can't start a vm if it's a template" });
  });
  it("runs commands through the guest agent: agent/exec gives a pid, agent/exec-status the exit, output and errors", async () => {
    const agent = node.qemu.$(3001).agent;
    const { pid } = await agent.exec.$post({ command: ["cat", "/etc/hostname"] });
    expect(typeof pid).toBe("number");
    expect(await agent["exec-status"].$get({ pid })).toEqual({ exited: 0 });
    advance(DEFAULT_DURATIONS.exec);
    expect(await agent["exec-status"].$get({ pid })).toEqual({ exited: 1, exitcode: 0, "out-data": "lab-k3s01\n" });
    // qemu-ga forgets a process once its exit was read.
    await expect(agent["exec-status"].$get({ pid })).rejects.toThrow(/500 VM 3001 qmp command 'guest-exec-status' failed - Invalid parameter 'pid'/);
    const run = async (command: string[], input?: string) => {
      const started = await agent.exec.$post({ command, ...(input === undefined ? {} : { "input-data": input }) });
      advance(DEFAULT_DURATIONS.exec);
      return agent["exec-status"].$get({ pid: started.pid });
    };
    expect(await run(["/bin/cat"], "from stdin\n")).toEqual({ exited: 1, exitcode: 0, "out-data": "from stdin\n" });
    expect(await run(["cat", "/etc/ssh/ssh_host_dsa_key.pub"])).toEqual({ exited: 1, exitcode: 1, "err-data": "cat: /etc/ssh/ssh_host_dsa_key.pub: No such file or directory\n" });
    expect(await run(["sh", "-c", "uptime"])).toEqual({ exited: 1, exitcode: 127, "err-data": "sh: 1: uptime: not found\n" });
    await expect(agent.exec.$post({ command: ["/usr/bin/systemctl", "status"] })).rejects.toThrow(/500 VM 3001 qmp command 'guest-exec' failed - Guest agent command failed, error was 'Failed to execute child process "\/usr\/bin\/systemctl" \(No such file or directory\)'/);
    const noCommand = await fetch(`http://${HOST}:${PORT}/api2/json/nodes/pve01/qemu/3001/agent/exec`, { method: "POST", headers: { Authorization: `PVEAPIToken=${TOKEN.id}=${TOKEN.secret}` }, body: new URLSearchParams({ "input-data": "x" }) });
    expect([noCommand.status, noCommand.statusText]).toEqual([400, "Parameter verification failed."]);
  });
  it("gives each VM its own SSH host keys, readable with the shell's globbing, the same on every read", async () => {
    const agent = node.qemu.$(3001).agent;
    const read = async (vm: typeof agent) => {
      const { pid } = await vm.exec.$post({ command: ["sh", "-c", "cat /etc/ssh/ssh_host_*_key.pub"] });
      advance(DEFAULT_DURATIONS.exec);
      return (await vm["exec-status"].$get({ pid }))["out-data"] as string;
    };
    const keys = (await read(agent)).trim().split("\n");
    // ecdsa, ed25519, rsa: the glob's order.
    expect(keys.map((k) => k.split(" ")[0])).toEqual(["ecdsa-sha2-nistp256", "ssh-ed25519", "ssh-rsa"]);
    expect(keys.every((k) => k.endsWith(" root@lab-k3s01"))).toBe(true);
    expect((await read(agent)).trim().split("\n")).toEqual(keys);
    // Another VM (the linked clone, booted here) has other keys.
    const other = node.qemu.$(3020);
    await other.config.$put({ agent: "1" });
    await other.status.start.$post();
    advance(DEFAULT_DURATIONS.start + DEFAULT_DURATIONS.bootToAgent);
    const otherKeys = (await read(other.agent)).trim().split("\n");
    expect(otherKeys).toHaveLength(3);
    expect(otherKeys.filter((k) => keys.includes(k))).toEqual([]);
  });
  it("answers agent commands of a VM that is not running, or whose agent is not configured, as qemu-server does", async () => {
    await expect(node.qemu.$(3010).agent.exec.$post({ command: ["cat", "/etc/hostname"] })).rejects.toThrow(/500 No QEMU guest agent configured/);
    await node.qemu.$(3010).config.$put({ agent: "enabled=1" });
    await expect(node.qemu.$(3010).agent.exec.$post({ command: ["cat", "/etc/hostname"] })).rejects.toThrow(/500 VM 3010 is not running/);
    await node.qemu.$(3010).status.start.$post();
    advance(DEFAULT_DURATIONS.start);
    await expect(node.qemu.$(3010).agent.exec.$post({ command: ["cat", "/etc/hostname"] })).rejects.toThrow(/500 QEMU guest agent is not running/);
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

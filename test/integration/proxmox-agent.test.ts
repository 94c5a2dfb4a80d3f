/**
 * The guest agent through edgelab's client, over HTTP against the simulator: running a command
 * until it exits, and reading a VM's SSH host keys as known_hosts lines — then checked by the
 * real OpenSSH client against a real sshd that holds those keys (strict host-key checking, no
 * trust on first use).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostKeyError, parseKnownHosts } from "../../src/exec/known-hosts.js";
import { waitForHostKey } from "../../src/exec/ssh.js";
import { guestExec, knownHostsFromAgent } from "../../src/providers/proxmox/agent.js";
import { pveApi } from "../../src/providers/proxmox/api.js";
import { ProviderError, ProxmoxClient } from "../../src/providers/proxmox/client.js";
import { DEFAULT_DURATIONS, NO_FAULTS, ProxmoxSimulator } from "../../src/providers/proxmox/simulator.js";
import { waitForPort } from "../helpers/procs.js";

const HOST = "127.0.237.50";
const PORT = 18810;
const SSH_PORT = 18811;
const TOKEN = { id: "edgelab@pve!agent", secret: "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d" };

let dir: string;
let sshd: ChildProcess;
let server: Server;
let client: ProxmoxClient;
const durations = { ...DEFAULT_DURATIONS };
let sim: ProxmoxSimulator;

const ssh = (knownHosts: string): { ok: boolean; out: string } => {
  try {
    const out = execFileSync("ssh", ["-F", "none", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${knownHosts}`, "-o", "IdentitiesOnly=yes", "-i", join(dir, "user"), "-p", String(SSH_PORT), `root@${HOST}`, "echo", "verified"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 });
    return { ok: true, out };
  } catch (err) {
    return { ok: false, out: String((err as { stderr?: string }).stderr ?? err) };
  }
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "edgelab-agent-"));
  // A real sshd with its own host keys, which the simulated VM 3001 holds as its host keys.
  for (const type of ["ed25519", "ecdsa"]) execFileSync("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", "root@lab-k3s01", "-f", join(dir, `ssh_host_${type}_key`)]);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "user")]);
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "user.pub")));
  writeFileSync(
    join(dir, "sshd_config"),
    [`ListenAddress ${HOST}:${SSH_PORT}`, `HostKey ${join(dir, "ssh_host_ed25519_key")}`, `HostKey ${join(dir, "ssh_host_ecdsa_key")}`, "PidFile none", "UsePAM no", `AuthorizedKeysFile ${join(dir, "authorized_keys")}`, "StrictModes no", "PasswordAuthentication no", "KbdInteractiveAuthentication no", ""].join("\n"),
  );
  // sshd needs its privilege-separation directory /run/sshd: give it one in a mount namespace of its own.
  sshd = spawn("unshare", ["-m", "sh", "-c", `mount -t tmpfs tmpfs /run && mkdir -m 755 /run/sshd && exec /usr/sbin/sshd -D -e -f ${join(dir, "sshd_config")}`], { stdio: "ignore" });
  await waitForPort(HOST, SSH_PORT);
  sim = new ProxmoxSimulator(
    {
      nodes: [{ name: "pve01", storages: [{ id: "local-lvm", totalGiB: 100 }] }],
      vms: [
        { vmid: 3001, node: "pve01", status: "running", config: { name: "lab-k3s01", agent: "1" }, hostKeys: ["ssh_host_ed25519_key", "ssh_host_ecdsa_key"].map((f) => readFileSync(join(dir, `${f}.pub`), "utf8").trim()) },
        { vmid: 3002, node: "pve01", status: "running", config: { name: "lab-k3s02", agent: "1" } },
        { vmid: 3003, node: "pve01", status: "running", config: { name: "no-agent" } },
      ],
    },
    { seed: 3, durations, faults: NO_FAULTS, resourcesLagMs: 0, timeScale: 0.01, tokens: [TOKEN], users: [] },
  );
  server = await sim.listen(PORT, HOST);
  client = new ProxmoxClient({ url: `http://${HOST}:${PORT}`, tokenId: TOKEN.id, tokenSecret: TOKEN.secret, timeoutMs: 5000 });
});

afterAll(async () => {
  client.close();
  await new Promise<void>((r) => server.close(() => r()));
  await new Promise<void>((resolve) => {
    if (sshd.exitCode !== null || sshd.signalCode !== null) return resolve();
    sshd.once("exit", () => resolve());
    sshd.kill("SIGTERM");
  });
  rmSync(dir, { recursive: true, force: true });
});

describe("guestExec", () => {
  it("runs a command and polls until it exits, with its exit code, output and errors", async () => {
    const api = pveApi(client);
    // Each command runs 5 s of simulated time (50 ms here): the first status reads say it has not exited.
    durations.exec = 5000;
    try {
      expect(await guestExec(api, "pve01", 3002, ["cat", "/etc/hostname"], { pollMs: 5 })).toEqual({ exitcode: 0, stdout: "lab-k3s02\n", stderr: "" });
      expect(sim.calls.filter((c) => c === "GET /nodes/pve01/qemu/3002/agent/exec-status").length).toBeGreaterThan(1);
      expect(await guestExec(api, "pve01", 3002, ["cat"], { input: "given on stdin\n", pollMs: 5 })).toEqual({ exitcode: 0, stdout: "given on stdin\n", stderr: "" });
      expect(await guestExec(api, "pve01", 3002, ["cat", "/etc/shadow"], { pollMs: 5 })).toEqual({ exitcode: 1, stdout: "", stderr: "cat: /etc/shadow: No such file or directory\n" });
    } finally {
      durations.exec = DEFAULT_DURATIONS.exec;
    }
  });
  it("fails as the API does for a missing program or an agent that is not there", async () => {
    const api = pveApi(client);
    const missing = await guestExec(api, "pve01", 3002, ["ssh-keyscan", "localhost"]).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ProviderError);
    expect((missing as ProviderError).message).toMatch(/Failed to execute child process "ssh-keyscan" \(No such file or directory\)/);
    await expect(guestExec(api, "pve01", 3003, ["cat", "/etc/hostname"])).rejects.toThrow(/No QEMU guest agent configured/);
  });
  it("gives up, bounded, on a command that does not exit", async () => {
    durations.exec = 10_000_000;
    try {
      await expect(guestExec(pveApi(client), "pve01", 3002, ["cat", "/etc/hostname"], { timeoutMs: 200, pollMs: 20 })).rejects.toThrow(/VM 3002: 'cat \/etc\/hostname' \(guest pid \d+\) did not exit within 0 s/);
    } finally {
      durations.exec = DEFAULT_DURATIONS.exec;
    }
  });
});

describe("knownHostsFromAgent", () => {
  it("reads the VM's host keys through the agent as known_hosts lines, which the real ssh accepts with strict checking", async () => {
    const lines = await knownHostsFromAgent(pveApi(client), "pve01", 3001, HOST, { port: SSH_PORT, pollMs: 5 });
    expect(lines.map((l) => l.split(" ").slice(0, 2).join(" "))).toEqual([`[${HOST}]:${SSH_PORT} ssh-ed25519`, `[${HOST}]:${SSH_PORT} ecdsa-sha2-nistp256`]);
    const file = join(dir, "known_hosts");
    writeFileSync(file, `${lines.join("\n")}\n`);
    // ssh-keygen finds both keys for the host, and their fingerprints are those of the sshd's keys.
    const found = execFileSync("ssh-keygen", ["-l", "-F", `[${HOST}]:${SSH_PORT}`, "-f", file], { encoding: "utf8" });
    for (const type of ["ed25519", "ecdsa"]) {
      const fingerprint = execFileSync("ssh-keygen", ["-l", "-f", join(dir, `ssh_host_${type}_key.pub`)], { encoding: "utf8" }).split(" ")[1] ?? "?";
      expect(found).toContain(fingerprint);
    }
    expect(ssh(file)).toEqual({ ok: true, out: "verified\n" });
  });
  it("gives other keys for another VM, which the real ssh refuses for this server", async () => {
    const lines = await knownHostsFromAgent(pveApi(client), "pve01", 3002, HOST, { port: SSH_PORT, pollMs: 5 });
    // The simulated VM made its own keys at first boot: real OpenSSH keys (ssh-keygen reads them).
    expect(lines).toHaveLength(3);
    const file = join(dir, "known_hosts.other");
    writeFileSync(file, `${lines.join("\n")}\n`);
    expect(execFileSync("ssh-keygen", ["-l", "-f", file], { encoding: "utf8" }).trim().split("\n").map((l) => /\(([A-Z0-9]+)\)$/.exec(l)?.[1])).toEqual(["ED25519", "ECDSA", "RSA"]);
    const refused = ssh(file);
    expect(refused.ok).toBe(false);
    expect(refused.out).toMatch(/Host key verification failed/);
  });
  it("uses the bare address for port 22", async () => {
    const lines = await knownHostsFromAgent(pveApi(client), "pve01", 3002, "172.16.221.39", { pollMs: 5 });
    expect(lines.every((l) => l.startsWith("172.16.221.39 "))).toBe(true);
  });
});

describe("waitForHostKey (the SSH wait after provisioning)", () => {
  const target = { name: "lab-k3s01", address: HOST, port: SSH_PORT, username: "root" };
  it("completes an SSH handshake in which the server proves the key read through the agent, without logging in", async () => {
    const keys = parseKnownHosts((await knownHostsFromAgent(pveApi(client), "pve01", 3001, HOST, { port: SSH_PORT, pollMs: 5 })).join("\n")).flatMap((k) => k.keys);
    const { key, verified } = await waitForHostKey(target, keys, { timeoutMs: 10_000 });
    expect(verified).toBe(true);
    expect(`${key.type} ${key.blob}`).toBe(readFileSync(join(dir, `ssh_host_${key.type === "ssh-ed25519" ? "ed25519" : "ecdsa"}_key.pub`), "utf8").trim().split(" ").slice(0, 2).join(" "));
  });
  it("refuses at once a server that presents a key other than the VM's, naming both fingerprints", async () => {
    const other = parseKnownHosts((await knownHostsFromAgent(pveApi(client), "pve01", 3002, HOST, { port: SSH_PORT, pollMs: 5 })).join("\n")).flatMap((k) => k.keys);
    const started = Date.now();
    const error = await waitForHostKey(target, other, { timeoutMs: 60_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HostKeyError);
    expect((error as HostKeyError).message).toMatch(new RegExp(`^lab-k3s01 \\(\\[${HOST.replace(/\./g, "\\.")}\\]:${SSH_PORT}\\) presented SSH host key (ssh-ed25519|ecdsa-sha2-nistp256) SHA256:\\S+, which is not the key edgelab knows for it \\(ssh-ed25519 SHA256:`));
    expect(Date.now() - started).toBeLessThan(30_000);
  });
  it("with --trust-on-first-use and no known key, accepts the key the server presents and says it is unverified", async () => {
    const { key, verified } = await waitForHostKey(target, [], { timeoutMs: 10_000, trustOnFirstUse: true });
    expect(verified).toBe(false);
    const served = ["ed25519", "ecdsa"].map((t) => readFileSync(join(dir, `ssh_host_${t}_key.pub`), "utf8").split(" ")[1]);
    expect(served).toContain(key.blob);
    await expect(waitForHostKey(target, [], { timeoutMs: 1000 })).rejects.toThrow(HostKeyError);
  });
  it("gives up, bounded, when nothing answers SSH at the address", async () => {
    const keys = parseKnownHosts((await knownHostsFromAgent(pveApi(client), "pve01", 3001, HOST, { port: SSH_PORT, pollMs: 5 })).join("\n")).flatMap((k) => k.keys);
    await expect(waitForHostKey({ ...target, port: SSH_PORT + 7 }, keys, { timeoutMs: 1500, retryMs: 200 })).rejects.toThrow(/no SSH handshake within 2 s/);
  });
});


/** `edgelab init --answers` against the simulator over HTTP: the written inventory validates and its plan creates the VMs; wrong answers are refused with the reason and nothing is written. */
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { validateInventoryText } from "../../src/inventory/validate.js";
import { DEFAULT_DURATIONS, NO_FAULTS, ProxmoxSimulator } from "../../src/providers/proxmox/simulator.js";
import type { AnswersInput } from "../../src/wizard/answers.js";
import { cli } from "../helpers/cli.js";
import { WIZARD_STATE, WIZARD_TOKEN } from "../helpers/wizard-sim.js";

const ROOT = join(import.meta.dirname, "..", "..");
const HOST = "127.0.239.11";
const PORT = 18741;
let server: Server;
let dir: string;
let pubKey: string;
let privKey: string;
beforeAll(async () => {
  const sim = new ProxmoxSimulator(WIZARD_STATE, { seed: 1, durations: DEFAULT_DURATIONS, faults: NO_FAULTS, resourcesLagMs: 0, tokens: [WIZARD_TOKEN], users: [] });
  server = await sim.listen(PORT, HOST);
  dir = mkdtempSync(join(tmpdir(), "edgelab-init-"));
  // A user's key pair, made by ssh-keygen, in a home directory of the test's own.
  mkdirSync(join(dir, "home", ".ssh"), { recursive: true });
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "eng@init-test", "-f", join(dir, "home", ".ssh", "id_ed25519")]);
  pubKey = readFileSync(join(dir, "home", ".ssh", "id_ed25519.pub"), "utf8").trim();
  privKey = readFileSync(join(dir, "home", ".ssh", "id_ed25519"), "utf8");
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await new Promise<void>((r) => server.close(() => r()));
});

const env = { PROXMOX_TOKEN_SECRET: WIZARD_TOKEN.secret };
const good = (): AnswersInput => ({
  name: "seed-lab",
  ssh_keys: [pubKey],
  proxmox: { url: `http://${HOST}:${PORT}`, node: "pve01", template: 9000, storage: "ceph-vm", bridge: "vmbr0", token_id: WIZARD_TOKEN.id },
  servers: { count: 3, vlan: { id: 221, subnet: "172.16.221.0/24", gateway: "172.16.221.1" }, peer: { address: "172.16.221.1", asn: 200 } },
  workers: [{ label: "west-worker", count: 2, vlan: { id: 222, subnet: "172.16.222.0/24", gateway: "172.16.222.1" }, peer: { address: "172.16.222.1", asn: 30 } }],
  lb_pool: ["172.16.228.0/24"],
  dns_name: "live.example.com",
});

let n = 0;
function answersFile(a: AnswersInput): string {
  const path = join(dir, `answers-${++n}.yml`);
  writeFileSync(path, stringify(a));
  return path;
}

describe("edgelab init --answers", () => {
  it("writes an inventory that validates, without the secret, whose plan creates the expected VMs", async () => {
    const out = join(dir, "lab.yml");
    const r = await cli(["init", "--answers", answersFile(good()), "-o", out, "--json"], { cwd: dir, env });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const text = readFileSync(out, "utf8");
    expect(validateInventoryText(text, out).issues).toEqual([]);
    expect((parse(text) as { all: { vars: { proxmox: { ssh_keys: unknown } } } }).all.vars.proxmox.ssh_keys).toEqual([pubKey]);
    expect(text).not.toContain(WIZARD_TOKEN.secret);
    const result = JSON.parse(r.stdout) as { written: boolean; plan: { counts: Record<string, number>; actions: { kind: string; vmid: number; name?: string }[] } };
    expect(result.written).toBe(true);
    expect(result.plan.counts["create"]).toBe(5);
    // 3001 and 3002 are taken on the cluster; seed-lab-k3s01 is a VM name there already.
    expect(result.plan.actions.map((a) => a.vmid)).toEqual([3003, 3004, 3005, 3006, 3007]);
    expect(text).not.toContain("seed-lab-k3s01:");
    // Nothing else left in the directory (no temp file).
    expect(readdirSync(dir).filter((f) => f.startsWith("."))).toEqual([]);
  });

  /** The real edgelab binary (the built CLI), as a user runs it. */
  const edgelab = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((done) => {
      execFile(process.execPath, [join(ROOT, "bin", "edgelab.cjs"), "--no-color", ...args], { cwd: dir, env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: join(dir, "home") } }, (err, stdout, stderr) => {
        done({ code: err === null ? 0 : typeof err.code === "number" ? err.code : -1, stdout, stderr });
      });
    });

  it("edgelab validate finds no way-in warning in the written inventory, and does once its ssh_keys are taken out", async () => {
    const out = join(dir, "validated.yml");
    expect((await cli(["init", "--answers", answersFile(good()), "-o", out], { cwd: dir, env })).code).toBe(0);
    const ok = await edgelab(["validate", "-i", out]);
    expect({ code: ok.code, stderr: ok.stderr }).toEqual({ code: 0, stderr: "" });
    expect(ok.stdout).not.toMatch(/no way to log in|warning/);
    // The same file without the keys block: the check the keys silence is there.
    const keyless = join(dir, "keyless.yml");
    writeFileSync(keyless, readFileSync(out, "utf8").replace(/^ {6}# cloud-init installs these[^\n]*\n {6}ssh_keys:\n( {8}- [^\n]*\n)+/m, ""));
    expect(readFileSync(keyless, "utf8")).not.toContain("ssh_keys");
    const warned = await edgelab(["validate", "-i", keyless]);
    expect(warned.stdout + warned.stderr).toMatch(/proxmox\.ssh_keys is empty and no host has an ansible_password: Ansible has no way to log in to the VMs/);
  });

  it("ssh_key_files: reads ~/ from HOME and a relative path from the answers file, and writes the key, never the path", async () => {
    const sub = join(dir, "answers-dir");
    mkdirSync(join(sub, "keys"), { recursive: true });
    execFileSync("ssh-keygen", ["-q", "-t", "rsa", "-b", "2048", "-N", "", "-C", "ops@init-test", "-f", join(sub, "keys", "ops")]);
    const opsPub = readFileSync(join(sub, "keys", "ops.pub"), "utf8").trim();
    const a = good();
    a.ssh_keys = [];
    a.ssh_key_files = ["~/.ssh/id_ed25519.pub", "keys/ops.pub"];
    const file = join(sub, "answers.yml");
    writeFileSync(file, stringify(a));
    const out = join(dir, "from-files.yml");
    // Run from elsewhere: the relative path is the answers file's, not the working directory's.
    const r = await cli(["init", "--answers", file, "-o", out], { cwd: dir, env: { ...env, HOME: join(dir, "home") } });
    expect(r.code, r.stderr).toBe(0);
    const text = readFileSync(out, "utf8");
    expect((parse(text) as { all: { vars: { proxmox: { ssh_keys: unknown } } } }).all.vars.proxmox.ssh_keys).toEqual([pubKey, opsPub]);
    expect(text).not.toMatch(/id_ed25519|ops\.pub/);
  });

  const keyRefused: [string, (a: AnswersInput) => void, RegExp][] = [
    ["no key at all, saying what to add", (a) => { a.ssh_keys = []; }, /^error: ssh_keys: no SSH public key for ansibleuser: cloud-init would install none, and Ansible would have no way to log in to the VMs\n {2}hint: Add your public key to the answers: ssh_keys: \["ssh-ed25519 AAAA\.\.\. you@host"\]/m],
    ["a line that is not a key", (a) => { a.ssh_keys = ["AAAAC3NzaC1lZDI1NTE5AAAAI my key"]; }, /^error: ssh_keys\[0\]: not an OpenSSH public key: the key type \(e\.g\. ssh-ed25519\) is missing before the key data$/m],
    ["a private key pasted as a key", (a) => { a.ssh_keys = [pubKey, privKey]; }, /^error: ssh_keys\[1\]: that is a private key; give its \.pub$/m],
    ["a private key's file", (a) => { a.ssh_keys = []; a.ssh_key_files = ["~/.ssh/id_ed25519"]; }, /^error: ssh_key_files\[0\]: \S+\/home\/\.ssh\/id_ed25519: that is a private key; give its \.pub\n {2}hint: The public key is \S+id_ed25519\.pub/m],
    ["a file that cannot be read", (a) => { a.ssh_key_files = ["keys/none.pub"]; }, /^error: ssh_key_files\[0\]: cannot read \S+\/keys\/none\.pub: no such file$/m],
  ];
  it.each(keyRefused)("refuses %s, and writes nothing", async (_what, patch, reason) => {
    const a = good();
    patch(a);
    const out = join(dir, "key-refused.yml");
    const r = await cli(["init", "--answers", answersFile(a), "-o", out], { cwd: dir, env: { ...env, HOME: join(dir, "home") } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(reason);
    expect(r.stderr).not.toContain((privKey.split("\n")[1] ?? "").slice(0, 30));
    expect(existsSync(out)).toBe(false);
  });

  const refused: [string, (a: AnswersInput) => void, RegExp][] = [
    ["an even number of servers", (a) => { a.servers.count = 2; }, /servers\.count: 2 K3s servers: etcd needs a majority/],
    ["an address outside the subnet", (a) => { a.servers.addresses = ["172.16.221.10", "172.16.99.11", "172.16.221.12"]; }, /servers\.addresses\[1\]: .*172\.16\.99\.11/],
    ["a vmid taken on the cluster", (a) => { a.servers.vmids = [3001, 4002, 4003]; }, /servers\.vmids\[0\]: vmid 3001 is already taken/],
    ["an LB pool overlapping a subnet", (a) => { a.lb_pool = ["172.16.222.0/23"]; }, /lb_pool: .*overlaps/],
    ["a bridge the node does not have", (a) => { a.proxmox.bridge = "vmbr9"; }, /proxmox\.bridge: bridge vmbr9 does not exist on node pve01/],
    ["a disk smaller than the template's", (a) => { a.disk = 4; }, /disk: disk 4 GiB is smaller than the template's 10 GiB/],
  ];
  it.each(refused)("refuses %s with the reason and writes nothing", async (_what, patch, reason) => {
    const a = good();
    patch(a);
    const out = join(dir, "refused.yml");
    const r = await cli(["init", "--answers", answersFile(a), "-o", out], { cwd: dir, env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(reason);
    expect(existsSync(out)).toBe(false);
  });

  it("never overwrites without --force, and does with it", async () => {
    const out = join(dir, "kept.yml");
    writeFileSync(out, "# mine\n");
    const r = await cli(["init", "--answers", answersFile(good()), "-o", out], { cwd: dir, env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already exists.*\n.*--force/);
    expect(readFileSync(out, "utf8")).toBe("# mine\n");
    const forced = await cli(["init", "--answers", answersFile(good()), "-o", out, "--force"], { cwd: dir, env });
    expect(forced.code).toBe(0);
    expect(readFileSync(out, "utf8")).toMatch(/^# yaml-language-server/);
  });

  it("refuses to run without PROXMOX_TOKEN_SECRET in the environment", async () => {
    const r = await cli(["init", "--answers", answersFile(good()), "-o", join(dir, "nosecret.yml")], { cwd: dir, env: {} });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/PROXMOX_TOKEN_SECRET is not set/);
  });
});

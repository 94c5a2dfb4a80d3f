/** `edgelab init --answers` against the simulator over HTTP: the written inventory validates and its plan creates the VMs; wrong answers are refused with the reason and nothing is written. */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { validateInventoryText } from "../../src/inventory/validate.js";
import { DEFAULT_DURATIONS, NO_FAULTS, ProxmoxSimulator } from "../../src/providers/proxmox/simulator.js";
import type { AnswersInput } from "../../src/wizard/answers.js";
import { cli } from "../helpers/cli.js";
import { WIZARD_STATE, WIZARD_TOKEN } from "../helpers/wizard-sim.js";

const HOST = "127.0.239.11";
const PORT = 18741;
let server: Server;
let dir: string;
beforeAll(async () => {
  const sim = new ProxmoxSimulator(WIZARD_STATE, { seed: 1, durations: DEFAULT_DURATIONS, faults: NO_FAULTS, resourcesLagMs: 0, tokens: [WIZARD_TOKEN], users: [] });
  server = await sim.listen(PORT, HOST);
  dir = mkdtempSync(join(tmpdir(), "edgelab-init-"));
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await new Promise<void>((r) => server.close(() => r()));
});

const env = { PROXMOX_TOKEN_SECRET: WIZARD_TOKEN.secret };
const good = (): AnswersInput => ({
  name: "seed-lab",
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
    // The wizard asks for no SSH public key yet: the one warning says Ansible has no way in.
    expect(validateInventoryText(text, out).issues.map((i) => `${i.severity}: ${i.message}`)).toEqual(["warning: proxmox.ssh_keys is empty and no host has an ansible_password: Ansible has no way to log in to the VMs (unless the template already trusts your key)"]);
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

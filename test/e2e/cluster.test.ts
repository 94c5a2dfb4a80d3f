/**
 * Opt-in: the whole cluster half on a real lab — `edgelab up --to cilium` (provision → prepare →
 * k3s → cilium) against real Proxmox VE VMs, then every node Ready and every BGP session
 * established, read through the kubeconfig edgelab wrote. Runs only when EDGELAB_E2E_INVENTORY
 * points at an inventory (provider proxmox) whose VMs may be created; the Proxmox credentials
 * come from the environment as for `edgelab up` (PROXMOX_TOKEN_SECRET or PROXMOX_VE_API_TOKEN,
 * optionally PROXMOX_URL and PROXMOX_TLS_FINGERPRINT), the K3s token from the variable the
 * inventory names. `kubectl` must be on PATH. The VMs are left running (run `edgelab destroy`).
 *
 * Storage (NFS mounts, iSCSI sessions and the filesystems on their LUNs) cannot be exercised on
 * the test hosts of the default run (their kernel has no NFS client and no iSCSI transport): when
 * EDGELAB_E2E_STORAGE=1 says the inventory gives hosts storage, and this file then checks each
 * mount and session on the VMs over SSH, with the host keys edgelab recorded
 * (.edgelab/known_hosts beside the inventory, strict; `sudo -n` for iscsiadm).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { z } from "zod";
import { cli } from "../helpers/cli.js";
import { events } from "../helpers/events.js";

const inventory = process.env["EDGELAB_E2E_INVENTORY"];
const dir = mkdtempSync(join(tmpdir(), "edgelab-e2e-cluster-"));
const kubeconfig = join(dir, "kubeconfig");

const Nodes = z.object({ items: z.array(z.object({ metadata: z.object({ name: z.string() }), status: z.object({ conditions: z.array(z.object({ type: z.string(), status: z.string() })) }) })) });
const BgpNodes = z.object({
  items: z.array(z.object({ metadata: z.object({ name: z.string() }), status: z.object({ bgpInstances: z.array(z.object({ peers: z.array(z.object({ name: z.string(), peeringState: z.string().optional() })).optional() })).optional() }).optional() })),
});

// What `edgelab render` wrote to ansible/vars.yml for the storage role (per host).
const StorageVars = z.object({
  edgelab_storage: z.record(
    z.string(),
    z.object({ nfs_mounts: z.array(z.object({ src: z.string(), path: z.string() })), iscsi_targets: z.array(z.object({ target: z.string() })), block_devices: z.array(z.object({ path: z.string() })) }),
  ),
});
// `ansible-inventory --list`: how Ansible reaches each host.
const AnsibleInventory = z.object({ _meta: z.object({ hostvars: z.record(z.string(), z.object({ ansible_host: z.string().optional(), ansible_user: z.string().optional(), ansible_port: z.number().optional() })) }) });

/** Runs argv on a host over SSH, its key checked against the one edgelab recorded. */
function onHost(stateDir: string, host: { address: string; user: string; port: number }, argv: readonly string[]): string {
  const opts = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${join(stateDir, "known_hosts")}`, "-o", "GlobalKnownHostsFile=/dev/null", "-p", String(host.port)];
  return execFileSync("ssh", [...opts, `${host.user}@${host.address}`, "--", ...argv], { encoding: "utf8", timeout: 60_000 });
}

function kubectl(args: readonly string[]): unknown {
  return JSON.parse(execFileSync("kubectl", ["--kubeconfig", kubeconfig, ...args, "-o", "json"], { encoding: "utf8", timeout: 60_000 })) as unknown;
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.runIf(inventory !== undefined)("a real lab: provision → prepare → k3s → cilium", () => {
  it("brings the cluster up with every node Ready and every BGP session established", async () => {
    const r = await cli(["--json", "up", "-i", inventory ?? "", "--to", "cilium", "--kubeconfig", kubeconfig], { env: process.env });
    expect(r.code, r.stdout.slice(-4000)).toBe(0);
    const ends = events(r.stdout).filter((e) => e.event === "stage-end" || e.event === "stage-skip");
    for (const stage of ["provision", "prepare", "k3s", "cilium"]) expect(ends.find((e) => e.stage === stage)?.status, stage).toMatch(/^(ok|unchanged)$/);

    const nodes = Nodes.parse(kubectl(["get", "nodes"]));
    expect(nodes.items.length).toBeGreaterThan(0);
    for (const n of nodes.items) expect(n.status.conditions.find((c) => c.type === "Ready")?.status, n.metadata.name).toBe("True");

    const bgp = BgpNodes.parse(kubectl(["get", "ciliumbgpnodeconfigs"]));
    const peers = bgp.items.flatMap((n) => (n.status?.bgpInstances ?? []).flatMap((i) => (i.peers ?? []).map((p) => ({ node: n.metadata.name, peer: p.name, state: p.peeringState }))));
    expect(peers.length).toBeGreaterThan(0);
    for (const p of peers) expect(p.state, `${p.node} → ${p.peer}`).toBe("established");

    // A second run changes nothing.
    const again = await cli(["--json", "up", "-i", inventory ?? "", "--to", "cilium", "--kubeconfig", kubeconfig], { env: process.env });
    expect(again.code).toBe(0);
    for (const stage of ["prepare", "k3s", "cilium"]) expect(events(again.stdout).find((e) => e.stage === stage && e.event === "stage-skip")?.status, stage).toBe("unchanged");
  }, 3_600_000);
  it.runIf(process.env["EDGELAB_E2E_STORAGE"] === "1")("mounts every NFS share and logs in to every iSCSI target the inventory gives, with the LUNs' filesystems mounted", () => {
    const inv = resolve(inventory ?? "");
    const stateDir = join(dirname(inv), ".edgelab");
    const storage = StorageVars.parse(parse(readFileSync(join(stateDir, "artifacts", "ansible", "vars.yml"), "utf8"))).edgelab_storage;
    const hostvars = AnsibleInventory.parse(JSON.parse(execFileSync("ansible-inventory", ["-i", inv, "--list"], { encoding: "utf8" })))._meta.hostvars;
    expect(Object.keys(storage), "EDGELAB_E2E_STORAGE=1 but the inventory gives no host storage").not.toEqual([]);
    for (const [name, want] of Object.entries(storage)) {
      const v = hostvars[name];
      const host = { address: v?.ansible_host ?? name, user: v?.ansible_user ?? "root", port: v?.ansible_port ?? 22 };
      for (const m of want.nfs_mounts) expect(onHost(stateDir, host, ["findmnt", "--noheadings", "--output", "SOURCE,FSTYPE", "--mountpoint", m.path]).trim().split(/\s+/), `${name}:${m.path}`).toEqual([m.src, expect.stringMatching(/^nfs4?$/) as unknown]);
      const sessions = want.iscsi_targets.length === 0 ? "" : onHost(stateDir, host, ["sudo", "-n", "iscsiadm", "--mode", "session"]);
      for (const t of want.iscsi_targets) expect(sessions, `${name}: ${t.target}`).toContain(t.target);
      for (const d of want.block_devices) expect(onHost(stateDir, host, ["findmnt", "--noheadings", "--output", "TARGET", "--mountpoint", d.path]).trim(), `${name}:${d.path}`).toBe(d.path);
    }
  }, 300_000);
});

/**
 * Opt-in: the whole cluster half on a real lab — `edgelab up --to cilium` (provision → prepare →
 * k3s → cilium) against real Proxmox VE VMs, then every node Ready and every BGP session
 * established, read through the kubeconfig edgelab wrote. Runs only when EDGELAB_E2E_INVENTORY
 * points at an inventory (provider proxmox) whose VMs may be created; the Proxmox credentials
 * come from the environment as for `edgelab up` (PROXMOX_TOKEN_SECRET or PROXMOX_VE_API_TOKEN,
 * optionally PROXMOX_URL and PROXMOX_TLS_FINGERPRINT), the K3s token from the variable the
 * inventory names. `kubectl` must be on PATH. The VMs are left running (run `edgelab destroy`).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
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
});

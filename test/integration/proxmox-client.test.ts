/**
 * edgelab's Proxmox transport against `edgelab proxmox-sim` over HTTPS: the pinned certificate
 * fingerprint, structured errors, and the real `proxmox-api` client on top.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import proxmoxApi from "proxmox-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { normalizeFingerprint, ProviderError, ProxmoxClient } from "../../src/providers/proxmox/client.js";
import { ROOT } from "../helpers/inventory.js";

const HOST = "127.0.237.20";
const PORT = 18791;
let sim: ChildProcess;
let info: { url: string; fingerprint: string; tokenId: string; tokenSecret: string };

beforeAll(async () => {
  sim = spawn(process.execPath, [join(ROOT, "bin", "edgelab.cjs"), "--json", "proxmox-sim", "--host", HOST, "--port", String(PORT), "--auth-delay", "0"], { stdio: ["ignore", "pipe", "inherit"] });
  info = await new Promise((resolve, reject) => {
    let out = "";
    sim.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8");
      const line = out.split("\n")[0];
      if (out.includes("\n") && line !== undefined) resolve(JSON.parse(line) as typeof info);
    });
    sim.once("exit", (code) => reject(new Error(`proxmox-sim exited with ${String(code)}`)));
  });
});
afterAll(() => {
  sim.kill("SIGTERM");
});

const client = (overrides: Partial<ConstructorParameters<typeof ProxmoxClient>[0]> = {}): ProxmoxClient =>
  new ProxmoxClient({ url: info.url, tokenId: info.tokenId, tokenSecret: info.tokenSecret, fingerprint: info.fingerprint, timeoutMs: 5000, ...overrides });

describe("TLS", () => {
  it("prints a SHA-256 fingerprint and a token", () => {
    expect(info.url).toBe(`https://${HOST}:${PORT}`);
    expect(normalizeFingerprint(info.fingerprint)).toBe(info.fingerprint);
    expect(info.tokenSecret).toMatch(/^[0-9a-f-]{36}$/);
  });
  it("talks to the server whose certificate matches the pinned fingerprint", async () => {
    const c = client();
    const api = proxmoxApi(c);
    expect((await api.nodes.$get()).map((n) => n.node)).toEqual(["pve01"]);
    c.close();
  });
  it("refuses a server whose certificate does not match, before sending anything", async () => {
    const wrong = info.fingerprint.replace(/^../, info.fingerprint.startsWith("00") ? "11" : "00");
    const c = client({ fingerprint: wrong });
    await expect(c.doRequest("GET", "/nodes", "/nodes")).rejects.toThrow(/does not match the pinned fingerprint/);
    c.close();
  });
  it("refuses a self-signed certificate when nothing is pinned, and says how to pin it", async () => {
    const c = client({ fingerprint: undefined });
    const err = await c.doRequest("GET", "/nodes", "/nodes").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).hint).toMatch(/PROXMOX_TLS_FINGERPRINT/);
    c.close();
  });
});

describe("errors", () => {
  it("carry status, reason, resource and the 400 errors map", async () => {
    const c = client();
    const err = (await c.doRequest("GET", "/cluster/nextid", "/cluster/nextid", { vmid: 9000 }).catch((e: unknown) => e)) as ProviderError;
    expect(err).toBeInstanceOf(ProviderError);
    expect([err.status, err.reason, err.resource]).toEqual([400, "Parameter verification failed.", "GET /cluster/nextid"]);
    expect(err.errors).toEqual({ vmid: "VM 9000 already exists" });
    expect(err.message).toBe("GET /cluster/nextid failed: 400 Parameter verification failed.: vmid: VM 9000 already exists");
    c.close();
  });
  it("name a bad token with a hint", async () => {
    const c = client({ tokenSecret: "00000000-0000-0000-0000-000000000000" });
    const err = (await c.doRequest("GET", "/nodes", "/nodes").catch((e: unknown) => e)) as ProviderError;
    expect([err.status, err.reason]).toEqual([401, "authentication failure"]);
    expect(err.hint).toMatch(/PROXMOX_TOKEN_SECRET/);
    c.close();
  });
  it("explain an unreachable API", async () => {
    const c = client({ url: "https://127.0.237.20:1", fingerprint: undefined });
    const err = (await c.doRequest("GET", "/nodes", "/nodes").catch((e: unknown) => e)) as ProviderError;
    expect(err.reason).toBe("ECONNREFUSED");
    expect(err.hint).toMatch(/PROXMOX_URL/);
    c.close();
  });
});

describe("edgelab proxmox-sim --http --state", () => {
  it("preloads nodes, storages and VMs from a YAML file and serves plain HTTP", async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const dir = mkdtempSync(join(tmpdir(), "edgelab-sim-state-"));
    writeFileSync(join(dir, "state.yml"), "nodes:\n  - {name: pve07, storages: [{id: nvme, shared: true, totalGiB: 100}]}\nvms:\n  - {vmid: 8000, node: pve07, template: true, config: {name: tpl, scsi0: 'nvme:base-8000-disk-0,size=2G'}}\n  - {vmid: 8001, node: pve07, status: running, config: {name: db, tags: other}}\n");
    const child = spawn(process.execPath, [join(ROOT, "bin", "edgelab.cjs"), "--json", "proxmox-sim", "--http", "--host", "127.0.237.21", "--port", "18794", "--state", join(dir, "state.yml")], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      type Started = { url: string; tokenId: string; tokenSecret: string; fingerprint?: string; vms: number[] };
      const started = await new Promise<Started>((resolve, reject) => {
        let out = "";
        child.stdout?.on("data", (c: Buffer) => {
          out += c.toString("utf8");
          const line = out.split("\n")[0];
          if (out.includes("\n") && line !== undefined) resolve(JSON.parse(line) as Started);
        });
        child.once("exit", (code) => reject(new Error(`exited ${String(code)}`)));
      });
      expect(started.url).toBe("http://127.0.237.21:18794");
      expect(started.fingerprint).toBeUndefined();
      expect(started.vms).toEqual([8000, 8001]);
      const c = new ProxmoxClient({ url: started.url, tokenId: started.tokenId, tokenSecret: started.tokenSecret });
      const resources = (await c.doRequest("GET", "/cluster/resources", "", { type: "vm" })) as { vmid: number; node: string; status: string; template: number }[];
      expect(resources.map((r) => [r.vmid, r.node, r.status, r.template])).toEqual([[8000, "pve07", "stopped", 1], [8001, "pve07", "running", 0]]);
      c.close();
    } finally {
      child.kill("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * edgelab's Proxmox transport against the simulator over HTTPS, with the certificates users
 * meet: a node certificate signed by the cluster's own CA (what a fresh node serves), a
 * self-signed one, a CA file, names that do not match; structured errors; the real
 * `proxmox-api` client on top.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import proxmoxApi from "proxmox-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { normalizeFingerprint, ProviderError, ProxmoxClient } from "../../src/providers/proxmox/client.js";
import { DEFAULT_DURATIONS, NO_FAULTS, ProxmoxSimulator } from "../../src/providers/proxmox/simulator.js";
import { clusterCertificates } from "../../src/providers/proxmox/tls.js";
import { cli } from "../helpers/cli.js";
import { ROOT } from "../helpers/inventory.js";

const HOST = "127.0.237.20";
const PORT = 18791;
type Started = { url: string; fingerprint?: string; caFile?: string; tokenId: string; tokenSecret: string; vms: number[]; timeScale: number };

/** `edgelab proxmox-sim` as a user starts it; resolves with the JSON line it prints. */
function startSim(args: readonly string[]): { child: ChildProcess; started: Promise<Started> } {
  const child = spawn(process.execPath, [join(ROOT, "bin", "edgelab.cjs"), "--json", "proxmox-sim", "--auth-delay", "0", ...args], { stdio: ["ignore", "pipe", "inherit"] });
  const started = new Promise<Started>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8");
      const line = out.split("\n")[0];
      if (out.includes("\n") && line !== undefined) resolve(JSON.parse(line) as Started);
    });
    child.once("exit", (code) => reject(new Error(`proxmox-sim exited with ${String(code)}`)));
  });
  return { child, started };
}

function stopped(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

let sim: ChildProcess;
let info: Started;
let caPath: string;

// A node whose certificate, signed by its cluster CA, names only pve01 and pve01.example.com:
// reached by IP address, as users often do. In-process, so its calls can be counted.
const TOKEN = { id: "edgelab@pve!tls", secret: "4f3e2d1c-0b9a-4877-8665-544332211000" };
const NAMED_HOST = "127.0.237.22";
const NAMED_PORT = 18797;
const named = clusterCertificates("pve01.example.com", ["pve01", "pve01.example.com"]);
const namedSim = new ProxmoxSimulator({ nodes: [{ name: "pve01", storages: [] }], vms: [] }, { seed: 1, durations: DEFAULT_DURATIONS, faults: NO_FAULTS, resourcesLagMs: 0, tokens: [TOKEN], users: [] });
let namedServer: Server;
let dir: string;

beforeAll(async () => {
  const started = startSim(["--host", HOST, "--port", String(PORT)]);
  sim = started.child;
  info = await started.started;
  namedServer = await namedSim.listen(NAMED_PORT, NAMED_HOST, named);
  dir = mkdtempSync(join(tmpdir(), "edgelab-tls-"));
  caPath = join(dir, "pve-root-ca.pem");
  writeFileSync(caPath, named.caPem ?? "");
});
afterAll(async () => {
  await stopped(sim);
  await new Promise<void>((r) => namedServer.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

const client = (overrides: Partial<ConstructorParameters<typeof ProxmoxClient>[0]> = {}): ProxmoxClient =>
  new ProxmoxClient({ url: info.url, tokenId: info.tokenId, tokenSecret: info.tokenSecret, fingerprint: info.fingerprint, timeoutMs: 5000, ...overrides });
const namedClient = (overrides: Partial<ConstructorParameters<typeof ProxmoxClient>[0]>): ProxmoxClient => new ProxmoxClient({ url: `https://${NAMED_HOST}:${NAMED_PORT}`, tokenId: TOKEN.id, tokenSecret: TOKEN.secret, timeoutMs: 5000, ...overrides });
const failure = async (c: ProxmoxClient): Promise<ProviderError> => {
  const err = await c.doRequest("GET", "/nodes", "/nodes").catch((e: unknown) => e);
  c.close();
  if (!(err instanceof ProviderError)) throw new Error(`expected a ProviderError, got ${String(err)}`);
  return err;
};

describe("TLS as a fresh node serves it (node certificate signed by the cluster CA)", () => {
  it("prints the node certificate's SHA-256, the CA file it wrote, and a token", () => {
    expect(info.url).toBe(`https://${HOST}:${PORT}`);
    expect(normalizeFingerprint(info.fingerprint ?? "")).toBe(info.fingerprint);
    expect(readFileSync(info.caFile ?? "", "utf8")).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(info.tokenSecret).toMatch(/^[0-9a-f-]{36}$/);
  });
  it("pin with the CA-signed chain: talks to the server whose node certificate matches", async () => {
    const c = client();
    expect((await proxmoxApi(c).nodes.$get()).map((n) => n.node)).toEqual(["pve01"]);
    c.close();
  });
  it("pin whatever the name: the pinned node certificate is trusted when reached by an address it does not name", async () => {
    const c = namedClient({ fingerprint: named.fingerprint.replaceAll(":", "").toLowerCase() });
    expect((await proxmoxApi(c).nodes.$get()).map((n) => n.node)).toEqual(["pve01"]);
    c.close();
  });
  it("pin mismatch: refused in the handshake, before anything is sent (the server records no request)", async () => {
    const before = namedSim.calls.length;
    const wrong = named.fingerprint.replace(/^../, named.fingerprint.startsWith("00") ? "11" : "00");
    const err = await failure(namedClient({ fingerprint: wrong }));
    expect(err.message).toMatch(/does not match the pinned fingerprint: it presented [0-9A-F:]{95} \(subject OU=PVE Cluster Node, O=Proxmox Virtual Environment, CN=pve01\.example\.com; issuer CN=Proxmox Virtual Environment, OU=[0-9a-f-]{36}, O=PVE Cluster Manager CA\)/);
    expect(namedSim.calls.slice(before)).toEqual([]);
  });
  it("CA file and a name the certificate holds: chain and name verified", async () => {
    const c = client({ fingerprint: undefined, caFile: info.caFile });
    expect((await proxmoxApi(c).nodes.$get()).map((n) => n.node)).toEqual(["pve01"]);
    c.close();
  });
  it("CA file and a name the certificate does not hold: refused, with the names it holds and the pin as the way out", async () => {
    const before = namedSim.calls.length;
    const err = await failure(namedClient({ caFile: caPath }));
    expect(err.message).toBe(`TLS certificate of ${NAMED_HOST}:${NAMED_PORT} is signed by the CA in ${caPath} but is not valid for the name '${NAMED_HOST}' used in the URL: it holds DNS:pve01, DNS:pve01.example.com; nothing was sent`);
    expect(err.hint).toBe(`Use one of the certificate's names in proxmox.url / PROXMOX_URL, or pin the certificate instead (a pin does not check names): --tls-fingerprint ${named.fingerprint}`);
    expect(namedSim.calls.slice(before)).toEqual([]);
  });
  it("a CA file of another cluster: refused as not signed by it", async () => {
    const err = await failure(client({ fingerprint: undefined, caFile: caPath }));
    expect(err.message).toMatch(new RegExp(`^TLS certificate of ${HOST.replaceAll(".", "\\.")}:${PORT} is not signed by the CA in ${caPath.replaceAll(".", "\\.")} \\(unable to verify the first certificate`));
  });
  it("no trust configured: refused, naming issuer, subject and SHA-256, with a --tls-fingerprint ready to paste that works", async () => {
    const env = { PROXMOX_URL: info.url, PROXMOX_VE_API_TOKEN: `${info.tokenId}=${info.tokenSecret}` };
    const refused = await cli(["plan", "-i", join(ROOT, "inventories", "lab.yml")], { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`is not trusted (unable to verify the first certificate: its issuer is not a trusted CA): subject OU=PVE Cluster Node, O=Proxmox Virtual Environment, CN=pve01.sim.invalid; issuer CN=Proxmox Virtual Environment`);
    expect(refused.stderr).toContain(`SHA-256 ${info.fingerprint ?? "?"}`);
    const pasted = /--tls-fingerprint ([0-9A-F:]{95})/.exec(refused.stderr)?.[1];
    expect(pasted).toBe(info.fingerprint);
    // As openssl prints it, pasted into the flag.
    const pinned = await cli(["plan", "-i", join(ROOT, "inventories", "lab.yml"), "--tls-fingerprint", `sha256 Fingerprint=${pasted ?? ""}`], { env });
    expect(pinned.code, pinned.stderr).toBe(0);
    expect(pinned.stdout).toContain("Plan: 5 to create");
  });
});

describe("TLS with a self-signed certificate (proxmox-sim --self-signed)", () => {
  it("pin with a self-signed certificate: trusted; without the pin: refused as self-signed", async () => {
    const { child, started } = startSim(["--self-signed", "--host", HOST, "--port", String(PORT + 10)]);
    try {
      const selfSigned = await started;
      expect(selfSigned.caFile).toBeUndefined();
      const pinned = new ProxmoxClient({ url: selfSigned.url, tokenId: selfSigned.tokenId, tokenSecret: selfSigned.tokenSecret, fingerprint: selfSigned.fingerprint, timeoutMs: 5000 });
      expect((await proxmoxApi(pinned).nodes.$get()).map((n) => n.node)).toEqual(["pve01"]);
      pinned.close();
      const err = await failure(new ProxmoxClient({ url: selfSigned.url, tokenId: selfSigned.tokenId, tokenSecret: selfSigned.tokenSecret, timeoutMs: 5000 }));
      expect(err.message).toMatch(/is not trusted \(self-signed certificate\): subject CN=edgelab-proxmox-sim; issuer CN=edgelab-proxmox-sim/);
    } finally {
      await stopped(child);
    }
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
    const c = client({ url: "https://127.0.237.20:1", fingerprint: undefined, backoffMs: 10 });
    const err = (await c.doRequest("GET", "/nodes", "/nodes").catch((e: unknown) => e)) as ProviderError;
    expect(err.reason).toBe("ECONNREFUSED");
    expect(err.hint).toMatch(/PROXMOX_URL/);
    c.close();
  });
});

describe("edgelab proxmox-sim --http --state", () => {
  it("preloads nodes, storages and VMs from a YAML file and serves plain HTTP", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "edgelab-sim-state-"));
    writeFileSync(join(stateDir, "state.yml"), "nodes:\n  - {name: pve07, storages: [{id: nvme, shared: true, totalGiB: 100, bandwidthMiBps: 800}]}\nvms:\n  - {vmid: 8000, node: pve07, template: true, config: {name: tpl, scsi0: 'nvme:base-8000-disk-0,size=2G', cores: 2}}\n  - {vmid: 8001, node: pve07, status: running, config: {name: db, tags: other}}\n");
    const { child, started } = startSim(["--http", "--host", "127.0.237.21", "--port", "18794", "--state", join(stateDir, "state.yml")]);
    try {
      const sim = await started;
      expect(sim.url).toBe("http://127.0.237.21:18794");
      expect(sim.fingerprint).toBeUndefined();
      expect(sim.vms).toEqual([8000, 8001]);
      const c = new ProxmoxClient({ url: sim.url, tokenId: sim.tokenId, tokenSecret: sim.tokenSecret });
      const resources = (await c.doRequest("GET", "/cluster/resources", "", { type: "vm" })) as { vmid: number; node: string; status: string; template: number }[];
      expect(resources.map((r) => [r.vmid, r.node, r.status, r.template])).toEqual([[8000, "pve07", "stopped", 1], [8001, "pve07", "running", 0]]);
      c.close();
    } finally {
      await stopped(child);
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
  it("refuses a state file that does not fit the format, saying where", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "edgelab-sim-state-"));
    try {
      writeFileSync(join(stateDir, "state.yml"), "nodes:\n  - {name: pve07, storages: [{id: nvme, totalGiB: lots}]}\n");
      const r = await cli(["proxmox-sim", "--state", join(stateDir, "state.yml")]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--state .*state\.yml: nodes\.0\.storages\.0\.totalGiB: Invalid input: expected number, received string/);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});

/**
 * The interactive `edgelab init`, driven through a real pseudo-terminal (util-linux `script`)
 * against the simulator over HTTPS with a self-signed certificate: the certificate pin question,
 * wrong answers asked again with the validator's reason, the same file as `--answers` for the
 * same answers, and Ctrl-C leaving no file.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { DEFAULT_DURATIONS, NO_FAULTS, ProxmoxSimulator } from "../../src/providers/proxmox/simulator.js";
import { selfSignedCertificate, type ServerCertificate } from "../../src/providers/proxmox/tls.js";
import type { AnswersInput } from "../../src/wizard/answers.js";
import { cli } from "../helpers/cli.js";
import { WIZARD_STATE, WIZARD_TOKEN } from "../helpers/wizard-sim.js";

const ROOT = join(import.meta.dirname, "..", "..");
const HOST = "127.0.239.12";
const PORT = 18742;
const URL = `https://${HOST}:${PORT}`;
let server: Server;
let cert: ServerCertificate;
let dir: string;
/** The user's key pairs (made by ssh-keygen) in the terminal's HOME (the test's directory): ~/.ssh/id_ed25519 and ~/.ssh/id_rsa. */
let edPub: string;
let rsaPub: string;
beforeAll(async () => {
  cert = selfSignedCertificate("pve01.wizard.test", [HOST]);
  const sim = new ProxmoxSimulator(WIZARD_STATE, { seed: 1, durations: DEFAULT_DURATIONS, faults: NO_FAULTS, resourcesLagMs: 0, tokens: [WIZARD_TOKEN], users: [] });
  server = await sim.listen(PORT, HOST, { key: cert.key, cert: cert.cert });
  dir = mkdtempSync(join(tmpdir(), "edgelab-init-tty-"));
  mkdirSync(join(dir, ".ssh"));
  mkdirSync(join(dir, "other"));
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "engineer@wizard-tty", "-f", join(dir, ".ssh", "id_ed25519")]);
  execFileSync("ssh-keygen", ["-q", "-t", "rsa", "-b", "2048", "-N", "", "-C", "old@wizard-tty", "-f", join(dir, ".ssh", "id_rsa")]);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "ops@wizard-tty", "-f", join(dir, "other", "ops")]);
  edPub = readFileSync(join(dir, ".ssh", "id_ed25519.pub"), "utf8").trim();
  rsaPub = readFileSync(join(dir, ".ssh", "id_rsa.pub"), "utf8").trim();
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await new Promise<void>((r) => server.close(() => r()));
});

type Step = readonly [RegExp, string];

/** Runs `edgelab init -o <out>` in a pseudo-terminal; each step waits for its text, then types its keys. */
function drive(out: string, steps: readonly Step[], env: Record<string, string> = {}): Promise<{ code: number | null; screen: string; done: number }> {
  const command = `'${process.execPath}' '${join(ROOT, "bin", "edgelab.cjs")}' --no-color init -o '${out}'`;
  const child = spawn("script", ["-qefc", command, "/dev/null"], { cwd: dir, env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: dir, TERM: "xterm", COLUMNS: "200", LINES: "50", ...env }, stdio: ["pipe", "pipe", "pipe"] });
  let screen = "";
  let from = 0;
  let done = 0;
  const pump = (): void => {
    const step = steps[done];
    if (step === undefined) return;
    const m = step[0].exec(screen.slice(from));
    if (m === null) return;
    from += m.index + m[0].length;
    done += 1;
    // A pause lets the prompt finish drawing before the keys arrive.
    setTimeout(() => {
      child.stdin.write(step[1]);
      pump();
    }, 60);
  };
  const onData = (chunk: Buffer): void => {
    screen += chunk.toString("utf8");
    pump();
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  return new Promise((resolve) => {
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, screen, done });
    });
  });
}

const ENTER = "\r";
const BACKSPACE = "\x7f";
const DOWN = "\x1b[B";

describe("edgelab init in a terminal", () => {
  it("asks, pins the certificate, re-asks wrong answers with the reason, and writes the same file as --answers", async () => {
    const out = join(dir, "tty.yml");
    const steps: Step[] = [
      [/Where will the lab run\?/, ENTER],
      [/Proxmox API URL/, `${URL}${ENTER}`],
      [/SHA-256: ([0-9A-F:]+)[\s\S]*Pin this certificate/, `y${ENTER}`],
      [/API token id/, `${WIZARD_TOKEN.id}${ENTER}`],
      [/API token secret/, `${WIZARD_TOKEN.secret}${ENTER}`],
      [/Node for the VMs/, ENTER],
      [/Template to clone/, ENTER],
      [/Storage for the VMs' disks/, `${DOWN}${ENTER}`],
      [/Bridge for the VMs' NIC/, ENTER],
      [/Lab name/, `seed-lab${ENTER}`],
      // ~/.ssh's keys are offered, id_ed25519 chosen: Enter keeps it.
      [/SSH public keys cloud-init installs for ansibleuser[\s\S]*read from a file/, ENTER],
      [/Number of K3s servers/, `2${ENTER}`],
      [/etcd needs a majority/, `${BACKSPACE}3${ENTER}`],
      [/Servers: VLAN id/, `221${ENTER}`],
      [/Servers: VLAN name/, `dc-east${ENTER}`],
      [/Servers: subnet/, `172.16.221.0/24${ENTER}`],
      [/Servers: gateway/, ENTER],
      [/Servers: BGP peer router address/, ENTER],
      [/Servers: BGP peer ASN/, `200${ENTER}`],
      [/Add a worker group\?/, ENTER],
      [/Worker group name/, `west-worker${ENTER}`],
      [/west-worker: VLAN id/, `222${ENTER}`],
      [/west-worker: VLAN name/, ENTER],
      [/west-worker: subnet/, `172.16.222.0/24${ENTER}`],
      [/west-worker: gateway/, ENTER],
      [/west-worker: BGP peer router address/, ENTER],
      [/west-worker: BGP peer ASN/, `30${ENTER}`],
      [/west-worker: number of workers/, `2${ENTER}`],
      [/Add another worker group\?/, ENTER],
      [/servers: addresses/, ENTER],
      [/servers: VM ids/, `3002, 3003, 3004${ENTER}`],
      [/vmid 3002 is already taken/, `${BACKSPACE.repeat(20)}3003, 3004, 3005${ENTER}`],
      [/servers: host names/, ENTER],
      [/workers\[0\]: addresses/, `${BACKSPACE.repeat(40)}172.16.99.5, 172.16.222.11${ENTER}`],
      [/172\.16\.99\.5[^\n]*(outside|not in|subnet)/, `${BACKSPACE.repeat(40)}172.16.222.10, 172.16.222.11${ENTER}`],
      [/workers\[0\]: VM ids/, ENTER],
      [/workers\[0\]: host names/, `${BACKSPACE.repeat(60)}west_01, west-02${ENTER}`],
      [/host name 'west_01' is not a valid DNS label/, `${BACKSPACE.repeat(60)}west-01, west-02${ENTER}`],
      [/Nameservers for the VMs/, `${BACKSPACE.repeat(30)}8.8.8${ENTER}`],
      [/must be an IPv4 address, got the string "8\.8\.8"/, `${BACKSPACE.repeat(30)}172.16.221.1, 9.9.9.9${ENTER}`],
      [/Search domain for the VMs/, `lab example${ENTER}`],
      [/must be a DNS name/, `${BACKSPACE.repeat(30)}lab.example.com${ENTER}`],
      [/vCPUs per VM/, ENTER],
      [/Memory per VM/, ENTER],
      [/Disk per VM/, ENTER],
      [/K3s version/, ENTER],
      [/Cilium version/, ENTER],
      [/Cluster ASN/, ENTER],
      [/LoadBalancer pool/, `172.16.222.0/23${ENTER}`],
      [/overlaps/, `${BACKSPACE.repeat(20)}172.16.228.0/24${ENTER}`],
      [/DNS name viewers use/, ENTER],
      [/Stream names/, ENTER],
      [/Plan \(what edgelab provision would do\)[\s\S]*Write [^\n]*\?/, ENTER],
    ];
    const run = await drive(out, steps);
    expect({ done: run.done, code: run.code }, run.screen.slice(-3000)).toEqual({ done: steps.length, code: 0 });
    // Both keys were offered with their size and fingerprint as ssh-keygen -lf shows them (the comment may wrap at 80 columns).
    for (const key of ["id_ed25519.pub", "id_rsa.pub"]) expect(run.screen).toContain(`${key}  ${execFileSync("ssh-keygen", ["-lf", join(dir, ".ssh", key)], { encoding: "utf8" }).split(" ").slice(0, 2).join(" ")}`);
    // The certificate was shown with the simulator's real fingerprint, subject and issuer.
    expect(run.screen).toContain(`SHA-256: ${cert.fingerprint}`);
    expect(run.screen).toMatch(/subject: CN=pve01\.wizard\.test/);
    // The plan shown before writing creates the five VMs.
    expect(run.screen).toMatch(/5 to create/);
    const written = readFileSync(out, "utf8");
    expect(written).not.toContain(WIZARD_TOKEN.secret);
    expect(written).toContain(`tls_fingerprint: ${cert.fingerprint}`);
    // What was typed for names, VLAN names and resolvers is in the file, and it validates.
    expect(written).toContain("{id: 221, name: dc-east, subnet: 172.16.221.0/24, gateway: 172.16.221.1}");
    expect(written).toMatch(/^ {12}west-01: \{ansible_host: 172\.16\.222\.10,/m);
    expect(written).toContain("nameservers: [172.16.221.1, 9.9.9.9]");
    expect(written).toContain("search_domain: lab.example.com");
    // The chosen key, and only it, is what cloud-init installs.
    expect((parse(written) as { all: { vars: { proxmox: { ssh_keys: unknown } } } }).all.vars.proxmox.ssh_keys).toEqual([edPub]);
    expect(written).not.toContain(rsaPub.split(" ")[1]);
    expect((await cli(["validate", "-i", out], { cwd: dir, env: {} })).code).toBe(0);

    // The same answers as a file give the same inventory, byte for byte.
    const answers: AnswersInput = {
      name: "seed-lab",
      ssh_key_files: [join(dir, ".ssh", "id_ed25519.pub")],
      proxmox: { url: URL, node: "pve01", template: 9000, storage: "local-lvm", bridge: "vmbr0", token_id: WIZARD_TOKEN.id, tls_fingerprint: cert.fingerprint },
      servers: { count: 3, vlan: { id: 221, name: "dc-east", subnet: "172.16.221.0/24", gateway: "172.16.221.1" }, peer: { address: "172.16.221.1", asn: 200 }, addresses: ["172.16.221.10", "172.16.221.11", "172.16.221.12"], vmids: [3003, 3004, 3005] },
      workers: [{ label: "west-worker", count: 2, vlan: { id: 222, subnet: "172.16.222.0/24", gateway: "172.16.222.1" }, peer: { address: "172.16.222.1", asn: 30 }, addresses: ["172.16.222.10", "172.16.222.11"], vmids: [3006, 3007], names: ["west-01", "west-02"] }],
      nameservers: ["172.16.221.1", "9.9.9.9"], search_domain: "lab.example.com",
      vcpus: 4, memory: 4096, disk: 32, local_asn: 64513, k3s_version: "v1.34.3+k3s1", cilium_version: "1.19.1",
      lb_pool: ["172.16.228.0/24"], dns_name: "live.example.com", streams: ["live"],
    };
    const file = join(dir, "answers.yml");
    writeFileSync(file, stringify(answers));
    const fromFile = join(dir, "from-answers.yml");
    const r = await cli(["init", "--answers", file, "-o", fromFile], { cwd: dir, env: { PROXMOX_TOKEN_SECRET: WIZARD_TOKEN.secret } });
    // With the key, the --answers run has nothing to warn about.
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(readFileSync(fromFile, "utf8")).toBe(written);
  }, 120_000);

  it("re-asks the SSH keys: none chosen, a line that is not a key, a pasted private key, a private key's path, a missing file", async () => {
    const out = join(dir, "keys.yml");
    const privateHead = readFileSync(join(dir, ".ssh", "id_ed25519"), "utf8").split("\n")[0] ?? "";
    const opsPub = readFileSync(join(dir, "other", "ops.pub"), "utf8").trim();
    const steps: Step[] = [
      [/Where will the lab run\?/, ENTER],
      [/Proxmox API URL/, `${URL}${ENTER}`],
      [/Pin this certificate/, `y${ENTER}`],
      [/API token id/, `${WIZARD_TOKEN.id}${ENTER}`],
      [/Node for the VMs/, ENTER],
      [/Template to clone/, ENTER],
      [/Storage for the VMs' disks/, ENTER],
      [/Bridge for the VMs' NIC/, ENTER],
      [/Lab name/, ENTER],
      // Space takes the chosen id_ed25519 out: nothing chosen.
      [/SSH public keys cloud-init installs[\s\S]*read from a file/, ` ${ENTER}`],
      [/choose at least one key/, `${DOWN}${DOWN} ${DOWN} ${ENTER}`],
      [/Public key \(the one line of its \.pub file\)/, `my laptop${ENTER}`],
      [/not an OpenSSH public key: unknown key type 'my'/, `${BACKSPACE.repeat(20)}${privateHead}${ENTER}`],
      [/that is a private key; give its \.pub/, `${BACKSPACE.repeat(60)}${opsPub}${ENTER}`],
      [/Public key file/, `~/.ssh/id_ed25519${ENTER}`],
      [/\.ssh\/id_ed25519: that is a private key/, `${BACKSPACE.repeat(30)}~/nothing.pub${ENTER}`],
      [/cannot read \S*nothing\.pub: no such file/, `${BACKSPACE.repeat(30)}other/ops.pub${ENTER}`],
      [/Number of K3s servers/, "\x03"],
    ];
    const run = await drive(out, steps, { PROXMOX_TOKEN_SECRET: WIZARD_TOKEN.secret });
    expect({ done: run.done, code: run.code }, run.screen.slice(-3000)).toEqual({ done: steps.length, code: 130 });
    expect(existsSync(out)).toBe(false);
  }, 120_000);

  it("provider local: asks the lab's name, streams, media servers and edges, re-asks wrong answers, writes a local inventory that validates, the same as --answers", async () => {
    const out = join(dir, "local.yml");
    const steps: Step[] = [
      [/Where will the lab run\?/, `${DOWN}${ENTER}`],
      [/Lab name/, `studio${ENTER}`],
      [/Stream names/, `cam-a, cam-a${ENTER}`],
      [/stream 'cam-a' is listed twice/, `${BACKSPACE.repeat(30)}cam-a, cam-b${ENTER}`],
      [/Number of media servers/, `0${ENTER}`],
      [/must be at least 1/, `${BACKSPACE}1${ENTER}`],
      [/Number of edge caches/, `4${ENTER}`],
      [/the local lab has 1 to 3/, `${BACKSPACE}3${ENTER}`],
      [/provider: local[\s\S]*Write [^\n]*\?/, ENTER],
    ];
    const run = await drive(out, steps);
    expect({ done: run.done, code: run.code }, run.screen.slice(-3000)).toEqual({ done: steps.length, code: 0 });
    expect(run.screen).toContain("Next: edgelab up -i");
    const written = readFileSync(out, "utf8");
    expect(written.split("\n")[0]).toBe("# yaml-language-server: $schema=./inventory.schema.json");
    expect(written).toContain("provider: local");
    expect(written).toMatch(/streams:\n {6}- name: cam-a\n {8}key: \{generate: true\}\n {6}- name: cam-b\n/);
    const validate = await cli(["--json", "validate", "-i", out], { cwd: dir, env: {} });
    expect(validate.code, validate.stdout + validate.stderr).toBe(0);

    const file = join(dir, "local-answers.yml");
    writeFileSync(file, stringify({ provider: "local", name: "studio", streams: ["cam-a", "cam-b"], media_servers: 1, edges: 3 }));
    const fromFile = join(dir, "local-from-answers.yml");
    // No cluster and no secret: nothing is read from the environment.
    const r = await cli(["--json", "init", "--answers", file, "-o", fromFile], { cwd: dir, env: {} });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ written: true, issues: [] });
    expect(readFileSync(fromFile, "utf8")).toBe(written);
  }, 120_000);

  it("refusing to pin the certificate stops without writing", async () => {
    const out = join(dir, "unpinned.yml");
    const run = await drive(out, [[/Where will the lab run\?/, ENTER], [/Proxmox API URL/, `${URL}${ENTER}`], [/Pin this certificate/, ENTER]]);
    expect(run.code).toBe(2);
    expect(run.screen).toMatch(/the API certificate is not trusted; nothing was written/);
    expect(existsSync(out)).toBe(false);
  }, 60_000);

  it("Ctrl-C during a prompt leaves no file", async () => {
    const out = join(dir, "interrupted.yml");
    const run = await drive(out, [[/Where will the lab run\?/, ENTER], [/Proxmox API URL/, `${URL}${ENTER}`], [/Pin this certificate/, `y${ENTER}`], [/API token id/, `${WIZARD_TOKEN.id}${ENTER}`], [/Node for the VMs/, "\x03"]], { PROXMOX_TOKEN_SECRET: WIZARD_TOKEN.secret });
    expect(run.done).toBe(5);
    expect(run.code).toBe(130);
    expect(run.screen).toMatch(/interrupted; nothing was written/);
    expect(existsSync(out)).toBe(false);
  }, 60_000);
});

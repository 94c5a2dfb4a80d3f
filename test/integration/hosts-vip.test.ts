/**
 * The API VIP (role api_vip, run by playbooks/prepare.yml) over real SSH against three systemd
 * test hosts in one subnet: real keepalived speaking VRRP (unicast) between them, the VIP moving
 * on the subnet's bridge in the router namespace.
 *
 * K3s cannot run here. The health check the role installs is run unchanged: it calls
 * https://127.0.0.1:6443/readyz with K3s' admin client certificate, so each host runs
 * test/fixtures/apiserver-readyz-standin, a STAND-IN serving only /readyz over TLS with a client
 * certificate required, from certificates made here at K3s' paths. Failing it (a file on the host
 * makes /readyz answer 500) is how a failing API is simulated.
 *
 * The holder is observed with `ip -o -4 address show` on every server; "the endpoint answers" is
 * an SSH connection to the VIP from this machine (through the router) that reaches one of the
 * servers, proven by its host key and the name it reports.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AnsibleError, AnsibleRunner, type AnsibleResult } from "../../src/ansible/runner.js";
import { LocalExecutor } from "../../src/exec/local.js";
import { SshExecutor } from "../../src/exec/ssh.js";
import { sleep } from "../../src/util/sleep.js";
import { cli } from "../helpers/cli.js";
import { revealsSecret } from "../helpers/secrets.js";
import { ROOT, startTestLab, type TestLab } from "../helpers/testhosts.js";

const SERVERS = ["lab-k3s01", "lab-k3s02", "lab-k3s03"] as const;
const PRIORITIES = { "lab-k3s01": 150, "lab-k3s02": 140, "lab-k3s03": 130 };
const PASSWORD = `vrrp-${Math.random().toString(36).slice(2, 12)}`;
const PASSWORD_ENV = "EDGELAB_VRRP_PASSWORD";
const STANDIN = join(ROOT, "test", "fixtures", "apiserver-readyz-standin");
const NOT_READY = "/etc/apiserver-readyz-standin/not-ready";
/** The bound for a move; measured values are printed. */
const MOVE_BOUND_MS = 5_000;

let lab: TestLab;
let runner: AnsibleRunner;
let vip: string;
const ssh = new Map<string, SshExecutor>();

const local = new LocalExecutor();

/** A CA, a serving certificate for 127.0.0.1 and an admin client certificate, as K3s has them. */
async function makePki(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"];
  await local.run(["openssl", "req", "-x509", ...key, "-keyout", join(dir, "server-ca.key"), "-out", join(dir, "server-ca.crt"), "-subj", "/CN=k3s-server-ca-standin"]);
  const sign = ["-CA", join(dir, "server-ca.crt"), "-CAkey", join(dir, "server-ca.key")];
  await local.run(["openssl", "req", "-x509", ...key, ...sign, "-keyout", join(dir, "serving.key"), "-out", join(dir, "serving.crt"), "-subj", "/CN=kube-apiserver", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]);
  await local.run(["openssl", "req", "-x509", ...key, ...sign, "-keyout", join(dir, "client-admin.key"), "-out", join(dir, "client-admin.crt"), "-subj", "/O=system:masters/CN=system:admin", "-addext", "extendedKeyUsage=clientAuth"]);
}

function put(host: string, path: string, content: string | Buffer, mode: number): void {
  const file = lab.host(host).file(path);
  mkdirSync(join(file, ".."), { recursive: true });
  writeFileSync(file, content);
  chmodSync(file, mode);
}

function writeVars(options: { password: boolean }): void {
  const dir = join(lab.stateDir, "artifacts", "ansible");
  mkdirSync(dir, { recursive: true });
  // ansible/vars.yml as `edgelab render` writes it for a keepalived VIP (test/golden/cluster-vip).
  writeFileSync(
    join(dir, "vars.yml"),
    stringify({
      edgelab_k3s_servers: [...SERVERS],
      edgelab_k3s_api_port: 6443,
      edgelab_api_vip: { address: vip, prefix: 24, holder: "keepalived", router_id: 51, interface: null, password_source: options.password ? { env: PASSWORD_ENV } : null, priorities: PRIORITIES },
    }),
  );
}

const run = (): Promise<AnsibleResult> => runner.run({ playbook: "prepare", inventory: lab.inventoryFile, secrets: { [PASSWORD_ENV]: PASSWORD } });

async function on(host: string, argv: readonly string[]): Promise<string> {
  const exec = ssh.get(host);
  if (exec === undefined) throw new Error(`no connection to ${host}`);
  return (await exec.run(argv, { timeoutMs: 10_000 })).stdout;
}

/** The servers whose interfaces hold the VIP right now. */
async function holders(): Promise<string[]> {
  const held = await Promise.all(SERVERS.map(async (h): Promise<string | undefined> => ((await on(h, ["ip", "-o", "-4", "address", "show"])).includes(` ${vip}/24 `) ? h : undefined)));
  return held.filter((h): h is string => h !== undefined);
}

/** Polls until exactly one server other than `not` holds the VIP; returns it and how long that took. */
async function waitForMove(not: string | undefined, since: number, timeoutMs = 20_000): Promise<{ holder: string; ms: number }> {
  let last: string[] = [];
  while (Date.now() - since < timeoutMs) {
    last = await holders();
    const [only] = last;
    if (last.length === 1 && only !== undefined && only !== not) return { holder: only, ms: Date.now() - since };
    await sleep(100);
  }
  const journals = await Promise.all(SERVERS.map(async (h) => `${h}:\n${await on(h, ["journalctl", "--no-pager", "--unit=keepalived", "--lines=15"])}`));
  throw new Error(`no single new holder of ${vip} within ${timeoutMs} ms (last seen: ${last.join(", ") || "none"})\n${journals.join("\n")}`);
}

/** Samples the holder for `ms`; returns the holders in order with repeats collapsed, and any sample with two. */
async function watch(ms: number): Promise<{ sequence: string[]; split: string[][] }> {
  const sequence: string[] = [];
  const split: string[][] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const now = await holders();
    if (now.length > 1) split.push(now);
    const [only] = now;
    if (now.length === 1 && only !== undefined && sequence.at(-1) !== only) sequence.push(only);
    await sleep(150);
  }
  return { sequence, split };
}

/** Which server answers an SSH connection to the VIP (its host key must be one of the servers'). */
async function throughVip(): Promise<string> {
  const exec = await SshExecutor.connect({ name: `vip ${vip}`, address: vip, port: 22, username: "root", privateKeyPath: lab.keyFile }, SERVERS.map((h) => lab.host(h).hostKey), { readyTimeoutMs: 5_000 });
  try {
    return (await exec.run(["hostname"])).stdout.trim();
  } finally {
    exec.close();
  }
}

/**
 * An edgelab inventory (the shipped seed lab, provider proxmox) moved onto the test network: the
 * servers' VLAN is the servers' test subnet, the servers are the test hosts, the VIP is ours.
 * `edgelab status` only dials the servers.
 */
function writeEdgelabInventory(): string {
  const [second, third] = (lab.subnets[0]?.gateway ?? "").split(".").slice(1, 3).map(Number) as [number, number];
  const base = `198.${second}.${third - 1}`;
  const text = readFileSync(join(ROOT, "inventories", "lab.yml"), "utf8")
    .replace(/172\.16\.221\.(38|39|40)\b/g, (_m, n: string) => lab.host(SERVERS[Number(n) - 38] ?? "").address)
    .replace(/172\.16\.22([123])\./g, (_m, n: string) => `198.${second}.${third - 1 + Number(n)}.`)
    .replace(/172\.16\.228\.0\/24/g, `${base}.128/25`)
    .replace("ansible_user: ansibleuser", "ansible_user: root")
    .replace(/(\n\s+k3s:\n\s+version: \S+\n)/, `$1      api_vip: ${vip}\n`);
  if (/172\.16\./.test(text)) throw new Error("the test inventory still names a 172.16 address");
  const file = join(lab.dir, "edgelab.yml");
  writeFileSync(file, text);
  return file;
}

interface StatusJson {
  provider: string;
  apiEndpoint: string;
  healthy: boolean;
  apiVip: { address: string; report: { verdict: string; holders: string[]; servers: { host: string; state: string }[] } };
}

async function edgelabStatus(): Promise<{ code: number; json: StatusJson; text: string }> {
  const inventory = writeEdgelabInventory();
  const env = { HOME: lab.dir, EDGELAB_SSH_KEY: lab.keyFile, K3S_TOKEN: "unused-by-status", PROXMOX_TOKEN_SECRET: "unused-by-status" };
  const json = await cli(["-i", inventory, "--json", "status"], { cwd: lab.dir, env });
  const text = await cli(["-i", inventory, "status", "--ssh-key", lab.keyFile], { cwd: lab.dir, env: { HOME: lab.dir } });
  expect(json.stderr).toBe("");
  expect(text.code).toBe(json.code);
  return { code: json.code, json: JSON.parse(json.stdout) as StatusJson, text: text.stdout };
}

const mainPid = async (host: string): Promise<string> => (await on(host, ["systemctl", "show", "--property=MainPID", "--value", "keepalived"])).trim();

beforeAll(async () => {
  lab = await startTestLab(SERVERS.map((name) => ({ name, group: "master" as const, subnet: 0 as const })));
  vip = (lab.subnets[0]?.gateway ?? "").replace(/\.1$/, ".100");
  const pki = join(lab.dir, "pki");
  await makePki(pki);
  for (const h of SERVERS) {
    ssh.set(h, await lab.ssh(h));
    // K3s' files the health check reads, and the stand-in answering it.
    for (const [name, mode] of [["server-ca.crt", 0o644], ["client-admin.crt", 0o644], ["client-admin.key", 0o600]] as const) put(h, `/var/lib/rancher/k3s/server/tls/${name}`, readFileSync(join(pki, name)), mode);
    for (const [name, mode] of [["server-ca.crt", 0o644], ["serving.crt", 0o644], ["serving.key", 0o600]] as const) put(h, `/etc/apiserver-readyz-standin/${name}`, readFileSync(join(pki, name)), mode);
    put(h, "/usr/local/bin/apiserver-readyz-standin", readFileSync(STANDIN), 0o755);
    put(
      h,
      "/etc/systemd/system/apiserver-readyz-standin.service",
      "[Unit]\nDescription=STAND-IN for the Kubernetes API's /readyz (tests only)\n[Service]\nExecStart=/usr/bin/python3 /usr/local/bin/apiserver-readyz-standin /etc/apiserver-readyz-standin\n",
      0o644,
    );
    await on(h, ["systemctl", "daemon-reload"]);
    await on(h, ["systemctl", "start", "apiserver-readyz-standin"]);
  }
  runner = new AnsibleRunner({ stateDir: lab.stateDir, env: process.env });
}, 600_000);

afterAll(async () => {
  for (const exec of ssh.values()) exec.close();
  await runner?.close();
  await lab?.stop();
}, 120_000);

describe("api_vip (keepalived on three servers, with the /readyz stand-in)", () => {
  it("installs nothing for the VIP when the inventory sets none", async () => {
    const result = await run();
    expect(result.skipped.map((s) => s.task)).toContain("Configure keepalived for the API VIP");
    expect(result.changed.filter((c) => c.task.startsWith("api_vip : "))).toEqual([]);
    for (const h of SERVERS) {
      expect(readdirSync(lab.host(h).file("/etc/keepalived")), h).toEqual(["keepalived.conf.sample"]);
      expect(await on(h, ["systemctl", "is-active", "keepalived"]).catch(() => "inactive")).not.toMatch(/^active/);
    }
    expect(await holders()).toEqual([]);
  }, 300_000);

  it("refuses a VIP another machine answers on, naming its link-layer address, and configures nothing", async () => {
    writeVars({ password: true });
    // The router takes the VIP on the servers' bridge, as a forgotten machine with that address would.
    await lab.inRouter(["ip", "address", "add", `${vip}/24`, "dev", "br0"]);
    try {
      const links = JSON.parse((await lab.inRouter(["ip", "-json", "link", "show", "br0"])).stdout) as { address: string }[];
      const mac = links[0]?.address ?? "?";
      const error = await run().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(AnsibleError);
      const failures = error instanceof AnsibleError ? error.result.failures : [];
      expect(failures.length).toBeGreaterThan(0);
      for (const f of failures) {
        expect(f.task).toBe("api_vip : Refuse a VIP another machine answers on");
        expect(f.message).toMatch(new RegExp(`^api_vip ${vip.replace(/\./g, "\\.")} answers ARP from ${mac}, and none of the servers holds it: another machine uses this address\\.`));
      }
      for (const h of SERVERS) expect(readdirSync(lab.host(h).file("/etc/keepalived")), h).toEqual(["keepalived.conf.sample"]);
    } finally {
      await lab.inRouter(["ip", "address", "del", `${vip}/24`, "dev", "br0"]);
    }
  }, 300_000);

  it("puts the VIP on exactly one server, the first, and the endpoint answers there", async () => {
    // The health check the role installs passes against the stand-in on every server.
    await on("lab-k3s01", ["curl", "--silent", "--fail", "--cacert", "/var/lib/rancher/k3s/server/tls/server-ca.crt", "--cert", "/var/lib/rancher/k3s/server/tls/client-admin.crt", "--key", "/var/lib/rancher/k3s/server/tls/client-admin.key", "https://127.0.0.1:6443/readyz"]);
    writeVars({ password: true });
    const started = Date.now();
    await run();
    const ran = Date.now();
    let { holder } = await waitForMove(undefined, ran, 30_000);
    const seen = [holder];
    // keepalived starts on the servers one after another: a lower priority may hold the VIP until
    // the first server's keepalived, ready, takes it (preemption), at most once per other server.
    while (holder !== "lab-k3s01" && seen.length < SERVERS.length) {
      ({ holder } = await waitForMove(holder, ran, 30_000));
      seen.push(holder);
    }
    console.log(`first run: the playbook took ${ran - started} ms, then the VIP came up on ${seen.join(" -> ")} after ${Date.now() - ran} ms`);
    expect(holder).toBe("lab-k3s01");
    for (const h of SERVERS) {
      expect((await on(h, ["/etc/keepalived/edgelab-api-check"]).then(() => "passes")), h).toBe("passes");
      // Unicast peers: the other two servers' addresses.
      const config = readFileSync(lab.host(h).file("/etc/keepalived/keepalived.conf"), "utf8");
      const peers = SERVERS.filter((o) => o !== h).map((o) => lab.host(o).address);
      expect(config).toMatch(new RegExp(`unicast_peer \\{\\s*${peers.map((p) => p.replace(/\./g, "\\.")).join("\\s+")}\\s*\\}`));
      expect(config).toContain(`priority ${PRIORITIES[h]}`);
    }
    expect(await throughVip()).toBe("lab-k3s01");
    const { sequence, split } = await watch(3_000);
    expect(split).toEqual([]);
    expect(sequence).toEqual(["lab-k3s01"]);
  }, 300_000);

  it("edgelab status names the server holding the VIP, as the servers report it", async () => {
    const status = await edgelabStatus();
    expect(status.code).toBe(0);
    expect(status.json).toMatchObject({ provider: "proxmox", apiEndpoint: `https://${vip}:6443`, healthy: true, apiVip: { address: vip, report: { verdict: "held", holders: ["lab-k3s01"] } } });
    expect(status.json.apiVip.report.servers.map((x) => `${x.host} ${x.state}`)).toEqual(["lab-k3s01 holds", "lab-k3s02 free", "lab-k3s03 free"]);
    expect(status.text).toMatch(/^lab-k3s01\s+\S+\s+holds it \(eth0\)$/m);
    expect(status.text).toContain(`VIP ${vip}: held by one server: lab-k3s01`);
    expect(status.text).toContain("checked: `ip -o -4 address show` on each server over SSH (host keys verified)");
  }, 60_000);

  it("keeps the VRRP password out of the rendered files and the logs, also of a run that finds it in place; only keepalived's 0600 configuration holds it", async () => {
    // A second run reads the configuration in place (which holds the password) before writing it.
    await run();
    const vars = readFileSync(join(lab.stateDir, "artifacts", "ansible", "vars.yml"), "utf8");
    expect(vars).not.toContain(PASSWORD.slice(0, 8));
    const logs = join(lab.stateDir, "logs");
    const files = readdirSync(logs, { recursive: true, withFileTypes: true }).filter((d) => d.isFile());
    expect(files.length).toBeGreaterThan(0);
    // Nor base64-encoded (a task that reads the configuration would log it so). keepalived's PASS
    // authentication keeps 8 characters: those are what the configuration holds.
    for (const f of files) expect(revealsSecret(readFileSync(join(f.parentPath, f.name), "utf8"), PASSWORD.slice(0, 8)), f.name).toBe(false);
    for (const h of SERVERS) {
      const file = lab.host(h).file("/etc/keepalived/keepalived.conf");
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const config = readFileSync(file, "utf8");
      expect(config).toContain(`auth_pass ${PASSWORD.slice(0, 8)}\n`);
      // PASS authentication exists in VRRPv2 only, with whole-second advertisements.
      expect(config).toMatch(/^\s+version 2\n[\s\S]*^\s+advert_int 1\n/m);
    }
  }, 300_000);

  it("without a password speaks VRRPv3 with half-second advertisements, and the VIP settles on the first server again", async () => {
    writeVars({ password: false });
    const result = await run();
    expect(new Set(result.changed.filter((c) => c.task.startsWith("api_vip : ")).map((c) => `${c.host} ${c.task}`))).toEqual(
      new Set(SERVERS.flatMap((h) => [`${h} api_vip : Write the keepalived configuration`, `${h} api_vip : Reload keepalived`])),
    );
    for (const h of SERVERS) {
      const config = readFileSync(lab.host(h).file("/etc/keepalived/keepalived.conf"), "utf8");
      expect(config).not.toContain("auth_pass");
      expect(config).toMatch(/^\s+version 3\n[\s\S]*^\s+advert_int 0\.5\n/m);
    }
    // While the servers reload one by one they speak different VRRP versions for a moment.
    const { holder, ms } = await waitForMove(undefined, Date.now());
    console.log(`VRRPv2 -> v3: the VIP settled on ${holder} ${ms} ms after the playbook`);
    expect(holder).toBe("lab-k3s01");
    const { sequence, split } = await watch(3_000);
    expect(split).toEqual([]);
    expect(sequence).toEqual(["lab-k3s01"]);
    expect(await throughVip()).toBe("lab-k3s01");
  }, 300_000);

  it("moves the VIP within 5 s when keepalived stops on the holder, and moves it back at most once when it returns", async () => {
    const t0 = Date.now();
    await on("lab-k3s01", ["systemctl", "stop", "keepalived"]);
    try {
      const moved = await waitForMove("lab-k3s01", t0);
      console.log(`keepalived stopped on lab-k3s01: VIP on ${moved.holder} after ${moved.ms} ms`);
      expect(moved.holder).toBe("lab-k3s02");
      expect(moved.ms).toBeLessThan(MOVE_BOUND_MS);
      expect(await throughVip()).toBe("lab-k3s02");
      expect((await edgelabStatus()).json.apiVip.report.holders).toEqual(["lab-k3s02"]);
    } finally {
      await on("lab-k3s01", ["systemctl", "start", "keepalived"]);
    }
    const { sequence, split } = await watch(10_000);
    console.log(`keepalived back on lab-k3s01: holders seen ${sequence.join(" -> ")}`);
    expect(split).toEqual([]);
    expect(sequence.length).toBeLessThanOrEqual(2);
    expect(sequence[0]).toBe("lab-k3s02");
    expect(await holders()).toHaveLength(1);
    expect(await throughVip()).toBe(sequence.at(-1));
  }, 120_000);

  it("moves the VIP within 5 s when the holder's API stops being ready, and moves it back at most once when it recovers", async () => {
    const [holder] = await holders();
    if (holder === undefined) throw new Error("nobody holds the VIP");
    const t0 = Date.now();
    await on(holder, ["sh", "-c", `echo '[-]etcd failed: injected by the test' > ${NOT_READY}`]);
    try {
      const failed = await on(holder, ["sh", "-c", "/etc/keepalived/edgelab-api-check; echo $?"]);
      expect(failed.trim()).toBe("22"); // curl --fail: HTTP 500
      const moved = await waitForMove(holder, t0);
      console.log(`/readyz failing on ${holder}: VIP on ${moved.holder} after ${moved.ms} ms`);
      expect(moved.ms).toBeLessThan(MOVE_BOUND_MS);
      // The best healthy server: the first two in priority order that is not the failing one.
      expect(moved.holder).toBe(SERVERS.find((h) => h !== holder));
      expect(await throughVip()).toBe(moved.holder);
    } finally {
      await on(holder, ["rm", "-f", NOT_READY]);
    }
    const { sequence, split } = await watch(10_000);
    console.log(`/readyz back on ${holder}: holders seen ${sequence.join(" -> ")}`);
    expect(split).toEqual([]);
    expect(sequence.length).toBeLessThanOrEqual(2);
    expect(await holders()).toHaveLength(1);
  }, 120_000);

  it("changes nothing and restarts nothing when run again", async () => {
    const pids = await Promise.all(SERVERS.map(mainPid));
    const before = await holders();
    const result = await run();
    expect(result.changed).toEqual([]);
    expect(Object.values(result.stats).reduce((n, s) => n + s.changed, 0)).toBe(0);
    expect(await Promise.all(SERVERS.map(mainPid))).toEqual(pids);
    expect(await holders()).toEqual(before);
  }, 300_000);

  it("refuses to replace a keepalived configuration it did not write, and names the host and the file", async () => {
    const file = lab.host("lab-k3s03").file("/etc/keepalived/keepalived.conf");
    const ours = readFileSync(file);
    writeFileSync(file, "vrrp_instance someone_elses { }\n");
    try {
      const error = await run().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(AnsibleError);
      expect(error instanceof AnsibleError ? error.result.failures : []).toEqual([
        {
          host: "lab-k3s03",
          task: "api_vip : Refuse to replace a keepalived configuration edgelab did not write",
          message: expect.stringMatching(/^lab-k3s03: \/etc\/keepalived\/keepalived\.conf exists and was not written by edgelab\./) as unknown,
          unreachable: false,
        },
      ]);
      expect(readFileSync(file, "utf8")).toBe("vrrp_instance someone_elses { }\n");
    } finally {
      writeFileSync(file, ours);
    }
  }, 300_000);
  it("reset.yml stops keepalived and removes its configuration and check where edgelab wrote them, leaves another keepalived alone, and a second reset changes nothing", async () => {
    // lab-k3s03's configuration is someone else's now: reset must leave it, and its keepalived, alone.
    const foreign = "# keepalived of another project\nglobal_defs {\n}\n";
    const file03 = lab.host("lab-k3s03").file("/etc/keepalived/keepalived.conf");
    writeFileSync(file03, foreign);
    const pid03 = await mainPid("lab-k3s03");
    const reset = (): Promise<AnsibleResult> => runner.run({ playbook: "reset", inventory: lab.inventoryFile });
    const first = await reset();
    expect([...new Set(first.changed.map((c) => c.host))].sort()).toEqual(["lab-k3s01", "lab-k3s02"]);
    for (const h of ["lab-k3s01", "lab-k3s02"]) {
      expect(existsSync(lab.host(h).file("/etc/keepalived/keepalived.conf")), h).toBe(false);
      expect(existsSync(lab.host(h).file("/etc/keepalived/edgelab-api-check")), h).toBe(false);
      expect((await on(h, ["systemctl", "show", "--property=ActiveState,UnitFileState", "keepalived"])).trim().split("\n").sort(), h).toEqual(["ActiveState=inactive", "UnitFileState=disabled"]);
    }
    // Only the untouched keepalived may hold the VIP now.
    expect((await holders()).filter((h) => h !== "lab-k3s03")).toEqual([]);
    expect(readFileSync(file03, "utf8")).toBe(foreign);
    expect(existsSync(lab.host("lab-k3s03").file("/etc/keepalived/edgelab-api-check"))).toBe(true);
    expect(await mainPid("lab-k3s03")).toBe(pid03);
    expect(pid03).not.toBe("0");

    const second = await reset();
    expect(second.changed).toEqual([]);
  }, 300_000);
});

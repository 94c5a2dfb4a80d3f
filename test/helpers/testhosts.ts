/**
 * Test hosts: real Debian 12 systems with systemd and sshd, one `systemd-nspawn --boot` container
 * per host over an overlay of one cached root filesystem, each in its own network namespace, in
 * three subnets of 198.18.0.0/15 routed through a router namespace:
 *
 *   this machine ── el<id> ═ uplink ── [router ns] ── br0 198.18.B+1.0/24 ── servers
 *                   (route B.0.0/22)                ├─ br1 198.18.B+2.0/24 ── agents
 *                                                   └─ br2 198.18.B+3.0/24 ── agents
 *
 * Host keys are generated here and written to the lab's known_hosts; root logs in with a test
 * key. stop() removes every container, mount, loop device, namespace, veth and temp dir it made
 * (and nothing else); a lab whose test process died is removed by the next startTestLab().
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { parse, stringify } from "yaml";
import { z } from "zod";
import { acquireLock } from "../../src/exec/lock.js";
import { LocalExecutor } from "../../src/exec/local.js";
import { parseHostKey, updateKnownHosts, type HostKey } from "../../src/exec/known-hosts.js";
import { SshExecutor } from "../../src/exec/ssh.js";
import type { ExecResult } from "../../src/exec/types.js";
import { ensureRootfs, type RootfsSpec } from "../../src/images/rootfs.js";
import { sleep } from "../../src/util/sleep.js";

/** The project's root: the nearest directory up from here holding package.json (also when compiled to dist-check/). */
export const ROOT = ((): string => {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, "package.json"))) {
    const parent = join(dir, "..");
    if (parent === dir) throw new Error("no package.json above the test helpers");
    dir = parent;
  }
  return dir;
})();
const STATE_DIR = "/run/edgelab-testhosts";
const local = new LocalExecutor();

/** What the test hosts' systems hold: what the roles install (prereq, storage, api_vip), plus sshd, Python for Ansible, the stand-in's YAML. */
export function testRootfsSpec(): RootfsSpec {
  const prereq = z.object({ prereq_packages: z.array(z.string()) }).parse(parse(readFileSync(join(ROOT, "roles/prereq/defaults/main.yml"), "utf8")));
  const storage = z.object({ storage_fs_packages: z.record(z.string(), z.string()) }).parse(parse(readFileSync(join(ROOT, "roles/storage/defaults/main.yml"), "utf8")));
  const apiVip = z.object({ api_vip_packages: z.array(z.string()) }).parse(parse(readFileSync(join(ROOT, "roles/api_vip/defaults/main.yml"), "utf8")));
  return {
    suite: "bookworm",
    variant: "apt",
    packages: [
      ...["systemd", "systemd-sysv", "dbus", "openssh-server", "sudo", "python3", "python3-apt", "python3-yaml", "procps", "iputils-ping"],
      ...prereq.prereq_packages,
      ...apiVip.api_vip_packages,
      ...Object.values(storage.storage_fs_packages),
    ],
    // Each host gets its own host keys (below); none are baked into the image.
    customize: ['rm -f "$1"/etc/ssh/ssh_host_*'],
  };
}

/** The test hosts' root filesystem, built once per machine (cached under .cache/rootfs). */
export async function testRootfs(): Promise<string> {
  const result = await ensureRootfs(testRootfsSpec(), { cacheDir: join(ROOT, ".cache", "rootfs"), log: (line) => console.log(line) });
  console.log(`test hosts' rootfs ${result.hash}: ${result.built ? `built in ${result.buildSeconds} s` : `cached (its build took ${result.buildSeconds} s)`}`);
  return result.path;
}

export interface TestHostSpec {
  readonly name: string;
  readonly group: "master" | "node";
  /** 0: the servers' subnet; 1 and 2: the agents' subnets. */
  readonly subnet: 0 | 1 | 2;
  /** Sizes (MiB) of file-backed loop devices to give the host. */
  readonly loopDevicesMiB?: readonly number[];
}

export interface TestHost {
  readonly name: string;
  readonly group: "master" | "node";
  readonly address: string;
  readonly gateway: string;
  readonly hostKey: HostKey;
  /** The host's root directory as seen from this machine. */
  readonly root: string;
  readonly loopDevices: readonly string[];
  /** From starting the container to an SSH handshake with the expected host key. */
  readonly bootToSshMs: number;
  file(path: string): string;
}

export interface TestLab {
  readonly id: string;
  readonly dir: string;
  readonly hosts: readonly TestHost[];
  readonly subnets: readonly { readonly cidr: string; readonly gateway: string }[];
  readonly keyFile: string;
  /** The lab's .edgelab directory (known_hosts, logs, artifacts), as edgelab keeps it beside an inventory. */
  readonly stateDir: string;
  readonly knownHostsFile: string;
  readonly inventoryFile: string;
  host(name: string): TestHost;
  /** Rewrites the inventory with these variables per host (and for all hosts). */
  writeInventory(hostVars?: Readonly<Record<string, Readonly<Record<string, unknown>>>>, allVars?: Readonly<Record<string, unknown>>): void;
  inRouter(argv: readonly string[]): Promise<ExecResult>;
  /** A TCP listener on port 179 at these router addresses (standing in for BGP peers). */
  listenInRouter(addresses: readonly string[], port?: number): Promise<void>;
  /** An HTTP server (python3 -m http.server) for `directory` at address:port in the router. */
  serveInRouter(directory: string, address: string, port: number): Promise<void>;
  ssh(name: string): Promise<SshExecutor>;
  stop(): Promise<void>;
}

const State = z.object({
  pid: z.number(),
  dir: z.string(),
  namespaces: z.array(z.string()),
  mounts: z.array(z.string()),
  loops: z.array(z.string()),
  containers: z.array(z.number()),
  helpers: z.array(z.number()),
  block: z.number(),
});
type State = z.infer<typeof State>;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function saveState(id: string, state: State): void {
  mkdirSync(STATE_DIR, { recursive: true });
  writeFileSync(join(STATE_DIR, `${id}.json`), JSON.stringify(state));
}

/** The container's PID 1 (nspawn's child), to kill when an orderly shutdown does not finish. */
function containerInit(nspawnPid: number): number | undefined {
  try {
    for (const task of readdirSync(`/proc/${nspawnPid}/task`)) {
      const children = readFileSync(`/proc/${nspawnPid}/task/${task}/children`, "utf8").trim();
      if (children !== "") return Number(children.split(/\s+/)[0]);
    }
  } catch {
    return undefined;
  }
  return undefined;
}

async function stopContainer(pid: number): Promise<void> {
  if (!alive(pid)) return;
  const init = containerInit(pid);
  process.kill(pid, "SIGTERM");
  for (let i = 0; i < 100 && alive(pid); i++) await sleep(100);
  if (alive(pid)) {
    if (init !== undefined && alive(init)) process.kill(init, "SIGKILL");
    for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
    if (alive(pid)) process.kill(pid, "SIGKILL");
  }
}

/** Removes everything a lab made, in dependency order; each step tolerates what is already gone. */
async function teardown(state: State): Promise<string[]> {
  const problems: string[] = [];
  for (const pid of state.helpers) if (alive(pid)) process.kill(pid, "SIGKILL");
  await Promise.all(state.containers.map((pid) => stopContainer(pid)));
  for (const mount of [...state.mounts].reverse()) {
    const r = await local.run(["umount", mount], { allowFailure: true });
    if (r.exitCode !== 0 && !/not mounted|no mount point/i.test(r.stderr)) {
      const lazy = await local.run(["umount", "--lazy", mount], { allowFailure: true });
      if (lazy.exitCode !== 0) problems.push(`umount ${mount}: ${lazy.stderr.trim()}`);
    }
  }
  for (const loop of state.loops) {
    const r = await local.run(["losetup", "--detach", loop], { allowFailure: true });
    if (r.exitCode !== 0 && !/No such device/i.test(r.stderr)) problems.push(`losetup -d ${loop}: ${r.stderr.trim()}`);
  }
  for (const ns of [...state.namespaces].reverse()) {
    if (!existsSync(`/run/netns/${ns}`)) continue;
    const r = await local.run(["ip", "netns", "delete", ns], { allowFailure: true });
    if (r.exitCode !== 0) problems.push(`ip netns delete ${ns}: ${r.stderr.trim()}`);
  }
  rmSync(state.dir, { recursive: true, force: true });
  return problems;
}

/** Removes the labs whose test process is gone (a crash, a killed run). */
async function reapOrphans(): Promise<void> {
  if (!existsSync(STATE_DIR)) return;
  for (const name of readdirSync(STATE_DIR)) {
    if (!name.endsWith(".json")) continue;
    const file = join(STATE_DIR, name);
    const state = State.parse(JSON.parse(readFileSync(file, "utf8")));
    if (alive(state.pid)) continue;
    console.log(`removing test lab ${name.slice(0, -5)} left by process ${state.pid}`);
    await teardown(state);
    rmSync(file, { force: true });
  }
}

/** A free /22 of 198.18.0.0/15 (index 16..127): not used by another live lab nor routed here. */
async function allocateBlock(): Promise<number> {
  const used = new Set<number>();
  if (existsSync(STATE_DIR)) {
    for (const name of readdirSync(STATE_DIR)) if (name.endsWith(".json")) used.add(State.parse(JSON.parse(readFileSync(join(STATE_DIR, name), "utf8"))).block);
  }
  const routes = (await local.run(["ip", "-4", "route", "show"])).stdout;
  for (const m of routes.matchAll(/^198\.(18|19)\.(\d+)\./gm)) used.add((Number(m[1]) - 18) * 64 + Math.floor(Number(m[2]) / 4));
  const free = Array.from({ length: 112 }, (_, i) => i + 16).filter((b) => !used.has(b));
  const pick = free[Math.floor(Math.random() * free.length)];
  if (pick === undefined) throw new Error("no free /22 in 198.18.0.0/15 for a test lab");
  return pick;
}

function blockBase(block: number): [number, number] {
  return [18 + Math.floor(block / 64), (block % 64) * 4];
}

/** The seed lab's shape: three servers in one subnet, an agent in each of two others. */
export const SEED_HOSTS: readonly TestHostSpec[] = [
  { name: "lab-k3s01", group: "master", subnet: 0 },
  { name: "lab-k3s02", group: "master", subnet: 0 },
  { name: "lab-k3s03", group: "master", subnet: 0 },
  { name: "west-lab-k3s01", group: "node", subnet: 1 },
  { name: "east-lab-k3s01", group: "node", subnet: 2 },
];

/** Boots the hosts (printing how long each took to answer SSH) and writes their inventory. */
export async function startTestLab(specs: readonly TestHostSpec[]): Promise<TestLab> {
  const rootfs = await testRootfs();
  await reapOrphans();
  const id = randomBytes(3).toString("hex");
  const dir = mkdtempSync(join(tmpdir(), `edgelab-lab-${id}-`));
  let state: State;
  try {
    const lock = await acquireLock(join(STATE_DIR, "allocate.lock"), { timeoutMs: 60_000 });
    try {
      state = { pid: process.pid, dir, namespaces: [], mounts: [], loops: [], containers: [], helpers: [], block: await allocateBlock() };
      saveState(id, state);
    } finally {
      await lock.release();
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const save = (): void => saveState(id, state);
  const [second, third] = blockBase(state.block);
  const net = (offset: number, host: number): string => `198.${second}.${third + offset}.${host}`;
  const subnets = [1, 2, 3].map((o) => ({ cidr: `${net(o, 0)}/24`, gateway: net(o, 1) }));
  const router = `elt-${id}-r`;
  const uplink = `el${id}`;
  const children: ChildProcess[] = [];
  const hosts: TestHost[] = [];
  const sh = async (argv: readonly string[]): Promise<void> => {
    await local.run(argv, { timeoutMs: 30_000 });
  };

  const stop = async (): Promise<void> => {
    const problems = await teardown(state);
    rmSync(join(STATE_DIR, `${id}.json`), { force: true });
    if (problems.length > 0) throw new Error(`test lab ${id} teardown: ${problems.join("; ")}`);
  };

  try {
    // The router and the uplink from this machine.
    state.namespaces.push(router);
    save();
    await sh(["ip", "netns", "add", router]);
    await sh(["ip", "-n", router, "link", "set", "lo", "up"]);
    await sh(["ip", "netns", "exec", router, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
    await sh(["ip", "link", "add", uplink, "type", "veth", "peer", "name", "uplink", "netns", router]);
    await sh(["ip", "addr", "add", `${net(0, 1)}/24`, "dev", uplink]);
    await sh(["ip", "link", "set", uplink, "up"]);
    await sh(["ip", "-n", router, "addr", "add", `${net(0, 2)}/24`, "dev", "uplink"]);
    await sh(["ip", "-n", router, "link", "set", "uplink", "up"]);
    await sh(["ip", "route", "add", `${net(0, 0)}/22`, "via", net(0, 2), "dev", uplink]);
    for (const [i, s] of subnets.entries()) {
      await sh(["ip", "-n", router, "link", "add", `br${i}`, "type", "bridge"]);
      await sh(["ip", "-n", router, "addr", "add", `${s.gateway}/24`, "dev", `br${i}`]);
      await sh(["ip", "-n", router, "link", "set", `br${i}`, "up"]);
    }

    // The client key and the hosts' keys.
    const keyFile = join(dir, "id_ed25519");
    await sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", `edgelab-test-${id}`, "-f", keyFile]);
    const clientKey = readFileSync(`${keyFile}.pub`, "utf8");

    const perSubnet = [0, 0, 0];
    const prepared = await Promise.all(
      specs.map(async (spec, n) => {
        const index = (perSubnet[spec.subnet] = (perSubnet[spec.subnet] ?? 0) + 1);
        const address = net(spec.subnet + 1, 9 + index);
        const gateway = subnets[spec.subnet]?.gateway ?? "";
        const hostDir = join(dir, spec.name);
        const [upper, work, merged] = ["upper", "work", "root"].map((d) => join(hostDir, d)) as [string, string, string];
        for (const d of [upper, work, merged]) mkdirSync(d, { recursive: true });
        const keyBase = join(hostDir, "ssh_host_ed25519_key");
        await sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", `root@${spec.name}`, "-f", keyBase]);
        const hostKey = parseHostKey(readFileSync(`${keyBase}.pub`, "utf8"));

        state.mounts.push(merged);
        save();
        await sh(["mount", "-t", "overlay", "overlay", "-o", `lowerdir=${rootfs},upperdir=${upper},workdir=${work}`, merged]);
        const put = (path: string, content: string, mode = 0o644): void => {
          mkdirSync(join(merged, path, ".."), { recursive: true });
          writeFileSync(join(merged, path), content, { mode });
        };
        put("/etc/hostname", `${spec.name}\n`);
        put("/etc/hosts", `127.0.0.1 localhost\n${address} ${spec.name}\n`);
        put("/etc/ssh/ssh_host_ed25519_key", readFileSync(keyBase, "utf8"), 0o600);
        put("/etc/ssh/ssh_host_ed25519_key.pub", readFileSync(`${keyBase}.pub`, "utf8"));
        put("/etc/ssh/sshd_config.d/edgelab-test.conf", "HostKey /etc/ssh/ssh_host_ed25519_key\nPermitRootLogin prohibit-password\nUseDNS no\n");
        mkdirSync(join(merged, "root/.ssh"), { recursive: true, mode: 0o700 });
        put("/root/.ssh/authorized_keys", clientKey, 0o600);
        // nfs-common's rpc_pipefs mount needs a kernel module the test machine lacks.
        await sh(["ln", "-sf", "/dev/null", join(merged, "etc/systemd/system/run-rpc_pipefs.mount")]);

        const loops: string[] = [];
        for (const [k, mib] of (spec.loopDevicesMiB ?? []).entries()) {
          const image = join(hostDir, `disk${k}.img`);
          await sh(["truncate", "--size", `${mib}M`, image]);
          const loop = (await local.run(["losetup", "--find", "--show", image])).stdout.trim();
          state.loops.push(loop);
          save();
          loops.push(loop);
        }

        const ns = `elt-${id}-${n}`;
        state.namespaces.push(ns);
        save();
        await sh(["ip", "netns", "add", ns]);
        await sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
        await sh(["ip", "-n", router, "link", "add", `h${n}`, "type", "veth", "peer", "name", "eth0", "netns", ns]);
        await sh(["ip", "-n", router, "link", "set", `h${n}`, "master", `br${spec.subnet}`, "up"]);
        await sh(["ip", "-n", ns, "addr", "add", `${address}/24`, "dev", "eth0"]);
        await sh(["ip", "-n", ns, "link", "set", "eth0", "up"]);
        await sh(["ip", "-n", ns, "route", "add", "default", "via", gateway]);
        return { spec, address, gateway, hostKey, merged, loops, ns, hostDir };
      }),
    );

    updateKnownHosts(join(dir, ".edgelab", "known_hosts"), prepared.map((p) => ({ host: p.address, port: 22, keys: [p.hostKey] })));

    await Promise.all(
      prepared.map(async (p) => {
        const log = openSync(join(p.hostDir, "nspawn.log"), "w");
        const started = Date.now();
        const child = spawn(
          "systemd-nspawn",
          [
            "--boot", "--register=no", "--keep-unit", "--quiet",
            `--directory=${p.merged}`, `--machine=elt-${id}-${p.spec.name}`.slice(0, 64), `--hostname=${p.spec.name}`,
            `--network-namespace-path=/run/netns/${p.ns}`, "--private-network",
            "--console=passive", "--link-journal=no", "--resolv-conf=off", "--timezone=off",
            ...p.loops.map((l) => `--bind=${l}`),
          ],
          { stdio: ["ignore", log, log] },
        );
        closeSync(log);
        children.push(child);
        if (child.pid !== undefined) state.containers.push(child.pid);
        save();
        const ssh = await waitForSsh(p.spec.name, p.address, keyFile, p.hostKey, child, 60_000, join(p.hostDir, "nspawn.log"));
        const bootToSshMs = Date.now() - started;
        try {
          const running = await ssh.run(["systemctl", "is-system-running", "--wait"], { allowFailure: true, timeoutMs: 60_000 });
          if (!/^(running|degraded)/.test(running.stdout.trim())) throw new Error(`${p.spec.name}: systemd is ${running.stdout.trim()}`);
        } finally {
          ssh.close();
        }
        hosts.push({
          name: p.spec.name,
          group: p.spec.group,
          address: p.address,
          gateway: p.gateway,
          hostKey: p.hostKey,
          root: p.merged,
          loopDevices: p.loops,
          bootToSshMs,
          file: (path: string) => join(p.merged, path),
        });
      }),
    );
    hosts.sort((a, b) => specs.findIndex((s) => s.name === a.name) - specs.findIndex((s) => s.name === b.name));

    /** Starts a program in the router namespace; resolves once it prints its first line. */
    const inRouterBackground = async (argv: readonly string[], what: string): Promise<void> => {
      const child = spawn("ip", ["netns", "exec", router, ...argv], { stdio: ["ignore", "pipe", "inherit"] });
      if (child.pid !== undefined) state.helpers.push(child.pid);
      save();
      await new Promise<void>((resolve, reject) => {
        child.stdout.once("data", () => resolve());
        child.once("exit", (code) => reject(new Error(`${what} exited with ${code}`)));
      });
    };

    const inventoryFile = join(dir, "inventory.yml");
    const writeInventory = (hostVars: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {}, allVars: Readonly<Record<string, unknown>> = {}): void => {
      const group = (g: "master" | "node"): Record<string, unknown> =>
        Object.fromEntries(hosts.filter((h) => h.group === g).map((h) => [h.name, { ansible_host: h.address, ...hostVars[h.name] }]));
      writeFileSync(
        inventoryFile,
        stringify({
          all: {
            vars: { ansible_user: "root", ansible_ssh_private_key_file: keyFile, ...allVars },
            children: { k3s_cluster: { children: { master: { hosts: group("master") }, node: { hosts: group("node") } } } },
          },
        }),
      );
    };
    writeInventory();
    console.log(`boot to SSH (ms): ${hosts.map((h) => `${h.name} ${h.bootToSshMs}`).join(", ")}`);

    return {
      id,
      dir,
      hosts,
      subnets,
      keyFile,
      knownHostsFile: join(dir, ".edgelab", "known_hosts"),
      stateDir: join(dir, ".edgelab"),
      inventoryFile,
      host: (name) => {
        const h = hosts.find((x) => x.name === name);
        if (h === undefined) throw new Error(`no test host ${name}`);
        return h;
      },
      writeInventory,
      inRouter: (argv) => local.run(["ip", "netns", "exec", router, ...argv], { timeoutMs: 30_000 }),
      listenInRouter: async (addresses, port = 179) => {
        for (const address of addresses) await inRouterBackground(["python3", "-c", LISTENER, address, String(port)], `listener on ${address}:${port}`);
      },
      serveInRouter: (directory, address, port) => inRouterBackground(["python3", "-u", "-c", HTTP_SERVER, directory, address, String(port)], `HTTP server on ${address}:${port}`),
      ssh: async (name) => {
        const h = hosts.find((x) => x.name === name);
        if (h === undefined) throw new Error(`no test host ${name}`);
        return SshExecutor.connect({ name, address: h.address, port: 22, username: "root", privateKeyPath: keyFile }, [h.hostKey]);
      },
      stop,
    };
  } catch (error) {
    await stop().catch((e: unknown) => console.error(String(e)));
    throw error;
  }
}

/** Accepts TCP connections and closes them (a BGP peer's port, as far as reachability goes). */
const LISTENER = `
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(64)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    c.close()
`;

/** Serves a directory over HTTP (quietly), as a release server would. */
const HTTP_SERVER = `
import functools, http.server, sys
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer((sys.argv[2], int(sys.argv[3])), functools.partial(Quiet, directory=sys.argv[1]))
print("serving", flush=True)
server.serve_forever()
`;

async function waitForSsh(name: string, address: string, keyFile: string, hostKey: HostKey, child: ChildProcess, timeoutMs: number, log: string): Promise<SshExecutor> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name}: systemd-nspawn exited with ${child.exitCode}: ${readFileSync(log, "utf8").slice(-2000)}`);
    try {
      return await SshExecutor.connect({ name, address, port: 22, username: "root", privateKeyPath: keyFile }, [hostKey], { readyTimeoutMs: 3000 });
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
      await sleep(100);
    }
  }
  throw new Error(`${name}: no SSH within ${timeoutMs} ms (${last}); container log: ${readFileSync(log, "utf8").slice(-2000)}`);
}

/**
 * Building and removing the network lab with iproute2, FRR and gobgpd, through one NetExecutor.
 * Everything it makes is named el-<id>-*: namespaces (links live only inside them) and the
 * processes inside those namespaces. Teardown removes exactly that.
 */
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { EdgelabError } from "../errors.js";
import type { Lab } from "../model/lab.js";
import type { TemplateEnvironment } from "../render/environment.js";
import type { NetExecutor } from "./exec.js";
import type { NetlabPlan, RouterPlan, SpeakerPlan } from "./plan.js";
import { labSpeakerGroups, mappedRouterConf, routerAdditions, speakerConfig } from "./routers.js";

export const FRR_DIR = "/usr/lib/frr";
/** Unix socket paths longer than this do not fit in sockaddr_un. */
const MAX_SOCKET_PATH = 100;

export interface NetlabDirs {
  /** <inventory dir>/.edgelab/netlab */
  readonly root: string;
}

export function netlabDirs(inventoryDir: string): NetlabDirs {
  return { root: join(inventoryDir, ".edgelab", "netlab") };
}

export function routerDir(dirs: NetlabDirs, router: RouterPlan): string {
  return join(dirs.root, router.short);
}

export function speakerDir(dirs: NetlabDirs, speaker: SpeakerPlan): string {
  return join(dirs.root, speaker.ns.slice(speaker.ns.lastIndexOf("-") + 1));
}

export function vtyshArgv(dirs: NetlabDirs, router: RouterPlan, command: string): string[] {
  return ["vtysh", "--vty_socket", routerDir(dirs, router), "-c", command];
}

export function gobgpArgv(speaker: SpeakerPlan, args: readonly string[]): string[] {
  return ["ip", "netns", "exec", speaker.ns, "gobgp", "-u", "127.0.0.1", "-p", String(speaker.apiPort), ...args];
}

/* ------------------------------------------------------------------ state */

const StateSchema = z.object({
  prefix: z.string(),
  lab: z.string(),
  startedAt: z.string(),
  namespaces: z.array(z.string()),
  pids: z.array(
    z.object({
      name: z.string(),
      ns: z.string(),
      pid: z.number(),
      /** How to start it again (the data plane's processes: the failover test restores a site). */
      argv: z.array(z.string()).optional(),
      log: z.string().optional(),
    }),
  ),
  /** The data plane runs in the namespaces too (edgelab up --network netns). */
  sites: z.boolean().optional(),
});
export type NetlabState = z.infer<typeof StateSchema>;

export function stateFile(dirs: NetlabDirs): string {
  return join(dirs.root, "state.json");
}

export function readState(dirs: NetlabDirs): NetlabState | undefined {
  let text: string;
  try {
    text = readFileSync(stateFile(dirs), "utf8");
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new EdgelabError(`cannot read ${stateFile(dirs)}: ${(cause as Error).message}`, { cause });
  }
  const parsed = StateSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new EdgelabError(`${stateFile(dirs)} is not a network lab state file: ${parsed.error.message}`, { hint: "Remove it after checking `ip netns list` for el-* namespaces of this lab." });
  return parsed.data;
}

export function writeState(dirs: NetlabDirs, state: NetlabState): void {
  writeFileSync(stateFile(dirs), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o644 });
}

/* ------------------------------------------------------------------ preconditions */

export function requireRoot(uid: number | undefined = process.getuid?.()): void {
  if (uid !== 0) {
    throw new EdgelabError("the network lab needs root: it creates network namespaces, veth links and routes", {
      hint: "Run it as root (sudo edgelab netlab up -i <inventory>); CI runs as root.",
    });
  }
}

/* ------------------------------------------------------------------ namespaces and links */

/** Namespaces of this lab that exist now (by exact prefix el-<id>-). */
export async function listLabNamespaces(exec: NetExecutor, prefix: string): Promise<string[]> {
  const { stdout } = await exec.run("listing namespaces", ["ip", "netns", "list"]);
  return stdout
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => n.startsWith(`${prefix}-`));
}

export async function createTopology(exec: NetExecutor, plan: NetlabPlan, progress: (line: string) => void): Promise<void> {
  for (const ns of plan.namespaces) {
    await exec.run(`creating namespace ${ns.name} (${ns.stands})`, ["ip", "netns", "add", ns.name]);
    await exec.run(`bringing up lo in ${ns.name}`, ["ip", "-n", ns.name, "link", "set", "lo", "up"]);
    await exec.run(`sysctls in ${ns.name}`, ["ip", "netns", "exec", ns.name, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1", "net.ipv4.fib_multipath_hash_policy=1"]);
  }
  progress(`${plan.namespaces.length} namespaces`);
  for (const br of plan.bridges) {
    await exec.run(`bridge ${br.name} in ${br.ns}`, ["ip", "-n", br.ns, "link", "add", "name", br.name, "type", "bridge"]);
    await exec.run(`address of bridge ${br.name} in ${br.ns}`, ["ip", "-n", br.ns, "addr", "add", br.address, "dev", br.name]);
    await exec.run(`bridge ${br.name} up in ${br.ns}`, ["ip", "-n", br.ns, "link", "set", br.name, "up"]);
  }
  for (const link of plan.links) {
    const what = `${link.kind} link ${link.a.ns}/${link.a.ifname} – ${link.b.ns}/${link.b.ifname}`;
    await exec.run(what, ["ip", "link", "add", "name", link.a.ifname, "netns", link.a.ns, "type", "veth", "peer", "name", link.b.ifname, "netns", link.b.ns]);
    for (const end of [link.a, link.b]) {
      if (end.bridge !== undefined) await exec.run(what, ["ip", "-n", end.ns, "link", "set", end.ifname, "master", end.bridge]);
      if (end.address !== undefined) await exec.run(what, ["ip", "-n", end.ns, "addr", "add", end.address, "dev", end.ifname]);
      await exec.run(what, ["ip", "-n", end.ns, "link", "set", end.ifname, "up"]);
    }
  }
  for (const ns of plan.namespaces) {
    for (const address of ns.loopback) await exec.run(`address ${address} on lo in ${ns.name}`, ["ip", "-n", ns.name, "addr", "add", `${address}/32`, "dev", "lo"]);
    for (const route of ns.routes) await exec.run(`route ${route.to} in ${ns.name}`, ["ip", "-n", ns.name, "route", "add", route.to, "via", route.via]);
  }
  progress(`${plan.links.length} links, ${plan.bridges.length} site bridges`);
}

/** Stops every process inside the lab's namespaces, then deletes the namespaces (their links go with them). */
export async function destroyTopology(exec: NetExecutor, prefix: string): Promise<string[]> {
  const namespaces = await listLabNamespaces(exec, prefix);
  for (const signal of ["TERM", "KILL"] as const) {
    let alive = 0;
    for (const ns of namespaces) {
      const { stdout } = await exec.run(`listing processes in ${ns}`, ["ip", "netns", "pids", ns]);
      const pids = stdout.split("\n").filter((p) => /^\d+$/.test(p));
      alive += pids.length;
      if (pids.length > 0) await exec.run(`stopping processes in ${ns}`, ["kill", `-${signal}`, ...pids]).catch(() => undefined);
    }
    if (alive === 0) break;
    await sleep(signal === "TERM" ? 500 : 100);
  }
  for (const ns of namespaces) await exec.run(`deleting namespace ${ns}`, ["ip", "netns", "del", ns]);
  return namespaces;
}

/* ------------------------------------------------------------------ routers (FRR) */

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new EdgelabError(`network lab: ${what} did not happen within ${(timeoutMs / 1000).toFixed(0)} s${last instanceof Error ? `: ${last.message}` : ""}`, { cause: last });
    await sleep(200);
  }
}

export async function startRouter(exec: NetExecutor, lab: Lab, plan: NetlabPlan, dirs: NetlabDirs, router: RouterPlan, env: TemplateEnvironment): Promise<void> {
  const dir = routerDir(dirs, router);
  mkdirSync(dir, { recursive: true });
  // The daemons drop to the frr user: it writes its sockets, pid files and logs here.
  chmodSync(dir, 0o777);
  if (join(dir, "zserv.api").length > MAX_SOCKET_PATH) {
    throw new EdgelabError(`network lab: the router directory ${dir} is too deep for a unix socket path`, { hint: "Keep the inventory in a directory with a shorter path." });
  }
  await exec.run(`checking that FRR's user can reach ${dir}`, ["runuser", "-u", "frr", "--", "test", "-w", dir]).catch((cause: unknown) => {
    throw new EdgelabError(`network lab: FRR's daemons run as user frr and cannot write to ${dir}`, {
      hint: "Make the inventory's parent directories traversable (chmod o+x), or keep the inventory in such a directory.",
      cause,
    });
  });
  const { mapped } = mappedRouterConf(lab, plan, router.name, env);
  writeFileSync(join(dir, "bgpd.conf"), mapped, { mode: 0o644 });
  writeFileSync(join(dir, "zebra.conf"), `hostname ${router.name}\n`, { mode: 0o644 });
  writeFileSync(join(dir, "additions.conf"), routerAdditions(router), { mode: 0o644 });
  const common = ["--vty_socket", dir, "-z", join(dir, "zserv.api"), "--log", `file:${join(dir, "DAEMON.log")}`];
  for (const daemon of ["zebra", "bgpd"] as const) {
    const argv = ["ip", "netns", "exec", router.ns, join(FRR_DIR, daemon), "-d", "-f", join(dir, `${daemon}.conf`), "-i", join(dir, `${daemon}.pid`), ...common.map((a) => a.replace("DAEMON", daemon))];
    // No TCP vty: only the socket in the lab's directory.
    argv.push("-P", "0");
    await exec.run(`starting ${daemon} of ${router.name} in ${router.ns}`, argv);
  }
  await waitFor(`bgpd of ${router.name} answering`, 10_000, async () => (await exec.run("vtysh", vtyshArgv(dirs, router, "show bgp summary json"))).stdout.trim().startsWith("{") ? true : undefined);
  if (router.neighbors.length > 0) await exec.run(`adding the lab's router sessions to ${router.name}`, ["vtysh", "--vty_socket", dir, "-f", join(dir, "additions.conf")]);
}

/* ------------------------------------------------------------------ speakers (gobgpd) */

export async function startSpeaker(exec: NetExecutor, lab: Lab, plan: NetlabPlan, dirs: NetlabDirs, speaker: SpeakerPlan): Promise<number> {
  const group = labSpeakerGroups(lab).find((g) => g.label === speaker.label);
  if (group === undefined) throw new EdgelabError(`network lab: no Cilium BGP object selects group ${speaker.label}`, { hint: "Give the group peers in cilium.bgp.peers." });
  const dir = speakerDir(dirs, speaker);
  mkdirSync(dir, { recursive: true });
  const config = join(dir, "gobgpd.toml");
  writeFileSync(config, speakerConfig(plan, speaker, group), { mode: 0o644 });
  const pid = exec.start(["ip", "netns", "exec", speaker.ns, "gobgpd", "-f", config, "--api-hosts", `127.0.0.1:${speaker.apiPort}`, "--pprof-disable", "-p"], join(dir, "gobgpd.log"));
  await waitFor(`gobgpd of ${speaker.host} answering`, 10_000, async () => ((await exec.run("gobgp", gobgpArgv(speaker, ["global"]))).stdout.includes("AS") ? true : undefined));
  await announce(exec, plan, speaker);
  return pid;
}

/** The service /32 from this speaker (LB-IPAM's address; the next hop is the worker's own address). */
export async function announce(exec: NetExecutor, plan: NetlabPlan, speaker: SpeakerPlan): Promise<void> {
  await exec.run(`announcing ${plan.serviceIp}/32 from ${speaker.host}`, gobgpArgv(speaker, ["global", "rib", "add", "-a", "ipv4", `${plan.serviceIp}/32`]));
}

export async function withdraw(exec: NetExecutor, plan: NetlabPlan, speaker: SpeakerPlan): Promise<void> {
  await exec.run(`withdrawing ${plan.serviceIp}/32 from ${speaker.host}`, gobgpArgv(speaker, ["global", "rib", "del", "-a", "ipv4", `${plan.serviceIp}/32`]));
}

/* ------------------------------------------------------------------ up / down */

export interface UpResult {
  readonly seconds: number;
  readonly state: NetlabState;
}

export async function bringUp(exec: NetExecutor, lab: Lab, plan: NetlabPlan, dirs: NetlabDirs, env: TemplateEnvironment, progress: (line: string) => void): Promise<UpResult> {
  requireRoot();
  const started = Date.now();
  const leftovers = await destroyTopology(exec, plan.prefix);
  if (leftovers.length > 0) progress(`removed ${leftovers.length} namespaces of an earlier run`);
  rmSync(dirs.root, { recursive: true, force: true });
  mkdirSync(dirs.root, { recursive: true });
  const state: NetlabState = { prefix: plan.prefix, lab: plan.lab, startedAt: new Date().toISOString(), namespaces: plan.namespaces.map((n) => n.name), pids: [] };
  writeState(dirs, state);
  try {
    await createTopology(exec, plan, progress);
    for (const router of plan.routers) {
      await startRouter(exec, lab, plan, dirs, router, env);
      progress(`${router.name}: zebra + bgpd in ${router.ns}`);
    }
    // All at once: gobgpd 3.x opens its first session 5–10 s after it starts (its connect-retry
    // interval is at least 5 s), so the speakers' waits overlap instead of adding up.
    await Promise.all(
      plan.speakers.map(async (speaker) => {
        const pid = await startSpeaker(exec, lab, plan, dirs, speaker);
        state.pids.push({ name: `gobgpd ${speaker.host}`, ns: speaker.ns, pid });
        writeState(dirs, state);
        progress(`${speaker.host}: gobgpd in ${speaker.ns} announces ${plan.serviceIp}/32`);
      }),
    );
  } catch (error) {
    // Nothing half-made stays behind.
    await destroyTopology(exec, plan.prefix).catch(() => undefined);
    rmSync(stateFile(dirs), { force: true });
    throw error;
  }
  return { seconds: (Date.now() - started) / 1000, state };
}

export async function bringDown(exec: NetExecutor, prefix: string, dirs: NetlabDirs): Promise<string[]> {
  requireRoot();
  const removed = await destroyTopology(exec, prefix);
  rmSync(stateFile(dirs), { force: true });
  return removed;
}

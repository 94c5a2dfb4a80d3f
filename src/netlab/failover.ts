/**
 * The failover measurement (the failover test and bench/netlab.js run it): a segment-following
 * client in one region's client namespace plays a stream through the service address; that
 * region's site dies — first its BGP speakers (SIGKILL), then everything else in its worker
 * namespaces (the edges' nginx) — and playback has to go on from the other region over iBGP.
 * Then the site comes back (edges, then speakers) and the region's clients return to it.
 *
 * And the ECMP split: connections from a client namespace to the service address, counted per
 * edge from the edges' access logs.
 */
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { EdgelabError } from "../errors.js";
import type { Lab } from "../model/lab.js";
import { PACKAGE_ROOT } from "../paths.js";
import { hlsPath } from "../providers/local/plan.js";
import { statusSocket } from "../render/nginx.js";
import { sleep } from "../util/sleep.js";
import { netnsDataPlane, regionEdges } from "./dataplane.js";
import type { NetExecutor } from "./exec.js";
import { followReport, parseFollowLog, type FollowEvent, type FollowReport } from "./follow.js";
import type { NetlabPlan } from "./plan.js";
import { readState, startSpeaker, writeState, type NetlabDirs } from "./runner.js";
import { nsGet, servedByAll, serviceUrl, sitesLayout } from "./sites.js";

export const FOLLOWER_SCRIPT = join(PACKAGE_ROOT, "dist", "netlab", "follower.js");

export interface FailoverOptions {
  /** The region router whose site dies (its clients follow the stream). */
  readonly region: string;
  /**
   * How the site dies: `kill` — its speakers (SIGKILL), then the rest of its processes, the
   * kernel closing their connections (the router hears the session end at once); `unplug` —
   * everything the site sends is dropped (a zero-length queue on its link), its processes
   * running on: the router notices when the hold timer expires, clients' connections time out.
   */
  readonly how?: "kill" | "unplug" | undefined;
  readonly stream: string;
  /** Seconds of normal playback before the site dies. */
  readonly beforeSeconds: number;
  /** Seconds between killing the speakers and killing the rest of the site. */
  readonly edgeDelaySeconds: number;
  /** Seconds of playback from the other region before the site comes back. */
  readonly outageSeconds: number;
  /** Seconds of playback after the site's route is back. */
  readonly afterSeconds: number;
}

export interface Phase {
  /** Responses per edge in this phase (from the edges' access logs). */
  readonly servedBy: Readonly<Record<string, number>>;
  readonly report: FollowReport;
}

export interface FailoverResult {
  /** The whole run, as the player saw it. */
  readonly report: FollowReport;
  readonly before: Phase;
  /** From the speakers' death to the site's return. */
  readonly outage: Phase;
  /** From the site's route being back. */
  readonly after: Phase;
  /** Seconds from killing the speakers until the region router's route left the site. */
  readonly withdrawnSeconds: number;
  /** Seconds from restarting the site until the region router routes to it again. */
  readonly returnSeconds: number;
  readonly segmentDuration: number;
  readonly record: string;
}

function routeOf(exec: NetExecutor, routerNs: string, serviceIp: string): Promise<string> {
  return exec.run(`reading the route to ${serviceIp} in ${routerNs}`, ["ip", "-n", routerNs, "route", "show", `${serviceIp}/32`]).then((r) => r.stdout);
}

async function until(what: string, timeoutMs: number, ok: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  while (!(await ok())) {
    if (Date.now() - t0 > timeoutMs) throw new EdgelabError(`failover: ${what} did not happen within ${timeoutMs / 1000} s`);
    await sleep(100);
  }
  return (Date.now() - t0) / 1000;
}

function phase(events: readonly FollowEvent[], served: ReadonlyMap<string, string>, from: number, to: number): Phase {
  const inPhase = events.filter((e) => e.t >= from && e.t < to);
  const counts: Record<string, number> = {};
  for (const e of inPhase) {
    if (e.status === 0) continue;
    const edge = served.get(e.token) ?? "unknown";
    counts[edge] = (counts[edge] ?? 0) + 1;
  }
  return { servedBy: counts, report: followReport(inPhase) };
}

/** Stops every process in a namespace (SIGKILL): the site's machine is gone. */
async function killNamespace(exec: NetExecutor, ns: string): Promise<void> {
  const { stdout } = await exec.run(`listing processes in ${ns}`, ["ip", "netns", "pids", ns]);
  const pids = stdout.split("\n").filter((p) => /^\d+$/.test(p));
  if (pids.length > 0) await exec.run(`killing the processes in ${ns}`, ["kill", "-KILL", ...pids]);
}

export async function runFailover(exec: NetExecutor, lab: Lab, inventoryPath: string, plan: NetlabPlan, dirs: NetlabDirs, options: FailoverOptions, progress: (line: string) => void): Promise<FailoverResult> {
  const state = readState(dirs);
  if (state?.sites !== true) throw new EdgelabError("failover: the lab does not run in the network lab", { hint: "Start it with edgelab up --network netns." });
  const router = plan.routers.find((r) => r.name === options.region);
  const client = plan.clients.find((c) => c.router === options.region);
  if (router === undefined || client === undefined) throw new EdgelabError(`failover: ${options.region} is not a region router of this lab`);
  const siteHosts = regionEdges(plan, options.region);
  const site = plan.speakers.filter((s) => siteHosts.includes(s.host));
  const siteAddresses = site.map((s) => s.address);
  const layout = sitesLayout(inventoryPath, dirs);
  const plane = netnsDataPlane(lab, plan);
  const viaSite = (route: string): boolean => siteAddresses.some((a) => route.includes(`via ${a} `));

  const dir = join(dirs.root, "failover");
  mkdirSync(dir, { recursive: true });
  const record = join(dir, `follow-${Date.now()}.ndjson`);
  const prefix = `el-follow-${Date.now().toString(36)}`;
  const url = serviceUrl(plan, hlsPath(lab, options.stream));
  const started = Date.now();
  const follower = exec.start(["ip", "netns", "exec", client.ns, process.execPath, FOLLOWER_SCRIPT, url, record, prefix], join(dir, "follower.log"));
  const since = (): number => Date.now() - started;
  try {
    progress(`following ${url} from ${client.ns} (record ${record})`);
    await sleep(options.beforeSeconds * 1000);

    const killAt = since();
    const how = options.how ?? "kill";
    if (how === "unplug") {
      for (const s of site) await exec.run(`unplugging ${s.ns}`, ["ip", "netns", "exec", s.ns, "tc", "qdisc", "replace", "dev", "eth0", "root", "pfifo", "limit", "0"]);
      progress(`unplugged ${site.map((s) => s.ns).join(", ")} (everything they send is dropped)`);
    } else {
      for (const s of site) {
        const speaker = state.pids.find((p) => p.name === `gobgpd ${s.host}`);
        if (speaker !== undefined) process.kill(speaker.pid, "SIGKILL");
      }
      progress(`killed the speakers of ${siteHosts.join(", ")}`);
    }
    const withdrawn = until(`the route of ${options.region} leaving the site`, 60_000, async () => !viaSite(await routeOf(exec, router.ns, plan.serviceIp)));
    // Awaited below, after the edges are killed; this only keeps a failure meanwhile from counting as unhandled.
    withdrawn.catch(() => undefined);
    if (how === "kill") {
      await sleep(options.edgeDelaySeconds * 1000);
      for (const s of site) await killNamespace(exec, s.ns);
      progress(`killed everything else in ${site.map((s) => s.ns).join(", ")}`);
    }
    const withdrawnSeconds = await withdrawn;
    progress(`${options.region} routes ${plan.serviceIp} away from the site ${withdrawnSeconds.toFixed(1)} s after it died`);
    await sleep(options.outageSeconds * 1000);

    // The site comes back: its edges, then its speakers (as a node's pods come back before Cilium announces).
    const restoreAt = since();
    if (how === "unplug") {
      for (const s of site) await exec.run(`plugging ${s.ns} back in`, ["ip", "netns", "exec", s.ns, "tc", "qdisc", "del", "dev", "eth0", "root"]);
    }
    for (const s of how === "kill" ? site : []) {
      const edge = state.pids.find((p) => p.name === `edge-${s.host}`);
      if (edge?.argv === undefined || edge.log === undefined) throw new EdgelabError(`failover: no way to restart edge-${s.host}`, { hint: "The lab's state file predates this edgelab; run edgelab up --network netns again." });
      for (const socket of [join(layout.nginx.run, `edge-${s.host}.sock`), statusSocket(layout.nginx, `edge-${s.host}`)]) rmSync(socket, { force: true });
      const pid = exec.start(edge.argv, edge.log);
      edge.pid = pid;
      await until(`edge-${s.host} answering`, 20_000, async () => (await nsGet(exec, s.ns, serviceUrl(plan, "/healthz"), 1000)).status === 200);
      const speakerPid = await startSpeaker(exec, lab, plan, dirs, s);
      const speaker = state.pids.find((p) => p.name === `gobgpd ${s.host}`);
      if (speaker !== undefined) speaker.pid = speakerPid;
      writeState(dirs, state);
    }
    const returnSeconds = await until(`the route of ${options.region} back to the site`, 60_000, async () => {
      const route = await routeOf(exec, router.ns, plan.serviceIp);
      return siteAddresses.every((a) => route.includes(`via ${a} `));
    });
    const backAt = since();
    progress(`${options.region} routes to the site again ${returnSeconds.toFixed(1)} s after it restarted`);
    await sleep(options.afterSeconds * 1000);
    const endAt = since();

    process.kill(follower, "SIGTERM");
    await until("the follower stopping", 10_000, () => Promise.resolve(!alive(follower)));
    const events = parseFollowLog(readFileSync(record, "utf8"));
    const served = servedByAll(layout, plane, new RegExp(`(${prefix}-\\d+) HTTP`, "g"));
    return {
      report: followReport(events),
      before: phase(events, served, 0, killAt),
      outage: phase(events, served, killAt, restoreAt),
      // The route is back at backAt; a request in flight then may still be on its way to the other region.
      after: phase(events, served, backAt + 1000, endAt + 1),
      withdrawnSeconds,
      returnSeconds,
      segmentDuration: lab.media.hls.fragment,
      record,
    };
  } finally {
    if (alive(follower)) process.kill(follower, "SIGKILL");
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false; // gone
  }
}

/**
 * `n` connections from a client namespace to the service address (fixed local ports, so the
 * multipath hash sees the same flows on every run), each asking for the stream's playlist with a
 * unique query string; returns who served each, from the edges' access logs.
 */
export async function connectionsByEdge(exec: NetExecutor, lab: Lab, inventoryPath: string, plan: NetlabPlan, dirs: NetlabDirs, clientNs: string, n: number, firstPort = 41000): Promise<string[]> {
  const layout = sitesLayout(inventoryPath, dirs);
  const plane = netnsDataPlane(lab, plan);
  const prefix = `el-ecmp-${Date.now().toString(36)}`;
  const stream = lab.streams[0];
  if (stream === undefined) throw new EdgelabError("the lab has no stream");
  const tokens: string[] = [];
  for (let i = 0; i < n; i++) {
    const token = `${prefix}-${i}`;
    tokens.push(token);
    await exec.run(`request ${i + 1} of ${n} from ${clientNs}`, ["ip", "netns", "exec", clientNs, "curl", "-s", "-o", "/dev/null", "--max-time", "3", "--local-port", String(firstPort + i), `${serviceUrl(plan, hlsPath(lab, stream.name))}?${token}`]);
  }
  const served = servedByAll(layout, plane, new RegExp(`(${prefix}-\\d+) HTTP`, "g"));
  return tokens.map((t) => served.get(t) ?? "-");
}

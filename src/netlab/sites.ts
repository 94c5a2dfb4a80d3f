/**
 * The data plane in the network lab's namespaces: the local lab's processes (one renderer, the
 * namespace placement) started in the DC namespace and in each worker's, and the HTTP probes
 * that reach them — always from inside a namespace (curl under `ip netns exec`), never from the
 * host's, which has no route to the lab.
 *
 * The processes are not supervised: a process that dies stays dead (the failover test kills
 * edges on purpose). `edgelab down` stops them with the namespaces.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { EdgelabError } from "../errors.js";
import { parsePlaylist, totalDuration } from "../media/hls.js";
import type { DataPlane } from "../model/dataplane.js";
import type { Lab } from "../model/lab.js";
import { labLayout, planLabProcesses, writePlan } from "../providers/local/lab.js";
import type { LocalLayout } from "../providers/local/layout.js";
import { hlsPath, type ProcessSpec, type Readiness } from "../providers/local/plan.js";
import { sleep } from "../util/sleep.js";
import { namespacedArgv, netnsDataPlane, netnsLayout, processNamespace, SERVICE_PORT } from "./dataplane.js";
import type { NetExecutor } from "./exec.js";
import type { NetlabPlan } from "./plan.js";
import type { NetlabDirs } from "./runner.js";

export interface SitesContext {
  readonly lab: Lab;
  readonly inventoryPath: string;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export interface StartedProcess {
  readonly name: string;
  readonly ns: string;
  readonly pid: number;
  readonly argv: string[];
  readonly log: string;
}

export function sitesLayout(inventoryPath: string, dirs: NetlabDirs): LocalLayout {
  return netnsLayout(labLayout(inventoryPath), dirs.root);
}

/* ------------------------------------------------------------------ probes inside a namespace */

export interface NsResponse {
  /** 0 when no HTTP answer came (refused, reset, timed out). */
  readonly status: number;
  readonly body: string;
  /** Bytes received (the body is decoded as UTF-8: a segment's length is this, not body.length). */
  readonly bytes: number;
  /** curl's error when there was no answer. */
  readonly error?: string | undefined;
}

/** GET `url` from inside namespace `ns` (a fresh connection each time). */
export async function nsGet(exec: NetExecutor, ns: string, url: string, timeoutMs = 2000): Promise<NsResponse> {
  const seconds = (timeoutMs / 1000).toFixed(1);
  try {
    const { stdout } = await exec.run(`GET ${url} in ${ns}`, ["ip", "netns", "exec", ns, "curl", "-s", "-S", "--max-time", seconds, "-o", "-", "-w", "\n%{http_code} %{size_download}", url], { timeoutMs: timeoutMs + 5000 });
    const cut = stdout.lastIndexOf("\n");
    const [status, bytes] = stdout.slice(cut + 1).split(" ");
    return { status: Number(status) || 0, body: stdout.slice(0, Math.max(0, cut)), bytes: Number(bytes) || 0 };
  } catch (error) {
    return { status: 0, body: "", bytes: 0, error: error instanceof Error ? error.message : String(error) };
  }
}

/** Does something accept TCP connections at host:port inside `ns`? */
export async function nsTcp(exec: NetExecutor, ns: string, host: string, port: number): Promise<boolean> {
  try {
    await exec.run(`connecting to ${host}:${port} in ${ns}`, ["ip", "netns", "exec", ns, "timeout", "2", "bash", "-c", 'exec 3<>"/dev/tcp/$0/$1"', host, String(port)], { timeoutMs: 5000 });
    return true;
  } catch {
    return false; // not listening yet
  }
}

async function ready(exec: NetExecutor, ns: string, probe: Readiness): Promise<boolean> {
  if (probe.kind === "tcp") return nsTcp(exec, ns, probe.host, probe.port);
  const response = await nsGet(exec, ns, `http://${probe.host}:${probe.port}${probe.path ?? "/"}`, 1000);
  return response.status > 0 && response.status < 500;
}

/* ------------------------------------------------------------------ starting */

function logTail(file: string): string {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-5).join("\n    ");
  } catch {
    return "(no log)";
  }
}

async function startProcess(exec: NetExecutor, plan: NetlabPlan, spec: ProcessSpec, deadline: number): Promise<StartedProcess> {
  const ns = processNamespace(plan, spec);
  const argv = namespacedArgv(ns, spec);
  const pid = exec.start(argv, spec.log, { ...(spec.stdin === undefined ? {} : { stdin: spec.stdin }), ...(spec.dirs === undefined ? {} : { dirs: spec.dirs }) });
  const probe = spec.ready;
  if (probe !== undefined) {
    for (;;) {
      if (await ready(exec, ns, probe)) break;
      let alive = true;
      try {
        process.kill(pid, 0);
      } catch {
        alive = false;
      }
      if (!alive || Date.now() > deadline) {
        throw new EdgelabError(`network lab: ${spec.name} in ${ns} ${alive ? "did not answer in time" : "exited while starting"}`, { hint: `Last lines of ${spec.log}:\n    ${logTail(spec.log)}` });
      }
      await sleep(150);
    }
  }
  // A process reading its configuration from standard input (redis) is not restarted from argv alone.
  return { name: spec.name, ns, pid, argv: spec.stdin === undefined ? argv : [], log: spec.log };
}

/** The origin side in the DC namespace and an edge in each worker namespace, started in order, each answering before the next. */
export async function startSites(exec: NetExecutor, ctx: SitesContext, plan: NetlabPlan, dirs: NetlabDirs, progress: (line: string) => void, onStarted: (p: StartedProcess) => void, timeoutMs: number): Promise<{ plane: DataPlane; layout: LocalLayout }> {
  const layout = sitesLayout(ctx.inventoryPath, dirs);
  const { plan: processes, plane } = planLabProcesses(ctx, true, netnsDataPlane(ctx.lab, plan), layout);
  writePlan(processes, layout);
  const deadline = Date.now() + timeoutMs;
  for (const spec of processes.processes) {
    const started = await startProcess(exec, plan, spec, deadline);
    onStarted(started);
    progress(`${spec.name} in ${started.ns}${spec.kind === "edge" ? ` on ${plan.serviceIp}:${SERVICE_PORT}` : ""}`);
  }
  return { plane, layout };
}

/* ------------------------------------------------------------------ HLS through the service address */

export function serviceUrl(plan: Pick<NetlabPlan, "serviceIp">, path: string): string {
  return `http://${plan.serviceIp}:${SERVICE_PORT}${path}`;
}

/** The media playlist a viewer of `stream` ends up on (the first variant of a master playlist). */
export async function mediaPlaylist(exec: NetExecutor, ns: string, url: string, query = ""): Promise<{ url: string; response: NsResponse; live: boolean }> {
  const response = await nsGet(exec, ns, `${url}${query}`);
  const playlist = parsePlaylist(response.body);
  if (response.status === 200 && playlist.kind === "master") {
    const first = playlist.variants[0];
    if (first !== undefined) return mediaPlaylist(exec, ns, new URL(first.uri, url).href, query);
  }
  const live = response.status === 200 && playlist.kind === "media" && playlist.targetDuration !== undefined && totalDuration(playlist) >= 3 * playlist.targetDuration;
  return { url, response, live };
}

/** Waits until every stream's playlist is live through the service address from every client namespace. */
export async function waitLive(exec: NetExecutor, lab: Lab, plan: NetlabPlan, timeoutMs: number, progress: (line: string) => void): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const client of plan.clients) {
    for (const stream of lab.streams) {
      const url = serviceUrl(plan, hlsPath(lab, stream.name));
      for (;;) {
        const { live, response } = await mediaPlaylist(exec, client.ns, url);
        if (live) break;
        if (Date.now() > deadline) throw new EdgelabError(`network lab: no live playlist at ${url} from ${client.ns} (last answer: ${response.status === 0 ? (response.error ?? "none") : response.status})`, { hint: "Check the source-* and media-* logs under .edgelab/netlab/lab/logs/." });
        await sleep(500);
      }
      progress(`live from ${client.ns}: ${url}`);
    }
  }
}

/** The edges whose access logs hold `token` (a unique query string the request carried). */
export function servedBy(layout: LocalLayout, plane: DataPlane, token: string): string[] {
  return plane.edges.filter((e) => {
    try {
      return readFileSync(join(layout.nginx.logs, `edge-${e.name}.access.log`), "utf8").includes(token);
    } catch {
      return false; // no log yet: it served nothing
    }
  }).map((e) => e.name);
}

/** Every token (the pattern's first group) found in the edges' access logs, with the edge that logged it. */
export function servedByAll(layout: LocalLayout, plane: DataPlane, pattern: RegExp): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of plane.edges) {
    let text: string;
    try {
      text = readFileSync(join(layout.nginx.logs, `edge-${e.name}.access.log`), "utf8");
    } catch {
      continue; // no log yet: it served nothing
    }
    for (const match of text.matchAll(pattern)) if (match[1] !== undefined) out.set(match[1], e.name);
  }
  return out;
}

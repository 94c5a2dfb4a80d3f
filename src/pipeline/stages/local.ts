/**
 * The local stage (provider local): the lab's processes on loopback — redis, media servers, the
 * stream-key router and its nginx, the edges, the test sources — under edgelab's supervisor.
 * Starting is idempotent (a running lab with a changed configuration reloads without dropping
 * viewers); `destroy` stops what the supervisor started and nothing else.
 */
import { z } from "zod";
import { EdgelabError } from "../../errors.js";
import { netlabDown, netlabLabStatus, netlabPresent, netlabUp, type NetlabTarget } from "../../netlab/index.js";
import { serviceUrl } from "../../netlab/sites.js";
import { localDown, localStatus, localUp } from "../../providers/local/lab.js";
import { dashPath, hlsPath, type Ingest, type StreamUrls } from "../../providers/local/plan.js";
import type { PipelineContext, Stage } from "../stage.js";

const UrlsOutput = z.array(z.object({ stream: z.string(), edge: z.string(), hls: z.string(), dash: z.string().optional(), player: z.string() }));
const IngestOutput = z.array(z.object({ stream: z.string(), publisher: z.enum(["source", "external", "pull"]), server: z.string(), mediaServer: z.string() }));

export interface LocalOutputs {
  readonly urls: readonly StreamUrls[];
  readonly ingest: readonly Ingest[];
}

function parsedOutput<T>(text: string | undefined, schema: z.ZodType<T>): T | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // A journal edited by hand: these values are only shown, so an unreadable one shows nothing.
    return undefined;
  }
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** The stream and ingest URLs the local stage recorded (this run's or the journal's). */
export function localOutputs(outputs: Readonly<Record<string, string>> | undefined): LocalOutputs {
  const urls = parsedOutput(outputs?.["urls"], UrlsOutput) ?? [];
  return { urls: urls.map((u) => ({ ...u, dash: u.dash })), ingest: parsedOutput(outputs?.["ingest"], IngestOutput) ?? [] };
}

/** What the local processes are made from: the rendered data-plane files and the lab's shape. */
function consumed(p: PipelineContext): Record<string, unknown> {
  const lab = p.lab;
  return {
    nginx: p.outputs.get("render")?.["nginx"] ?? "",
    streams: lab.streams,
    media: lab.media,
    edge: lab.edge,
    ports: lab.localPorts,
    hosts: lab.hosts.map((h) => ({ name: h.name, address: h.address, role: h.role, label: h.label })),
    network: p.options.network ?? "loopback",
    ...(p.options.network === "netns" ? { bgp: lab.cilium.bgp, lbPool: lab.cilium.lbPool } : {}),
  };
}

function netns(p: PipelineContext): boolean {
  return p.options.network === "netns";
}

function netlabTarget(p: PipelineContext): NetlabTarget {
  return { lab: p.lab, inventoryPath: p.location.path };
}

/** Why the network lab's data plane is not (fully) there, or undefined when it is. */
async function netlabProblem(p: PipelineContext): Promise<string | undefined> {
  const status = await netlabLabStatus(netlabTarget(p));
  if (!status.running || !status.sites) return "the lab is not running in the network lab's namespaces";
  const dead = status.processes.filter((x) => !x.alive).map((x) => x.name);
  return dead.length > 0 ? `not running: ${dead.join(", ")}` : undefined;
}

/** The streams' URLs through the service address (reachable from the lab's client namespaces). */
function serviceUrls(p: PipelineContext, serviceIp: string, clients: readonly string[]): StreamUrls[] {
  const plan = { serviceIp };
  return p.lab.streams.map((s) => {
    const dash = dashPath(p.lab, s.name);
    return {
      stream: s.name,
      edge: `nearest (BGP) from ${clients.join(", ")}`,
      hls: serviceUrl(plan, hlsPath(p.lab, s.name)),
      dash: dash === undefined ? undefined : serviceUrl(plan, dash),
      player: serviceUrl(plan, `/player/?stream=${encodeURIComponent(s.name)}`),
    };
  });
}

export const localStage: Stage = {
  name: "local",
  title: "the local lab's processes on loopback",

  inputs: consumed,
  verify: async (p) => {
    if (netns(p)) return netlabProblem(p);
    const status = await localStatus(p.location.path);
    if (!status.running) return "the local lab is not running";
    const down = status.processes.filter((x) => !x.healthy).map((x) => x.name);
    return down.length > 0 ? `not answering: ${down.join(", ")}` : undefined;
  },
  plan: async (p) => {
    if (netns(p)) return { changes: [(await netlabProblem(p)) === undefined ? "rebuild the lab in the network lab's namespaces" : "build the network lab (namespaces, FRR, gobgpd) and start the lab in it"] };
    const status = await localStatus(p.location.path);
    return { changes: [status.running ? "reload the local lab with the changed configuration" : "start the local lab"] };
  },
  apply: async (run) => {
    if (netns(run.p)) {
      if ((await localStatus(run.p.location.path)).running) throw new EdgelabError("the lab of this inventory runs on loopback", { hint: "Stop it first (edgelab down), then edgelab up --network netns: both would share its stream keys." });
      const up = await netlabUp(netlabTarget(run.p), (message) => run.step({ message }), undefined, run.p.options.timeoutSeconds * 1000, { sites: { env: run.p.ctx.env } });
      const failed = up.checks.filter((c) => !c.ok);
      if (failed.length > 0) throw new EdgelabError(`network lab: BGP did not converge (${failed.map((c) => `${c.check}: ${c.value}`).join("; ")})`, { hint: "See .edgelab/netlab/r*/bgpd.log; edgelab netlab check shows the checks." });
      const urls = serviceUrls(run.p, up.plan.serviceIp, up.plan.clients.map((c) => c.ns));
      return {
        changes: 1,
        summary: `network lab ${up.plan.prefix}: ${up.state.pids.length} processes in ${up.plan.namespaces.length} namespaces, BGP converged ${up.convergenceSeconds.toFixed(1)} s after the last speaker started`,
        outputs: { urls: JSON.stringify(urls), ingest: JSON.stringify([]) },
        details: { changed: "started", network: "netns", prefix: up.plan.prefix, serviceIp: up.plan.serviceIp, map: up.plan.map.blocks, clients: up.plan.clients.map((c) => c.ns), seconds: up.seconds, convergenceSeconds: up.convergenceSeconds },
      };
    }
    if (await netlabPresent(netlabTarget(run.p))) throw new EdgelabError("the lab of this inventory runs in the network lab's namespaces", { hint: "Stop it first (edgelab down), or keep it: edgelab up --network netns." });
    const result = await localUp({ inventoryPath: run.p.location.path, lab: run.p.lab, env: run.p.ctx.env, progress: (message) => run.step({ message }) }, run.p.options.timeoutSeconds);
    const processes = (await localStatus(run.p.location.path)).processes.length;
    return {
      changes: result.changed === "unchanged" ? 0 : 1,
      summary: result.changed === "started" ? `started ${processes} processes` : result.changed === "reloaded" ? "reloaded with the new configuration" : `${processes} processes running`,
      outputs: { urls: JSON.stringify(result.urls), ingest: JSON.stringify(result.ingest) },
      details: { changed: result.changed, streams: result.urls, ingest: result.ingest.filter((i) => i.publisher !== "pull").map((i) => ({ stream: i.stream, publisher: i.publisher, url: `${i.server}/${i.stream}`, server: i.server, keyCommand: `edgelab keys show ${i.stream}` })) },
    };
  },
  destroyPlan: async (p) => {
    const status = await localStatus(p.location.path);
    const alive = status.processes.filter((x) => x.alive).length;
    const changes = status.running || alive > 0 ? [`stop the local lab's ${alive} processes (logs and generated secrets are kept)`] : [];
    if (await netlabPresent(netlabTarget(p))) changes.push("remove the network lab: every namespace it made, with its links and processes");
    return { changes };
  },
  destroy: async (run) => {
    const result = await localDown(run.p.location.path, (message) => run.step({ message }));
    const removed = (await netlabPresent(netlabTarget(run.p))) ? await netlabDown(netlabTarget(run.p)) : [];
    const parts = [result.wasRunning ? `stopped ${result.stopped.length} processes` : "", removed.length > 0 ? `removed the network lab's ${removed.length} namespaces` : ""].filter((x) => x !== "");
    return { changes: result.stopped.length + removed.length, summary: parts.length > 0 ? parts.join("; ") : "was not running" };
  },
};

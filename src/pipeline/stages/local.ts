/**
 * The local stage (provider local): the lab's processes on loopback — redis, media servers, the
 * stream-key router and its nginx, the edges, the test sources — under edgelab's supervisor.
 * Starting is idempotent (a running lab with a changed configuration reloads without dropping
 * viewers); `destroy` stops what the supervisor started and nothing else.
 */
import { z } from "zod";
import { localDown, localStatus, localUp } from "../../providers/local/lab.js";
import type { Ingest, StreamUrls } from "../../providers/local/plan.js";
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
  };
}

export const localStage: Stage = {
  name: "local",
  title: "the local lab's processes on loopback",

  inputs: consumed,
  verify: async (p) => {
    const status = await localStatus(p.location.path);
    if (!status.running) return "the local lab is not running";
    const down = status.processes.filter((x) => !x.healthy).map((x) => x.name);
    return down.length > 0 ? `not answering: ${down.join(", ")}` : undefined;
  },
  plan: async (p) => {
    const status = await localStatus(p.location.path);
    return { changes: [status.running ? "reload the local lab with the changed configuration" : "start the local lab"] };
  },
  apply: async (run) => {
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
    return { changes: status.running || alive > 0 ? [`stop the local lab's ${alive} processes (logs and generated secrets are kept)`] : [] };
  },
  destroy: async (run) => {
    const result = await localDown(run.p.location.path, (message) => run.step({ message }));
    return { changes: result.stopped.length, summary: result.wasRunning ? `stopped ${result.stopped.length} processes` : "was not running" };
  },
};

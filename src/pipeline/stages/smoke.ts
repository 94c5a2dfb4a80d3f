/**
 * The smoke stage: delivery checks per stream and edge (src/smoke). It runs when anything before
 * it changed since it last passed; on a converged lab it is not repeated (`edgelab smoke` checks
 * on demand).
 */
import { localDataPlane } from "../../model/dataplane.js";
import { dashPath, hlsPath } from "../../providers/local/plan.js";
import { findProgram } from "../../providers/local/preflight.js";
import { summary } from "../../smoke/report.js";
import { runSmoke, type SmokeTarget } from "../../smoke/run.js";
import { STAGE_ORDER, type PipelineContext, type Stage } from "../stage.js";

export function localSmokeTarget(p: PipelineContext): SmokeTarget {
  const lab = p.lab;
  const plane = localDataPlane(lab);
  const firstMedia = plane.mediaServers[0];
  return {
    edges: plane.edges.map((e) => ({ name: e.name, url: `http://${e.http.host}:${e.http.port}` })),
    origin: `http://${plane.origin.host}:${plane.origin.port}`,
    ingest: firstMedia === undefined ? undefined : `rtmp://${firstMedia.rtmp.host}:${firstMedia.rtmp.port}/live`,
    streams: lab.streams.map((s) => ({ name: s.name, hlsPath: hlsPath(lab, s.name), dashPath: dashPath(lab, s.name) })),
    ffmpeg: findProgram("ffmpeg", p.ctx.env["PATH"]) ?? "ffmpeg",
    ffprobe: findProgram("ffprobe", p.ctx.env["PATH"]) ?? "ffprobe",
    maxLagSeconds: 1,
  };
}

export const smokeStage: Stage = {
  name: "smoke",
  title: "delivery checks per stream and edge",
  // A cluster lab's smoke targets the Ingress the deploy stage publishes (not in this version).
  implementedFor: ["local"],

  inputs: (p) => {
    const before = STAGE_ORDER.slice(0, STAGE_ORDER.indexOf("smoke"));
    return { changedAt: before.map((s) => `${s}:${p.lastChanged.get(s) ?? ""}`), streams: p.lab.streams.map((s) => s.name) };
  },
  apply: async (run) => {
    const results = await runSmoke(localSmokeTarget(run.p), (message) => run.step({ message }));
    const { passed, failed } = summary(results);
    if (failed > 0) {
      const first = results.filter((r) => !r.ok).slice(0, 3).map((r) => `${r.check}${r.stream !== undefined ? ` ${r.stream}` : ""}${r.edge !== undefined ? ` @${r.edge}` : ""}: ${r.value}`);
      return { changes: 0, summary: `${failed} of ${passed + failed} checks failed`, failure: `${failed} of ${passed + failed} checks failed (${first.join("; ")}); run edgelab smoke for the table` };
    }
    return { changes: 0, summary: `${passed} checks passed` };
  },
};

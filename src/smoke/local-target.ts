/**
 * What `edgelab smoke` and the pipeline's smoke stage check on the local lab: its edges, origin
 * and first media server from the local placement, and each stream's state from the router.
 */
import { EdgelabError } from "../errors.js";
import { fetchRouterHealth } from "../media/router-health.js";
import { localDataPlane } from "../model/dataplane.js";
import type { Lab } from "../model/lab.js";
import { dashPath, hlsPath } from "../providers/local/plan.js";
import { findProgram } from "../providers/local/preflight.js";
import type { SmokeTarget } from "./run.js";

export async function localSmokeTarget(lab: Lab, path: string | undefined, options: { streams?: readonly string[]; maxLagSeconds: number }): Promise<SmokeTarget> {
  const plane = localDataPlane(lab);
  const firstMedia = plane.mediaServers[0];
  const health = await fetchRouterHealth(plane.router);
  if (health === undefined) throw new EdgelabError(`the local lab's stream-key router (${plane.router.host}:${plane.router.port}) does not answer`, { hint: "Is the lab up? See edgelab status." });
  const names = options.streams ?? lab.streams.map((x) => x.name);
  return {
    edges: plane.edges.map((e) => ({ name: e.name, url: `http://${e.http.host}:${e.http.port}` })),
    origin: `http://${plane.origin.host}:${plane.origin.port}`,
    ingest: firstMedia === undefined ? undefined : `rtmp://${firstMedia.rtmp.host}:${firstMedia.rtmp.port}/live`,
    streams: names.map((name) => ({ name, hlsPath: hlsPath(lab, name), dashPath: dashPath(lab, name) })),
    ffmpeg: findProgram("ffmpeg", path) ?? "ffmpeg",
    ffprobe: findProgram("ffprobe", path) ?? "ffprobe",
    maxLagSeconds: options.maxLagSeconds,
    states: new Map(health.streams.map((x) => [x.name, x.state])),
  };
}

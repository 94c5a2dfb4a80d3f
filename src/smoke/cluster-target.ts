/**
 * What `edgelab smoke` and the pipeline's smoke stage check on a cluster lab: the Ingress by its
 * LoadBalancer address with the service's name in the Host header (it answers before DNS does,
 * and the check does not depend on this machine's resolver), and the RTMP Service for the
 * wrong-key check. The checks are the same as on the local lab.
 */
import type { Lab } from "../model/lab.js";
import { dashPath, hlsPath } from "../providers/local/plan.js";
import { findProgram } from "../providers/local/preflight.js";
import type { SmokeTarget } from "./run.js";

export interface ClusterEndpoints {
  /** The Ingress' LoadBalancer address. */
  readonly ingressIp: string;
  /** The Host the Ingress routes (dns.name in the inventory). */
  readonly host: string;
  /** The RTMP Service's LoadBalancer address and port, when the lab has one. */
  readonly rtmp: { readonly ip: string; readonly port: number } | undefined;
}

export function clusterSmokeTarget(lab: Lab, endpoints: ClusterEndpoints, path: string | undefined, options: { streams?: readonly string[]; maxLagSeconds: number }): SmokeTarget {
  const names = options.streams ?? lab.streams.map((x) => x.name);
  return {
    edges: [{ name: `ingress ${endpoints.host}`, url: `http://${endpoints.ingressIp}`, host: endpoints.host }],
    // The origin front is not published outside the cluster: no edge-lag check from here.
    origin: undefined,
    ingest: endpoints.rtmp === undefined ? undefined : `rtmp://${endpoints.rtmp.ip}:${endpoints.rtmp.port}/live`,
    streams: names.map((name) => ({ name, hlsPath: hlsPath(lab, name), dashPath: dashPath(lab, name) })),
    ffmpeg: findProgram("ffmpeg", path) ?? "ffmpeg",
    ffprobe: findProgram("ffprobe", path) ?? "ffprobe",
    maxLagSeconds: options.maxLagSeconds,
    states: undefined,
  };
}

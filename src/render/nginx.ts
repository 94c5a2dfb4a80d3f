/**
 * NGINX configurations of the data plane: media servers (origin ingest + packaging), the origin
 * front (stream-key router's nginx) and the edge caches. Pure: model + plane + paths in, text out.
 */
import type { DataPlane, EdgeNode, MediaServerNode } from "../model/dataplane.js";
import { pulledByMediaServer, type Lab } from "../model/lab.js";
import type { Artifact } from "./artifact.js";
import type { TemplateEnvironment } from "./environment.js";

/** Where the running processes keep their files. */
export interface NginxPaths {
  readonly run: string;
  readonly logs: string;
  readonly tmp: string;
  /** HLS/DASH output root: <media>/<server>/{hls,dash}. */
  readonly media: string;
  /** proxy_cache roots: <cache>/origin, <cache>/edge-<name>. */
  readonly cache: string;
  /** The player page's files. */
  readonly player: string;
  readonly rtmpModule: string;
  readonly ffmpeg: string;
  /** Base for relative recording paths. */
  readonly state: string;
  /** `user` of the worker processes; undefined leaves nginx's default (nobody when run as root). */
  readonly workerUser?: string | undefined;
}

/** Debian's locations of the rtmp module and ffmpeg. */
export const DEBIAN_RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so";
export const DEBIAN_FFMPEG = "/usr/bin/ffmpeg";

function nginxTime(seconds: number): string {
  return Number.isInteger(seconds) ? `${seconds}s` : `${Math.round(seconds * 1000)}ms`;
}

/** How long entries may sit unrequested: at least twice the playlist window (and a minute). */
function inactive(lab: Lab): number {
  return Math.max(60, Math.ceil(2 * Math.max(lab.media.hls.playlistLength, lab.media.dash.playlistLength)));
}

function common(lab: Lab, plane: DataPlane, paths: NginxPaths): Record<string, unknown> {
  return {
    lab,
    plane,
    paths,
    media: lab.media,
    edge: lab.edge,
    abr: lab.media.abr,
    inactive: inactive(lab),
    playlistTtl: nginxTime(lab.edge.playlistTtl),
    playlistMaxAge: Math.max(1, Math.floor(lab.edge.playlistTtl)),
    segmentMaxAge: lab.edge.segmentTtl,
    dashSegmentTtl: Math.max(1, Math.ceil(lab.media.dash.playlistLength)),
  };
}

export function renderMediaServerConf(lab: Lab, plane: DataPlane, server: MediaServerNode, paths: NginxPaths, env: TemplateEnvironment): string {
  const record = lab.media.record;
  const recordPath = record === undefined ? undefined : record.path.startsWith("/") ? record.path : `${paths.state}/${record.path}`;
  // Streams pulled from an RTMP URL are native static pulls on the server they are placed on;
  // other URLs (RTSP, SRT, HTTP) are pulled by an ffmpeg source process instead.
  const pulls = plane.streams
    .filter((p) => p.server === server.name)
    .map((p) => ({ placement: p, stream: lab.streams.find((s) => s.name === p.name) }))
    .flatMap(({ placement, stream }) => (stream !== undefined && stream.source.type === "url" && pulledByMediaServer(stream) ? [{ name: placement.name, url: stream.source.url }] : []));
  return env.render("nginx/media-server.conf.njk", {
    ...common(lab, plane, paths),
    server,
    recordPath,
    pulls,
    gop: Math.round(lab.media.fps * lab.media.hls.fragment),
  });
}

export function renderOriginConf(lab: Lab, plane: DataPlane, paths: NginxPaths, env: TemplateEnvironment): string {
  return env.render("nginx/origin.conf.njk", common(lab, plane, paths));
}

export function renderEdgeConf(lab: Lab, plane: DataPlane, node: EdgeNode, paths: NginxPaths, env: TemplateEnvironment): string {
  return env.render("nginx/edge.conf.njk", {
    ...common(lab, plane, paths),
    node,
    cachePath: `${paths.cache}/edge-${node.name}`,
    mirrorPath: edgeMirrorPath(paths, node),
    socketPath: `${paths.run}/edge-${node.name}.sock`,
  });
}

/** Where an edge keeps the segments it holds as plain files. */
export function edgeMirrorPath(paths: NginxPaths, node: EdgeNode): string {
  return `${paths.cache}/edge-${node.name}-files`;
}

export function renderNginx(lab: Lab, plane: DataPlane, paths: NginxPaths, env: TemplateEnvironment): Artifact[] {
  const artifacts: Artifact[] = plane.mediaServers.map((server) => ({
    path: `nginx/${server.name}.conf`,
    content: renderMediaServerConf(lab, plane, server, paths, env),
    mode: 0o644,
    family: "nginx",
  }));
  artifacts.push({ path: "nginx/origin.conf", content: renderOriginConf(lab, plane, paths, env), mode: 0o644, family: "nginx" });
  for (const node of plane.edges) {
    artifacts.push({ path: `nginx/edge-${node.name}.conf`, content: renderEdgeConf(lab, plane, node, paths, env), mode: 0o644, family: "nginx" });
  }
  return artifacts;
}

/** Directories the rendered configurations expect to exist (nginx creates only the last level). */
export function nginxDirectories(lab: Lab, plane: DataPlane, paths: NginxPaths): string[] {
  const dirs = [paths.run, paths.logs, paths.tmp, paths.media, paths.cache, paths.player];
  for (const m of plane.mediaServers) dirs.push(`${paths.media}/${m.name}`, `${paths.tmp}/${m.name}`);
  dirs.push(`${paths.tmp}/origin`);
  for (const e of plane.edges) dirs.push(`${paths.tmp}/edge-${e.name}`, edgeMirrorPath(paths, e), `${edgeMirrorPath(paths, e)}/.tmp`);
  const record = lab.media.record;
  if (record !== undefined) dirs.push(record.path.startsWith("/") ? record.path : `${paths.state}/${record.path}`);
  return dirs;
}

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
  /**
   * Directory of the status listeners (stub_status, rtmp_stat) as unix sockets: whoever can
   * enter it can read them, nobody else (a loopback port would answer every local user).
   */
  readonly status: string;
  /** Directory of the files holding secrets that the configurations include (0700, files 0600). */
  readonly secrets: string;
  /**
   * Directory of the secrets the nginx workers' own children read (the ABR transcoder's
   * credential): 0700, owned by the worker user, files 0600.
   */
  readonly workerSecrets: string;
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

/** Where a component's status pages (stub_status; rtmp_stat on media servers) listen. */
export function statusSocket(paths: NginxPaths, component: string): string {
  return `${paths.status}/${component}.sock`;
}

/** The file a media server includes for its on_publish callbacks (it holds the server's secret). */
export function notifyIncludePath(paths: NginxPaths, server: MediaServerNode): string {
  return `${paths.secrets}/${server.name}-notify.conf`;
}

/**
 * The included callbacks of one media server: the router's auth endpoints with this server's own
 * secret in the path. Written beside the other secrets (0600), never into rendered output.
 */
export function renderMediaNotifyConf(plane: DataPlane, server: MediaServerNode, secret: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(secret)) throw new Error(`the secret of ${server.name} must be URL-safe`);
  const base = `http://${plane.router.host}:${plane.router.port}/auth`;
  return [
    `# Callbacks of media server ${server.name} to the stream-key router, with its secret. Written by edgelab (0600).`,
    `on_publish ${base}/publish/${server.name}/${secret};`,
    `on_publish_done ${base}/publish-done/${server.name}/${secret};`,
    "",
  ].join("\n");
}

/** The file a media server includes in its `abr` application (the transcoder's publishes are checked). */
export function abrNotifyIncludePath(paths: NginxPaths, server: MediaServerNode): string {
  return `${paths.secrets}/${server.name}-abr-notify.conf`;
}

/**
 * The `abr` application's callback: the router checks that a rendition is published by the lab's
 * own transcoder (its credential travels as the RTMP flashVer, see transcoderPresetPath). Written
 * beside the other secrets (0600), never into rendered output.
 */
export function renderAbrNotifyConf(plane: DataPlane, server: MediaServerNode, secret: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(secret)) throw new Error(`the secret of ${server.name} must be URL-safe`);
  return [
    `# ABR rendition publishes on media server ${server.name} are checked by the stream-key router. Written by edgelab (0600).`,
    `on_publish http://${plane.router.host}:${plane.router.port}/auth/abr-publish/${server.name}/${secret};`,
    "",
  ].join("\n");
}

/**
 * An ffmpeg preset file the transcoder reads with `-fpre`: it sets the RTMP flashVer of each
 * rendition's publish to the lab's transcoder credential, so the credential is in no argv (the
 * exec line names only this file) and in no URL ffmpeg could print.
 */
export function transcoderPresetPath(paths: NginxPaths): string {
  return `${paths.workerSecrets}/transcoder.ffpreset`;
}

/** nginx-rtmp keeps at most 31 characters of a flashVer (a 32-byte buffer): longer is cut short. */
export const TRANSCODER_CREDENTIAL_LENGTH = 31;

export function renderTranscoderPreset(credential: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(credential)) throw new Error("the transcoder credential must be URL-safe");
  if (credential.length > TRANSCODER_CREDENTIAL_LENGTH) throw new Error(`the transcoder credential must be at most ${TRANSCODER_CREDENTIAL_LENGTH} characters (nginx-rtmp cuts a longer flashVer)`);
  return `rtmp_flashver=${credential}\n`;
}

/** Every log file the rendered configurations write (so they can be created 0600 beforehand). */
export function nginxLogFiles(plane: DataPlane, paths: NginxPaths): string[] {
  const files: string[] = [];
  for (const m of plane.mediaServers) files.push(...["error", "access", "rtmp"].map((kind) => `${paths.logs}/${m.name}.${kind}.log`));
  files.push(`${paths.logs}/origin.error.log`, `${paths.logs}/origin.access.log`);
  for (const e of plane.edges) files.push(...["error", "access", "fill"].map((kind) => `${paths.logs}/edge-${e.name}.${kind}.log`));
  return files;
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
    notifyInclude: notifyIncludePath(paths, server),
    abrNotifyInclude: abrNotifyIncludePath(paths, server),
    transcoderPreset: transcoderPresetPath(paths),
    statusListen: `unix:${statusSocket(paths, server.name)}`,
  });
}

export function renderOriginConf(lab: Lab, plane: DataPlane, paths: NginxPaths, env: TemplateEnvironment): string {
  return env.render("nginx/origin.conf.njk", { ...common(lab, plane, paths), statusListen: `unix:${statusSocket(paths, "origin")}` });
}

export function renderEdgeConf(lab: Lab, plane: DataPlane, node: EdgeNode, paths: NginxPaths, env: TemplateEnvironment): string {
  return env.render("nginx/edge.conf.njk", {
    ...common(lab, plane, paths),
    node,
    cachePath: `${paths.cache}/edge-${node.name}`,
    mirrorPath: edgeMirrorPath(paths, node),
    socketPath: `${paths.run}/edge-${node.name}.sock`,
    statusListen: `unix:${statusSocket(paths, `edge-${node.name}`)}`,
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
  const dirs = [paths.run, paths.logs, paths.tmp, paths.media, paths.cache, paths.player, paths.status];
  if (lab.media.abr.length > 0) dirs.push(paths.workerSecrets);
  for (const m of plane.mediaServers) dirs.push(`${paths.media}/${m.name}`, `${paths.tmp}/${m.name}`);
  dirs.push(`${paths.tmp}/origin`);
  for (const e of plane.edges) dirs.push(`${paths.tmp}/edge-${e.name}`, edgeMirrorPath(paths, e), `${edgeMirrorPath(paths, e)}/.tmp`);
  const record = lab.media.record;
  if (record !== undefined) dirs.push(record.path.startsWith("/") ? record.path : `${paths.state}/${record.path}`);
  return dirs;
}

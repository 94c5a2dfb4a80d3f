/**
 * NGINX configurations of the data plane: media servers (origin ingest + packaging), the origin
 * front (stream-key router's nginx) and the edge caches. Pure: model + plane + paths in, text out.
 */
import type { DataPlane, EdgeNode, Endpoint, MediaServerNode } from "../model/dataplane.js";
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
   * Logs go to the process's standard error (error logs) and standard output (access logs)
   * instead of files under `logs`: what a container runtime collects.
   */
  readonly stdio?: boolean | undefined;
}

/** Debian's locations of the rtmp module and ffmpeg. */
export const DEBIAN_RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so";
export const DEBIAN_FFMPEG = "/usr/bin/ffmpeg";

/**
 * The cluster placement's paths, the same in every pod (docs/cluster.md): configurations mounted
 * read-only, writable directories as emptyDir volumes, the data plane Secret's files under
 * /run/secrets/edgelab, logs to the container's stderr/stdout.
 */
export const CLUSTER_NGINX_PATHS: NginxPaths = {
  run: "/run/edgelab",
  logs: "/run/edgelab",
  tmp: "/tmp",
  media: "/var/lib/edgelab",
  cache: "/var/cache/edgelab",
  player: "/usr/share/edgelab/player",
  rtmpModule: DEBIAN_RTMP_MODULE,
  ffmpeg: DEBIAN_FFMPEG,
  state: "/var/lib/edgelab",
  status: "/run/edgelab",
  secrets: "/run/secrets/edgelab",
  stdio: true,
};

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

/** The `listen` of a component's status server: a unix socket locally, the status port in the cluster. */
export function statusListen(plane: DataPlane, paths: NginxPaths, component: string): string {
  return plane.statusPort === undefined ? `unix:${statusSocket(paths, component)}` : String(plane.statusPort);
}

/**
 * The `listen` of an endpoint: locally its address and port (every component has its own
 * loopback address); in the cluster the port on every address of the pod (the Service's name is
 * how others reach it, not an address the pod has).
 */
export function listenOf(plane: DataPlane, endpoint: Endpoint): string {
  return plane.placement === "cluster" ? String(endpoint.port) : `${endpoint.host}:${endpoint.port}`;
}

/**
 * A component's own directory under `root`: locally one per component (the lab's processes share
 * the directories), in the cluster the root itself (every pod has its own, empty at start).
 */
function ownDir(plane: DataPlane, root: string, component: string): string {
  return plane.placement === "cluster" ? root : `${root}/${component}`;
}

/** A component's log destinations: files under paths.logs, or the process's stderr/stdout. */
function logsOf(paths: NginxPaths, component: string, kinds: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kind of ["error", ...kinds]) {
    out[kind] = paths.stdio === true ? (kind === "error" ? "stderr" : "/dev/stdout") : `${paths.logs}/${component}.${kind}.log`;
  }
  return out;
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

/** Every log file the rendered configurations write (so they can be created 0600 beforehand). */
export function nginxLogFiles(plane: DataPlane, paths: NginxPaths): string[] {
  const files: string[] = [];
  for (const m of plane.mediaServers) files.push(...["error", "access", "rtmp"].map((kind) => `${paths.logs}/${m.name}.${kind}.log`));
  files.push(`${paths.logs}/origin.error.log`, `${paths.logs}/origin.access.log`);
  for (const e of plane.edges) files.push(...["error", "access", "fill"].map((kind) => `${paths.logs}/edge-${e.name}.${kind}.log`));
  return files;
}

export function renderMediaServerConf(lab: Lab, plane: DataPlane, server: MediaServerNode, paths: NginxPaths, env: TemplateEnvironment): string {
  const recordPath = recordingPath(lab, paths);
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
    statusListen: statusListen(plane, paths, server.name),
    listen: { http: listenOf(plane, server.http), rtmp: listenOf(plane, server.rtmp) },
    log: logsOf(paths, server.name, ["access", "rtmp"]),
    tmpDir: ownDir(plane, paths.tmp, server.name),
    mediaDir: ownDir(plane, paths.media, server.name),
    // The ABR transcoder runs beside nginx and reads the source over RTMP: in the cluster
    // through the pod's loopback, locally at the server's own address.
    selfRtmp: plane.placement === "cluster" ? `127.0.0.1:${server.rtmp.port}` : `${server.rtmp.host}:${server.rtmp.port}`,
  });
}

export function renderOriginConf(lab: Lab, plane: DataPlane, paths: NginxPaths, env: TemplateEnvironment): string {
  return env.render("nginx/origin.conf.njk", {
    ...common(lab, plane, paths),
    statusListen: statusListen(plane, paths, "origin"),
    listen: { http: listenOf(plane, plane.origin) },
    log: logsOf(paths, "origin", ["access"]),
    tmpDir: ownDir(plane, paths.tmp, "origin"),
  });
}

export function renderEdgeConf(lab: Lab, plane: DataPlane, node: EdgeNode, paths: NginxPaths, env: TemplateEnvironment): string {
  return env.render("nginx/edge.conf.njk", {
    ...common(lab, plane, paths),
    node,
    cachePath: `${paths.cache}/edge-${node.name}`,
    cacheMb: lab.edge.groups.find((g) => g.label === node.label)?.cacheMb ?? lab.edge.cacheMb,
    // Locally, segments an edge holds are also kept as plain files, which the supervisor's
    // janitor removes after the segment TTL; a pod has no janitor: the cache alone, bounded by its size.
    mirrorPath: plane.placement === "local" ? edgeMirrorPath(paths, node) : false,
    tmpDir: ownDir(plane, paths.tmp, `edge-${node.name}`),
    socketPath: `${paths.run}/edge-${node.name}.sock`,
    statusListen: statusListen(plane, paths, `edge-${node.name}`),
    listen: { http: listenOf(plane, node.http) },
    log: logsOf(paths, `edge-${node.name}`, ["access", "fill"]),
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
  if (plane.placement === "cluster") {
    // Each pod's writable directories are its own (emptyDir volumes; recordings on a volume).
    const record = recordingPath(lab, paths);
    return [paths.run, paths.tmp, paths.media, paths.cache, ...(record === undefined ? [] : [record])];
  }
  const dirs = [paths.run, paths.logs, paths.tmp, paths.media, paths.cache, paths.player, paths.status];
  for (const m of plane.mediaServers) dirs.push(`${paths.media}/${m.name}`, `${paths.tmp}/${m.name}`);
  dirs.push(`${paths.tmp}/origin`);
  for (const e of plane.edges) dirs.push(`${paths.tmp}/edge-${e.name}`, edgeMirrorPath(paths, e), `${edgeMirrorPath(paths, e)}/.tmp`);
  const record = recordingPath(lab, paths);
  if (record !== undefined) dirs.push(record);
  return dirs;
}

/** Where media servers write recordings (undefined when recording is off). */
export function recordingPath(lab: Lab, paths: NginxPaths): string | undefined {
  const record = lab.media.record;
  return record === undefined ? undefined : record.path.startsWith("/") ? record.path : `${paths.state}/${record.path}`;
}

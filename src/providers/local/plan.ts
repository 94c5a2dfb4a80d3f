/**
 * The local lab as data: the files to write and the processes to run, in start order. Pure: the
 * caller resolves secrets and hashes keys, then writes the files and hands the processes to the
 * supervisor.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { KeyHash } from "../../media/keys.js";
import type { RouterConfig } from "../../media/routing.js";
import type { DataPlane, Endpoint } from "../../model/dataplane.js";
import { pulledByMediaServer, type Lab } from "../../model/lab.js";
import type { TemplateEnvironment } from "../../render/environment.js";
import { edgeMirrorPath, nginxDirectories, renderEdgeConf, renderMediaServerConf, renderOriginConf } from "../../render/nginx.js";
import type { LocalLayout } from "./layout.js";

export type ProcessKind = "redis" | "router" | "media" | "origin" | "edge" | "source";

export interface Readiness {
  readonly kind: "tcp" | "http";
  readonly host: string;
  readonly port: number;
  readonly path?: string | undefined;
}

export interface ProcessSpec {
  readonly name: string;
  readonly kind: ProcessKind;
  readonly argv: readonly string[];
  /** stdout and stderr go here. */
  readonly log: string;
  readonly ready: Readiness | undefined;
  /** Every address:port the process listens on (checked free before the first start). */
  readonly listens: readonly Endpoint[];
  /** nginx: SIGHUP reloads the configuration without dropping connections. */
  readonly reload: "sighup" | "restart";
  /** Indexes of argv entries that hold a secret (shown redacted). */
  readonly secretArgs: readonly number[];
  /** Changes when the process's configuration changes (reload or restart on `up`). */
  readonly configHash: string;
}

export interface PlannedFile {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
}

export interface StreamUrls {
  readonly stream: string;
  readonly edge: string;
  readonly hls: string;
  readonly dash: string | undefined;
  readonly player: string;
}

/** Files under `dir` older than `maxAgeSeconds` are deleted periodically (edge segment files). */
export interface JanitorTask {
  readonly dir: string;
  readonly maxAgeSeconds: number;
}

export interface LocalPlan {
  readonly janitor: readonly JanitorTask[];
  readonly dirs: readonly string[];
  /** Directories nginx worker processes write to (chowned to nobody when running as root). */
  readonly workerDirs: readonly string[];
  readonly files: readonly PlannedFile[];
  readonly processes: readonly ProcessSpec[];
  readonly urls: readonly StreamUrls[];
}

export interface Binaries {
  readonly nginx: string;
  readonly redis: string;
  readonly ffmpeg: string;
  readonly node: string;
  /** The router service's entry point (dist/media/router-server.js). */
  readonly routerScript: string;
}

export interface PlanInputs {
  readonly lab: Lab;
  readonly plane: DataPlane;
  readonly layout: LocalLayout;
  readonly env: TemplateEnvironment;
  readonly binaries: Binaries;
  /** Publishing key per stream (for the test sources). */
  readonly keys: ReadonlyMap<string, string>;
  /** Hashed key per stream (for the router). */
  readonly keyHashes: ReadonlyMap<string, KeyHash>;
  /** The player page's files (index.html, hls.min.js), by name. */
  readonly playerFiles: ReadonlyMap<string, string>;
}

const hash = (...parts: readonly string[]): string => createHash("sha256").update(parts.join("\u0000")).digest("hex").slice(0, 16);

/** The URL path a viewer plays a stream at (the ABR master playlist when there is a ladder). */
export function hlsPath(lab: Lab, stream: string): string {
  return lab.media.abr.length > 0 ? `/hls/${stream}.m3u8` : `/hls/${stream}/index.m3u8`;
}

export function dashPath(lab: Lab, stream: string): string | undefined {
  if (!lab.media.dash.enabled) return undefined;
  const first = lab.media.abr[0];
  return first !== undefined ? `/dash/${stream}_${first.name}/index.mpd` : `/dash/${stream}/index.mpd`;
}

/** ffmpeg publishing the lavfi test pattern + tone, keyframes aligned to the HLS fragment. */
export function testSourceArgs(ffmpeg: string, lab: Lab, url: string): string[] {
  const fps = lab.media.fps;
  const gop = String(Math.round(fps * lab.media.hls.fragment));
  return [
    ffmpeg, "-hide_banner", "-nostats", "-loglevel", "warning", "-re",
    "-f", "lavfi", "-i", `testsrc2=size=640x360:rate=${fps}`,
    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
    "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
    "-r", String(fps), "-g", gop, "-keyint_min", gop, "-sc_threshold", "0", "-b:v", "600k",
    "-c:a", "aac", "-b:a", "96k", "-ar", "48000",
    "-f", "flv", url,
  ];
}

/** ffmpeg pulling a camera/encoder URL and publishing it unchanged. */
export function pullSourceArgs(ffmpeg: string, input: string, url: string): string[] {
  const rtsp = input.startsWith("rtsp://") ? ["-rtsp_transport", "tcp"] : [];
  return [ffmpeg, "-hide_banner", "-nostats", "-loglevel", "warning", ...rtsp, "-i", input, "-c", "copy", "-f", "flv", url];
}

export function buildLocalPlan(inputs: PlanInputs): LocalPlan {
  const { lab, plane, layout, env, binaries } = inputs;
  const paths = layout.nginx;
  const logs = paths.logs;
  const files: PlannedFile[] = [];
  const processes: ProcessSpec[] = [];

  processes.push({
    name: "redis",
    kind: "redis",
    argv: [binaries.redis, "--bind", plane.redis.host, "--port", String(plane.redis.port), "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no", "--dir", layout.state, "--logfile", ""],
    log: join(logs, "redis.log"),
    ready: { kind: "tcp", host: plane.redis.host, port: plane.redis.port },
    listens: [plane.redis],
    reload: "restart",
    secretArgs: [],
    configHash: hash(String(plane.redis.port), plane.redis.host),
  });

  const routerConfig: RouterConfig = {
    listen: plane.router,
    redis: plane.redis,
    servers: plane.mediaServers.map((m) => m.name),
    streams: lab.streams.map((s) => {
      const placement = plane.streams.find((p) => p.name === s.name);
      return pulledByMediaServer(s) ? { name: s.name, staticServer: placement?.server } : { name: s.name, key: inputs.keyHashes.get(s.name) };
    }),
    abrSuffixes: lab.media.abr.map((r) => r.name),
    cacheMs: 1000,
  };
  const routerFile = join(layout.conf, "router.json");
  const routerJson = `${JSON.stringify(routerConfig, null, 2)}\n`;
  files.push({ path: routerFile, content: routerJson, mode: 0o600 });
  processes.push({
    name: "router",
    kind: "router",
    argv: [binaries.node, binaries.routerScript, "--config", routerFile],
    log: join(logs, "router.log"),
    ready: { kind: "http", host: plane.router.host, port: plane.router.port, path: "/healthz" },
    listens: [plane.router],
    reload: "sighup",
    secretArgs: [],
    configHash: hash(routerJson),
  });

  const nginxProcess = (name: string, kind: ProcessKind, content: string, ready: Endpoint, listens: Endpoint[]): void => {
    const file = join(layout.conf, `${name}.conf`);
    files.push({ path: file, content, mode: 0o644 });
    processes.push({
      name,
      kind,
      argv: [binaries.nginx, "-p", layout.state, "-e", join(logs, `${name}.error.log`), "-c", file],
      log: join(logs, `${name}.out.log`),
      ready: { kind: "http", host: ready.host, port: ready.port, path: "/healthz" },
      listens,
      reload: "sighup",
      secretArgs: [],
      configHash: hash(content),
    });
  };

  for (const server of plane.mediaServers) {
    nginxProcess(server.name, "media", renderMediaServerConf(lab, plane, server, paths, env), server.http, [server.http, server.rtmp]);
  }
  nginxProcess("origin", "origin", renderOriginConf(lab, plane, paths, env), plane.origin, [plane.origin]);
  for (const edge of plane.edges) {
    nginxProcess(`edge-${edge.name}`, "edge", renderEdgeConf(lab, plane, edge, paths, env), edge.http, [edge.http]);
  }

  for (const placement of plane.streams) {
    const stream = lab.streams.find((s) => s.name === placement.name);
    const server = plane.mediaServers.find((m) => m.name === placement.server);
    if (stream === undefined || server === undefined) continue;
    if (pulledByMediaServer(stream)) continue;
    const key = inputs.keys.get(stream.name) ?? "";
    const url = `rtmp://${server.rtmp.host}:${server.rtmp.port}/live/${stream.name}?key=${encodeURIComponent(key)}`;
    const argv = stream.source.type === "url" ? pullSourceArgs(binaries.ffmpeg, stream.source.url, url) : testSourceArgs(binaries.ffmpeg, lab, url);
    processes.push({
      name: `source-${stream.name}`,
      kind: "source",
      argv,
      log: join(logs, `source-${stream.name}.log`),
      ready: undefined,
      listens: [],
      reload: "restart",
      secretArgs: [argv.length - 1],
      configHash: hash(...argv),
    });
  }

  for (const [name, content] of inputs.playerFiles) files.push({ path: join(paths.player, name), content, mode: 0o644 });

  const urls: StreamUrls[] = [];
  for (const stream of lab.streams) {
    for (const edge of plane.edges) {
      const base = `http://${edge.http.host}:${edge.http.port}`;
      const dash = dashPath(lab, stream.name);
      urls.push({
        stream: stream.name,
        edge: edge.name,
        hls: `${base}${hlsPath(lab, stream.name)}`,
        dash: dash === undefined ? undefined : `${base}${dash}`,
        player: `${base}/player/?stream=${encodeURIComponent(stream.name)}`,
      });
    }
  }

  const dirs = [layout.state, layout.conf, ...nginxDirectories(lab, plane, paths)];
  const workerDirs = [paths.media, paths.cache, paths.tmp, ...dirs.filter((d) => [paths.media, paths.tmp, paths.cache].some((root) => d.startsWith(`${root}/`)))];
  if (lab.media.record !== undefined) workerDirs.push(lab.media.record.path.startsWith("/") ? lab.media.record.path : `${layout.state}/${lab.media.record.path}`);
  const janitor = plane.edges.map((edge) => ({ dir: edgeMirrorPath(paths, edge), maxAgeSeconds: lab.edge.segmentTtl }));
  return { dirs, workerDirs, files, processes, urls, janitor };
}

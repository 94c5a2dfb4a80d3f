/**
 * The local lab as data: the files to write and the processes to run, in start order. Pure: the
 * caller resolves secrets and hashes keys, then writes the files and hands the processes to the
 * supervisor. No secret is ever in a process's argv: redis reads its configuration (password
 * included) from its standard input, the media servers include their callback secrets from
 * 0600 files, the test sources read their keys from 0600 files.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { z } from "zod";
import { sha256Hex, type KeyHash } from "../../media/keys.js";
import { watchedPlaylist } from "../../render/router.js";
import { ROUTER_DEFAULTS, ROUTER_NODE_OPTIONS, type RouterConfig } from "../../media/routing.js";
import type { DataPlane, Endpoint } from "../../model/dataplane.js";
import { publisherOf, type Lab } from "../../model/lab.js";
import type { TemplateEnvironment } from "../../render/environment.js";
import {
  edgeMirrorPath,
  nginxDirectories,
  nginxLogFiles,
  notifyIncludePath,
  renderEdgeConf,
  renderMediaNotifyConf,
  renderMediaServerConf,
  renderOriginConf,
  statusSocket,
} from "../../render/nginx.js";
import { generatedSecretPath } from "../../pipeline/secrets.js";
import { secretIds, type LocalLayout } from "./layout.js";

const EndpointSchema = z.strictObject({ host: z.string(), port: z.int() });

export const ProcessKind = z.enum(["redis", "router", "media", "origin", "edge", "source"]);
export type ProcessKind = z.infer<typeof ProcessKind>;

export const Readiness = z.strictObject({
  kind: z.enum(["tcp", "http"]),
  host: z.string(),
  port: z.int(),
  path: z.string().optional(),
});
export type Readiness = z.infer<typeof Readiness>;

export const UnprivilegedUser = z.strictObject({
  name: z.string(),
  uid: z.int(),
  gid: z.int(),
  /** A directory of its own (its home), or undefined. */
  home: z.string().optional(),
});
export type UnprivilegedUser = z.infer<typeof UnprivilegedUser>;

export const ProcessSpec = z.strictObject({
  name: z.string(),
  kind: ProcessKind,
  argv: z.array(z.string()).min(1),
  /** stdout and stderr go here. */
  log: z.string(),
  ready: Readiness.optional(),
  /** Every address:port the process listens on (checked free before the first start). */
  listens: z.array(EndpointSchema),
  /** nginx: SIGHUP reloads the configuration without dropping connections. */
  reload: z.enum(["sighup", "restart"]),
  /** Changes when the process's configuration changes (reload or restart on `up`). */
  configHash: z.string(),
  /** A file (it may hold secrets) given to the process as its standard input. */
  stdin: z.string().optional(),
  /** Run as this user instead of the supervisor's (only when the supervisor runs as root). */
  user: UnprivilegedUser.optional(),
});
export type ProcessSpec = z.infer<typeof ProcessSpec>;

/** Files under `dir` older than `maxAgeSeconds` are deleted periodically (edge segment files). */
export const JanitorTask = z.strictObject({ dir: z.string(), maxAgeSeconds: z.number() });
export type JanitorTask = z.infer<typeof JanitorTask>;

/** What the supervisor reads: supervisor.json. */
export const SupervisorSpec = z.strictObject({ processes: z.array(ProcessSpec), janitor: z.array(JanitorTask).default([]) });
export type SupervisorSpec = z.infer<typeof SupervisorSpec>;

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

/** Where an encoder publishes a stream (never with the key: `edgelab keys show` prints that). */
export interface Ingest {
  readonly stream: string;
  /** Who publishes it: the lab's test source, the user's encoder, or nobody (pulled). */
  readonly publisher: "source" | "external" | "pull";
  /** The RTMP server URL (OBS "Server"), e.g. rtmp://127.0.221.38:1935/live */
  readonly server: string;
  /** The media server that packages it. */
  readonly mediaServer: string;
}

export interface LocalPlan {
  readonly janitor: readonly JanitorTask[];
  readonly dirs: readonly string[];
  /** Directories nginx worker processes write to (chowned to nobody when running as root). */
  readonly workerDirs: readonly string[];
  readonly files: readonly PlannedFile[];
  readonly processes: readonly ProcessSpec[];
  readonly urls: readonly StreamUrls[];
  readonly ingest: readonly Ingest[];
  /** Log files, created 0600 before anything writes to them. */
  readonly logFiles: readonly string[];
  /** Directories only the lab's user may enter (secrets, status sockets, logs). */
  readonly privateDirs: readonly string[];
}

export interface Binaries {
  readonly nginx: string;
  readonly redis: string;
  readonly ffmpeg: string;
  readonly node: string;
  /** The router service's entry point (dist/media/router-server.js). */
  readonly routerScript: string;
  /** The test sources' publisher (dist/media/publisher.js). */
  readonly publisherScript: string;
}

/** The lab's secrets, resolved by the caller; only digests and file paths reach the plan's output. */
export interface LabSecrets {
  /** The users' publishing keys, hashed (scrypt). */
  readonly keyHashes: ReadonlyMap<string, KeyHash>;
  /** Keys minted for this lab run's test sources, per stream (kept in 0600 files). */
  readonly sourceKeys: ReadonlyMap<string, string>;
  /** Each media server's callback secret. */
  readonly mediaServers: ReadonlyMap<string, string>;
  readonly redisPassword: string;
}

export interface PlanInputs {
  readonly lab: Lab;
  readonly plane: DataPlane;
  readonly layout: LocalLayout;
  readonly env: TemplateEnvironment;
  readonly binaries: Binaries;
  readonly secrets: LabSecrets;
  /** The player page's files (index.html, hls.min.js), by name. */
  readonly playerFiles: ReadonlyMap<string, string>;
  /** When the lab is started as root: the user redis runs as. */
  readonly redisUser?: UnprivilegedUser | undefined;
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

/** Where each stream is published: its media server's RTMP application. */
export function ingestFor(lab: Lab, plane: DataPlane): Ingest[] {
  return plane.streams.flatMap((placement): Ingest[] => {
    const stream = lab.streams.find((s) => s.name === placement.name);
    const server = plane.mediaServers.find((m) => m.name === placement.server);
    if (stream === undefined || server === undefined) return [];
    return [{ stream: stream.name, publisher: publisherOf(stream), server: `rtmp://${server.rtmp.host}:${server.rtmp.port}/live`, mediaServer: server.name }];
  });
}

/** ffmpeg writing the lavfi test pattern + tone as FLV to its stdout, keyframes aligned to the HLS fragment. */
export function testSourceArgs(ffmpeg: string, lab: Lab): string[] {
  const fps = lab.media.fps;
  const gop = String(Math.round(fps * lab.media.hls.fragment));
  return [
    ffmpeg, "-hide_banner", "-nostats", "-loglevel", "warning", "-re",
    "-f", "lavfi", "-i", `testsrc2=size=640x360:rate=${fps}`,
    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
    "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
    "-r", String(fps), "-g", gop, "-keyint_min", gop, "-sc_threshold", "0", "-b:v", "600k",
    "-c:a", "aac", "-b:a", "96k", "-ar", "48000",
    ...FLV_TO_STDOUT,
  ];
}

/** ffmpeg pulling a camera/encoder URL and writing it unchanged as FLV to its stdout. */
export function pullSourceArgs(ffmpeg: string, input: string): string[] {
  const rtsp = input.startsWith("rtsp://") ? ["-rtsp_transport", "tcp"] : [];
  return [ffmpeg, "-hide_banner", "-nostats", "-loglevel", "warning", ...rtsp, "-i", input, "-c", "copy", ...FLV_TO_STDOUT];
}

/** FLV on a pipe: no seeking back to fill in duration and size. */
const FLV_TO_STDOUT = ["-f", "flv", "-flvflags", "no_duration_filesize", "pipe:1"] as const;

/** redis: loopback only, protected mode, a password, no persistence, CONFIG disabled. */
export function redisConf(plane: DataPlane, password: string, dir: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(password)) throw new Error("the redis password must be URL-safe");
  return [
    "# The local lab's redis. Written by edgelab (0600); given to redis on its standard input.",
    `bind ${plane.redis.host}`,
    `port ${plane.redis.port}`,
    "protected-mode yes",
    `requirepass ${password}`,
    'save ""',
    "appendonly no",
    "daemonize no",
    'logfile ""',
    `dir ${dir}`,
    'rename-command CONFIG ""',
    "",
  ].join("\n");
}

export function buildLocalPlan(inputs: PlanInputs): LocalPlan {
  const { lab, plane, layout, env, binaries, secrets } = inputs;
  const paths = layout.nginx;
  const logs = paths.logs;
  const files: PlannedFile[] = [];
  const processes: ProcessSpec[] = [];

  const redisUser = inputs.redisUser;
  const conf = redisConf(plane, secrets.redisPassword, redisUser === undefined ? layout.state : (redisUser.home ?? "/"));
  files.push({ path: layout.redisConf, content: conf, mode: 0o600 });
  processes.push({
    name: "redis",
    kind: "redis",
    // "-": the configuration comes from standard input (the 0600 file above).
    argv: [binaries.redis, "-"],
    log: join(logs, "redis.log"),
    ready: { kind: "tcp", host: plane.redis.host, port: plane.redis.port },
    listens: [plane.redis],
    reload: "restart",
    configHash: hash(conf, redisUser?.name ?? ""),
    stdin: layout.redisConf,
    user: redisUser,
  });

  const routerConfig: RouterConfig = {
    listen: plane.router,
    redis: { ...plane.redis, passwordFile: generatedSecretPath(layout.secrets, secretIds.redisPassword) },
    servers: plane.mediaServers.map((m) => ({
      name: m.name,
      secretSha256: sha256Hex(secrets.mediaServers.get(m.name) ?? ""),
      http: m.http,
      stat: { socket: statusSocket(paths, m.name) },
    })),
    streams: lab.streams.map((s) => {
      const placement = plane.streams.find((p) => p.name === s.name);
      const publisher = publisherOf(s);
      const sourceKey = secrets.sourceKeys.get(s.name);
      return {
        name: s.name,
        publisher,
        ...(publisher === "pull" ? { staticServer: placement?.server } : { key: secrets.keyHashes.get(s.name) }),
        ...(publisher === "source" && sourceKey !== undefined ? { sourceKeySha256: sha256Hex(sourceKey) } : {}),
        playlist: watchedPlaylist(lab, s.name),
      };
    }),
    abrSuffixes: lab.media.abr.map((r) => r.name),
    ...ROUTER_DEFAULTS,
  };
  const routerFile = join(layout.conf, "router.json");
  const routerJson = `${JSON.stringify(routerConfig, null, 2)}\n`;
  files.push({ path: routerFile, content: routerJson, mode: 0o600 });
  processes.push({
    name: "router",
    kind: "router",
    argv: [binaries.node, ...ROUTER_NODE_OPTIONS, binaries.routerScript, "--config", routerFile],
    log: join(logs, "router.log"),
    ready: { kind: "http", host: plane.router.host, port: plane.router.port, path: "/readyz" },
    listens: [plane.router],
    reload: "sighup",
    configHash: hash(routerJson),
  });

  const nginxProcess = (name: string, kind: ProcessKind, content: string, ready: Endpoint, listens: Endpoint[], included: readonly string[] = []): void => {
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
      configHash: hash(content, ...included),
    });
  };

  for (const server of plane.mediaServers) {
    const notify = renderMediaNotifyConf(plane, server, secrets.mediaServers.get(server.name) ?? "");
    files.push({ path: notifyIncludePath(paths, server), content: notify, mode: 0o600 });
    nginxProcess(server.name, "media", renderMediaServerConf(lab, plane, server, paths, env), server.http, [server.http, server.rtmp], [notify]);
  }
  nginxProcess("origin", "origin", renderOriginConf(lab, plane, paths, env), plane.origin, [plane.origin]);
  for (const edge of plane.edges) {
    nginxProcess(`edge-${edge.name}`, "edge", renderEdgeConf(lab, plane, edge, paths, env), edge.http, [edge.http]);
  }

  const ingest = ingestFor(lab, plane);
  for (const { stream: name, publisher, server: rtmp } of ingest) {
    const stream = lab.streams.find((s) => s.name === name);
    if (stream === undefined || publisher !== "source") continue;
    const encoder = stream.source.type === "url" ? pullSourceArgs(binaries.ffmpeg, stream.source.url) : testSourceArgs(binaries.ffmpeg, lab);
    const keyFile = generatedSecretPath(layout.secrets, secretIds.sourceKey(stream.name));
    const argv = [binaries.node, binaries.publisherScript, "--url", `${rtmp}/${stream.name}`, "--key-file", keyFile, "--", ...encoder];
    processes.push({
      name: `source-${stream.name}`,
      kind: "source",
      argv,
      log: join(logs, `source-${stream.name}.log`),
      listens: [],
      reload: "restart",
      configHash: hash(...argv, secrets.sourceKeys.get(stream.name) ?? ""),
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
  const logFiles = [...nginxLogFiles(plane, paths), ...processes.map((p) => p.log), ...processes.filter((p) => p.kind !== "redis" && p.kind !== "router" && p.kind !== "source").map((p) => join(logs, `${p.name}.error.log`))];
  return {
    dirs,
    workerDirs,
    files,
    processes,
    urls,
    ingest,
    janitor,
    logFiles: [...new Set([...logFiles, layout.supervisorLog])],
    privateDirs: [layout.secrets, paths.status, paths.logs],
  };
}

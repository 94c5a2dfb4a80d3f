/**
 * The stream-key router's decisions, without I/O: its configuration, which stream a viewer URL
 * names and where to send it, what a media server's callback says, what a media server's stat
 * page says is published, and what state a stream is in. Used by src/media/router-server.ts.
 */
import { z } from "zod";
import { KeyHash, sha256Hex } from "./keys.js";

const Endpoint = z.strictObject({ host: z.string().min(1), port: z.int().min(1).max(65535) });

/** Where a media server's rtmp_stat page answers: a unix socket (local lab) or host:port. */
export const StatEndpoint = z.union([z.strictObject({ socket: z.string().min(1) }), Endpoint]);
export type StatEndpoint = z.infer<typeof StatEndpoint>;

export const MediaServerRef = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9-]+$/),
  /** SHA-256 (hex) of the secret this media server presents in its callbacks. */
  secretSha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Its HTTP server (playlists). */
  http: Endpoint,
  stat: StatEndpoint,
});
export type MediaServerRef = z.infer<typeof MediaServerRef>;

export const RouterStream = z.strictObject({
  name: z.string().min(1),
  /**
   * source: the lab's own test source publishes it; external: the user's encoder does;
   * pull: the media server pulls it itself (staticServer).
   */
  publisher: z.enum(["source", "external", "pull"]),
  /** The user's publishing key, hashed (scrypt). */
  key: KeyHash.optional(),
  /** SHA-256 (hex) of the key minted for this lab run's test source. */
  sourceKeySha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  /** For pulled streams: the media server that pulls it (no publish registers it). */
  staticServer: z.string().optional(),
  /** The playlist whose advance says the stream is live (the first rendition's with ABR). */
  playlist: z.string().regex(/^\/hls\/[A-Za-z0-9_-]+\/index\.m3u8$/),
});
export type RouterStream = z.infer<typeof RouterStream>;

export const RouterConfig = z.strictObject({
  listen: Endpoint,
  redis: z.strictObject({ host: z.string().min(1), port: z.int().min(1).max(65535), passwordFile: z.string().min(1).optional() }),
  servers: z.array(MediaServerRef),
  streams: z.array(RouterStream),
  /** Rendition suffixes of the ABR ladder (360p -> URLs <stream>_360p/...). */
  abrSuffixes: z.array(z.string()),
  /**
   * SHA-256 (hex) of the lab's ABR transcoder credential: a rendition (<stream>_<suffix>) is
   * published into the media servers' `abr` application only with it (as the RTMP flashVer).
   */
  transcoderSha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  /** How long a found registration is kept in the local cache in front of redis, in ms. */
  cacheMs: z.int().min(0),
  /** How long "not registered" is kept, in ms (short: a publish must show up quickly). */
  negativeCacheMs: z.int().min(0),
  /** Most entries the local cache holds. */
  cacheEntries: z.int().min(1),
  /** How often registrations are reconciled with the media servers' stat pages, in ms. */
  reconcileMs: z.int().min(100),
  auth: z.strictObject({
    /** Key checks running at once (each is an scrypt on libuv's thread pool). */
    concurrency: z.int().min(1),
    /** Key checks waiting beyond that; more are refused at once. */
    queue: z.int().min(0),
    /** Failed attempts from one address within windowMs that block it for blockMs. */
    failures: z.int().min(1),
    windowMs: z.int().min(1),
    blockMs: z.int().min(1),
  }),
});
export type RouterConfig = z.infer<typeof RouterConfig>;

/**
 * The router's configuration file. Besides the values themselves, secrets may be named by the
 * files that hold them (the cluster placement mounts them from a Kubernetes Secret, so the
 * rendered file holds none): a media server's callback secret (`secretFile`, its SHA-256 is
 * kept) and a stream's key hash (`keyFile`, KeyHash JSON).
 */
export const RouterConfigFile = RouterConfig.extend({
  servers: z.array(
    MediaServerRef.extend({ secretSha256: MediaServerRef.shape.secretSha256.optional(), secretFile: z.string().min(1).optional() }).refine(
      (s) => (s.secretSha256 === undefined) !== (s.secretFile === undefined),
      "give exactly one of secretSha256 and secretFile",
    ),
  ),
  streams: z.array(RouterStream.extend({ keyFile: z.string().min(1).optional() }).refine((s) => s.key === undefined || s.keyFile === undefined, "give key or keyFile, not both")),
  /** A file holding the ABR transcoder's credential (its SHA-256 is kept), instead of transcoderSha256. */
  transcoderFile: z.string().min(1).optional(),
}).refine((c) => c.transcoderSha256 === undefined || c.transcoderFile === undefined, "give transcoderSha256 or transcoderFile, not both");
export type RouterConfigFile = z.infer<typeof RouterConfigFile>;

/** The configuration with every secret file read (`read` returns a file's content). */
export function resolveRouterConfig(config: RouterConfigFile, read: (path: string) => string): RouterConfig {
  const { transcoderFile, ...file } = config;
  return {
    ...file,
    ...(transcoderFile === undefined ? {} : { transcoderSha256: sha256Hex(read(transcoderFile).trim()) }),
    servers: file.servers.map(({ secretFile, secretSha256, ...server }) => ({
      ...server,
      secretSha256: secretSha256 ?? sha256Hex(read(secretFile ?? "").trim()),
    })),
    streams: file.streams.map(({ keyFile, ...stream }) => {
      if (keyFile === undefined) return stream;
      const parsed = KeyHash.safeParse(JSON.parse(read(keyFile)));
      if (!parsed.success) throw new Error(`${keyFile}: not a stream key hash (${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")})`);
      return { ...stream, key: parsed.data };
    }),
  };
}

/** Defaults for the tunables, shared by every placement. */
export const ROUTER_DEFAULTS = {
  cacheMs: 1000,
  negativeCacheMs: 250,
  cacheEntries: 1024,
  reconcileMs: 1000,
  auth: { concurrency: 1, queue: 64, failures: 5, windowMs: 60_000, blockMs: 60_000 },
} as const satisfies Partial<RouterConfig>;

/**
 * Node.js options the router runs with, in every placement. A 2 MB young generation: the router
 * keeps little, and V8's default (16 MB semi-spaces) lets a burst of requests grow the process by
 * ~30 MB that it never gives back (measured: 10,000 unknown-name lookups, +27 MB vs +3 MB).
 */
export const ROUTER_NODE_OPTIONS = ["--max-semi-space-size=2"] as const;

export type ParsedPath =
  | { readonly ok: true; readonly kind: "hls" | "dash"; readonly stream: string; readonly path: string }
  | { readonly ok: false; readonly status: 400 | 404; readonly reason: string };

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * /hls/<stream>/index.m3u8, /hls/<stream>/<n>.ts, /hls/<stream>.m3u8 (ABR master),
 * /hls/<stream>_<rendition>/..., /dash/<stream>/index.mpd, ...
 */
export function parseViewerPath(rawPath: string, abrSuffixes: readonly string[]): ParsedPath {
  const path = rawPath.split("?", 1)[0] ?? "";
  const match = /^\/(hls|dash)\/(.+)$/.exec(path);
  if (match === null) return { ok: false, status: 404, reason: "not a stream URL" };
  const kind = match[1] === "dash" ? "dash" : "hls";
  const parts = (match[2] ?? "").split("/");
  if (parts.length > 2 || parts.some((p) => !SEGMENT.test(p) || p.includes(".."))) return { ok: false, status: 400, reason: "malformed stream path" };
  const first = parts[0] ?? "";
  let dir = first;
  if (parts.length === 1) {
    // Only the ABR master playlist sits at the top level: /hls/<stream>.m3u8
    if (kind !== "hls" || !first.endsWith(".m3u8")) return { ok: false, status: 404, reason: "not a stream URL" };
    dir = first.slice(0, -".m3u8".length);
  }
  let stream = dir;
  for (const suffix of abrSuffixes) {
    if (dir.endsWith(`_${suffix}`)) {
      stream = dir.slice(0, -(suffix.length + 1));
      break;
    }
  }
  return { ok: true, kind, stream, path };
}

/** The stream a rendition name (<stream>_<suffix>) belongs to, or undefined when it is none. */
export function renditionOf(name: string, abrSuffixes: readonly string[]): { stream: string; suffix: string } | undefined {
  for (const suffix of abrSuffixes) {
    if (name.endsWith(`_${suffix}`) && name.length > suffix.length + 1) return { stream: name.slice(0, -(suffix.length + 1)), suffix };
  }
  return undefined;
}

/** The internal location the origin front serves a stream's file from. */
export function accelRedirect(server: string, path: string): string {
  return `/_media/${server}${path}`;
}

/** What a media server's on_publish / on_publish_done callback says. */
export interface PublishCall {
  readonly name: string;
  /** nginx-rtmp's connection number: identifies the publishing session on that server. */
  readonly client: string;
  readonly addr: string;
  readonly key: string | undefined;
  /** The publisher's RTMP flashVer (the ABR transcoder presents its credential there). */
  readonly flashver: string | undefined;
}

/** Arguments nginx-rtmp sets itself; the publisher's own URL arguments follow them, raw. */
const SINGLE = ["name", "clientid", "addr", "key", "call", "app", "flashver"] as const;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Parses a callback's query string, decoding it exactly once. Refuses control characters
 * anywhere (nginx-rtmp copies the publisher's URL arguments into its request unescaped) and
 * any of nginx-rtmp's own arguments given twice (a publisher appending `&name=` or `&clientid=`).
 */
export function parsePublishCall(query: string): { ok: true; call: PublishCall } | { ok: false; reason: string } {
  const params = new URLSearchParams(query);
  for (const [name, value] of params) {
    if (CONTROL.test(name) || CONTROL.test(value)) return { ok: false, reason: "control characters in the publish arguments" };
  }
  for (const name of SINGLE) if (params.getAll(name).length > 1) return { ok: false, reason: `argument '${name}' given more than once` };
  const name = params.get("name") ?? "";
  const client = params.get("clientid") ?? "";
  if (!/^\d{1,20}$/.test(client)) return { ok: false, reason: "no session id (clientid)" };
  const key = params.get("key");
  const flashver = params.get("flashver");
  return {
    ok: true,
    call: { name, client, addr: params.get("addr") ?? "unknown address", key: key === null || key === "" ? undefined : key, flashver: flashver === null || flashver === "" ? undefined : flashver },
  };
}

/** A stream being published on a media server, from its rtmp_stat page. */
export interface StatSession {
  readonly stream: string;
  readonly client: string;
}

function unescapeXml(text: string): string {
  return text.replace(/&(lt|gt|amp|quot|apos);/g, (_, e: string) => ({ lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" })[e] ?? "");
}

/** The publishing sessions of one RTMP application in nginx-rtmp's `rtmp_stat all` XML. */
export function parseStat(xml: string, application = "live"): StatSession[] {
  const sessions: StatSession[] = [];
  for (const app of xml.split("<application>").slice(1)) {
    const appName = /^\s*<name>([^<]*)<\/name>/.exec(app)?.[1];
    if (appName === undefined || unescapeXml(appName) !== application) continue;
    for (const stream of app.split("<stream>").slice(1)) {
      const name = /^\s*<name>([^<]*)<\/name>/.exec(stream)?.[1];
      if (name === undefined) continue;
      for (const client of stream.split("<client>").slice(1)) {
        const body = client.split("</client>", 1)[0] ?? "";
        const id = /<id>(\d+)<\/id>/.exec(body)?.[1];
        if (id !== undefined && body.includes("<publishing/>")) sessions.push({ stream: unescapeXml(name), client: id });
      }
    }
  }
  return sessions;
}

export type StreamStateName = "live" | "waiting for publisher" | "stalled";

export interface StreamObservation {
  readonly publisher: RouterStream["publisher"];
  /** A publishing session (or a static pull) exists, and since when (ms). */
  readonly sessionSince: number | undefined;
  /** When the playlist last changed (ms), if ever. */
  readonly lastAdvance: number | undefined;
  /** EXT-X-TARGETDURATION in seconds, when a playlist was seen. */
  readonly targetDuration: number | undefined;
  /** The stream was live at some point since the router started. */
  readonly everLive: boolean;
}

/**
 * live: the playlist advanced within the last 3 target durations.
 * stalled (a failure): a publisher has been connected for 3 target durations without the
 * playlist advancing, or a stream the lab feeds itself was live and no longer advances.
 * waiting for publisher (not a failure): never published since the router started, or a stream
 * fed by the user's own encoder whose encoder is not connected (or has just connected).
 */
export function streamState(o: StreamObservation, now: number): StreamStateName {
  const window = 3 * (o.targetDuration ?? 2) * 1000;
  if (o.lastAdvance !== undefined && now - o.lastAdvance <= window) return "live";
  if (o.sessionSince !== undefined) {
    if (now - o.sessionSince > window) return "stalled";
    return o.publisher !== "external" && o.everLive ? "stalled" : "waiting for publisher";
  }
  if (o.publisher === "external") return "waiting for publisher";
  return o.everLive ? "stalled" : "waiting for publisher";
}

/**
 * The stream-key router's decisions, without I/O: which stream a viewer URL names, and where to
 * send it. Used by the router service (src/media/router-server.ts).
 */
import type { KeyHash } from "./keys.js";

export interface RouterStream {
  readonly name: string;
  /** Hashed publishing key; absent for streams the media server pulls itself. */
  readonly key?: KeyHash | undefined;
  /** For pulled streams: the media server that pulls it (no publish registers it). */
  readonly staticServer?: string | undefined;
}

export interface RouterConfig {
  readonly listen: { readonly host: string; readonly port: number };
  readonly redis: { readonly host: string; readonly port: number };
  /** Media server names the origin front has internal locations for. */
  readonly servers: readonly string[];
  readonly streams: readonly RouterStream[];
  /** Rendition suffixes of the ABR ladder (360p -> URLs <stream>_360p/...). */
  readonly abrSuffixes: readonly string[];
  /** How long a lookup is kept in the local cache in front of redis, in ms. */
  readonly cacheMs: number;
}

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

/** The internal location the origin front serves a stream's file from. */
export function accelRedirect(server: string, path: string): string {
  return `/_media/${server}${path}`;
}

/**
 * The smoke test: per stream and per edge, checks that a viewer would notice failing, each with
 * the value it measured. Works against the local lab (targets from the data plane) and against
 * any deployment by URL.
 */
import { execFile } from "node:child_process";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { promisify } from "node:util";
import { parseMpd } from "../media/dash.js";
import { compareReload, parsePlaylist, targetDurationProblems, totalDuration, type MediaPlaylist } from "../media/hls.js";
import type { StreamStateName } from "../media/routing.js";
import { parseRtmpUrl, RtmpError, rtmpPublish } from "../media/rtmp.js";
import { sleep } from "../util/sleep.js";

const exec = promisify(execFile);

export interface SmokeTarget {
  /**
   * Edge name (for the report) and base URL, e.g. http://127.0.222.41:8080; `host`: the Host
   * header every request to it carries (a cluster's Ingress reached by its IP before DNS answers).
   */
  readonly edges: readonly { readonly name: string; readonly url: string; readonly host?: string }[];
  /** The origin front the edges pull from (for the edge-lag check); optional. */
  readonly origin: string | undefined;
  readonly streams: readonly { readonly name: string; readonly hlsPath: string; readonly dashPath: string | undefined }[];
  /** rtmp://host:port/live of a media server, for the wrong-key check; optional. */
  readonly ingest: string | undefined;
  /**
   * Each stream's state from the stream-key router (the local lab). Streams waiting for their
   * publisher are reported as such (not a failure) and not checked further; stalled ones fail.
   * Undefined (smoke by URL): every stream is checked.
   */
  readonly states: ReadonlyMap<string, StreamStateName> | undefined;
  readonly ffmpeg: string;
  readonly ffprobe: string;
  /** Longest a playlist may trail the origin's, in seconds. */
  readonly maxLagSeconds: number;
}

export interface CheckResult {
  readonly check: string;
  readonly stream: string | undefined;
  readonly edge: string | undefined;
  readonly ok: boolean;
  /** What was measured, e.g. "200 application/vnd.apple.mpegurl", "lag 0.42 s". */
  readonly value: string;
  readonly ms: number;
}

interface Fetched {
  status: number;
  type: string;
  body: Buffer;
  headers: Headers;
}

/**
 * One GET. fetch() cannot set the Host header, so requests go through node:http(s); `host`
 * overrides the header (the Ingress by its IP), otherwise it is the URL's.
 */
async function get(url: string, host?: string, timeoutMs = 5000): Promise<Fetched> {
  const target = new URL(url);
  const send = target.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise<Fetched>((resolve, reject) => {
    const req = send(target, { method: "GET", headers: { "User-Agent": "edgelab-smoke", ...(host !== undefined ? { Host: host } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (d: Buffer) => chunks.push(d));
      res.on("error", reject);
      res.on("end", () => {
        clearTimeout(timer);
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(", ") : v);
        resolve({ status: res.statusCode ?? 0, type: (headers.get("content-type") ?? "").split(";")[0]?.trim() ?? "", body: Buffer.concat(chunks), headers });
      });
    });
    const timer = setTimeout(() => {
      const err = new Error(`no answer from ${target.host}${host !== undefined ? ` (Host ${host})` : ""} within ${timeoutMs} ms`);
      err.name = "TimeoutError";
      req.destroy(err);
    }, timeoutMs);
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end();
  });
}

/** ffmpeg/ffprobe arguments that send the edge's Host header (the HLS demuxer passes them on to every segment). */
function hostArgs(host: string | undefined): string[] {
  return host === undefined ? [] : ["-headers", `Host: ${host}\r\n`];
}

/** The loopback address smoke's wrong-key attempt comes from. */
export const SMOKE_LOOPBACK_SOURCE = "127.0.0.2";

/** How often the live-edge check reloads the edge's and the origin's playlists. */
const POLL_MS = 100;

class Recorder {
  readonly results: CheckResult[] = [];
  async check(check: string, stream: string | undefined, edge: string | undefined, run: () => Promise<{ ok: boolean; value: string }>): Promise<boolean> {
    const started = performance.now();
    let outcome: { ok: boolean; value: string };
    try {
      outcome = await run();
    } catch (cause) {
      outcome = { ok: false, value: cause instanceof Error ? `${cause.name === "TimeoutError" ? "timeout" : "error"}: ${cause.message}` : String(cause) };
    }
    this.results.push({ check, stream, edge, ok: outcome.ok, value: outcome.value, ms: Math.round(performance.now() - started) });
    return outcome.ok;
  }
}

function media(text: string): MediaPlaylist {
  const p = parsePlaylist(text);
  if (p.kind !== "media") throw new Error(p.kind === "invalid" ? p.reason : "expected a media playlist, got a master playlist");
  return p;
}

const HLS_TYPE = "application/vnd.apple.mpegurl";

/** The media playlist URL a viewer ends up on: the URL itself, or a master's first variant. */
async function resolveMediaPlaylist(url: string, host: string | undefined): Promise<{ url: string; variants: string[] }> {
  const res = await get(url, host);
  const p = parsePlaylist(res.body.toString("utf8"));
  if (p.kind !== "master") return { url, variants: [] };
  const variants = p.variants.map((v) => new URL(v.uri, url).href);
  return { url: variants[0] ?? url, variants };
}

/** Playlists, the live edge and the edge's lag behind the origin: timing-sensitive, run first. */
async function playlistsOnEdge(r: Recorder, t: SmokeTarget, stream: SmokeTarget["streams"][number], edge: SmokeTarget["edges"][number]): Promise<string> {
  const s = stream.name;
  const e = edge.name;
  const entry = `${edge.url}${stream.hlsPath}`;
  let playlistUrl = entry;

  await r.check("hls-playlist", s, e, async () => {
    const res = await get(entry, edge.host);
    const value = `${res.status} ${res.type}`;
    if (res.status !== 200 || res.type !== HLS_TYPE) return { ok: false, value };
    const resolved = await resolveMediaPlaylist(entry, edge.host);
    playlistUrl = resolved.url;
    for (const v of resolved.variants) {
      const vr = await get(v, edge.host);
      if (vr.status !== 200 || vr.type !== HLS_TYPE) return { ok: false, value: `variant ${v}: ${vr.status} ${vr.type}` };
    }
    return { ok: true, value: resolved.variants.length > 0 ? `${value}, ${resolved.variants.length} variants` : value };
  });

  let current: MediaPlaylist | undefined;
  await r.check("hls-target-duration", s, e, async () => {
    current = media((await get(playlistUrl, edge.host)).body.toString("utf8"));
    const problems = targetDurationProblems(current);
    return { ok: problems.length === 0, value: problems[0] ?? `TARGETDURATION ${current.targetDuration ?? "?"}, EXTINF max ${Math.max(...current.segments.map((x) => x.duration)).toFixed(3)}` };
  });

  await r.check("hls-window", s, e, async () => {
    const p = current ?? media((await get(playlistUrl, edge.host)).body.toString("utf8"));
    const td = p.targetDuration ?? 0;
    const total = totalDuration(p);
    return { ok: td > 0 && total >= 3 * td, value: `${total.toFixed(1)} s listed (needs ≥ ${3 * td} s = 3 target durations)` };
  });

  // Live edge: reload every half target duration for 3 target durations; the origin is polled
  // alongside to measure how far the edge's playlist trails it.
  const td = current?.targetDuration ?? 2;
  const firstSeenEdge = new Map<string, number>();
  const firstSeenOrigin = new Map<string, number>();
  const originPlaylist = t.origin === undefined ? undefined : new URL(new URL(playlistUrl).pathname, t.origin).href;
  await r.check("hls-live-edge", s, e, async () => {
    let previous = media((await get(playlistUrl, edge.host)).body.toString("utf8"));
    let advanced = 0;
    const deadline = performance.now() + (3 * td + 1) * 1000;
    let lastReload = performance.now();
    while (performance.now() < deadline) {
      const [edgeText, originText] = await Promise.all([get(playlistUrl, edge.host).then((x) => x.body.toString("utf8")), originPlaylist === undefined ? Promise.resolve(undefined) : get(originPlaylist).then((x) => x.body.toString("utf8"))]);
      const now = performance.now();
      const next = media(edgeText);
      for (const seg of next.segments) if (!firstSeenEdge.has(seg.uri)) firstSeenEdge.set(seg.uri, now);
      if (originText !== undefined) for (const seg of media(originText).segments) if (!firstSeenOrigin.has(seg.uri)) firstSeenOrigin.set(seg.uri, now);
      if (now - lastReload >= (td * 1000) / 2) {
        const verdict = compareReload(previous, next);
        if (!verdict.ok) return { ok: false, value: verdict.problem };
        advanced += verdict.advanced;
        previous = next;
        lastReload = now;
      }
      await sleep(POLL_MS);
    }
    return { ok: advanced > 0, value: advanced > 0 ? `advanced ${advanced} segment(s) in ${3 * td + 1} s, sequence ${previous.mediaSequence}` : `stale: no new segment in ${3 * td + 1} s` };
  });

  if (originPlaylist !== undefined) {
    await r.check("edge-lag", s, e, () => {
      // Segments that appeared during the window at both (the first sighting is only a lower bound).
      const lags: number[] = [];
      const firstOrigin = Math.min(...firstSeenOrigin.values());
      for (const [uri, atOrigin] of firstSeenOrigin) {
        const atEdge = firstSeenEdge.get(uri);
        if (atEdge !== undefined && atOrigin > firstOrigin) lags.push(Math.max(0, atEdge - atOrigin) / 1000);
      }
      if (lags.length === 0) return Promise.resolve({ ok: false, value: "no new segment seen at both origin and edge" });
      const worst = Math.max(...lags);
      // Both sides are sampled every POLL_MS, so a measurement is only good to that much.
      return Promise.resolve({ ok: worst <= t.maxLagSeconds + POLL_MS / 1000, value: `max ${worst.toFixed(2)} s over ${lags.length} segment(s) (limit ${t.maxLagSeconds} s, sampled every ${POLL_MS} ms)` });
    });
  }

  return playlistUrl;
}

/** Checks that load the machine (decoding) or the cache: run after the timing-sensitive ones. */
async function segmentsOnEdge(r: Recorder, t: SmokeTarget, stream: SmokeTarget["streams"][number], edge: SmokeTarget["edges"][number], playlistUrl: string): Promise<void> {
  const s = stream.name;
  const e = edge.name;
  const entry = `${edge.url}${stream.hlsPath}`;
  let latestSegment: string | undefined;
  await r.check("hls-segment", s, e, async () => {
    const p = media((await get(playlistUrl, edge.host)).body.toString("utf8"));
    const last = p.segments.at(-1);
    if (last === undefined) return { ok: false, value: "playlist lists no segment" };
    latestSegment = new URL(last.uri, playlistUrl).href;
    const res = await get(latestSegment, edge.host);
    return { ok: res.status === 200 && res.type === "video/mp2t" && res.body.length > 0, value: `${res.status} ${res.type} ${res.body.length} B` };
  });

  await r.check("cache-hit-segment", s, e, async () => {
    if (latestSegment === undefined) return { ok: false, value: "no segment to fetch" };
    await get(latestSegment, edge.host);
    const again = await get(latestSegment, edge.host);
    const status = again.headers.get("x-cache-status") ?? "(no X-Cache-Status)";
    return { ok: status === "HIT", value: `second fetch: ${status}` };
  });

  await r.check("cache-hit-playlist", s, e, async () => {
    await get(playlistUrl, edge.host);
    const again = await get(playlistUrl, edge.host);
    const status = again.headers.get("x-cache-status") ?? "(no X-Cache-Status)";
    return { ok: status === "HIT", value: `second fetch within the TTL: ${status}` };
  });

  if (stream.dashPath !== undefined) {
    const mpdUrl = `${edge.url}${stream.dashPath}`;
    await r.check("dash", s, e, async () => {
      const res = await get(mpdUrl, edge.host);
      if (res.status !== 200 || res.type !== "application/dash+xml") return { ok: false, value: `MPD ${res.status} ${res.type}` };
      const mpd = parseMpd(res.body.toString("utf8"));
      if ("error" in mpd) return { ok: false, value: mpd.error };
      const parts: string[] = [];
      for (const rep of mpd.representations) {
        const init = await get(new URL(rep.init, mpdUrl).href, edge.host);
        if (init.status !== 200 || init.body.length === 0) return { ok: false, value: `${rep.id} init ${init.status}` };
        if (rep.latest === undefined) return { ok: false, value: `${rep.id}: empty timeline` };
        const seg = await get(new URL(rep.latest, mpdUrl).href, edge.host);
        if (seg.status !== 200 || seg.body.length === 0) return { ok: false, value: `${rep.id} segment ${rep.latest}: ${seg.status}` };
        parts.push(`${rep.id} init+${rep.latest}`);
      }
      return { ok: mpd.representations.length > 0, value: `200 application/dash+xml; ${parts.join(", ")}` };
    });
  }

  await r.check("ffprobe-decode", s, e, async () => {
    const { stdout } = await exec(t.ffprobe, ["-v", "error", "-rw_timeout", "5000000", ...hostArgs(edge.host), "-show_entries", "stream=codec_name,codec_type", "-of", "json", entry], { timeout: 20_000 });
    const codecs = ((JSON.parse(stdout) as { streams?: { codec_name?: string }[] }).streams ?? []).map((x) => x.codec_name ?? "?");
    // Decode two seconds of it, as a player would.
    await exec(t.ffmpeg, ["-v", "error", "-rw_timeout", "5000000", ...hostArgs(edge.host), "-i", entry, "-t", "2", "-f", "null", "-"], { timeout: 30_000 });
    return { ok: codecs.includes("h264") && codecs.includes("aac"), value: `decoded ${codecs.join(" + ") || "nothing"}` };
  });
}

export async function runSmoke(t: SmokeTarget, progress: (line: string) => void = () => undefined): Promise<CheckResult[]> {
  const r = new Recorder();
  const first = t.edges[0];
  if (first !== undefined) {
    await r.check("unknown-stream-404", undefined, first.name, async () => {
      const res = await get(`${first.url}/hls/edgelab-smoke-no-such-stream/index.m3u8`, first.host);
      return { ok: res.status === 404, value: `${res.status}` };
    });
    await r.check("cors-on-404", undefined, first.name, async () => {
      const res = await get(`${first.url}/hls/edgelab-smoke-no-such-stream/index.m3u8`, first.host);
      const cors = res.headers.get("access-control-allow-origin");
      return { ok: res.status === 404 && cors === "*", value: `${res.status}, Access-Control-Allow-Origin: ${cors ?? "(missing)"}` };
    });
  }
  const states = t.states;
  if (states !== undefined) {
    for (const stream of t.streams) {
      const state = states.get(stream.name);
      await r.check("stream-state", stream.name, undefined, () =>
        Promise.resolve(
          state === undefined
            ? { ok: false, value: "the router does not report this stream" }
            : { ok: state !== "stalled", value: state === "waiting for publisher" ? "waiting for publisher (not a failure: nothing checked further)" : state },
        ),
      );
    }
  }
  const live = t.streams.filter((stream) => states === undefined || states.get(stream.name) === "live");
  // Streams on edges run side by side (each waits ~3 target durations on the live edge); the
  // decoding checks come after, so they do not disturb the timing of the first.
  const pairs = live.flatMap((stream) => t.edges.map((edge) => ({ stream, edge })));
  progress(`watching the live edge of ${pairs.length} stream/edge pair(s)`);
  const playlists = await Promise.all(pairs.map(({ stream, edge }) => playlistsOnEdge(r, t, stream, edge)));
  progress("fetching segments, DASH and decoding through each edge");
  await Promise.all(pairs.map(({ stream, edge }, i) => segmentsOnEdge(r, t, stream, edge, playlists[i] ?? `${edge.url}${stream.hlsPath}`)));
  const ingest = t.ingest;
  const firstStream = t.streams[0];
  if (ingest !== undefined && firstStream !== undefined) {
    await r.check("wrong-key-refused", firstStream.name, undefined, async () => {
      const { host, port, app } = parseRtmpUrl(`${ingest}/${firstStream.name}`);
      // On loopback, from an address of its own: its deliberate failure must not count against
      // the address real encoders on this machine publish from (the router limits failures per address).
      const localAddress = host.startsWith("127.") ? SMOKE_LOOPBACK_SOURCE : undefined;
      try {
        const publisher = await rtmpPublish({ host, port, app, name: `${firstStream.name}?key=edgelab-smoke-wrong-key`, localAddress, timeoutMs: 15_000 });
        await publisher.close();
        return { ok: false, value: "the media server accepted a publish with a wrong key" };
      } catch (cause) {
        if (cause instanceof RtmpError && cause.refused) return { ok: true, value: `publisher refused (${cause.message})` };
        throw cause;
      }
    });
  }
  return r.results.sort((a, b) => (a.stream ?? "").localeCompare(b.stream ?? "") || (a.edge ?? "").localeCompare(b.edge ?? ""));
}

/**
 * HLS playlists (RFC 8216) and the live-edge rules of Eyevinn/hls-monitor. Pure.
 */

export interface Segment {
  readonly uri: string;
  readonly duration: number;
}

export interface MediaPlaylist {
  readonly kind: "media";
  readonly targetDuration: number | undefined;
  readonly mediaSequence: number;
  readonly segments: readonly Segment[];
  readonly endList: boolean;
}

export interface Variant {
  readonly uri: string;
  readonly bandwidth: number | undefined;
  readonly resolution: string | undefined;
}

export interface MasterPlaylist {
  readonly kind: "master";
  readonly variants: readonly Variant[];
}

export type Playlist = MediaPlaylist | MasterPlaylist | { readonly kind: "invalid"; readonly reason: string };

export function parsePlaylist(text: string): Playlist {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "");
  if (lines[0] !== "#EXTM3U") return { kind: "invalid", reason: "does not start with #EXTM3U" };
  if (lines.some((l) => l.startsWith("#EXT-X-STREAM-INF"))) {
    const variants: Variant[] = [];
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] ?? "";
      if (!line.startsWith("#EXT-X-STREAM-INF:")) continue;
      const uri = lines.slice(i + 1).find((l) => !l.startsWith("#"));
      if (uri === undefined) return { kind: "invalid", reason: "EXT-X-STREAM-INF without a URI" };
      const bandwidth = /BANDWIDTH=(\d+)/.exec(line)?.[1];
      variants.push({ uri, bandwidth: bandwidth === undefined ? undefined : Number(bandwidth), resolution: /RESOLUTION=(\d+x\d+)/.exec(line)?.[1] });
    }
    return { kind: "master", variants };
  }
  let targetDuration: number | undefined;
  let mediaSequence = 0;
  let pending: number | undefined;
  const segments: Segment[] = [];
  for (const line of lines) {
    if (line.startsWith("#EXT-X-TARGETDURATION:")) targetDuration = Number(line.slice(22));
    else if (line.startsWith("#EXT-X-MEDIA-SEQUENCE:")) mediaSequence = Number(line.slice(22));
    else if (line.startsWith("#EXTINF:")) pending = Number.parseFloat(line.slice(8));
    else if (!line.startsWith("#")) {
      if (pending === undefined || Number.isNaN(pending)) return { kind: "invalid", reason: `segment ${line} has no EXTINF` };
      segments.push({ uri: line, duration: pending });
      pending = undefined;
    }
  }
  return { kind: "media", targetDuration, mediaSequence, segments, endList: lines.includes("#EXT-X-ENDLIST") };
}

/** RFC 8216 4.3.3.1: every EXTINF, rounded, is at most the target duration. */
export function targetDurationProblems(p: MediaPlaylist): string[] {
  if (p.targetDuration === undefined) return ["no EXT-X-TARGETDURATION"];
  const td = p.targetDuration;
  return p.segments.filter((s) => Math.round(s.duration) > td).map((s) => `EXTINF ${s.duration} of ${s.uri} exceeds EXT-X-TARGETDURATION ${td}`);
}

export function totalDuration(p: MediaPlaylist): number {
  return p.segments.reduce((sum, s) => sum + s.duration, 0);
}

export type ReloadVerdict =
  | { readonly ok: true; readonly advanced: number }
  | { readonly ok: false; readonly problem: string };

/**
 * Comparing a reload with the previous copy (hls-monitor): the media sequence never decreases;
 * an unchanged sequence means an unchanged list; if it advanced by d, the new first segment is
 * the old list's segment d (segment continuity).
 */
export function compareReload(previous: MediaPlaylist, next: MediaPlaylist): ReloadVerdict {
  const d = next.mediaSequence - previous.mediaSequence;
  if (d < 0) return { ok: false, problem: `media sequence went back from ${previous.mediaSequence} to ${next.mediaSequence}` };
  if (d === 0) {
    const same = previous.segments.length <= next.segments.length && previous.segments.every((s, i) => next.segments[i]?.uri === s.uri);
    return same ? { ok: true, advanced: next.segments.length - previous.segments.length } : { ok: false, problem: `media sequence ${next.mediaSequence} unchanged but the segment list changed` };
  }
  const expected = previous.segments[d];
  if (expected !== undefined && next.segments[0]?.uri !== expected.uri) {
    return { ok: false, problem: `media sequence advanced by ${d} but the first segment is ${next.segments[0]?.uri ?? "none"}, expected ${expected.uri}` };
  }
  return { ok: true, advanced: d };
}

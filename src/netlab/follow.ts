/**
 * A segment-following HLS client's record and what it says about playback. Pure.
 *
 * The client (src/netlab/follower.ts) reloads the media playlist every half target duration and
 * downloads each new segment once, every request on a fresh connection (as a player that lost
 * its connection would open one) carrying a unique query string so the edges' access logs tell
 * which edge served it. The playback model is a player's: it starts with the segments of the
 * first playlist's last three target durations buffered, plays segments in sequence order, and
 * stalls when the next segment has not arrived by the time the previous one finished playing.
 */
import { z } from "zod";

export const FollowEvent = z.object({
  /** ms since the client started, at the response's end (or the failure). */
  t: z.number(),
  kind: z.enum(["playlist", "segment"]),
  uri: z.string(),
  /** HTTP status; 0 when no answer came (refused, reset, timed out). */
  status: z.number(),
  /** The unique query string the request carried. */
  token: z.string(),
  /** Media sequence number (segments). */
  seq: z.number().optional(),
  /** Seconds of media (segments). */
  duration: z.number().optional(),
  error: z.string().optional(),
});
export type FollowEvent = z.infer<typeof FollowEvent>;

export function parseFollowLog(text: string): FollowEvent[] {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => FollowEvent.parse(JSON.parse(l)));
}

export interface Stall {
  /** Seconds since the client started. */
  readonly at: number;
  readonly seconds: number;
}

export interface FollowReport {
  readonly requests: number;
  /** Requests without an HTTP answer (connection refused or reset, timeout). */
  readonly failed: number;
  /** Answers with a 5xx status. */
  readonly serverErrors: number;
  /** Answers with a 4xx status. */
  readonly clientErrors: number;
  /** Segments downloaded (200). */
  readonly segments: number;
  /** Sequence numbers the client asked for but never got (they scrolled out of the window meanwhile). */
  readonly missing: readonly number[];
  /** The longest time without any successful response (seconds). */
  readonly gap: number;
  /** When the player model stalled, and for how long. */
  readonly stalls: readonly Stall[];
  readonly longestStall: number;
}

/** The playback verdict of a follower's record. */
export function followReport(events: readonly FollowEvent[]): FollowReport {
  const ok = events.filter((e) => e.status === 200).sort((a, b) => a.t - b.t);
  let gap = 0;
  for (let i = 1; i < ok.length; i++) gap = Math.max(gap, ((ok[i]?.t ?? 0) - (ok[i - 1]?.t ?? 0)) / 1000);
  const segmentsOk = new Map<number, FollowEvent>();
  for (const e of events) if (e.kind === "segment" && e.status === 200 && e.seq !== undefined && !segmentsOk.has(e.seq)) segmentsOk.set(e.seq, e);
  const listed = new Set(events.filter((e) => e.kind === "segment" && e.seq !== undefined).map((e) => e.seq ?? 0));
  const missing = [...listed].filter((s) => !segmentsOk.has(s)).sort((a, b) => a - b);

  // The player: plays segments in sequence order from the first one downloaded.
  const order = [...segmentsOk.values()].sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
  const stalls: Stall[] = [];
  let playedUntil: number | undefined;
  for (const seg of order) {
    const arrived = seg.t / 1000;
    if (playedUntil === undefined) {
      playedUntil = arrived;
    } else if (arrived > playedUntil) {
      stalls.push({ at: playedUntil, seconds: arrived - playedUntil });
      playedUntil = arrived;
    }
    playedUntil += seg.duration ?? 0;
  }
  const answered = events.filter((e) => e.status !== 0);
  return {
    requests: events.length,
    failed: events.length - answered.length,
    serverErrors: answered.filter((e) => e.status >= 500).length,
    clientErrors: answered.filter((e) => e.status >= 400 && e.status < 500).length,
    segments: segmentsOk.size,
    missing,
    gap,
    stalls,
    longestStall: Math.max(0, ...stalls.map((s) => s.seconds)),
  };
}

/**
 * A segment-following HLS client, run inside a client namespace by the failover test and
 * benchmark:
 *
 *   ip netns exec <client ns> node dist/netlab/follower.js <playlist URL> <record file> <token prefix>
 *
 * It follows the live playlist (the first variant of a master playlist) like a player: starts
 * with the last three target durations of segments, reloads the playlist every half target
 * duration, downloads each new segment once (retrying a failed one while it is listed), every
 * request on a fresh connection with a unique query string (<prefix>-<n>). Each request's
 * outcome is appended to the record as a JSON line (src/netlab/follow.ts reads it). It runs
 * until SIGTERM.
 */
import { appendFileSync } from "node:fs";
import { request } from "node:http";
import { parsePlaylist } from "../media/hls.js";
import { sleep } from "../util/sleep.js";
import type { FollowEvent } from "./follow.js";

interface Answer {
  readonly status: number;
  readonly body: Buffer;
  readonly error?: string;
}

function get(url: string, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve) => {
    // agent: false — a fresh connection per request, as a player reconnecting would.
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on("error", (error) => resolve({ status: 0, body: Buffer.alloc(0), error: error.message }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (error) => resolve({ status: 0, body: Buffer.alloc(0), error: error.message }));
    req.end();
  });
}

export async function follow(start: string, record: string, prefix: string, stopped: () => boolean): Promise<void> {
  const t0 = Date.now();
  let n = 0;
  const log = (event: FollowEvent): void => appendFileSync(record, `${JSON.stringify(event)}\n`);
  const fetchLogged = async (kind: FollowEvent["kind"], url: string, extra: Pick<FollowEvent, "seq" | "duration">, timeoutMs: number): Promise<Answer> => {
    n += 1;
    const token = `${prefix}-${n}`;
    const answer = await get(`${url}?${token}`, timeoutMs);
    log({ t: Date.now() - t0, kind, uri: new URL(url).pathname, status: answer.status, token, ...extra, ...(answer.error !== undefined ? { error: answer.error } : {}) });
    return answer;
  };

  // The master playlist names the media playlist to follow.
  let mediaUrl = start;
  for (;;) {
    const answer = await fetchLogged("playlist", start, {}, 2000);
    const playlist = parsePlaylist(answer.body.toString("utf8"));
    if (answer.status === 200 && playlist.kind === "master" && playlist.variants[0] !== undefined) {
      mediaUrl = new URL(playlist.variants[0].uri, start).href;
      break;
    }
    if (answer.status === 200 && playlist.kind === "media") break;
    if (stopped()) return;
    await sleep(500);
  }

  let next: number | undefined;
  let target = 2;
  while (!stopped()) {
    const answer = await fetchLogged("playlist", mediaUrl, {}, 2000);
    const playlist = parsePlaylist(answer.body.toString("utf8"));
    if (answer.status === 200 && playlist.kind === "media") {
      target = playlist.targetDuration ?? target;
      const listed = playlist.segments.map((s, i) => ({ ...s, seq: playlist.mediaSequence + i }));
      if (next === undefined) {
        // Start three target durations behind the live edge, as players do.
        let buffered = 0;
        let first = listed.length;
        while (first > 0 && buffered < 3 * target) {
          first -= 1;
          buffered += listed[first]?.duration ?? 0;
        }
        next = listed[first]?.seq ?? playlist.mediaSequence;
      }
      for (const seg of listed) {
        if (seg.seq < next || stopped()) continue;
        const got = await fetchLogged("segment", new URL(seg.uri, mediaUrl).href, { seq: seg.seq, duration: seg.duration }, Math.max(2000, target * 1000));
        if (got.status !== 200) break; // retried on the next reload while it is listed
        next = seg.seq + 1;
      }
      // A segment that scrolled out of the window before it could be fetched is lost: move on.
      const oldest = listed[0]?.seq;
      if (oldest !== undefined && next < oldest) next = oldest;
    }
    await sleep((target * 1000) / 2);
  }
}

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const [url, record, prefix] = process.argv.slice(2);
  if (url === undefined || record === undefined || prefix === undefined) {
    process.stderr.write("usage: follower <playlist URL> <record file> <token prefix>\n");
    process.exit(2);
  }
  let stop = false;
  process.on("SIGTERM", () => {
    stop = true;
  });
  follow(url, record, prefix, () => stop)
    .then(() => process.exit(0))
    .catch((error: unknown) => {
      process.stderr.write(`follower: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    });
}

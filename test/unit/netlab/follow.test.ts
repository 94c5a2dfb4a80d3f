import { describe, expect, it } from "vitest";
import { followReport, parseFollowLog, type FollowEvent } from "../../../src/netlab/follow.js";
import { regionVerdict } from "../../../src/netlab/smoke.js";

let n = 0;
const seg = (t: number, seq: number, status = 200): FollowEvent => ({ t, kind: "segment", uri: `/hls/live/${seq}.ts`, status, token: `x-${(n += 1)}`, seq, duration: 2 });
const pl = (t: number, status = 200): FollowEvent => ({ t, kind: "playlist", uri: "/hls/live/index.m3u8", status, token: `x-${(n += 1)}` });

describe("followReport", () => {
  it("sees no stall when each segment arrives before the one before has played out", () => {
    const r = followReport([pl(0), seg(100, 1), seg(200, 2), seg(300, 3), pl(2000), seg(2100, 4), pl(4000), seg(4100, 5)]);
    expect(r).toMatchObject({ requests: 8, failed: 0, serverErrors: 0, segments: 5, missing: [], stalls: [], longestStall: 0 });
    expect(r.gap).toBeCloseTo(1.9, 5);
  });

  it("measures a stall as the wait for the next segment after the buffer ran dry", () => {
    // Three segments (6 s) buffered by 0.3 s; the fourth arrives at 9.3 s: 3 s without media.
    const r = followReport([seg(100, 1), seg(200, 2), seg(300, 3), pl(2000, 0), pl(4000, 0), pl(6000, 502), seg(9300, 4)]);
    expect(r.stalls).toHaveLength(1);
    expect(r.stalls[0]?.at).toBeCloseTo(6.1, 5);
    expect(r.longestStall).toBeCloseTo(3.2, 5);
    expect(r.failed).toBe(2);
    expect(r.serverErrors).toBe(1);
    expect(r.gap).toBeCloseTo(9.0, 5);
  });

  it("counts a segment retried until it came as one segment, and one it never got as missing", () => {
    const r = followReport([seg(100, 1), seg(500, 2, 0), seg(1500, 2), seg(2500, 3, 503)]);
    expect(r.segments).toBe(2);
    expect(r.missing).toEqual([3]);
    expect(r.failed).toBe(1);
    expect(r.serverErrors).toBe(1);
  });

  it("reads the follower's record, line by line, and refuses a line that is not one", () => {
    const events = [pl(0), seg(10, 7)];
    expect(parseFollowLog(`${events.map((e) => JSON.stringify(e)).join("\n")}\n`)).toEqual(events);
    expect(() => parseFollowLog('{"t": 1, "kind": "video"}\n')).toThrow();
  });
});

describe("regionVerdict (smoke through the service address)", () => {
  const west = ["west-lab-k3s01", "west-lab-k3s02"];
  it("passes when the region's own edges served the playlist and the segment", () => {
    expect(regionVerdict(west, { status: 200, edges: ["west-lab-k3s02"] }, { status: 200, edges: ["west-lab-k3s01"], bytes: 1000 })).toEqual({ ok: true, value: "served by west-lab-k3s02, west-lab-k3s01 (playlist 200, segment 200, 1000 bytes)" });
  });
  it("fails when the other region's edge served a request", () => {
    const v = regionVerdict(west, { status: 200, edges: ["west-lab-k3s01"] }, { status: 200, edges: ["east-lab-k3s01"], bytes: 10 });
    expect(v.ok).toBe(false);
    expect(v.value).toBe("served by east-lab-k3s01, not by this region's west-lab-k3s01/west-lab-k3s02");
  });
  it("fails on no answer, on an empty playlist and when no edge logged the requests", () => {
    expect(regionVerdict(west, { status: 0, edges: [] }, undefined).value).toBe("playlist no answer; no segment in the playlist; no edge logged the requests");
    expect(regionVerdict(west, { status: 200, edges: ["west-lab-k3s01"] }, { status: 404, edges: ["west-lab-k3s01"], bytes: 0 }).value).toBe("segment 404");
  });
});

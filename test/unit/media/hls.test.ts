import { describe, expect, it } from "vitest";
import { compareReload, parsePlaylist, targetDurationProblems, totalDuration, type MediaPlaylist } from "../../../src/media/hls.js";

const playlist = (seq: number, segments: string[], td = 2, dur = 2): string =>
  ["#EXTM3U", "#EXT-X-VERSION:3", `#EXT-X-MEDIA-SEQUENCE:${seq}`, `#EXT-X-TARGETDURATION:${td}`, ...segments.flatMap((s) => [`#EXTINF:${dur.toFixed(3)},`, s])].join("\n");

function media(text: string): MediaPlaylist {
  const p = parsePlaylist(text);
  if (p.kind !== "media") throw new Error("not media");
  return p;
}

describe("parsePlaylist", () => {
  it("reads a media playlist as nginx-rtmp writes it", () => {
    const p = media("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-MEDIA-SEQUENCE:17\n#EXT-X-TARGETDURATION:2\n#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\n1795285482306.ts\n#EXTINF:1.967,\n1795285484307.ts\n");
    expect(p).toEqual({ kind: "media", targetDuration: 2, mediaSequence: 17, endList: false, segments: [{ uri: "1795285482306.ts", duration: 2 }, { uri: "1795285484307.ts", duration: 1.967 }] });
    expect(totalDuration(p)).toBeCloseTo(3.967);
  });
  it("reads a master playlist's variants", () => {
    const p = parsePlaylist("#EXTM3U\n#EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH=896000,RESOLUTION=640x360\nlive_360p/index.m3u8\n#EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH=496000,RESOLUTION=426x240\nlive_240p/index.m3u8\n");
    expect(p).toEqual({ kind: "master", variants: [{ uri: "live_360p/index.m3u8", bandwidth: 896000, resolution: "640x360" }, { uri: "live_240p/index.m3u8", bandwidth: 496000, resolution: "426x240" }] });
  });
  it("rejects what is not a playlist", () => {
    expect(parsePlaylist("<html>")).toEqual({ kind: "invalid", reason: "does not start with #EXTM3U" });
    expect(parsePlaylist("#EXTM3U\n#EXT-X-TARGETDURATION:2\nseg.ts\n")).toEqual({ kind: "invalid", reason: "segment seg.ts has no EXTINF" });
  });
});

describe("target duration rules", () => {
  it("accepts EXTINF that round to the target duration", () => {
    expect(targetDurationProblems(media(playlist(0, ["a.ts"], 2, 2.4)))).toEqual([]);
  });
  it("flags an EXTINF longer than the target duration", () => {
    expect(targetDurationProblems(media(playlist(0, ["a.ts"], 2, 2.6)))).toEqual(["EXTINF 2.6 of a.ts exceeds EXT-X-TARGETDURATION 2"]);
  });
  it("flags a missing target duration", () => {
    expect(targetDurationProblems(media("#EXTM3U\n#EXTINF:2,\na.ts"))).toEqual(["no EXT-X-TARGETDURATION"]);
  });
});

describe("reload rules (hls-monitor)", () => {
  const a = media(playlist(10, ["10.ts", "11.ts", "12.ts"]));
  it("accepts an advance whose first segment continues the old list", () => {
    expect(compareReload(a, media(playlist(11, ["11.ts", "12.ts", "13.ts"])))).toEqual({ ok: true, advanced: 1 });
  });
  it("accepts an unchanged list, and one that only grew", () => {
    expect(compareReload(a, a)).toEqual({ ok: true, advanced: 0 });
    expect(compareReload(a, media(playlist(10, ["10.ts", "11.ts", "12.ts", "13.ts"])))).toEqual({ ok: true, advanced: 1 });
  });
  it("rejects a media sequence going back", () => {
    expect(compareReload(a, media(playlist(9, ["9.ts"])))).toEqual({ ok: false, problem: "media sequence went back from 10 to 9" });
  });
  it("rejects a changed list under an unchanged sequence", () => {
    expect(compareReload(a, media(playlist(10, ["10.ts", "x.ts", "12.ts"])))).toMatchObject({ ok: false });
  });
  it("rejects broken continuity", () => {
    expect(compareReload(a, media(playlist(11, ["99.ts", "13.ts"])))).toEqual({ ok: false, problem: "media sequence advanced by 1 but the first segment is 99.ts, expected 11.ts" });
  });
});

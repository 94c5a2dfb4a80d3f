import { describe, expect, it } from "vitest";
import { hashKey, verifyKey } from "../../../src/media/keys.js";
import { accelRedirect, parseViewerPath } from "../../../src/media/routing.js";

describe("parseViewerPath", () => {
  it.each([
    ["/hls/live/index.m3u8", "hls", "live"],
    ["/hls/live/1795285482306.ts", "hls", "live"],
    ["/dash/live/index.mpd", "dash", "live"],
    ["/dash/live/init.m4v", "dash", "live"],
    ["/hls/live.m3u8", "hls", "live"],
    ["/hls/live_360p/index.m3u8", "hls", "live"],
    ["/dash/sports_240p/123.m4a", "dash", "sports"],
    ["/hls/my_stream/index.m3u8?x=1", "hls", "my_stream"],
  ])("%s names stream %s/%s", (path, kind, stream) => {
    expect(parseViewerPath(path, ["360p", "240p"])).toMatchObject({ ok: true, kind, stream });
  });
  it.each([
    ["/hls/../etc/passwd", 400],
    ["/hls/a/b/c.ts", 400],
    ["/hls/.hidden/index.m3u8", 400],
    ["/other/live/index.m3u8", 404],
    ["/dash/live.mpd", 404],
  ])("refuses %s with %d", (path, status) => {
    expect(parseViewerPath(path, [])).toMatchObject({ ok: false, status });
  });
  it("builds the internal redirect target", () => {
    expect(accelRedirect("media-1", "/hls/live/index.m3u8")).toBe("/_media/media-1/hls/live/index.m3u8");
  });
});

describe("stream keys", () => {
  it("verify against their hash and nothing else", () => {
    const stored = hashKey("s3cret");
    expect(stored.hash).not.toContain("s3cret");
    expect(verifyKey("s3cret", stored)).toBe(true);
    expect(verifyKey("s3cret ", stored)).toBe(false);
    expect(verifyKey("", stored)).toBe(false);
  });
  it("are salted: the same key hashes differently twice", () => {
    expect(hashKey("k").hash).not.toBe(hashKey("k").hash);
  });
});

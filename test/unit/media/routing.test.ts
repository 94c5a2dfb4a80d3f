import { describe, expect, it } from "vitest";
import { hashKey, verifyKey } from "../../../src/media/keys.js";
import { accelRedirect, parsePublishCall, parseStat, parseViewerPath, renditionOf, streamState, type StreamObservation } from "../../../src/media/routing.js";

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

describe("parsePublishCall", () => {
  const nginx = "app=live&flashver=FMLE/3.0%20(compatible%3B%20edgelab)&swfurl=&tcurl=rtmp://127.0.0.1:1935/live&pageurl=&addr=127.0.0.1&clientid=12&call=publish&name=live&type=live";
  it("reads name, session, address and key, decoding once", () => {
    expect(parsePublishCall(`${nginx}&key=a%2Bb%252F`)).toEqual({ ok: true, call: { name: "live", client: "12", addr: "127.0.0.1", key: "a+b%2F", flashver: "FMLE/3.0 (compatible; edgelab)" } });
    expect(parsePublishCall(nginx)).toMatchObject({ ok: true, call: { key: undefined } });
  });
  it.each([
    ["a raw CR/LF in the publisher's arguments", `${nginx}&key=x\r\nGET /auth/publish-done/media-0 HTTP/1.0`],
    ["an encoded CR/LF", `${nginx}&key=x%0d%0aHost:%20y`],
    ["a NUL", `${nginx}&key=x%00`],
    ["a second name", `${nginx}&key=k&name=sports`],
    ["a second flashver (the ABR transcoder's credential travels there)", `${nginx}&key=k&flashver=guess`],
    ["a second session id", `${nginx}&key=k&clientid=1`],
    ["a second key", `${nginx}&key=k&key=j`],
  ])("refuses %s", (_, query) => {
    expect(parsePublishCall(query).ok).toBe(false);
  });
  it("refuses a call without a numeric session id", () => {
    expect(parsePublishCall("name=live&key=k")).toEqual({ ok: false, reason: "no session id (clientid)" });
    expect(parsePublishCall("name=live&key=k&clientid=x1")).toEqual({ ok: false, reason: "no session id (clientid)" });
  });
});

describe("renditionOf", () => {
  it("splits <stream>_<suffix> for the ladder's suffixes only", () => {
    expect(renditionOf("live_360p", ["360p", "240p"])).toEqual({ stream: "live", suffix: "360p" });
    expect(renditionOf("my_cam_240p", ["360p", "240p"])).toEqual({ stream: "my_cam", suffix: "240p" });
    expect(renditionOf("live_720p", ["360p", "240p"])).toBeUndefined();
    expect(renditionOf("_360p", ["360p"])).toBeUndefined();
    expect(renditionOf("live", ["360p"])).toBeUndefined();
    expect(renditionOf("live_360p", [])).toBeUndefined();
  });
});

describe("parseStat", () => {
  // As nginx-rtmp 1.2.2 writes it (captured from the lab): one publisher, one player, an abr app.
  const xml = `<?xml version="1.0" encoding="utf-8" ?>
<rtmp><nginx_version>1.22.1</nginx_version><server><application><name>live</name><live>
<stream><name>live</name><time>4906</time><client><id>7</id><address>127.0.0.1</address><flashver>FMLE/3.0</flashver><publishing/><active/></client>
<client><id>9</id><address>127.0.0.1</address><flashver>LNX 9,0,124,2</flashver><active/></client><publishing/><active/></stream>
<stream><name>idle</name><time>10</time><client><id>11</id><address>127.0.0.1</address></client></stream>
<nclients>3</nclients></live></application>
<application><name>abr</name><live><stream><name>live_360p</name><client><id>8</id><publishing/></client></stream></live></application></server></rtmp>`;
  it("lists the publishing sessions of the live application only", () => {
    expect(parseStat(xml)).toEqual([{ stream: "live", client: "7" }]);
    expect(parseStat(xml, "abr")).toEqual([{ stream: "live_360p", client: "8" }]);
    expect(parseStat("")).toEqual([]);
  });
});

describe("streamState", () => {
  const now = 100_000;
  const o = (over: Partial<StreamObservation>): StreamObservation => ({ publisher: "source", sessionSince: undefined, lastAdvance: undefined, targetDuration: 2, everLive: false, ...over });
  it.each<[string, Partial<StreamObservation>, string]>([
    ["advanced within 3 target durations", { lastAdvance: now - 5_900, everLive: true, sessionSince: now - 60_000 }, "live"],
    ["never published since the start", {}, "waiting for publisher"],
    ["the lab's source just connected", { sessionSince: now - 1_000 }, "waiting for publisher"],
    ["connected for 3 target durations without a new segment", { sessionSince: now - 6_100 }, "stalled"],
    ["was live, the lab's source is gone", { everLive: true, lastAdvance: now - 6_100 }, "stalled"],
    ["was live, the lab's source reconnected and has no segment yet", { everLive: true, lastAdvance: now - 20_000, sessionSince: now - 1_000 }, "stalled"],
    ["the user's encoder disconnected", { publisher: "external", everLive: true, lastAdvance: now - 30_000 }, "waiting for publisher"],
    ["the user's encoder reconnected a moment ago", { publisher: "external", everLive: true, lastAdvance: now - 30_000, sessionSince: now - 1_000 }, "waiting for publisher"],
    ["the user's encoder connected but sends nothing usable", { publisher: "external", sessionSince: now - 6_100 }, "stalled"],
    ["a longer target duration widens the window", { targetDuration: 6, everLive: true, lastAdvance: now - 17_000 }, "live"],
  ])("%s: %s", (_, over, state) => {
    expect(streamState(o(over), now)).toBe(state);
  });
});

import { describe, expect, it } from "vitest";
import { decodeAmf0Values, encodeAmf0Values } from "../../../src/media/amf0.js";
import { FlvReader } from "../../../src/media/flv.js";
import { ChunkReader, chunkMessage, parseRtmpUrl, type RtmpMessage } from "../../../src/media/rtmp.js";

describe("AMF0", () => {
  it("round-trips what RTMP commands carry", () => {
    const values = ["connect", 1, { app: "live", tcUrl: "rtmp://h/live", n: 2.5, ok: true, nested: { a: null } }, null, [1, "x"], false];
    expect(decodeAmf0Values(encodeAmf0Values(values))).toEqual(values);
  });
  it("refuses truncated data instead of reading past it", () => {
    const bytes = encodeAmf0Values(["onStatus", 0, null, { code: "NetStream.Publish.Start" }]);
    expect(() => decodeAmf0Values(bytes.subarray(0, bytes.length - 3))).toThrow(/truncated/);
  });
});

describe("RTMP chunks", () => {
  const message = (size: number, timestamp: number): RtmpMessage => ({ type: 9, streamId: 1, timestamp, payload: Buffer.from(Array.from({ length: size }, (_, i) => i % 251)) });

  it("reassembles a message split over chunks, fed one byte at a time", () => {
    const m = message(10_000, 1234);
    const wire = chunkMessage(6, m, 128);
    const reader = new ChunkReader();
    const out: RtmpMessage[] = [];
    for (const byte of wire) out.push(...reader.push(Buffer.from([byte])));
    expect(out).toEqual([m]);
  });
  it("carries extended timestamps (>= 0xFFFFFF) in every chunk of a message", () => {
    const m = message(300, 0x1234567);
    expect(new ChunkReader().push(chunkMessage(4, m, 128))).toEqual([m]);
  });
  it("follows the peer's Set Chunk Size and type 1/2/3 headers with timestamp deltas", () => {
    const size = Buffer.alloc(4);
    size.writeUInt32BE(4096, 0);
    const setChunkSize = chunkMessage(2, { type: 1, streamId: 0, timestamp: 0, payload: size }, 128);
    // Type 0 (ts 100, 200 bytes), then type 1 (delta 40, 5 bytes, type 8), type 2 (delta 40), type 3 (same delta).
    const first = chunkMessage(5, { type: 9, streamId: 1, timestamp: 100, payload: Buffer.alloc(200, 1) }, 4096);
    const type1 = Buffer.concat([Buffer.from([0x40 | 5, 0, 0, 40, 0, 0, 5, 8]), Buffer.alloc(5, 2)]);
    const type2 = Buffer.concat([Buffer.from([0x80 | 5, 0, 0, 40]), Buffer.alloc(5, 3)]);
    const type3 = Buffer.concat([Buffer.from([0xc0 | 5]), Buffer.alloc(5, 4)]);
    const out = new ChunkReader().push(Buffer.concat([setChunkSize, first, type1, type2, type3]));
    expect(out.map((m) => [m.type, m.timestamp, m.payload.length, m.payload[0]])).toEqual([
      [1, 0, 4, 0],
      [9, 100, 200, 1],
      [8, 140, 5, 2],
      [8, 180, 5, 3],
      [8, 220, 5, 4],
    ]);
  });
  it("parses rtmp:// URLs, keeping the stream name's arguments", () => {
    expect(parseRtmpUrl("rtmp://127.0.0.1:1936/live/cam?key=a%2Fb")).toEqual({ host: "127.0.0.1", port: 1936, app: "live", name: "cam?key=a%2Fb" });
    expect(parseRtmpUrl("rtmp://media.example/live/cam")).toMatchObject({ port: 1935 });
    expect(() => parseRtmpUrl("rtmp://h/live?key=secret")).toThrow(/not an rtmp/);
    expect(() => parseRtmpUrl("rtmp://h/live?key=secret")).not.toThrow(/secret/);
  });
});

describe("FLV", () => {
  it("splits ffmpeg's FLV stream into tags, however it arrives", () => {
    const header = Buffer.from([0x46, 0x4c, 0x56, 1, 5, 0, 0, 0, 9, 0, 0, 0, 0]);
    const tag = (type: number, ts: number, data: Buffer): Buffer => {
      const h = Buffer.alloc(11);
      h[0] = type;
      h.writeUIntBE(data.length, 1, 3);
      h.writeUIntBE(ts & 0xffffff, 4, 3);
      h[7] = (ts >>> 24) & 0xff;
      const prev = Buffer.alloc(4);
      prev.writeUInt32BE(11 + data.length, 0);
      return Buffer.concat([h, data, prev]);
    };
    const stream = Buffer.concat([header, tag(18, 0, Buffer.from("meta")), tag(9, 33, Buffer.alloc(1000, 7)), tag(8, 0x01000005, Buffer.from([1, 2]))]);
    const reader = new FlvReader();
    const tags = [];
    for (let i = 0; i < stream.length; i += 7) tags.push(...reader.push(stream.subarray(i, i + 7)));
    expect(tags.map((t) => [t.type, t.timestamp, t.data.length])).toEqual([
      [18, 0, 4],
      [9, 33, 1000],
      [8, 0x01000005, 2],
    ]);
    expect(() => new FlvReader().push(Buffer.from("not flv at all"))).toThrow(/not an FLV/);
  });
});

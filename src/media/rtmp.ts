/**
 * A small RTMP publisher (the client side of Adobe's RTMP 1.0 specification): handshake,
 * chunking, connect / createStream / publish, then audio, video and metadata messages.
 *
 * The local lab's test sources publish through it (src/media/publisher.ts), so the stream key
 * travels from a 0600 file to the media server without ever being in a process's argv.
 */
import { randomBytes } from "node:crypto";
import { connect as tcpConnect, type Socket } from "node:net";
import { decodeAmf0Values, encodeAmf0, encodeAmf0Values, type Amf0Value } from "./amf0.js";

export const MSG_SET_CHUNK_SIZE = 1;
export const MSG_USER_CONTROL = 4;
export const MSG_AUDIO = 8;
export const MSG_VIDEO = 9;
export const MSG_DATA_AMF0 = 18;
export const MSG_COMMAND_AMF0 = 20;

const HANDSHAKE_SIZE = 1536;
const OUT_CHUNK_SIZE = 4096;
const EXTENDED = 0xffffff;

export interface RtmpMessage {
  readonly type: number;
  readonly streamId: number;
  readonly timestamp: number;
  readonly payload: Buffer;
}

interface ChunkStreamState {
  timestamp: number;
  delta: number;
  length: number;
  type: number;
  streamId: number;
  extended: boolean;
  parts: Buffer[];
  received: number;
}

/** Reassembles messages from chunks; honours the peer's Set Chunk Size. */
export class ChunkReader {
  private pending: Buffer = Buffer.alloc(0);
  private chunkSize = 128;
  private readonly streams = new Map<number, ChunkStreamState>();

  push(data: Buffer): RtmpMessage[] {
    this.pending = this.pending.length === 0 ? data : Buffer.concat([this.pending, data]);
    const out: RtmpMessage[] = [];
    for (;;) {
      const message = this.next();
      if (message === "incomplete") break;
      if (message === undefined) continue;
      if (message.type === MSG_SET_CHUNK_SIZE && message.payload.length >= 4) this.chunkSize = message.payload.readUInt32BE(0) & 0x7fffffff;
      out.push(message);
    }
    return out;
  }

  /** One chunk: a complete message, undefined (more chunks to come) or "incomplete" (need bytes). */
  private next(): RtmpMessage | undefined | "incomplete" {
    const buf = this.pending;
    if (buf.length < 1) return "incomplete";
    const first = buf[0] ?? 0;
    const fmt = first >> 6;
    let csid = first & 0x3f;
    let at = 1;
    if (csid === 0) {
      if (buf.length < 2) return "incomplete";
      csid = 64 + (buf[1] ?? 0);
      at = 2;
    } else if (csid === 1) {
      if (buf.length < 3) return "incomplete";
      csid = 64 + (buf[1] ?? 0) + (buf[2] ?? 0) * 256;
      at = 3;
    }
    const headerSize = [11, 7, 3, 0][fmt] ?? 0;
    if (buf.length < at + headerSize) return "incomplete";
    const previous = this.streams.get(csid);
    if (fmt !== 0 && previous === undefined) throw new Error(`RTMP chunk stream ${csid} starts with a type-${fmt} header`);
    const state: ChunkStreamState = previous ?? { timestamp: 0, delta: 0, length: 0, type: 0, streamId: 0, extended: false, parts: [], received: 0 };
    let field = 0;
    if (fmt <= 2) field = buf.readUIntBE(at, 3);
    let length = state.length;
    let type = state.type;
    let streamId = state.streamId;
    if (fmt <= 1) {
      length = buf.readUIntBE(at + 3, 3);
      type = buf[at + 6] ?? 0;
    }
    if (fmt === 0) streamId = buf.readUInt32LE(at + 7);
    at += headerSize;
    const extended = fmt <= 2 ? field === EXTENDED : state.extended;
    if (extended) {
      if (buf.length < at + 4) return "incomplete";
      field = buf.readUInt32BE(at);
      at += 4;
    }
    const starting = state.received === 0;
    const take = Math.min(this.chunkSize, length - (starting ? 0 : state.received));
    if (buf.length < at + take) return "incomplete";
    // Only now, with the whole chunk in hand, is the state updated.
    this.pending = buf.subarray(at + take);
    state.length = length;
    state.type = type;
    state.streamId = streamId;
    state.extended = extended;
    if (fmt === 0) {
      state.timestamp = field;
      state.delta = 0;
    } else if (fmt === 1 || fmt === 2) {
      state.delta = field;
      state.timestamp += field;
    } else if (starting) {
      state.timestamp += state.delta;
    }
    state.parts.push(buf.subarray(at, at + take));
    state.received += take;
    this.streams.set(csid, state);
    if (state.received < state.length) return undefined;
    const payload = Buffer.concat(state.parts);
    state.parts = [];
    state.received = 0;
    return { type: state.type, streamId: state.streamId, timestamp: state.timestamp, payload };
  }
}

/** One message as chunks: a type-0 header, then type-3 continuation chunks. */
export function chunkMessage(csid: number, message: RtmpMessage, chunkSize = OUT_CHUNK_SIZE): Buffer {
  if (csid < 2 || csid > 63) throw new Error(`chunk stream id ${csid} out of range 2-63`);
  const extended = message.timestamp >= EXTENDED;
  const header = Buffer.alloc(12 + (extended ? 4 : 0));
  header[0] = csid;
  header.writeUIntBE(extended ? EXTENDED : message.timestamp, 1, 3);
  header.writeUIntBE(message.payload.length, 4, 3);
  header[7] = message.type;
  header.writeUInt32LE(message.streamId, 8);
  if (extended) header.writeUInt32BE(message.timestamp >>> 0, 12);
  const parts: Buffer[] = [header];
  const continuation = Buffer.alloc(1 + (extended ? 4 : 0));
  continuation[0] = 0xc0 | csid;
  if (extended) continuation.writeUInt32BE(message.timestamp >>> 0, 1);
  for (let offset = 0; offset < message.payload.length; offset += chunkSize) {
    if (offset > 0) parts.push(continuation);
    parts.push(message.payload.subarray(offset, offset + chunkSize));
  }
  return Buffer.concat(parts);
}

export interface PublishTarget {
  readonly host: string;
  readonly port: number;
  /** The RTMP application, e.g. "live". */
  readonly app: string;
  /** The stream name as sent in the publish command, arguments included ("live?key=..."). */
  readonly name: string;
  /** Source address to connect from (tests use many loopback addresses). */
  readonly localAddress?: string | undefined;
  /** How long connecting and being accepted may take. */
  readonly timeoutMs?: number | undefined;
  /** The connect command's flashVer (what the client says it is). */
  readonly flashVer?: string | undefined;
}

export class RtmpError extends Error {
  override readonly name = "RtmpError";
  constructor(
    message: string,
    /** The server refused (closed the connection or answered an error status), as opposed to a network failure. */
    readonly refused: boolean,
  ) {
    super(message);
  }
}

/** rtmp://host[:port]/app/name[?args] -> its parts (the name keeps its arguments). */
export function parseRtmpUrl(url: string): { host: string; port: number; app: string; name: string } {
  const match = /^rtmp:\/\/([^/:?#]+)(?::(\d+))?\/([^/?#]+)\/([^#]+)$/.exec(url);
  if (match === null) throw new RtmpError(`not an rtmp://host[:port]/app/name URL: ${url.replace(/\?.*$/, "?…")}`, false);
  return { host: match[1] ?? "", port: Number(match[2] ?? 1935), app: match[3] ?? "", name: match[4] ?? "" };
}

/** A publishing session: send media, watch for the end. */
export class RtmpPublisher {
  private closedReason: string | undefined;
  readonly closed: Promise<string>;

  constructor(
    private readonly socket: Socket,
    private readonly streamId: number,
    closed: Promise<string>,
  ) {
    this.closed = closed.then((reason) => {
      this.closedReason = reason;
      return reason;
    });
  }

  get isClosed(): boolean {
    return this.closedReason !== undefined || this.socket.destroyed;
  }

  /** Sends one message; false when the socket's buffer is full (wait for drain()). */
  send(type: typeof MSG_AUDIO | typeof MSG_VIDEO | typeof MSG_DATA_AMF0, timestamp: number, payload: Buffer): boolean {
    const csid = type === MSG_AUDIO ? 4 : type === MSG_VIDEO ? 6 : 5;
    const body = type === MSG_DATA_AMF0 ? Buffer.concat([encodeAmf0("@setDataFrame"), payload]) : payload;
    return this.socket.write(chunkMessage(csid, { type, streamId: this.streamId, timestamp, payload: body }));
  }

  drain(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed || !this.socket.writableNeedDrain) return resolve();
      const done = (): void => {
        this.socket.off("drain", done);
        this.socket.off("close", done);
        resolve();
      };
      this.socket.once("drain", done);
      this.socket.once("close", done);
    });
  }

  /** Ends the session (deleteStream, then close). */
  close(): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    this.socket.write(chunkMessage(3, { type: MSG_COMMAND_AMF0, streamId: 0, timestamp: 0, payload: encodeAmf0Values(["deleteStream", 0, null, this.streamId]) }));
    return new Promise((resolve) => {
      this.socket.end(() => resolve());
      setTimeout(() => {
        this.socket.destroy();
        resolve();
      }, 1000).unref();
    });
  }
}

function describe(info: Amf0Value): string {
  if (info === null || typeof info !== "object" || Array.isArray(info)) return "no details";
  const code = typeof info["code"] === "string" ? info["code"] : "?";
  const description = typeof info["description"] === "string" ? `: ${info["description"]}` : "";
  return `${code}${description}`;
}

/**
 * Connects, handshakes and publishes. Resolves once the server answers NetStream.Publish.Start;
 * rejects with RtmpError (refused: true) when the server closes the connection or answers an
 * error status — nginx-rtmp's answer to an on_publish callback that is not 2xx.
 */
export function rtmpPublish(target: PublishTarget): Promise<RtmpPublisher> {
  const timeoutMs = target.timeoutMs ?? 15_000;
  const where = `${target.host}:${target.port}`;
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: target.host, port: target.port, localAddress: target.localAddress });
    socket.setNoDelay(true);
    let settled = false;
    let closeReason = "connection closed";
    let resolveClosed: (reason: string) => void = () => undefined;
    const closed = new Promise<string>((r) => (resolveClosed = r));
    const fail = (message: string, refused: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(new RtmpError(message, refused));
    };
    const timer = setTimeout(() => fail(`no answer from ${where} within ${timeoutMs} ms`, false), timeoutMs);
    socket.once("error", (err) => {
      closeReason = err.message;
      fail(`RTMP connection to ${where} failed: ${err.message}`, false);
    });
    socket.once("close", () => {
      resolveClosed(closeReason);
      fail(`${where} closed the connection before publishing started (publish refused)`, true);
    });

    let phase: "s0s1" | "s2" | "chunks" = "s0s1";
    let handshake = Buffer.alloc(0);
    const reader = new ChunkReader();
    const results = new Map<number, (values: Amf0Value[]) => void>();
    let streamId = 0;
    const command = (csid: number, msgStream: number, values: Amf0Value[]): void => {
      socket.write(chunkMessage(csid, { type: MSG_COMMAND_AMF0, streamId: msgStream, timestamp: 0, payload: encodeAmf0Values(values) }));
    };
    const call = (name: string, txn: number, args: Amf0Value[], then: (values: Amf0Value[]) => void): void => {
      results.set(txn, then);
      command(3, 0, [name, txn, ...args]);
    };

    const onMessage = (message: RtmpMessage): void => {
      // nginx-rtmp pings idle peers (ping 60s): answer PingRequest (6) with PingResponse (7).
      if (message.type === MSG_USER_CONTROL && message.payload.length >= 6 && message.payload.readUInt16BE(0) === 6) {
        const pong = Buffer.from(message.payload.subarray(0, 6));
        pong.writeUInt16BE(7, 0);
        socket.write(chunkMessage(2, { type: MSG_USER_CONTROL, streamId: 0, timestamp: 0, payload: pong }));
        return;
      }
      if (message.type !== MSG_COMMAND_AMF0) return;
      const values = decodeAmf0Values(message.payload);
      const name = values[0];
      if (name === "_result" || name === "_error") {
        const txn = typeof values[1] === "number" ? values[1] : -1;
        const then = results.get(txn);
        results.delete(txn);
        if (name === "_error") fail(`${where} answered an error: ${describe(values[3])}`, true);
        else then?.(values);
      } else if (name === "onStatus") {
        const info = values[3];
        const code = info !== null && typeof info === "object" && !Array.isArray(info) ? info["code"] : undefined;
        if (code === "NetStream.Publish.Start") {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          socket.removeAllListeners("close");
          socket.removeAllListeners("error");
          socket.on("error", (err) => (closeReason = err.message));
          socket.once("close", () => resolveClosed(closeReason));
          resolve(new RtmpPublisher(socket, streamId, closed));
        } else if (typeof code === "string" && /^NetStream\.Publish\./.test(code)) {
          fail(`${where} refused the publish: ${describe(info)}`, true);
        }
      }
    };

    socket.on("data", (data: Buffer) => {
      try {
        if (phase !== "chunks") {
          handshake = Buffer.concat([handshake, data]);
          if (phase === "s0s1") {
            if (handshake.length < 1 + HANDSHAKE_SIZE) return;
            if (handshake[0] !== 3) return fail(`${where} is not an RTMP server (handshake version ${handshake[0] ?? "?"})`, false);
            socket.write(handshake.subarray(1, 1 + HANDSHAKE_SIZE)); // C2 echoes S1
            handshake = handshake.subarray(1 + HANDSHAKE_SIZE);
            phase = "s2";
          }
          if (handshake.length < HANDSHAKE_SIZE) return;
          const rest = handshake.subarray(HANDSHAKE_SIZE);
          phase = "chunks";
          start();
          if (rest.length === 0) return;
          data = rest;
        }
        for (const message of reader.push(data)) onMessage(message);
      } catch (cause) {
        fail(`bad RTMP data from ${where}: ${(cause as Error).message}`, false);
      }
    });

    const start = (): void => {
      const size = Buffer.alloc(4);
      size.writeUInt32BE(OUT_CHUNK_SIZE, 0);
      socket.write(chunkMessage(2, { type: MSG_SET_CHUNK_SIZE, streamId: 0, timestamp: 0, payload: size }, 128));
      const tcUrl = `rtmp://${where}/${target.app}`;
      call("connect", 1, [{ app: target.app, type: "nonprivate", flashVer: target.flashVer ?? "FMLE/3.0 (compatible; edgelab)", tcUrl }], () => {
        call("createStream", 2, [null], (values) => {
          streamId = typeof values[3] === "number" ? values[3] : 1;
          command(8, streamId, ["publish", 0, null, target.name, "live"]);
        });
      });
    };

    socket.once("connect", () => {
      const c1 = Buffer.concat([Buffer.alloc(8), randomBytes(HANDSHAKE_SIZE - 8)]); // time 0, version 0: the plain handshake
      socket.write(Buffer.concat([Buffer.from([3]), c1]));
    });
  });
}

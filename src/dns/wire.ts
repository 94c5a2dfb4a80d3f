/**
 * DNS messages on the wire (RFC 1035), dynamic update (RFC 2136) and TSIG (RFC 8945).
 * Pure: encoding, decoding, signing and verifying; no I/O.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const TYPE_A = 1;
export const TYPE_SOA = 6;
export const TYPE_TSIG = 250;
export const CLASS_IN = 1;
export const CLASS_NONE = 254;
export const CLASS_ANY = 255;
export const OPCODE_QUERY = 0;
export const OPCODE_UPDATE = 5;

export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  YXDOMAIN: 6,
  YXRRSET: 7,
  NXRRSET: 8,
  NOTAUTH: 9,
  NOTZONE: 10,
  BADSIG: 16,
  BADKEY: 17,
  BADTIME: 18,
  BADTRUNC: 22,
} as const;

export function rcodeName(code: number): string {
  for (const [name, value] of Object.entries(RCODE)) if (value === code) return name;
  return `RCODE${code}`;
}

export type TsigAlgorithm = "hmac-sha224" | "hmac-sha256" | "hmac-sha384" | "hmac-sha512";
const HASH: Record<TsigAlgorithm, string> = { "hmac-sha224": "sha224", "hmac-sha256": "sha256", "hmac-sha384": "sha384", "hmac-sha512": "sha512" };

export function isTsigAlgorithm(text: string): text is TsigAlgorithm {
  return Object.hasOwn(HASH, text);
}

export interface TsigKey {
  /** Key name as the server knows it, e.g. "edgelab-update". */
  readonly name: string;
  readonly algorithm: TsigAlgorithm;
  /** The shared secret (decoded from its base64 text). */
  readonly secret: Buffer;
}

export interface ResourceRecord {
  readonly name: string;
  readonly type: number;
  readonly class: number;
  readonly ttl: number;
  readonly rdata: Buffer;
}

export interface Question {
  readonly name: string;
  readonly type: number;
  readonly class: number;
}

export interface Message {
  readonly id: number;
  readonly qr: boolean;
  readonly opcode: number;
  readonly aa: boolean;
  readonly tc: boolean;
  readonly rd: boolean;
  readonly rcode: number;
  /** The question section (the zone section in an update). */
  readonly questions: readonly Question[];
  /** Answers (prerequisites in an update). */
  readonly answers: readonly ResourceRecord[];
  /** Authority records (updates in an update). */
  readonly authority: readonly ResourceRecord[];
  readonly additional: readonly ResourceRecord[];
}

export class WireError extends Error {
  override readonly name = "WireError";
}

/* ---------------------------------------------------------------- names */

/** Lower-cased, without the trailing dot ("" is the root). */
export function canonicalName(name: string): string {
  return name.replace(/\.$/, "").toLowerCase();
}

/** Uncompressed wire form; lower-cased, which is also the canonical form TSIG digests. */
export function encodeName(name: string): Buffer {
  const canonical = canonicalName(name);
  const parts: Buffer[] = [];
  if (canonical !== "") {
    for (const label of canonical.split(".")) {
      const bytes = Buffer.from(label, "ascii");
      if (bytes.length === 0 || bytes.length > 63) throw new WireError(`bad label '${label}' in ${name}`);
      parts.push(Buffer.from([bytes.length]), bytes);
    }
  }
  parts.push(Buffer.from([0]));
  const wire = Buffer.concat(parts);
  if (wire.length > 255) throw new WireError(`name too long: ${name}`);
  return wire;
}

function decodeName(buf: Buffer, start: number): { name: string; next: number } {
  const labels: string[] = [];
  let offset = start;
  let next = -1;
  for (let jumps = 0; ; ) {
    const len = buf.readUInt8(offset);
    if (len === 0) {
      if (next < 0) next = offset + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (++jumps > 64) throw new WireError("compression loop");
      if (next < 0) next = offset + 2;
      offset = buf.readUInt16BE(offset) & 0x3fff;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new WireError("unsupported label type");
    if (offset + 1 + len > buf.length) throw new WireError("truncated name");
    labels.push(buf.toString("ascii", offset + 1, offset + 1 + len));
    offset += 1 + len;
  }
  return { name: labels.join(".").toLowerCase(), next };
}

/* ---------------------------------------------------------------- messages */

function encodeRecord(rr: ResourceRecord): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(rr.type, 0);
  fixed.writeUInt16BE(rr.class, 2);
  fixed.writeUInt32BE(rr.ttl, 4);
  fixed.writeUInt16BE(rr.rdata.length, 8);
  return Buffer.concat([encodeName(rr.name), fixed, rr.rdata]);
}

function encodeHeader(m: Pick<Message, "id" | "qr" | "opcode" | "aa" | "tc" | "rd" | "rcode">, counts: readonly [number, number, number, number]): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(m.id, 0);
  h.writeUInt16BE(((m.qr ? 1 : 0) << 15) | ((m.opcode & 0xf) << 11) | ((m.aa ? 1 : 0) << 10) | ((m.tc ? 1 : 0) << 9) | ((m.rd ? 1 : 0) << 8) | (m.rcode & 0xf), 2);
  counts.forEach((c, i) => h.writeUInt16BE(c, 4 + 2 * i));
  return h;
}

export function encodeMessage(m: Message): Buffer {
  const questions = m.questions.map((q) => {
    const tail = Buffer.alloc(4);
    tail.writeUInt16BE(q.type, 0);
    tail.writeUInt16BE(q.class, 2);
    return Buffer.concat([encodeName(q.name), tail]);
  });
  return Buffer.concat([
    encodeHeader(m, [m.questions.length, m.answers.length, m.authority.length, m.additional.length]),
    ...questions,
    ...m.answers.map(encodeRecord),
    ...m.authority.map(encodeRecord),
    ...m.additional.map(encodeRecord),
  ]);
}

export interface Decoded {
  readonly message: Message;
  /** Where the last additional record (a TSIG record, when there is one) starts. */
  readonly lastRecordOffset: number;
}

export function decodeMessage(buf: Buffer): Decoded {
  try {
    if (buf.length < 12) throw new WireError("message shorter than its header");
    const flags = buf.readUInt16BE(2);
    const counts = [4, 6, 8, 10].map((o) => buf.readUInt16BE(o)) as [number, number, number, number];
    let offset = 12;
    const questions: Question[] = [];
    for (let i = 0; i < counts[0]; i++) {
      const { name, next } = decodeName(buf, offset);
      questions.push({ name, type: buf.readUInt16BE(next), class: buf.readUInt16BE(next + 2) });
      offset = next + 4;
    }
    let lastRecordOffset = -1;
    const section = (count: number): ResourceRecord[] => {
      const out: ResourceRecord[] = [];
      for (let i = 0; i < count; i++) {
        lastRecordOffset = offset;
        const { name, next } = decodeName(buf, offset);
        const len = buf.readUInt16BE(next + 8);
        if (next + 10 + len > buf.length) throw new WireError("truncated record");
        out.push({ name, type: buf.readUInt16BE(next), class: buf.readUInt16BE(next + 2), ttl: buf.readUInt32BE(next + 4), rdata: buf.subarray(next + 10, next + 10 + len) });
        offset = next + 10 + len;
      }
      return out;
    };
    const answers = section(counts[1]);
    const authority = section(counts[2]);
    const additional = section(counts[3]);
    return {
      message: { id: buf.readUInt16BE(0), qr: (flags & 0x8000) !== 0, opcode: (flags >> 11) & 0xf, aa: (flags & 0x400) !== 0, tc: (flags & 0x200) !== 0, rd: (flags & 0x100) !== 0, rcode: flags & 0xf, questions, answers, authority, additional },
      lastRecordOffset,
    };
  } catch (err) {
    if (err instanceof WireError) throw err;
    throw new WireError(`malformed DNS message: ${(err as Error).message}`);
  }
}

/* ---------------------------------------------------------------- records */

export function aRdata(ip: string): Buffer {
  const parts = ip.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new WireError(`not an IPv4 address: ${ip}`);
  return Buffer.from(parts);
}

export function aAddress(rdata: Buffer): string {
  if (rdata.length !== 4) throw new WireError("A record with a bad length");
  return [...rdata].join(".");
}

/** RFC 2136 §2.4.3: the RRset (name, type) must not exist. */
export function prereqRrsetAbsent(name: string, type: number): ResourceRecord {
  return { name, type, class: CLASS_NONE, ttl: 0, rdata: Buffer.alloc(0) };
}

/** RFC 2136 §2.4.2: the RRset must exist and hold exactly these records. */
export function prereqRrsetEquals(name: string, type: number, rdatas: readonly Buffer[]): ResourceRecord[] {
  return rdatas.map((rdata) => ({ name, type, class: CLASS_IN, ttl: 0, rdata }));
}

/** RFC 2136 §2.5.2: delete the whole RRset (name, type). */
export function updateDeleteRrset(name: string, type: number): ResourceRecord {
  return { name, type, class: CLASS_ANY, ttl: 0, rdata: Buffer.alloc(0) };
}

/** RFC 2136 §2.5.1: add a record to an RRset. */
export function updateAdd(name: string, type: number, ttl: number, rdata: Buffer): ResourceRecord {
  return { name, type, class: CLASS_IN, ttl, rdata };
}

/* ---------------------------------------------------------------- TSIG (RFC 8945) */

export const TSIG_FUDGE = 300;

export interface TsigRdata {
  readonly algorithm: string;
  /** Seconds since the epoch. */
  readonly timeSigned: number;
  readonly fudge: number;
  readonly mac: Buffer;
  readonly originalId: number;
  readonly error: number;
  readonly other: Buffer;
}

function u48(value: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUInt16BE(Math.floor(value / 2 ** 32), 0);
  b.writeUInt32BE(value % 2 ** 32, 2);
  return b;
}

function u16(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(value, 0);
  return b;
}

export function encodeTsigRdata(t: TsigRdata): Buffer {
  return Buffer.concat([encodeName(t.algorithm), u48(t.timeSigned), u16(t.fudge), u16(t.mac.length), t.mac, u16(t.originalId), u16(t.error), u16(t.other.length), t.other]);
}

export function decodeTsigRdata(rdata: Buffer, message: Buffer, rdataOffset: number): TsigRdata {
  // The algorithm name may in theory be compressed: decode it against the whole message.
  const { name, next } = decodeName(message, rdataOffset);
  let o = next - rdataOffset;
  const timeSigned = rdata.readUInt16BE(o) * 2 ** 32 + rdata.readUInt32BE(o + 2);
  const fudge = rdata.readUInt16BE(o + 6);
  const macLen = rdata.readUInt16BE(o + 8);
  o += 10;
  const mac = rdata.subarray(o, o + macLen);
  o += macLen;
  const originalId = rdata.readUInt16BE(o);
  const error = rdata.readUInt16BE(o + 2);
  const otherLen = rdata.readUInt16BE(o + 4);
  return { algorithm: name, timeSigned, fudge, mac, originalId, error, other: rdata.subarray(o + 6, o + 6 + otherLen) };
}

/** The TSIG variables of RFC 8945 §4.3.3 (key name, class, TTL, algorithm, time, fudge, error, other). */
function tsigVariables(key: TsigKey, t: Pick<TsigRdata, "timeSigned" | "fudge" | "error" | "other">): Buffer {
  const classTtl = Buffer.alloc(6);
  classTtl.writeUInt16BE(CLASS_ANY, 0);
  classTtl.writeUInt32BE(0, 2);
  return Buffer.concat([encodeName(key.name), classTtl, encodeName(key.algorithm), u48(t.timeSigned), u16(t.fudge), u16(t.error), u16(t.other.length), t.other]);
}

function hmac(key: TsigKey, ...parts: Buffer[]): Buffer {
  const h = createHmac(HASH[key.algorithm], key.secret);
  for (const p of parts) h.update(p);
  return h.digest();
}

export interface Signed {
  readonly wire: Buffer;
  /** The request MAC, which the response's MAC covers. */
  readonly mac: Buffer;
}

/** Appends a TSIG record to an encoded message (which must not have one). */
export function signMessage(wire: Buffer, key: TsigKey, now: number = Math.floor(Date.now() / 1000)): Signed {
  const id = wire.readUInt16BE(0);
  const vars = { timeSigned: now, fudge: TSIG_FUDGE, error: 0, other: Buffer.alloc(0) };
  const mac = hmac(key, wire, tsigVariables(key, vars));
  const rr = encodeRecord({ name: key.name, type: TYPE_TSIG, class: CLASS_ANY, ttl: 0, rdata: encodeTsigRdata({ algorithm: key.algorithm, ...vars, mac, originalId: id }) });
  const out = Buffer.concat([wire, rr]);
  out.writeUInt16BE(wire.readUInt16BE(10) + 1, 10);
  return { wire: out, mac };
}

export type TsigCheck =
  | { readonly ok: true; readonly tsig: TsigRdata }
  | { readonly ok: false; readonly reason: "unsigned" | "wrong-key" | "bad-mac" | "bad-time"; readonly tsig?: TsigRdata };

/**
 * Verifies a response's TSIG (RFC 8945 §5.3, §5.4): its MAC covers the request's MAC, the
 * response without its TSIG record (original id, ARCOUNT less one) and the TSIG variables.
 * A response carrying a TSIG error (BADSIG, BADKEY) has an empty MAC and is "unsigned".
 */
export function verifyResponse(wire: Buffer, key: TsigKey, requestMac: Buffer, now: number = Math.floor(Date.now() / 1000)): TsigCheck {
  const { message, lastRecordOffset } = decodeMessage(wire);
  const last = message.additional[message.additional.length - 1];
  if (last === undefined || last.type !== TYPE_TSIG) return { ok: false, reason: "unsigned" };
  const rdataOffset = wire.length - last.rdata.length;
  const tsig = decodeTsigRdata(last.rdata, wire, rdataOffset);
  if (tsig.mac.length === 0) return { ok: false, reason: "unsigned", tsig };
  if (canonicalName(last.name) !== canonicalName(key.name) || canonicalName(tsig.algorithm) !== key.algorithm) return { ok: false, reason: "wrong-key", tsig };
  const body = Buffer.from(wire.subarray(0, lastRecordOffset));
  body.writeUInt16BE(tsig.originalId, 0);
  body.writeUInt16BE(message.additional.length - 1, 10);
  const expected = hmac(key, u16(requestMac.length), requestMac, body, tsigVariables(key, tsig));
  if (expected.length !== tsig.mac.length || !timingSafeEqual(expected, tsig.mac)) return { ok: false, reason: "bad-mac", tsig };
  if (Math.abs(now - tsig.timeSigned) > tsig.fudge) return { ok: false, reason: "bad-time", tsig };
  return { ok: true, tsig };
}

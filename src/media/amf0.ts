/**
 * AMF0, the encoding of RTMP command messages (connect, createStream, publish, onStatus): the
 * subset RTMP commands use. Pure.
 */

export type Amf0Value = number | boolean | string | null | undefined | Amf0Object | Amf0Value[];
export interface Amf0Object {
  [key: string]: Amf0Value;
}

const NUMBER = 0x00;
const BOOLEAN = 0x01;
const STRING = 0x02;
const OBJECT = 0x03;
const NULL = 0x05;
const UNDEFINED = 0x06;
const ECMA_ARRAY = 0x08;
const OBJECT_END = 0x09;
const STRICT_ARRAY = 0x0a;
const DATE = 0x0b;
const LONG_STRING = 0x0c;

function shortString(text: string): Buffer {
  const bytes = Buffer.from(text, "utf8");
  const out = Buffer.alloc(2 + bytes.length);
  out.writeUInt16BE(bytes.length, 0);
  bytes.copy(out, 2);
  return out;
}

export function encodeAmf0(value: Amf0Value): Buffer {
  if (value === null) return Buffer.from([NULL]);
  if (value === undefined) return Buffer.from([UNDEFINED]);
  if (typeof value === "number") {
    const out = Buffer.alloc(9);
    out[0] = NUMBER;
    out.writeDoubleBE(value, 1);
    return out;
  }
  if (typeof value === "boolean") return Buffer.from([BOOLEAN, value ? 1 : 0]);
  if (typeof value === "string") {
    const bytes = Buffer.from(value, "utf8");
    if (bytes.length <= 0xffff) return Buffer.concat([Buffer.from([STRING]), shortString(value)]);
    const head = Buffer.alloc(5);
    head[0] = LONG_STRING;
    head.writeUInt32BE(bytes.length, 1);
    return Buffer.concat([head, bytes]);
  }
  if (Array.isArray(value)) {
    const head = Buffer.alloc(5);
    head[0] = STRICT_ARRAY;
    head.writeUInt32BE(value.length, 1);
    return Buffer.concat([head, ...value.map(encodeAmf0)]);
  }
  const parts: Buffer[] = [Buffer.from([OBJECT])];
  for (const [key, v] of Object.entries(value)) parts.push(shortString(key), encodeAmf0(v));
  parts.push(Buffer.from([0, 0, OBJECT_END]));
  return Buffer.concat(parts);
}

/** Several values back to back, as a command message carries them. */
export function encodeAmf0Values(values: readonly Amf0Value[]): Buffer {
  return Buffer.concat(values.map(encodeAmf0));
}

export class Amf0Error extends Error {
  override readonly name = "Amf0Error";
}

/** Decodes every value in `data` (a command message body). Throws Amf0Error on malformed input. */
export function decodeAmf0Values(data: Buffer): Amf0Value[] {
  let at = 0;
  const need = (n: number): void => {
    if (at + n > data.length) throw new Amf0Error(`truncated AMF0 data at byte ${at}`);
  };
  const readShortString = (): string => {
    need(2);
    const length = data.readUInt16BE(at);
    at += 2;
    need(length);
    const text = data.toString("utf8", at, at + length);
    at += length;
    return text;
  };
  const readProperties = (): Amf0Object => {
    const out: Amf0Object = {};
    for (;;) {
      const key = readShortString();
      need(1);
      if (key === "" && data[at] === OBJECT_END) {
        at += 1;
        return out;
      }
      out[key] = readValue();
    }
  };
  const readValue = (): Amf0Value => {
    need(1);
    const marker = data[at] ?? -1;
    at += 1;
    switch (marker) {
      case NUMBER: {
        need(8);
        const n = data.readDoubleBE(at);
        at += 8;
        return n;
      }
      case BOOLEAN:
        need(1);
        at += 1;
        return data[at - 1] !== 0;
      case STRING:
        return readShortString();
      case LONG_STRING: {
        need(4);
        const length = data.readUInt32BE(at);
        at += 4;
        need(length);
        const text = data.toString("utf8", at, at + length);
        at += length;
        return text;
      }
      case OBJECT:
        return readProperties();
      case ECMA_ARRAY:
        need(4);
        at += 4;
        return readProperties();
      case STRICT_ARRAY: {
        need(4);
        const count = data.readUInt32BE(at);
        at += 4;
        const out: Amf0Value[] = [];
        for (let i = 0; i < count; i++) out.push(readValue());
        return out;
      }
      case DATE: {
        need(10);
        const ms = data.readDoubleBE(at);
        at += 10;
        return ms;
      }
      case NULL:
        return null;
      case UNDEFINED:
        return undefined;
      default:
        throw new Amf0Error(`unsupported AMF0 marker 0x${marker.toString(16)} at byte ${at - 1}`);
    }
  };
  const values: Amf0Value[] = [];
  while (at < data.length) values.push(readValue());
  return values;
}

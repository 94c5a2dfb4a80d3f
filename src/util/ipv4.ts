/**
 * IPv4 addresses and CIDR blocks as plain numbers. Pure; no I/O.
 */

export interface Cidr {
  /** Network address as an unsigned 32-bit integer (host bits cleared). */
  readonly network: number;
  readonly prefix: number;
  /** The text as written, e.g. "172.16.221.0/24". */
  readonly text: string;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** Parses dotted-quad IPv4 ("172.16.221.38"); returns undefined when malformed. */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!OCTET.test(part)) return undefined;
    value = value * 256 + Number(part);
  }
  return value;
}

export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join(".");
}

export function isIpv4(text: string): boolean {
  return parseIpv4(text) !== undefined;
}

/** Netmask for a prefix length as an unsigned 32-bit integer. */
export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export type CidrParse =
  | { ok: true; cidr: Cidr }
  | { ok: false; reason: "syntax" | "host-bits"; network?: string };

/** Parses "a.b.c.d/n". Host bits set (e.g. "10.0.0.1/24") is reported, not silently fixed. */
export function parseCidr(text: string): CidrParse {
  const slash = text.indexOf("/");
  if (slash < 0) return { ok: false, reason: "syntax" };
  const address = parseIpv4(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (address === undefined || !/^(3[0-2]|[12]?\d)$/.test(prefixText)) return { ok: false, reason: "syntax" };
  const prefix = Number(prefixText);
  const network = (address & prefixMask(prefix)) >>> 0;
  if (network !== address) {
    return { ok: false, reason: "host-bits", network: `${formatIpv4(network)}/${prefix}` };
  }
  return { ok: true, cidr: { network, prefix, text } };
}

export function cidrSize(cidr: Cidr): number {
  return 2 ** (32 - cidr.prefix);
}

export function cidrContains(cidr: Cidr, address: number): boolean {
  return ((address & prefixMask(cidr.prefix)) >>> 0) === cidr.network;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const prefix = Math.min(a.prefix, b.prefix);
  const mask = prefixMask(prefix);
  return ((a.network & mask) >>> 0) === ((b.network & mask) >>> 0);
}

/** Broadcast address of a block (the last address). */
export function cidrLast(cidr: Cidr): number {
  return (cidr.network + cidrSize(cidr) - 1) >>> 0;
}

/** True for 127.0.0.0/8. */
export function isLoopback(address: number): boolean {
  return address >>> 24 === 127;
}

/**
 * OpenSSH public keys: writing one from a node:crypto key (the format of
 * /etc/ssh/ssh_host_*_key.pub: "<type> <base64 wire blob> <comment>"), and reading one back with
 * its wire blob checked (RFC 4253 §6.6, RFC 5656 §3.1, RFC 8709).
 */
import type { KeyObject } from "node:crypto";

const str = (b: Buffer): Buffer => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
};

/** An mpint: big-endian two's complement, no superfluous leading zero, 0x00 added when the top bit is set. */
const mpint = (b: Buffer): Buffer => {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i += 1;
  const trimmed = b.subarray(i);
  return str((trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
};

const b64url = (s: string | undefined): Buffer => {
  if (s === undefined) throw new Error("incomplete JWK");
  return Buffer.from(s, "base64url");
};

const CURVES: Readonly<Record<string, string>> = { "P-256": "nistp256", "P-384": "nistp384", "P-521": "nistp521" };

/** "ssh-ed25519 AAAA... comment" for an Ed25519, ECDSA (P-256/384/521) or RSA public key. */
export function openSshPublicKey(key: KeyObject, comment: string): string {
  const jwk = key.export({ format: "jwk" });
  let type: string;
  let blob: Buffer;
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") {
    type = "ssh-ed25519";
    blob = Buffer.concat([str(Buffer.from(type)), str(b64url(jwk.x))]);
  } else if (jwk.kty === "EC" && jwk.crv !== undefined && CURVES[jwk.crv] !== undefined) {
    const curve = CURVES[jwk.crv] ?? "";
    type = `ecdsa-sha2-${curve}`;
    blob = Buffer.concat([str(Buffer.from(type)), str(Buffer.from(curve)), str(Buffer.concat([Buffer.from([4]), b64url(jwk.x), b64url(jwk.y)]))]);
  } else if (jwk.kty === "RSA") {
    type = "ssh-rsa";
    blob = Buffer.concat([str(Buffer.from(type)), mpint(b64url(jwk.e)), mpint(b64url(jwk.n))]);
  } else {
    throw new Error(`no OpenSSH form for a ${String(jwk.kty)} key`);
  }
  return `${type} ${blob.toString("base64")}${comment === "" ? "" : ` ${comment}`}`;
}

export interface ParsedPublicKey {
  readonly type: string;
  /** The base64 wire blob, as written. */
  readonly key: string;
  readonly comment: string;
}

export const HOST_KEY_TYPES = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"] as const;

/** Parses one public key line; undefined unless its type is known and its blob names the same type. */
export function parseOpenSshPublicKey(line: string): ParsedPublicKey | undefined {
  const m = /^(\S+) ([A-Za-z0-9+/]+={0,2})(?: (.*))?$/.exec(line.trim());
  if (m === null) return undefined;
  const [, type = "", key = "", comment = ""] = m;
  if (!(HOST_KEY_TYPES as readonly string[]).includes(type)) return undefined;
  const blob = Buffer.from(key, "base64");
  if (blob.length < 4) return undefined;
  const length = blob.readUInt32BE(0);
  if (blob.length < 4 + length || blob.subarray(4, 4 + length).toString("latin1") !== type) return undefined;
  return { type, key, comment: comment.trim() };
}

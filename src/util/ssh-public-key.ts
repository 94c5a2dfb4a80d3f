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

/** Key types a user may log in with (authorized_keys): the host key types and the FIDO security-key ones. */
export const USER_KEY_TYPES = [...HOST_KEY_TYPES, "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com"] as const;

export type PublicKeyCheck = { readonly ok: true; readonly key: ParsedPublicKey } | { readonly ok: false; readonly reason: string; readonly hint: string };

const EXAMPLE = "e.g. 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA... you@host', the one line of a .pub file";

/** Whether `text` is (or holds) a private key: OpenSSH, PEM (RSA, EC, PKCS#8) or PuTTY. */
export function isPrivateKeyText(text: string): boolean {
  // The armour lines, PuTTY's header, or the first body line of an OpenSSH key ("openssh-key-v1" in base64), as a paste split at newlines gives them.
  return /-----(BEGIN|END) [A-Z0-9 ]*PRIVATE KEY-----/.test(text) || /^PuTTY-User-Key-File-\d+:/m.test(text) || /^\s*b3BlbnNzaC1rZXktdjE/m.test(text);
}

/**
 * Checks one OpenSSH public key line ("<type> <base64 blob> [comment]"): the type is one of
 * `types` and the blob decodes to a key that names the same type, so a truncated, mislabelled or
 * pasted-wrong key is refused with the reason. The reason never repeats the text (it may be a
 * private key pasted by mistake).
 */
export function checkPublicKeyLine(text: string, types: readonly string[] = USER_KEY_TYPES): PublicKeyCheck {
  const line = text.trim();
  const fail = (reason: string, hint = `Give an OpenSSH public key line, ${EXAMPLE}.`): PublicKeyCheck => ({ ok: false, reason, hint });
  if (line === "") return fail("no key given");
  if (isPrivateKeyText(line)) return fail("that is a private key; give its .pub", "The public key is the .pub file beside it (or `ssh-keygen -y -f <private key>` prints it); the private key never leaves your machine.");
  if (line.includes("\n")) return fail("more than one line: give one public key per entry");
  if (/^AAAA[A-Za-z0-9+/]{8,}/.test(line)) return fail("not an OpenSSH public key: the key type (e.g. ssh-ed25519) is missing before the key data");
  const m = /^(\S+)\s+(\S+)(?:\s+(.*))?$/.exec(line);
  if (m === null) return fail("not an OpenSSH public key: expected '<type> <base64 key> [comment]'");
  const [, type = "", key = "", comment = ""] = m;
  if (!types.includes(type)) return fail(`not an OpenSSH public key: unknown key type '${type.slice(0, 40)}'`, `Supported types: ${types.join(", ")}; ${EXAMPLE}.`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(key)) return fail(`not an OpenSSH public key: the ${type} key data is not base64`);
  const blob = Buffer.from(key, "base64");
  const length = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  const embedded = length > 0 && blob.length >= 4 + length ? blob.subarray(4, 4 + length).toString("latin1") : "";
  if (embedded !== type || !wellFormed(type, blob)) {
    const what = embedded === "" || embedded === type ? "truncated or damaged" : /^[\x21-\x7e]{1,64}$/.test(embedded) ? `it holds a ${embedded} key` : "damaged";
    return fail(`not an OpenSSH public key: the key data is not a ${type} key (${what})`, "Copy the whole line again from the .pub file.");
  }
  return { ok: true, key: { type, key, comment: comment.trim() } };
}

/** The wire blob's fields (RFC 4251 strings) when it is exactly a sequence of them, else undefined. */
function wireStrings(blob: Buffer): Buffer[] | undefined {
  const out: Buffer[] = [];
  let at = 0;
  while (at < blob.length) {
    if (at + 4 > blob.length) return undefined;
    const length = blob.readUInt32BE(at);
    if (at + 4 + length > blob.length) return undefined;
    out.push(blob.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return out;
}

/**
 * Whether the blob has the fields its type's public key has, no more, no fewer (RFC 4253 §6.6,
 * RFC 5656 §3.1, RFC 8709 §4, OpenSSH PROTOCOL.u2f): a key cut short or padded is refused.
 */
function wellFormed(type: string, blob: Buffer): boolean {
  const f = wireStrings(blob);
  if (f === undefined) return false;
  const curve = /^(?:sk-)?ecdsa-sha2-(nistp\d+)/.exec(type)?.[1];
  switch (type) {
    case "ssh-ed25519":
      return f.length === 2 && f[1]?.length === 32;
    case "sk-ssh-ed25519@openssh.com":
      return f.length === 3 && f[1]?.length === 32;
    case "ssh-rsa":
      return f.length === 3 && (f[1]?.length ?? 0) > 0 && (f[2]?.length ?? 0) > 0;
    default:
      if (curve === undefined) return false;
      return f.length === (type.startsWith("sk-") ? 4 : 3) && f[1]?.toString("latin1") === curve && (f[2]?.[0] ?? 0) === 4;
  }
}

/** Parses one public key line; undefined unless its type is a host key type and its blob names the same type. */
export function parseOpenSshPublicKey(line: string): ParsedPublicKey | undefined {
  const checked = checkPublicKeyLine(line, HOST_KEY_TYPES);
  return checked.ok ? checked.key : undefined;
}

/** The key's size in bits, as `ssh-keygen -l` prints it (RSA: the modulus; ECDSA: the curve; Ed25519: 256). */
export function publicKeyBits(key: ParsedPublicKey): number | undefined {
  if (key.type === "ssh-ed25519" || key.type === "sk-ssh-ed25519@openssh.com" || key.type === "sk-ecdsa-sha2-nistp256@openssh.com") return 256;
  const curve = /^ecdsa-sha2-nistp(\d+)$/.exec(key.type);
  if (curve !== null) return Number(curve[1]);
  if (key.type !== "ssh-rsa") return undefined;
  const blob = Buffer.from(key.key, "base64");
  let at = 0;
  const next = (): Buffer | undefined => {
    if (at + 4 > blob.length) return undefined;
    const length = blob.readUInt32BE(at);
    const value = blob.subarray(at + 4, at + 4 + length);
    at += 4 + length;
    return value.length === length ? value : undefined;
  };
  next(); // the type name
  next(); // e
  const n = next();
  if (n === undefined) return undefined;
  let i = 0;
  while (i < n.length && n[i] === 0) i += 1;
  const top = n[i];
  return top === undefined ? 0 : (n.length - i - 1) * 8 + (32 - Math.clz32(top));
}

/** Stream keys are stored hashed (scrypt with a per-key salt) and compared in constant time. */
import { randomBytes, scryptSync, timingSafeEqual } from "node:crypto";

export interface KeyHash {
  readonly algo: "scrypt";
  readonly salt: string;
  readonly hash: string;
}

const PARAMS = { N: 16384, r: 8, p: 1 } as const;
const LENGTH = 32;

export function hashKey(key: string, salt: Buffer = randomBytes(16)): KeyHash {
  return { algo: "scrypt", salt: salt.toString("base64"), hash: scryptSync(key, salt, LENGTH, PARAMS).toString("base64") };
}

export function verifyKey(key: string, stored: KeyHash): boolean {
  const expected = Buffer.from(stored.hash, "base64");
  const actual = scryptSync(key, Buffer.from(stored.salt, "base64"), expected.length, PARAMS);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** A new random stream key: 24 bytes, URL-safe. */
export function generateKey(): string {
  return randomBytes(24).toString("base64url");
}

/**
 * Stream keys and media-server secrets. Keys people choose are stored hashed with scrypt (a
 * per-key salt) and compared in constant time; secrets edgelab generates itself (high entropy)
 * are stored as SHA-256 digests, which are as safe for them and cost nothing to check.
 */
import { createHash, createHmac, randomBytes, scrypt, scryptSync, timingSafeEqual, type ScryptOptions } from "node:crypto";
import { z } from "zod";

export const KeyHash = z.strictObject({
  algo: z.literal("scrypt"),
  salt: z.string().min(1),
  hash: z.string().min(1),
});
export type KeyHash = z.infer<typeof KeyHash>;

/** scrypt's cost: ~16 MB and tens of milliseconds per check. */
export const SCRYPT_PARAMS = { N: 16384, r: 8, p: 1 } as const satisfies ScryptOptions;
const PARAMS: ScryptOptions = SCRYPT_PARAMS;
const LENGTH = 32;

export function hashKey(key: string, salt: Buffer = randomBytes(16)): KeyHash {
  return { algo: "scrypt", salt: salt.toString("base64"), hash: scryptSync(key, salt, LENGTH, PARAMS).toString("base64") };
}

/** Synchronous check, for the CLI (which hashes a handful of keys once). Services use verifyKeyAsync. */
export function verifyKey(key: string, stored: KeyHash): boolean {
  const expected = Buffer.from(stored.hash, "base64");
  const actual = scryptSync(key, Buffer.from(stored.salt, "base64"), expected.length, PARAMS);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** The same check on libuv's thread pool: the event loop keeps serving meanwhile. */
export function verifyKeyAsync(key: string, stored: KeyHash): Promise<boolean> {
  const expected = Buffer.from(stored.hash, "base64");
  return new Promise((resolve, reject) => {
    scrypt(key, Buffer.from(stored.salt, "base64"), expected.length, PARAMS, (err, actual) => {
      if (err !== null) reject(err);
      else resolve(expected.length === actual.length && timingSafeEqual(expected, actual));
    });
  });
}

/**
 * The cluster's ABR transcoder credential, derived from the media servers' notify secret (one
 * generated secret, two purposes kept apart by HMAC): 31 URL-safe characters, what nginx-rtmp
 * keeps of the RTMP flashVer it travels in.
 */
export function transcoderCredentialOf(notifySecret: string): string {
  return createHmac("sha256", notifySecret).update("edgelab abr transcoder credential").digest("base64url").slice(0, 31);
}

export function sha256Hex(value: string): string {
  return createHash("sha256").update(value, "utf8").digest("hex");
}

/** Does `presented` hash to `storedHex` (constant time in the digest)? */
export function matchesSha256(presented: string, storedHex: string): boolean {
  const expected = Buffer.from(storedHex, "hex");
  const actual = createHash("sha256").update(presented, "utf8").digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** A new random stream key or secret: 24 bytes, URL-safe. */
export function generateKey(): string {
  return randomBytes(24).toString("base64url");
}

/** Content hashes for change detection (the pipeline journal): SHA-256 of a stable encoding. */
import { createHash } from "node:crypto";

/** JSON with object keys sorted at every level, so equal values always encode the same way. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

export function sha256(text: string | Buffer): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Hash of any JSON-like value (strings hash as their text). */
export function hashValue(value: unknown): string {
  return sha256(typeof value === "string" ? value : (stableJson(value) ?? "undefined"));
}

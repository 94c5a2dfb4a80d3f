/** Writing a file atomically (temp file + rename) with its mode. */
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export type WriteStatus = "created" | "updated" | "unchanged";

/** The file's text and mode, or undefined when it does not exist or cannot be read. */
export function current(file: string): { content: string; mode: number } | undefined {
  try {
    return { content: readFileSync(file, "utf8"), mode: statSync(file).mode & 0o777 };
  } catch {
    return undefined;
  }
}

/**
 * Writes one file atomically (temp file + rename) with its mode; does nothing when the file
 * already holds this content with this mode. Returns what happened.
 */
export function writeFileAtomic(target: string, content: string, mode: number): WriteStatus {
  const existing = current(target);
  if (existing !== undefined && existing.content === content && existing.mode === mode) return "unchanged";
  mkdirSync(dirname(target), { recursive: true });
  const temp = `${target}.${process.pid}.tmp`;
  try {
    // Created with the final mode so a secret is never readable by others, even briefly.
    writeFileSync(temp, content, { mode });
    chmodSync(temp, mode);
    renameSync(temp, target);
  } catch (cause) {
    rmSync(temp, { force: true });
    throw cause;
  }
  return existing === undefined ? "created" : "updated";
}


/**
 * Writing rendered artifacts: atomically (temp file + rename), with their mode, only when the
 * content changed. Files in the directory that edgelab did not render are left alone.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Artifact } from "../render/artifact.js";

export type WriteStatus = "created" | "updated" | "unchanged";

export interface WriteResult {
  readonly path: string;
  readonly status: WriteStatus;
  readonly mode: number;
  readonly bytes: number;
}

function current(file: string): { content: string; mode: number } | undefined {
  try {
    return { content: readFileSync(file, "utf8"), mode: statSync(file).mode & 0o777 };
  } catch {
    return undefined;
  }
}

export function planArtifacts(outDir: string, artifacts: readonly Artifact[]): WriteResult[] {
  return artifacts.map((a) => {
    const existing = current(join(outDir, a.path));
    const status: WriteStatus = existing === undefined ? "created" : existing.content === a.content && existing.mode === a.mode ? "unchanged" : "updated";
    return { path: a.path, status, mode: a.mode, bytes: Buffer.byteLength(a.content) };
  });
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

export function writeArtifacts(outDir: string, artifacts: readonly Artifact[]): WriteResult[] {
  return artifacts.map((a) => ({ path: a.path, status: writeFileAtomic(join(outDir, a.path), a.content, a.mode), mode: a.mode, bytes: Buffer.byteLength(a.content) }));
}

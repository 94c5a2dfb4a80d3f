/**
 * Writing rendered artifacts: atomically (temp file + rename), with their mode, only when the
 * content changed. Files in the directory that edgelab did not render are left alone.
 */
import { join } from "node:path";
import type { Artifact } from "../render/artifact.js";
import { current, writeFileAtomic, type WriteStatus } from "../util/atomic-write.js";

export { writeFileAtomic, type WriteStatus };

export interface WriteResult {
  readonly path: string;
  readonly status: WriteStatus;
  readonly mode: number;
  readonly bytes: number;
}

export function planArtifacts(outDir: string, artifacts: readonly Artifact[]): WriteResult[] {
  return artifacts.map((a) => {
    const existing = current(join(outDir, a.path));
    const status: WriteStatus = existing === undefined ? "created" : existing.content === a.content && existing.mode === a.mode ? "unchanged" : "updated";
    return { path: a.path, status, mode: a.mode, bytes: Buffer.byteLength(a.content) };
  });
}

export function writeArtifacts(outDir: string, artifacts: readonly Artifact[]): WriteResult[] {
  return artifacts.map((a) => ({ path: a.path, status: writeFileAtomic(join(outDir, a.path), a.content, a.mode), mode: a.mode, bytes: Buffer.byteLength(a.content) }));
}

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

export function writeArtifacts(outDir: string, artifacts: readonly Artifact[]): WriteResult[] {
  const plan = planArtifacts(outDir, artifacts);
  artifacts.forEach((artifact, i) => {
    if (plan[i]?.status === "unchanged") return;
    const target = join(outDir, artifact.path);
    mkdirSync(dirname(target), { recursive: true });
    const temp = `${target}.${process.pid}.tmp`;
    try {
      // Created with the final mode so a secret is never readable by others, even briefly.
      writeFileSync(temp, artifact.content, { mode: artifact.mode });
      chmodSync(temp, artifact.mode);
      renameSync(temp, target);
    } catch (cause) {
      rmSync(temp, { force: true });
      throw cause;
    }
  });
  return plan;
}

/**
 * Writing rendered artifacts: atomically (temp file + rename), with their mode, only when the
 * content changed. Files in the directory that edgelab did not render are left alone, with one
 * exception: manifests under k8s/ named as edgelab names them (<NN>-<kind>-<name>.yaml) that this
 * render no longer produces are removed, since deploy applies every manifest it finds there.
 */
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Artifact } from "../render/artifact.js";
import { current, writeFileAtomic, type WriteStatus } from "../util/atomic-write.js";

export { writeFileAtomic, type WriteStatus };

export interface WriteResult {
  readonly path: string;
  readonly status: WriteStatus | "removed";
  readonly mode: number;
  readonly bytes: number;
}

const MANIFEST_DIR = "k8s";
const MANIFEST_NAME = /^\d\d-[a-z]+-[a-z0-9.-]+\.yaml$/;

/** Manifests edgelab rendered before that this render (which includes the k8s family) does not. */
function staleManifests(outDir: string, artifacts: readonly Artifact[]): string[] {
  if (!artifacts.some((a) => a.family === "k8s")) return [];
  const wanted = new Set(artifacts.map((a) => a.path));
  let names: string[];
  try {
    names = readdirSync(join(outDir, MANIFEST_DIR));
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw cause;
  }
  return names.filter((n) => MANIFEST_NAME.test(n) && !wanted.has(`${MANIFEST_DIR}/${n}`)).sort().map((n) => `${MANIFEST_DIR}/${n}`);
}

function removed(path: string): WriteResult {
  return { path, status: "removed", mode: 0, bytes: 0 };
}

export function planArtifacts(outDir: string, artifacts: readonly Artifact[]): WriteResult[] {
  return [...planWrites(outDir, artifacts), ...staleManifests(outDir, artifacts).map(removed)];
}

function planWrites(outDir: string, artifacts: readonly Artifact[]): WriteResult[] {
  return artifacts.map((a) => {
    const existing = current(join(outDir, a.path));
    const status: WriteStatus = existing === undefined ? "created" : existing.content === a.content && existing.mode === a.mode ? "unchanged" : "updated";
    return { path: a.path, status, mode: a.mode, bytes: Buffer.byteLength(a.content) };
  });
}

export function writeArtifacts(outDir: string, artifacts: readonly Artifact[]): WriteResult[] {
  const stale = staleManifests(outDir, artifacts);
  const written = artifacts.map((a) => ({ path: a.path, status: writeFileAtomic(join(outDir, a.path), a.content, a.mode), mode: a.mode, bytes: Buffer.byteLength(a.content) }));
  for (const path of stale) rmSync(join(outDir, path), { force: true });
  return [...written, ...stale.map(removed)];
}

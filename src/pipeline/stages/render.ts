/**
 * The render stage: every file the later stages consume, written to `.edgelab/artifacts/`
 * (only what changed). Its outputs are one hash per artifact family, so a stage that consumes
 * one family runs again exactly when that family's files changed.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { packageVersion } from "../../commands/version.js";
import { TEMPLATES_DIR } from "../../paths.js";
import { localLayout } from "../../providers/local/layout.js";
import { renderAll, type Artifact } from "../../render/index.js";
import { hashValue } from "../../util/hash.js";
import { planArtifacts, writeArtifacts } from "../artifacts.js";
import type { PipelineContext, Stage } from "../stage.js";

export function artifactsDir(p: PipelineContext): string {
  return join(p.stateDir, "artifacts");
}

/** Every artifact of the lab, as the render stage writes it (pure: nothing is written). */
export function renderedArtifacts(p: PipelineContext): Artifact[] {
  return renderAll(p.lab, { paths: localLayout(dirname(p.location.path)).nginx, imageTag: packageVersion() });
}

/** Every template file's path and content: a template change re-renders. */
function templatesDigest(): string {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else files.push(`${relative(TEMPLATES_DIR, path)}\n${readFileSync(path, "utf8")}`);
    }
  };
  walk(TEMPLATES_DIR);
  return hashValue(files.sort());
}

function familyHashes(artifacts: readonly Artifact[]): Record<string, string> {
  const byFamily = new Map<string, string[]>();
  for (const a of artifacts) byFamily.set(a.family, [...(byFamily.get(a.family) ?? []), `${a.path}\n${a.mode}\n${a.content}`]);
  return Object.fromEntries([...byFamily].map(([family, parts]) => [family, hashValue(parts.sort())]));
}

export const renderStage: Stage = {
  name: "render",
  title: "configuration files from the inventory",

  inputs: (p) => ({ inventory: p.inventoryText, edgelab: packageVersion(), templates: templatesDigest() }),
  verify: (p) => {
    const off = planArtifacts(artifactsDir(p), renderedArtifacts(p)).filter((r) => r.status !== "unchanged").length;
    return Promise.resolve(off > 0 ? `${off} rendered file${off === 1 ? " is" : "s are"} missing or edited` : undefined);
  },
  plan: (p) => {
    const changed = planArtifacts(artifactsDir(p), renderedArtifacts(p)).filter((r) => r.status !== "unchanged");
    return Promise.resolve({ changes: changed.map((r) => `${r.status === "created" ? "+" : "~"} ${r.path}`) });
  },
  apply: (run) => {
    const artifacts = renderedArtifacts(run.p);
    const results = writeArtifacts(artifactsDir(run.p), artifacts);
    const changed = results.filter((r) => r.status !== "unchanged");
    for (const r of changed) run.step({ message: `${r.status} ${r.path}` });
    return Promise.resolve({
      changes: changed.length,
      summary: `${results.length} files, ${changed.length} changed`,
      outputs: familyHashes(artifacts),
    });
  },
};

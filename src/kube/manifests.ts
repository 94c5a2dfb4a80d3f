/**
 * The rendered manifests as objects: every YAML document of every file under the render output's
 * `k8s/` directory, in file order. A document that is not a Kubernetes object, or a Secret (the
 * render output never holds one: deploy builds them), is refused with its file:line:col.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { LineCounter, parseAllDocuments } from "yaml";
import { z } from "zod";
import { EdgelabError, EXIT_USAGE } from "../errors.js";
import type { KubeObject } from "./client.js";

const ObjectShape = z.looseObject({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  metadata: z.looseObject({ name: z.string().min(1), namespace: z.string().optional(), labels: z.record(z.string(), z.string()).optional(), annotations: z.record(z.string(), z.string()).optional() }),
});

/** Where a manifest came from: `k8s/20-deployment-edge.yaml:3:1`. */
export interface ManifestSource {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

export interface Manifest {
  readonly object: KubeObject;
  readonly source: ManifestSource;
}

/** Parses one file's documents (`file` is how messages name it). Pure. */
export function parseManifests(text: string, file: string): Manifest[] {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false });
  const out: Manifest[] = [];
  const at = (offset: number): ManifestSource => {
    const { line, col } = lines.linePos(Math.max(0, offset));
    return { file, line, col };
  };
  const where = (s: ManifestSource): string => `${s.file}:${s.line}:${s.col}`;
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    const source = at(doc.contents?.range[0] ?? doc.range[0]);
    const error = doc.errors[0];
    if (error !== undefined) throw new EdgelabError(`${where(at(error.pos[0]))}: not valid YAML: ${error.message.split("\n")[0] ?? ""}`, { hint: "Render the manifests again (edgelab render); edit the inventory, not the rendered files.", exitCode: EXIT_USAGE });
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    const parsed = ObjectShape.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new EdgelabError(`${where(source)}: not a Kubernetes object: ${issue === undefined ? "" : `${issue.path.join(".") || "(document)"}: ${issue.message}`}`, { hint: "Each document needs apiVersion, kind and metadata.name.", exitCode: EXIT_USAGE });
    }
    if (parsed.data.apiVersion === "v1" && parsed.data.kind === "Secret") {
      throw new EdgelabError(`${where(source)}: Secret ${parsed.data.metadata.name} in the render output; secrets are never rendered to files`, {
        hint: "Remove the file: edgelab deploy builds the lab's Secrets at deploy time from .edgelab/secrets and the environment.",
        exitCode: EXIT_USAGE,
      });
    }
    out.push({ object: parsed.data, source });
  }
  return out;
}

/** The `.yaml`/`.yml` files of `dir`, sorted by name (the NN- prefix is their order). */
export function manifestFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => e.name)
    .sort();
}

/** Every manifest under `dir`, files named relative to `shownAs` (e.g. "k8s"). */
export function readManifestDir(dir: string, shownAs: string, overlay: ReadonlyMap<string, string> = new Map()): Manifest[] {
  const names = new Set([...manifestFiles(dir), ...overlay.keys()]);
  return [...names].sort().flatMap((name) => parseManifests(overlay.get(name) ?? readFileSync(join(dir, name), "utf8"), `${shownAs}/${name}`));
}

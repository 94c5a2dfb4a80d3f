/**
 * Every artifact family, rendered from the Lab model. Pure given the template set; sorted by
 * path so output (and golden files) are stable.
 */
import { localDataPlane } from "../model/dataplane.js";
import type { Lab } from "../model/lab.js";
import type { Artifact } from "./artifact.js";
import { defaultEnvironment, type TemplateEnvironment } from "./environment.js";
import { renderLab } from "./lab.js";
import { renderNginx, type NginxPaths } from "./nginx.js";

export type { Artifact } from "./artifact.js";

export const FAMILIES = ["lab", "nginx"] as const;
export type Family = (typeof FAMILIES)[number];

export interface RenderOptions {
  /** Where the running processes keep their files (the nginx family's paths). */
  readonly paths: NginxPaths;
  readonly env?: TemplateEnvironment;
  readonly only?: readonly Family[];
}

export function renderAll(lab: Lab, options: RenderOptions): Artifact[] {
  const env = options.env ?? defaultEnvironment();
  const wanted = new Set<Family>(options.only ?? FAMILIES);
  const artifacts: Artifact[] = [];
  if (wanted.has("lab")) artifacts.push(...renderLab(lab, env));
  if (wanted.has("nginx")) artifacts.push(...renderNginx(lab, localDataPlane(lab), options.paths, env));
  return artifacts.sort((a, b) => a.path.localeCompare(b.path));
}

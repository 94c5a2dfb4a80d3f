/**
 * Every artifact family, rendered from the Lab model. Pure given the template set; sorted by
 * path so output (and golden files) are stable.
 */
import type { Lab } from "../model/lab.js";
import type { Artifact } from "./artifact.js";
import { defaultEnvironment, type TemplateEnvironment } from "./environment.js";
import { renderLab } from "./lab.js";

export type { Artifact } from "./artifact.js";

export const FAMILIES = ["lab"] as const;
export type Family = (typeof FAMILIES)[number];

export function renderAll(lab: Lab, env: TemplateEnvironment = defaultEnvironment(), only?: readonly Family[]): Artifact[] {
  const wanted = new Set<Family>(only ?? FAMILIES);
  const artifacts: Artifact[] = [];
  if (wanted.has("lab")) artifacts.push(...renderLab(lab, env));
  return artifacts.sort((a, b) => a.path.localeCompare(b.path));
}

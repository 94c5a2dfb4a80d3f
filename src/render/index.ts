/**
 * Every artifact family, rendered from the Lab model. Pure given the template set; sorted by
 * path so output (and golden files) are stable.
 *
 * The provider picks the layout: a local lab gets its nginx files (loopback placement); a
 * cluster lab gets what the cluster stages consume (K3s, Cilium, the routers' side, Ansible
 * variables) and its data plane from the same nginx renderers in the cluster placement.
 */
import { clusterDataPlane, localDataPlane } from "../model/dataplane.js";
import type { Lab, Provider } from "../model/lab.js";
import { renderAnsibleVars } from "./ansible.js";
import type { Artifact } from "./artifact.js";
import { renderCilium } from "./cilium.js";
import { defaultEnvironment, type TemplateEnvironment } from "./environment.js";
import { renderRouters } from "./frr.js";
import { renderK3s } from "./k3s.js";
import { renderLab } from "./lab.js";
import { CLUSTER_NGINX_PATHS, renderNginx, type NginxPaths } from "./nginx.js";
import { renderClusterRouter } from "./router.js";

export type { Artifact } from "./artifact.js";

export const FAMILIES = ["lab", "nginx", "k3s", "cilium", "routers", "ansible"] as const;
export type Family = (typeof FAMILIES)[number];

const LAYOUTS: Readonly<Record<Provider, readonly Family[]>> = {
  local: ["lab", "nginx"],
  proxmox: ["lab", "nginx", "k3s", "cilium", "routers", "ansible"],
};

/** The families a provider's layout has, in order. */
export function familiesFor(provider: Provider): readonly Family[] {
  return LAYOUTS[provider];
}

export interface RenderOptions {
  /** Where the local lab's processes keep their files (the nginx family's paths of a local lab). */
  readonly paths: NginxPaths;
  readonly env?: TemplateEnvironment;
  /** A subset of the provider's families (others are not rendered). */
  readonly only?: readonly Family[];
}

export function renderAll(lab: Lab, options: RenderOptions): Artifact[] {
  const env = options.env ?? defaultEnvironment();
  const layout = familiesFor(lab.provider);
  const wanted = new Set<Family>((options.only ?? layout).filter((f) => layout.includes(f)));
  const artifacts: Artifact[] = [];
  if (wanted.has("lab")) artifacts.push(...renderLab(lab, env));
  if (wanted.has("nginx")) artifacts.push(...renderDataPlane(lab, options.paths, env));
  if (wanted.has("k3s")) artifacts.push(...renderK3s(lab));
  if (wanted.has("cilium")) artifacts.push(...renderCilium(lab));
  if (wanted.has("routers")) artifacts.push(...renderRouters(lab, env));
  if (wanted.has("ansible")) artifacts.push(...renderAnsibleVars(lab));
  return artifacts.sort((a, b) => a.path.localeCompare(b.path));
}

/** The nginx family: the local placement for a local lab, the cluster placement (with the router's configuration) for a cluster. */
export function renderDataPlane(lab: Lab, localPaths: NginxPaths, env: TemplateEnvironment = defaultEnvironment()): Artifact[] {
  if (lab.provider === "local") return renderNginx(lab, localDataPlane(lab), localPaths, env);
  const plane = clusterDataPlane(lab);
  return [...renderNginx(lab, plane, CLUSTER_NGINX_PATHS, env), renderClusterRouter(lab, plane)];
}

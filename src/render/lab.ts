/**
 * The "lab" artifact family: the resolved model as JSON (for scripts and for Ansible's
 * include_vars) and a human summary. Pure.
 */
import type { SecretRef } from "../inventory/schema.js";
import type { Lab } from "../model/lab.js";
import type { Artifact } from "./artifact.js";
import type { TemplateEnvironment } from "./environment.js";
import { ciliumApiVersion } from "../inventory/versions.js";
import { peerRouters } from "./frr.js";

/** Secret references are kept (they say where a secret lives); vault ciphertext is not copied. */
function redact(ref: SecretRef | undefined): unknown {
  if (ref === undefined) return undefined;
  if (typeof ref === "object" && "vault" in ref) return { vault: "(encrypted)" };
  return ref;
}

export function labJson(lab: Lab): string {
  const vip = lab.k3s.vip;
  const registry = lab.images.registry;
  const tsig = lab.dns?.tsig;
  const view = {
    ...lab,
    k3s: { ...lab.k3s, token: redact(lab.k3s.token), vip: vip === undefined ? undefined : { ...vip, vrrp: { ...vip.vrrp, password: redact(vip.vrrp.password) } } },
    images: { ...lab.images, registry: registry === undefined ? undefined : { ...registry, password: redact(registry.password) } },
    dns: lab.dns === undefined ? undefined : { ...lab.dns, tsig: tsig === undefined ? undefined : { ...tsig, secret: redact(tsig.secret) } },
    proxmox: lab.proxmox === undefined ? undefined : { ...lab.proxmox, tokenSecret: redact(lab.proxmox.tokenSecret) },
    streams: lab.streams.map((s) => ({ ...s, key: redact(s.key) })),
  };
  return `${JSON.stringify(view, (_key, value: unknown) => (value === undefined ? null : value), 2)}\n`;
}

export function labSummary(lab: Lab, env: TemplateEnvironment): string {
  const bgp = lab.cilium.bgp;
  const routers = peerRouters(lab).map((r) => r.name);
  return env.render("lab/summary.txt.njk", {
    lab,
    routers,
    width: Math.max(22, ...routers.map((r) => `routers/${r}.frr.conf`.length)),
    bgpResources: bgp === undefined ? undefined : bgp.api === "bgpv2" ? `BGPv2 (${ciliumApiVersion(lab.cilium.version)})` : "CiliumBGPPeeringPolicy (cilium.io/v2alpha1)",
  });
}

export function renderLab(lab: Lab, env: TemplateEnvironment): Artifact[] {
  return [
    { path: "lab.json", content: labJson(lab), mode: 0o644, family: "lab" },
    { path: "summary.txt", content: labSummary(lab, env), mode: 0o644, family: "lab" },
  ];
}

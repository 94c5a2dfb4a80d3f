/** The network lab's topology as a Mermaid flowchart (docs/network-lab.md embeds the seed lab's). Pure. */
import type { NetlabPlan } from "./plan.js";

function nodeId(ns: string, plan: NetlabPlan): string {
  return ns.slice(plan.prefix.length + 1).replaceAll("-", "_");
}

export function topologyMermaid(plan: NetlabPlan): string {
  const lines = ["flowchart LR"];
  const id = (ns: string): string => nodeId(ns, plan);
  for (const r of plan.routers) lines.push(`  ${id(r.ns)}{{"${r.name}<br/>AS ${r.asn} · ${r.address}"}}`);
  for (const ns of plan.namespaces) {
    if (ns.role === "dc") lines.push(`  ${id(ns.name)}["DC site<br/>${ns.stands}"]`);
    if (ns.role === "client") lines.push(`  ${id(ns.name)}(["${ns.stands}"])`);
  }
  for (const s of plan.speakers) lines.push(`  ${id(s.ns)}["${s.host} (${s.label})<br/>${s.address} · announces ${plan.serviceIp}/32"]`);
  for (const link of plan.links) {
    const a = id(link.a.ns);
    const b = id(link.b.ns);
    const address = (end: typeof link.a): string => end.address ?? plan.bridges.find((br) => br.ns === end.ns && br.name === end.bridge)?.address ?? "";
    if (link.kind === "site") lines.push(`  ${a} --- |"${address(link.a)}"| ${b}`);
    else if (link.kind === "client") lines.push(`  ${a} --- |"${link.b.address ?? ""}"| ${b}`);
    else if (link.kind === "ibgp") lines.push(`  ${a} <== |"iBGP next-hop-self"| ==> ${b}`);
    else lines.push(`  ${a} <--> |"uplink ${link.a.address ?? ""}"| ${b}`);
  }
  return `${lines.join("\n")}\n`;
}

/** The address mapping as a Markdown table. */
export function mappingTable(plan: NetlabPlan): string {
  const rows = ["| Inventory | Network lab | What |", "| --- | --- | --- |", ...plan.map.blocks.map((b) => `| ${b.from} | ${b.to} | ${b.what} |`)];
  return `${rows.join("\n")}\n`;
}

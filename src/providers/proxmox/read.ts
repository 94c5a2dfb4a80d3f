/** Reading what the cluster holds: every VM whose vmid the lab wants or that carries its tag. */
import type { Lab } from "../../model/lab.js";
import { pveApi } from "./api.js";
import type { ProxmoxClient } from "./client.js";
import { fromApiConfig, labTag } from "./mapper.js";
import type { ActualVm } from "./plan.js";

function storageOf(config: Readonly<Record<string, unknown>>): string | undefined {
  for (const key of ["scsi0", "virtio0", "sata0", "ide0"]) {
    const value = config[key];
    if (typeof value === "string" && !value.includes("media=cdrom")) return value.split(":")[0];
  }
  return undefined;
}

export async function readActual(client: ProxmoxClient, lab: Lab): Promise<ActualVm[]> {
  const api = pveApi(client);
  const wanted = new Set(lab.hosts.map((h) => h.vm?.vmid).filter((v): v is number => v !== undefined));
  const tag = labTag(lab);
  const resources = await api.cluster.resources.$get({ type: "vm" });
  const tagsOf = (value: unknown): string[] => (typeof value === "string" ? value.split(/[;,\s]+/) : []);
  const relevant = resources.filter((r) => r.vmid !== undefined && r.node !== undefined && (wanted.has(r.vmid) || tagsOf(r.tags as unknown).includes(tag)));
  const out: ActualVm[] = [];
  for (const r of relevant) {
    const vmid = r.vmid ?? 0;
    const node = r.node ?? "";
    const config = (await api.nodes.$(node).qemu.$(vmid).config.$get()) as Record<string, unknown>;
    out.push({ vmid, node, status: r.status ?? "unknown", template: r.template === 1 || config["template"] === 1 || config["template"] === "1", storage: storageOf(config), config: fromApiConfig(config) });
  }
  return out.sort((a, b) => a.vmid - b.vmid);
}

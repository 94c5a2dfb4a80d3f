/** Reading what the cluster holds: who answers, and every VM whose vmid the lab wants or that carries its tag. */
import { z } from "zod";
import type { Lab } from "../../model/lab.js";
import { pveApi, SIMULATOR_VERSION_FIELD } from "./api.js";
import { ProviderError, type ProxmoxClient } from "./client.js";
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

const VersionAnswer = z.looseObject({
  version: z.string(),
  release: z.string().optional(),
  [SIMULATOR_VERSION_FIELD]: z.looseObject({ name: z.string(), timeScale: z.number().positive() }).optional(),
});

/** What answers at the API: its version, and whether it is edgelab's simulator (it says so in GET /version). */
export interface ClusterIdentity {
  readonly version: string;
  /** Set when the API is edgelab's simulator: its clock's scale (real ms per simulated ms). */
  readonly simulator: { readonly name: string; readonly timeScale: number } | undefined;
}

export async function readIdentity(client: ProxmoxClient): Promise<ClusterIdentity> {
  const answer = VersionAnswer.safeParse(await pveApi(client).version.$get());
  if (!answer.success) throw new ProviderError(`GET /version answered something that is not a Proxmox VE version: ${answer.error.issues[0]?.message ?? "?"}`, 200, "unexpected answer", "GET /version", undefined, "Is proxmox.url / PROXMOX_URL the API of a Proxmox VE node (https://<node>:8006)?");
  return { version: answer.data.version, simulator: answer.data[SIMULATOR_VERSION_FIELD] };
}

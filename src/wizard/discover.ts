/**
 * What the wizard offers as choices, read from the user's cluster through the provider's client
 * (TLS pinning, structured errors, GET retries): nodes, templates, storages for VM disks,
 * bridges and the VMs already there. Read-only: GETs only.
 */
import { z } from "zod";
import { pveApi } from "../providers/proxmox/api.js";
import type { ProxmoxClient } from "../providers/proxmox/client.js";
import { parseSize } from "../providers/proxmox/mapper.js";

export interface DiscoveredNode {
  readonly name: string;
  readonly online: boolean;
  /** Free memory in MiB (maxmem − mem), when the API says. */
  readonly freeMemoryMiB: number | undefined;
}

export interface DiscoveredTemplate {
  readonly vmid: number;
  readonly node: string;
  readonly name: string;
  readonly ostype: string | undefined;
  readonly description: string | undefined;
  /** Size of its boot disk in GiB. */
  readonly diskGiB: number | undefined;
}

export interface DiscoveredStorage {
  readonly id: string;
  readonly shared: boolean;
  readonly availGiB: number | undefined;
}

export interface DiscoveredBridge {
  readonly iface: string;
  readonly vlanAware: boolean;
  readonly comments: string | undefined;
}

export interface DiscoveredCluster {
  readonly nodes: readonly DiscoveredNode[];
  readonly templates: readonly DiscoveredTemplate[];
  /** Every VM (templates included): their ids and names are taken. */
  readonly vms: readonly { readonly vmid: number; readonly name: string; readonly node: string }[];
}

const NodeRow = z.looseObject({ node: z.string(), status: z.string().optional(), maxmem: z.number().optional(), mem: z.number().optional() });
const VmRow = z.looseObject({ vmid: z.number(), node: z.string(), name: z.string().optional(), template: z.union([z.number(), z.boolean()]).optional() });
const TemplateConfig = z.looseObject({ name: z.string().optional(), ostype: z.string().optional(), description: z.string().optional() });
const StorageRow = z.looseObject({ storage: z.string(), shared: z.union([z.number(), z.boolean()]).optional(), avail: z.number().optional(), content: z.string().optional(), enabled: z.number().optional(), active: z.number().optional() });
const BridgeRow = z.looseObject({ iface: z.string(), type: z.string().optional(), bridge_vlan_aware: z.union([z.number(), z.string()]).optional(), comments: z.string().optional() });

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

function bootDiskGiB(config: Readonly<Record<string, unknown>>): number | undefined {
  for (const key of ["scsi0", "virtio0", "sata0", "ide0"]) {
    const value = config[key];
    if (typeof value !== "string" || value.includes("media=cdrom")) continue;
    const size = /(?:^|,)size=([^,]+)/.exec(value)?.[1];
    return size === undefined ? undefined : parseSize(size);
  }
  return undefined;
}

/** Nodes, templates (with their disk size) and every VM of the cluster. */
export async function discoverCluster(client: ProxmoxClient): Promise<DiscoveredCluster> {
  const api = pveApi(client);
  const nodes = z
    .array(NodeRow)
    .parse(await api.nodes.$get())
    .map((n) => ({ name: n.node, online: n.status === "online", freeMemoryMiB: n.maxmem !== undefined && n.mem !== undefined ? Math.floor((n.maxmem - n.mem) / MiB) : undefined }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const vms = z.array(VmRow).parse(await api.cluster.resources.$get({ type: "vm" }));
  const templates: DiscoveredTemplate[] = [];
  for (const vm of vms.filter((v) => v.template === 1 || v.template === true)) {
    const config = (await api.nodes.$(vm.node).qemu.$(vm.vmid).config.$get()) as Record<string, unknown>;
    const c = TemplateConfig.parse(config);
    templates.push({ vmid: vm.vmid, node: vm.node, name: c.name ?? vm.name ?? `VM ${vm.vmid}`, ostype: c.ostype, description: c.description, diskGiB: bootDiskGiB(config) });
  }
  return {
    nodes,
    templates: templates.sort((a, b) => a.vmid - b.vmid),
    vms: vms.map((v) => ({ vmid: v.vmid, name: v.name ?? "", node: v.node })).sort((a, b) => a.vmid - b.vmid),
  };
}

/** Enabled storages of `node` that hold VM disks (`images` content). */
export async function discoverStorages(client: ProxmoxClient, node: string): Promise<DiscoveredStorage[]> {
  const rows = z.array(StorageRow).parse(await pveApi(client).nodes.$(node).storage.$get({ content: "images", enabled: true }));
  return rows
    .filter((s) => (s.content ?? "").split(",").includes("images") && s.enabled !== 0)
    .map((s) => ({ id: s.storage, shared: s.shared === 1 || s.shared === true, availGiB: s.avail !== undefined ? Math.floor(s.avail / GiB) : undefined }))
    .sort((a, b) => a.id.localeCompare(b.id));
}

/** Linux bridges of `node` (the VMs' NIC attaches to one; VLAN-aware ones carry the data_vlan tag). */
export async function discoverBridges(client: ProxmoxClient, node: string): Promise<DiscoveredBridge[]> {
  const rows = z.array(BridgeRow).parse(await pveApi(client).nodes.$(node).network.$get({ type: "any_bridge" }));
  return rows
    .filter((b) => b.type === undefined || b.type === "bridge" || b.type === "OVSBridge")
    .map((b) => ({ iface: b.iface, vlanAware: b.bridge_vlan_aware === 1 || b.bridge_vlan_aware === "1", comments: b.comments }))
    .sort((a, b) => a.iface.localeCompare(b.iface));
}

/**
 * The Proxmox VE wire format, in one place (shared/reference/proxmox-api.md): sshkeys
 * percent-encoded before form encoding, 0/1 booleans, numbers that arrive as strings, NICs that
 * come back with a generated MAC, tags separated by ';'. Pure.
 */
import type { Lab, LabHost } from "../../model/lab.js";

/** What edgelab manages on a VM, in its own (normalized) terms. */
export interface VmConfig {
  readonly name: string;
  readonly cores: number;
  readonly memory: number;
  readonly bridge: string;
  readonly vlan: number | undefined;
  /** "172.16.221.38/24" */
  readonly ip: string;
  readonly gateway: string | undefined;
  readonly nameserver: string | undefined;
  readonly searchdomain: string | undefined;
  readonly ciuser: string | undefined;
  readonly sshkeys: readonly string[];
  readonly agent: boolean;
  readonly tags: readonly string[];
  readonly description: string;
  /** Boot disk size in GiB (undefined: not managed). */
  readonly diskGiB: number | undefined;
}

export const MANAGED_TAG = "edgelab";

/** The tag that says which inventory (lab) a VM belongs to. */
export function labTag(lab: Pick<Lab, "name">): string {
  return `edgelab-${lab.name}`;
}

export function description(lab: Pick<Lab, "name">, host: Pick<LabHost, "name">): string {
  return `Managed by edgelab (lab ${lab.name}, host ${host.name}). Changes made here are reverted by \`edgelab provision\`.`;
}

/** Whether a VM's description says edgelab made it for this lab (set by the clone, before any tag). */
export function describedForLab(lab: Pick<Lab, "name">, text: string): boolean {
  return text.startsWith(`Managed by edgelab (lab ${lab.name}, host `);
}

/** The VM edgelab wants for a host. Undefined for hosts without a VM (provider local). */
export function desiredVm(lab: Lab, host: LabHost): VmConfig | undefined {
  const vm = host.vm;
  const px = lab.proxmox;
  if (vm === undefined || px === undefined) return undefined;
  const prefix = host.subnet?.prefix ?? 24;
  return {
    name: host.name,
    cores: vm.cores,
    memory: vm.memoryMiB,
    bridge: vm.bridge,
    vlan: vm.vlan,
    ip: `${host.address}/${prefix}`,
    gateway: host.subnet?.gateway,
    nameserver: px.nameservers.length > 0 ? px.nameservers.join(" ") : undefined,
    searchdomain: px.searchDomain,
    ciuser: host.sshUser,
    sshkeys: px.sshKeys,
    agent: true,
    tags: [MANAGED_TAG, labTag(lab)],
    description: description(lab, host),
    diskGiB: vm.diskGiB,
  };
}

/* ------------------------------------------------------------------ to the API */

/** sshkeys must be percent-encoded BEFORE form encoding (spaces as %20, never '+'). */
export function encodeSshKeys(keys: readonly string[]): string {
  return encodeURIComponent(keys.join("\n")).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function decodeSshKeys(encoded: string): string[] {
  return decodeURIComponent(encoded)
    .split("\n")
    .map((k) => k.trim())
    .filter((k) => k !== "");
}

/** The parameters of PUT /nodes/{node}/qemu/{vmid}/config that edgelab sets (as the API types them). */
export interface ApiConfig {
  name: string;
  cores: number;
  /** The API takes memory as a string ("4096"). */
  memory: string;
  net0: string;
  ipconfig0: string;
  /** "1" or "0" */
  agent: string;
  tags: string;
  description: string;
  nameserver?: string;
  searchdomain?: string;
  ciuser?: string;
  sshkeys?: string;
}

/** Config parameters for POST/PUT /nodes/{node}/qemu/{vmid}/config. The disk is resized separately. */
export function toApiConfig(c: VmConfig, existingNet0?: string): ApiConfig {
  const params: ApiConfig = {
    name: c.name,
    cores: c.cores,
    memory: String(c.memory),
    net0: netParam(c, existingNet0),
    ipconfig0: `ip=${c.ip}${c.gateway === undefined ? "" : `,gw=${c.gateway}`}`,
    agent: c.agent ? "1" : "0",
    tags: c.tags.join(";"),
    description: c.description,
  };
  if (c.nameserver !== undefined) params.nameserver = c.nameserver;
  if (c.searchdomain !== undefined) params.searchdomain = c.searchdomain;
  if (c.ciuser !== undefined) params.ciuser = c.ciuser;
  if (c.sshkeys.length > 0) params.sshkeys = encodeSshKeys(c.sshkeys);
  return params;
}

/** net0 keeps the MAC Proxmox generated (changing it would look like a new NIC to the guest). */
function netParam(c: VmConfig, existing?: string): string {
  const mac = existing === undefined ? undefined : parseNet(existing).mac;
  const model = mac === undefined ? "virtio" : `virtio=${mac}`;
  return `${model},bridge=${c.bridge}${c.vlan === undefined ? "" : `,tag=${c.vlan}`}`;
}

/* ------------------------------------------------------------------ from the API */

export interface ParsedNet {
  readonly model: string | undefined;
  readonly mac: string | undefined;
  readonly bridge: string | undefined;
  readonly vlan: number | undefined;
}

/** "virtio=BC:24:11:2A:3B:4C,bridge=vmbr0,tag=221,firewall=1" */
export function parseNet(value: string): ParsedNet {
  let model: string | undefined;
  let mac: string | undefined;
  let bridge: string | undefined;
  let vlan: number | undefined;
  for (const part of value.split(",")) {
    const [k, v] = part.split("=", 2) as [string, string | undefined];
    if (["virtio", "e1000", "rtl8139", "vmxnet3"].includes(k)) {
      model = k;
      mac = v?.toUpperCase();
    } else if (k === "model") model = v;
    else if (k === "macaddr") mac = v?.toUpperCase();
    else if (k === "bridge") bridge = v;
    else if (k === "tag" && v !== undefined) vlan = Number(v);
  }
  return { model, mac, bridge, vlan };
}

/** "32G", "4096M", "1T" → GiB. */
export function parseSize(size: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([KMGT])?$/.exec(size.trim());
  if (m === null) return undefined;
  const n = Number(m[1]);
  switch (m[2]) {
    case "K":
      return n / 1024 / 1024;
    case "M":
      return n / 1024;
    case "T":
      return n * 1024;
    default:
      return m[2] === "G" ? n : n / 1024 ** 3;
  }
}

/** The boot disk's size from a config: scsi0/virtio0/sata0 "local-lvm:vm-3001-disk-0,size=32G". */
export function diskGiB(config: Readonly<Record<string, unknown>>): number | undefined {
  for (const key of ["scsi0", "virtio0", "sata0", "ide0"]) {
    const value = config[key];
    if (typeof value !== "string") continue;
    const size = /(?:^|,)size=([^,]+)/.exec(value)?.[1];
    if (size !== undefined) return parseSize(size);
  }
  return undefined;
}

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : typeof v === "number" ? String(v) : undefined);
const num = (v: unknown): number | undefined => {
  const s = str(v);
  return s === undefined || s.trim() === "" || Number.isNaN(Number(s)) ? undefined : Number(s);
};

/** GET .../config → the same terms as desiredVm, so the two can be compared field by field. */
export function fromApiConfig(config: Readonly<Record<string, unknown>>): VmConfig {
  const net = parseNet(str(config["net0"]) ?? "");
  const ipconfig = str(config["ipconfig0"]) ?? "";
  const ip = /(?:^|,)ip=([^,]+)/.exec(ipconfig)?.[1] ?? "";
  const gw = /(?:^|,)gw=([^,]+)/.exec(ipconfig)?.[1];
  const agent = str(config["agent"]) ?? "0";
  const sshkeys = str(config["sshkeys"]);
  return {
    name: str(config["name"]) ?? "",
    cores: num(config["cores"]) ?? 1,
    memory: num(config["memory"]) ?? 512,
    bridge: net.bridge ?? "",
    vlan: net.vlan,
    ip,
    gateway: gw,
    nameserver: str(config["nameserver"]),
    searchdomain: str(config["searchdomain"]),
    ciuser: str(config["ciuser"]),
    sshkeys: sshkeys === undefined ? [] : decodeSshKeys(sshkeys),
    // "1" or "enabled=1,fstrim_cloned_disks=1"
    agent: agent === "1" || /(?:^|,)enabled=1(?:,|$)/.test(agent),
    tags: (str(config["tags"]) ?? "").split(/[;,\s]+/).filter((t) => t !== ""),
    description: (str(config["description"]) ?? "").trim(),
    diskGiB: diskGiB(config),
  };
}

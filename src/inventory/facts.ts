/**
 * Typed facts the cross-field rules and the model read: each lab section parsed on its own (so
 * one bad section does not hide the checks of the others) and each host's effective fields.
 * Pure.
 */
import type { z } from "zod";
import { flattenInventory, isRecord, type FlatHost, type FlatInventory, type Sourced } from "./flatten.js";
import type { PathSegment } from "./issue.js";
import {
  CiliumSettings,
  DnsSettings,
  HostFields,
  K3sSettings,
  LabSettings,
  NetworkSettings,
  ProxmoxSettings,
  StreamSettings,
  VlanSettings,
  Cidr4,
  MediaSettings,
  EdgeSettings,
  LocalSettings,
  AirgapSettings,
  ImagesSettings,
  type AirgapSettingsOut,
  type ImagesSettingsOut,
  type MediaSettingsOut,
  type EdgeSettingsOut,
  type LocalSettingsOut,
  type VlanSettingsOut,
  type CiliumSettingsOut,
  type DnsSettingsOut,
  type K3sSettingsOut,
  type LabSettingsOut,
  type NetworkSettingsOut,
  type ProxmoxSettingsOut,
  type StreamSettingsOut,
} from "./schema.js";

export type HostRole = "server" | "agent";

/** Group names that give a host its K3s role (after the seed's inventory). */
export const SERVER_GROUP = "master";
export const AGENT_GROUP = "node";
export const CLUSTER_GROUP = "k3s_cluster";

type HostFieldTypes = { [K in keyof typeof HostFields]: z.output<(typeof HostFields)[K]> };

export interface Field<T> {
  readonly value: T;
  readonly path: readonly PathSegment[];
}

/** A typed field whose path is built only when a rule reports it. */
class SourcedField<T> implements Field<T> {
  constructor(
    readonly value: T,
    private readonly source: Sourced,
  ) {}
  get path(): readonly PathSegment[] {
    return this.source.path;
  }
}

export interface HostFacts {
  readonly name: string;
  readonly path: readonly PathSegment[];
  readonly paths: readonly (readonly PathSegment[])[];
  readonly groups: readonly string[];
  /** undefined when the host is in both or neither of master/node (a rule reports it). */
  readonly role: HostRole | undefined;
  /** Effective, well-typed edgelab fields; a field that is absent or malformed is missing here. */
  readonly fields: { readonly [K in keyof HostFieldTypes]?: Field<HostFieldTypes[K]> };
  /** Every effective variable as written (for unknown-key and secret checks). */
  readonly raw: Pick<FlatHost, "get" | "has" | "own">;
}

export interface Indexed<T> {
  readonly index: number;
  readonly value: T;
  readonly path: readonly PathSegment[];
}

/** Items of a list that parse on their own, keeping their position in the file. */
function items<T>(schema: z.ZodType<T>, raw: unknown, path: readonly PathSegment[]): Indexed<T>[] {
  if (!Array.isArray(raw)) return [];
  const out: Indexed<T>[] = [];
  for (const [index, item] of raw.entries()) {
    const parsed = schema.safeParse(item);
    if (parsed.success) out.push({ index, value: parsed.data, path: [...path, index] });
  }
  return out;
}

export interface Section<T> {
  readonly value: T;
  readonly path: readonly PathSegment[];
  /** True when the file sets the section; false when defaults stand in for it. */
  readonly written: boolean;
  /** True when malformed parts were left out (each is reported by the schema check). */
  readonly partial: boolean;
}

export interface InventoryFacts {
  readonly flat: FlatInventory;
  readonly allVars: Readonly<Record<string, unknown>>;
  /** undefined: the section is malformed (the schema reported it), or absent without defaults. */
  readonly lab: Section<LabSettingsOut> | undefined;
  readonly proxmox: Section<ProxmoxSettingsOut> | undefined;
  readonly network: Section<NetworkSettingsOut> | undefined;
  readonly k3s: Section<K3sSettingsOut> | undefined;
  readonly cilium: Section<CiliumSettingsOut> | undefined;
  readonly dns: Section<DnsSettingsOut> | undefined;
  readonly media: Section<MediaSettingsOut> | undefined;
  readonly edge: Section<EdgeSettingsOut> | undefined;
  readonly local: Section<LocalSettingsOut> | undefined;
  readonly airgap: Section<AirgapSettingsOut> | undefined;
  readonly images: Section<ImagesSettingsOut> | undefined;
  /** Streams that parse, with their index in the file (defaults to one test stream "live"). */
  readonly streams: readonly Indexed<StreamSettingsOut>[];
  readonly streamsWritten: boolean;
  /** VLANs of network.vlans that parse, with their index in the file. */
  readonly vlans: readonly Indexed<VlanSettingsOut>[];
  /** Whether network.vlans is written, even if partly malformed. */
  readonly vlansWritten: boolean;
  /** Whether some entry of network.vlans is malformed (so a missing VLAN may be that one). */
  readonly vlansBroken: boolean;
  /** LB pool blocks that parse, with their index in the file. */
  readonly lbPool: readonly Indexed<string>[];
  /** Hosts under k3s_cluster, in file order. */
  readonly hosts: readonly HostFacts[];
  /** Hosts outside k3s_cluster (ignored by edgelab, left to Ansible). */
  readonly otherHosts: readonly string[];
}

const ALL_VARS_PATH = ["all", "vars"] as const;

/**
 * Parses one section on its own. When part of it is malformed (the whole-document schema check
 * reports that), the offending keys or list items are dropped and the rest is kept, marked
 * `partial`, so the cross-field rules still check what is sound without cascading errors.
 */
function section<T>(schema: z.ZodType<T>, allVars: Record<string, unknown>, key: string, withDefaults: boolean): Section<T> | undefined {
  const present = key in allVars && allVars[key] !== undefined && allVars[key] !== null;
  if (!present && !withDefaults) return undefined;
  let input: unknown = present ? structuredClone(allVars[key]) : {};
  for (let attempt = 0; attempt < 8; attempt++) {
    const parsed = schema.safeParse(input);
    if (parsed.success) return { value: parsed.data, path: [...ALL_VARS_PATH, key], written: present, partial: attempt > 0 };
    const pruned = prune(input, parsed.error.issues);
    if (pruned === undefined) return undefined;
    input = pruned;
  }
  return undefined;
}

function prune(input: unknown, issues: readonly z.core.$ZodIssue[]): unknown {
  if (Array.isArray(input)) {
    const drop = new Set(issues.map((i) => i.path[0]).filter((p): p is number => typeof p === "number"));
    return drop.size === 0 ? undefined : input.filter((_, index) => !drop.has(index));
  }
  if (!isRecord(input)) return undefined;
  const out = new Map<string, unknown>(Object.entries(input));
  let changed = false;
  for (const issue of issues) {
    const [first, second] = issue.path;
    if (issue.code === "unrecognized_keys" && issue.path.length === 0) {
      for (const k of issue.keys) changed = out.delete(k) || changed;
    } else if (typeof first === "string" && typeof second === "number" && Array.isArray(out.get(first))) {
      const list = out.get(first) as unknown[];
      out.set(first, list.map((item, index) => (index === second ? DROPPED : item)));
      changed = true;
    } else if (typeof first === "string" && out.has(first)) {
      out.delete(first);
      changed = true;
    }
  }
  for (const [k, v] of out) if (Array.isArray(v)) out.set(k, v.filter((item) => item !== DROPPED));
  return changed ? Object.fromEntries(out) : undefined;
}

const DROPPED = Symbol("dropped");

export function collectFacts(data: unknown): InventoryFacts {
  const flat = flattenInventory(data);
  const all = isRecord(data) && isRecord(data["all"]) ? data["all"] : {};
  const allVars = isRecord(all["vars"]) ? all["vars"] : {};

  const streamsPath = [...ALL_VARS_PATH, "streams"];
  const streamsWritten = allVars["streams"] !== undefined && allVars["streams"] !== null;
  const streams = streamsWritten
    ? items(StreamSettings, allVars["streams"], streamsPath)
    : [{ index: 0, value: StreamSettings.parse({ name: "live" }), path: [...streamsPath, 0] }];
  const networkRaw = isRecord(allVars["network"]) ? allVars["network"] : {};
  const vlansPath = [...ALL_VARS_PATH, "network", "vlans"];
  const vlans = items(VlanSettings, networkRaw["vlans"], vlansPath);
  const ciliumRaw = isRecord(allVars["cilium"]) ? allVars["cilium"] : {};
  const lbPool = items(Cidr4, ciliumRaw["lb_pool"], [...ALL_VARS_PATH, "cilium", "lb_pool"]);

  const hosts: HostFacts[] = [];
  const otherHosts: string[] = [];
  for (const host of flat.hosts) {
    if (!host.groups.includes(CLUSTER_GROUP)) {
      otherHosts.push(host.name);
      continue;
    }
    const isServer = host.groups.includes(SERVER_GROUP);
    const isAgent = host.groups.includes(AGENT_GROUP);
    const fields: Record<string, Field<unknown>> = {};
    for (const [key, schema] of Object.entries(HostFields) as [keyof typeof HostFields, z.ZodType][]) {
      const sourced = host.get(key);
      if (sourced === undefined) continue;
      const parsed = schema.safeParse(sourced.value);
      if (parsed.success) fields[key] = new SourcedField(parsed.data, sourced);
    }
    hosts.push({
      name: host.name,
      path: host.path,
      paths: host.paths,
      groups: host.groups,
      role: isServer === isAgent ? undefined : isServer ? "server" : "agent",
      fields,
      raw: host,
    });
  }

  return {
    flat,
    allVars,
    lab: section(LabSettings, allVars, "lab", true),
    proxmox: section(ProxmoxSettings, allVars, "proxmox", false),
    network: section(NetworkSettings, allVars, "network", false),
    k3s: section(K3sSettings, allVars, "k3s", true),
    cilium: section(CiliumSettings, allVars, "cilium", true),
    dns: section(DnsSettings, allVars, "dns", false),
    media: section(MediaSettings, allVars, "media", true),
    edge: section(EdgeSettings, allVars, "edge", true),
    local: section(LocalSettings, allVars, "local", true),
    airgap: section(AirgapSettings, allVars, "airgap", false),
    images: section(ImagesSettings, allVars, "images", true),
    streams,
    streamsWritten,
    vlans,
    vlansWritten: networkRaw["vlans"] !== undefined,
    vlansBroken: networkRaw["vlans"] !== undefined && (!Array.isArray(networkRaw["vlans"]) || vlans.length < networkRaw["vlans"].length),
    lbPool,
    hosts,
    otherHosts,
  };
}

/** The host's node label: its `label`, else "master" for servers and "worker" for agents. */
export function hostLabel(host: HostFacts): string {
  return host.fields.label?.value ?? (host.role === "server" ? "master" : "worker");
}

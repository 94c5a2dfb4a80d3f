/**
 * Ansible inventory groups → one entry per host with its effective variables and where each
 * came from. Works on raw parsed YAML (defensively: wrong shapes are the schema's business).
 * Pure.
 *
 * Precedence follows Ansible: a host's own vars beat any group's; a child group's vars beat its
 * parent's; among groups at the same depth, the later one in the file wins.
 */
import type { PathSegment } from "./issue.js";

export interface Sourced {
  readonly value: unknown;
  readonly path: readonly PathSegment[];
  /** Higher wins: group depth, or HOST_PRIORITY for host-level vars. */
  readonly priority: number;
}

export interface FlatHost {
  readonly name: string;
  /** Path of the host's first entry, e.g. all.children.k3s_cluster.children.master.hosts.lab-k3s01. */
  readonly path: readonly PathSegment[];
  /** Every entry of this host (a host may be listed in several groups). */
  readonly paths: readonly (readonly PathSegment[])[];
  /** Names of every group containing the host, outermost first, without duplicates. */
  readonly groups: readonly string[];
  readonly vars: ReadonlyMap<string, Sourced>;
}

export interface FlatGroup {
  readonly name: string;
  readonly path: readonly PathSegment[];
  readonly parents: readonly string[];
  readonly varKeys: readonly string[];
  /** The group's own `vars`, as written. */
  readonly vars: Readonly<Record<string, unknown>>;
}

export interface FlatInventory {
  readonly hosts: readonly FlatHost[];
  readonly groups: readonly FlatGroup[];
}

export const HOST_PRIORITY = 1_000_000;
const MAX_DEPTH = 64;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

interface MutableHost {
  name: string;
  paths: PathSegment[][];
  groups: string[];
  vars: Map<string, Sourced>;
}

export function flattenInventory(data: unknown): FlatInventory {
  const hosts = new Map<string, MutableHost>();
  const groups: FlatGroup[] = [];
  const all = isRecord(data) ? data["all"] : undefined;
  if (!isRecord(all)) return { hosts: [], groups: [] };

  const stack = new Set<unknown>();

  const visit = (
    name: string,
    group: Record<string, unknown>,
    path: PathSegment[],
    inherited: ReadonlyMap<string, Sourced>,
    ancestry: string[],
    depth: number,
  ): void => {
    if (depth > MAX_DEPTH || stack.has(group)) return;
    stack.add(group);
    const layer = new Map(inherited);
    const vars = group["vars"];
    const varKeys: string[] = [];
    if (isRecord(vars)) {
      for (const [key, value] of Object.entries(vars)) {
        varKeys.push(key);
        layer.set(key, { value, path: [...path, "vars", key], priority: depth });
      }
    }
    groups.push({ name, path, parents: [...ancestry], varKeys, vars: isRecord(vars) ? vars : {} });
    const chain = [...ancestry, name];

    const hostMap = group["hosts"];
    if (isRecord(hostMap)) {
      for (const [hostName, hostVars] of Object.entries(hostMap)) {
        const hostPath = [...path, "hosts", hostName];
        let entry = hosts.get(hostName);
        if (entry === undefined) {
          entry = { name: hostName, paths: [], groups: [], vars: new Map() };
          hosts.set(hostName, entry);
        }
        entry.paths.push(hostPath);
        for (const g of chain) if (!entry.groups.includes(g)) entry.groups.push(g);
        for (const [key, sourced] of layer) mergeVar(entry.vars, key, sourced);
        if (isRecord(hostVars)) {
          for (const [key, value] of Object.entries(hostVars)) {
            mergeVar(entry.vars, key, { value, path: [...hostPath, key], priority: HOST_PRIORITY });
          }
        }
      }
    }

    const children = group["children"];
    if (isRecord(children)) {
      for (const [childName, childGroup] of Object.entries(children)) {
        visit(childName, isRecord(childGroup) ? childGroup : {}, [...path, "children", childName], layer, chain, depth + 1);
      }
    }
    stack.delete(group);
  };

  visit("all", all, ["all"], new Map(), [], 0);

  return {
    hosts: [...hosts.values()].map((h) => ({
      name: h.name,
      path: h.paths[0] ?? [],
      paths: h.paths,
      groups: h.groups,
      vars: h.vars,
    })),
    groups,
  };
}

function mergeVar(target: Map<string, Sourced>, key: string, candidate: Sourced): void {
  const current = target.get(key);
  if (current === undefined || candidate.priority >= current.priority) target.set(key, candidate);
}

/**
 * Ansible inventory groups → one entry per host with its effective variables and where each
 * came from. Works on raw parsed YAML (defensively: wrong shapes are the schema's business).
 * Pure.
 *
 * Precedence follows Ansible: a host's own vars beat any group's; a child group's vars beat its
 * parent's; among groups at the same depth, the later one in the file wins.
 *
 * Nothing is copied per host: a host keeps references to its own vars and to the (shared)
 * scopes of its groups, and looks variables up through them. Paths are built only when asked
 * for, so a 10,000-host inventory costs little beyond the parsed data itself.
 */
import type { PathSegment } from "./issue.js";

export const HOST_PRIORITY = 1_000_000;
const MAX_DEPTH = 64;

/** A variable's value and where it was written. */
export class Sourced {
  constructor(
    readonly value: unknown,
    private readonly base: readonly PathSegment[],
    private readonly key: string,
    /** Higher wins: group depth, or HOST_PRIORITY for host-level vars. */
    readonly priority: number,
  ) {}

  get path(): readonly PathSegment[] {
    return [...this.base, this.key];
  }
}

/** A group's vars and its parent's, for lookups. Shared by every host of the group. */
interface Scope {
  readonly vars: Readonly<Record<string, unknown>> | undefined;
  /** Path of the group's `vars` mapping. */
  readonly varsPath: readonly PathSegment[];
  readonly depth: number;
  readonly parent: Scope | undefined;
}

interface Occurrence {
  readonly path: readonly PathSegment[];
  readonly own: Readonly<Record<string, unknown>> | undefined;
  readonly scope: Scope;
}

export class FlatHost {
  private readonly occurrences: Occurrence[] = [];
  readonly groups: string[] = [];

  constructor(readonly name: string) {}

  /** Path of the host's first entry, e.g. all.children.k3s_cluster.children.master.hosts.lab-k3s01. */
  get path(): readonly PathSegment[] {
    return this.occurrences[0]?.path ?? [];
  }

  /** Every entry of this host (a host may be listed in several groups). */
  get paths(): readonly (readonly PathSegment[])[] {
    return this.occurrences.map((o) => o.path);
  }

  add(occurrence: Occurrence, chain: readonly string[]): void {
    this.occurrences.push(occurrence);
    for (const g of chain) if (!this.groups.includes(g)) this.groups.push(g);
  }

  /** The effective value of a variable, with its source; undefined when nowhere set. */
  get(key: string): Sourced | undefined {
    for (let i = this.occurrences.length - 1; i >= 0; i--) {
      const own = this.occurrences[i]?.own;
      if (own !== undefined && Object.hasOwn(own, key)) {
        const occurrence = this.occurrences[i];
        if (occurrence !== undefined) return new Sourced(own[key], occurrence.path, key, HOST_PRIORITY);
      }
    }
    let best: { scope: Scope } | undefined;
    for (const occurrence of this.occurrences) {
      for (let scope: Scope | undefined = occurrence.scope; scope !== undefined; scope = scope.parent) {
        if (scope.vars !== undefined && Object.hasOwn(scope.vars, key)) {
          if (best === undefined || scope.depth >= best.scope.depth) best = { scope };
          break;
        }
      }
    }
    return best === undefined ? undefined : new Sourced(best.scope.vars?.[key], best.scope.varsPath, key, best.scope.depth);
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Variables written on the host itself (not inherited), each once. */
  *own(): Generator<[string, Sourced]> {
    const seen = new Set<string>();
    for (let i = this.occurrences.length - 1; i >= 0; i--) {
      const occurrence = this.occurrences[i];
      if (occurrence?.own === undefined) continue;
      for (const [key, value] of Object.entries(occurrence.own)) {
        if (seen.has(key)) continue;
        seen.add(key);
        yield [key, new Sourced(value, occurrence.path, key, HOST_PRIORITY)];
      }
    }
  }
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

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

export function flattenInventory(data: unknown): FlatInventory {
  const hosts = new Map<string, FlatHost>();
  const groups: FlatGroup[] = [];
  const all = isRecord(data) ? data["all"] : undefined;
  if (!isRecord(all)) return { hosts: [], groups: [] };

  const stack = new Set<unknown>();

  const visit = (name: string, group: Record<string, unknown>, path: PathSegment[], parent: Scope | undefined, ancestry: string[], depth: number): void => {
    if (depth > MAX_DEPTH || stack.has(group)) return;
    stack.add(group);
    const vars = isRecord(group["vars"]) ? group["vars"] : undefined;
    const scope: Scope = { vars, varsPath: [...path, "vars"], depth, parent };
    groups.push({ name, path, parents: [...ancestry], varKeys: vars === undefined ? [] : Object.keys(vars), vars: vars ?? {} });
    const chain = [...ancestry, name];

    const hostMap = group["hosts"];
    if (isRecord(hostMap)) {
      for (const [hostName, hostVars] of Object.entries(hostMap)) {
        let entry = hosts.get(hostName);
        if (entry === undefined) {
          entry = new FlatHost(hostName);
          hosts.set(hostName, entry);
        }
        entry.add({ path: [...path, "hosts", hostName], own: isRecord(hostVars) ? hostVars : undefined, scope }, chain);
      }
    }

    const children = group["children"];
    if (isRecord(children)) {
      for (const [childName, childGroup] of Object.entries(children)) {
        visit(childName, isRecord(childGroup) ? childGroup : {}, [...path, "children", childName], scope, chain, depth + 1);
      }
    }
    stack.delete(group);
  };

  visit("all", all, ["all"], undefined, [], 0);
  return { hosts: [...hosts.values()], groups };
}

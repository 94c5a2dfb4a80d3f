/**
 * Desired VMs vs what the cluster holds → the actions `provision` takes, as `edgelab plan` shows
 * them. Pure: the caller reads the cluster; this decides.
 */
import type { Lab, LabHost } from "../../model/lab.js";
import { describedForLab, desiredVm, labTag, type VmConfig } from "./mapper.js";

/** A VM as read back from the cluster (cluster/resources + its config). */
export interface ActualVm {
  readonly vmid: number;
  readonly node: string;
  readonly status: string;
  readonly template: boolean;
  /** Storage of the boot disk ("local-lvm"), if known. */
  readonly storage: string | undefined;
  readonly config: VmConfig;
}

export type FieldPolicy = "update" | "update-at-restart" | "grow" | "replace";

/**
 * What changing each field takes. The one table that decides update vs replace.
 * - update: applied live by PUT config.
 * - update-at-restart: stored now, effective at the next boot (cloud-init, CPU/memory without hotplug).
 * - grow: resize; a smaller size than the disk has forces a replace (disks never shrink).
 * - replace: the VM is destroyed and cloned again.
 */
export const FIELD_POLICY: Readonly<Record<keyof VmConfig | "node" | "storage", FieldPolicy>> = {
  name: "update",
  tags: "update",
  description: "update",
  cores: "update-at-restart",
  memory: "update-at-restart",
  bridge: "update-at-restart",
  vlan: "update-at-restart",
  ip: "update-at-restart",
  gateway: "update-at-restart",
  nameserver: "update-at-restart",
  searchdomain: "update-at-restart",
  ciuser: "update-at-restart",
  sshkeys: "update-at-restart",
  agent: "update-at-restart",
  diskGiB: "grow",
  node: "replace",
  storage: "replace",
};

export interface FieldChange {
  readonly field: keyof VmConfig;
  readonly from: string;
  readonly to: string;
  readonly policy: FieldPolicy;
}

export type Action =
  | { readonly kind: "create"; readonly host: string; readonly vmid: number; readonly node: string; readonly desired: VmConfig }
  | { readonly kind: "update"; readonly host: string; readonly vmid: number; readonly node: string; readonly desired: VmConfig; readonly changes: readonly FieldChange[] }
  | { readonly kind: "replace"; readonly host: string; readonly vmid: number; readonly node: string; readonly desired: VmConfig; readonly why: readonly string[] }
  | { readonly kind: "delete"; readonly vmid: number; readonly node: string; readonly name: string; readonly why: string }
  | { readonly kind: "unchanged"; readonly host: string; readonly vmid: number; readonly node: string }
  | { readonly kind: "conflict"; readonly host: string; readonly vmid: number; readonly node: string; readonly why: string };

export interface Plan {
  readonly actions: readonly Action[];
  readonly counts: Readonly<Record<Action["kind"], number>>;
}

function show(value: string | number | boolean | readonly string[] | undefined): string {
  if (value === undefined) return "(unset)";
  if (typeof value === "object") return value.length === 0 ? "(none)" : value.join(value.some((v) => v.length > 20) ? ", " : ";");
  return String(value);
}

function same(a: Parameters<typeof show>[0], b: Parameters<typeof show>[0]): boolean {
  return show(a) === show(b);
}

/** Field-by-field differences; tags compare as sets, extra tags on the VM are kept. */
export function diffConfig(desired: VmConfig, actual: VmConfig): FieldChange[] {
  const changes: FieldChange[] = [];
  for (const field of Object.keys(FIELD_POLICY) as (keyof typeof FIELD_POLICY)[]) {
    if (field === "node" || field === "storage") continue;
    const want = desired[field];
    const have = actual[field];
    if (field === "tags") {
      const missing = desired.tags.filter((t) => !actual.tags.includes(t));
      if (missing.length > 0) changes.push({ field, from: show(actual.tags), to: show([...actual.tags, ...missing]), policy: "update" });
      continue;
    }
    if (field === "diskGiB") {
      if (desired.diskGiB !== undefined && desired.diskGiB !== actual.diskGiB) {
        changes.push({ field, from: `${show(actual.diskGiB)}G`, to: `${desired.diskGiB}G`, policy: actual.diskGiB !== undefined && desired.diskGiB < actual.diskGiB ? "replace" : "grow" });
      }
      continue;
    }
    if (!same(want, have)) changes.push({ field, from: show(have), to: show(want), policy: FIELD_POLICY[field] });
  }
  return changes;
}

/**
 * Does this VM belong to this lab: tagged by edgelab for it, or — a clone whose configuration
 * never completed — described by edgelab as made for it (the description is set by the clone
 * itself, the tags only by the configuration after it)?
 */
export function ours(lab: Pick<Lab, "name">, vm: ActualVm): boolean {
  return vm.config.tags.includes(labTag(lab)) || describedForLab(lab, vm.config.description);
}

export function planVms(lab: Lab, actual: readonly ActualVm[]): Plan {
  const actions: Action[] = [];
  const byVmid = new Map(actual.map((vm) => [vm.vmid, vm]));
  const wanted = new Set<number>();
  const hosts: LabHost[] = lab.hosts.filter((h) => h.vm !== undefined);
  for (const host of hosts) {
    const spec = host.vm;
    const desired = desiredVm(lab, host);
    if (spec === undefined || desired === undefined) continue;
    wanted.add(spec.vmid);
    const vm = byVmid.get(spec.vmid);
    if (vm === undefined) {
      actions.push({ kind: "create", host: host.name, vmid: spec.vmid, node: spec.node, desired });
      continue;
    }
    if (vm.template || !ours(lab, vm)) {
      actions.push({
        kind: "conflict",
        host: host.name,
        vmid: spec.vmid,
        node: vm.node,
        why: vm.template ? `vmid ${spec.vmid} is a template on ${vm.node}` : `vmid ${spec.vmid} is taken on ${vm.node} by '${vm.config.name}', which is not tagged ${labTag(lab)}`,
      });
      continue;
    }
    const why: string[] = [];
    if (vm.node !== spec.node) why.push(`node: ${vm.node} → ${spec.node}`);
    if (vm.storage !== undefined && vm.storage !== spec.storage) why.push(`storage: ${vm.storage} → ${spec.storage}`);
    const changes = diffConfig(desired, vm.config);
    for (const c of changes) if (c.policy === "replace") why.push(`${c.field}: ${c.from} → ${c.to} (disks never shrink)`);
    if (why.length > 0) actions.push({ kind: "replace", host: host.name, vmid: spec.vmid, node: spec.node, desired, why });
    else if (changes.length > 0) actions.push({ kind: "update", host: host.name, vmid: spec.vmid, node: vm.node, desired, changes });
    else actions.push({ kind: "unchanged", host: host.name, vmid: spec.vmid, node: vm.node });
  }
  for (const vm of actual) {
    if (wanted.has(vm.vmid) || vm.template || !ours(lab, vm)) continue;
    actions.push({ kind: "delete", vmid: vm.vmid, node: vm.node, name: vm.config.name, why: "tagged for this lab but no longer in the inventory" });
  }
  const counts = { create: 0, update: 0, replace: 0, delete: 0, unchanged: 0, conflict: 0 };
  for (const a of actions) counts[a.kind] += 1;
  return { actions, counts };
}

/** "+ create", "~ update (cores: 2 → 4)", "-/+ replace (node: pve01 → pve02)", "- delete", "= unchanged". */
export function planLines(plan: Plan): string[] {
  const lines = plan.actions.map((a) => {
    switch (a.kind) {
      case "create":
        return `+ create     ${a.host} (vmid ${a.vmid} on ${a.node}: ${a.desired.cores} cores, ${a.desired.memory} MiB, ${a.desired.ip})`;
      case "update":
        return `~ update     ${a.host} (vmid ${a.vmid}: ${a.changes.map((c) => `${c.field}: ${c.from} → ${c.to}${c.policy === "update-at-restart" ? " [at restart]" : ""}`).join("; ")})`;
      case "replace":
        return `-/+ replace  ${a.host} (vmid ${a.vmid}: ${a.why.join("; ")})`;
      case "delete":
        return `- delete     ${a.name} (vmid ${a.vmid} on ${a.node}: ${a.why})`;
      case "unchanged":
        return `= unchanged  ${a.host} (vmid ${a.vmid})`;
      case "conflict":
        return `! conflict   ${a.host} (${a.why})`;
    }
  });
  const c = plan.counts;
  lines.push(`Plan: ${c.create} to create, ${c.update} to update, ${c.replace} to replace, ${c.delete} to delete, ${c.unchanged} unchanged${c.conflict > 0 ? `, ${c.conflict} in conflict` : ""}.`);
  return lines;
}

import { describe, expect, it } from "vitest";
import { desiredVm, fromApiConfig, toApiConfig } from "../../../../src/providers/proxmox/mapper.js";
import { diffConfig, FIELD_POLICY, planLines, planVms, type ActualVm } from "../../../../src/providers/proxmox/plan.js";
import type { Lab } from "../../../../src/model/lab.js";
import { labFrom } from "../../../helpers/dataplane.js";
import { host, labData } from "../../../helpers/inventory.js";

/** The cluster exactly as edgelab would leave it for this lab. */
function converged(lab: Lab): ActualVm[] {
  return lab.hosts.flatMap((h) => {
    const desired = desiredVm(lab, h);
    if (desired === undefined || h.vm === undefined) return [];
    return [{ vmid: h.vm.vmid, node: h.vm.node, status: "running", template: false, storage: h.vm.storage, config: fromApiConfig({ ...toApiConfig(desired), net0: `virtio=BC:24:11:00:00:0${h.vm.vmid % 10},bridge=vmbr0,tag=${h.vm.vlan}`, scsi0: `${h.vm.storage}:vm-${h.vm.vmid}-disk-0,size=32G` }) }];
  });
}

describe("planVms", () => {
  const lab = labFrom(labData());
  it("creates every VM on an empty cluster", () => {
    const plan = planVms(lab, []);
    expect(plan.actions.map((a) => `${a.kind} ${a.kind === "delete" ? a.name : a.host} ${a.vmid}`)).toEqual(["create lab-k3s01 3001", "create lab-k3s02 3002", "create lab-k3s03 3003", "create west-lab-k3s01 3004", "create east-lab-k3s01 3005"]);
    expect(planLines(plan).at(-1)).toBe("Plan: 5 to create, 0 to update, 0 to replace, 0 to delete, 0 unchanged.");
  });
  it("changes nothing on a converged cluster", () => {
    const plan = planVms(lab, converged(lab));
    expect(plan.counts).toEqual({ create: 0, update: 0, replace: 0, delete: 0, unchanged: 5, conflict: 0 });
  });
  it("updates changed sizes in place, marked as taking effect at restart", () => {
    const data = labData();
    host(data, "west-lab-k3s01")["memory"] = 8192;
    const plan = planVms(labFrom(data), converged(lab));
    expect(plan.counts.update).toBe(1);
    expect(planLines(plan)).toContain("~ update     west-lab-k3s01 (vmid 3004: memory: 4096 → 8192 [at restart])");
  });
  it("grows a disk, but replaces rather than shrinks", () => {
    const grow = labData();
    host(grow, "lab-k3s01")["disk"] = 64;
    const grown = planVms(labFrom(grow), converged(lab)).actions.find((a) => a.vmid === 3001);
    expect(grown).toMatchObject({ kind: "update", changes: [{ field: "diskGiB", from: "32G", to: "64G", policy: "grow" }] });
    const shrink = labData();
    host(shrink, "lab-k3s01")["disk"] = 16;
    const shrunk = planVms(labFrom(shrink), converged(lab)).actions.find((a) => a.vmid === 3001);
    expect(shrunk).toMatchObject({ kind: "replace", why: ["diskGiB: 32G → 16G (disks never shrink)"] });
  });
  it("replaces a VM that must move to another node or storage", () => {
    const data = labData();
    host(data, "lab-k3s02")["proxmox_node"] = "pve02";
    host(data, "lab-k3s03")["storage"] = "nvme01";
    const plan = planVms(labFrom(data), converged(lab));
    expect(planLines(plan).filter((l) => l.startsWith("-/+"))).toEqual(["-/+ replace  lab-k3s02 (vmid 3002: node: pve01 → pve02)", "-/+ replace  lab-k3s03 (vmid 3003: storage: ssd02-4T → nvme01)"]);
  });
  it("deletes only VMs tagged for this lab that left the inventory", () => {
    const stranger: ActualVm = { vmid: 4000, node: "pve01", status: "running", template: false, storage: "local-lvm", config: fromApiConfig({ name: "someone-else", tags: "prod" }) };
    const otherLab: ActualVm = { ...stranger, vmid: 4001, config: fromApiConfig({ name: "other", tags: "edgelab;edgelab-other-lab" }) };
    const leftover: ActualVm = { ...stranger, vmid: 3099, config: fromApiConfig({ name: "old-edge", tags: "edgelab;edgelab-seed-lab" }) };
    const plan = planVms(lab, [...converged(lab), stranger, otherLab, leftover]);
    expect(plan.actions.filter((a) => a.kind === "delete")).toEqual([{ kind: "delete", vmid: 3099, node: "pve01", name: "old-edge", why: "tagged for this lab but no longer in the inventory" }]);
  });
  it("refuses to touch a vmid held by a VM that is not ours, or by a template", () => {
    const actual = converged(lab).map((vm) => (vm.vmid === 3001 ? { ...vm, config: { ...vm.config, tags: ["prod"] } } : vm.vmid === 3002 ? { ...vm, template: true } : vm));
    const plan = planVms(lab, actual);
    expect(plan.counts.conflict).toBe(2);
    expect(planLines(plan)).toContain("! conflict   lab-k3s01 (vmid 3001 is taken on pve01 by 'lab-k3s01', which is not tagged edgelab-seed-lab)");
  });
});

describe("field policy", () => {
  it("declares every managed field exactly once", () => {
    expect(Object.keys(FIELD_POLICY).sort()).toEqual(["agent", "bridge", "ciuser", "cores", "description", "diskGiB", "gateway", "ip", "memory", "name", "nameserver", "node", "searchdomain", "sshkeys", "storage", "tags", "vlan"]);
  });
  it("keeps tags someone added by hand", () => {
    const lab = labFrom(labData());
    const first = converged(lab)[0];
    if (first === undefined) throw new Error("no vm");
    const desired = desiredVm(lab, lab.hosts[0] ?? (() => { throw new Error("no host"); })());
    if (desired === undefined) throw new Error("no desired");
    expect(diffConfig(desired, { ...first.config, tags: [...first.config.tags, "backup"] })).toEqual([]);
    expect(diffConfig(desired, { ...first.config, tags: ["backup"] })).toEqual([{ field: "tags", from: "backup", to: "backup;edgelab;edgelab-seed-lab", policy: "update" }]);
  });
});

import { describe, expect, it } from "vitest";
import { desiredVm, fromApiConfig } from "../../../../src/providers/proxmox/mapper.js";
import { diffConfig, FIELD_POLICY, planLines, planVms, type ActualVm } from "../../../../src/providers/proxmox/plan.js";
import { labFrom } from "../../../helpers/dataplane.js";
import { host, labData } from "../../../helpers/inventory.js";
import { SEED_LAB_VMS } from "../../../helpers/proxmox-wire.js";

/** The cluster exactly as edgelab leaves it for the seed lab. */
function converged(): ActualVm[] {
  return SEED_LAB_VMS.map(({ vmid, config }) => ({ vmid, node: "pve01", status: "running", template: false, storage: "ssd02-4T", config: fromApiConfig(config) }));
}

describe("planVms", () => {
  const lab = labFrom(labData());
  it("creates every VM on an empty cluster", () => {
    const plan = planVms(lab, []);
    expect(plan.actions.map((a) => `${a.kind} ${a.kind === "delete" ? a.name : a.host} ${a.vmid}`)).toEqual(["create lab-k3s01 3001", "create lab-k3s02 3002", "create lab-k3s03 3003", "create west-lab-k3s01 3004", "create east-lab-k3s01 3005"]);
    expect(planLines(plan).at(-1)).toBe("Plan: 5 to create, 0 to update, 0 to replace, 0 to delete, 0 unchanged.");
  });
  it("changes nothing on a converged cluster", () => {
    const plan = planVms(lab, converged());
    expect(plan.counts).toEqual({ create: 0, update: 0, replace: 0, delete: 0, unchanged: 5, conflict: 0 });
  });
  it("updates changed sizes in place, marked as taking effect at restart", () => {
    const data = labData();
    host(data, "west-lab-k3s01")["memory"] = 8192;
    const plan = planVms(labFrom(data), converged());
    expect(plan.counts.update).toBe(1);
    expect(planLines(plan)).toContain("~ update     west-lab-k3s01 (vmid 3004: memory: 4096 → 8192 [at restart])");
  });
  it("grows a disk, but replaces rather than shrinks", () => {
    const grow = labData();
    host(grow, "lab-k3s01")["disk"] = 64;
    const grown = planVms(labFrom(grow), converged()).actions.find((a) => a.vmid === 3001);
    expect(grown).toMatchObject({ kind: "update", changes: [{ field: "diskGiB", from: "32G", to: "64G", policy: "grow" }] });
    const shrink = labData();
    host(shrink, "lab-k3s01")["disk"] = 16;
    const shrunk = planVms(labFrom(shrink), converged()).actions.find((a) => a.vmid === 3001);
    expect(shrunk).toMatchObject({ kind: "replace", why: ["diskGiB: 32G → 16G (disks never shrink)"] });
  });
  it("replaces a VM that must move to another node or storage", () => {
    const data = labData();
    host(data, "lab-k3s02")["proxmox_node"] = "pve02";
    host(data, "lab-k3s03")["storage"] = "nvme01";
    const plan = planVms(labFrom(data), converged());
    expect(planLines(plan).filter((l) => l.startsWith("-/+"))).toEqual(["-/+ replace  lab-k3s02 (vmid 3002: node: pve01 → pve02)", "-/+ replace  lab-k3s03 (vmid 3003: storage: ssd02-4T → nvme01)"]);
  });
  it("takes a clone edgelab made for this lab but never got to tag as ours (an update, not a conflict)", () => {
    const untagged = converged().map((vm) => (vm.vmid === 3003 ? { ...vm, config: fromApiConfig({ name: "lab-k3s03", description: "Managed by edgelab (lab seed-lab, host lab-k3s03). Changes made here are reverted by `edgelab provision`.", scsi0: "ssd02-4T:vm-3003-disk-0,size=3584M" }) } : vm));
    const action = planVms(lab, untagged).actions.find((a) => a.vmid === 3003);
    expect(action?.kind).toBe("update");
    const someoneElses = converged().map((vm) => (vm.vmid === 3003 ? { ...vm, config: fromApiConfig({ name: "lab-k3s03", description: "Managed by edgelab (lab other-lab, host lab-k3s03)." }) } : vm));
    expect(planVms(lab, someoneElses).actions.find((a) => a.vmid === 3003)?.kind).toBe("conflict");
  });
  it("deletes only VMs tagged for this lab that left the inventory", () => {
    const stranger: ActualVm = { vmid: 4000, node: "pve01", status: "running", template: false, storage: "local-lvm", config: fromApiConfig({ name: "someone-else", tags: "prod" }) };
    const otherLab: ActualVm = { ...stranger, vmid: 4001, config: fromApiConfig({ name: "other", tags: "edgelab;edgelab-other-lab" }) };
    const leftover: ActualVm = { ...stranger, vmid: 3099, config: fromApiConfig({ name: "old-edge", tags: "edgelab;edgelab-seed-lab" }) };
    const plan = planVms(lab, [...converged(), stranger, otherLab, leftover]);
    expect(plan.actions.filter((a) => a.kind === "delete")).toEqual([{ kind: "delete", vmid: 3099, node: "pve01", name: "old-edge", why: "tagged for this lab but no longer in the inventory" }]);
  });
  it("refuses to touch a vmid held by a VM that is not ours, or by a template", () => {
    const actual = converged().map((vm) => (vm.vmid === 3001 ? { ...vm, config: { ...vm.config, tags: ["prod"], description: "billing database" } } : vm.vmid === 3002 ? { ...vm, template: true } : vm));
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
    const first = converged()[0];
    if (first === undefined) throw new Error("no vm");
    const desired = desiredVm(lab, lab.hosts[0] ?? (() => { throw new Error("no host"); })());
    if (desired === undefined) throw new Error("no desired");
    expect(diffConfig(desired, { ...first.config, tags: [...first.config.tags, "backup"] })).toEqual([]);
    expect(diffConfig(desired, { ...first.config, tags: ["backup"] })).toEqual([{ field: "tags", from: "backup", to: "backup;edgelab;edgelab-seed-lab", policy: "update" }]);
  });
});

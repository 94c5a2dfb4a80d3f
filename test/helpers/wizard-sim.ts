/** A simulated cluster for the wizard: two nodes, two templates, a shared and a local storage, bridges and occupied vmids. */
import type { SimStateSpec } from "../../src/providers/proxmox/simulator.js";

export const WIZARD_TOKEN = { id: "edgelab@pve!wizard", secret: "5b1c7e0a-2d4f-4e6a-8b9c-0a1b2c3d4e5f" };

export const WIZARD_STATE: SimStateSpec = {
  nodes: [
    {
      name: "pve01",
      memoryGiB: 128,
      storages: [{ id: "ceph-vm", shared: true, totalGiB: 4000 }, { id: "local-lvm", shared: false, totalGiB: 800 }],
      bridges: [{ iface: "vmbr0", vlanAware: true, comments: "trunk" }, { iface: "vmbr1", vlanAware: false }],
    },
    { name: "pve02", memoryGiB: 64, storages: [{ id: "ceph-vm", shared: true, totalGiB: 4000 }], bridges: [{ iface: "vmbr0", vlanAware: true }] },
  ],
  vms: [
    { vmid: 9000, node: "pve01", template: true, config: { name: "debian12-cloud", ostype: "l26", description: "Debian 12 genericcloud", cores: "2", memory: "2048", scsi0: "ceph-vm:base-9000-disk-0,size=10G", ide2: "ceph-vm:vm-9000-cloudinit,media=cdrom", agent: "1" } },
    { vmid: 9001, node: "pve02", template: true, config: { name: "ubuntu24-cloud", ostype: "l26", scsi0: "ceph-vm:base-9001-disk-0,size=3584M" } },
    { vmid: 3001, node: "pve01", status: "running", config: { name: "db01", memory: "8192", scsi0: "local-lvm:vm-3001-disk-0,size=32G" } },
    { vmid: 3002, node: "pve02", config: { name: "seed-lab-k3s01", scsi0: "ceph-vm:vm-3002-disk-0,size=32G" } },
  ],
};

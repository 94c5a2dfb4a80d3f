import { describe, expect, it } from "vitest";
import { decodeSshKeys, desiredVm, diskGiB, encodeSshKeys, fromApiConfig, parseNet, parseSize, toApiConfig } from "../../../../src/providers/proxmox/mapper.js";
import { labFrom } from "../../../helpers/dataplane.js";
import { at, labData } from "../../../helpers/inventory.js";

/** Public keys as ssh-keygen writes them (the inventory refuses lines that are not keys). */
const KEYS = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@example.com", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDTQNmN3ClR53974xEu/+TcvzF3qMT7usI1QS54iraSc5fd18y8TP6VJkpO8fo3yFIh0XpNRYNgfloyeGlcfTbQOAlNuwYmaGzogNE89T/JudaKfkN+IeIoKmnQCNFVPwhNHoqRN33Erp0l2ZNkFs9K4ki32jyVasHcPUigZWURP5ajIRWu+ZPY4SPTBUtAweqrJkkcW39aPV+FbwmEThjg/4jFL6vgPtCtkVEN/O7PawLcCb3UXUAsRVNR7JqobpGYhZPyh3pgFR5484lkTr7uhwtLijAncv5ZaW6Ho7OtMj7BvSk/QiAarlWxIwHwOUkPCC+sxvDfNjrmq+PXNY3L bob"];
/** Lines with every character the encoding must escape (only the encoding sees them). */
const ODD = [KEYS[0] ?? "", "ssh-rsa AAAAB3NzaC1yc2E+/== bob"];

function seedLab() {
  const data = labData();
  at(data, "all.vars.proxmox")["ssh_keys"] = KEYS;
  return labFrom(data);
}

describe("sshkeys encoding", () => {
  it("percent-encodes before form encoding: spaces %20, newline %0A, '+' and '/' and '=' escaped", () => {
    const encoded = encodeSshKeys(ODD);
    expect(encoded).not.toMatch(/[ +:\n]/);
    expect(encoded).toContain("%20");
    expect(encoded).toContain("%0A");
    expect(encoded).toContain("%2B%2F%3D%3D");
    expect(decodeSshKeys(encoded)).toEqual(ODD);
  });
});

describe("desired VM config", () => {
  const lab = seedLab();
  const host = lab.hosts[3];
  const desired = host === undefined ? undefined : desiredVm(lab, host);
  it("carries the host's sizes, NIC on the bridge with its VLAN, static IP, cloud-init user and our tags", () => {
    expect(desired).toMatchObject({ name: "west-lab-k3s01", cores: 4, memory: 4096, bridge: "vmbr0", vlan: 222, ip: "172.16.222.41/24", gateway: "172.16.222.1", ciuser: "ansibleuser", agent: true, tags: ["edgelab", "edgelab-seed-lab"], diskGiB: 32, nameserver: "172.16.221.1", searchdomain: "example.com" });
    expect(desired?.description).toMatch(/Managed by edgelab \(lab seed-lab, host west-lab-k3s01\)/);
  });
  it("is sent in the API's terms", () => {
    if (desired === undefined) throw new Error("no desired VM");
    const params = toApiConfig(desired);
    expect(params).toMatchObject({ net0: "virtio,bridge=vmbr0,tag=222", ipconfig0: "ip=172.16.222.41/24,gw=172.16.222.1", agent: "1", tags: "edgelab;edgelab-seed-lab", ciuser: "ansibleuser", cores: 4, memory: "4096" });
    expect(params.sshkeys).toBe(encodeSshKeys(KEYS));
  });
  it("keeps the MAC Proxmox generated when the NIC is reconfigured", () => {
    if (desired === undefined) throw new Error("no desired VM");
    expect(toApiConfig(desired, "virtio=bc:24:11:2a:3b:4c,bridge=vmbr1,tag=9").net0).toBe("virtio=BC:24:11:2A:3B:4C,bridge=vmbr0,tag=222");
  });
  it("reads back to the same terms from what Proxmox stores", () => {
    if (desired === undefined) throw new Error("no desired VM");
    const stored = { ...toApiConfig(desired), net0: "virtio=BC:24:11:2A:3B:4C,bridge=vmbr0,tag=222,firewall=1", agent: "enabled=1,fstrim_cloned_disks=1", cores: "4", memory: "4096", scsi0: "ssd02-4T:vm-3004-disk-0,iothread=1,size=32G", digest: "abc" };
    expect(fromApiConfig(stored)).toEqual(desired);
  });
});

describe("wire parsing", () => {
  it("parses NICs in both spellings", () => {
    expect(parseNet("virtio=bc:24:11:2a:3b:4c,bridge=vmbr0,tag=221")).toEqual({ model: "virtio", mac: "BC:24:11:2A:3B:4C", bridge: "vmbr0", vlan: 221 });
    expect(parseNet("model=e1000,macaddr=aa:bb:cc:dd:ee:ff,bridge=vmbr1")).toEqual({ model: "e1000", mac: "AA:BB:CC:DD:EE:FF", bridge: "vmbr1", vlan: undefined });
  });
  it("parses disk sizes", () => {
    expect(parseSize("32G")).toBe(32);
    expect(parseSize("4096M")).toBe(4);
    expect(parseSize("1T")).toBe(1024);
    expect(parseSize("big")).toBeUndefined();
    expect(diskGiB({ virtio0: "local:9000/base-9000-disk-0.qcow2/101/vm-101-disk-0.qcow2,size=2252M" })).toBeCloseTo(2.2, 1);
    expect(diskGiB({ ide2: "local-lvm:vm-101-cloudinit,media=cdrom" })).toBeUndefined();
  });
});

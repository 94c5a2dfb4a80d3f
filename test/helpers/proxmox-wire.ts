/**
 * The seed lab's VMs (inventories/lab.yml) as GET /nodes/pve01/qemu/{vmid}/config returns them
 * once edgelab has provisioned them — written out by hand from the wire format in
 * shared/reference/proxmox-api.md, not produced by the mapper under test.
 */
export function seedVmConfig(name: string, vmid: number, vlan: number, ip: string, gateway: string, mac: string): Record<string, string | number> {
  return {
    name,
    cores: 4,
    memory: "4096",
    net0: `virtio=${mac},bridge=vmbr0,tag=${vlan}`,
    ipconfig0: `ip=${ip}/24,gw=${gateway}`,
    nameserver: "172.16.221.1",
    searchdomain: "example.com",
    ciuser: "ansibleuser",
    // proxmox.ssh_keys, percent-encoded as the API stores it (spaces %20, '+' %2B, '/' %2F, '@' %40).
    sshkeys: "ssh-ed25519%20AAAAC3NzaC1lZDI1NTE5AAAAIEdCQddV402NdWP88l9wNa2nHo%2BZhlbb4P9Xtn%2F7r%2FWo%20you%40workstation",
    agent: "1",
    tags: "edgelab;edgelab-seed-lab",
    description: `Managed by edgelab (lab seed-lab, host ${name}). Changes made here are reverted by \`edgelab provision\`.`,
    scsi0: `ssd02-4T:vm-${vmid}-disk-0,iothread=1,size=32G`,
    ide2: `ssd02-4T:vm-${vmid}-cloudinit,media=cdrom`,
    boot: "order=scsi0",
  };
}

/** The five VMs of the seed lab, converged. */
export const SEED_LAB_VMS = [
  { vmid: 3001, config: seedVmConfig("lab-k3s01", 3001, 221, "172.16.221.38", "172.16.221.1", "BC:24:11:3A:00:01") },
  { vmid: 3002, config: seedVmConfig("lab-k3s02", 3002, 221, "172.16.221.39", "172.16.221.1", "BC:24:11:3A:00:02") },
  { vmid: 3003, config: seedVmConfig("lab-k3s03", 3003, 221, "172.16.221.40", "172.16.221.1", "BC:24:11:3A:00:03") },
  { vmid: 3004, config: seedVmConfig("west-lab-k3s01", 3004, 222, "172.16.222.41", "172.16.222.1", "BC:24:11:3A:00:04") },
  { vmid: 3005, config: seedVmConfig("east-lab-k3s01", 3005, 223, "172.16.223.42", "172.16.223.1", "BC:24:11:3A:00:05") },
] as const;

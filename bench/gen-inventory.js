// Generates a valid inventory with N edge hosts (agents) spread over VLANs of /22 subnets,
// 3 servers, one BGP peer per edge label; with brokenEvery = k, every k-th host has one problem.
// Deterministic: same arguments, same text.
// Usage: node bench/gen-inventory.js 10000 [brokenEvery] > /tmp/big.yml

/**
 * Ways a host line can be wrong, one problem each (for the "1% broken" inventory): a vmid taken by
 * the host before it, an address outside its VLAN's subnet, a VLAN that is not defined, a label
 * that is not a DNS label, a misspelt variable.
 */
const BREAKAGES = [
  (host, e) => host.replace(/vmid: \d+/, `vmid: ${10000 + e - 1}`),
  (host, e) => host.replace(/ansible_host: [\d.]+/, `ansible_host: 10.98.${Math.floor(e / 256)}.${e % 256}`),
  (host) => host.replace(/data_vlan: \d+/, "data_vlan: 4000"),
  (host) => host.replace(/label: edge-(\d+)/, "label: Edge_$1"),
  (host) => host.replace("vmid:", "vmidd:"),
];

export function generateInventory(edges, { labels = 40, brokenEvery = 0 } = {}) {
  const perVlan = 1000; // a /22 holds 1022 hosts
  const vlans = Math.ceil(edges / perVlan);
  const lines = [];
  lines.push("all:", "  vars:", "    lab: {name: scale, provider: proxmox}", "    ansible_user: ansibleuser");
  lines.push("    storage: local-lvm", "    vcpus: 2", "    memory: 2048");
  lines.push("    proxmox: {url: 'https://pve.example.com:8006', node: pve01, template: 9000}");
  lines.push("    network:", "      vlans:");
  lines.push("        - {id: 100, subnet: 10.100.0.0/24, gateway: 10.100.0.1}");
  for (let v = 0; v < vlans; v++) {
    const third = v * 4;
    lines.push(`        - {id: ${200 + v}, subnet: 10.${200 + Math.floor(third / 256)}.${third % 256}.0/22, gateway: 10.${200 + Math.floor(third / 256)}.${third % 256}.1}`);
  }
  lines.push("    k3s: {token: {env: K3S_TOKEN}}");
  lines.push("    cilium:", "      bgp:", "        local_asn: 64513", "        peers:");
  for (let l = 0; l < labels; l++) lines.push(`          edge-${l}: [{address: 10.100.0.${10 + (l % 200)}, asn: ${65000 + l}}]`);
  lines.push("      lb_pool: [10.99.0.0/16]");
  lines.push("  children:", "    k3s_cluster:", "      children:", "        master:", "          hosts:");
  for (let s = 0; s < 3; s++) lines.push(`            server-${s}: {ansible_host: 10.100.0.${100 + s}, vmid: ${1000 + s}, data_vlan: 100, label: master}`);
  lines.push("        node:", "          hosts:");
  for (let e = 0; e < edges; e++) {
    const v = Math.floor(e / perVlan);
    const offset = (e % perVlan) + 2;
    const third = v * 4 + Math.floor(offset / 256);
    const address = `10.${200 + Math.floor((v * 4) / 256)}.${third % 256}.${offset % 256}`;
    let host = `            edge-${String(e).padStart(5, "0")}: {ansible_host: ${address}, vmid: ${10000 + e}, data_vlan: ${200 + v}, label: edge-${e % labels}}`;
    // Every brokenEvery-th host (from the 2nd on) gets one problem, the kinds in turn.
    if (brokenEvery > 0 && e % brokenEvery === 1) host = BREAKAGES[Math.floor(e / brokenEvery) % BREAKAGES.length](host, e);
    lines.push(host);
  }
  return `${lines.join("\n")}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(generateInventory(Number(process.argv[2] ?? 10000), { brokenEvery: Number(process.argv[3] ?? 0) }));
}

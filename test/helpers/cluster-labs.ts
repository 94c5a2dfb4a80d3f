/** The cluster labs the golden files and the real-program checks use. */
import { buildLab, type Lab } from "../../src/model/lab.js";
import { at, check, host, labData, vars, type Data } from "./inventory.js";

export function labOf(data: Data): Lab {
  const result = check(data);
  if (result.facts === undefined) throw new Error(`invalid test inventory: ${result.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return buildLab(result.facts);
}

/** The seed lab with an API VIP held by the servers, and the rest of the cluster settings in use. */
export function vipData(): Data {
  const data = labData();
  Object.assign(at(data, "all.vars.k3s"), {
    api_vip: "172.16.221.37",
    vrrp: { interface: "eth1", password: { env: "EDGELAB_VRRP_PASSWORD" } },
    server_config: { "tls-san": ["k8s.example.com"], "etcd-snapshot-retention": 10 },
    agent_config: { "kubelet-arg": ["max-pods=150"] },
  });
  vars(data)["airgap"] = {
    k3s_binary: "files/k3s",
    k3s_images: "files/k3s-airgap-images-amd64.tar.zst",
    k3s_checksums: "files/sha256sum-amd64.txt",
    cilium_chart: "files/cilium-1.19.1.tgz",
    image_archives: ["files/cilium-images-1.19.1.tar"],
  };
  vars(data)["images"] = { registry: { address: "registry.example.com:5000/edgelab", username: "edgelab", password: { env: "EDGELAB_REGISTRY_PASSWORD" } } };
  Object.assign(at(data, "all.vars.dns"), { server: "172.16.221.1", tsig: { name: "edgelab-update", secret: "{{ vault_dns_tsig_secret }}" } });
  // The east worker peers with a router two hops away.
  at(data, "all.vars.cilium.bgp.peers")["east-worker"] = [{ name: "region-router02", address: "172.16.30.129", asn: 30 }];
  at(data, "all.vars.cilium.bgp")["sessions"] = { "east-worker": { ebgp_multihop: 2 } };
  host(data, "lab-k3s01")["iscsi_targets"] = [{ portal: "172.16.221.10", target: "iqn.2024-04.com.example:storage.lab-k3s01", path: "/mnt/iscsi", format: true }];
  at(data, "all.children.k3s_cluster.children.node.vars")["nfs_exports"] = [{ export: "172.16.221.10:/export/longhorn", path: "/mnt/longhorn/data" }];
  host(data, "west-lab-k3s01")["ssh_host_keys"] = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBm6v0pCSaV0qiyb2zX0Wc0N1a1p8o1ukGxHcX1yLr4E"];
  at(data, "all.vars.edge")["groups"] = { "west-worker": { replicas: 2, cache_mb: 512 } };
  return data;
}

/** The seed lab pinned to Cilium 1.17 with the seed's own session settings (legacy peering policy). */
export function legacyData(): Data {
  const data = labData();
  at(data, "all.vars.cilium")["version"] = "1.17.9";
  at(data, "all.vars.cilium.bgp")["session"] = { ebgp_multihop: 10, hold_time: 90, keepalive_time: 30, connect_retry: 120, graceful_restart: { enabled: true, restart_time: 120 } };
  return data;
}

export const CLUSTER_LABS: readonly { readonly name: string; readonly data: () => Data }[] = [
  { name: "seed", data: labData },
  { name: "vip", data: vipData },
  { name: "legacy", data: legacyData },
];

/** The network lab's test inventory: the seed lab (inventories/lab.yml) with a second west worker and quick BGP timers. */
import { at, labData, type Data } from "./inventory.js";

export function netlabData(): Data {
  const data = labData();
  at(data, "all.children.k3s_cluster.children.node.hosts")["west-lab-k3s02"] = { ansible_host: "172.16.222.43", vmid: 3006, data_vlan: 222, label: "west-worker" };
  // Quick sessions: the speakers connect within a second or two, a dead one is noticed in 9 s.
  at(data, "all.vars.cilium.bgp")["session"] = { hold_time: 9, keepalive_time: 3, connect_retry: 1 };
  return data;
}

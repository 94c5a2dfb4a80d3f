/**
 * The cilium stage (provider proxmox): Cilium itself is installed by K3s from the HelmChart the
 * k3s stage put in place before the first server started; this stage runs playbooks/cilium.yml
 * on the first server — the BGP and LB-IPAM objects applied once Cilium's CRDs exist, then a
 * bounded wait for every BGP session (a timeout names the node and the peer).
 */
import type { Stage } from "../stage.js";
import { ansibleInputs, playbookOutcome, runPlaybook } from "./ansible.js";

export const ciliumStage: Stage = {
  name: "cilium",
  title: "Cilium's BGP peering and LB-IPAM, sessions established",
  inputs: (p) => ({ ...ansibleInputs(p, ["cilium"]), k3s: p.outputs.get("k3s")?.["api"] ?? "" }),
  apply: async (run) => {
    const first = run.p.lab.servers.slice(0, 1);
    const outcome = await runPlaybook(run, { playbook: "cilium", hosts: first, what: "apply the BGP and LB-IPAM objects and wait for the sessions (ansible-playbook cilium.yml)" });
    return playbookOutcome(outcome, first.length, "BGP and LB-IPAM objects applied, sessions established");
  },
};

/**
 * The prepare stage (provider proxmox): playbooks/prepare.yml on every host of the cluster —
 * packages, kernel modules, sysctls, time synchronisation, storage (and whatever further roles
 * the prepare play runs). Runs again when the hosts, the rendered variables or edgelab's roles
 * changed.
 */
import type { Stage } from "../stage.js";
import { ansibleInputs, playbookOutcome, runPlaybook } from "./ansible.js";

export const prepareStage: Stage = {
  name: "prepare",
  title: "hosts prepared with Ansible (packages, kernel settings, storage)",
  inputs: (p) => ansibleInputs(p, []),
  apply: async (run) => {
    const hosts = run.p.lab.hosts;
    const outcome = await runPlaybook(run, { playbook: "prepare", hosts, what: "prepare the hosts (ansible-playbook prepare.yml)" });
    return playbookOutcome(outcome, hosts.length, "prepared");
  },
};

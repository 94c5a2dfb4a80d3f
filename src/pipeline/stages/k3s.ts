/**
 * The k3s stage (provider proxmox): playbooks/k3s.yml — the pinned K3s on every host, Cilium's
 * chart in the first server's manifests directory before it starts, servers one at a time, then
 * agents, then every node Ready — and the cluster's kubeconfig, fetched from the first server
 * over SSH checked against the known host key, its server set to the API endpoint, its cluster,
 * user and context named after the lab, merged into ~/.kube/config (0600) or written where
 * --kubeconfig says. `destroy` removes the lab's entries from that kubeconfig; the VMs go with
 * the provision stage, unless `destroy --keep-vms` keeps them: then it first runs
 * playbooks/reset.yml on every host (K3s, Cilium's links and rules, the API VIP's keepalived).
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { installKubeconfig, uninstallKubeconfig } from "../../ansible/kubeconfig.js";
import { EdgelabError } from "../../errors.js";
import { SshExecutor, type SshTarget } from "../../exec/ssh.js";
import type { LabHost } from "../../model/lab.js";
import { apiUrl } from "../../render/k3s.js";
import { Journal } from "../journal.js";
import { knownKeys } from "../known-hosts.js";
import type { PipelineContext, SkippedStep, Stage } from "../stage.js";
import { hostAccess } from "./access.js";
import { ansibleInputs, checkK3sToken, playbookOutcome, runPlaybook } from "./ansible.js";

function home(p: PipelineContext): string {
  return p.ctx.env["HOME"] ?? homedir();
}

/** Where the kubeconfig goes: --kubeconfig (relative to the working directory), else ~/.kube/config. */
export function kubeconfigPath(p: PipelineContext): string {
  const flag = p.options.kubeconfig;
  if (flag !== undefined) return isAbsolute(flag) ? flag : resolve(p.ctx.cwd, flag);
  return join(home(p), ".kube", "config");
}

/** How edgelab logs in to a host as Ansible does: the inventory's key file, else the SSH agent, else the user's default key. */
export function sshTarget(p: PipelineContext, h: LabHost, address: string): SshTarget {
  const base = { name: h.name, address, port: h.sshPort, username: h.sshUser ?? "root" };
  const file = h.sshPrivateKeyFile;
  if (file !== undefined) {
    const expanded = file.startsWith("~/") ? join(home(p), file.slice(2)) : file;
    return { ...base, privateKeyPath: isAbsolute(expanded) ? expanded : resolve(dirname(p.location.path), expanded) };
  }
  const agent = p.ctx.env["SSH_AUTH_SOCK"];
  if (agent !== undefined && agent !== "") return { ...base, agent };
  const fallback = ["id_ed25519", "id_ecdsa", "id_rsa"].map((k) => join(home(p), ".ssh", k)).find((k) => existsSync(k));
  if (fallback === undefined) throw new EdgelabError(`no SSH key to log in to ${h.name}: the inventory sets no ansible_ssh_private_key_file, SSH_AUTH_SOCK is not set, and ~/.ssh has no id_ed25519, id_ecdsa or id_rsa`, { hint: "Set ansible_ssh_private_key_file for the hosts (as Ansible uses it)." });
  return { ...base, privateKeyPath: fallback };
}

/** "3 hosts (lab-k3s01, ...)" */
function hostList(hosts: readonly LabHost[]): string {
  return `${hosts.length} host${hosts.length === 1 ? "" : "s"} (${hosts.map((h) => h.name).join(", ")})`;
}

export const k3sStage: Stage = {
  name: "k3s",
  title: "K3s on every host (servers one at a time, then agents), kubeconfig",
  inputs: (p) => ({ ...ansibleInputs(p, ["k3s", "cilium"]), kubeconfig: kubeconfigPath(p) }),
  apply: async (run) => {
    const p = run.p;
    // The token is needed only when the hosts are reached (a rehearsal contacts none).
    if (!hostAccess(p).isRehearsal) checkK3sToken(p);
    const first = p.lab.servers[0];
    if (first === undefined) throw new EdgelabError("the lab has no K3s server", { hint: "Put at least one host in the master group." });
    const server = apiUrl(p.lab);
    const path = kubeconfigPath(p);
    let context: string | undefined;
    const outcome = await runPlaybook(run, { playbook: "k3s", hosts: p.lab.hosts, what: "install K3s (ansible-playbook k3s.yml)" }, async () => {
      run.step({ host: first.name, message: "fetch the kubeconfig (SSH, host key checked)" });
      const ssh = await SshExecutor.connect(sshTarget(p, first, first.address), knownKeys(p.stateDir, first.address, first.sshPort));
      try {
        const installed = await installKubeconfig(ssh, { name: p.lab.name, server, path, sudo: (first.sshUser ?? "root") !== "root" });
        context = installed.context;
        run.step({ message: `kubeconfig: context ${installed.context} → ${installed.server} in ${installed.path} (${installed.status})` });
      } finally {
        ssh.close();
      }
    });
    const base = playbookOutcome(outcome, p.lab.hosts.length, "K3s installed");
    if (!outcome.ran) return base;
    return {
      ...base,
      summary: `${base.summary}; kubeconfig context ${context ?? p.lab.name} in ${path}`,
      outputs: { api: server, kubeconfig: path, context: context ?? p.lab.name },
      details: { api: server, kubeconfig: path, context: context ?? p.lab.name },
    };
  },
  destroyPlan: (p) => {
    const k3s = Journal.open(p.stateDir, p.lab.name).outputs().get("k3s");
    const path = k3s?.["kubeconfig"];
    const reset = p.options.keepVms === true ? [`uninstall K3s, Cilium's links and rules and the API VIP's keepalived from ${hostList(p.lab.hosts)} (playbooks/reset.yml; the VMs stay)`] : [];
    return Promise.resolve({ changes: [...reset, ...(path === undefined ? [] : [`remove context ${k3s?.["context"] ?? p.lab.name} from ${path}`])] });
  },
  destroy: async (run) => {
    const p = run.p;
    let reset: { changes: number; summary: string; skipped?: readonly SkippedStep[] } | undefined;
    if (p.options.keepVms === true) {
      // Agents first, then servers (the playbook's order); every host proves its key first.
      const outcome = await runPlaybook(run, { playbook: "reset", hosts: p.lab.hosts, what: "uninstall K3s (ansible-playbook reset.yml)" });
      reset = playbookOutcome(outcome, p.lab.hosts.length, "K3s uninstalled");
    }
    const k3s = Journal.open(p.stateDir, p.lab.name).outputs().get("k3s");
    const path = k3s?.["kubeconfig"];
    const status = path === undefined ? "unchanged" : uninstallKubeconfig(path, k3s?.["context"] ?? p.lab.name);
    const kube = path === undefined ? "no kubeconfig was written" : status === "unchanged" ? `nothing of the lab's in ${path}` : `context removed from ${path}`;
    const changes = (reset?.changes ?? 0) + (status === "unchanged" ? 0 : 1);
    return { changes, summary: reset === undefined ? kube : `${reset.summary}; ${kube}`, ...(reset?.skipped !== undefined ? { skipped: reset.skipped } : {}) };
  },
};

/**
 * How edgelab runs ansible-playbook: its settings as environment variables and its argv (pure).
 *
 * edgelab's settings, and why:
 *  - pipelining: one SSH operation per task instead of four (copy module, chmod, run, clean up);
 *  - forks: every host of the lab at once (up to 50), not Ansible's 5;
 *  - the interpreter named (/usr/bin/python3): no discovery round trip per host;
 *  - SSH multiplexing kept for the whole run, with a control socket directory of edgelab's, and
 *    no SSH compression (modules travel zipped already; compressing again only costs CPU);
 *  - facts cached for 10 minutes (.edgelab/ansible/facts), so the stages of one `up` and a quick
 *    re-run gather them once;
 *  - host keys checked strictly against edgelab's known_hosts file (never ~/.ssh/known_hosts,
 *    never trust-on-first-use unless asked for, and then said so);
 *  - the `free` strategy for the playbooks whose plays need no host to wait for the others
 *    (prepare: each host's tasks run as soon as its previous one ends, no per-task barrier);
 *    plays that need linear order say `strategy: linear` themselves;
 *  - no fact gathering for prepare (gathering "explicit"; its play has no gather_facts keyword, and
 *    prereq's first command reads the OS, the container kind and the packages);
 *  - output as JSON lines (ansible.posix.jsonl), no colour, no retry files.
 * The other playbooks gather only the facts they use (gather_subset).
 */
import { quoteWord } from "../exec/quote.js";

export type HostKeyPolicy = "strict" | "trust-on-first-use";

export interface AnsibleSettings {
  readonly forks: number;
  readonly pipelining: boolean;
  /** Python on the hosts; "auto" lets Ansible discover it (a round trip per host). */
  readonly interpreter: string;
  /** Seconds an idle SSH master connection stays open. */
  readonly controlPersistS: number;
  /** SSH connection timeout (seconds). */
  readonly connectTimeoutS: number;
  readonly sshCompression: boolean;
  /** Seconds gathered facts are reused (0: gather in every play, Ansible's default). */
  readonly factCacheS: number;
  readonly hostKeys: HostKeyPolicy;
  /** Playbooks (by name, e.g. "prepare") run with the `free` strategy; the others with `linear`. */
  readonly freeStrategy: readonly string[];
  /** Playbooks whose plays gather no facts (gathering "explicit": their roles read what they need). */
  readonly noFacts: readonly string[];
}

export const EDGELAB_SETTINGS: AnsibleSettings = { forks: 50, pipelining: true, interpreter: "/usr/bin/python3", controlPersistS: 300, connectTimeoutS: 20, sshCompression: false, factCacheS: 600, hostKeys: "strict", freeStrategy: ["prepare"], noFacts: ["prepare"] };

/** Ansible's own defaults (what `ansible-playbook` does without configuration), host keys still checked. */
export const ANSIBLE_DEFAULTS: AnsibleSettings = { forks: 5, pipelining: false, interpreter: "auto", controlPersistS: 60, connectTimeoutS: 10, sshCompression: true, factCacheS: 0, hostKeys: "strict", freeStrategy: [], noFacts: [] };

export interface AnsiblePaths {
  /** edgelab's known_hosts file (.edgelab/known_hosts). */
  readonly knownHostsFile: string;
  /** Directory for SSH control sockets (kept short: socket paths are limited to 108 bytes). */
  readonly controlDir: string;
  /** Ansible's local temporary directory. */
  readonly localTemp: string;
  /** Where gathered facts are cached (when settings.factCacheS > 0). */
  readonly factCache: string;
  /** The roles edgelab ships. */
  readonly rolesDir: string;
}

/** The environment variables that configure ansible-playbook for edgelab, running `playbook` (its name, e.g. "prepare"). */
export function ansibleEnvironment(settings: AnsibleSettings, paths: AnsiblePaths, playbook: string): Record<string, string> {
  const ssh = [
    ...(settings.sshCompression ? ["-C"] : []),
    "-o", "ControlMaster=auto",
    "-o", `ControlPersist=${settings.controlPersistS}s`,
    "-o", `UserKnownHostsFile=${paths.knownHostsFile}`,
    "-o", "GlobalKnownHostsFile=/dev/null",
    "-o", "HashKnownHosts=no",
    "-o", `StrictHostKeyChecking=${settings.hostKeys === "strict" ? "yes" : "accept-new"}`,
    "-o", "ServerAliveInterval=15",
  ];
  const env: Record<string, string> = {
    ANSIBLE_STDOUT_CALLBACK: "ansible.posix.jsonl",
    ANSIBLE_NOCOLOR: "1",
    ANSIBLE_FORCE_COLOR: "0",
    ANSIBLE_RETRY_FILES_ENABLED: "False",
    ANSIBLE_HOST_KEY_CHECKING: "True",
    ANSIBLE_SSH_ARGS: ssh.map(quoteWord).join(" "),
    ANSIBLE_SSH_CONTROL_PATH_DIR: paths.controlDir,
    ANSIBLE_PIPELINING: settings.pipelining ? "True" : "False",
    ANSIBLE_FORKS: String(settings.forks),
    ANSIBLE_TIMEOUT: String(settings.connectTimeoutS),
    ANSIBLE_ROLES_PATH: paths.rolesDir,
    ANSIBLE_LOCAL_TEMP: paths.localTemp,
    ANSIBLE_INVENTORY_ENABLED: "yaml,ini",
    ANSIBLE_INVENTORY_UNPARSED_FAILED: "True",
    ANSIBLE_PYTHON_INTERPRETER: settings.interpreter === "auto" ? "auto_silent" : settings.interpreter,
  };
  if (settings.freeStrategy.includes(playbook)) env.ANSIBLE_STRATEGY = "free";
  if (settings.factCacheS > 0) {
    Object.assign(env, {
      ANSIBLE_GATHERING: "smart",
      ANSIBLE_CACHE_PLUGIN: "ansible.builtin.jsonfile",
      ANSIBLE_CACHE_PLUGIN_CONNECTION: paths.factCache,
      ANSIBLE_CACHE_PLUGIN_TIMEOUT: String(settings.factCacheS),
    });
  }
  // After the cache's "smart": a play without a gather_facts keyword gathers nothing.
  if (settings.noFacts.includes(playbook)) env.ANSIBLE_GATHERING = "explicit";
  return env;
}

export interface PlaybookRun {
  readonly playbook: string;
  readonly inventory: string;
  /** A JSON file of extra variables (never secrets: those travel in the environment). */
  readonly extraVarsFile?: string;
  readonly limit?: readonly string[];
  readonly tags?: readonly string[];
  readonly vaultPasswordFile?: string;
}

export function playbookArgv(run: PlaybookRun): string[] {
  return [
    "ansible-playbook",
    "--inventory", run.inventory,
    ...(run.extraVarsFile === undefined ? [] : ["--extra-vars", `@${run.extraVarsFile}`]),
    ...(run.limit === undefined || run.limit.length === 0 ? [] : ["--limit", run.limit.join(",")]),
    ...(run.tags === undefined || run.tags.length === 0 ? [] : ["--tags", run.tags.join(",")]),
    ...(run.vaultPasswordFile === undefined ? [] : ["--vault-password-file", run.vaultPasswordFile]),
    run.playbook,
  ];
}

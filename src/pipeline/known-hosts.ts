/**
 * The lab's known_hosts file (.edgelab/known_hosts beside the inventory): where provisioning
 * records the keys it read through the guest agent, and where the stages that reach the hosts
 * add the keys the inventory gives. Ansible (OpenSSH) and node-ssh check hosts strictly against it.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { keysFor, parseHostKey, parseKnownHosts, updateKnownHosts, type HostKey, type KnownHost } from "../exec/known-hosts.js";
import type { WriteStatus } from "../util/atomic-write.js";
import type { LabHost } from "../model/lab.js";

export function knownHostsFile(stateDir: string): string {
  return join(stateDir, "known_hosts");
}

/** Sets each host's keys to exactly these (a re-provisioned VM has new keys); other hosts stay. */
export function recordHostKeys(stateDir: string, hosts: readonly KnownHost[]): WriteStatus {
  return updateKnownHosts(knownHostsFile(stateDir), hosts);
}

/** The keys the file holds for host:port. */
export function knownKeys(stateDir: string, address: string, port: number): readonly HostKey[] {
  const file = knownHostsFile(stateDir);
  return existsSync(file) ? keysFor(parseKnownHosts(readFileSync(file, "utf8")), address, port) : [];
}

/**
 * Adds the keys the inventory gives (ssh_host_keys) to those already known for each host (read
 * through the guest agent, or accepted on first use): both are accepted.
 */
export function addInventoryHostKeys(stateDir: string, hosts: readonly LabHost[]): WriteStatus {
  const given = hosts.filter((h) => h.sshHostKeys.length > 0);
  if (given.length === 0) return "unchanged";
  return recordHostKeys(
    stateDir,
    given.map((h) => {
      const known = knownKeys(stateDir, h.address, h.sshPort);
      const inventory = h.sshHostKeys.map((k, i) => parseHostKey(k, `${h.name}: ssh_host_keys[${i}]`));
      return { host: h.address, port: h.sshPort, keys: [...known, ...inventory.filter((k) => !known.some((x) => x.type === k.type && x.blob === k.blob))] };
    }),
  );
}

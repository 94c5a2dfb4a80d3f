/**
 * The lab's known_hosts file (.edgelab/known_hosts beside the inventory), which Ansible (OpenSSH)
 * and node-ssh check every host against, strictly. Each host's entry is made of two sources:
 * the keys provisioning learned (read through the guest agent, or accepted on first use when
 * asked), kept in .edgelab/known_hosts.provisioned, and the keys the inventory gives
 * (ssh_host_keys) as it stands now — so a key removed from the inventory is no longer accepted.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { keysFor, parseHostKey, parseKnownHosts, updateKnownHosts, type HostKey, type KnownHost } from "../exec/known-hosts.js";
import type { WriteStatus } from "../util/atomic-write.js";
import type { LabHost } from "../model/lab.js";

export function knownHostsFile(stateDir: string): string {
  return join(stateDir, "known_hosts");
}

function provisionedFile(stateDir: string): string {
  return join(stateDir, "known_hosts.provisioned");
}

function keysIn(file: string, address: string, port: number): readonly HostKey[] {
  return existsSync(file) ? keysFor(parseKnownHosts(readFileSync(file, "utf8")), address, port) : [];
}

/** Records what provisioning learned about each host's keys (a re-provisioned VM's old keys are replaced). */
export function recordProvisionedKeys(stateDir: string, hosts: readonly KnownHost[]): WriteStatus {
  return updateKnownHosts(provisionedFile(stateDir), hosts);
}

/** The keys the known_hosts file holds for host:port. */
export function knownKeys(stateDir: string, address: string, port: number): readonly HostKey[] {
  return keysIn(knownHostsFile(stateDir), address, port);
}

/**
 * Writes each lab host's entry: the keys provisioning learned plus those the inventory gives now.
 * A host with neither is left as it is (nothing to verify it against: strict checking refuses it).
 */
export function composeKnownHosts(stateDir: string, hosts: readonly LabHost[]): WriteStatus {
  const entries = hosts
    .map((h) => {
      const provisioned = keysIn(provisionedFile(stateDir), h.address, h.sshPort);
      const inventory = h.sshHostKeys.map((k, i) => parseHostKey(k, `${h.name}: ssh_host_keys[${i}]`));
      return { host: h.address, port: h.sshPort, keys: [...provisioned, ...inventory.filter((k) => !provisioned.some((x) => x.type === k.type && x.blob === k.blob))] };
    })
    .filter((e) => e.keys.length > 0);
  return entries.length === 0 ? "unchanged" : updateKnownHosts(knownHostsFile(stateDir), entries);
}

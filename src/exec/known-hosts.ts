/**
 * SSH host keys edgelab knows, and the known_hosts file it manages (`.edgelab/known_hosts`).
 * Keys come from the Proxmox guest agent after provisioning or from the inventory; Ansible (via
 * OpenSSH) and node-ssh both check hosts against this file strictly.
 */
import { createHash } from "node:crypto";
import { EdgelabError } from "../errors.js";
import { current, writeFileAtomic, type WriteStatus } from "../util/atomic-write.js";

/** Host key algorithms edgelab accepts (what OpenSSH 9 servers offer by default). */
export const HOST_KEY_TYPES = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"] as const;
export type HostKeyType = (typeof HOST_KEY_TYPES)[number];

export interface HostKey {
  readonly type: HostKeyType;
  /** The key blob, base64 as in a .pub file. */
  readonly blob: string;
}

export interface KnownHost {
  /** Address or name the host is reached at (as Ansible's ansible_host). */
  readonly host: string;
  readonly port: number;
  readonly keys: readonly HostKey[];
}

export class HostKeyError extends EdgelabError {
  override readonly name = "HostKeyError";
}

function isHostKeyType(value: string): value is HostKeyType {
  return (HOST_KEY_TYPES as readonly string[]).includes(value);
}

/**
 * Parses one public key line ("ssh-ed25519 AAAA... comment", as in ssh_host_ed25519_key.pub).
 * The base64 blob must decode and must itself name the same key type, so a truncated or
 * mislabelled key is refused here and not at connection time.
 */
export function parseHostKey(text: string, where = "host key"): HostKey {
  const [type, blob] = text.trim().split(/\s+/);
  if (type === undefined || blob === undefined) throw new HostKeyError(`${where}: expected "<type> <base64>", got '${text.trim().slice(0, 40)}'`, { hint: "Copy the line from the host's /etc/ssh/ssh_host_ed25519_key.pub." });
  if (!isHostKeyType(type)) throw new HostKeyError(`${where}: unsupported key type '${type}'`, { hint: `Supported: ${HOST_KEY_TYPES.join(", ")}.` });
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(blob)) throw new HostKeyError(`${where}: the key is not base64`);
  const raw = Buffer.from(blob, "base64");
  const nameLength = raw.length >= 4 ? raw.readUInt32BE(0) : -1;
  const embedded = nameLength > 0 && raw.length >= 4 + nameLength ? raw.subarray(4, 4 + nameLength).toString("latin1") : "";
  if (embedded !== type) throw new HostKeyError(`${where}: the key data is not a ${type} key${embedded === "" ? " (truncated?)" : ` (it holds ${embedded})`}`);
  return { type, blob };
}

/** OpenSSH's fingerprint: "SHA256:" + unpadded base64 of the blob's SHA-256. */
export function fingerprint(key: { readonly blob: string }): string {
  return `SHA256:${createHash("sha256").update(Buffer.from(key.blob, "base64")).digest("base64").replace(/=+$/, "")}`;
}

/** The host field of a known_hosts line: `host` on port 22, `[host]:port` otherwise. */
export function hostPattern(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** known_hosts text for these hosts: one line per key, hosts and keys in a stable order. */
export function renderKnownHosts(hosts: readonly KnownHost[]): string {
  const lines: string[] = [];
  const sorted = [...hosts].sort((a, b) => a.host.localeCompare(b.host) || a.port - b.port);
  for (const h of sorted) {
    const keys = [...h.keys].sort((a, b) => a.type.localeCompare(b.type) || a.blob.localeCompare(b.blob));
    for (const k of keys) lines.push(`${hostPattern(h.host, h.port)} ${k.type} ${k.blob}`);
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

/**
 * Reads known_hosts text back into hosts. Hashed entries (`|1|...`), markers (@revoked,
 * @cert-authority) and comments are not edgelab's and are skipped; so are malformed lines.
 */
export function parseKnownHosts(text: string): KnownHost[] {
  const byPattern = new Map<string, { host: string; port: number; keys: HostKey[] }>();
  for (const line of text.split("\n")) {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#") || trimmed.startsWith("@") || trimmed.startsWith("|")) continue;
    const [patterns, ...rest] = trimmed.split(/\s+/);
    if (patterns === undefined) continue;
    let key: HostKey;
    try {
      key = parseHostKey(rest.join(" "));
    } catch {
      continue;
    }
    for (const pattern of patterns.split(",")) {
      const bracket = /^\[(.+)\]:(\d+)$/.exec(pattern);
      const host = bracket?.[1] ?? pattern;
      const port = bracket?.[2] === undefined ? 22 : Number(bracket[2]);
      const id = hostPattern(host, port);
      const entry = byPattern.get(id) ?? { host, port, keys: [] };
      if (!entry.keys.some((k) => k.type === key.type && k.blob === key.blob)) entry.keys.push(key);
      byPattern.set(id, entry);
    }
  }
  return [...byPattern.values()];
}

/** The keys known for host:port, or an empty list. */
export function keysFor(hosts: readonly KnownHost[], host: string, port = 22): readonly HostKey[] {
  return hosts.find((h) => h.host === host && h.port === port)?.keys ?? [];
}

/**
 * Writes `file` (mode 0600, atomically) so that each given host has exactly the given keys:
 * a host's old keys are replaced (a re-provisioned VM has new ones), other hosts' entries stay.
 */
export function updateKnownHosts(file: string, hosts: readonly KnownHost[]): WriteStatus {
  for (const h of hosts) if (h.keys.length === 0) throw new HostKeyError(`no SSH host key for ${hostPattern(h.host, h.port)}`, { hint: "Give the host's public key in the inventory, or let provisioning read it through the guest agent." });
  const existing = current(file);
  const replaced = new Set(hosts.map((h) => hostPattern(h.host, h.port)));
  const kept = existing === undefined ? [] : parseKnownHosts(existing.content).filter((h) => !replaced.has(hostPattern(h.host, h.port)));
  return writeFileAtomic(file, renderKnownHosts([...kept, ...hosts]), 0o600);
}

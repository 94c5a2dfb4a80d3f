/**
 * Which server holds the Kubernetes API's VIP, as the servers themselves report it: each server
 * is asked over SSH (host key verified) for its IPv4 addresses (`ip -o -4 address show`), and the
 * report says which of them carries the VIP. Nothing is inferred: a server that cannot be asked
 * is "unknown", never "free". Whether the API answers through the VIP is not part of this check.
 */
import { existsSync, readFileSync } from "node:fs";
import { keysFor, parseHostKey, parseKnownHosts } from "../exec/known-hosts.js";
import { SshExecutor } from "../exec/ssh.js";
import type { Executor } from "../exec/types.js";
import type { ApiVip } from "../model/lab.js";
import type { HostAccess, HostRef } from "./host-access.js";

/** The command run on each server. */
export const ADDRESS_ARGV = ["ip", "-o", "-4", "address", "show"] as const;

/** What the report says it checked (shown with it). */
export const VIP_CHECK_DESCRIPTION = "`ip -o -4 address show` on each server over SSH (host keys verified)";

export interface InterfaceAddress {
  readonly ifname: string;
  readonly address: string;
  readonly prefix: number;
}

/** The IPv4 addresses in the output of `ip -o -4 address show`, one per line. */
export function parseAddresses(text: string): InterfaceAddress[] {
  const out: InterfaceAddress[] = [];
  for (const line of text.split("\n")) {
    const m = /^\d+:\s+(\S+?)\s+inet\s+(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})\b/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined && m[3] !== undefined) out.push({ ifname: m[1], address: m[2], prefix: Number(m[3]) });
  }
  return out;
}

export type ServerVipState =
  | { readonly host: string; readonly address: string; readonly state: "holds"; readonly interface: string }
  | { readonly host: string; readonly address: string; readonly state: "free" }
  | { readonly host: string; readonly address: string; readonly state: "unknown"; readonly reason: string };

/**
 * held: exactly one server holds it; unheld: every server answered and none holds it; split:
 * several hold it at once; unknown: none of the servers that answered holds it, and some did not answer.
 */
export type VipVerdict = "held" | "unheld" | "split" | "unknown";

export interface VipReport {
  readonly vip: string;
  readonly holder: ApiVip["holder"];
  readonly servers: readonly ServerVipState[];
  readonly holders: readonly string[];
  readonly verdict: VipVerdict;
  readonly checked: string;
}

export function vipVerdict(servers: readonly ServerVipState[]): VipVerdict {
  const holders = servers.filter((s) => s.state === "holds").length;
  if (holders > 1) return "split";
  if (holders === 1) return "held";
  return servers.some((s) => s.state === "unknown") ? "unknown" : "unheld";
}

/** An SSH connection to one server (closed after the check). */
export interface ClosableExecutor extends Executor {
  close(): void;
}

/**
 * Asks every server whether it holds `vip`. `connect` opens a verified SSH connection to a server
 * at the address given; through `access`, so a rehearsal dials nothing (those servers are unknown).
 */
export async function apiVipReport(vip: ApiVip, servers: readonly HostRef[], access: HostAccess, connect: (server: HostRef, address: string) => Promise<ClosableExecutor>): Promise<VipReport> {
  const states = await Promise.all(
    servers.map(async (server): Promise<ServerVipState> => {
      const base = { host: server.name, address: server.address };
      try {
        const reached = await access.reach(server, "read the server's addresses (API VIP)", async (address) => {
          const exec = await connect(server, address);
          try {
            return (await exec.run([...ADDRESS_ARGV], { timeoutMs: 15_000 })).stdout;
          } finally {
            exec.close();
          }
        });
        if (!reached.reached) return { ...base, state: "unknown", reason: `not contacted: ${reached.skipped.reason}` };
        const held = parseAddresses(reached.value).find((a) => a.address === vip.address);
        return held === undefined ? { ...base, state: "free" } : { ...base, state: "holds", interface: held.ifname };
      } catch (error) {
        return { ...base, state: "unknown", reason: error instanceof Error ? error.message : String(error) };
      }
    }),
  );
  return {
    vip: vip.address,
    holder: vip.holder,
    servers: states,
    holders: states.filter((s) => s.state === "holds").map((s) => s.host),
    verdict: vipVerdict(states),
    checked: VIP_CHECK_DESCRIPTION,
  };
}

export interface SshSettings {
  /** edgelab's known_hosts file (.edgelab/known_hosts beside the inventory). */
  readonly knownHostsFile: string;
  /** The private key to log in with. */
  readonly privateKeyPath: string;
  /** Host keys given in the inventory, per host name (used with those of known_hosts). */
  readonly inventoryKeys: ReadonlyMap<string, readonly string[]>;
  /** Per host name: the SSH user and port (inventory ansible_user, ansible_port). */
  readonly logins: ReadonlyMap<string, { readonly user: string; readonly port: number }>;
}

/** Opens SSH connections the way edgelab does: only to hosts whose key it knows (known_hosts or the inventory). */
export function sshConnector(settings: SshSettings): (server: HostRef, address: string) => Promise<ClosableExecutor> {
  return async (server, address) => {
    const login = settings.logins.get(server.name) ?? { user: "root", port: 22 };
    const known = existsSync(settings.knownHostsFile) ? parseKnownHosts(readFileSync(settings.knownHostsFile, "utf8")) : [];
    const keys = [...keysFor(known, address, login.port), ...(settings.inventoryKeys.get(server.name) ?? []).map((k) => parseHostKey(k, `${server.name}: ssh_host_keys`))];
    return SshExecutor.connect({ name: server.name, address, port: login.port, username: login.user, privateKeyPath: settings.privateKeyPath }, keys, { readyTimeoutMs: 10_000 });
  };
}

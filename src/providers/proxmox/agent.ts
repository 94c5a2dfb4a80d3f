/**
 * The QEMU guest agent through the API: readiness, running a command (POST agent/exec, then
 * GET agent/exec-status until it exits), and reading a VM's SSH host public keys — so SSH to the
 * VM can be verified without trusting the first connection.
 */
import { sleep } from "../../util/sleep.js";
import { parseOpenSshPublicKey } from "../../util/ssh-public-key.js";
import type { PveApi } from "./api.js";
import { isTransient, ProviderError } from "./client.js";

/** "No QEMU guest agent configured" is permanent; these mean "not yet" (a VM booting, QMP busy). */
export function isAgentNotReady(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return /QEMU guest agent is not running|VM \d+ is not running|got timeout/.test(message) || isTransient(err);
}

export interface GuestCommandResult {
  readonly exitcode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface GuestExecOptions {
  /** Given to the command on its standard input. */
  readonly input?: string | undefined;
  /** Give up (the command may still run in the guest) after this long. */
  readonly timeoutMs?: number | undefined;
  /** Longest wait between two status reads (the first ones come sooner). */
  readonly pollMs?: number | undefined;
}

/**
 * Runs `argv` in the guest (no shell: argv[0] is the program) and waits, bounded, until it exits.
 * A program that does not exist, or an agent that is not ready, is a ProviderError from the API.
 */
export async function guestExec(api: PveApi, node: string, vmid: number, argv: readonly string[], options: GuestExecOptions = {}): Promise<GuestCommandResult> {
  if (argv.length === 0) throw new ProviderError("guest exec needs a command", undefined, "no command", `/nodes/${node}/qemu/${vmid}/agent/exec`, undefined);
  const agent = api.nodes.$(node).qemu.$(vmid).agent;
  const started = Date.now();
  const timeoutMs = options.timeoutMs ?? 60_000;
  const pollMs = options.pollMs ?? 1000;
  const { pid } = await agent.exec.$post({ command: [...argv], ...(options.input === undefined ? {} : { "input-data": options.input }) });
  for (;;) {
    const status = await agent["exec-status"].$get({ pid });
    // exited arrives as 0/1 (the API's booleans).
    const exited: unknown = status.exited;
    if (exited === 1 || exited === true) {
      return { exitcode: typeof status.exitcode === "number" ? status.exitcode : -1, stdout: typeof status["out-data"] === "string" ? status["out-data"] : "", stderr: typeof status["err-data"] === "string" ? status["err-data"] : "" };
    }
    const elapsed = Date.now() - started;
    if (elapsed > timeoutMs) throw new ProviderError(`VM ${vmid}: '${argv.join(" ")}' (guest pid ${pid}) did not exit within ${Math.round(timeoutMs / 1000)} s`, undefined, "exec timeout", `/nodes/${node}/qemu/${vmid}/agent/exec-status`, undefined);
    await sleep(Math.min(pollMs, Math.max(pollMs / 10, elapsed / 2)));
  }
}

/** Where the OpenSSH server keeps its host public keys (Debian makes these three). */
export const HOST_KEY_FILES = ["/etc/ssh/ssh_host_ed25519_key.pub", "/etc/ssh/ssh_host_ecdsa_key.pub", "/etc/ssh/ssh_host_rsa_key.pub"] as const;

/**
 * The VM's SSH host public keys, read through the guest agent (`cat` of the .pub files), as
 * known_hosts lines for the address (and port) SSH will use: "<address> <type> <base64>", or
 * "[<address>]:<port> ..." for a port other than 22. Keys that do not parse are refused; a VM
 * without any is an error (never an empty known_hosts that would invite trust on first use).
 */
export async function knownHostsFromAgent(api: PveApi, node: string, vmid: number, address: string, options: GuestExecOptions & { readonly port?: number | undefined } = {}): Promise<string[]> {
  const host = options.port === undefined || options.port === 22 ? address : `[${address}]:${options.port}`;
  const result = await guestExec(api, node, vmid, ["cat", ...HOST_KEY_FILES], options);
  const lines: string[] = [];
  for (const raw of result.stdout.split("\n")) {
    if (raw.trim() === "") continue;
    const key = parseOpenSshPublicKey(raw);
    if (key === undefined) throw new ProviderError(`VM ${vmid}: not an SSH public key in its host key files: '${raw.slice(0, 60)}'`, undefined, "bad host key", `/nodes/${node}/qemu/${vmid}/agent/exec`, undefined);
    lines.push(`${host} ${key.type} ${key.key}`);
  }
  if (lines.length === 0) {
    throw new ProviderError(`VM ${vmid}: no SSH host key could be read through the guest agent (cat exited ${result.exitcode}: ${result.stderr.trim() || "no output"})`, undefined, "no host keys", `/nodes/${node}/qemu/${vmid}/agent/exec`, undefined, "Is openssh-server installed in the template, and has the VM finished its first boot (the keys are made then)?");
  }
  return lines;
}

/**
 * Programs on a lab host over SSH (node-ssh), with the host key checked against the keys edgelab
 * knows for that address: a host that presents any other key is refused before authentication.
 */
import { readFileSync } from "node:fs";
import { NodeSSH } from "node-ssh";
import type { ServerHostKeyAlgorithm } from "ssh2";
import { ExecError } from "./errors.js";
import { fingerprint, HostKeyError, hostPattern, parseHostKey, type HostKey, type HostKeyType } from "./known-hosts.js";
import { sleep } from "../util/sleep.js";
import { commandLine } from "./quote.js";
import { DEFAULT_TIMEOUT_MS, LineSplitter, type ExecResult, type Executor, type RunOptions } from "./types.js";

export interface SshTarget {
  /** The host's name (inventory_hostname); named in errors. */
  readonly name: string;
  /** Address to connect to (ansible_host). */
  readonly address: string;
  readonly port: number;
  readonly username: string;
  /** Private key file for public-key authentication. */
  readonly privateKeyPath?: string | undefined;
  /** An SSH agent's socket (SSH_AUTH_SOCK), tried when no key file is given. */
  readonly agent?: string | undefined;
}

/** The signature algorithms a server may use to prove it holds a key of this type. */
const ALGORITHMS: Record<HostKeyType, readonly ServerHostKeyAlgorithm[]> = {
  "ssh-ed25519": ["ssh-ed25519"],
  "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
  "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
  "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
};

type PresentedKey = { type: string; blob: string };

/** Parses the key type out of a raw SSH key blob. */
function presentedKey(raw: Buffer): PresentedKey {
  const length = raw.length >= 4 ? raw.readUInt32BE(0) : 0;
  return { type: raw.subarray(4, 4 + length).toString("latin1"), blob: raw.toString("base64") };
}

/** The known key a host presented, if it is one. */
function knownMatch(knownKeys: readonly HostKey[], presented: PresentedKey): HostKey | undefined {
  return knownKeys.find((k) => k.type === presented.type && k.blob === presented.blob);
}

/** Only the signature algorithms the known keys can be proven with. */
function hostKeyAlgorithms(knownKeys: readonly HostKey[]): { serverHostKey: ServerHostKeyAlgorithm[] } {
  return { serverHostKey: [...new Set(knownKeys.flatMap((k) => ALGORITHMS[k.type]))] };
}

function noKnownKeyError(where: string): HostKeyError {
  return new HostKeyError(`${where}: no known SSH host key`, { hint: "edgelab connects only to hosts whose key it knows: give it in the inventory, or let provisioning read it through the guest agent." });
}

function wrongKeyError(where: string, presented: PresentedKey, knownKeys: readonly HostKey[], hint: string, cause?: unknown): HostKeyError {
  const known = knownKeys.map((k) => `${k.type} ${fingerprint(k)}`).join(", ");
  return new HostKeyError(`${where} presented SSH host key ${presented.type} ${fingerprint(presented)}, which is not the key edgelab knows for it (${known}); connection refused`, {
    hint,
    ...(cause === undefined ? {} : { cause }),
  });
}

export class SshExecutor implements Executor {
  readonly host: string;
  private constructor(
    private readonly ssh: NodeSSH,
    private readonly target: SshTarget,
  ) {
    this.host = target.name;
  }

  /**
   * Connects and verifies the host key. `knownKeys` are the keys edgelab holds for this host;
   * an empty list is refused (there is nothing to verify against).
   */
  static async connect(target: SshTarget, knownKeys: readonly HostKey[], options: { readyTimeoutMs?: number } = {}): Promise<SshExecutor> {
    const where = `${target.name} (${hostPattern(target.address, target.port)})`;
    if (knownKeys.length === 0) throw noKnownKeyError(where);
    let presented: PresentedKey | undefined;
    const ssh = new NodeSSH();
    try {
      await ssh.connect({
        host: target.address,
        port: target.port,
        username: target.username,
        ...(target.privateKeyPath !== undefined ? { privateKey: readFileSync(target.privateKeyPath, "utf8") } : target.agent !== undefined ? { agent: target.agent } : {}),
        readyTimeout: options.readyTimeoutMs ?? 20_000,
        algorithms: hostKeyAlgorithms(knownKeys),
        hostVerifier: (raw: Buffer): boolean => {
          presented = presentedKey(raw);
          return knownMatch(knownKeys, presented) !== undefined;
        },
      });
    } catch (cause) {
      ssh.dispose();
      if (presented !== undefined && knownMatch(knownKeys, presented) === undefined) {
        throw wrongKeyError(where, presented, knownKeys, "If the host was re-created, update its key (edgelab reads it again after provisioning); otherwise something else answers at this address.", cause);
      }
      const message = cause instanceof Error ? cause.message : String(cause);
      throw new ExecError({ host: target.name, argv: ["ssh", `${target.username}@${hostPattern(target.address, target.port)}`], exitCode: null, signal: null, timedOut: /timed out/i.test(message), stderr: message, durationMs: 0 }, { cause });
    }
    return new SshExecutor(ssh, target);
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<ExecResult> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const started = Date.now();
    let channel: { signal(name: string): void; close(): void } | undefined;
    let timedOut = false;
    const splitter = options.onStdoutLine === undefined ? undefined : new LineSplitter(options.onStdoutLine);
    let line = commandLine(argv);
    if (options.cwd !== undefined) line = `cd ${commandLine([options.cwd])} && ${line}`;
    if (options.env !== undefined) {
      const assignments = Object.entries(options.env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${commandLine([v])}`]));
      if (assignments.length > 0) line = `env ${assignments.join(" ")} ${line}`;
    }
    const timer = setTimeout(() => {
      timedOut = true;
      channel?.signal("KILL");
      channel?.close();
    }, timeoutMs);
    try {
      const response = await this.ssh.execCommand(line, {
        ...(options.input === undefined ? {} : { stdin: options.input }),
        noTrim: true,
        onChannel: (c) => (channel = c),
        ...(splitter === undefined ? {} : { onStdout: (chunk: Buffer) => splitter.push(chunk.toString()) }),
      });
      splitter?.flush();
      const result: ExecResult = { stdout: response.stdout, stderr: response.stderr, exitCode: timedOut ? null : response.code, signal: response.signal, timedOut, durationMs: Date.now() - started };
      if (result.exitCode !== 0 && (options.allowFailure !== true || timedOut)) {
        throw new ExecError({ host: this.host, argv, exitCode: result.exitCode, signal: result.signal, timedOut, stderr: result.stderr, durationMs: result.durationMs });
      }
      return result;
    } finally {
      clearTimeout(timer);
    }
  }

  /** A file's content, read with `cat` on the host. */
  async readFile(path: string, options: { timeoutMs?: number } = {}): Promise<string> {
    return (await this.run(["cat", "--", path], options)).stdout;
  }

  get address(): string {
    return hostPattern(this.target.address, this.target.port);
  }

  close(): void {
    this.ssh.dispose();
  }
}

export interface HandshakeTarget {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  /** The user named in the handshake (no authentication is attempted). */
  readonly username: string;
}

export interface HandshakeOptions {
  readonly timeoutMs: number;
  readonly attemptTimeoutMs?: number;
  readonly retryMs?: number;
  readonly signal?: AbortSignal;
  /** With no known key: accept whatever key the host presents (the caller says so and records it). */
  readonly trustOnFirstUse?: boolean;
}

/**
 * Waits, bounded, until the host answers an SSH handshake with one of `knownKeys`: the real
 * protocol up to the server proving it holds its host key — not a TCP connect, and no login (the
 * handshake ends at authentication, which needs no credentials here). Returns the key. A host
 * that presents any other key is refused at once (HostKeyError), not retried.
 */
export async function waitForHostKey(target: HandshakeTarget, knownKeys: readonly HostKey[], options: HandshakeOptions): Promise<{ key: HostKey; verified: boolean }> {
  const where = `${target.name} (${hostPattern(target.address, target.port)})`;
  const tofu = knownKeys.length === 0 && options.trustOnFirstUse === true;
  if (knownKeys.length === 0 && !tofu) throw noKnownKeyError(where);
  const deadline = Date.now() + options.timeoutMs;
  let last = "";
  for (;;) {
    options.signal?.throwIfAborted();
    let presented: PresentedKey | undefined;
    const ssh = new NodeSSH();
    try {
      await ssh.connect({
        host: target.address,
        port: target.port,
        username: target.username,
        tryKeyboard: false,
        readyTimeout: options.attemptTimeoutMs ?? 10_000,
        ...(tofu ? {} : { algorithms: hostKeyAlgorithms(knownKeys) }),
        hostVerifier: (raw: Buffer): boolean => {
          presented = presentedKey(raw);
          return tofu || knownMatch(knownKeys, presented) !== undefined;
        },
      });
    } catch (cause) {
      // Authentication fails after the host proved its key: that is all the handshake was for.
      last = cause instanceof Error ? cause.message : String(cause);
    } finally {
      ssh.dispose();
    }
    const p = presented;
    if (p !== undefined) {
      if (tofu) return { key: parseHostKey(`${p.type} ${p.blob}`, where), verified: false };
      const match = knownMatch(knownKeys, p);
      if (match !== undefined) return { key: match, verified: true };
      throw wrongKeyError(where, p, knownKeys, "If the host was re-created, read its key again (edgelab up --only provision); otherwise something else answers at this address.");
    }
    if (Date.now() + (options.retryMs ?? 2000) > deadline) {
      throw new ExecError({ host: target.name, argv: ["ssh", `${target.username}@${hostPattern(target.address, target.port)}`], exitCode: null, signal: null, timedOut: true, stderr: `no SSH handshake within ${Math.round(options.timeoutMs / 1000)} s (last: ${last})`, durationMs: options.timeoutMs });
    }
    await sleep(options.retryMs ?? 2000);
  }
}

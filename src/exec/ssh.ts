/**
 * Programs on a lab host over SSH (node-ssh), with the host key checked against the keys edgelab
 * knows for that address: a host that presents any other key is refused before authentication.
 */
import { readFileSync } from "node:fs";
import { NodeSSH } from "node-ssh";
import type { ServerHostKeyAlgorithm } from "ssh2";
import { ExecError } from "./errors.js";
import { fingerprint, HostKeyError, hostPattern, type HostKey, type HostKeyType } from "./known-hosts.js";
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
  readonly privateKeyPath: string;
}

/** The signature algorithms a server may use to prove it holds a key of this type. */
const ALGORITHMS: Record<HostKeyType, readonly ServerHostKeyAlgorithm[]> = {
  "ssh-ed25519": ["ssh-ed25519"],
  "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
  "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
  "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
};

/** Parses the key type out of a raw SSH key blob. */
function presentedKey(raw: Buffer): { type: string; blob: string } {
  const length = raw.length >= 4 ? raw.readUInt32BE(0) : 0;
  return { type: raw.subarray(4, 4 + length).toString("latin1"), blob: raw.toString("base64") };
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
    if (knownKeys.length === 0) throw new HostKeyError(`${where}: no known SSH host key`, { hint: "edgelab connects only to hosts whose key it knows: give it in the inventory, or let provisioning read it through the guest agent." });
    let presented: { type: string; blob: string } | undefined;
    const ssh = new NodeSSH();
    try {
      await ssh.connect({
        host: target.address,
        port: target.port,
        username: target.username,
        privateKey: readFileSync(target.privateKeyPath, "utf8"),
        readyTimeout: options.readyTimeoutMs ?? 20_000,
        algorithms: { serverHostKey: [...new Set(knownKeys.flatMap((k) => ALGORITHMS[k.type]))] },
        hostVerifier: (raw: Buffer): boolean => {
          presented = presentedKey(raw);
          const p = presented;
          return knownKeys.some((k) => k.type === p.type && k.blob === p.blob);
        },
      });
    } catch (cause) {
      ssh.dispose();
      const known = knownKeys.map((k) => `${k.type} ${fingerprint(k)}`).join(", ");
      if (presented !== undefined && !knownKeys.some((k) => k.type === presented?.type && k.blob === presented.blob)) {
        throw new HostKeyError(`${where} presented SSH host key ${presented.type} ${fingerprint(presented)}, which is not the key edgelab knows for it (${known}); connection refused`, {
          hint: "If the host was re-created, update its key (edgelab reads it again after provisioning); otherwise something else answers at this address.",
          cause,
        });
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

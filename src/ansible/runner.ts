/**
 * AnsibleRunner: runs edgelab's playbooks with edgelab's settings (settings.ts), turns the JSON
 * lines into per-host progress events, keeps the full output under .edgelab/logs/<run>/, and
 * reports a failure as host, task and message, naming the log file.
 */
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, isAbsolute, join } from "node:path";
import { EdgelabError } from "../errors.js";
import { fingerprint, hostPattern, parseKnownHosts } from "../exec/known-hosts.js";
import { LocalExecutor } from "../exec/local.js";
import { PACKAGE_ROOT } from "../paths.js";
import { parseLine, RunSummarizer, type AnsibleEvent, type RunSummary } from "./events.js";
import { ansibleEnvironment, EDGELAB_SETTINGS, playbookArgv, type AnsibleSettings } from "./settings.js";

export const PLAYBOOKS_DIR = join(PACKAGE_ROOT, "playbooks");
export const ROLES_DIR = join(PACKAGE_ROOT, "roles");

export interface RunnerOptions {
  /** The lab's state directory (.edgelab beside the inventory): known_hosts, logs. */
  readonly stateDir: string;
  readonly settings?: AnsibleSettings;
  /** The environment ansible-playbook starts from (PATH, HOME, the user's ANSIBLE_* settings). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Notices for the user: where logs are, trust-on-first-use. */
  readonly log?: (line: string) => void;
  readonly vaultPasswordFile?: string;
  /** Names the log directory; default: the start time. */
  readonly runId?: string;
}

export interface PlaybookRequest {
  /** A playbook of edgelab's ("prepare", "k3s", ...) or a path to one. */
  readonly playbook: string;
  readonly inventory: string;
  /** Extra variables (written to a JSON file beside the log; never secrets). */
  readonly extraVars?: Readonly<Record<string, unknown>>;
  /** Secrets for the playbook's environment (K3S_TOKEN, ...): never in argv, files or logs. */
  readonly secrets?: Readonly<Record<string, string>>;
  readonly limit?: readonly string[];
  readonly onEvent?: (event: AnsibleEvent) => void;
  readonly timeoutMs?: number;
  /** Stops ansible-playbook (Ctrl-C of the run). */
  readonly signal?: AbortSignal;
}

export interface AnsibleResult extends RunSummary {
  readonly playbook: string;
  /** The JSON-lines log of this run; ansible-playbook's stderr is beside it (.stderr.log). */
  readonly logFile: string;
  readonly durationMs: number;
  readonly exitCode: number | null;
}

export class AnsibleError extends EdgelabError {
  override readonly name = "AnsibleError";
  readonly result: AnsibleResult;
  /** The run's full log (the pipeline names it under the error). */
  readonly logFile: string;
  constructor(message: string, result: AnsibleResult, hint: string) {
    super(message, { hint });
    this.result = result;
    this.logFile = result.logFile;
  }
}

export class AnsibleRunner {
  readonly settings: AnsibleSettings;
  readonly knownHostsFile: string;
  readonly logDir: string;
  private readonly controlDir: string;
  private readonly executor = new LocalExecutor();
  private sequence = 0;

  constructor(private readonly options: RunnerOptions) {
    this.settings = options.settings ?? EDGELAB_SETTINGS;
    this.knownHostsFile = join(options.stateDir, "known_hosts");
    const runId = options.runId ?? new Date().toISOString().replace(/[:.]/g, "-");
    this.logDir = join(options.stateDir, "logs", runId);
    // Control sockets live in a short directory: a socket path may not exceed 108 bytes.
    this.controlDir = join(tmpdir(), `edgelab-ssh-${createHash("sha256").update(options.stateDir).digest("hex").slice(0, 10)}`);
    if (this.settings.hostKeys === "trust-on-first-use") {
      options.log?.(`--trust-on-first-use: SSH host keys of hosts not in ${this.knownHostsFile} are accepted WITHOUT verification and recorded there`);
    }
  }

  async run(request: PlaybookRequest): Promise<AnsibleResult> {
    const playbook = isAbsolute(request.playbook) ? request.playbook : join(PLAYBOOKS_DIR, request.playbook.endsWith(".yml") ? request.playbook : `${request.playbook}.yml`);
    if (!existsSync(playbook)) throw new EdgelabError(`no playbook ${playbook}`, { hint: `edgelab's playbooks: ${readdirSync(PLAYBOOKS_DIR).filter((f) => f.endsWith(".yml")).join(", ")}` });
    if (this.settings.hostKeys === "strict" && !existsSync(this.knownHostsFile)) {
      throw new EdgelabError(`no SSH host keys known: ${this.knownHostsFile} does not exist`, {
        hint: "edgelab reads the hosts' keys after provisioning or takes them from the inventory; --trust-on-first-use accepts unknown keys (not verified).",
      });
    }
    mkdirSync(this.logDir, { recursive: true });
    mkdirSync(this.controlDir, { recursive: true, mode: 0o700 });
    chmodSync(this.controlDir, 0o700);
    const localTemp = join(this.options.stateDir, "ansible", "tmp");
    mkdirSync(localTemp, { recursive: true });
    this.sequence += 1;
    const label = `${String(this.sequence).padStart(2, "0")}-${playbook.split("/").pop()?.replace(/\.yml$/, "") ?? "playbook"}`;
    const logFile = join(this.logDir, `${label}.jsonl`);
    let extraVarsFile: string | undefined;
    if (request.extraVars !== undefined && Object.keys(request.extraVars).length > 0) {
      extraVarsFile = join(this.logDir, `${label}.vars.json`);
      writeFileSync(extraVarsFile, `${JSON.stringify(request.extraVars, null, 2)}\n`, { mode: 0o600 });
    }
    const before = this.knownKeys();
    const env = {
      ...this.options.env,
      ...ansibleEnvironment(this.settings, { knownHostsFile: this.knownHostsFile, controlDir: this.controlDir, localTemp, factCache: join(this.options.stateDir, "ansible", "facts"), rolesDir: ROLES_DIR }, basename(playbook, ".yml")),
      ...request.secrets,
    };
    const summarizer = new RunSummarizer();
    const lines: string[] = [];
    const started = Date.now();
    const out = await this.executor.run(
      playbookArgv({ playbook, inventory: request.inventory, ...(extraVarsFile === undefined ? {} : { extraVarsFile }), ...(request.limit === undefined ? {} : { limit: request.limit }), ...(this.options.vaultPasswordFile === undefined ? {} : { vaultPasswordFile: this.options.vaultPasswordFile }) }),
      {
        env,
        allowFailure: true,
        timeoutMs: request.timeoutMs ?? 3_600_000,
        ...(request.signal === undefined ? {} : { signal: request.signal }),
        onStdoutLine: (line) => {
          lines.push(line);
          for (const event of parseLine(line)) {
            summarizer.add(event);
            request.onEvent?.(event);
          }
        },
      },
    ).catch((error: unknown) => {
      // Only a timeout throws here (allowFailure): keep what was logged, then report.
      writeFileSync(logFile, `${lines.join("\n")}\n`);
      throw error;
    });
    writeFileSync(logFile, out.stdout);
    writeFileSync(join(this.logDir, `${label}.stderr.log`), out.stderr);
    this.reportNewKeys(before);
    const result: AnsibleResult = { ...summarizer.summary(), playbook, logFile, durationMs: Date.now() - started, exitCode: out.exitCode };
    const name = label.slice(3);
    if (!result.complete) {
      const reason = out.stderr.split("\n").filter((l) => /ERROR|error/.test(l)).slice(-3).join(" ").trim() || out.stderr.trim().split("\n").slice(-3).join(" ");
      throw new AnsibleError(`${name}: ansible-playbook stopped before running the play (exit ${out.exitCode ?? "?"}): ${reason}`, result, `Full output: ${logFile} and ${label}.stderr.log beside it.`);
    }
    if (result.failures.length > 0 || out.exitCode !== 0) {
      const lines = result.failures.map((f) => `  ${f.host}: ${f.task}: ${f.unreachable ? "unreachable: " : ""}${f.message}`);
      const count = result.failures.length;
      throw new AnsibleError(
        `${name} failed on ${count} host${count === 1 ? "" : "s"}${lines.length > 0 ? `:\n${lines.join("\n")}` : ` (exit ${out.exitCode ?? "?"})`}`,
        result,
        `Full log: ${logFile}`,
      );
    }
    return result;
  }

  /** Closes the SSH connections kept open between playbooks. */
  async close(): Promise<void> {
    if (!existsSync(this.controlDir)) return;
    for (const socket of readdirSync(this.controlDir)) {
      await this.executor.run(["ssh", "-o", `ControlPath=${join(this.controlDir, socket)}`, "-O", "exit", "edgelab-control"], { allowFailure: true, timeoutMs: 10_000 });
    }
    rmSync(this.controlDir, { recursive: true, force: true });
  }

  private knownKeys(): Set<string> {
    if (!existsSync(this.knownHostsFile)) return new Set();
    return new Set(parseKnownHosts(readFileSync(this.knownHostsFile, "utf8")).flatMap((h) => h.keys.map((k) => `${hostPattern(h.host, h.port)} ${k.type} ${k.blob}`)));
  }

  private reportNewKeys(before: Set<string>): void {
    if (this.settings.hostKeys !== "trust-on-first-use" || !existsSync(this.knownHostsFile)) return;
    for (const h of parseKnownHosts(readFileSync(this.knownHostsFile, "utf8"))) {
      for (const k of h.keys) {
        if (!before.has(`${hostPattern(h.host, h.port)} ${k.type} ${k.blob}`)) this.options.log?.(`--trust-on-first-use: accepted ${hostPattern(h.host, h.port)} ${k.type} ${fingerprint(k)} without verification`);
      }
    }
  }
}

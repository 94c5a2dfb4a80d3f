/**
 * Ansible's JSON-lines callback (ansible.posix.jsonl, shipped with Debian's ansible): one JSON
 * object per event on standard output. This module turns those lines into typed events and sums
 * them up into what edgelab reports (pure; no I/O).
 */
import { z } from "zod";

const TaskRef = z.object({ name: z.string(), id: z.string(), path: z.string().optional() }).loose();
const HostResult = z.record(z.string(), z.unknown());

const Line = z.discriminatedUnion("_event", [
  z.object({ _event: z.literal("v2_playbook_on_play_start"), play: z.object({ name: z.string() }).loose() }).loose(),
  z.object({ _event: z.literal("v2_playbook_on_task_start"), task: TaskRef }).loose(),
  z.object({ _event: z.literal("v2_playbook_on_handler_task_start"), task: TaskRef }).loose(),
  z.object({ _event: z.literal("v2_runner_on_start"), task: TaskRef }).loose(),
  z.object({ _event: z.literal("v2_runner_on_ok"), task: TaskRef, hosts: z.record(z.string(), HostResult) }).loose(),
  z.object({ _event: z.literal("v2_runner_on_failed"), task: TaskRef, hosts: z.record(z.string(), HostResult) }).loose(),
  z.object({ _event: z.literal("v2_runner_on_skipped"), task: TaskRef, hosts: z.record(z.string(), HostResult) }).loose(),
  z.object({ _event: z.literal("v2_runner_on_unreachable"), task: TaskRef, hosts: z.record(z.string(), HostResult) }).loose(),
  z.object({
    _event: z.literal("v2_playbook_on_stats"),
    stats: z.record(z.string(), z.object({ ok: z.number(), changed: z.number(), failures: z.number(), skipped: z.number(), unreachable: z.number(), rescued: z.number(), ignored: z.number() })),
  }).loose(),
]);

export interface HostStats {
  readonly ok: number;
  readonly changed: number;
  readonly failures: number;
  readonly skipped: number;
  readonly unreachable: number;
  readonly rescued: number;
  readonly ignored: number;
}

export type HostStatus = "ok" | "changed" | "failed" | "skipped" | "unreachable";

export type AnsibleEvent =
  | { readonly kind: "play"; readonly name: string }
  | { readonly kind: "task"; readonly name: string }
  | { readonly kind: "host"; readonly host: string; readonly task: string; readonly status: HostStatus; readonly result: Readonly<Record<string, unknown>> }
  | { readonly kind: "stats"; readonly stats: Readonly<Record<string, HostStats>> };

/**
 * One line of the callback's output as events (one per host for results). Lines that are not the
 * callback's JSON (a module's stray print, a warning) give no event.
 */
export function parseLine(line: string): AnsibleEvent[] {
  const text = line.trim();
  if (!text.startsWith("{")) return [];
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return [];
  }
  const parsed = Line.safeParse(data);
  if (!parsed.success) return [];
  const e = parsed.data;
  switch (e._event) {
    case "v2_playbook_on_play_start":
      return [{ kind: "play", name: e.play.name }];
    case "v2_playbook_on_task_start":
    case "v2_playbook_on_handler_task_start":
    case "v2_runner_on_start":
      return [{ kind: "task", name: e.task.name }];
    case "v2_playbook_on_stats":
      return [{ kind: "stats", stats: e.stats }];
    default: {
      const base = e._event === "v2_runner_on_ok" ? "ok" : e._event === "v2_runner_on_failed" ? "failed" : e._event === "v2_runner_on_skipped" ? "skipped" : "unreachable";
      return Object.entries(e.hosts).map(([host, result]) => ({
        kind: "host" as const,
        host,
        task: e.task.name,
        status: base === "ok" && result["changed"] === true ? "changed" : base,
        result,
      }));
    }
  }
}

function text(value: unknown): string {
  return typeof value === "string" ? value.trim() : "";
}

function lastLines(value: string, n: number): string {
  return value
    .split("\n")
    .filter((l) => l.trim() !== "")
    .slice(-n)
    .join(" / ");
}

/** What a failed or unreachable result says, in one line: msg, or the command's stderr, or each failed item. */
export function resultMessage(result: Readonly<Record<string, unknown>>): string {
  if (typeof result["censored"] === "string") return "(output hidden: the task handles a secret)";
  const items = Array.isArray(result["results"]) ? (result["results"] as unknown[]) : [];
  const failedItems = items.filter((i): i is Record<string, unknown> => typeof i === "object" && i !== null && (i as Record<string, unknown>)["failed"] === true);
  if (failedItems.length > 0) {
    return failedItems
      .map((i) => {
        const label = i["_ansible_item_label"];
        const labelText = typeof label === "string" ? label : JSON.stringify(label);
        return `[${labelText}] ${resultMessage(i)}`;
      })
      .join("; ");
  }
  const msg = text(result["msg"]);
  const stderr = text(result["stderr"]);
  const moduleStderr = text(result["module_stderr"]);
  const rc = typeof result["rc"] === "number" ? result["rc"] : undefined;
  if (stderr !== "" && (msg === "" || msg === "non-zero return code")) return `${lastLines(stderr, 4)}${rc === undefined ? "" : ` (exit ${rc})`}`;
  if (moduleStderr !== "" && /MODULE FAILURE/.test(msg)) return `${msg.split("\n")[0] ?? msg}: ${lastLines(moduleStderr, 4)}`;
  if (msg !== "") return msg.replace(/\s+/g, " ");
  const stdout = text(result["stdout"]);
  return stdout !== "" ? lastLines(stdout, 4) : "failed without a message";
}

/**
 * An unreachable host's message in one readable line. OpenSSH's host-key refusal (a banner of
 * '@' and advice) becomes what happened: the key the host presented and where edgelab's keys
 * are; Ansible's "Data could not be sent..." preamble goes.
 */
export function unreachableMessage(message: string): string {
  const flat = message.replace(/\s+/g, " ").trim();
  const file = /Add correct host key in (\S+) to get rid/.exec(flat)?.[1] ?? /known_hosts file \(?(\S+?)\)?[ .]/.exec(flat)?.[1];
  const presented = /The fingerprint for the (\S+) key sent by the remote host is (SHA256:[A-Za-z0-9+/=]+)/.exec(flat);
  if (/Host key verification failed/.test(flat)) {
    if (presented !== null) return `SSH host key verification failed: the host presented ${presented[1] ?? ""} ${presented[2] ?? ""}, which is not the key edgelab knows for it${file === undefined ? "" : ` (${file})`}; connection refused`;
    const none = /No (\S+) host key is known for (\S+)/.exec(flat);
    return `SSH host key verification failed: no ${none?.[1] ?? ""} host key is known for ${none?.[2] ?? "it"}${file === undefined ? "" : ` in ${file}`} (strict checking)`.replace(/no {2}host/, "no host");
  }
  return flat.replace(/^Data could not be sent to remote host "[^"]*"\. Make sure this host can be reached over ssh: /, "").replace(/^Failed to connect to the host via ssh: /, "");
}

/** A task's name without the "role : " prefix Ansible adds to tasks of roles. */
export function bareTask(name: string): string {
  return name.replace(/^[\w.-]+ : /, "");
}

export interface Failure {
  readonly host: string;
  readonly task: string;
  readonly message: string;
  readonly unreachable: boolean;
}

export interface Skip {
  readonly host: string;
  readonly task: string;
  readonly reason: string;
}

export interface RunSummary {
  readonly stats: Readonly<Record<string, HostStats>>;
  /** One per host that failed or was unreachable (by host name): the task that ended its run. */
  readonly failures: readonly Failure[];
  readonly skipped: readonly Skip[];
  readonly changed: readonly { readonly host: string; readonly task: string }[];
  /** Whether the callback reported the play recap (false: ansible-playbook stopped before). */
  readonly complete: boolean;
}

/**
 * Sums up a run's events. A failure the playbook rescued is not a failure; a host's last failed
 * task is the one reported. Skipped tasks carry the reason a role reported for them (a debug
 * task whose msg is {edgelab_skipped: {reason, tasks}}), else Ansible's reason ("its condition was
 * false", "nothing to do (no items)").
 */
export class RunSummarizer {
  private readonly lastFailure = new Map<string, Failure>();
  private readonly skips: { host: string; task: string; why: string }[] = [];
  /** host -> bare task name -> the reason a role reported, and the "role : " prefix of its tasks. */
  private readonly reasons = new Map<string, Map<string, { reason: string; prefix: string }>>();
  private readonly changes: { host: string; task: string }[] = [];
  /** host + bare task name of every result seen. */
  private readonly results = new Set<string>();
  private stats: Record<string, HostStats> | undefined;

  add(event: AnsibleEvent): void {
    if (event.kind === "stats") this.stats = { ...event.stats };
    if (event.kind !== "host") return;
    this.results.add(`${event.host}\u0000${bareTask(event.task)}`);
    if (event.status === "failed" || event.status === "unreachable") {
      const message = resultMessage(event.result);
      this.lastFailure.set(event.host, { host: event.host, task: event.task, message: event.status === "unreachable" ? unreachableMessage(message) : message, unreachable: event.status === "unreachable" });
    } else if (event.status === "skipped") {
      const why = text(event.result["skip_reason"]) || text(event.result["skipped_reason"]);
      this.skips.push({ host: event.host, task: event.task, why: why === "" || why === "Conditional result was False" ? "its condition was false" : why === "No items in the list" ? "nothing to do (no items)" : why });
    } else if (event.status === "changed") {
      this.changes.push({ host: event.host, task: event.task });
    }
    const notice = event.result["msg"];
    if (typeof notice === "object" && notice !== null && "edgelab_skipped" in notice) {
      const parsed = z.object({ reason: z.string(), tasks: z.array(z.string()) }).safeParse((notice as Record<string, unknown>)["edgelab_skipped"]);
      if (parsed.success) {
        const forHost = this.reasons.get(event.host) ?? new Map<string, { reason: string; prefix: string }>();
        const prefix = /^[\w.-]+ : /.exec(event.task)?.[0] ?? "";
        for (const task of parsed.data.tasks) forHost.set(task, { reason: parsed.data.reason.replace(/\s+/g, " ").trim(), prefix });
        this.reasons.set(event.host, forHost);
      }
    }
  }

  summary(): RunSummary {
    const stats = this.stats ?? {};
    // Tasks a role reported it skips that Ansible never reached (inside a skipped include) are
    // skipped too, unless the host has a result for them.
    const skips = [...this.skips];
    for (const [host, tasks] of this.reasons) {
      for (const [task, { prefix }] of tasks) {
        if (!this.results.has(`${host}\u0000${task}`)) skips.push({ host, task: `${prefix}${task}`, why: "" });
      }
    }
    const failures = [...this.lastFailure.values()].sort((a, b) => a.host.localeCompare(b.host)).filter((f) => {
      const s = stats[f.host];
      return this.stats === undefined || (s !== undefined && (s.failures > 0 || s.unreachable > 0));
    });
    return {
      stats,
      failures,
      skipped: skips.map((s) => ({ host: s.host, task: s.task, reason: this.reasons.get(s.host)?.get(bareTask(s.task))?.reason ?? s.why })),
      changed: [...this.changes],
      complete: this.stats !== undefined,
    };
  }
}

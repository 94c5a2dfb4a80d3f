/**
 * What the stages that configure hosts with Ansible (prepare, k3s, cilium) share: one playbook
 * run through AnsibleRunner over verified SSH, through the lab's HostAccess (a rehearsal skips
 * it and says why), each host's progress as a live row, a failure as host, task and message with
 * the log file named, and the inputs that make the journal run a stage again (the rendered files
 * it consumes, the roles and playbooks edgelab ships, the hosts).
 */
import { readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { AnsibleRunner, PLAYBOOKS_DIR, ROLES_DIR, type AnsibleResult } from "../../ansible/runner.js";
import { EDGELAB_SETTINGS } from "../../ansible/settings.js";
import type { AnsibleEvent } from "../../ansible/events.js";
import type { SecretRef } from "../../inventory/schema.js";
import type { LabHost } from "../../model/lab.js";
import { hashValue } from "../../util/hash.js";
import { HostKeyError } from "../../exec/known-hosts.js";
import { waitForHostKey } from "../../exec/ssh.js";
import { composeKnownHosts, knownKeys } from "../known-hosts.js";
import { resolveSecret } from "../secrets.js";
import type { PipelineContext, SkippedStep, StageRun } from "../stage.js";
import { hostAccess } from "./access.js";

/** Every file of edgelab's roles and playbooks: a changed role runs its stage again. */
export function ansibleContentDigest(): string {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) files.push(`${relative(dirname(ROLES_DIR), path)}\n${readFileSync(path, "utf8")}`);
    }
  };
  walk(ROLES_DIR);
  walk(PLAYBOOKS_DIR);
  return hashValue(files.sort());
}

/**
 * The inputs every Ansible stage has: the hosts and how they are reached, the Ansible content, the
 * rendered variables — and the inventory itself, since it is Ansible's inventory too (any
 * variable in it, e.g. prereq_packages, reaches the roles).
 */
export function ansibleInputs(p: PipelineContext, families: readonly string[]): Record<string, unknown> {
  const render = p.outputs.get("render") ?? {};
  return {
    inventory: p.inventoryText,
    hosts: p.lab.hosts.map((h) => ({ name: h.name, address: h.address, port: h.sshPort, user: h.sshUser, role: h.role, keys: h.sshHostKeys })),
    ansible: ansibleContentDigest(),
    ...Object.fromEntries(["ansible", ...families].map((f) => [`render.${f}`, render[f] ?? ""])),
  };
}

/**
 * Checks the K3s token can be read before any host is touched (the value is not kept: the role
 * reads it from the environment, the file or the vault itself). A generated token is made here.
 */
export function checkK3sToken(p: PipelineContext): void {
  const ref: SecretRef = p.lab.k3s.token;
  if (typeof ref === "string" || "vault" in ref) return;
  resolveSecret(ref, "k3s-token", { env: p.ctx.env, baseDir: dirname(p.location.path), secretsDir: join(p.stateDir, "secrets") });
}

/**
 * Before a playbook: each host proves, in an SSH handshake, that it holds a key edgelab knows for
 * it. A host presenting another key stops the stage before anything runs, naming the host, the
 * key it presented and the keys edgelab knows (Ansible, pipelining, would only say "Broken
 * pipe"). A host that does not answer is left to Ansible, which reports it as unreachable.
 */
async function checkHostKeys(run: StageRun, hosts: readonly LabHost[]): Promise<void> {
  const p = run.p;
  const refused = await Promise.all(
    hosts.map(async (h) => {
      const keys = knownKeys(p.stateDir, h.address, h.sshPort);
      try {
        await waitForHostKey({ name: h.name, address: h.address, port: h.sshPort, username: h.sshUser ?? "root" }, keys, { timeoutMs: 10_000, retryMs: 10_000, signal: run.signal });
        return undefined;
      } catch (err) {
        if (err instanceof HostKeyError) return err.message;
        run.step({ host: h.name, message: `SSH handshake did not complete (${err instanceof Error ? err.message : String(err)}); Ansible reports the host if it stays unreachable` });
        return undefined;
      }
    }),
  );
  const problems = refused.filter((m): m is string => m !== undefined);
  if (problems.length === 0) return;
  throw new HostKeyError(`SSH host key check failed on ${problems.length} host${problems.length === 1 ? "" : "s"}, nothing was run:\n${problems.map((m) => `  ${m}`).join("\n")}`, {
    hint: "If a host was re-created, give its new key in the inventory (ssh_host_keys) or run `edgelab up --only provision` to read it again through the guest agent; otherwise something else answers at that address.",
  });
}

/** One line of progress for a host's task result. */
function progressLine(event: Extract<AnsibleEvent, { kind: "host" }>): string {
  return event.status === "ok" ? event.task : `${event.task}: ${event.status}`;
}

export interface PlaybookStep {
  readonly playbook: string;
  /** The hosts the playbook acts on (named in a rehearsal's skipped steps). */
  readonly hosts: readonly LabHost[];
  readonly what: string;
}

export type PlaybookOutcome = { readonly ran: true; readonly result: AnsibleResult; readonly runner: AnsibleRunner } | { readonly ran: false; readonly skipped: readonly SkippedStep[] };

/**
 * Runs one of edgelab's playbooks against the lab's inventory. The inventory's host keys join
 * those provisioning read into .edgelab/known_hosts first; SSH is strict unless the run asked for
 * --trust-on-first-use (then said so). `after` runs with the runner still open (its SSH
 * connections are kept between playbooks), e.g. to fetch the kubeconfig.
 */
export async function runPlaybook(run: StageRun, step: PlaybookStep, after?: (result: AnsibleResult) => Promise<void>): Promise<PlaybookOutcome> {
  const p = run.p;
  const access = hostAccess(p);
  if (access.isRehearsal) {
    const reached = await access.reachAll(step.hosts.map((h) => ({ name: h.name, address: h.address })), step.what, () => Promise.resolve());
    if (!reached.reached) return { ran: false, skipped: reached.skipped.map((k) => ({ what: `${k.step} on ${k.host} (${k.address})`, reason: k.reason })) };
  }
  composeKnownHosts(p.stateDir, p.lab.hosts);
  const trustOnFirstUse = p.options.trustOnFirstUse === true;
  if (!trustOnFirstUse) await checkHostKeys(run, step.hosts);
  const runner = new AnsibleRunner({
    stateDir: p.stateDir,
    env: p.ctx.env,
    runId: basename(p.logDir),
    settings: { ...EDGELAB_SETTINGS, hostKeys: trustOnFirstUse ? "trust-on-first-use" : "strict" },
    log: (line) => run.warn(line),
  });
  try {
    run.step({ message: `ansible-playbook ${step.playbook}.yml on ${step.hosts.length} host${step.hosts.length === 1 ? "" : "s"} (log: ${relative(dirname(p.location.path), runner.logDir)})` });
    const result = await runner.run({
      playbook: step.playbook,
      inventory: p.location.path,
      signal: run.signal,
      onEvent: (event) => {
        if (event.kind === "host") run.step({ host: event.host, message: progressLine(event) });
      },
    });
    for (const host of step.hosts) {
      const s = result.stats[host.name];
      if (s !== undefined) run.step({ host: host.name, message: `done: ${s.changed} changed, ${s.ok} ok, ${s.skipped} skipped` });
    }
    await after?.(result);
    return { ran: true, result, runner };
  } finally {
    await runner.close();
  }
}

/** The summary and skipped steps of a stage that ran one playbook. */
export function playbookOutcome(outcome: PlaybookOutcome, hosts: number, what: string): { changes: number; summary: string; skipped?: readonly SkippedStep[] } {
  if (!outcome.ran) return { changes: 0, summary: `${what}: skipped (rehearsal, nothing contacted)`, skipped: outcome.skipped };
  const changes = outcome.result.changed.length;
  // What a role said it skipped and why (a container host's kernel tasks...), one line per task and reason.
  const grouped = new Map<string, { task: string; reason: string; hosts: string[] }>();
  for (const s of outcome.result.skipped) {
    if (s.reason === "" || /condition was false|no items/.test(s.reason)) continue;
    const key = `${s.task}\u0000${s.reason}`;
    const entry = grouped.get(key) ?? { task: s.task, reason: s.reason, hosts: [] };
    entry.hosts.push(s.host);
    grouped.set(key, entry);
  }
  return {
    changes,
    summary: `${what} on ${hosts} host${hosts === 1 ? "" : "s"}, ${changes} task result${changes === 1 ? "" : "s"} changed`,
    ...(grouped.size > 0 ? { skipped: [...grouped.values()].map((g) => ({ what: `${g.task} on ${g.hosts.join(", ")}`, reason: g.reason })) } : {}),
  };
}

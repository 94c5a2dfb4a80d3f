/** `edgelab provision`: the Proxmox VMs of the lab (and what the provision stage and destroy share). */
import { Command, Option } from "commander";
import { dirname, join } from "node:path";
import { EXIT_FAILED, UsageError } from "../errors.js";
import { loadLab } from "../pipeline/inventory-file.js";
import { HostAccess } from "../pipeline/host-access.js";
import { normalizeFingerprint, ProxmoxClient } from "../providers/proxmox/client.js";
import { resolveEndpoint } from "../providers/proxmox/endpoint.js";
import { ours, planLines, planVms } from "../providers/proxmox/plan.js";
import { AUTO_CLONES_PER_STORAGE, DEFAULT_PROVISION, Provisioner, type FailedVm, type ProvisionEvent } from "../providers/proxmox/provision.js";
import { readActual, readIdentity, type ClusterIdentity } from "../providers/proxmox/read.js";
import type { ActualVm } from "../providers/proxmox/plan.js";
import { knownHostsFromAgent } from "../providers/proxmox/agent.js";
import { pveApi } from "../providers/proxmox/api.js";
import { fingerprint, parseKnownHosts, type KnownHost } from "../exec/known-hosts.js";
import { waitForHostKey } from "../exec/ssh.js";
import { composeKnownHosts, knownKeys, recordProvisionedKeys } from "../pipeline/known-hosts.js";
import { table } from "../output.js";
import type { Context } from "../context.js";
import type { Lab } from "../model/lab.js";
import { LiveRows } from "../live-rows.js";
import { println, type App } from "./app.js";

function positive(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got '${value}'`);
  return n;
}

/** --tls-fingerprint, parsed at the CLI edge (any format users paste). */
export function tlsFingerprintFlag(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    return normalizeFingerprint(value);
  } catch (err) {
    throw new UsageError(`--tls-fingerprint: ${(err as Error).message}`, "Give the SHA-256 of the node's certificate, e.g. AA:BB:... (with or without colons).");
  }
}

/** The --tls-fingerprint option of every command that talks to Proxmox. */
export function tlsFingerprintOption(): Option {
  return new Option("--tls-fingerprint <sha256>", "trust the Proxmox API's certificate with this SHA-256 (pin; wins over PROXMOX_TLS_FINGERPRINT and the inventory)");
}

function proxmoxLab(ctx: Context, tlsFingerprint: string | undefined): { lab: Lab; client: ProxmoxClient; display: string; stateDir: string } {
  const { lab, location } = loadLab(ctx);
  if (lab.provider !== "proxmox") throw new UsageError(`${location.display}: provider is ${lab.provider}; this command is for provider proxmox`, "The local lab is started with edgelab up.");
  return { lab, client: new ProxmoxClient(resolveEndpoint(lab, ctx.env, location.path, { tlsFingerprint })), display: location.display, stateDir: join(dirname(location.path), ".edgelab") };
}

/** The provision stage's settings, parsed from the command line. */
export interface ProvisionFlags {
  readonly concurrency: number;
  readonly clonesPerStorage: number | "auto";
  readonly start: boolean;
  readonly waitSsh: boolean;
  readonly destroyOnFailure: boolean;
  readonly agentTimeoutMs: number;
  readonly tlsFingerprint: string | undefined;
  /** Accept a host key that could not be read through the guest agent (logged; never the default). */
  readonly trustOnFirstUse: boolean;
  /** How long the SSH handshake may take to succeed on each VM. */
  readonly sshTimeoutMs: number;
}

export const DEFAULT_PROVISION_FLAGS: ProvisionFlags = { concurrency: DEFAULT_PROVISION.concurrency, clonesPerStorage: "auto", start: true, waitSsh: true, destroyOnFailure: false, agentTimeoutMs: DEFAULT_PROVISION.agentTimeoutMs, tlsFingerprint: undefined, trustOnFirstUse: false, sshTimeoutMs: 300_000 };

interface RawProvisionOptions {
  concurrency: string;
  clonesPerStorage: string;
  start: boolean;
  waitSsh: boolean;
  destroyOnFailure?: boolean;
  agentTimeout: string;
  tlsFingerprint?: string;
  trustOnFirstUse?: boolean;
}

export function provisionCommand(app: App): Command {
  return new Command("provision")
    .description("create, update or replace the lab's VMs on Proxmox so they match the inventory (the plan, applied)")
    .option("--concurrency <n>", "VMs configured, resized and started at once", String(DEFAULT_PROVISION.concurrency))
    .option("--clones-per-storage <n>", `clones at once per target storage (auto: ${AUTO_CLONES_PER_STORAGE.full} for full clones, ${AUTO_CLONES_PER_STORAGE.linked} for linked; a storage that times out on its lock drops to 1)`, "auto")
    .option("--no-start", "do not start the VMs (nor wait for their guest agent and SSH)")
    .option("--no-wait-ssh", "do not wait for an SSH handshake (with the key read through the guest agent) on each VM's address")
    .option("--trust-on-first-use", "accept a VM's SSH host key unverified when it cannot be read through the guest agent (logged)")
    .option("--destroy-on-failure", "remove the VMs this run created if anything fails")
    .addOption(new Option("--agent-timeout <seconds>", "how long to wait for a VM's guest agent to report its address").default("300"))
    .addOption(tlsFingerprintOption())
    .addHelpText(
      "after",
      `
Clones run a few at a time per target storage (full clones share its bandwidth; after a lock
timeout that storage gets one at a time); the rest runs concurrently. Tasks are polled to
completion; steps that are safe to repeat (configure, resize, start, shutdown/stop, destroy) are
retried with backoff when their task fails, after re-reading the VM; a clone is retried only
after checking what holds its vmid. Every change is read back. Re-running on a converged lab
changes nothing and says so.

Once the VMs run, each VM's SSH host keys are read through the Proxmox guest agent (agent/exec
of cat on /etc/ssh/ssh_host_*_key.pub) into .edgelab/known_hosts beside the inventory, with the
keys the inventory gives (ssh_host_keys); then edgelab waits for an SSH handshake in which the VM
proves it holds one of those keys. Ansible and edgelab's own SSH check hosts strictly against
that file. --trust-on-first-use accepts a VM whose keys could not be read (said in the output).

Against edgelab's simulator (proxmox-sim) the run is a rehearsal: the keys are read through the
simulated agent, but steps that would contact the VMs themselves (the SSH handshake) are skipped
and listed, since those addresses are not the simulator's.

Examples:
  $ edgelab provision -i inventories/lab.yml
  $ edgelab provision -i inventories/lab.yml --tls-fingerprint 'sha256 Fingerprint=AB:CD:...'
  $ edgelab provision -i inventories/lab.yml --destroy-on-failure --json > events.jsonl`,
    )
    .action(async (options: RawProvisionOptions, cmd: Command) => {
      const clones = options.clonesPerStorage === "auto" ? "auto" : positive("clones-per-storage", options.clonesPerStorage);
      await runProvision(app, app.context(cmd), {
        concurrency: positive("concurrency", options.concurrency),
        clonesPerStorage: clones,
        start: options.start,
        waitSsh: options.waitSsh,
        destroyOnFailure: options.destroyOnFailure === true,
        agentTimeoutMs: positive("agent-timeout", options.agentTimeout) * 1000,
        tlsFingerprint: tlsFingerprintFlag(options.tlsFingerprint),
        trustOnFirstUse: options.trustOnFirstUse === true,
        sshTimeoutMs: DEFAULT_PROVISION_FLAGS.sshTimeoutMs,
      });
    });
}

/** Hosts are contacted only on a real cluster: against the simulator the run is a rehearsal. */
export function hostAccessFor(identity: ClusterIdentity, url: string): HostAccess {
  if (identity.simulator === undefined) return HostAccess.direct();
  return HostAccess.rehearsal(`rehearsal: ${url} is ${identity.simulator.name} (its GET /version says so), so the lab's VMs exist only inside it and their addresses belong to other machines`);
}

function retryText(e: Extract<ProvisionEvent, { kind: "retry" }>): string {
  return `${e.step}: retry ${e.attempt}/${e.of} in ${(e.delayMs / 1000).toFixed(1)} s (${e.error})`;
}

/**
 * The provision stage: plan, apply, report. Shared by `provision` and `up` (provider proxmox).
 * Returns the HostAccess the stages after it must go through to contact the lab's hosts, and how
 * many VMs the plan changed.
 */
export async function runProvision(app: App, ctx: Context, flags: ProvisionFlags): Promise<{ access: HostAccess; changes: number }> {
  const s = app.style(ctx);
  const { lab, client, display, stateDir } = proxmoxLab(ctx, flags.tlsFingerprint);
  const started = Date.now();
  try {
    const identity = await readIdentity(client);
    const access = hostAccessFor(identity, lab.proxmox === undefined ? "the API" : (ctx.env["PROXMOX_URL"] ?? lab.proxmox.url));
    const plan = planVms(lab, await readActual(client, lab));
    const emit = (event: Record<string, unknown>): void => println(ctx.stdout, JSON.stringify(event));
    if (ctx.options.json) emit({ event: "plan", counts: plan.counts, ...(access.isRehearsal ? { rehearsal: true } : {}) });
    else {
      for (const line of planLines(plan)) println(ctx.stdout, line.startsWith("Plan:") ? s.bold(line) : line);
      if (access.isRehearsal) println(ctx.stdout, s.dim(`Rehearsal against ${identity.simulator?.name ?? "the simulator"}: steps that would contact the VMs at their addresses are skipped.`));
    }
    const changes = plan.counts.create + plan.counts.update + plan.counts.replace + plan.counts.delete;
    const times = new Map<string, { first: number; last: number; step: string }>();
    const live = new LiveRows(ctx.stderr, started);
    const show = (host: string, vmid: number, text: string, at: number, record: Record<string, unknown>): void => {
      const t = times.get(host) ?? { first: at, last: at, step: text };
      times.set(host, { first: t.first, last: at, step: text });
      if (ctx.options.json) emit({ ...record, host, vmid, seconds: (at - started) / 1000 });
      else live.update(host, ctx.stderr.isTTY ? `${text} (${((at - t.first) / 1000).toFixed(1)} s)` : text, at);
    };
    const onEvent = (e: ProvisionEvent): void => {
      switch (e.kind) {
        case "step":
          show(e.host, e.vmid, e.detail === undefined ? e.step : `${e.step} ${e.detail}`, e.at, { event: "step", step: e.step, ...(e.detail === undefined ? {} : { detail: e.detail }) });
          break;
        case "retry":
          show(e.host, e.vmid, retryText(e), e.at, { event: "retry", step: e.step, attempt: e.attempt, of: e.of, exitstatus: e.error, delaySeconds: e.delayMs / 1000 });
          break;
        case "storage":
          if (ctx.options.json) emit({ event: "storage", storage: e.storage, clonesAtOnce: e.clonesAtOnce, reason: e.reason, seconds: (e.at - started) / 1000 });
          else println(ctx.stderr, s.yellow(`  ${e.reason}`));
          break;
        case "done":
          show(e.host, e.vmid, "done", e.at, { event: "step", step: "done" });
          break;
        case "failed":
          show(e.host, e.vmid, `failed in ${e.step}: ${e.error}`, e.at, { event: "failed", step: e.step, error: e.error });
          break;
      }
    };
    access.onSkip((skip) => {
      const vmid = lab.hosts.find((h) => h.name === skip.host)?.vm?.vmid ?? 0;
      show(skip.host, vmid, `${skip.step}: skipped (rehearsal)`, Date.now(), { event: "skipped", step: skip.step, address: skip.address, reason: skip.reason });
    });
    // Against the simulator, poll on its clock (a rehearsal at --time-scale 0.01 runs 100× faster).
    const scale = identity.simulator?.timeScale ?? 1;
    const options = { ...DEFAULT_PROVISION, concurrency: flags.concurrency, clonesPerStorage: flags.clonesPerStorage, start: flags.start, agentTimeoutMs: flags.agentTimeoutMs, pollMs: Math.max(5, DEFAULT_PROVISION.pollMs * scale), backoffMs: Math.max(5, DEFAULT_PROVISION.backoffMs * scale) };
    const provisioner = new Provisioner(client, lab, options, onEvent);
    const result = await provisioner.apply(plan);
    const failed: FailedVm[] = [...result.failed];
    if (failed.length === 0 && flags.start) {
      const api = pveApi(client);
      await Promise.all(
        lab.hosts.map(async (h) => {
          if (h.vm === undefined) return;
          const vm = h.vm;
          let read: KnownHost | undefined;
          try {
            show(h.name, vm.vmid, "read SSH host keys", Date.now(), { event: "step", step: "read SSH host keys" });
            read = await readHostKeys(api, h, vm.node, vm.vmid, { pollMs: options.pollMs });
          } catch (err) {
            const message = (err as Error).message;
            if (h.sshHostKeys.length > 0) {
              // The inventory's keys stand on their own.
              show(h.name, vm.vmid, `host keys from the inventory (the guest agent gave none: ${message})`, Date.now(), { event: "step", step: "host keys from the inventory" });
            } else if (flags.trustOnFirstUse) {
              show(h.name, vm.vmid, `--trust-on-first-use: no host key from the guest agent (${message}); the key the VM presents will be accepted UNVERIFIED`, Date.now(), { event: "step", step: "trust on first use" });
            } else {
              failed.push({ host: h.name, vmid: vm.vmid, step: "read SSH host keys", error: message });
              return;
            }
          }
          if (read !== undefined) recordProvisionedKeys(stateDir, [read]);
          composeKnownHosts(stateDir, [h]);
          const keys = knownKeys(stateDir, h.address, h.sshPort);
          if (!flags.waitSsh) return;
          try {
            const reached = await access.reach({ name: h.name, address: h.address }, "wait for SSH", async (address) => {
              show(h.name, vm.vmid, "wait for SSH", Date.now(), { event: "step", step: "wait for SSH" });
              const target = { name: h.name, address, port: h.sshPort, username: h.sshUser ?? "root" };
              return waitForHostKey(target, keys, { timeoutMs: flags.sshTimeoutMs, trustOnFirstUse: keys.length === 0 && flags.trustOnFirstUse });
            });
            if (reached.reached) {
              const { key, verified } = reached.value;
              // A key accepted on first use is recorded: from here on it is checked like any other.
              if (!verified) {
                recordProvisionedKeys(stateDir, [{ host: h.address, port: h.sshPort, keys: [key] }]);
                composeKnownHosts(stateDir, [h]);
              }
              show(h.name, vm.vmid, verified ? `SSH host key verified (${key.type} ${fingerprint(key)})` : `--trust-on-first-use: accepted ${key.type} ${fingerprint(key)} UNVERIFIED`, Date.now(), { event: "step", step: "SSH answers", key: `${key.type} ${fingerprint(key)}`, verified });
            }
          } catch (err) {
            failed.push({ host: h.name, vmid: vm.vmid, step: "wait for SSH", error: (err as Error).message });
          }
        }),
      );
    }
    if (failed.length > 0 && flags.destroyOnFailure && result.created.length > 0) {
      for (const vmid of result.created) {
        const host = lab.hosts.find((h) => h.vm?.vmid === vmid);
        try {
          await provisioner.destroyVm(host?.name ?? String(vmid), vmid, host?.vm?.node ?? lab.proxmox?.node ?? "");
        } catch (err) {
          failed.push({ host: host?.name ?? String(vmid), vmid, step: "destroy on failure", error: (err as Error).message });
        }
      }
    }
    const seconds = (Date.now() - started) / 1000;
    const summary = access.summary();
    if (ctx.options.json) {
      emit({ event: "done", seconds, created: result.created, failed, destroyedOnFailure: failed.length > 0 && flags.destroyOnFailure ? result.created : [], ...(summary === undefined ? {} : { rehearsal: true, skipped: access.skipped, summary }) });
    } else {
      if (changes === 0 && failed.length === 0) println(ctx.stdout, `Nothing to change: ${plan.counts.unchanged} VMs of ${display} match the inventory.`);
      println(ctx.stdout, table([["HOST", "LAST STEP", "SECONDS"].map((h) => s.bold(h)), ...[...times].map(([host, t]) => [host, t.step, ((t.last - t.first) / 1000).toFixed(1)])]));
      if (failed.length > 0) {
        println(ctx.stderr, s.red(`\n${failed.length} failed:`));
        for (const f of failed) println(ctx.stderr, `  ${f.host} (vmid ${f.vmid}), step ${f.step}: ${f.error}`);
        println(ctx.stderr, `Created by this run: ${result.created.join(", ") || "none"}${flags.destroyOnFailure ? " (destroyed again)" : " (kept; run again to converge, or pass --destroy-on-failure)"}`);
      }
      if (summary !== undefined) {
        const steps = [...new Set(access.skipped.map((k) => k.step))];
        for (const step of steps) println(ctx.stdout, `Skipped: ${step} on ${access.skipped.filter((k) => k.step === step).length} host(s) — ${access.rehearsal ?? ""}.`);
        println(ctx.stdout, s.bold(summary));
      }
      println(ctx.stdout, `${failed.length === 0 ? s.green("✔") : s.red("✖")} ${seconds.toFixed(1)} s`);
    }
    if (failed.length > 0) app.exitCode = EXIT_FAILED;
    return { access, changes };
  } finally {
    client.close();
  }
}

/** A VM's SSH host keys, read through the guest agent (the Proxmox API, not the VM's address). */
async function readHostKeys(api: ReturnType<typeof pveApi>, h: Lab["hosts"][number], node: string, vmid: number, options: { pollMs: number }): Promise<KnownHost> {
  const lines = await knownHostsFromAgent(api, node, vmid, h.address, { port: h.sshPort, pollMs: options.pollMs });
  return { host: h.address, port: h.sshPort, keys: parseKnownHosts(lines.join("\n")).flatMap((k) => k.keys) };
}

/** What the cluster holds against what the inventory asks for (read-only): the plan's counts. */
export async function readPlanCounts(ctx: Context, tlsFingerprint: string | undefined): Promise<Readonly<Record<string, number>>> {
  const { lab, client } = proxmoxLab(ctx, tlsFingerprint);
  try {
    return planVms(lab, await readActual(client, lab)).counts;
  } finally {
    client.close();
  }
}

/** The lab's VMs on the cluster that carry its tag: what destroy may delete (templates never). */
export async function taggedVms(ctx: Context, tlsFingerprint: string | undefined): Promise<{ lab: Lab; client: ProxmoxClient; victims: readonly ActualVm[] }> {
  const { lab, client } = proxmoxLab(ctx, tlsFingerprint);
  try {
    return { lab, client, victims: (await readActual(client, lab)).filter((vm) => !vm.template && ours(lab, vm)) };
  } catch (err) {
    client.close();
    throw err;
  }
}

export function victimLine(vm: ActualVm): string {
  return `delete ${vm.config.name} (vmid ${vm.vmid} on ${vm.node}, ${vm.status})`;
}

/** Shuts down and deletes the VMs (all at once); returns one line per VM that could not be. */
export async function destroyVms(client: ProxmoxClient, lab: Lab, victims: readonly ActualVm[], progress: (host: string, text: string) => void): Promise<string[]> {
  const provisioner = new Provisioner(client, lab, DEFAULT_PROVISION, (e) => {
    if (e.kind === "step") progress(e.host, `${e.step}${e.detail === undefined ? "" : ` ${e.detail}`}`);
    else if (e.kind === "retry") progress(e.host, retryText(e));
  });
  const failed: string[] = [];
  await Promise.all(victims.map((vm) => provisioner.destroyVm(vm.config.name, vm.vmid, vm.node).catch((err: unknown) => failed.push(`${vm.config.name} (vmid ${vm.vmid}): ${(err as Error).message}`))));
  return failed;
}

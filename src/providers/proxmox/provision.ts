/**
 * Applying a plan: clones (a few at a time per target storage — one at a time on a storage that
 * answered a lock timeout), configuration, disk growth, start, guest-agent wait; deletes.
 *
 * Tasks are polled to completion. What is safe to repeat is repeated, bounded and with backoff,
 * when its task ends in an error or the API answers a transient failure: configuration (the
 * same values), resize to an absolute size (after re-reading the size), start (after reading
 * that the VM is still stopped), shutdown/stop (after reading that it still runs), destroy
 * (after reading that it still exists). A clone is never repeated blindly: before another
 * attempt the vmid is looked up, and a VM found there is accepted only if it carries edgelab's
 * description for this lab and host. Every change is read back.
 */
import type { Lab } from "../../model/lab.js";
import { retry } from "../../util/retry.js";
import { sleep } from "../../util/sleep.js";
import { isAgentNotReady } from "./agent.js";
import { pveApi, type PveApi } from "./api.js";
import { isTransient, ProviderError, type ProxmoxClient } from "./client.js";
import { diskGiB, fromApiConfig, toApiConfig, type VmConfig } from "./mapper.js";
import { diffConfig, type Action, type Plan } from "./plan.js";

/** The steps a VM goes through; a failure names the one it failed in. */
export type Step = "read" | "clone" | "configure" | "resize" | "start" | "wait for guest agent" | "shutdown" | "stop" | "destroy";

export interface ProvisionOptions {
  /** Clones at once per target storage; "auto": AUTO_CLONES_PER_STORAGE for the lab's clone mode. */
  readonly clonesPerStorage: number | "auto";
  /** VMs configured, resized and started at once (waiting for the guest agent is not limited). */
  readonly concurrency: number;
  /** Longest interval between two polls of a task (young tasks are polled sooner). */
  readonly pollMs: number;
  readonly taskTimeoutMs: number;
  readonly agentTimeoutMs: number;
  /** Retries of one step after its first attempt. */
  readonly retries: number;
  /** First retry delay; doubles per retry, up to 8×. */
  readonly backoffMs: number;
  /** Start the VMs and wait for the guest agent to report the expected address. */
  readonly start: boolean;
}

/**
 * Clones at once per storage when not told, measured against the clone model (docs/benchmarks.md):
 * full clones share the storage's bandwidth, so more at once only adds lock-timeout risk; linked
 * clones take about a second each whatever runs beside them.
 */
export const AUTO_CLONES_PER_STORAGE = { full: 1, linked: 5 } as const;

export const DEFAULT_PROVISION: ProvisionOptions = { clonesPerStorage: "auto", concurrency: 16, pollMs: 1000, taskTimeoutMs: 900_000, agentTimeoutMs: 300_000, retries: 5, backoffMs: 2000, start: true };

export type ProvisionEvent =
  | { readonly kind: "step"; readonly host: string; readonly vmid: number; readonly step: Step; readonly detail?: string | undefined; readonly at: number }
  | { readonly kind: "retry"; readonly host: string; readonly vmid: number; readonly step: Step; readonly attempt: number; readonly of: number; readonly error: string; readonly delayMs: number; readonly at: number }
  | { readonly kind: "storage"; readonly storage: string; readonly clonesAtOnce: number; readonly reason: string; readonly at: number }
  | { readonly kind: "done"; readonly host: string; readonly vmid: number; readonly at: number }
  | { readonly kind: "failed"; readonly host: string; readonly vmid: number; readonly step: Step; readonly error: string; readonly at: number };

export interface FailedVm {
  readonly host: string;
  readonly vmid: number;
  readonly step: Step | "read SSH host keys" | "wait for SSH" | "destroy on failure";
  readonly error: string;
}

export interface ProvisionResult {
  /** VMs this run created (for --destroy-on-failure and the failure report). */
  readonly created: readonly number[];
  readonly failed: readonly FailedVm[];
  readonly done: readonly string[];
}

/** A task that ended with an error exit status. */
export class TaskFailed extends ProviderError {
  constructor(
    readonly upid: string,
    readonly exitstatus: string,
  ) {
    super(`task ${upid.split(":")[5] ?? "?"} failed: ${exitstatus}`, 500, exitstatus, upid, undefined);
  }
}

const STORAGE_LOCK = /pve-storage-|cfs-lock 'storage-|storage.*got timeout/;

/** Semaphores by key whose limits can be lowered while work runs. */
class Gates {
  private readonly waiting = new Map<string, (() => void)[]>();
  private readonly running = new Map<string, number>();
  private readonly limits = new Map<string, number>();
  constructor(private readonly initial: number) {}

  limit(key: string): number {
    return this.limits.get(key) ?? this.initial;
  }

  setLimit(key: string, limit: number): void {
    this.limits.set(key, limit);
  }

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    while ((this.running.get(key) ?? 0) >= this.limit(key)) {
      await new Promise<void>((resolve) => this.waiting.set(key, [...(this.waiting.get(key) ?? []), resolve]));
    }
    this.running.set(key, (this.running.get(key) ?? 0) + 1);
    try {
      return await work();
    } finally {
      this.running.set(key, (this.running.get(key) ?? 1) - 1);
      this.waiting.get(key)?.shift()?.();
    }
  }
}

interface Who {
  readonly host: string;
  readonly vmid: number;
}

export class Provisioner {
  private readonly api: PveApi;
  /** The step each VM is in, for the failure report. */
  private readonly current = new Map<string, Step>();
  private readonly templateStorage = new Map<string, Promise<string>>();

  constructor(
    client: ProxmoxClient,
    private readonly lab: Lab,
    private readonly options: ProvisionOptions = DEFAULT_PROVISION,
    private readonly onEvent: (event: ProvisionEvent) => void = () => undefined,
  ) {
    this.api = pveApi(client);
  }

  private qemu(node: string, vmid: number) {
    return this.api.nodes.$(node).qemu.$(vmid);
  }

  private step(who: Who, step: Step, detail?: string): void {
    this.current.set(who.host, step);
    this.onEvent({ kind: "step", host: who.host, vmid: who.vmid, step, detail, at: Date.now() });
  }

  /**
   * Polls a task to its end: "OK" and "WARNINGS: n" succeed; anything else is a TaskFailed with
   * the exit status. Young tasks are polled sooner (a 1 s linked clone is not noticed a second
   * late); a task too new to be known yet (400) is asked again.
   */
  async waitTask(node: string, upid: string): Promise<void> {
    const started = Date.now();
    const deadline = started + this.options.taskTimeoutMs;
    const taskNode = upid.split(":")[1] ?? node;
    for (;;) {
      let status: { status?: string; exitstatus?: string } | undefined;
      try {
        status = await this.api.nodes.$(taskNode).tasks.$(upid).status.$get();
      } catch (err) {
        if (!(err instanceof ProviderError && err.status === 400) || Date.now() > deadline) throw err;
      }
      if (status?.status === "stopped") {
        const exit = status.exitstatus ?? "";
        if (exit === "OK" || exit.startsWith("WARNINGS:")) return;
        throw new TaskFailed(upid, exit);
      }
      if (Date.now() > deadline) throw new ProviderError(`task ${upid} still running after ${Math.round(this.options.taskTimeoutMs / 1000)} s`, undefined, "task timeout", upid, undefined);
      const elapsed = Date.now() - started;
      await sleep(Math.min(this.options.pollMs, Math.max(this.options.pollMs / 10, elapsed / 5)));
    }
  }

  /**
   * One idempotent step run as a task: sent, polled; if the task fails or the API answers a
   * transient error, `stillNeeded` reads the VM again, and the step is repeated only if it is.
   */
  private async taskStep(who: Who, step: Step, node: string, send: () => Promise<string>, stillNeeded: () => Promise<boolean>, succeeded: (exit: string) => boolean = () => false): Promise<void> {
    await retry(
      async (attempt) => {
        if (attempt > 0 && !(await stillNeeded())) return;
        const upid = await send();
        try {
          await this.waitTask(node, upid);
        } catch (err) {
          if (err instanceof TaskFailed && succeeded(err.exitstatus)) return;
          throw err;
        }
      },
      {
        retries: this.options.retries,
        backoffMs: this.options.backoffMs,
        retryable: (err) => err instanceof TaskFailed || isTransient(err),
        onRetry: (err, attempt, delayMs) => this.retried(who, step, err, attempt, delayMs),
      },
    );
  }

  private retried(who: Who, step: Step, err: unknown, attempt: number, delayMs: number): void {
    const error = err instanceof TaskFailed ? err.exitstatus : err instanceof ProviderError && err.status !== undefined ? `${err.status} ${err.reason}` : err instanceof Error ? err.message : String(err);
    this.onEvent({ kind: "retry", host: who.host, vmid: who.vmid, step, attempt, of: this.options.retries, error, delayMs, at: Date.now() });
  }

  private async readConfig(node: string, vmid: number): Promise<Record<string, unknown>> {
    return this.qemu(node, vmid).config.$get();
  }

  private async status(node: string, vmid: number): Promise<string | undefined> {
    return (await this.qemu(node, vmid).status.current.$get()).status;
  }

  private async exists(vmid: number): Promise<{ node: string } | undefined> {
    const found = (await this.api.cluster.resources.$get({ type: "vm" })).find((r) => r.vmid === vmid);
    return found?.node === undefined ? undefined : { node: found.node };
  }

  /** Ours: the description edgelab gave the clone names this lab and host. */
  private isOurs(config: Record<string, unknown>, host: string): boolean {
    return typeof config["description"] === "string" && config["description"].includes(`(lab ${this.lab.name}, host ${host})`);
  }

  /** Where the clones of this node's template put their volumes: its storage for linked clones, the host's for full ones. */
  private async cloneStorage(node: string, hostStorage: string): Promise<string> {
    const px = this.lab.proxmox;
    if (px?.clone !== "linked") return hostStorage;
    let storage = this.templateStorage.get(node);
    if (storage === undefined) {
      storage = this.readConfig(node, px.template).then((config) => {
        for (const key of ["scsi0", "virtio0", "sata0", "ide0"]) {
          const value = config[key];
          if (typeof value === "string" && !value.includes("media=cdrom")) return value.split(":")[0] ?? hostStorage;
        }
        return hostStorage;
      });
      this.templateStorage.set(node, storage);
    }
    return storage;
  }

  /** Clone; a clone that may have happened is verified by our description, never blindly re-sent. */
  private async clone(who: Who, node: string, desired: VmConfig, storage: string, gates: Gates, cloneStorage: string): Promise<void> {
    const px = this.lab.proxmox;
    if (px === undefined) throw new Error("no proxmox settings");
    /** A VM already holds the vmid: ours (an earlier attempt went through) or not. */
    const adopt = async (): Promise<"ours" | "locked" | "absent"> => {
      const existing = await this.exists(who.vmid);
      if (existing === undefined) return "absent";
      const config = await this.readConfig(existing.node, who.vmid);
      if (typeof config["lock"] === "string") return "locked";
      if (this.isOurs(config, desired.name)) return "ours";
      throw new ProviderError(`vmid ${who.vmid} is now held by '${typeof config["name"] === "string" ? config["name"] : "?"}' on ${existing.node}, which edgelab did not create for ${desired.name}`, undefined, "vmid taken", `/nodes/${existing.node}/qemu/${who.vmid}`, undefined, "Another tool or person took this vmid while edgelab ran; free it or choose another vmid in the inventory.");
    };
    const stillLocked = (): ProviderError => new ProviderError(`VM ${who.vmid} is still locked by a clone`, 500, "is locked (clone)", `/nodes/${node}/qemu/${who.vmid}`, undefined);
    /** Attempt `n` (0: the first): a VM already at the vmid is looked at before sending the clone again. */
    const once = async (n: number): Promise<void> => {
      if (n > 0) {
        const found = await adopt();
        if (found === "ours") return;
        if (found === "locked") throw stillLocked();
      }
      this.step(who, "clone", `${px.clone} clone of ${px.template} to ${cloneStorage}`);
      try {
        const upid = await this.qemu(node, px.template).clone.$post({
          newid: who.vmid,
          name: desired.name,
          full: px.clone === "full",
          description: desired.description,
          ...(px.clone === "full" ? { storage } : {}),
          ...(px.pool !== undefined ? { pool: px.pool } : {}),
        });
        await this.waitTask(node, upid);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (/config file already exists/.test(message)) {
          if (n === 0) throw err;
          const found = await adopt();
          if (found === "ours") return;
          throw found === "locked" ? stillLocked() : err;
        }
        if (STORAGE_LOCK.test(message) && gates.limit(cloneStorage) > 1) {
          gates.setLimit(cloneStorage, 1);
          this.onEvent({ kind: "storage", storage: cloneStorage, clonesAtOnce: 1, reason: `lock timeout on ${cloneStorage} (${desired.name}): one clone at a time on it from now on`, at: Date.now() });
        }
        throw err;
      }
    };
    // Each attempt takes a place among the storage's clones (the backoff between attempts does not).
    await retry(
      (n) => gates.run(cloneStorage, () => once(n)),
      {
        retries: this.options.retries,
        backoffMs: this.options.backoffMs,
        retryable: (err) => err instanceof TaskFailed || isTransient(err),
        // A storage-lock timeout already waited out the lock (10 s), and the storage now takes
        // one clone at a time: try again as soon as it is free.
        delayFor: (err) => (err instanceof TaskFailed && STORAGE_LOCK.test(err.exitstatus) ? 0 : undefined),
        onRetry: (err, attempt, delayMs) => this.retried(who, "clone", err, attempt, delayMs),
      },
    );
  }

  private async configure(who: Who, node: string, desired: VmConfig): Promise<void> {
    this.step(who, "configure");
    const current = await this.readConfig(node, who.vmid);
    const config = toApiConfig(desired, typeof current["net0"] === "string" ? current["net0"] : undefined);
    // The same values again are harmless: always still needed.
    await this.taskStep(who, "configure", node, () => this.qemu(node, who.vmid).config.$post(config), () => Promise.resolve(true));
    const want = desired.diskGiB;
    const have = diskGiB(current);
    if (want !== undefined && (have === undefined || want > have)) {
      this.step(who, "resize", `to ${want}G`);
      const bootDisks = ["scsi0", "virtio0", "sata0"] as const;
      const disk = bootDisks.find((d) => typeof current[d] === "string") ?? "scsi0";
      // An absolute size (a relative "+NG" would grow twice), and only while the disk is smaller.
      await this.taskStep(
        who,
        "resize",
        node,
        () => this.qemu(node, who.vmid).resize.$put({ disk, size: `${want}G` }),
        async () => (diskGiB(await this.readConfig(node, who.vmid)) ?? 0) < want,
      );
    }
    // Read back: what the cluster holds must be what we asked for.
    const after = fromApiConfig(await this.readConfig(node, who.vmid));
    const left = diffConfig(desired, after);
    if (left.length > 0) throw new ProviderError(`VM ${who.vmid} does not hold the configuration sent: ${left.map((c) => `${c.field} is ${c.from}, not ${c.to}`).join("; ")}`, undefined, "read-back mismatch", `/nodes/${node}/qemu/${who.vmid}/config`, undefined);
  }

  private async start(who: Who, node: string): Promise<void> {
    if ((await this.status(node, who.vmid)) === "running") return;
    this.step(who, "start");
    await this.taskStep(
      who,
      "start",
      node,
      () => this.qemu(node, who.vmid).status.start.$post(),
      async () => (await this.status(node, who.vmid)) !== "running",
      (exit) => /already running/.test(exit),
    );
  }

  private async waitForAgent(who: Who, node: string, ip: string): Promise<void> {
    this.step(who, "wait for guest agent");
    const deadline = Date.now() + this.options.agentTimeoutMs;
    for (;;) {
      try {
        const answer = (await this.qemu(node, who.vmid).agent["network-get-interfaces"].$get()) as { result?: { "ip-addresses"?: { "ip-address"?: string }[] }[] };
        if ((answer.result ?? []).some((i) => (i["ip-addresses"] ?? []).some((a) => a["ip-address"] === ip))) return;
      } catch (err) {
        // Not running yet, VM not running yet, QMP timeouts, and an agent the VM has not picked up yet: not yet.
        if (!isAgentNotReady(err) && !/No QEMU guest agent configured/.test(err instanceof Error ? err.message : "")) throw err;
      }
      if (Date.now() > deadline) throw new ProviderError(`VM ${who.vmid} (${who.host}): the guest agent did not report ${ip} within ${Math.round(this.options.agentTimeoutMs / 1000)} s`, undefined, "agent timeout", `/nodes/${node}/qemu/${who.vmid}/agent`, undefined, "Check that the template has qemu-guest-agent installed and enabled, and that cloud-init applies ipconfig0.");
      // Asking the agent is cheap; a booted VM is noticed within half a poll interval.
      await sleep(this.options.pollMs / 2);
    }
  }

  async destroyVm(name: string, vmid: number, node: string): Promise<void> {
    const who = { host: name, vmid };
    const running = async (): Promise<boolean> => (await this.status(node, vmid)) === "running";
    if (await running()) {
      this.step(who, "shutdown");
      try {
        await this.taskStep(who, "shutdown", node, () => this.qemu(node, vmid).status.shutdown.$post({ timeout: 60 }), running);
      } catch (err) {
        // A guest that does not shut down cleanly is stopped.
        this.step(who, "stop", `shutdown failed: ${err instanceof Error ? err.message : String(err)}`);
        await this.taskStep(who, "stop", node, () => this.qemu(node, vmid).status.stop.$post(), running);
      }
    }
    this.step(who, "destroy");
    await this.taskStep(
      who,
      "destroy",
      node,
      () => this.qemu(node, vmid).$delete({ purge: true, "destroy-unreferenced-disks": true }),
      async () => (await this.exists(vmid)) !== undefined,
    );
  }

  private clonesAtOnce(): number {
    const wanted = this.options.clonesPerStorage;
    return wanted === "auto" ? AUTO_CLONES_PER_STORAGE[this.lab.proxmox?.clone ?? "full"] : wanted;
  }

  async apply(plan: Plan): Promise<ProvisionResult> {
    const conflicts = plan.actions.filter((a) => a.kind === "conflict");
    if (conflicts.length > 0) throw new ProviderError(`refusing to provision: ${conflicts.map((c) => (c.kind === "conflict" ? c.why : "")).join("; ")}`, undefined, "conflict", "plan", undefined, "Free those vmids or pick others in the inventory.");
    const created: number[] = [];
    const failed: FailedVm[] = [];
    const done: string[] = [];
    const clones = new Gates(this.clonesAtOnce());
    const pool = new Gates(this.options.concurrency);
    const worked = <T>(work: () => Promise<T>): Promise<T> => pool.run("vms", work);
    const run = async (action: Action): Promise<void> => {
      if (action.kind === "conflict" || (action.kind === "unchanged" && !this.options.start)) return;
      const who = { host: action.kind === "delete" ? action.name : action.host, vmid: action.vmid };
      this.current.set(who.host, "read");
      try {
        if (action.kind === "delete") {
          await worked(() => this.destroyVm(action.name, action.vmid, action.node));
        } else if (action.kind === "create" || action.kind === "replace") {
          if (action.kind === "replace") await worked(() => this.destroyVm(action.host, action.vmid, action.node));
          const host = this.lab.hosts.find((h) => h.name === action.host);
          const storage = host?.vm?.storage ?? "local-lvm";
          const target = await this.cloneStorage(action.node, storage);
          await this.clone(who, action.node, action.desired, storage, clones, target);
          created.push(action.vmid);
          await worked(async () => {
            await this.configure(who, action.node, action.desired);
            if (this.options.start) await this.start(who, action.node);
          });
          if (this.options.start) await this.waitForAgent(who, action.node, action.desired.ip.split("/")[0] ?? "");
        } else if (action.kind === "update") {
          await worked(async () => {
            await this.configure(who, action.node, action.desired);
            if (this.options.start) await this.start(who, action.node);
          });
          if (this.options.start) await this.waitForAgent(who, action.node, action.desired.ip.split("/")[0] ?? "");
        } else {
          const ip = fromApiConfig(await this.readConfig(action.node, action.vmid)).ip.split("/")[0] ?? "";
          await worked(() => this.start(who, action.node));
          await this.waitForAgent(who, action.node, ip);
        }
        this.onEvent({ kind: "done", host: who.host, vmid: who.vmid, at: Date.now() });
        done.push(who.host);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        const step = this.current.get(who.host) ?? "read";
        this.onEvent({ kind: "failed", host: who.host, vmid: who.vmid, step, error: message, at: Date.now() });
        failed.push({ host: who.host, vmid: who.vmid, step, error: message });
      }
    };
    await Promise.all(plan.actions.map(run));
    return { created, failed, done };
  }
}

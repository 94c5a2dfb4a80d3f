/**
 * Applying a plan: clones (serialized per source template and node), configuration, disk
 * growth, start, guest-agent wait; deletes. Tasks are polled to completion; transient failures
 * (lock timeouts, 5xx, 595/596/599) are retried with backoff; a clone retried after an unclear
 * failure is only accepted if the VM that now exists carries our tag. Every change is read back.
 */
import type { Lab } from "../../model/lab.js";
import { pveApi, type PveApi } from "./api.js";
import { isTransient, ProviderError, type ProxmoxClient } from "./client.js";
import { toApiConfig, fromApiConfig, type VmConfig } from "./mapper.js";
import { diffConfig, type Action, type Plan } from "./plan.js";

export interface ProvisionOptions {
  /** Clones from one source on one node run one at a time when this is 1 (the default). */
  readonly clonesPerSource: number;
  /** Everything else runs with this many VMs at once. */
  readonly concurrency: number;
  readonly pollMs: number;
  readonly taskTimeoutMs: number;
  readonly agentTimeoutMs: number;
  readonly retries: number;
  readonly backoffMs: number;
  /** Start the VMs and wait for the guest agent to report the expected address. */
  readonly start: boolean;
}

export const DEFAULT_PROVISION: ProvisionOptions = { clonesPerSource: 1, concurrency: 4, pollMs: 1000, taskTimeoutMs: 600_000, agentTimeoutMs: 300_000, retries: 5, backoffMs: 2000, start: true };

export type StepEvent = { readonly host: string; readonly vmid: number; readonly step: string; readonly at: number };

export interface ProvisionResult {
  /** VMs this run created (for --destroy-on-failure and the failure report). */
  readonly created: readonly number[];
  readonly failed: readonly { readonly host: string; readonly vmid: number; readonly step: string; readonly error: string }[];
  readonly done: readonly string[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));


/** A small semaphore keyed by name (clones per source template). */
class Gate {
  private readonly waiting = new Map<string, (() => void)[]>();
  private readonly running = new Map<string, number>();
  constructor(private readonly limit: number) {}
  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    while ((this.running.get(key) ?? 0) >= this.limit) {
      await new Promise<void>((resolve) => this.waiting.set(key, [...(this.waiting.get(key) ?? []), resolve]));
    }
    this.running.set(key, (this.running.get(key) ?? 0) + 1);
    try {
      return await work();
    } finally {
      this.running.set(key, (this.running.get(key) ?? 1) - 1);
      const next = this.waiting.get(key)?.shift();
      next?.();
    }
  }
}

export class Provisioner {
  private readonly api: PveApi;

  constructor(
    private readonly client: ProxmoxClient,
    private readonly lab: Lab,
    private readonly options: ProvisionOptions = DEFAULT_PROVISION,
    private readonly onStep: (event: StepEvent) => void = () => undefined,
  ) {
    this.api = pveApi(client);
  }

  /**
   * Repeats an idempotent request (a PUT of the same configuration, a DELETE) on transient
   * failures. POSTs are never passed here: their callers check what happened before retrying.
   */
  private async idempotent<T>(request: () => Promise<T>): Promise<T> {
    let attempt = 0;
    for (;;) {
      try {
        return await request();
      } catch (err) {
        if (isTransient(err) && attempt < this.options.retries) {
          attempt += 1;
          await sleep(this.options.backoffMs * attempt);
          continue;
        }
        throw err;
      }
    }
  }

  private qemu(node: string, vmid: number) {
    return this.api.nodes.$(node).qemu.$(vmid);
  }

  /** Polls a task to its end: "OK" and "WARNINGS: n" succeed; anything else is the error. */
  async waitTask(node: string, upid: string): Promise<void> {
    const deadline = Date.now() + this.options.taskTimeoutMs;
    const taskNode = upid.split(":")[1] ?? node;
    for (;;) {
      let status: { status?: string; exitstatus?: string } | undefined;
      try {
        status = await this.api.nodes.$(taskNode).tasks.$(upid).status.$get();
      } catch (err) {
        // A brand-new task may briefly answer 400.
        if (!(err instanceof ProviderError && err.status === 400) || Date.now() > deadline) throw err;
      }
      if (status?.status === "stopped") {
        const exit = status.exitstatus ?? "";
        if (exit === "OK" || exit.startsWith("WARNINGS:")) return;
        throw new ProviderError(`task ${upid.split(":")[5] ?? "?"} failed: ${exit}`, 500, exit, upid, undefined);
      }
      if (Date.now() > deadline) throw new ProviderError(`task ${upid} still running after ${this.options.taskTimeoutMs} ms`, undefined, "task timeout", upid, undefined);
      await sleep(this.options.pollMs);
    }
  }

  private async readConfig(node: string, vmid: number): Promise<Record<string, unknown>> {
    return this.qemu(node, vmid).config.$get();
  }

  private async exists(vmid: number): Promise<{ node: string; tags: string } | undefined> {
    const found = (await this.api.cluster.resources.$get({ type: "vm" })).find((r) => r.vmid === vmid);
    const tags: unknown = found?.tags;
    return found?.node === undefined ? undefined : { node: found.node, tags: typeof tags === "string" ? tags : "" };
  }

  private step(host: string, vmid: number, step: string): void {
    this.onStep({ host, vmid, step, at: Date.now() });
  }

  /** Clone with retries; a clone that may have happened is verified by our tag, never blindly re-sent. */
  private async clone(host: string, vmid: number, node: string, desired: VmConfig, storage: string): Promise<void> {
    const px = this.lab.proxmox;
    if (px === undefined) throw new Error("no proxmox settings");
    let attempt = 0;
    for (;;) {
      try {
        this.step(host, vmid, "clone");
        const upid = await this.qemu(node, px.template).clone.$post({
          newid: vmid,
          name: desired.name,
          full: px.clone === "full",
          description: desired.description,
          ...(px.clone === "full" ? { storage } : {}),
          ...(px.pool !== undefined ? { pool: px.pool } : {}),
        });
        await this.waitTask(node, upid);
        return;
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (/config file already exists/.test(message)) {
          // Our earlier attempt may have gone through after all: accept it only if it is ours.
          const existing = await this.exists(vmid);
          if (existing !== undefined && attempt > 0) {
            const config = await this.readConfig(existing.node, vmid);
            if (typeof config["lock"] === "string") {
              await sleep(this.options.backoffMs);
              continue;
            }
            // Ours: the description edgelab gave the clone names this lab and host.
            if (typeof config["description"] === "string" && config["description"].includes(`(lab ${this.lab.name}, host ${desired.name})`)) return;
          }
          throw err;
        }
        const retriable = isTransient(err) || /got timeout|can't lock/.test(message);
        if (!retriable || attempt >= this.options.retries) throw err;
        attempt += 1;
        this.step(host, vmid, `clone retry ${attempt} (${message.slice(0, 80)})`);
        await sleep(this.options.backoffMs * attempt);
      }
    }
  }

  private async configure(host: string, vmid: number, node: string, desired: VmConfig): Promise<void> {
    this.step(host, vmid, "configure");
    const current = await this.readConfig(node, vmid);
    const config = toApiConfig(desired, typeof current["net0"] === "string" ? current["net0"] : undefined);
    await this.idempotent(() => this.qemu(node, vmid).config.$put(config));
    const want = desired.diskGiB;
    const have = fromApiConfig(current).diskGiB;
    if (want !== undefined && (have === undefined || want > have)) {
      this.step(host, vmid, `resize to ${want}G`);
      const bootDisks = ["scsi0", "virtio0", "sata0"] as const;
      const disk = bootDisks.find((d) => typeof current[d] === "string") ?? "scsi0";
      // An absolute size: repeating it is harmless (a relative "+NG" would grow twice).
      const upid = await this.idempotent(() => this.qemu(node, vmid).resize.$put({ disk, size: `${want}G` }));
      await this.waitTask(node, upid);
    }
    // Read back: what the cluster holds must be what we asked for.
    const after = fromApiConfig(await this.readConfig(node, vmid));
    const left = diffConfig(desired, after);
    if (left.length > 0) throw new ProviderError(`VM ${vmid} does not hold the configuration sent: ${left.map((c) => `${c.field} is ${c.from}, not ${c.to}`).join("; ")}`, undefined, "read-back mismatch", `/nodes/${node}/qemu/${vmid}/config`, undefined);
  }

  private async startAndWait(host: string, vmid: number, node: string, desired: VmConfig): Promise<void> {
    const status = await this.qemu(node, vmid).status.current.$get();
    if (status.status !== "running") {
      this.step(host, vmid, "start");
      const upid = await this.qemu(node, vmid).status.start.$post();
      await this.waitTask(node, upid);
    }
    this.step(host, vmid, "wait for guest agent");
    const ip = desired.ip.split("/")[0] ?? "";
    const deadline = Date.now() + this.options.agentTimeoutMs;
    for (;;) {
      try {
        const answer = (await this.qemu(node, vmid).agent["network-get-interfaces"].$get()) as { result?: { "ip-addresses"?: { "ip-address"?: string }[] }[] };
        if ((answer.result ?? []).some((i) => (i["ip-addresses"] ?? []).some((a) => a["ip-address"] === ip))) return;
      } catch (err) {
        // "not running yet", "VM is not running", QMP timeouts: not yet. Anything else is real.
        const message = err instanceof Error ? err.message : String(err);
        if (!/guest agent is not running|is not running|got timeout|No QEMU guest agent/.test(message) && !isTransient(err)) throw err;
      }
      if (Date.now() > deadline) throw new ProviderError(`VM ${vmid} (${host}): the guest agent did not report ${ip} within ${Math.round(this.options.agentTimeoutMs / 1000)} s`, undefined, "agent timeout", `/nodes/${node}/qemu/${vmid}/agent`, undefined, "Check that the template has qemu-guest-agent installed and enabled, and that cloud-init applies ipconfig0.");
      await sleep(this.options.pollMs);
    }
  }

  async destroyVm(name: string, vmid: number, node: string): Promise<void> {
    const status = await this.qemu(node, vmid).status.current.$get();
    if (status.status === "running") {
      this.step(name, vmid, "shutdown");
      try {
        await this.waitTask(node, await this.qemu(node, vmid).status.shutdown.$post({ timeout: 60 }));
      } catch {
        this.step(name, vmid, "stop");
        await this.waitTask(node, await this.qemu(node, vmid).status.stop.$post());
      }
    }
    this.step(name, vmid, "destroy");
    await this.waitTask(node, await this.idempotent(() => this.qemu(node, vmid).$delete({ purge: true, "destroy-unreferenced-disks": true })));
  }

  async apply(plan: Plan): Promise<ProvisionResult> {
    const conflicts = plan.actions.filter((a) => a.kind === "conflict");
    if (conflicts.length > 0) throw new ProviderError(`refusing to provision: ${conflicts.map((c) => (c.kind === "conflict" ? c.why : "")).join("; ")}`, undefined, "conflict", "plan", undefined, "Free those vmids or pick others in the inventory.");
    const created: number[] = [];
    const failed: { host: string; vmid: number; step: string; error: string }[] = [];
    const done: string[] = [];
    const gate = new Gate(this.options.clonesPerSource);
    const pool = new Gate(this.options.concurrency);
    const px = this.lab.proxmox;
    const run = async (action: Action): Promise<void> => {
      if (action.kind === "conflict" || (action.kind === "unchanged" && !this.options.start)) return;
      const label = action.kind === "delete" ? action.name : action.host;
      let current: string = action.kind;
      try {
        await pool.run("all", async () => {
          if (action.kind === "delete") {
            await this.destroyVm(action.name, action.vmid, action.node);
          } else if (action.kind === "create" || action.kind === "replace") {
            if (action.kind === "replace") await this.destroyVm(action.host, action.vmid, action.node);
            const host = this.lab.hosts.find((h) => h.name === action.host);
            const storage = host?.vm?.storage ?? "local-lvm";
            await gate.run(`${action.node}/${px?.template ?? 0}`, () => this.clone(action.host, action.vmid, action.node, action.desired, storage));
            created.push(action.vmid);
            current = "configure";
            await this.configure(action.host, action.vmid, action.node, action.desired);
            if (this.options.start) await this.startAndWait(action.host, action.vmid, action.node, action.desired);
          } else if (action.kind === "update") {
            await this.configure(action.host, action.vmid, action.node, action.desired);
            if (this.options.start) await this.startAndWait(action.host, action.vmid, action.node, action.desired);
          } else if (action.kind === "unchanged") {
            const host = this.lab.hosts.find((h) => h.name === action.host);
            const vm = host === undefined ? undefined : await this.readConfig(action.node, action.vmid);
            if (vm !== undefined && this.options.start) await this.startAndWait(action.host, action.vmid, action.node, fromApiConfig(vm));
          }
        });
        this.step(label, action.vmid, "done");
        done.push(label);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        this.step(label, action.vmid, `failed: ${message}`);
        failed.push({ host: label, vmid: action.vmid, step: current, error: message });
      }
    };
    await Promise.all(plan.actions.map(run));
    return { created, failed, done };
  }
}


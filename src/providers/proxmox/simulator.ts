/**
 * A Proxmox VE API simulator: /api2/json over HTTP(S) with the envelope, errors, auth, tasks,
 * locks and guest-agent states of the real one (shared/reference/proxmox-api.md), the clone
 * model of qemu-server (clone-model.ts: shared/exclusive source locks, storage bandwidth shared
 * by concurrent full clones, storage-lock timeouts that grow with concurrent allocations), a
 * guest agent that runs the few commands edgelab needs (each VM has its own SSH host keys), and
 * seeded fault injection. Used by the tests and by `edgelab proxmox-sim` to rehearse an
 * inventory. It says what it is: GET /version carries an "edgelab-simulator" field.
 *
 * Time is simulated lazily: every request first completes the tasks that are due, in order. The
 * clock is real time scaled by `timeScale` (0.01: a 10 s boot takes 100 ms), or injected.
 */
import { generateKeyPair, randomUUID, type KeyObject } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { promisify } from "node:util";
import { z } from "zod";
import { openSshPublicKey } from "../../util/ssh-public-key.js";
import { sleep } from "../../util/sleep.js";
import { SIMULATOR_VERSION_FIELD } from "./api.js";
import { bytesPerMs, DEFAULT_CLONE_MODEL, seededRandom, SharedBandwidth, storageLockTimeoutRate, type CloneModel } from "./clone-model.js";
import { decodeSshKeys, parseSize } from "./mapper.js";


const ConfigValue = z.union([z.string(), z.number()]).transform(String);

/** The --state file (YAML), and the constructor's initial state. */
export const SimStateSchema = z.strictObject({
  nodes: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        storages: z
          .array(
            z.strictObject({
              id: z.string().min(1),
              shared: z.boolean().default(false),
              totalGiB: z.number().positive(),
              /** MiB/s shared by the full clones writing to it (default: the model's, 200). */
              bandwidthMiBps: z.number().positive().optional(),
            }),
          )
          .default([]),
        /** Physical memory of the node (GET /nodes: maxmem; mem counts the running VMs' memory). */
        memoryGiB: z.number().positive().default(64),
        /** Linux bridges of the node (GET /nodes/{node}/network). */
        bridges: z
          .array(z.strictObject({ iface: z.string().min(1), vlanAware: z.boolean().default(false), comments: z.string().optional() }))
          .default([{ iface: "vmbr0", vlanAware: true }]),
      }),
    )
    .min(1),
  vms: z
    .array(
      z.strictObject({
        vmid: z.int().min(100),
        node: z.string().min(1),
        template: z.boolean().optional(),
        config: z.record(z.string(), ConfigValue).default({}),
        status: z.enum(["running", "stopped"]).optional(),
        /** Its SSH host public key lines (default: made at first read, as at first boot). */
        hostKeys: z.array(z.string().regex(/^(ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa) [A-Za-z0-9+/]+=* ?.*$/, "must be an OpenSSH public key line")).optional(),
      }),
    )
    .default([]),
});

export type SimStateSpec = z.input<typeof SimStateSchema>;
type SimState = z.output<typeof SimStateSchema>;
export type SimStorage = SimState["nodes"][number]["storages"][number];
export type SimNodeSpec = SimState["nodes"][number];

export interface SimDurations {
  config: number;
  start: number;
  stop: number;
  shutdown: number;
  destroy: number;
  resize: number;
  /** From start until the guest agent answers with IPs. */
  bootToAgent: number;
  /** How long a command run through the guest agent takes. */
  exec: number;
}

/** Flat fault injection (the convergence tests); the clone model's own rates are in CloneModel. */
export interface SimFaults {
  /** Share of clone tasks that end in a source-lock timeout. */
  lockTimeoutRate: number;
  /** Share of tasks that fail. */
  taskFailureRate: number;
  /** Share of requests answered 500 before doing anything. */
  http5xxRate: number;
  /** Share of requests answered 596 (node-to-node proxy timeout) before doing anything. */
  proxy596Rate: number;
  /** Delay before a 401, as the real server does (~3 s); real milliseconds. */
  authDelayMs: number;
  /** Share of tasks that take slowTaskFactor times their usual duration. */
  slowTaskRate: number;
  slowTaskFactor: number;
}

export interface SimOptions {
  readonly seed: number;
  readonly durations: SimDurations;
  readonly faults: SimFaults;
  /** The clone model (defaults: DEFAULT_CLONE_MODEL). */
  readonly model?: Partial<CloneModel> | undefined;
  /** New VMs read `unknown` in cluster/resources for this long. */
  readonly resourcesLagMs: number;
  /** A task this new answers its status with 400, as a brand-new one briefly does (default 0). */
  readonly newTaskUnknownMs?: number | undefined;
  readonly tokens: readonly { readonly id: string; readonly secret: string }[];
  readonly users: readonly { readonly username: string; readonly password: string }[];
  /** Real milliseconds per simulated millisecond (default 1); reported in GET /version. */
  readonly timeScale?: number | undefined;
  /** Injectable clock (simulated ms); replaces the scaled real clock. */
  readonly now?: () => number;
}

export const DEFAULT_DURATIONS: SimDurations = { config: 500, start: 2000, stop: 1000, shutdown: 3000, destroy: 1000, resize: 500, bootToAgent: 10_000, exec: 100 };
export const NO_FAULTS: SimFaults = { lockTimeoutRate: 0, taskFailureRate: 0, http5xxRate: 0, proxy596Rate: 0, authDelayMs: 0, slowTaskRate: 0, slowTaskFactor: 10 };

/** A clock that runs 1/timeScale times as fast as the real one. */
export function scaledClock(timeScale: number): () => number {
  const origin = Date.now();
  return () => origin + (Date.now() - origin) / timeScale;
}

interface Exec {
  readonly endsAt: number;
  readonly exitcode: number;
  readonly out: string;
  readonly err: string;
}

interface Vm {
  vmid: number;
  node: string;
  template: boolean;
  config: Record<string, string>;
  status: "running" | "stopped";
  lock: string | undefined;
  createdAt: number;
  startedAt: number | undefined;
  /** Until the clone completes, the VM exists only as a locked placeholder. */
  cloning: boolean;
  /** Its SSH host public key files, made at first read (as at first boot). */
  hostKeys: Promise<Record<string, string>> | undefined;
  /** Commands run through the guest agent whose exit has not been read yet. */
  execs: Map<number, Exec>;
  nextPid: number;
}

interface Task {
  upid: string;
  node: string;
  type: string;
  id: string;
  user: string;
  starttime: number;
  createdAt: number;
  endsAt: number;
  status: "running" | "stopped";
  exitstatus: string | undefined;
  /** For clones: the storage the new volumes go to. */
  storage: string | undefined;
  /** Runs at endsAt (given); returns the exit status ("OK", "WARNINGS: n" or an error text). */
  complete: (at: number) => string;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly errors?: Record<string, string>,
  ) {
    super(reason);
  }
}

type Handler = (m: RegExpExecArray, params: Record<string, string>, user: string, lists: Record<string, string[]>) => unknown;

/** What an injected task failure reports, by task type (as such tasks fail on a real node). */
const INJECTED_FAILURE: Readonly<Record<string, string>> = {
  qmclone: "clone failed: command '/usr/bin/qemu-img convert -p -n -f raw -O raw' failed: exit code 1 (injected)",
  qmconfig: "command '/sbin/lvchange -aly' failed: exit code 5 (injected)",
  resize: "command '/sbin/lvextend -L' failed: exit code 5 (injected)",
  qmstart: "start failed: QEMU exited with code 1 (injected)",
  qmstop: "VM quit/powerdown failed - got timeout (injected)",
  qmshutdown: "VM quit/powerdown failed - got timeout (injected)",
  qmdestroy: "error with cfs lock 'storage': got lock request timeout (injected)",
};

const hex8 = (n: number): string => (n >>> 0).toString(16).toUpperCase().padStart(8, "0");
const generate = promisify(generateKeyPair);

function bootDisk(config: Readonly<Record<string, string>>): { key: string; value: string } | undefined {
  for (const key of ["scsi0", "virtio0", "sata0", "ide0"]) {
    const value = config[key];
    if (value !== undefined && !value.includes("media=cdrom")) return { key, value };
  }
  return undefined;
}

export class ProxmoxSimulator {
  private readonly vms = new Map<number, Vm>();
  private readonly tasks = new Map<string, Task>();
  private readonly nodes: SimNodeSpec[];
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly tickets = new Map<string, { username: string; csrf: string }>();
  private readonly flows: SharedBandwidth<string>;
  private readonly failNext = new Map<string, number>();
  private readonly warnNext = new Map<string, number>();
  readonly model: CloneModel;
  readonly timeScale: number;
  private pid = 0x1000;
  faults: SimFaults;
  /** Every API call as "METHOD path", for tests (e.g. counting clone POSTs). */
  readonly calls: string[] = [];
  /** The same calls with their parameters. */
  readonly requests: { readonly method: string; readonly path: string; readonly params: Readonly<Record<string, string>> }[] = [];
  /** How many faults were injected, by kind (lock timeouts: flat and modelled). */
  readonly injected = { lockTimeouts: 0, storageLockTimeouts: 0, taskFailures: 0, http5xx: 0, proxy596: 0, slowTasks: 0 };

  constructor(
    state: SimStateSpec,
    readonly options: SimOptions,
  ) {
    const parsed = SimStateSchema.parse(state);
    this.nodes = parsed.nodes;
    this.random = seededRandom(options.seed);
    this.timeScale = options.timeScale ?? 1;
    this.now = options.now ?? scaledClock(this.timeScale);
    this.faults = { ...options.faults };
    this.model = { ...DEFAULT_CLONE_MODEL, ...options.model };
    this.flows = new SharedBandwidth<string>((storage) => bytesPerMs(this.storageSpec(storage)?.bandwidthMiBps ?? this.model.bandwidthMiBps), this.now());
    for (const vm of parsed.vms) {
      const status = vm.status ?? "stopped";
      const created = this.newVm(vm.vmid, vm.node, vm.template === true, { ...vm.config, ...(vm.template === true ? { template: "1" } : {}) }, status, 0, false);
      if (vm.hostKeys !== undefined) {
        const files: Record<string, string> = {};
        for (const line of vm.hostKeys) {
          const type = line.split(" ")[0] ?? "";
          files[`/etc/ssh/ssh_host_${type === "ssh-ed25519" ? "ed25519" : type === "ssh-rsa" ? "rsa" : "ecdsa"}_key.pub`] = `${line.trim()}\n`;
        }
        created.hostKeys = Promise.resolve(files);
      }
      this.vms.set(vm.vmid, created);
    }
  }

  private newVm(vmid: number, node: string, template: boolean, config: Record<string, string>, status: "running" | "stopped", createdAt: number, cloning: boolean): Vm {
    return { vmid, node, template, config, status, lock: cloning ? "clone" : undefined, createdAt, startedAt: status === "running" ? 0 : undefined, cloning, hostKeys: undefined, execs: new Map(), nextPid: 1000 + Math.floor(this.random() * 4000) };
  }

  private storageSpec(id: string): SimStorage | undefined {
    for (const node of this.nodes) for (const s of node.storages) if (s.id === id) return s;
    return undefined;
  }

  /* ---------------------------------------------------------------- time and tasks */

  private tick(): void {
    const now = this.now();
    for (const done of this.flows.advance(now)) {
      const task = this.tasks.get(done.id);
      if (task !== undefined) task.endsAt = done.at;
    }
    const due = [...this.tasks.values()].filter((t) => t.status === "running" && t.endsAt <= now).sort((a, b) => a.endsAt - b.endsAt);
    for (const task of due) {
      let exit: string;
      try {
        exit = task.complete(task.endsAt);
      } catch (err) {
        exit = err instanceof Error ? err.message : String(err);
      }
      task.status = "stopped";
      task.exitstatus = exit;
    }
  }

  private startTask(node: string, type: string, id: string, user: string, durationMs: number, complete: (at: number) => string, onFail?: () => void, storage?: string): string {
    const now = this.now();
    this.pid += 1;
    const starttime = Math.floor(now / 1000);
    const upid = `UPID:${node}:${hex8(this.pid)}:${hex8(this.pid * 7)}:${hex8(starttime)}:${type}:${id}:${user}:`;
    // A configured share of tasks fail, or run slow (decided now so that a seed replays the same run).
    const forced = this.failNext.get(type) ?? 0;
    if (forced > 0) this.failNext.set(type, forced - 1);
    const warnings = this.warnNext.get(type) ?? 0;
    if (warnings > 0) this.warnNext.set(type, warnings - 1);
    const fail = this.random() < this.faults.taskFailureRate || forced > 0;
    const slow = this.random() < this.faults.slowTaskRate;
    if (slow) this.injected.slowTasks += 1;
    const duration = slow ? durationMs * this.faults.slowTaskFactor : durationMs;
    this.tasks.set(upid, {
      upid,
      node,
      type,
      id,
      user,
      starttime,
      createdAt: now,
      endsAt: now + duration,
      status: "running",
      exitstatus: undefined,
      storage,
      complete: (at) => {
        if (!fail) {
          const exit = complete(at);
          return exit === "OK" && warnings > 0 ? "WARNINGS: 1" : exit;
        }
        this.injected.taskFailures += 1;
        onFail?.();
        return INJECTED_FAILURE[type] ?? `${type} failed: exit code 1 (injected)`;
      },
    });
    return upid;
  }

  /* ---------------------------------------------------------------- helpers */

  private node(name: string): SimNodeSpec {
    const node = this.nodes.find((n) => n.name === name);
    if (node === undefined) throw new ApiError(500, `hostname lookup '${name}' failed - failed to get address info for: ${name}: Name or service not known`);
    return node;
  }

  private vm(node: string, vmid: number): Vm {
    this.node(node);
    const vm = this.vms.get(vmid);
    if (vm === undefined || vm.node !== node) throw new ApiError(500, `Configuration file 'nodes/${node}/qemu-server/${vmid}.conf' does not exist`);
    return vm;
  }

  private unlocked(vm: Vm): void {
    if (vm.lock !== undefined) throw new ApiError(500, `VM is locked (${vm.lock})`);
  }

  private storageOf(vm: Vm): string | undefined {
    return bootDisk(vm.config)?.value.split(":")[0];
  }

  private generateMac(): string {
    const bytes = [0xbc, 0x24, 0x11, Math.floor(this.random() * 256), Math.floor(this.random() * 256), Math.floor(this.random() * 256)];
    return bytes.map((b) => b.toString(16).toUpperCase().padStart(2, "0")).join(":");
  }

  /** Validates and stores config parameters the way PUT/POST config do. */
  private applyConfig(vm: Vm, params: Record<string, string>): void {
    const errors: Record<string, string> = {};
    const sshkeys = params["sshkeys"];
    if (sshkeys !== undefined) {
      try {
        if (/[ +:\n]/.test(sshkeys)) throw new Error("raw");
        decodeSshKeys(sshkeys);
      } catch {
        errors["sshkeys"] = "invalid format - invalid urlencoded string";
      }
    }
    const ipconfig = params["ipconfig0"];
    if (ipconfig !== undefined && !/^(ip=(dhcp|\d+\.\d+\.\d+\.\d+\/\d+))(,gw=\d+\.\d+\.\d+\.\d+)?$/.test(ipconfig)) errors["ipconfig0"] = `invalid format - format error ipconfig0.ip: invalid format`;
    for (const key of ["cores", "memory"]) {
      const value = params[key];
      if (value !== undefined && !/^\d+$/.test(value)) errors[key] = `type check ('integer') failed - got '${value}'`;
    }
    if (Object.keys(errors).length > 0) throw new ApiError(400, "Parameter verification failed.", errors);
    for (const key of (params["delete"] ?? "").split(/[,;\s]+/).filter(Boolean)) Reflect.deleteProperty(vm.config, key);
    for (const [key, value] of Object.entries(params)) {
      if (key === "delete" || key === "digest" || key === "node" || key === "vmid") continue;
      if (/^net\d+$/.test(key) && /^(virtio|e1000|rtl8139|vmxnet3)(,|$)/.test(value)) {
        // Stored with a generated MAC when none is given.
        const [model, ...rest] = value.split(",");
        vm.config[key] = [`${model ?? "virtio"}=${this.generateMac()}`, ...rest].join(",");
      } else vm.config[key] = value;
    }
  }

  /** The guest agent's preconditions, with qemu-server's messages. */
  private agentReady(vm: Vm): void {
    const agent = vm.config["agent"] ?? "0";
    if (!(agent === "1" || /(?:^|,)enabled=1(?:,|$)/.test(agent))) throw new ApiError(500, "No QEMU guest agent configured");
    if (vm.status !== "running" || vm.startedAt === undefined) throw new ApiError(500, `VM ${vm.vmid} is not running`);
    if (this.now() - vm.startedAt < this.options.durations.bootToAgent) throw new ApiError(500, "QEMU guest agent is not running");
  }

  /* ---------------------------------------------------------------- the guest */

  /** The SSH host public keys of a VM, made at first read like at first boot (Debian makes rsa, ecdsa, ed25519). */
  private hostKeyFiles(vm: Vm): Promise<Record<string, string>> {
    vm.hostKeys ??= (async () => {
      const comment = `root@${vm.config["name"] ?? `vm${vm.vmid}`}`;
      const line = (key: KeyObject): string => `${openSshPublicKey(key, comment)}\n`;
      const [rsa, ecdsa, ed25519] = await Promise.all([generate("rsa", { modulusLength: 3072 }), generate("ec", { namedCurve: "prime256v1" }), generate("ed25519")]);
      return {
        "/etc/ssh/ssh_host_ecdsa_key.pub": line(ecdsa.publicKey),
        "/etc/ssh/ssh_host_ed25519_key.pub": line(ed25519.publicKey),
        "/etc/ssh/ssh_host_rsa_key.pub": line(rsa.publicKey),
      };
    })();
    return vm.hostKeys;
  }

  private async guestFiles(vm: Vm): Promise<Record<string, string>> {
    return { "/etc/hostname": `${vm.config["name"] ?? `vm${vm.vmid}`}\n`, ...(await this.hostKeyFiles(vm)) };
  }

  /**
   * Runs a command the way qemu-ga does (no shell unless one is asked for): `cat FILE...` (or
   * its input), and `sh -c 'cat PATTERN...'` with the shell's globbing. The program must exist:
   * anything else fails to start, as qemu-ga answers for a missing program.
   */
  private async runInGuest(vm: Vm, argv: readonly string[], input: string | undefined): Promise<Omit<Exec, "endsAt">> {
    const [program = "", ...args] = argv;
    const files = await this.guestFiles(vm);
    const cat = (paths: readonly string[]): Omit<Exec, "endsAt"> => {
      if (paths.length === 0) return { exitcode: 0, out: input ?? "", err: "" };
      let out = "";
      let err = "";
      for (const path of paths) {
        const content = files[path];
        if (content === undefined) err += `cat: ${path}: No such file or directory\n`;
        else out += content;
      }
      return { exitcode: err === "" ? 0 : 1, out, err };
    };
    const name = /^(?:\/usr)?\/bin\/(cat|sh|bash|dash)$/.exec(program)?.[1] ?? (["cat", "sh", "bash", "dash"].includes(program) ? program : undefined);
    if (name === "cat") return cat(args);
    if (name !== undefined && args[0] === "-c" && args[1] !== undefined) {
      const [command = "", ...words] = args[1].trim().split(/\s+/);
      if (command !== "cat") return { exitcode: 127, out: "", err: name === "bash" ? `bash: line 1: ${command}: command not found\n` : `sh: 1: ${command}: not found\n` };
      const glob = (word: string): string[] => {
        if (!word.includes("*")) return [word];
        const re = new RegExp(`^${word.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join("[^/]*")}$`);
        const matches = Object.keys(files).filter((f) => re.test(f)).sort();
        return matches.length > 0 ? matches : [word];
      };
      return cat(words.flatMap(glob));
    }
    throw new ApiError(500, `VM ${vm.vmid} qmp command 'guest-exec' failed - Guest agent command failed, error was 'Failed to execute child process "${program}" (No such file or directory)'`);
  }

  /* ---------------------------------------------------------------- API */

  private readonly routes: [string, RegExp, Handler][] = [
    ["GET", /^\/version$/, () => ({ version: "8.2.4", release: "8.2", repoid: "faa83925c9641325", [SIMULATOR_VERSION_FIELD]: { name: "edgelab proxmox-sim", timeScale: this.timeScale } })],
    [
      "GET",
      /^\/nodes$/,
      () =>
        this.nodes.map((n) => {
          const used = [...this.vms.values()].filter((v) => v.node === n.name && v.status === "running").reduce((sum, v) => sum + Number(v.config["memory"] ?? "512") * 1024 ** 2, 0);
          return { node: n.name, status: "online", type: "node", id: `node/${n.name}`, maxmem: n.memoryGiB * 1024 ** 3, mem: used };
        }),
    ],
    [
      "GET",
      /^\/nodes\/([^/]+)\/network$/,
      (m, p) => {
        const bridges = this.node(m[1] ?? "").bridges;
        if (p["type"] !== undefined && p["type"] !== "bridge" && p["type"] !== "any_bridge") return [];
        return bridges.map((b) => ({ iface: b.iface, type: "bridge", active: 1, autostart: 1, families: ["inet"], bridge_ports: "eno1", ...(b.vlanAware ? { bridge_vlan_aware: 1 } : {}), ...(b.comments !== undefined ? { comments: b.comments } : {}) }));
      },
    ],
    [
      "GET",
      /^\/nodes\/([^/]+)\/storage$/,
      (m) =>
        this.node(m[1] ?? "").storages.map((s) => {
          const used = [...this.vms.values()].filter((v) => this.storageOf(v) === s.id).length * 32;
          return { storage: s.id, shared: s.shared ? 1 : 0, total: s.totalGiB * 1024 ** 3, used: used * 1024 ** 3, avail: (s.totalGiB - used) * 1024 ** 3, active: 1, enabled: 1, content: "images,rootdir" };
        }),
    ],
    [
      "GET",
      /^\/cluster\/resources$/,
      (_m, p) => {
        if (p["type"] !== undefined && p["type"] !== "vm") return [];
        const now = this.now();
        return [...this.vms.values()].map((v) => ({
          id: `qemu/${v.vmid}`,
          type: "qemu",
          vmid: v.vmid,
          node: v.node,
          name: v.config["name"] ?? `VM ${v.vmid}`,
          status: now - v.createdAt < this.options.resourcesLagMs ? "unknown" : v.status,
          template: v.template ? 1 : 0,
          ...(v.lock !== undefined ? { lock: v.lock } : {}),
          tags: v.config["tags"] ?? "",
        }));
      },
    ],
    [
      "GET",
      /^\/cluster\/nextid$/,
      (_m, p) => {
        const asked = p["vmid"];
        if (asked !== undefined) {
          if (this.vms.has(Number(asked))) throw new ApiError(400, "Parameter verification failed.", { vmid: `VM ${asked} already exists` });
          return asked;
        }
        let id = 100;
        while (this.vms.has(id)) id += 1;
        return String(id); // a string, and not reserved
      },
    ],
    [
      "GET",
      /^\/nodes\/([^/]+)\/qemu$/,
      (m) => [...this.vms.values()].filter((v) => v.node === m[1] && !v.cloning).map((v) => ({ vmid: v.vmid, name: v.config["name"] ?? "", status: v.status, template: v.template ? 1 : 0, ...(v.lock !== undefined ? { lock: v.lock } : {}) })),
    ],
    [
      "GET",
      /^\/nodes\/([^/]+)\/qemu\/(\d+)\/config$/,
      (m) => {
        const vm = this.vm(m[1] ?? "", Number(m[2]));
        return { ...vm.config, ...(vm.lock !== undefined ? { lock: vm.lock } : {}), digest: randomUUID().replaceAll("-", "").slice(0, 40) };
      },
    ],
    [
      "PUT",
      /^\/nodes\/([^/]+)\/qemu\/(\d+)\/config$/,
      (m, p) => {
        const vm = this.vm(m[1] ?? "", Number(m[2]));
        this.unlocked(vm);
        this.applyConfig(vm, p);
        return null;
      },
    ],
    [
      "POST",
      /^\/nodes\/([^/]+)\/qemu\/(\d+)\/config$/,
      (m, p, user) => {
        const vm = this.vm(m[1] ?? "", Number(m[2]));
        this.unlocked(vm);
        this.applyConfig(vm, p);
        return this.startTask(vm.node, "qmconfig", String(vm.vmid), user, this.options.durations.config, () => "OK");
      },
    ],
    ["POST", /^\/nodes\/([^/]+)\/qemu\/(\d+)\/clone$/, (m, p, user) => this.clone(m[1] ?? "", Number(m[2]), p, user)],
    [
      "PUT",
      /^\/nodes\/([^/]+)\/qemu\/(\d+)\/resize$/,
      (m, p, user) => {
        const vm = this.vm(m[1] ?? "", Number(m[2]));
        this.unlocked(vm);
        const disk = p["disk"] ?? "";
        const current = vm.config[disk];
        if (current === undefined) throw new ApiError(500, `disk '${disk}' does not exist`);
        const size = p["size"] ?? "";
        const have = parseSize(/(?:^|,)size=([^,]+)/.exec(current)?.[1] ?? "0") ?? 0;
        const grow = /^\+(\d+(?:\.\d+)?[KMGT]?)$/.exec(size);
        const absolute = /^(\d+(?:\.\d+)?[KMGT]?)$/.exec(size);
        const want = grow !== null ? have + (parseSize(grow[1] ?? "") ?? Number.NaN) : absolute !== null ? (parseSize(absolute[1] ?? "") ?? Number.NaN) : Number.NaN;
        if (Number.isNaN(want)) throw new ApiError(400, "Parameter verification failed.", { size: "value does not match the regex pattern" });
        if (want < have) throw new ApiError(500, `shrinking disks is not supported`);
        return this.startTask(vm.node, "resize", String(vm.vmid), user, this.options.durations.resize, () => {
          const sized = `size=${Number.isInteger(want) ? `${want}G` : `${Math.round(want * 1024)}M`}`;
          vm.config[disk] = /(?:^|,)size=[^,]+/.test(current) ? current.replace(/size=[^,]+/, sized) : `${current},${sized}`;
          return "OK";
        });
      },
    ],
    [
      "GET",
      /^\/nodes\/([^/]+)\/qemu\/(\d+)\/status\/current$/,
      (m) => {
        const vm = this.vm(m[1] ?? "", Number(m[2]));
        return { vmid: vm.vmid, name: vm.config["name"] ?? "", status: vm.status, qmpstatus: vm.status, agent: vm.config["agent"]?.startsWith("1") === true || /enabled=1/.test(vm.config["agent"] ?? "") ? 1 : 0, ...(vm.lock !== undefined ? { lock: vm.lock } : {}), template: vm.template ? 1 : 0 };
      },
    ],
    ["POST", /^\/nodes\/([^/]+)\/qemu\/(\d+)\/status\/(start|stop|shutdown)$/, (m, p, user) => this.power(m[1] ?? "", Number(m[2]), m[3] ?? "", p, user)],
    [
      "DELETE",
      /^\/nodes\/([^/]+)\/qemu\/(\d+)$/,
      (m, _p, user) => {
        const vm = this.vm(m[1] ?? "", Number(m[2]));
        this.unlocked(vm);
        if (vm.status === "running") throw new ApiError(500, `VM ${vm.vmid} is running - destroy failed`);
        vm.lock = "destroyed";
        return this.startTask(vm.node, "qmdestroy", String(vm.vmid), user, this.options.durations.destroy, () => {
          this.vms.delete(vm.vmid);
          return "OK";
        });
      },
    ],
    [
      "GET",
      /^\/nodes\/([^/]+)\/qemu\/(\d+)\/agent\/network-get-interfaces$/,
      (m) => {
        const vm = this.vm(m[1] ?? "", Number(m[2]));
        this.agentReady(vm);
        const ip = /ip=(\d+\.\d+\.\d+\.\d+)\/(\d+)/.exec(vm.config["ipconfig0"] ?? "");
        const mac = /=([0-9A-F:]{17})/.exec(vm.config["net0"] ?? "")?.[1]?.toLowerCase();
        return {
          result: [
            { name: "lo", "hardware-address": "00:00:00:00:00:00", "ip-addresses": [{ "ip-address": "127.0.0.1", "ip-address-type": "ipv4", prefix: 8 }] },
            { name: "eth0", "hardware-address": mac ?? "bc:24:11:00:00:00", ...(ip !== null ? { "ip-addresses": [{ "ip-address": ip[1], "ip-address-type": "ipv4", prefix: Number(ip[2]) }] } : {}) },
          ],
        };
      },
    ],
    [
      "POST",
      /^\/nodes\/([^/]+)\/qemu\/(\d+)\/agent\/exec$/,
      async (m, p, _user, lists) => {
        const vm = this.vm(m[1] ?? "", Number(m[2]));
        const command = lists["command"] ?? [];
        const input = p["input-data"];
        if (command.length === 0 && input === undefined) throw new ApiError(500, "command or input-data (or both) required");
        if (command.length === 0) throw new ApiError(400, "Parameter verification failed.", { command: "property is missing and it is not optional" });
        this.agentReady(vm);
        const result = await this.runInGuest(vm, command, input);
        const pid = vm.nextPid;
        vm.nextPid += 1;
        vm.execs.set(pid, { ...result, endsAt: this.now() + this.options.durations.exec });
        return { pid };
      },
    ],
    [
      "GET",
      /^\/nodes\/([^/]+)\/qemu\/(\d+)\/agent\/exec-status$/,
      (m, p) => {
        const vm = this.vm(m[1] ?? "", Number(m[2]));
        this.agentReady(vm);
        const pid = Number(p["pid"]);
        const run = vm.execs.get(pid);
        if (run === undefined) throw new ApiError(500, `VM ${vm.vmid} qmp command 'guest-exec-status' failed - Invalid parameter 'pid'`);
        if (this.now() < run.endsAt) return { exited: 0 };
        // qemu-ga forgets a process once its exit has been read.
        vm.execs.delete(pid);
        return { exited: 1, exitcode: run.exitcode, ...(run.out !== "" ? { "out-data": run.out } : {}), ...(run.err !== "" ? { "err-data": run.err } : {}) };
      },
    ],
    [
      "GET",
      /^\/nodes\/([^/]+)\/tasks\/([^/]+)\/status$/,
      (m) => {
        const task = this.tasks.get(decodeURIComponent(m[2] ?? ""));
        const tooNew = task !== undefined && this.now() - task.createdAt < (this.options.newTaskUnknownMs ?? 0) && task.status === "running";
        if (task === undefined || task.node !== m[1] || tooNew) throw new ApiError(400, "Parameter verification failed.", { upid: "unable to parse worker upid" });
        return { upid: task.upid, node: task.node, type: task.type, id: task.id, user: task.user, starttime: task.starttime, status: task.status, ...(task.exitstatus !== undefined ? { exitstatus: task.exitstatus } : {}) };
      },
    ],
  ];

  /**
   * POST clone: the synchronous pre-checks answer as HTTP errors; then a qmclone task whose
   * duration and outcome follow the clone model (clone-model.ts) and the flat faults.
   */
  private clone(node: string, source: number, p: Record<string, string>, user: string): string {
    const src = this.vm(node, source);
    const newid = Number(p["newid"]);
    if (!Number.isInteger(newid) || newid < 100) throw new ApiError(400, "Parameter verification failed.", { newid: "property is missing and it is not optional" });
    if (this.vms.has(newid)) throw new ApiError(500, `unable to create VM ${newid}: config file already exists`);
    const full = p["full"] === "1" || !src.template;
    if (!full && p["storage"] !== undefined) throw new ApiError(500, "parameter 'storage' not allowed for linked clones");
    const target = p["target"] ?? node;
    this.node(target);
    const srcStorage = this.storageOf(src);
    const shared = this.node(node).storages.find((s) => s.id === srcStorage)?.shared === true;
    if (target !== node && !shared) throw new ApiError(500, `can't clone VM to node '${target}' (VM uses local storage)`);
    if (src.lock !== undefined && src.lock !== "clone") this.unlocked(src);
    const storage = full ? (p["storage"] ?? srcStorage ?? "local") : (srcStorage ?? "local");
    const now = this.now();
    const running = [...this.tasks.values()].filter((t) => t.status === "running" && t.type === "qmclone");
    // A stopped source (every template) is locked shared; a running one exclusively.
    const sourceBusy = src.status === "running" && running.some((t) => t.id === String(source));
    const flatTimeout = this.random() < this.faults.lockTimeoutRate;
    const others = running.filter((t) => t.storage === storage).length;
    const storageTimeout = !sourceBusy && !flatTimeout && this.random() < storageLockTimeoutRate(this.model, others);
    const bytes = (parseSize(/(?:^|,)size=([^,]+)/.exec(bootDisk(src.config)?.value ?? "")?.[1] ?? "0") ?? 0) * 1024 ** 3;
    const placeholder = this.newVm(newid, target, false, { name: p["name"] ?? `Copy-of-VM-${source}` }, "stopped", now, true);
    this.vms.set(newid, placeholder);
    const removeFailed = (): void => {
      // A failed clone removes its volumes and config.
      if (this.vms.get(newid) === placeholder) this.vms.delete(newid);
    };
    const duration = sourceBusy || flatTimeout ? this.model.sourceLockWaitMs : storageTimeout ? this.model.storageLockWaitMs : full ? Number.POSITIVE_INFINITY : this.model.linkedCloneMs;
    const upid = this.startTask(
      node,
      "qmclone",
      String(source),
      user,
      duration,
      () => {
        if (sourceBusy || flatTimeout) {
          this.injected.lockTimeouts += 1;
          removeFailed();
          return `clone failed: can't lock file '/var/lock/qemu-server/lock-${source}.conf' - got timeout`;
        }
        if (storageTimeout) {
          this.injected.storageLockTimeouts += 1;
          removeFailed();
          return `clone failed: can't lock file '/var/lock/pve-manager/pve-storage-${storage}' - got timeout`;
        }
        const config: Record<string, string> = {};
        for (const [k, v] of Object.entries(src.config)) if (k !== "template") config[k] = v;
        for (const disk of ["scsi0", "virtio0", "sata0"]) {
          const value = config[disk];
          if (value !== undefined && !value.includes("media=cdrom")) config[disk] = value.replace(/^[^:]+:[^,]*/, full ? `${storage}:vm-${newid}-disk-0` : `${storage}:base-${source}-disk-0/vm-${newid}-disk-0`);
        }
        config["name"] = p["name"] ?? `Copy-of-VM-${source}`;
        if (p["description"] !== undefined) config["description"] = p["description"];
        if (config["net0"] !== undefined) config["net0"] = config["net0"].replace(/=[0-9A-F:]{17}/, `=${this.generateMac()}`);
        placeholder.config = config;
        placeholder.lock = undefined;
        placeholder.cloning = false;
        return "OK";
      },
      removeFailed,
      storage,
    );
    // A full clone copies its disk at the storage's bandwidth, shared with the other full clones to it.
    if (full && duration === Number.POSITIVE_INFINITY) this.flows.add(upid, storage, bytes, now);
    return upid;
  }

  private power(node: string, vmid: number, action: string, p: Record<string, string>, user: string): string {
    const vm = this.vm(node, vmid);
    this.unlocked(vm);
    const d = this.options.durations;
    if (action === "start") {
      return this.startTask(node, "qmstart", String(vmid), user, d.start, (at) => {
        if (vm.template) return "you can't start a vm if it's a template";
        if (vm.status === "running") return `VM ${vmid} already running`;
        vm.status = "running";
        vm.startedAt = at;
        return "OK";
      });
    }
    const type = action === "stop" ? "qmstop" : "qmshutdown";
    const timeout = Number(p["timeout"] ?? "0");
    return this.startTask(node, type, String(vmid), user, action === "stop" ? d.stop : Math.min(d.shutdown, timeout > 0 ? timeout * 1000 : d.shutdown), () => {
      if (vm.status !== "running") return "OK";
      vm.status = "stopped";
      vm.startedAt = undefined;
      return "OK";
    });
  }

  /** The simulated clock (ms). */
  get clock(): number {
    return this.now();
  }

  /** Every task so far (for tests): type, storage for clones, when it started and ended (simulated ms), its exit status. */
  taskHistory(): { readonly upid: string; readonly type: string; readonly storage: string | undefined; readonly startedAt: number; readonly endedAt: number | undefined; readonly exitstatus: string | undefined }[] {
    this.tick();
    return [...this.tasks.values()].map((t) => ({ upid: t.upid, type: t.type, storage: t.storage, startedAt: t.createdAt, endedAt: t.status === "stopped" ? t.endsAt : undefined, exitstatus: t.exitstatus }));
  }

  /** The next `count` tasks of this type (qmclone, qmconfig, resize, qmstart, ...) fail, whatever the rates say. */
  failNextTasks(type: string, count: number): void {
    this.failNext.set(type, count);
  }

  /** The next `count` tasks of this type succeed with "WARNINGS: 1" (as a task that logged a warning does). */
  warnNextTasks(type: string, count: number): void {
    this.warnNext.set(type, count);
  }

  /** Invalidates every ticket (as a restart of pveproxy or an expiry would). */
  forgetTickets(): void {
    this.tickets.clear();
  }

  /* ---------------------------------------------------------------- auth and HTTP */

  private authenticate(req: IncomingMessage, write: boolean): string | undefined {
    const auth = req.headers.authorization ?? "";
    const token = /^PVEAPIToken=([^=]+)=(.+)$/.exec(auth);
    if (token !== null) {
      return this.options.tokens.some((t) => t.id === token[1] && t.secret === token[2]) ? (token[1] ?? "").split("!")[0] : undefined;
    }
    const cookie = /PVEAuthCookie=([^;]+)/.exec(req.headers.cookie ?? "")?.[1];
    if (cookie === undefined) return undefined;
    const session = this.tickets.get(decodeURIComponent(cookie));
    if (session === undefined) return undefined;
    if (write && req.headers["csrfpreventiontoken"] !== session.csrf) throw new ApiError(401, "Permission denied - invalid csrf token");
    return session.username;
  }

  private send(res: ServerResponse, status: number, reason: string, body: unknown): void {
    const text = JSON.stringify(body);
    // A reason phrase is Latin-1 text on one line.
    res.writeHead(status, reason.replace(/[^\x20-\x7e\xa0-\xff]/g, "?"), { "Content-Type": "application/json;charset=UTF-8", "Content-Length": Buffer.byteLength(text), "Cache-Control": "max-age=0" });
    res.end(text);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://sim.invalid");
    const method = (req.method ?? "GET").toUpperCase();
    const raw = method === "POST" || method === "PUT" ? await readBody(req) : "";
    const params: Record<string, string> = {};
    const lists: Record<string, string[]> = {};
    for (const [k, v] of new URLSearchParams(method === "POST" || method === "PUT" ? raw : url.search)) {
      params[k] = v;
      lists[k] = [...(lists[k] ?? []), v];
    }
    const path = url.pathname.replace(/^\/api2\/json/, "");
    this.calls.push(`${method} ${path}`);
    this.requests.push({ method, path, params });
    try {
      if (!url.pathname.startsWith("/api2/json/")) throw new ApiError(501, "Method not implemented");
      if (path === "/_sim/faults" && method === "POST") {
        for (const [k, v] of Object.entries(params)) if (k in this.faults) (this.faults as unknown as Record<string, number>)[k] = Number(v);
        return this.send(res, 200, "OK", { data: { ...this.faults } });
      }
      if (path === "/access/ticket" && method === "POST") {
        const user = this.options.users.find((u) => u.username === params["username"] && u.password === params["password"]);
        if (user === undefined) {
          await sleep(this.faults.authDelayMs);
          throw new ApiError(401, "authentication failure");
        }
        const ticket = `PVE:${user.username}:${hex8(Math.floor(this.now() / 1000))}::${randomUUID()}`;
        const csrf = `${hex8(Math.floor(this.now() / 1000))}:${randomUUID()}`;
        this.tickets.set(ticket, { username: user.username, csrf });
        return this.send(res, 200, "OK", { data: { ticket, CSRFPreventionToken: csrf, username: user.username } });
      }
      const write = method !== "GET";
      const user = this.authenticate(req, write);
      if (user === undefined) {
        await sleep(this.faults.authDelayMs);
        throw new ApiError(401, req.headers.authorization === undefined && req.headers.cookie === undefined ? "No ticket" : "authentication failure");
      }
      if (this.random() < this.faults.proxy596Rate) {
        this.injected.proxy596 += 1;
        throw new ApiError(596, "Connection timed out");
      }
      if (this.random() < this.faults.http5xxRate) {
        this.injected.http5xx += 1;
        throw new ApiError(500, "internal error (injected)");
      }
      this.tick();
      for (const [m, re, handler] of this.routes) {
        if (m !== method) continue;
        const match = re.exec(path);
        if (match === null) continue;
        const data: unknown = await handler(match, params, user, lists);
        return this.send(res, 200, "OK", { data });
      }
      throw new ApiError(501, `Method '${method} ${path}' not implemented`);
    } catch (err) {
      if (err instanceof ApiError) {
        const body: Record<string, unknown> = { data: null, message: `${err.reason}\n` };
        if (err.errors !== undefined) body["errors"] = err.errors;
        if (err.status === 401) {
          res.writeHead(401, err.reason);
          res.end();
          return;
        }
        return this.send(res, err.status, err.reason, body);
      }
      return this.send(res, 500, err instanceof Error ? err.message.split("\n")[0] ?? "error" : "error", { data: null });
    }
  }

  listen(port: number, host: string, tls?: { key: string; cert: string }): Promise<Server> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      this.handle(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500, "simulator error");
        res.end();
      });
    };
    const server = tls === undefined ? createHttpServer(handler) : createHttpsServer({ key: tls.key, cert: tls.cert }, handler);
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve(server));
    });
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}


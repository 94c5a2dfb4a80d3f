/**
 * The local lab's supervisor: a small daemon that starts the lab's processes in order (each
 * waits for the one before to be ready), restarts any that die (with backoff), reloads or
 * restarts what changed on SIGHUP, and stops everything it started on SIGTERM.
 *
 *   node dist/providers/local/supervisor.js <supervisor.json> <state.json>
 *
 * It writes state.json (pids, restarts, status) for `edgelab status` and `edgelab down`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, fchmodSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { request } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { z } from "zod";
import { ProcessKind, SupervisorSpec, type JanitorTask, type ProcessSpec, type Readiness } from "./plan.js";
import { sleep } from "../../util/sleep.js";

/** Deletes files older than each task's age (never directories, never outside the task's dir). */
export function sweep(tasks: readonly JanitorTask[], now = Date.now()): number {
  let removed = 0;
  const walk = (dir: string, maxAgeMs: number): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path, maxAgeMs);
      else if (entry.isFile()) {
        try {
          if (now - statSync(path).mtimeMs > maxAgeMs) {
            unlinkSync(path);
            removed += 1;
          }
        } catch {
          // gone meanwhile
        }
      }
    }
  };
  for (const task of tasks) walk(task.dir, task.maxAgeSeconds * 1000);
  return removed;
}

export const ProcessStatus = z.enum(["starting", "running", "backoff", "stopping", "stopped", "failed"]);
export type ProcessStatus = z.infer<typeof ProcessStatus>;

export const ProcessState = z.object({
  name: z.string(),
  kind: ProcessKind,
  pid: z.int().optional(),
  status: ProcessStatus,
  restarts: z.int(),
  lastExit: z.string().optional(),
  /** The command line (it never holds a secret). */
  command: z.string(),
  listens: z.array(z.strictObject({ host: z.string(), port: z.int() })),
  log: z.string(),
});
export type ProcessState = z.infer<typeof ProcessState>;

/** state.json: written by the supervisor, read by status and down. */
export const SupervisorState = z.object({
  supervisorPid: z.int(),
  startedAt: z.string(),
  status: z.enum(["starting", "running", "stopping", "stopped"]),
  updatedAt: z.string(),
  processes: z.array(ProcessState),
});
export type SupervisorState = z.infer<typeof SupervisorState>;

export function commandLine(spec: ProcessSpec): string {
  return spec.argv.join(" ");
}

export async function probe(ready: Readiness, timeoutMs = 1000): Promise<boolean> {
  if (ready.kind === "tcp") {
    return new Promise((resolve) => {
      const socket = connect({ host: ready.host, port: ready.port });
      const done = (ok: boolean): void => {
        socket.destroy();
        resolve(ok);
      };
      socket.setTimeout(timeoutMs, () => done(false));
      socket.once("connect", () => done(true));
      socket.once("error", () => done(false));
    });
  }
  return new Promise((resolve) => {
    const req = request({ host: ready.host, port: ready.port, path: ready.path ?? "/", timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode !== undefined && res.statusCode < 500);
    });
    req.once("timeout", () => req.destroy());
    req.once("error", () => resolve(false));
    req.end();
  });
}


/** Opens a log for appending; only its owner may read it (a process may log what it should not). */
export function openLog(path: string): number {
  const fd = openSync(path, "a", 0o600);
  fchmodSync(fd, 0o600);
  return fd;
}

interface Managed {
  spec: ProcessSpec;
  state: ProcessState;
  child: ChildProcess | undefined;
  wanted: boolean;
  timer: NodeJS.Timeout | undefined;
}

export class Supervisor {
  private readonly managed = new Map<string, Managed>();
  private readonly state: SupervisorState;
  private stopping = false;

  constructor(
    private readonly specFile: string,
    private readonly stateFile: string,
    private readonly log: (line: string) => void,
  ) {
    this.state = { supervisorPid: process.pid, startedAt: new Date().toISOString(), status: "starting", updatedAt: "", processes: [] };
  }

  private readSpec(): SupervisorSpec {
    return SupervisorSpec.parse(JSON.parse(readFileSync(this.specFile, "utf8")));
  }

  private save(): void {
    this.state.updatedAt = new Date().toISOString();
    this.state.processes = [...this.managed.values()].map((m) => m.state);
    const temp = `${this.stateFile}.tmp`;
    writeFileSync(temp, `${JSON.stringify(this.state, null, 2)}\n`, { mode: 0o644 });
    renameSync(temp, this.stateFile);
  }

  private spawnProcess(m: Managed): void {
    const [command, ...args] = m.spec.argv;
    if (command === undefined) return;
    const out = openLog(m.spec.log);
    let stdin: number | "ignore" = "ignore";
    try {
      if (m.spec.stdin !== undefined) stdin = openSync(m.spec.stdin, "r");
    } catch (err) {
      writeSync(out, `${new Date().toISOString()} supervisor: cannot open ${m.spec.stdin ?? ""}: ${(err as Error).message}\n`);
    }
    // As root, some processes (redis) run as an unprivileged user of their own; libuv drops the
    // supplementary groups too.
    const user = m.spec.user !== undefined && process.getuid?.() === 0 ? { uid: m.spec.user.uid, gid: m.spec.user.gid } : {};
    // Its directories as descriptors 3, 4, ...: opened here, so the process needs no path to them.
    const dirs: number[] = [];
    for (const dir of m.spec.dirs ?? []) {
      try {
        dirs.push(openSync(dir, "r"));
      } catch (err) {
        writeSync(out, `${new Date().toISOString()} supervisor: cannot open ${dir}: ${(err as Error).message}\n`);
        dirs.push(openSync("/dev/null", "r"));
      }
    }
    const child: ChildProcess = spawn(command, args, { stdio: [stdin, out, out, ...dirs], detached: false, ...user });
    closeSync(out);
    if (typeof stdin === "number") closeSync(stdin);
    for (const fd of dirs) closeSync(fd);
    m.child = child;
    m.state.pid = child.pid;
    m.state.status = "starting";
    this.save();
    child.once("error", (err) => {
      m.state.lastExit = `could not start: ${err.message}`;
    });
    child.once("exit", (code, signal) => {
      m.child = undefined;
      m.state.pid = undefined;
      m.state.lastExit = signal !== null ? `signal ${signal}` : `exit ${code ?? "?"}`;
      if (!m.wanted || this.stopping) {
        m.state.status = "stopped";
        this.save();
        return;
      }
      m.state.restarts += 1;
      m.state.status = "backoff";
      const delay = Math.min(1000 * 2 ** Math.min(m.state.restarts - 1, 4), 10_000);
      this.log(`${m.spec.name} exited (${m.state.lastExit}); restarting in ${delay} ms`);
      this.save();
      m.timer = setTimeout(() => {
        m.timer = undefined;
        if (!m.wanted || this.stopping) return;
        this.spawnProcess(m);
        // A restarted process is "running" again once it answers, as on its first start.
        void this.waitReady(m, 20_000).then((ok) => {
          if (ok) this.log(`${m.spec.name} is running again (restart ${m.state.restarts})`);
        });
      }, delay);
    });
  }

  private async waitReady(m: Managed, timeoutMs: number): Promise<boolean> {
    const ready = m.spec.ready;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && m.wanted && !this.stopping) {
      if (ready === undefined) {
        await sleep(300);
        if (m.child !== undefined) break;
        continue;
      }
      if (m.child !== undefined && (await probe(ready))) break;
      await sleep(150);
    }
    const ok = m.child !== undefined && m.wanted && !this.stopping;
    if (ok) m.state.status = "running";
    this.save();
    return ok;
  }

  private async start(spec: ProcessSpec): Promise<void> {
    const m: Managed = {
      spec,
      state: { name: spec.name, kind: spec.kind, pid: undefined, status: "starting", restarts: 0, lastExit: undefined, command: commandLine(spec), listens: spec.listens, log: spec.log },
      child: undefined,
      wanted: true,
      timer: undefined,
    };
    this.managed.set(spec.name, m);
    this.spawnProcess(m);
    if (!(await this.waitReady(m, 20_000))) this.log(`${spec.name} did not become ready within 20 s (see ${spec.log})`);
  }

  private async stopOne(m: Managed): Promise<void> {
    m.wanted = false;
    if (m.timer !== undefined) clearTimeout(m.timer);
    const child = m.child;
    if (child === undefined) {
      m.state.status = "stopped";
      return;
    }
    m.state.status = "stopping";
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    // nginx: SIGQUIT is a graceful shutdown; everything else stops on SIGTERM.
    child.kill(m.spec.reload === "sighup" && m.spec.kind !== "router" ? "SIGQUIT" : "SIGTERM");
    const late = setTimeout(() => child.kill("SIGTERM"), 5000);
    const kill = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(late);
    clearTimeout(kill);
  }

  private janitorTimer: NodeJS.Timeout | undefined;

  async run(): Promise<void> {
    this.janitorTimer = setInterval(() => {
      const removed = sweep(this.readSpec().janitor);
      if (removed > 0) this.log(`janitor: removed ${removed} expired segment file(s)`);
    }, 30_000);
    for (const spec of this.readSpec().processes) {
      if (this.stopping) return;
      await this.start(spec);
    }
    this.state.status = "running";
    this.save();
    this.log(`all ${this.managed.size} processes started`);
  }

  /** Applies a changed spec file: start new, stop removed, reload or restart changed. */
  async reload(): Promise<void> {
    const next = this.readSpec().processes;
    const names = new Set(next.map((p) => p.name));
    for (const m of [...this.managed.values()].reverse()) {
      if (!names.has(m.spec.name)) {
        await this.stopOne(m);
        this.managed.delete(m.spec.name);
        this.log(`${m.spec.name} removed`);
      }
    }
    for (const spec of next) {
      const m = this.managed.get(spec.name);
      if (m === undefined) {
        await this.start(spec);
        continue;
      }
      if (m.spec.configHash === spec.configHash && m.spec.argv.join("\u0000") === spec.argv.join("\u0000")) continue;
      if (spec.reload === "sighup" && m.child !== undefined && m.spec.argv.join("\u0000") === spec.argv.join("\u0000")) {
        m.spec = spec;
        m.child.kill("SIGHUP");
        this.log(`${spec.name} reloaded`);
      } else {
        await this.stopOne(m);
        this.managed.delete(spec.name);
        await this.start(spec);
        this.log(`${spec.name} restarted`);
      }
    }
    this.save();
  }

  async shutdown(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.janitorTimer !== undefined) clearInterval(this.janitorTimer);
    this.state.status = "stopping";
    this.save();
    for (const m of [...this.managed.values()].reverse()) await this.stopOne(m);
    this.state.status = "stopped";
    this.save();
    this.log("all processes stopped");
  }
}

export async function main(argv: readonly string[]): Promise<void> {
  const [specFile, stateFile] = argv;
  if (specFile === undefined || stateFile === undefined) {
    process.stderr.write("usage: supervisor <supervisor.json> <state.json>\n");
    process.exit(2);
  }
  const log = (line: string): void => void process.stdout.write(`${new Date().toISOString()} ${line}\n`);
  const supervisor = new Supervisor(specFile, stateFile, log);
  let queue = Promise.resolve();
  const serial = (work: () => Promise<void>): void => {
    queue = queue.then(work).catch((cause: unknown) => log(`error: ${(cause as Error).message}`));
  };
  // Stopping does not wait behind a start or reload in progress: it interrupts them.
  const stop = (): void => {
    supervisor
      .shutdown()
      .then(() => process.exit(0))
      .catch((cause: unknown) => {
        log(`error while stopping: ${(cause as Error).message}`);
        process.exit(1);
      });
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.on("SIGHUP", () => serial(() => supervisor.reload()));
  serial(() => supervisor.run());
  await queue;
}

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main(process.argv.slice(2)).catch((cause: unknown) => {
    process.stderr.write(`supervisor: ${(cause as Error).message}\n`);
    process.exit(1);
  });
}

/**
 * How clones contend on a Proxmox VE cluster, as qemu-server behaves (shared/reference/
 * proxmox-api.md, "Clone locking"), in numbers the simulator runs and the benchmark's ideal is
 * computed from. Pure.
 *
 * - The source is locked SHARED when it is stopped (every template): clones of one template do
 *   not wait for each other on it. A running source is locked exclusively (a second clone of it
 *   times out on the lock after `sourceLockWaitMs`).
 * - A full clone copies the source's disk to the target storage; the storage's bandwidth is
 *   shared equally by the full clones writing to it at that moment (processor sharing), so one
 *   clone's duration = disk size / (bandwidth / concurrent full clones), re-evaluated whenever a
 *   clone starts or ends. A linked clone takes `linkedCloneMs`, whatever runs beside it.
 * - Volume allocation takes the storage's lock (`/var/lock/pve-manager/pve-storage-<id>`, 10 s
 *   timeout): a clone that starts while `k` other clones run on the same storage fails with a
 *   lock timeout, after waiting `storageLockWaitMs`, with probability
 *   storageLockBaseRate + k × storageLockRatePerClone.
 */

export interface CloneModel {
  /** MiB/s of a storage that does not state its own. */
  readonly bandwidthMiBps: number;
  readonly linkedCloneMs: number;
  /** Storage-lock timeout probability of a clone that starts alone on its storage. */
  readonly storageLockBaseRate: number;
  /** Added to it for each other clone running on the same storage when a clone starts. */
  readonly storageLockRatePerClone: number;
  /** How long a clone waits for a storage lock before its task fails. */
  readonly storageLockWaitMs: number;
  /** How long a clone waits for the lock of a running (exclusively locked) source. */
  readonly sourceLockWaitMs: number;
}

export const DEFAULT_CLONE_MODEL: CloneModel = {
  bandwidthMiBps: 200,
  linkedCloneMs: 1000,
  storageLockBaseRate: 0,
  storageLockRatePerClone: 0.02,
  storageLockWaitMs: 10_000,
  sourceLockWaitMs: 1000,
};

const MiB = 1024 * 1024;

/** Bytes per millisecond of `mibps` MiB/s. */
export function bytesPerMs(mibps: number): number {
  return (mibps * MiB) / 1000;
}

export function storageLockTimeoutRate(model: CloneModel, othersOnStorage: number): number {
  return Math.min(1, Math.max(0, model.storageLockBaseRate + othersOnStorage * model.storageLockRatePerClone));
}

/**
 * Full clones copying to storages whose bandwidth their concurrent clones share equally. Time
 * is advanced explicitly; a job's end is known exactly once it is reached.
 */
export class SharedBandwidth<Id> {
  private readonly jobs = new Map<Id, { storage: string; remaining: number }>();
  private at: number;

  constructor(
    private readonly bandwidthOf: (storage: string) => number,
    start: number,
  ) {
    this.at = start;
  }

  /** Starts copying `bytes` to `storage` at `now` (advance to `now` first). */
  add(id: Id, storage: string, bytes: number, now: number): void {
    this.advance(now);
    this.jobs.set(id, { storage, remaining: Math.max(0, bytes) });
  }

  remove(id: Id, now: number): void {
    this.advance(now);
    this.jobs.delete(id);
  }

  running(storage: string): number {
    let n = 0;
    for (const job of this.jobs.values()) if (job.storage === storage) n += 1;
    return n;
  }

  /** Moves time to `now`; returns the jobs that finished on the way, with their end times, in order. */
  advance(now: number): { id: Id; at: number }[] {
    const done: { id: Id; at: number }[] = [];
    while (this.at < now && this.jobs.size > 0) {
      const perStorage = new Map<string, number>();
      for (const job of this.jobs.values()) perStorage.set(job.storage, (perStorage.get(job.storage) ?? 0) + 1);
      const rate = (storage: string): number => this.bandwidthOf(storage) / (perStorage.get(storage) ?? 1);
      let step = now - this.at;
      for (const job of this.jobs.values()) step = Math.min(step, job.remaining / rate(job.storage));
      for (const [id, job] of this.jobs) {
        job.remaining -= rate(job.storage) * step;
        if (job.remaining <= 1e-6) done.push({ id, at: this.at + step });
      }
      this.at += step;
      for (const d of done) this.jobs.delete(d.id);
      if (step === 0 && done.length === 0) break;
    }
    // Zero-byte jobs end where they are.
    for (const [id, job] of this.jobs) {
      if (job.remaining <= 1e-6) {
        done.push({ id, at: this.at });
        this.jobs.delete(id);
      }
    }
    this.at = Math.max(this.at, now);
    return done;
  }
}

/* ------------------------------------------------------------------ the fastest schedule */

export interface CloneJob {
  readonly storage: string;
  /** Bytes copied by a full clone; undefined for a linked clone. */
  readonly fullBytes: number | undefined;
}

/** A seeded generator (mulberry32), so a computed ideal is the same on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Linked clones of one storage run `lanes` at a time with no overhead: a clone starts the
 * instant a lane frees; one that times out on the storage lock learns it after the lock wait and
 * is tried again at once in the same lane. When the last one is done.
 */
function linkedMakespan(model: CloneModel, count: number, lanes: number, random: () => number): number {
  const busyUntil = Array.from({ length: Math.min(lanes, count) }, () => 0);
  /** The lane holds a clone that timed out and is tried again. */
  const retrying = busyUntil.map(() => false);
  let left = count;
  let done = 0;
  let last = 0;
  while (done < count) {
    let lane = 0;
    for (let i = 1; i < busyUntil.length; i++) if ((busyUntil[i] ?? 0) < (busyUntil[lane] ?? 0)) lane = i;
    const now = busyUntil[lane] ?? 0;
    if (!retrying[lane]) {
      if (left === 0) {
        busyUntil[lane] = Number.POSITIVE_INFINITY;
        continue;
      }
      left -= 1;
    }
    // Lanes that free at this very instant start again at it: they count as running beside it
    // (starting clones in lock-step does not make them contend less).
    const others = busyUntil.filter((t, i) => i !== lane && t >= now && t !== Number.POSITIVE_INFINITY).length;
    if (random() < storageLockTimeoutRate(model, others)) {
      busyUntil[lane] = now + model.storageLockWaitMs;
      retrying[lane] = true;
      continue;
    }
    busyUntil[lane] = now + model.linkedCloneMs;
    retrying[lane] = false;
    done += 1;
    last = Math.max(last, now + model.linkedCloneMs);
  }
  return last;
}

export interface FastestSchedule {
  /** When the last VM is ready: clones as the model allows them at best, then the VM's own tail. */
  readonly ms: number;
  /** Per storage: clones at once in that schedule, and when its last clone ends. */
  readonly storages: Readonly<Record<string, { readonly clonesAtOnce: number; readonly clonesDoneMs: number }>>;
}

/**
 * The fastest schedule the model allows for these clones, each followed by `tailMs` of work on
 * its own VM (configure, resize, start, boot — which do not contend):
 * - full clones of one storage can end no earlier than (their bytes) / (its bandwidth), however
 *   they are interleaved, and one at a time reaches that bound with no lock-timeout risk (the
 *   rate alone is storageLockBaseRate, 0 by default);
 * - linked clones have no bandwidth bound; the storage-lock timeout rate grows with how many run
 *   at once, so the fastest is the concurrency with the smallest median makespan — computed over
 *   `trials` seeded draws of the model for every concurrency from 1 to the count, with no
 *   overhead at all (a clone starts the instant a lane frees; a timed-out one is retried at once).
 * Storages work in parallel; the schedule ends when the slowest storage's last VM is ready.
 */
export function fastestSchedule(model: CloneModel, jobs: readonly CloneJob[], bandwidthOf: (storage: string) => number, tailMs: number, trials = 1001, seed = 1): FastestSchedule {
  const byStorage = new Map<string, CloneJob[]>();
  for (const job of jobs) byStorage.set(job.storage, [...(byStorage.get(job.storage) ?? []), job]);
  const storages: Record<string, { clonesAtOnce: number; clonesDoneMs: number }> = {};
  for (const [storage, list] of byStorage) {
    const bytes = list.reduce((sum, j) => sum + (j.fullBytes ?? 0), 0);
    const linked = list.filter((j) => j.fullBytes === undefined).length;
    const fullMs = bytes / bandwidthOf(storage);
    let best = { clonesAtOnce: 1, clonesDoneMs: fullMs + linked * model.linkedCloneMs };
    if (linked > 0) {
      for (let lanes = 1; lanes <= linked; lanes++) {
        const random = seededRandom(seed);
        const makespans = Array.from({ length: trials }, () => linkedMakespan(model, linked, lanes, random)).sort((a, b) => a - b);
        const median = fullMs + (makespans[Math.floor(trials / 2)] ?? 0);
        if (median < best.clonesDoneMs) best = { clonesAtOnce: lanes, clonesDoneMs: median };
      }
    }
    storages[storage] = best;
  }
  const cloned = Math.max(0, ...Object.values(storages).map((s) => s.clonesDoneMs));
  return { ms: cloned + tailMs, storages };
}

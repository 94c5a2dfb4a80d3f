/**
 * Key checks for the router on a thread of their own, at a lower CPU priority (nice 10 on Linux):
 * scrypt is meant to be expensive, and on a busy machine the kernel should serve viewers (the
 * router's event loop, nginx) before an attacker's guesses. One check at a time per checker; the
 * router bounds how many wait.
 */
import { Worker } from "node:worker_threads";
import type { KeyHash } from "./keys.js";

/** Runs inside the worker (plain JavaScript: evaluated, not imported, so it works from src/ and dist/). */
const WORKER = `
const { parentPort } = require("node:worker_threads");
const { scryptSync, timingSafeEqual } = require("node:crypto");
const { readlinkSync } = require("node:fs");
const { setPriority } = require("node:os");
let niced = false;
try {
  // /proc/thread-self names this thread; setpriority() on a thread id renices that thread only.
  const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
  if (tid > 0) { setPriority(tid, 10); niced = true; }
} catch {}
parentPort.postMessage({ ready: true, niced });
parentPort.on("message", ({ id, key, salt, hash, params }) => {
  try {
    const expected = Buffer.from(hash, "base64");
    const actual = scryptSync(key, Buffer.from(salt, "base64"), expected.length, params);
    parentPort.postMessage({ id, ok: expected.length === actual.length && timingSafeEqual(expected, actual) });
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message || err) });
  }
});
`;

interface Reply {
  readonly id?: number;
  readonly ok?: boolean;
  readonly error?: string;
  readonly ready?: boolean;
  readonly niced?: boolean;
}

export class KeyChecker {
  private worker: Worker | undefined;
  private next = 0;
  private readonly pending = new Map<number, { resolve: (ok: boolean) => void; reject: (err: Error) => void }>();
  /** Whether the checking thread runs at a lower priority (false where the OS does not allow it). */
  niced: Promise<boolean>;
  private setNiced: (value: boolean) => void = () => undefined;

  constructor(private readonly params: { readonly N: number; readonly r: number; readonly p: number }) {
    this.niced = new Promise((resolve) => (this.setNiced = resolve));
  }

  private start(): Worker {
    const worker = new Worker(WORKER, { eval: true });
    worker.unref();
    worker.on("message", (reply: Reply) => {
      if (reply.ready === true) {
        this.setNiced(reply.niced === true);
        return;
      }
      const waiter = reply.id === undefined ? undefined : this.pending.get(reply.id);
      if (waiter === undefined || reply.id === undefined) return;
      this.pending.delete(reply.id);
      if (reply.error !== undefined) waiter.reject(new Error(reply.error));
      else waiter.resolve(reply.ok === true);
    });
    // A dead checker fails what it was doing; the next check starts a new one.
    const fail = (err: Error): void => {
      this.worker = undefined;
      for (const waiter of this.pending.values()) waiter.reject(err);
      this.pending.clear();
    };
    worker.once("error", fail);
    worker.once("exit", (code) => fail(new Error(`the key checker exited (${code})`)));
    return worker;
  }

  verify(key: string, stored: KeyHash): Promise<boolean> {
    this.worker ??= this.start();
    const id = this.next++;
    const worker = this.worker;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, key, salt: stored.salt, hash: stored.hash, params: this.params });
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker !== undefined) await worker.terminate();
  }
}

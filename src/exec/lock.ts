/**
 * A lock between processes on this machine: flock(1) (util-linux) holds an exclusive lock on a
 * file for as long as its child `cat` reads our pipe. The kernel releases the lock when that
 * process ends, which it does when we release or when this process dies for any reason, so a
 * crashed holder never leaves a stale lock behind.
 */
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { EdgelabError } from "../errors.js";

export interface FileLock {
  release(): Promise<void>;
}

/**
 * Waits (up to `timeoutMs`) for an exclusive lock on `file` (created if missing). `onWait` is
 * called once if another process holds it, so callers can say what they are waiting for.
 */
export async function acquireLock(file: string, options: { timeoutMs: number; onWait?: () => void }): Promise<FileLock> {
  mkdirSync(dirname(file), { recursive: true });
  const seconds = Math.max(1, Math.ceil(options.timeoutMs / 1000));
  // flock prints nothing while it waits; if the lock is not ours within 200 ms, say we wait.
  const child = spawn("flock", ["--exclusive", "--conflict-exit-code", "75", "--timeout", String(seconds), file, "sh", "-c", "echo locked; exec cat >/dev/null"], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const waitNotice = setTimeout(() => options.onWait?.(), 200);
  try {
    await new Promise<void>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (c: Buffer) => {
        out += c.toString();
        if (out.includes("locked\n")) resolve();
      });
      child.once("error", (e) => reject(new EdgelabError(`cannot lock ${file}: ${e.message}`, { hint: "flock(1) comes with util-linux.", cause: e })));
      child.once("exit", (code) => {
        if (code === 75) reject(new EdgelabError(`${file} is still locked by another process after ${seconds} s`, { hint: "Another edgelab process holds it; wait for it to finish." }));
        else reject(new EdgelabError(`cannot lock ${file}: flock exited with ${code ?? "a signal"}${stderr === "" ? "" : `: ${stderr.trim()}`}`));
      });
    });
  } finally {
    clearTimeout(waitNotice);
  }
  child.removeAllListeners("exit");
  return {
    release: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.stdin.end();
      }),
  };
}

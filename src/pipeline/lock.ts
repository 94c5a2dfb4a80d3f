/**
 * One `edgelab up`/`destroy` per lab at a time: a lock file holding the owner's pid, created
 * exclusively. A second run refuses with the first one's pid; a lock left by a run that no longer
 * exists (killed with SIGKILL, a reboot) is taken over and said so.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { EdgelabError, EXIT_FAILED } from "../errors.js";

export interface LabLock {
  readonly file: string;
  /** Set when a stale lock (its pid gone) was replaced. */
  readonly staleFrom: number | undefined;
  release(): void;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function holder(file: string): { pid: number; command: string } | undefined {
  try {
    const parsed = /^(\d+)\s+(.*)$/s.exec(readFileSync(file, "utf8").trim());
    if (parsed === null) return undefined;
    return { pid: Number(parsed[1]), command: parsed[2] ?? "" };
  } catch {
    return undefined;
  }
}

export function lockPath(stateDir: string, lab: string): string {
  return join(stateDir, "journal", `${lab}.lock`);
}

export function acquireLock(stateDir: string, lab: string, command: string): LabLock {
  const file = lockPath(stateDir, lab);
  mkdirSync(dirname(file), { recursive: true });
  let staleFrom: number | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, "wx", 0o644);
      writeSync(fd, `${process.pid} ${command}\n`);
      closeSync(fd);
      let released = false;
      return {
        file,
        staleFrom,
        release: () => {
          if (released) return;
          released = true;
          if (holder(file)?.pid === process.pid) rmSync(file, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const owner = holder(file);
      if (owner !== undefined && owner.pid !== process.pid && pidAlive(owner.pid)) {
        throw new EdgelabError(`another edgelab run is working on lab ${lab} (pid ${owner.pid}: ${owner.command})`, {
          hint: `Wait for it to finish, or stop it (kill ${owner.pid}); its lock is ${file}.`,
          exitCode: EXIT_FAILED,
        });
      }
      // The owner is gone: the lock is stale.
      staleFrom = owner?.pid;
      rmSync(file, { force: true });
    }
  }
  throw new EdgelabError(`could not take the lock ${file}`, { hint: "Another run may be starting at the same moment; try again." });
}

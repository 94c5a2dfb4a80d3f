/**
 * The network lab's one door to the system: commands as argv arrays (node:child_process
 * execFile, never a shell), and long-running daemons started detached with their output in a
 * log file. Tests and the lab use the same implementation; nothing else here touches processes.
 */
import { execFile, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { EdgelabError } from "../errors.js";

export class NetlabExecError extends EdgelabError {
  override readonly name = "NetlabExecError";
  readonly argv: readonly string[];
  readonly code: number | string | undefined;
  readonly stderr: string;
  constructor(step: string, argv: readonly string[], code: number | string | undefined, stderr: string, hint?: string) {
    const tail = stderr.trim().split("\n").slice(-3).join(" | ");
    super(`network lab: ${step}: \`${argv.join(" ")}\` failed (${code ?? "?"})${tail === "" ? "" : `: ${tail}`}`, { hint });
    this.argv = argv;
    this.code = code;
    this.stderr = stderr;
  }
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

export interface NetExecutor {
  /** Runs argv to completion; throws NetlabExecError naming `step` when it fails. */
  run(step: string, argv: readonly string[], options?: { readonly timeoutMs?: number }): Promise<RunResult>;
  /**
   * Starts a long-running process detached (it outlives edgelab), output to `log`; returns its
   * pid. `stdin`: a file given as its standard input (a configuration holding a secret).
   * `dirs`: directories opened here and handed over as descriptors 3, 4, ... (as the local lab's
   * supervisor does for the stream-key router, which then needs no path to them).
   */
  start(argv: readonly string[], log: string, options?: { readonly stdin?: string; readonly dirs?: readonly string[] }): number;
}

export function localExecutor(): NetExecutor {
  return {
    run(step, argv, options) {
      const [file, ...args] = argv;
      if (file === undefined) return Promise.reject(new Error("empty argv"));
      return new Promise((resolve, reject) => {
        execFile(file, args, { timeout: options?.timeoutMs ?? 20_000, maxBuffer: 16 * 1024 * 1024, encoding: "utf8" }, (error, stdout, stderr) => {
          if (error === null) resolve({ stdout, stderr });
          else {
            const code = typeof error.code === "number" || typeof error.code === "string" ? error.code : undefined;
            const hint = error.code === "ENOENT" ? `${file} is not installed: run scripts/setup.sh (Debian packages iproute2, frr, gobgpd, curl).` : undefined;
            reject(new NetlabExecError(step, argv, code, `${stderr}${stderr === "" ? error.message : ""}`, hint));
          }
        });
      });
    },
    start(argv, log, options) {
      const [file, ...args] = argv;
      if (file === undefined) throw new Error("empty argv");
      const fd = openSync(log, "a", 0o600);
      const input = options?.stdin === undefined ? undefined : openSync(options.stdin, "r");
      const dirs: number[] = [];
      try {
        for (const dir of options?.dirs ?? []) dirs.push(openSync(dir, "r"));
        const child = spawn(file, args, { detached: true, stdio: [input ?? "ignore", fd, fd, ...dirs] });
        child.unref();
        if (child.pid === undefined) throw new NetlabExecError(`starting ${file}`, argv, undefined, "no pid (the program could not be started)");
        return child.pid;
      } finally {
        closeSync(fd);
        if (input !== undefined) closeSync(input);
        for (const d of dirs) closeSync(d);
      }
    },
  };
}

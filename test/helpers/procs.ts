/** Starting real programs for tests, and making sure they are gone afterwards. */
import { spawn, type ChildProcess } from "node:child_process";
import { connect } from "node:net";

export async function waitForPort(host: string, port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port });
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Started {
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts a program; `input` (if any) is written to its standard input, which is then closed. */
export function start(argv: readonly string[], input?: string): Started {
  const [command, ...args] = argv;
  if (command === undefined) throw new Error("empty argv");
  const child = spawn(command, args, { stdio: [input === undefined ? "ignore" : "pipe", "ignore", "ignore"] });
  if (input !== undefined) child.stdin?.end(input);
  return {
    child,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 3000).unref();
      }),
  };
}

/** A real redis-server on a loopback address, without persistence, with a password (given on stdin). */
export async function startRedis(host: string, port: number, password: string): Promise<Started> {
  const redis = start(["redis-server", "-"], `bind ${host}\nport ${port}\nsave ""\nappendonly no\nprotected-mode yes\nrequirepass ${password}\n`);
  await waitForPort(host, port);
  return redis;
}

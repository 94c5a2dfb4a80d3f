/**
 * Programs on this machine, through zx's `$` (the project's shell layer): the argv array is
 * quoted word by word, output captured, a timeout enforced (the process tree is killed), and a
 * failure becomes an ExecError naming host, argv, exit code and stderr tail.
 *
 * zx runs the quoted command line with bash. Debian's bash sources ~/.bashrc when its standard
 * input is a socket (node's pipes are), and any bash sources $BASH_ENV: a user's shell start-up
 * (pyenv, conda, prompts) must neither slow nor hang edgelab, so bash runs with --norc
 * --noprofile and without BASH_ENV.
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { $ } from "zx";
import { ExecError } from "./errors.js";
import { DEFAULT_TIMEOUT_MS, LineSplitter, type ExecResult, type Executor, type RunOptions } from "./types.js";

function spawnPlainBash(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  const shell = typeof options.shell === "string" ? options.shell : "/bin/bash";
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(options.env ?? process.env)) if (k !== "BASH_ENV" && k !== "ENV") env[k] = v;
  return spawn(shell, ["--noprofile", "--norc", "-c", [command, ...args].join(" ")], { ...options, shell: false, env });
}

export class LocalExecutor implements Executor {
  readonly host = "local";

  async run(argv: readonly string[], options: RunOptions = {}): Promise<ExecResult> {
    if (argv.length === 0) throw new Error("empty argv");
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const started = Date.now();
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(options.env ?? process.env)) if (v !== undefined) env[k] = v;
    const shell = $({
      cwd: options.cwd ?? process.cwd(),
      env,
      nothrow: true,
      quiet: true,
      verbose: false,
      timeout: timeoutMs,
      timeoutSignal: "SIGTERM",
      spawn: spawnPlainBash as typeof spawn,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.input === undefined ? {} : { input: options.input }),
    });
    const child = shell`${[...argv]}`;
    if (options.onStdoutLine !== undefined) {
      const splitter = new LineSplitter(options.onStdoutLine);
      child.stdout.on("data", (chunk: Buffer | string) => splitter.push(chunk.toString()));
      child.stdout.on("end", () => splitter.flush());
    }
    const out = await child;
    const durationMs = Date.now() - started;
    const timedOut = out.exitCode === null && durationMs >= timeoutMs - 50;
    const result: ExecResult = { stdout: out.stdout, stderr: out.stderr, exitCode: out.exitCode, signal: out.signal, timedOut, durationMs };
    if (result.exitCode !== 0 && (options.allowFailure !== true || timedOut)) {
      throw new ExecError({ host: this.host, argv, exitCode: result.exitCode, signal: result.signal, timedOut, stderr: result.stderr, durationMs });
    }
    return result;
  }
}

/**
 * ExecError: an external program failed. It names the host it ran on, the argv, the exit code
 * (or signal, or timeout) and the tail of its standard error, so no failure is anonymous.
 */
import { EdgelabError } from "../errors.js";

/** Last `lines` non-empty lines of a program's output, for messages. */
export function tail(text: string, lines = 8): string {
  return text
    .split("\n")
    .map((l) => l.trimEnd())
    .filter((l) => l !== "")
    .slice(-lines)
    .join("\n");
}

export interface ExecFailure {
  /** Where the program ran: "local" or a host name. */
  readonly host: string;
  readonly argv: readonly string[];
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly stderr: string;
  readonly durationMs: number;
}

export class ExecError extends EdgelabError {
  override readonly name = "ExecError";
  readonly host: string;
  readonly argv: readonly string[];
  /** The program's exit code (null: killed by a signal or timed out). Not the CLI's exit code. */
  readonly commandExitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly stderrTail: string;

  constructor(failure: ExecFailure, options: { hint?: string; cause?: unknown } = {}) {
    const how = failure.timedOut
      ? `timed out after ${Math.round(failure.durationMs / 1000)} s`
      : failure.exitCode !== null
        ? `exited with code ${failure.exitCode}`
        : `was killed by ${failure.signal ?? "a signal"}`;
    const stderrTail = tail(failure.stderr);
    super(`${failure.host}: \`${formatArgv(failure.argv)}\` ${how}${stderrTail === "" ? "" : `:\n${indent(stderrTail)}`}`, options);
    this.host = failure.host;
    this.argv = failure.argv;
    this.commandExitCode = failure.exitCode;
    this.signal = failure.signal;
    this.timedOut = failure.timedOut;
    this.stderrTail = stderrTail;
  }
}

/** argv for a message: words with spaces or quotes are single-quoted; long argv is shortened. */
export function formatArgv(argv: readonly string[]): string {
  const words = argv.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", "'\\''")}'`));
  const text = words.join(" ");
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n");
}

/** The Executor interface: run one program (argv, never a shell string) on one host. */

export interface RunOptions {
  /** Killed after this long (default 120 s); the error says it timed out. */
  readonly timeoutMs?: number;
  readonly cwd?: string;
  /** The complete environment (default: this process's). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Written to the program's standard input. */
  readonly input?: string;
  /** Return the result of a non-zero exit instead of throwing ExecError. */
  readonly allowFailure?: boolean;
  /** Stops the program (its process tree) when aborted (local programs). */
  readonly signal?: AbortSignal;
  /** Called with each complete line of standard output as it arrives. */
  readonly onStdoutLine?: (line: string) => void;
}

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
  /** null when killed by a signal or timed out. */
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly durationMs: number;
}

export interface Executor {
  /** Where commands run ("local" or the host's name); named in every error. */
  readonly host: string;
  run(argv: readonly string[], options?: RunOptions): Promise<ExecResult>;
}

export const DEFAULT_TIMEOUT_MS = 120_000;

/** Splits a stream of text chunks into lines; `flush` returns the unterminated remainder. */
export class LineSplitter {
  private rest = "";
  constructor(private readonly onLine: (line: string) => void) {}
  push(chunk: string): void {
    const text = this.rest + chunk;
    const lines = text.split("\n");
    this.rest = lines.pop() ?? "";
    for (const line of lines) this.onLine(line);
  }
  flush(): void {
    if (this.rest !== "") this.onLine(this.rest);
    this.rest = "";
  }
}

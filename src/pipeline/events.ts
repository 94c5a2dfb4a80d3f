/**
 * What a pipeline run tells the world, as events, and the three ways they are shown: a listr2
 * task tree on a terminal, timestamped lines elsewhere, newline-delimited JSON with `--json`
 * (documented in docs/pipeline.md). The runner only emits events; reporters only print.
 */
import { Listr, ListrLogger, ProcessOutput, type ListrTaskWrapper, type DefaultRenderer, type SimpleRenderer } from "listr2";
import type { Output } from "../context.js";
import { table, type Style } from "../output.js";
import type { StageName } from "./stage.js";

export type StageStatus = "ok" | "failed" | "interrupted" | "unchanged" | "not-applicable" | "not-selected" | "unavailable" | "planned";

export interface StageSummary {
  readonly stage: StageName;
  readonly status: StageStatus;
  readonly changes: number;
  readonly seconds: number;
  readonly summary: string;
}

export type PipelineEvent =
  | { readonly event: "run-start"; readonly run: string; readonly command: string; readonly lab: string; readonly provider: string; readonly stages: readonly { readonly stage: StageName; readonly title: string; readonly runs: boolean; readonly why: string }[] }
  | { readonly event: "stage-start"; readonly stage: StageName; readonly reason: string }
  | { readonly event: "stage-skip"; readonly stage: StageName; readonly status: "unchanged" | "not-applicable" | "not-selected" | "unavailable"; readonly reason: string }
  | { readonly event: "step"; readonly stage: StageName; readonly host?: string; readonly message: string }
  | { readonly event: "warning"; readonly stage: StageName; readonly message: string }
  | { readonly event: "skipped-step"; readonly stage: StageName; readonly what: string; readonly reason: string }
  | { readonly event: "plan"; readonly stage: StageName; readonly changes: readonly string[] }
  | { readonly event: "stage-end"; readonly stage: StageName; readonly status: "ok" | "failed" | "interrupted"; readonly changes: number; readonly summary: string; readonly seconds: number; readonly error?: string; readonly hint?: string; readonly log?: string; readonly details?: Readonly<Record<string, unknown>> }
  | { readonly event: "summary"; readonly run: string; readonly status: "ok" | "failed" | "interrupted"; readonly seconds: number; readonly stages: readonly StageSummary[]; readonly message?: string; readonly notes?: readonly string[] };

export interface Reporter {
  emit(event: PipelineEvent): void;
  /** Resolves when everything has been drawn (the task tree has finished). */
  finish(): Promise<void>;
}

const isoNow = (): string => new Date().toISOString();

/** `--json`: one JSON object per line on stdout, each with the time it happened. */
export class JsonReporter implements Reporter {
  constructor(private readonly out: Output) {}
  emit(event: PipelineEvent): void {
    this.out.write(`${JSON.stringify({ ...event, at: isoNow() })}\n`);
  }
  finish(): Promise<void> {
    return Promise.resolve();
  }
}

function statusCell(s: Style, status: StageStatus): string {
  switch (status) {
    case "ok":
      return s.green("ok");
    case "failed":
      return s.red("failed");
    case "interrupted":
      return s.yellow("interrupted");
    case "planned":
      return s.cyan("planned");
    default:
      return s.dim(status);
  }
}

/** What went wrong and what to do, as cli.ts prints errors (stderr). */
function outcomeMessage(s: Style, status: "ok" | "failed" | "interrupted", message: string): string {
  const [first = "", ...rest] = message.split("\n");
  const label = status === "interrupted" ? s.yellow("interrupted:") : s.red("error:");
  return [`edgelab: ${label} ${first}`, ...rest.map((l) => (l.startsWith("  hint:") || l.startsWith("  full log:") ? s.dim(l) : l))].join("\n");
}

/** The summary table both human reporters end with (stdout). */
export function summaryTable(s: Style, stages: readonly StageSummary[]): string {
  const rows = stages.map((st) => [st.stage, statusCell(s, st.status), st.status === "ok" || st.status === "failed" || st.status === "planned" ? String(st.changes) : "", st.status === "ok" || st.status === "failed" || st.status === "interrupted" ? `${st.seconds.toFixed(1)} s` : "", st.summary]);
  return table([["STAGE", "STATUS", "CHANGES", "TIME", ""].map((h) => s.bold(h)), ...rows]);
}

/** Not a terminal: a line per event on stderr with the seconds since the run started; the summary on stdout. */
export class LineReporter implements Reporter {
  private readonly started = Date.now();
  constructor(
    private readonly stdout: Output,
    private readonly stderr: Output,
    private readonly s: Style,
  ) {}

  private line(text: string): void {
    this.stderr.write(`[${((Date.now() - this.started) / 1000).toFixed(1).padStart(6)}s] ${text}\n`);
  }

  emit(e: PipelineEvent): void {
    const s = this.s;
    switch (e.event) {
      case "run-start":
        this.line(`${e.command}: lab ${e.lab} (provider ${e.provider}), run ${e.run}`);
        return;
      case "stage-start":
        this.line(`${s.bold(e.stage)}: running (${e.reason})`);
        return;
      case "stage-skip":
        if (e.status === "unchanged" || e.status === "unavailable") this.line(`${s.bold(e.stage)}: ${s.dim(e.reason)}`);
        return;
      case "step":
        this.line(`${e.stage}: ${e.host !== undefined ? `${e.host}: ` : ""}${e.message}`);
        return;
      case "warning":
        this.line(`${e.stage}: ${s.yellow("warning:")} ${e.message}`);
        return;
      case "skipped-step":
        this.line(`${e.stage}: ${s.yellow("skipped")} ${e.what} (${e.reason})`);
        return;
      case "plan":
        this.line(`${s.bold(e.stage)}: ${e.changes.length === 0 ? "no changes" : `would change:\n${e.changes.map((c) => `    ${c}`).join("\n")}`}`);
        return;
      case "stage-end":
        this.line(`${s.bold(e.stage)}: ${statusCell(s, e.status)} in ${e.seconds.toFixed(1)} s${e.summary !== "" ? ` — ${e.summary}` : ""}${e.error !== undefined ? `: ${e.error}` : ""}`);
        return;
      case "summary":
        this.stdout.write(`\n${summaryTable(s, e.stages)}\n`);
        for (const note of e.notes ?? []) this.stdout.write(`${s.bold(note)}\n`);
        if (e.message !== undefined) this.stderr.write(`\n${outcomeMessage(s, e.status, e.message)}\n`);
        return;
    }
  }

  finish(): Promise<void> {
    return Promise.resolve();
  }
}

interface Deferred {
  readonly done: Promise<void>;
  resolve(): void;
}

function deferred(): Deferred {
  let resolve = (): void => undefined;
  const done = new Promise<void>((r) => (resolve = r));
  return { done, resolve };
}

type TaskWrapper = ListrTaskWrapper<unknown, typeof DefaultRenderer, typeof SimpleRenderer>;

/**
 * A terminal: a listr2 task tree, one row per stage, with the latest step of each host under the
 * running stage; then the summary table. The tree's tasks follow the runner's events.
 */
export class TtyReporter implements Reporter {
  private readonly rows = new Map<StageName, { wrapper?: TaskWrapper; gate: Deferred; hosts: Map<string, string>; end?: PipelineEvent }>();
  private running: Promise<unknown> = Promise.resolve();
  private summary: PipelineEvent | undefined;

  constructor(
    private readonly stdout: Output,
    private readonly s: Style,
    private readonly stream: NodeJS.WriteStream,
  ) {}

  emit(e: PipelineEvent): void {
    if (e.event === "run-start") {
      for (const st of e.stages) this.rows.set(st.stage, { gate: deferred(), hosts: new Map() });
      const list = new Listr(
        e.stages
          .filter((st) => st.why !== "not-applicable")
          .map((st) => ({
            title: `${st.stage}  ${this.s.dim(st.title)}`,
            task: async (_ctx: unknown, wrapper: TaskWrapper): Promise<void> => {
              const row = this.rows.get(st.stage);
              if (row === undefined) return;
              row.wrapper = wrapper;
              await row.gate.done;
              const end = row.end;
              if (end?.event === "stage-skip") wrapper.skip(`${st.stage}: ${end.reason}`);
              else if (end?.event === "stage-end") {
                wrapper.title = `${st.stage}  ${end.summary !== "" ? end.summary : end.status} ${this.s.dim(`(${end.seconds.toFixed(1)} s)`)}`;
                if (end.status !== "ok") throw new Error(`${st.stage} ${end.status}${end.error !== undefined ? `: ${end.error}` : ""}`);
              } else if (end?.event === "plan") {
                wrapper.title = `${st.stage}  ${end.changes.length === 0 ? "no changes" : `${end.changes.length} change(s) planned`}`;
              } else wrapper.skip(`${st.stage}: not run`);
            },
            rendererOptions: { outputBar: Infinity, persistentOutput: false },
          })),
        { concurrent: false, exitOnError: true, registerSignalListeners: false, rendererOptions: { collapseSubtasks: false, collapseSkips: true, showErrorMessage: true, logger: new ListrLogger({ processOutput: new ProcessOutput(this.stream, this.stream) }) }, renderer: "default" },
      );
      this.running = list.run().catch(() => undefined);
      return;
    }
    if (e.event === "summary") {
      this.summary = e;
      for (const row of this.rows.values()) row.gate.resolve();
      return;
    }
    const row = this.rows.get(e.stage);
    if (row === undefined) return;
    switch (e.event) {
      case "stage-start":
        if (row.wrapper !== undefined) row.wrapper.output = e.reason;
        return;
      case "step":
      case "warning":
      case "skipped-step": {
        const text = e.event === "step" ? e.message : e.event === "warning" ? `warning: ${e.message}` : `skipped ${e.what} (${e.reason})`;
        row.hosts.set(e.event === "step" && e.host !== undefined ? e.host : "", text);
        if (row.wrapper !== undefined) row.wrapper.output = [...row.hosts].map(([h, t]) => (h === "" ? t : `${h}: ${t}`)).join("\n");
        return;
      }
      case "stage-skip":
      case "stage-end":
      case "plan":
        row.end = e;
        row.gate.resolve();
        return;
    }
  }

  async finish(): Promise<void> {
    for (const row of this.rows.values()) row.gate.resolve();
    await this.running;
    const e = this.summary;
    if (e?.event === "summary") {
      this.stdout.write(`\n${summaryTable(this.s, e.stages)}\n`);
      for (const note of e.notes ?? []) this.stdout.write(`${this.s.bold(note)}\n`);
      if (e.message !== undefined) this.stream.write(`\n${outcomeMessage(this.s, e.status, e.message)}\n`);
    }
  }
}

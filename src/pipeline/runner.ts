/**
 * Runs stages: picks the ones that apply to the lab's provider and were selected, skips those
 * whose inputs did not change since their last successful run (and whose systems still hold what
 * they made), resumes at the one that failed, records every step in the journal, and stops
 * cleanly on Ctrl-C. `destroy` walks the stages back.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { EdgelabError, EXIT_FAILED } from "../errors.js";
import { hashValue } from "../util/hash.js";
import type { PipelineEvent, Reporter, StageSummary } from "./events.js";
import { Journal } from "./journal.js";
import { acquireLock } from "./lock.js";
import { STAGE_ORDER, STAGE_PROVIDERS, type PipelineContext, type PipelineOptions, type Stage, type StageName, type StageOutcome, type StageRun } from "./stage.js";

/** Exit code after Ctrl-C / SIGTERM (128 + SIGINT), as shells report it. */
export const EXIT_INTERRUPTED = 130;

export interface Selection {
  readonly only?: readonly StageName[];
  readonly from?: StageName;
  readonly to?: StageName;
}

export interface RunRequest {
  readonly command: "up" | "destroy";
  /** The command the user ran when not `up`/`destroy` itself (e.g. "deploy"), for messages and the journal. */
  readonly invokedAs?: string;
  readonly selection: Selection;
  readonly dryRun: boolean;
  /** Run the selected stages even when the journal says nothing changed. */
  readonly force: boolean;
}

export interface RunResult {
  readonly status: "ok" | "failed" | "interrupted";
  readonly exitCode: number;
  readonly stages: readonly StageSummary[];
  readonly run: string;
  /** Every stage's outputs as they stand after the run (this run's, or the journal's). */
  readonly outputs: ReadonlyMap<StageName, Readonly<Record<string, string>>>;
}

export type PipelineBase = Omit<PipelineContext, "logDir" | "outputs" | "lastChanged" | "options"> & { readonly options: PipelineOptions };

export function newRunId(now = new Date()): string {
  return `${now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}-${process.pid}`;
}

function selected(name: StageName, sel: Selection): boolean {
  if (sel.only !== undefined) return sel.only.includes(name);
  const i = STAGE_ORDER.indexOf(name);
  if (sel.from !== undefined && i < STAGE_ORDER.indexOf(sel.from)) return false;
  if (sel.to !== undefined && i > STAGE_ORDER.indexOf(sel.to)) return false;
  return true;
}

function hashParts(parts: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(parts).sort()) out[key] = hashValue(parts[key]);
  return out;
}

function changedParts(before: Readonly<Record<string, string>>, now: Readonly<Record<string, string>>): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(now)]);
  return [...keys].filter((k) => before[k] !== now[k]).sort();
}

function describeError(err: unknown): { message: string; hint?: string; log?: string; exitCode: number } {
  if (err instanceof EdgelabError) {
    const log = (err as { logFile?: unknown }).logFile;
    return { message: err.message, ...(err.hint !== undefined ? { hint: err.hint } : {}), ...(typeof log === "string" ? { log } : {}), exitCode: err.exitCode };
  }
  return { message: err instanceof Error ? err.message : String(err), exitCode: EXIT_FAILED };
}

/** Signals that stop a run: the runner aborts the running stage and records it as interrupted. */
export interface Interrupts {
  readonly signal: AbortSignal;
  dispose(): void;
}

export function processInterrupts(onSignal: (name: NodeJS.Signals) => void): Interrupts {
  const controller = new AbortController();
  const handler = (name: NodeJS.Signals): void => {
    if (controller.signal.aborted) return;
    onSignal(name);
    controller.abort(new EdgelabError(`interrupted (${name})`));
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off("SIGINT", handler);
      process.off("SIGTERM", handler);
    },
  };
}

/** How long a stage may take to wind down after Ctrl-C before the run stops without it. */
export const INTERRUPT_GRACE_MS = 5000;

/**
 * The stage's promise, or — once the signal fires — whichever comes first of the stage
 * finishing and the grace period: a stage that honours the signal ends promptly with its
 * children stopped; one that does not is not waited for indefinitely.
 */
function untilInterrupted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      timer = setTimeout(() => reject(signal.reason instanceof Error ? signal.reason : new Error("interrupted")), INTERRUPT_GRACE_MS);
      timer.unref();
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        if (timer !== undefined) clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        if (timer !== undefined) clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

export async function runPipeline(base: PipelineBase, stages: readonly Stage[], request: RunRequest, reporter: Reporter, interrupts: Interrupts): Promise<RunResult> {
  const run = newRunId();
  const started = Date.now();
  const shown = request.invokedAs ?? request.command;
  const logDir = join(base.stateDir, "logs", run);
  const lock = request.dryRun ? undefined : acquireLock(base.stateDir, base.lab.name, `edgelab ${shown}`);
  const journal = Journal.open(base.stateDir, base.lab.name);
  const outputs = new Map<StageName, Readonly<Record<string, string>>>();
  const p: PipelineContext = {
    ...base,
    logDir,
    outputs,
    get lastChanged() {
      return journal.lastChanged();
    },
  };
  // Walking back, a stage may need what an earlier one recorded (destroy runs k3s before
  // provision, whose outputs say whether this is a rehearsal): every recorded output is known first.
  if (request.command === "destroy") {
    for (const name of STAGE_ORDER) {
      const prev = journal.stage(name);
      if (prev?.result === "ok") outputs.set(name, prev.outputs);
    }
  }
  const emit = (e: PipelineEvent): void => reporter.emit(e);
  const byName = new Map(stages.map((s) => [s.name, s]));
  const walk = request.command === "destroy" ? [...STAGE_ORDER].reverse() : [...STAGE_ORDER];
  const plan = walk.map((name) => {
    const stage = byName.get(name);
    const applies = STAGE_PROVIDERS[name].includes(base.lab.provider);
    const implemented = stage !== undefined && (stage.implementedFor === undefined || stage.implementedFor.includes(base.lab.provider));
    const picked = selected(name, request.selection) && (request.command === "up" || stage?.destroy !== undefined);
    return { name, stage: implemented ? stage : undefined, applies, picked };
  });
  const summaries: StageSummary[] = [];
  const notes: string[] = [];
  let status: RunResult["status"] = "ok";
  let exitCode = 0;
  let message: string | undefined;

  emit({
    event: "run-start",
    run,
    command: `edgelab ${shown}${request.dryRun ? " --dry-run" : ""}`,
    lab: base.lab.name,
    provider: base.lab.provider,
    stages: plan.map(({ name, stage, applies, picked }) => ({ stage: name, title: stage?.title ?? "not available in this version", runs: applies && picked && stage !== undefined, why: !applies ? "not-applicable" : stage === undefined ? "unavailable" : picked ? "selected" : "not-selected" })),
  });
  if (!request.dryRun) journal.startRun(run, `edgelab ${shown}`, new Date().toISOString());

  try {
    for (const { name, stage, applies, picked } of plan) {
      if (!applies) {
        emit({ event: "stage-skip", stage: name, status: "not-applicable", reason: `does not apply to provider ${base.lab.provider}` });
        summaries.push({ stage: name, status: "not-applicable", changes: 0, seconds: 0, summary: `not for provider ${base.lab.provider}` });
        continue;
      }
      if (stage === undefined || (stage.implementedFor !== undefined && !stage.implementedFor.includes(base.lab.provider))) {
        if (picked) {
          emit({ event: "stage-skip", stage: name, status: "unavailable", reason: "not available in this version of edgelab" });
          summaries.push({ stage: name, status: "unavailable", changes: 0, seconds: 0, summary: "not available in this version" });
        }
        continue;
      }
      if (!picked) {
        const prev = journal.stage(name);
        if (prev?.result === "ok") outputs.set(name, prev.outputs);
        emit({ event: "stage-skip", stage: name, status: "not-selected", reason: "not selected" });
        summaries.push({ stage: name, status: "not-selected", changes: 0, seconds: 0, summary: "" });
        continue;
      }
      if (interrupts.signal.aborted) {
        summaries.push({ stage: name, status: "not-selected", changes: 0, seconds: 0, summary: "not reached" });
        continue;
      }
      const t0 = Date.now();
      if (request.command === "destroy") {
        const outcome = await runStage(stage, "destroy", "destroy requested");
        if (outcome === undefined) break;
        continue;
      }
      const inputs = hashParts(await stage.inputs(p));
      const prev = journal.stage(name);
      let reason: string | undefined;
      if (request.force) reason = "--force";
      else if (request.selection.only !== undefined) reason = "selected with --only";
      else if (stage.always === true) reason = "runs every time";
      else if (prev === undefined) reason = "first run";
      else if (prev.result === "failed") reason = `resuming: it failed last time${prev.error !== undefined ? ` (${prev.error})` : ""}`;
      else if (prev.result !== "ok") reason = "resuming: it was interrupted last time";
      else {
        const changed = changedParts(prev.inputs, inputs);
        if (changed.length > 0) reason = `inputs changed: ${changed.join(", ")}`;
        else if (stage.verify !== undefined) reason = await stage.verify(p);
      }
      if (reason === undefined) {
        outputs.set(name, prev?.outputs ?? {});
        const since = prev?.endedAt !== undefined ? ` since ${prev.endedAt}` : "";
        emit({ event: "stage-skip", stage: name, status: "unchanged", reason: `no changes${since}` });
        summaries.push({ stage: name, status: "unchanged", changes: 0, seconds: (Date.now() - t0) / 1000, summary: `no changes${since}` });
        continue;
      }
      if (request.dryRun) {
        const changes = stage.plan !== undefined ? (await stage.plan(p)).changes : [`would run (${reason})`];
        emit({ event: "plan", stage: name, changes });
        summaries.push({ stage: name, status: "planned", changes: changes.length, seconds: (Date.now() - t0) / 1000, summary: reason });
        continue;
      }
      const outcome = await runStage(stage, "apply", reason, inputs);
      if (outcome === undefined) break;
    }
  } finally {
    const endedAt = new Date().toISOString();
    if (!request.dryRun) journal.endRun(run, status, endedAt);
    // A whole destroy forgets every stage; one from a stage on (destroy --keep-vms) forgets that
    // stage and every later one, so the next `up` runs them again (earlier ones stay recorded).
    if (request.command === "destroy" && status === "ok" && !request.dryRun && request.selection.only === undefined && request.selection.to === undefined) {
      const from = request.selection.from === undefined ? 0 : STAGE_ORDER.indexOf(request.selection.from);
      for (const name of STAGE_ORDER.slice(from)) journal.forget(name);
    }
    emit({ event: "summary", run, status, seconds: (Date.now() - started) / 1000, stages: summaries, ...(message !== undefined ? { message } : {}), ...(notes.length > 0 ? { notes } : {}) });
    await reporter.finish();
    lock?.release();
  }
  return { status, exitCode, stages: summaries, run, outputs };

  /** Runs one stage's apply or destroy; undefined when the run must stop (failure, interrupt). */
  async function runStage(stage: Stage, what: "apply" | "destroy", reason: string, inputs: Record<string, string> = {}): Promise<StageOutcome | undefined> {
    const name = stage.name;
    const t0 = Date.now();
    // The journal first: a run killed right after the event still shows this stage as started.
    if (what === "apply") journal.startStage(name, run, inputs, new Date(t0).toISOString());
    emit({ event: "stage-start", stage: name, reason });
    const stageRun: StageRun = {
      p,
      signal: interrupts.signal,
      step: (r) => emit({ event: "step", stage: name, ...(r.host !== undefined ? { host: r.host } : {}), message: r.message }),
      warn: (m) => emit({ event: "warning", stage: name, message: m }),
      logFile: (file) => {
        mkdirSync(logDir, { recursive: true });
        return join(logDir, `${name}-${file}`);
      },
    };
    let outcome: StageOutcome;
    try {
      const fn = what === "apply" ? stage.apply.bind(stage) : stage.destroy?.bind(stage);
      if (fn === undefined) throw new Error(`stage ${name} has no ${what}`);
      outcome = await untilInterrupted(fn(stageRun), interrupts.signal);
      if (interrupts.signal.aborted) throw interrupts.signal.reason;
    } catch (err) {
      const seconds = (Date.now() - t0) / 1000;
      const interrupted = interrupts.signal.aborted;
      const d = describeError(err);
      if (what === "apply") journal.endStage(name, interrupted ? "interrupted" : "failed", new Date().toISOString(), { error: d.message });
      emit({ event: "stage-end", stage: name, status: interrupted ? "interrupted" : "failed", changes: 0, summary: "", seconds, error: d.message, ...(d.hint !== undefined ? { hint: d.hint } : {}), ...(d.log !== undefined ? { log: d.log } : {}) });
      summaries.push({ stage: name, status: interrupted ? "interrupted" : "failed", changes: 0, seconds, summary: d.message });
      const again = `edgelab ${shown}`;
      if (interrupted) {
        status = "interrupted";
        exitCode = EXIT_INTERRUPTED;
        message = `Interrupted during ${name}; the journal is consistent. Run \`${again}\` to resume${what === "apply" ? ` at ${name}` : ""}.`;
      } else {
        status = "failed";
        exitCode = d.exitCode === 0 ? EXIT_FAILED : d.exitCode;
        message = `${shown} failed at stage ${name}: ${d.message}${d.hint !== undefined ? `\n  hint: ${d.hint}` : ""}${d.log !== undefined ? `\n  full log: ${d.log}` : ""}\nFix it and run \`${again}\` again${what === "apply" ? `: it resumes at ${name}` : ""}.`;
      }
      return undefined;
    }
    const seconds = (Date.now() - t0) / 1000;
    for (const s of outcome.skipped ?? []) emit({ event: "skipped-step", stage: name, what: s.what, reason: s.reason });
    notes.push(...(outcome.notes ?? []));
    const failed = outcome.failure !== undefined;
    if (what === "apply") {
      journal.endStage(name, failed ? "failed" : "ok", new Date().toISOString(), { changes: outcome.changes, summary: outcome.summary, ...(outcome.outputs !== undefined ? { outputs: outcome.outputs } : {}), ...(outcome.created !== undefined ? { created: outcome.created } : {}), ...(failed ? { error: outcome.failure } : {}) });
      outputs.set(name, outcome.outputs ?? {});
    } else if (!failed) journal.forget(name);
    emit({ event: "stage-end", stage: name, status: failed ? "failed" : "ok", changes: outcome.changes, summary: outcome.summary, seconds, ...(failed ? { error: outcome.failure } : {}), ...(outcome.details !== undefined ? { details: outcome.details } : {}) });
    summaries.push({ stage: name, status: failed ? "failed" : "ok", changes: outcome.changes, seconds, summary: outcome.summary });
    if (failed) {
      status = "failed";
      exitCode = EXIT_FAILED;
      message = `${shown} failed at stage ${name}: ${outcome.failure ?? ""}`;
      return undefined;
    }
    return outcome;
  }
}

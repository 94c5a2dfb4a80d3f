/**
 * The pipeline's journal: per lab, what each stage last did — the hashes of its inputs, when it
 * started and ended, how it ended, what it changed and created. `up` reads it to skip stages
 * whose inputs did not change and to resume at the one that failed; `destroy` reads what was
 * created. Kept at `.edgelab/journal/<lab>.json`, written atomically after every change of state
 * so an interrupted run leaves it consistent.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { EdgelabError, EXIT_USAGE } from "../errors.js";
import { writeFileAtomic } from "./artifacts.js";
import { STAGE_ORDER, type StageName } from "./stage.js";

const StageResult = z.enum(["running", "ok", "failed", "interrupted"]);
export type StageResult = z.infer<typeof StageResult>;

const StageEntry = z.object({
  result: StageResult,
  /** Hash of every input part, by part name. */
  inputs: z.record(z.string(), z.string()),
  startedAt: z.string(),
  endedAt: z.string().optional(),
  changes: z.number().int().nonnegative().default(0),
  summary: z.string().default(""),
  /** When this stage last changed something (ISO time). */
  changedAt: z.string().optional(),
  outputs: z.record(z.string(), z.string()).default({}),
  created: z.array(z.string()).default([]),
  error: z.string().optional(),
  run: z.string(),
});
export type StageEntry = z.infer<typeof StageEntry>;

const RunEntry = z.object({
  id: z.string(),
  command: z.string(),
  startedAt: z.string(),
  endedAt: z.string().optional(),
  result: z.enum(["running", "ok", "failed", "interrupted"]),
});

const JournalFile = z.object({
  version: z.literal(1),
  lab: z.string(),
  stages: z.partialRecord(z.enum(STAGE_ORDER), StageEntry).default({}),
  runs: z.array(RunEntry).default([]),
});
type JournalData = z.infer<typeof JournalFile>;

/** How many runs the journal remembers (their logs are under .edgelab/logs/<run>/). */
const KEPT_RUNS = 20;

export function journalPath(stateDir: string, lab: string): string {
  return join(stateDir, "journal", `${lab}.json`);
}

export class Journal {
  private constructor(
    readonly file: string,
    private data: JournalData,
  ) {}

  static open(stateDir: string, lab: string): Journal {
    const file = journalPath(stateDir, lab);
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return new Journal(file, { version: 1, lab, stages: {}, runs: [] });
      throw new EdgelabError(`cannot read the journal ${file}: ${(err as Error).message}`, { exitCode: EXIT_USAGE, cause: err });
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new EdgelabError(`the journal ${file} is not valid JSON`, { hint: "It is edgelab's record of what each stage did; delete it to start afresh (every stage then runs once and finds what is already in place).", exitCode: EXIT_USAGE, cause: err });
    }
    const parsed = JournalFile.safeParse(raw);
    if (!parsed.success) {
      throw new EdgelabError(`the journal ${file} does not have the expected shape: ${parsed.error.issues[0]?.message ?? "invalid"}`, { hint: "Delete it to start afresh (every stage then runs once and finds what is already in place).", exitCode: EXIT_USAGE });
    }
    return new Journal(file, parsed.data);
  }

  stage(name: StageName): StageEntry | undefined {
    return this.data.stages[name];
  }

  /** The outputs each stage recorded when it last succeeded. */
  outputs(): Map<StageName, Readonly<Record<string, string>>> {
    const out = new Map<StageName, Readonly<Record<string, string>>>();
    for (const name of STAGE_ORDER) {
      const entry = this.data.stages[name];
      if (entry?.result === "ok") out.set(name, entry.outputs);
    }
    return out;
  }

  /** The latest change time of each stage that has one. */
  lastChanged(): Map<StageName, string> {
    const out = new Map<StageName, string>();
    for (const name of STAGE_ORDER) {
      const at = this.data.stages[name]?.changedAt;
      if (at !== undefined) out.set(name, at);
    }
    return out;
  }

  runs(): readonly z.infer<typeof RunEntry>[] {
    return this.data.runs;
  }

  startRun(id: string, command: string, at: string): void {
    this.data.runs = [...this.data.runs, { id, command, startedAt: at, result: "running" as const }].slice(-KEPT_RUNS);
    this.save();
  }

  endRun(id: string, result: "ok" | "failed" | "interrupted", at: string): void {
    this.data.runs = this.data.runs.map((r) => (r.id === id ? { ...r, result, endedAt: at } : r));
    this.save();
  }

  startStage(name: StageName, run: string, inputs: Record<string, string>, at: string): void {
    const previous = this.data.stages[name];
    this.data.stages[name] = {
      result: "running",
      inputs,
      startedAt: at,
      changes: 0,
      summary: "",
      changedAt: previous?.changedAt,
      outputs: previous?.outputs ?? {},
      created: previous?.created ?? [],
      run,
    };
    this.save();
  }

  endStage(name: StageName, result: Exclude<StageResult, "running">, at: string, outcome: { changes?: number; summary?: string; outputs?: Readonly<Record<string, string>>; created?: readonly string[]; error?: string }): void {
    const entry = this.data.stages[name];
    if (entry === undefined) throw new Error(`journal: stage ${name} ended without starting`);
    const changes = outcome.changes ?? 0;
    const created = [...new Set([...entry.created, ...(outcome.created ?? [])])];
    this.data.stages[name] = {
      ...entry,
      result,
      endedAt: at,
      changes,
      summary: outcome.summary ?? entry.summary,
      changedAt: changes > 0 ? at : entry.changedAt,
      outputs: outcome.outputs !== undefined ? { ...outcome.outputs } : entry.outputs,
      created,
      error: outcome.error,
    };
    this.save();
  }

  /** After `destroy`: the stage's record is gone, so the next `up` runs it again. */
  forget(name: StageName): void {
    this.data.stages = Object.fromEntries(Object.entries(this.data.stages).filter(([stage]) => stage !== name));
    this.save();
  }

  private save(): void {
    writeFileAtomic(this.file, `${JSON.stringify(this.data, null, 2)}\n`, 0o644);
  }
}

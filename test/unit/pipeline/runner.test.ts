/**
 * The stage runner with stages made for the test: selection, skipping by input hashes, resume
 * after failure and interruption, the journal on disk, destroy walking back. Real files in a
 * temp directory; the end-to-end runs on the local lab are in test/integration/pipeline.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { PipelineEvent, Reporter } from "../../../src/pipeline/events.js";
import { Journal } from "../../../src/pipeline/journal.js";
import { acquireLock } from "../../../src/pipeline/lock.js";
import { EXIT_INTERRUPTED, runPipeline, type Interrupts, type PipelineBase, type RunRequest } from "../../../src/pipeline/runner.js";
import type { Stage, StageName, StageOutcome, StageRun } from "../../../src/pipeline/stage.js";
import type { Lab } from "../../../src/model/lab.js";
import type { Context } from "../../../src/context.js";

class Recorder implements Reporter {
  readonly events: PipelineEvent[] = [];
  emit(e: PipelineEvent): void {
    this.events.push(e);
  }
  finish(): Promise<void> {
    return Promise.resolve();
  }
  started(): StageName[] {
    return this.events.flatMap((e) => (e.event === "stage-start" ? [e.stage] : []));
  }
  reason(stage: StageName): string | undefined {
    for (const e of this.events) if ((e.event === "stage-start" || e.event === "stage-skip") && e.stage === stage) return e.reason;
    return undefined;
  }
}

const noInterrupts = (): Interrupts => ({ signal: new AbortController().signal, dispose: () => undefined });

let dir: string;
let inputs: Record<string, Record<string, unknown>>;
let calls: string[];
let failing: Set<string>;

function stage(name: StageName, extra: Partial<Stage> = {}): Stage {
  return {
    name,
    title: `the ${name} stage`,
    inputs: () => inputs[name] ?? {},
    apply: (run: StageRun): Promise<StageOutcome> => {
      calls.push(`apply ${name}`);
      if (failing.has(name)) return Promise.reject(new Error(`${name} broke`));
      return Promise.resolve({ changes: 1, summary: `${name} done`, outputs: { seen: JSON.stringify(Object.fromEntries(run.p.outputs)) } });
    },
    destroy: (): Promise<StageOutcome> => {
      calls.push(`destroy ${name}`);
      return Promise.resolve({ changes: 1, summary: `${name} undone` });
    },
    ...extra,
  };
}

function base(provider: "local" | "proxmox" = "local"): PipelineBase {
  const ctx: Context = { cwd: dir, env: {}, stdout: { write: () => undefined, isTTY: false }, stderr: { write: () => undefined, isTTY: false }, options: { inventory: undefined, json: false, verbose: false, color: false } };
  return {
    ctx,
    location: { path: join(dir, "inventory.yml"), source: "-i", display: "inventory.yml" },
    lab: { name: "t", provider } as unknown as Lab,
    inventoryText: "",
    warnings: [],
    stateDir: join(dir, ".edgelab"),
    options: { timeoutSeconds: 10, waitSsh: false },
  };
}

const up: RunRequest = { command: "up", selection: {}, dryRun: false, force: false };

async function run(stages: Stage[], request: RunRequest = up, provider: "local" | "proxmox" = "local"): Promise<{ rec: Recorder; code: number }> {
  const rec = new Recorder();
  const result = await runPipeline(base(provider), stages, request, rec, noInterrupts());
  return { rec, code: result.exitCode };
}

const localStages = (): Stage[] => [stage("validate"), stage("render"), stage("local"), stage("smoke")];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "edgelab-runner-"));
  inputs = { render: { inventory: "v1" }, local: { nginx: "n1" }, smoke: { streams: ["live"] } };
  calls = [];
  failing = new Set();
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("stage runner", () => {
  it("runs the stages that apply to the provider, in order, and lists the others as not applicable", async () => {
    const { rec, code } = await run([stage("smoke"), stage("local"), stage("render"), stage("provision")]);
    expect(code).toBe(0);
    expect(rec.started()).toEqual(["render", "local", "smoke"]);
    const skips = rec.events.flatMap((e) => (e.event === "stage-skip" && e.status === "not-applicable" ? [e.stage] : []));
    expect(skips).toEqual(["images", "provision", "prepare", "k3s", "cilium", "deploy", "dns"]);
  });

  it("skips every stage on a second run when no input changed", async () => {
    await run(localStages());
    calls = [];
    const { rec } = await run(localStages());
    expect(calls).toEqual([]);
    expect(rec.reason("local")).toMatch(/^no changes since /);
  });

  it("re-runs exactly the stages whose inputs changed, and says which input", async () => {
    await run(localStages());
    calls = [];
    inputs["local"] = { nginx: "n2" };
    const { rec } = await run(localStages());
    expect(calls).toEqual(["apply local"]);
    expect(rec.reason("local")).toBe("inputs changed: nginx");
  });

  it("re-runs a stage whose verify finds its work gone", async () => {
    await run(localStages());
    calls = [];
    const gone = stage("local", { verify: () => Promise.resolve("2 processes are not running") });
    const { rec } = await run([stage("render"), gone]);
    expect(calls).toEqual(["apply local"]);
    expect(rec.reason("local")).toBe("2 processes are not running");
  });

  it("stops at a failed stage, records it, and resumes there on the next run", async () => {
    failing.add("local");
    const first = await run(localStages());
    expect(first.code).toBe(1);
    expect(calls).toEqual(["apply validate", "apply render", "apply local"]);
    const journal = JSON.parse(readFileSync(join(dir, ".edgelab", "journal", "t.json"), "utf8")) as { stages: Record<string, { result: string; error?: string }> };
    expect(journal.stages["local"]).toMatchObject({ result: "failed", error: "local broke" });
    expect(journal.stages["smoke"]).toBeUndefined();
    failing.clear();
    calls = [];
    const second = await run(localStages());
    expect(second.code).toBe(0);
    expect(calls).toEqual(["apply local", "apply smoke"]);
    expect(second.rec.reason("local")).toBe("resuming: it failed last time (local broke)");
  });

  it("treats a stage left running (the process was killed) as interrupted and runs it again", async () => {
    await run(localStages());
    const journal = Journal.open(join(dir, ".edgelab"), "t");
    journal.startStage("local", "killed-run", { nginx: "whatever" }, new Date().toISOString());
    calls = [];
    const { rec } = await run(localStages());
    expect(calls).toEqual(["apply local"]);
    expect(rec.reason("local")).toBe("resuming: it was interrupted last time");
  });

  it("an interrupt during a stage records it as interrupted, runs nothing after it and exits 130", async () => {
    const controller = new AbortController();
    const slow = stage("local", {
      apply: (r) =>
        new Promise((_resolve, reject) => {
          r.signal.addEventListener("abort", () => reject(new Error("stopped")));
          controller.abort(new Error("interrupted (SIGINT)"));
        }),
    });
    const rec = new Recorder();
    const result = await runPipeline(base(), [stage("render"), slow, stage("smoke")], up, rec, { signal: controller.signal, dispose: () => undefined });
    expect(result.exitCode).toBe(EXIT_INTERRUPTED);
    expect(Journal.open(join(dir, ".edgelab"), "t").stage("local")?.result).toBe("interrupted");
    expect(calls).toEqual(["apply render"]);
    const summary = rec.events.find((e) => e.event === "summary");
    expect(summary?.event === "summary" ? summary.message : "").toContain("Run `edgelab up` to resume at local");
  });

  it("--from/--to select a range; earlier stages' outputs come from the journal", async () => {
    await run(localStages());
    calls = [];
    const { rec } = await run(localStages(), { ...up, selection: { from: "local", to: "local" }, force: true });
    expect(calls).toEqual(["apply local"]);
    const seen = Journal.open(join(dir, ".edgelab"), "t").stage("local")?.outputs["seen"] ?? "";
    expect(JSON.parse(seen)).toHaveProperty("render");
    expect(rec.events.some((e) => e.event === "stage-skip" && e.stage === "smoke" && e.status === "not-selected")).toBe(true);
  });

  it("--only runs the named stage even when nothing changed", async () => {
    await run(localStages());
    calls = [];
    const { rec } = await run(localStages(), { ...up, selection: { only: ["smoke"] } });
    expect(calls).toEqual(["apply smoke"]);
    expect(rec.reason("smoke")).toBe("selected with --only");
  });

  it("--dry-run plans and changes nothing, not even the journal", async () => {
    const planned = stage("render", { plan: () => Promise.resolve({ changes: ["+ nginx/edge.conf"] }) });
    const { rec } = await run([planned, stage("local")], { ...up, dryRun: true });
    expect(calls).toEqual([]);
    expect(rec.events.filter((e) => e.event === "plan").map((e) => (e.event === "plan" ? e.changes : []))).toEqual([["+ nginx/edge.conf"], ["would run (first run)"]]);
    expect(() => readFileSync(join(dir, ".edgelab", "journal", "t.json"))).toThrow();
  });

  it("a stage the provider needs but this version lacks is reported as unavailable, not run", async () => {
    const { rec } = await run([stage("render"), stage("provision")], up, "proxmox");
    expect(rec.events.some((e) => e.event === "stage-skip" && e.stage === "k3s" && e.status === "unavailable")).toBe(true);
  });

  it("destroy walks the stages back and the next up runs them all again", async () => {
    await run(localStages());
    calls = [];
    const { code } = await run(localStages(), { ...up, command: "destroy" });
    expect(code).toBe(0);
    expect(calls).toEqual(["destroy smoke", "destroy local", "destroy render", "destroy validate"]);
    calls = [];
    await run(localStages());
    expect(calls).toEqual(["apply validate", "apply render", "apply local", "apply smoke"]);
  });
});

describe("lab lock", () => {
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "edgelab-lock-"));
  });

  it("refuses a second holder while the first one's process lives, naming its pid", () => {
    const stateDir = join(dir, ".edgelab");
    acquireLock(stateDir, "t", "edgelab up");
    // The lock names this process; a second run (another process) sees it alive.
    writeFileSync(join(stateDir, "journal", "t.lock"), `${process.ppid} edgelab up\n`);
    expect(() => acquireLock(stateDir, "t", "edgelab up")).toThrow(new RegExp(`pid ${process.ppid}`));
  });

  it("takes over a lock whose process is gone, and says whose it was", () => {
    const stateDir = join(dir, ".edgelab");
    acquireLock(stateDir, "t", "edgelab up").release();
    writeFileSync(join(stateDir, "journal", "t.lock"), "999999999 edgelab up\n");
    const lock = acquireLock(stateDir, "t", "edgelab up");
    expect(lock.staleFrom).toBe(999999999);
    lock.release();
  });
});

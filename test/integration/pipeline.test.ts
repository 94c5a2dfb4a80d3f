/**
 * `edgelab up` as one pipeline, run as users run it (the built binary, its own process, real
 * signals) on a local lab of its own: a second up is a no-op, a changed edge setting re-runs
 * exactly the stages that consume it, a run killed mid-stage or stopped with Ctrl-C resumes at
 * that stage, and two ups on one lab at once are refused.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testLab, type TestLab } from "../helpers/lab.js";

const BIN = join(import.meta.dirname, "..", "..", "bin", "edgelab.cjs");

interface Event {
  event: string;
  stage?: string;
  status?: string;
  reason?: string;
  message?: string;
}

interface Started {
  child: ChildProcess;
  events: Event[];
  stderr: () => string;
  /** Resolves with the first event that matches. */
  waitFor(match: (e: Event) => boolean, timeoutMs?: number): Promise<Event>;
  done: Promise<number>;
}

function start(lab: TestLab, args: string[]): Started {
  const child = spawn(process.execPath, [BIN, "-i", lab.inventory, "--json", ...args], { cwd: lab.dir, env: { ...process.env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] });
  const events: Event[] = [];
  let buffer = "";
  let err = "";
  const waiters: { match: (e: Event) => boolean; resolve: (e: Event) => void }[] = [];
  child.stdout?.on("data", (chunk: Buffer) => {
    buffer += chunk.toString();
    for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.trim() === "") continue;
      const e = JSON.parse(line) as Event;
      events.push(e);
      for (const w of waiters.filter((x) => x.match(e))) w.resolve(e);
    }
  });
  child.stderr?.on("data", (chunk: Buffer) => (err += chunk.toString()));
  const done = new Promise<number>((resolve) => child.on("exit", (code, signal) => resolve(code ?? (signal === "SIGKILL" ? 137 : 1))));
  return {
    child,
    events,
    stderr: () => err,
    done,
    waitFor: (match, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const hit = events.find(match);
        if (hit !== undefined) return resolve(hit);
        const timer = setTimeout(() => reject(new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(events.map((e) => `${e.event}:${e.stage ?? ""}`))}\n${err}`)), timeoutMs);
        waiters.push({ match, resolve: (e) => (clearTimeout(timer), resolve(e)) });
      }),
  };
}

async function up(lab: TestLab, args: string[] = []): Promise<{ code: number; events: Event[]; stderr: string; ran: string[]; reasons: Record<string, string> }> {
  const run = start(lab, ["up", ...args]);
  const code = await run.done;
  const ran = run.events.filter((e) => e.event === "stage-start").map((e) => e.stage ?? "");
  const reasons = Object.fromEntries(run.events.filter((e) => e.event === "stage-start" || e.event === "stage-skip").map((e) => [e.stage ?? "", e.reason ?? ""]));
  return { code, events: run.events, stderr: run.stderr(), ran, reasons };
}

function journal(lab: TestLab): { stages: Record<string, { result: string }> } {
  return JSON.parse(readFileSync(join(lab.dir, ".edgelab", "journal", "test71.json"), "utf8")) as { stages: Record<string, { result: string }> };
}

let lab: TestLab;

describe("edgelab up: the stage pipeline on a local lab", () => {
  beforeAll(() => {
    lab = testLab({ net: 71, edges: 1, portBase: 23000, streams: [{ name: "live" }] });
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  it("a run killed in the middle of a stage resumes at that stage, earlier stages untouched", async () => {
    const first = start(lab, ["up", "--to", "local"]);
    await first.waitFor((e) => e.event === "stage-start" && e.stage === "local");
    first.child.kill("SIGKILL");
    expect(await first.done).toBe(137);
    expect(journal(lab).stages["local"]?.result).toBe("running");
    const second = await up(lab, ["--to", "local"]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.ran).toEqual(["validate", "local"]);
    expect(second.reasons["local"]).toBe("resuming: it was interrupted last time");
    expect(second.reasons["render"]).toMatch(/^no changes since/);
  }, 90_000);

  it("a second up with nothing changed runs no stage but validate, in a fraction of the first's time", async () => {
    const t0 = Date.now();
    const again = await up(lab);
    const first = Date.now() - t0; // the first complete run: smoke has not passed yet
    expect(again.code, again.stderr).toBe(0);
    expect(again.ran).toEqual(["validate", "smoke"]);
    const t1 = Date.now();
    const noop = await up(lab);
    const second = Date.now() - t1;
    expect(noop.code).toBe(0);
    expect(noop.ran).toEqual(["validate"]);
    for (const stage of ["render", "local", "smoke"]) expect(noop.reasons[stage]).toMatch(/^no changes since/);
    expect(second).toBeLessThan(first / 4);
  }, 90_000);

  it("a changed edge setting re-runs render and the processes that consume it, and says why", async () => {
    const inventory = parse(readFileSync(lab.inventory, "utf8")) as { all: { vars: Record<string, unknown> } };
    inventory.all.vars["edge"] = { cache_mb: 320 };
    writeFileSync(lab.inventory, stringify(inventory));
    const result = await up(lab, ["--to", "local"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.ran).toEqual(["validate", "render", "local"]);
    expect(result.reasons["render"]).toBe("inputs changed: inventory");
    expect(result.reasons["local"]).toMatch(/^inputs changed: .*nginx/);
    const local = result.events.find((e) => e.event === "stage-end" && e.stage === "local") as { summary?: string } | undefined;
    expect(local?.summary).toBe("reloaded with the new configuration");
  }, 90_000);

  it("Ctrl-C during a stage stops it, keeps the journal consistent, exits 130 and says how to resume", async () => {
    await up(lab, ["--only", "local"]).then((r) => expect(r.code).toBe(0));
    const run = start(lab, ["up", "--only", "smoke"]);
    await run.waitFor((e) => e.event === "stage-start" && e.stage === "smoke");
    run.child.kill("SIGINT");
    const code = await run.done;
    expect(code).toBe(130);
    expect(journal(lab).stages["smoke"]?.result).toBe("interrupted");
    const summary = run.events.find((e) => e.event === "summary") as { message?: string; status?: string } | undefined;
    expect(summary?.status).toBe("interrupted");
    expect(summary?.message).toContain("Run `edgelab up` to resume at smoke");
    const resumed = await up(lab);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.reasons["smoke"]).toBe("resuming: it was interrupted last time");
  }, 90_000);

  it("a second up on the same lab while one runs is refused with the first one's pid", async () => {
    const first = start(lab, ["up", "--only", "smoke"]);
    await first.waitFor((e) => e.event === "stage-start" && e.stage === "smoke");
    const second = spawn(process.execPath, [BIN, "-i", lab.inventory, "up"], { cwd: lab.dir, stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    second.stderr.on("data", (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => second.on("exit", resolve));
    expect(code).toBe(1);
    expect(err).toContain(`(pid ${first.child.pid ?? -1}`);
    expect(await first.done).toBe(0);
  }, 90_000);

  it("refuses destroy --keep-vms for a local lab, which has no VMs, and changes nothing", () => {
    const r = spawnSync(process.execPath, [BIN, "-i", lab.inventory, "destroy", "--keep-vms", "--yes"], { cwd: lab.dir, encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--keep-vms is for provider proxmox; this inventory's provider is local/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(lab.state().status).not.toBe("stopped");
  });

  it("destroy shows what it would stop, refuses without --yes off a terminal, then stops the lab and clears the journal", () => {
    const dry = spawnSync(process.execPath, [BIN, "-i", lab.inventory, "destroy", "--dry-run"], { cwd: lab.dir, encoding: "utf8" });
    expect(dry.status).toBe(0);
    expect(dry.stdout).toMatch(/- local: stop the local lab's \d+ processes/);
    const refused = spawnSync(process.execPath, [BIN, "-i", lab.inventory, "destroy"], { cwd: lab.dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/refusing to destroy without confirmation/);
    expect(lab.state().status).not.toBe("stopped");
    const done = spawnSync(process.execPath, [BIN, "-i", lab.inventory, "--json", "destroy", "--yes"], { cwd: lab.dir, encoding: "utf8" });
    expect(done.status, done.stderr).toBe(0);
    expect(lab.state().processes.every((p) => p.pid === undefined)).toBe(true);
    expect(journal(lab).stages).toEqual({});
  }, 90_000);

  it("rebuild --yes brings the lab back with every stage run", () => {
    const rebuilt = spawnSync(process.execPath, [BIN, "-i", lab.inventory, "--json", "rebuild", "--yes"], { cwd: lab.dir, encoding: "utf8" });
    expect(rebuilt.status, rebuilt.stderr).toBe(0);
    const lines = rebuilt.stdout.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as Event);
    const runs = lines.filter((e) => e.event === "run-start").length;
    const upRun = lines.findIndex((e) => e.event === "summary");
    expect(runs).toBe(2);
    const started = lines.slice(upRun + 1).filter((e) => e.event === "stage-start").map((e) => e.stage);
    expect(started).toEqual(["validate", "render", "local", "smoke"]);
    expect(Object.values(journal(lab).stages).map((st) => st.result)).toEqual(["ok", "ok", "ok", "ok"]);
  }, 120_000);
});

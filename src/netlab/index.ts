/**
 * The network lab's entry points: the seed's routing half on one machine (root), from the same
 * inventory and the same rendered router and Cilium configurations. The `up` pipeline calls
 * these; `edgelab netlab up|down|status|check` calls them directly.
 */
import { dirname } from "node:path";
import type { Lab } from "../model/lab.js";
import { defaultEnvironment } from "../render/environment.js";
import type { CheckResult } from "../smoke/run.js";
import { waitConverged } from "./checks.js";
import { localExecutor, type NetExecutor } from "./exec.js";
import { netlabPlan, NetlabPlanError, type NetlabPlan } from "./plan.js";
import { bringDown, bringUp, destroyTopology, listLabNamespaces, netlabDirs, readState, requireRoot, stateFile, writeState, type NetlabDirs, type NetlabState } from "./runner.js";
import { startSites, waitLive } from "./sites.js";
import { netnsSmoke } from "./smoke.js";
import { rmSync } from "node:fs";

export type { NetlabPlan } from "./plan.js";
export { netlabDirs, type NetlabDirs } from "./runner.js";

export interface NetlabTarget {
  readonly lab: Lab;
  /** Absolute inventory path: names the lab's namespaces (el-<hash>-*) and places .edgelab/netlab/. */
  readonly inventoryPath: string;
}

export interface NetlabUpOptions {
  /** Also run the data plane in the namespaces (edgelab up --network netns): the environment for its secrets. */
  readonly sites?: { readonly env: Readonly<Record<string, string | undefined>> } | undefined;
}

export interface NetlabUpResult {
  readonly plan: NetlabPlan;
  readonly state: NetlabState;
  /** From the first command to every check passing. */
  readonly seconds: number;
  /** From the last speaker started to every check passing. */
  readonly convergenceSeconds: number;
  readonly checks: readonly CheckResult[];
}

export function planFor(target: NetlabTarget): { plan: NetlabPlan; dirs: NetlabDirs } {
  return { plan: netlabPlan(target.lab, target.inventoryPath), dirs: netlabDirs(dirname(target.inventoryPath)) };
}

export async function netlabUp(target: NetlabTarget, progress: (line: string) => void, exec: NetExecutor = localExecutor(), timeoutMs = 60_000, options: NetlabUpOptions = {}): Promise<NetlabUpResult> {
  const { plan, dirs } = planFor(target);
  const started = Date.now();
  const up = await bringUp(exec, target.lab, plan, dirs, defaultEnvironment(), progress);
  const sites = options.sites;
  if (sites === undefined) {
    const converged = await waitConverged(exec, plan, dirs, timeoutMs);
    progress(converged.ok ? `converged in ${converged.seconds.toFixed(1)} s` : `not converged after ${converged.seconds.toFixed(0)} s`);
    return { plan, state: up.state, seconds: (Date.now() - started) / 1000, convergenceSeconds: converged.seconds, checks: converged.results };
  }
  const state: NetlabState = { ...up.state, sites: true };
  writeState(dirs, state);
  try {
    // The processes start while BGP converges (they need no route to start; viewers do).
    const sitesStarted = Date.now();
    await startSites(exec, { lab: target.lab, inventoryPath: target.inventoryPath, env: sites.env }, plan, dirs, progress, (p) => {
      state.pids.push(p);
      writeState(dirs, state);
    }, timeoutMs);
    const converged = await waitConverged(exec, plan, dirs, timeoutMs);
    // From the last speaker started, as without the data plane.
    const convergenceSeconds = (Date.now() - sitesStarted) / 1000;
    progress(converged.ok ? `converged in ${convergenceSeconds.toFixed(1)} s` : `not converged after ${convergenceSeconds.toFixed(0)} s`);
    if (converged.ok) await waitLive(exec, target.lab, plan, timeoutMs, progress);
    return { plan, state, seconds: (Date.now() - started) / 1000, convergenceSeconds, checks: converged.results };
  } catch (error) {
    // Nothing half-made stays behind.
    await destroyTopology(exec, plan.prefix).catch((cleanup: unknown) => progress(`removing the half-made lab failed too: ${cleanup instanceof Error ? cleanup.message : String(cleanup)}`));
    rmSync(stateFile(dirs), { force: true });
    throw error;
  }
}

export async function netlabDown(target: NetlabTarget, exec: NetExecutor = localExecutor()): Promise<string[]> {
  const { plan, dirs } = planFor(target);
  return bringDown(exec, plan.prefix, dirs);
}

export interface NetlabStatus {
  readonly plan: NetlabPlan;
  readonly running: readonly string[];
  readonly state: NetlabState | undefined;
}

export async function netlabStatus(target: NetlabTarget, exec: NetExecutor = localExecutor()): Promise<NetlabStatus> {
  const { plan, dirs } = planFor(target);
  requireRoot();
  return { plan, running: await listLabNamespaces(exec, plan.prefix), state: readState(dirs) };
}

export async function netlabCheck(target: NetlabTarget, exec: NetExecutor = localExecutor(), timeoutMs = 0): Promise<CheckResult[]> {
  const { plan, dirs } = planFor(target);
  requireRoot();
  return (await waitConverged(exec, plan, dirs, timeoutMs)).results;
}

/* ------------------------------------------------------------------ the lab's data plane in the namespaces */

export interface NetlabProcessReport {
  readonly name: string;
  readonly ns: string;
  readonly pid: number;
  readonly alive: boolean;
}

export interface NetlabLabStatus {
  /** The lab's namespaces exist and its state file says so. */
  readonly running: boolean;
  /** The data plane runs in them (edgelab up --network netns). */
  readonly sites: boolean;
  readonly plan: NetlabPlan;
  readonly namespaces: readonly string[];
  readonly processes: readonly NetlabProcessReport[];
  readonly startedAt: string | undefined;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** What runs of this inventory's network lab (no root needed: namespaces are listed, the state file read). */
export async function netlabLabStatus(target: NetlabTarget, exec: NetExecutor = localExecutor()): Promise<NetlabLabStatus> {
  const { plan, dirs } = planFor(target);
  const state = readState(dirs);
  const namespaces = await listLabNamespaces(exec, plan.prefix);
  const processes = (state?.pids ?? []).map((p) => ({ ...p, alive: pidAlive(p.pid) }));
  return { running: state !== undefined && namespaces.length > 0, sites: state?.sites === true, plan, namespaces, processes, startedAt: state?.startedAt };
}

/** Is anything of this inventory's network lab there (its state file or any of its namespaces)? */
export async function netlabPresent(target: NetlabTarget, exec: NetExecutor = localExecutor()): Promise<boolean> {
  let planned: ReturnType<typeof planFor>;
  try {
    planned = planFor(target);
  } catch (error) {
    // An inventory the network lab cannot run (no DC router, ...) never had one.
    if (error instanceof NetlabPlanError) return false;
    throw error;
  }
  const { plan, dirs } = planned;
  return readState(dirs) !== undefined || (await listLabNamespaces(exec, plan.prefix)).length > 0;
}

/** edgelab smoke on a lab whose data plane runs in the namespaces: BGP checks, then HLS through the service address per region. */
export async function netlabSmoke(target: NetlabTarget, progress: (line: string) => void, exec: NetExecutor = localExecutor()): Promise<CheckResult[]> {
  const { plan, dirs } = planFor(target);
  requireRoot();
  return netnsSmoke(exec, target.lab, target.inventoryPath, plan, dirs, progress);
}

/** Does this inventory's lab run in the network lab's namespaces (edgelab up --network netns)? False for an inventory without BGP. */
export async function netlabSitesRunning(target: NetlabTarget, exec: NetExecutor = localExecutor()): Promise<boolean> {
  if (target.lab.cilium.bgp === undefined || target.lab.cilium.lbPool.length === 0) return false;
  return (await netlabPresent(target, exec)) && (await netlabLabStatus(target, exec)).sites;
}

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
import { netlabPlan, type NetlabPlan } from "./plan.js";
import { bringDown, bringUp, listLabNamespaces, netlabDirs, readState, requireRoot, type NetlabDirs, type NetlabState } from "./runner.js";

export type { NetlabPlan } from "./plan.js";
export { netlabDirs, type NetlabDirs } from "./runner.js";

export interface NetlabTarget {
  readonly lab: Lab;
  /** Absolute inventory path: names the lab's namespaces (el-<hash>-*) and places .edgelab/netlab/. */
  readonly inventoryPath: string;
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

export async function netlabUp(target: NetlabTarget, progress: (line: string) => void, exec: NetExecutor = localExecutor(), timeoutMs = 60_000): Promise<NetlabUpResult> {
  const { plan, dirs } = planFor(target);
  const started = Date.now();
  const up = await bringUp(exec, target.lab, plan, dirs, defaultEnvironment(), progress);
  const converged = await waitConverged(exec, plan, dirs, timeoutMs);
  progress(converged.ok ? `converged in ${converged.seconds.toFixed(1)} s` : `not converged after ${converged.seconds.toFixed(0)} s`);
  return { plan, state: up.state, seconds: (Date.now() - started) / 1000, convergenceSeconds: converged.seconds, checks: converged.results };
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

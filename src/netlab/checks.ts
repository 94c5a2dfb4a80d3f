/**
 * The network lab's BGP checks, as smoke CheckResults: every expected session Established on
 * every router (FRR's `show bgp summary json`), and on each region router the service /32 with
 * two paths — its own site over eBGP (best) and the other region over iBGP (next-hop-self), as
 * in the seed's `sh ip bgp` — plus ECMP next hops when a site has several workers. The verdicts
 * are pure functions of FRR's JSON; `runChecks` fetches it.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import type { CheckResult } from "../smoke/run.js";
import type { NetExecutor } from "./exec.js";
import type { NetlabPlan, RouterPlan } from "./plan.js";
import { vtyshArgv, type NetlabDirs } from "./runner.js";

const Summary = z.object({
  ipv4Unicast: z.object({ peers: z.record(z.string(), z.object({ state: z.string(), remoteAs: z.number().optional() })) }).optional(),
});
export type BgpSummary = z.infer<typeof Summary>;

const Path = z.object({
  valid: z.boolean().optional(),
  bestpath: z.boolean().optional(),
  multipath: z.boolean().optional(),
  pathFrom: z.string(),
  peerId: z.string().optional(),
  nexthops: z.array(z.object({ ip: z.string() })).optional(),
});
const Table = z.object({ routes: z.record(z.string(), z.array(Path)) });
export type BgpTable = z.infer<typeof Table>;

export function parseSummary(text: string): BgpSummary {
  return Summary.parse(JSON.parse(text));
}

export function parseTable(text: string): BgpTable {
  return Table.parse(JSON.parse(text));
}

/** The peers a router must have: its workers (by the sessions they open) and the lab's router links. */
export function expectedPeers(plan: NetlabPlan, router: RouterPlan): string[] {
  const own = router.kind === "region" ? ownWorkers(plan, router) : [];
  return [...own, ...router.neighbors.map((n) => n.address)];
}

export function sessionsVerdict(router: RouterPlan, expected: readonly string[], summary: BgpSummary): CheckResult {
  const peers = summary.ipv4Unicast?.peers ?? {};
  const problems: string[] = [];
  for (const address of expected) {
    const state = peers[address]?.state;
    if (state !== "Established") problems.push(`${address} ${state ?? "absent"}`);
  }
  for (const [address, peer] of Object.entries(peers)) if (!expected.includes(address) && peer.state !== "Established") problems.push(`${address} ${peer.state}`);
  return {
    check: `bgp sessions on ${router.name}`,
    stream: undefined,
    edge: router.name,
    ok: problems.length === 0,
    value: problems.length === 0 ? `${expected.length} Established` : problems.join(", "),
    ms: 0,
  };
}

/**
 * On a region router: the service /32 from its own workers over eBGP (one of them best, all of
 * them multipath when there are several) and from another region router over iBGP.
 */
export function serviceRouteVerdict(plan: NetlabPlan, router: RouterPlan, ownWorkers: readonly string[], table: BgpTable): CheckResult {
  const prefix = `${plan.serviceIp}/32`;
  const paths = table.routes[prefix] ?? [];
  const external = paths.filter((p) => p.pathFrom === "external" && p.peerId !== undefined && ownWorkers.includes(p.peerId));
  const internal = paths.filter((p) => p.pathFrom === "internal");
  const best = paths.find((p) => p.bestpath === true);
  const problems: string[] = [];
  if (external.length !== ownWorkers.length) problems.push(`${external.length} of ${ownWorkers.length} paths from its own workers`);
  if (best === undefined || best.pathFrom !== "external") problems.push(`best path ${best === undefined ? "missing" : `from ${best.pathFrom} ${best.peerId ?? ""}`}`);
  if (ownWorkers.length > 1 && external.filter((p) => p.multipath === true || p.bestpath === true).length < ownWorkers.length) problems.push("own workers' paths are not all multipath");
  const hasOtherRegion = plan.routers.some((r) => r.kind === "region" && r !== router && r.asn === router.asn);
  if (hasOtherRegion && internal.length === 0) problems.push("no iBGP path from the other region");
  return {
    check: `service ${prefix} on ${router.name}`,
    stream: undefined,
    edge: router.name,
    ok: problems.length === 0,
    value: problems.length === 0 ? `${external.length} eBGP (best${external.length > 1 ? ", ECMP" : ""}) + ${internal.length} iBGP` : problems.join("; "),
    ms: 0,
  };
}

export function ownWorkers(plan: NetlabPlan, router: RouterPlan): string[] {
  return plan.speakers.filter((s) => plan.links.some((l) => l.kind === "site" && l.a.ns === router.ns && l.b.ns === s.ns)).map((s) => s.address);
}

export async function runChecks(exec: NetExecutor, plan: NetlabPlan, dirs: NetlabDirs): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const router of plan.routers) {
    const t0 = Date.now();
    const summary = parseSummary((await exec.run(`reading BGP sessions of ${router.name}`, vtyshArgv(dirs, router, "show bgp summary json"))).stdout);
    results.push({ ...sessionsVerdict(router, expectedPeers(plan, router), summary), ms: Date.now() - t0 });
  }
  for (const router of plan.routers.filter((r) => r.kind === "region")) {
    const t0 = Date.now();
    const table = parseTable((await exec.run(`reading the BGP table of ${router.name}`, vtyshArgv(dirs, router, "show bgp ipv4 unicast json"))).stdout);
    results.push({ ...serviceRouteVerdict(plan, router, ownWorkers(plan, router), table), ms: Date.now() - t0 });
  }
  return results;
}

/** Waits until every check passes (or the time is up) and returns the last results and how long it took. */
export async function waitConverged(exec: NetExecutor, plan: NetlabPlan, dirs: NetlabDirs, timeoutMs: number): Promise<{ results: CheckResult[]; seconds: number; ok: boolean }> {
  const start = Date.now();
  for (;;) {
    const results = await runChecks(exec, plan, dirs);
    const ok = results.every((r) => r.ok);
    if (ok || Date.now() - start > timeoutMs) return { results, seconds: (Date.now() - start) / 1000, ok };
    await sleep(250);
  }
}

/**
 * `edgelab smoke` on a lab whose data plane runs in the network lab: the BGP checks (sessions,
 * the service /32 on each region router), then HLS through the service address from each
 * client namespace — playlist and newest segment — served by that region's own edge. Which edge
 * served a request is read from the edges' access logs: each request carries a unique query
 * string (the edges cache by path, so it changes nothing else).
 */
import { randomBytes } from "node:crypto";
import type { Lab } from "../model/lab.js";
import { hlsPath } from "../providers/local/plan.js";
import type { CheckResult } from "../smoke/run.js";
import { parsePlaylist } from "../media/hls.js";
import { runChecks } from "./checks.js";
import { netnsDataPlane, regionEdges } from "./dataplane.js";
import type { NetExecutor } from "./exec.js";
import type { NetlabPlan } from "./plan.js";
import type { NetlabDirs } from "./runner.js";
import { mediaPlaylist, nsGet, servedBy, serviceUrl, sitesLayout } from "./sites.js";

/** A verdict on one client's request pair: both answered 200 by an edge of the client's own region. */
export function regionVerdict(expected: readonly string[], playlist: { status: number; edges: readonly string[] }, segment: { status: number; edges: readonly string[]; bytes: number } | undefined): { ok: boolean; value: string } {
  const problems: string[] = [];
  if (playlist.status !== 200) problems.push(`playlist ${playlist.status === 0 ? "no answer" : playlist.status}`);
  if (segment === undefined) problems.push("no segment in the playlist");
  else if (segment.status !== 200) problems.push(`segment ${segment.status === 0 ? "no answer" : segment.status}`);
  const edges = [...new Set([...playlist.edges, ...(segment?.edges ?? [])])];
  const foreign = edges.filter((e) => !expected.includes(e));
  if (edges.length === 0) problems.push("no edge logged the requests");
  if (foreign.length > 0) problems.push(`served by ${foreign.join(", ")}, not by this region's ${expected.join("/")}`);
  if (problems.length > 0) return { ok: false, value: problems.join("; ") };
  return { ok: true, value: `served by ${edges.join(", ")} (playlist 200, segment 200, ${segment?.bytes ?? 0} bytes)` };
}

export async function netnsSmoke(exec: NetExecutor, lab: Lab, inventoryPath: string, plan: NetlabPlan, dirs: NetlabDirs, progress: (line: string) => void): Promise<CheckResult[]> {
  const results = await runChecks(exec, plan, dirs);
  progress(`BGP: ${results.filter((r) => r.ok).length} of ${results.length} checks pass`);
  const layout = sitesLayout(inventoryPath, dirs);
  const plane = netnsDataPlane(lab, plan);
  for (const client of plan.clients) {
    const expected = regionEdges(plan, client.router);
    for (const stream of lab.streams) {
      const t0 = Date.now();
      const token = `edgelab-smoke=${randomBytes(8).toString("hex")}`;
      const { url, response } = await mediaPlaylist(exec, client.ns, serviceUrl(plan, hlsPath(lab, stream.name)), `?${token}`);
      const parsed = parsePlaylist(response.body);
      const last = parsed.kind === "media" ? parsed.segments.at(-1) : undefined;
      let segment: { status: number; edges: string[]; bytes: number } | undefined;
      if (last !== undefined) {
        const segToken = `${token}-s`;
        const got = await nsGet(exec, client.ns, `${new URL(last.uri, url).href}?${segToken}`, 5000);
        segment = { status: got.status, edges: servedBy(layout, plane, segToken), bytes: got.bytes };
      }
      // The playlist's requests end with the token (the segment's with the token and "-s").
      const verdict = regionVerdict(expected, { status: response.status, edges: servedBy(layout, plane, `${token} `) }, segment);
      results.push({ check: `hls via ${plan.serviceIp} from ${client.ns.slice(plan.prefix.length + 1)}`, stream: stream.name, edge: client.router, ok: verdict.ok, value: verdict.value, ms: Date.now() - t0 });
    }
  }
  return results;
}

/**
 * The smoke stage: delivery checks per stream and edge (src/smoke). It runs when anything before
 * it changed since it last passed; on a converged lab it is not repeated (`edgelab smoke` checks
 * on demand).
 */
import { netlabSitesRunning, netlabSmoke } from "../../netlab/index.js";
import { EdgelabError } from "../../errors.js";
import { clusterSmokeTarget } from "../../smoke/cluster-target.js";
import { localSmokeTarget } from "../../smoke/local-target.js";
import { summary } from "../../smoke/report.js";
import { runSmoke } from "../../smoke/run.js";
import type { SmokeTarget } from "../../smoke/run.js";
import { STAGE_ORDER, type PipelineContext, type Stage } from "../stage.js";
import { deployOutputs, rehearsalOutcome, smokeEndpoints } from "./deploy.js";

/** The local lab's processes, or a cluster lab's Ingress and RTMP Service as the deploy stage found them. */
async function target(p: PipelineContext): Promise<SmokeTarget> {
  if (p.lab.provider === "local") return localSmokeTarget(p.lab, p.ctx.env["PATH"], { maxLagSeconds: 1 });
  const e = deployOutputs(p.outputs.get("deploy"));
  if (e === undefined) throw new EdgelabError("the deploy stage has not recorded the Ingress' address", { hint: "Run edgelab deploy (or edgelab up --from deploy) first." });
  return clusterSmokeTarget(p.lab, smokeEndpoints(e), p.ctx.env["PATH"], { maxLagSeconds: 1 });
}

export const smokeStage: Stage = {
  name: "smoke",
  title: "delivery checks per stream and edge",

  inputs: (p) => {
    const before = STAGE_ORDER.slice(0, STAGE_ORDER.indexOf("smoke"));
    return { changedAt: before.map((s) => `${s}:${p.lastChanged.get(s) ?? ""}`), streams: p.lab.streams.map((s) => s.name), network: p.options.network ?? "loopback" };
  },
  apply: async (run) => {
    const rehearsal = run.p.lab.provider === "local" ? undefined : rehearsalOutcome(run.p, "the smoke test through the Ingress");
    if (rehearsal !== undefined) return rehearsal;
    const progress = (message: string): void => run.step({ message });
    const netTarget = { lab: run.p.lab, inventoryPath: run.p.location.path };
    // A local lab may run in the network lab's namespaces (this run's --network netns, or an earlier one's).
    const inNamespaces = run.p.lab.provider === "local" && (run.p.options.network === "netns" || (await netlabSitesRunning(netTarget)));
    const results = inNamespaces ? await netlabSmoke(netTarget, progress) : await runSmoke(await target(run.p), progress);
    const { passed, failed } = summary(results);
    const details = { passed, failed, results: results.map((r) => ({ check: r.check, stream: r.stream ?? null, edge: r.edge ?? null, ok: r.ok, value: r.value })) };
    if (failed > 0) {
      const first = results.filter((r) => !r.ok).slice(0, 3).map((r) => `${r.check}${r.stream !== undefined ? ` ${r.stream}` : ""}${r.edge !== undefined ? ` @${r.edge}` : ""}: ${r.value}`);
      return { changes: 0, summary: `${failed} of ${passed + failed} checks failed`, details, failure: `${failed} of ${passed + failed} checks failed (${first.join("; ")}); run edgelab smoke for the table` };
    }
    return { changes: 0, summary: `${passed} checks passed`, details };
  },
};

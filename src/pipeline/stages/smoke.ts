/**
 * The smoke stage: delivery checks per stream and edge (src/smoke). It runs when anything before
 * it changed since it last passed; on a converged lab it is not repeated (`edgelab smoke` checks
 * on demand).
 */
import { netlabSitesRunning, netlabSmoke } from "../../netlab/index.js";
import { localSmokeTarget } from "../../smoke/local-target.js";
import { summary } from "../../smoke/report.js";
import { runSmoke } from "../../smoke/run.js";
import { STAGE_ORDER, type Stage } from "../stage.js";

export const smokeStage: Stage = {
  name: "smoke",
  title: "delivery checks per stream and edge",
  // A cluster lab's smoke targets the Ingress the deploy stage publishes (not in this version).
  implementedFor: ["local"],

  inputs: (p) => {
    const before = STAGE_ORDER.slice(0, STAGE_ORDER.indexOf("smoke"));
    return { changedAt: before.map((s) => `${s}:${p.lastChanged.get(s) ?? ""}`), streams: p.lab.streams.map((s) => s.name), network: p.options.network ?? "loopback" };
  },
  apply: async (run) => {
    const progress = (message: string): void => run.step({ message });
    const target = { lab: run.p.lab, inventoryPath: run.p.location.path };
    // The lab runs in the network lab's namespaces (this run's --network netns, or an earlier one's).
    const inNamespaces = run.p.options.network === "netns" || (await netlabSitesRunning(target));
    const results = inNamespaces
      ? await netlabSmoke(target, progress)
      : await runSmoke(await localSmokeTarget(run.p.lab, run.p.ctx.env["PATH"], { maxLagSeconds: 1 }), progress);
    const { passed, failed } = summary(results);
    if (failed > 0) {
      const first = results.filter((r) => !r.ok).slice(0, 3).map((r) => `${r.check}${r.stream !== undefined ? ` ${r.stream}` : ""}${r.edge !== undefined ? ` @${r.edge}` : ""}: ${r.value}`);
      return { changes: 0, summary: `${failed} of ${passed + failed} checks failed`, failure: `${failed} of ${passed + failed} checks failed (${first.join("; ")}); run edgelab smoke for the table` };
    }
    return { changes: 0, summary: `${passed} checks passed` };
  },
};

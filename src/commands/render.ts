/** `edgelab render`: every artifact the inventory implies, written to a directory. */
import { Command } from "commander";
import { dirname, join, relative, resolve } from "node:path";
import { plural, table } from "../output.js";
import { planArtifacts, writeArtifacts } from "../pipeline/artifacts.js";
import { loadLab } from "../pipeline/inventory-file.js";
import { FAMILIES, familiesFor, renderAll, type Family } from "../render/index.js";
import { UsageError } from "../errors.js";
import { localLayout } from "../providers/local/layout.js";
import { println, type App } from "./app.js";

function parseFamilies(value: string | undefined): Family[] | undefined {
  if (value === undefined) return undefined;
  const names = value.split(",").map((v) => v.trim()).filter(Boolean);
  for (const name of names) {
    if (!(FAMILIES as readonly string[]).includes(name)) throw new UsageError(`unknown artifact family '${name}'`, `Known families: ${FAMILIES.join(", ")}.`);
  }
  return names as Family[];
}

export function renderCommand(app: App): Command {
  return new Command("render")
    .description("render the lab's configuration files (validates first; writes only what changed)")
    .option("-o, --output <dir>", "output directory (default: .edgelab/artifacts beside the inventory)")
    .option("--only <families>", `comma-separated artifact families (${FAMILIES.join(", ")})`)
    .option("--dry-run", "show what would be written, write nothing")
    .addHelpText(
      "after",
      `
The provider picks the layout (docs/cluster.md explains every file):
  local:   lab (lab.json, summary.txt), nginx (media servers, origin front, edges; with the
           local lab's paths under .edgelab/local/)
  proxmox: lab, k3s (k3s/<host>/config.yaml), cilium (cilium/helmchart.yaml, cilium/bgp.yaml),
           routers (routers/<router>.frr.conf), ansible (ansible/vars.yml), nginx (the same
           renderers in the cluster placement: nginx/media-<n>.conf, nginx/origin.conf,
           nginx/edge-<group>.conf with Service names and container ports; router/router.json)
Every file is checked against what its program accepts (K3s keys per role, values that must
match on all servers, Cilium's value paths, the Cilium release's resources) before anything is
written. Files are written atomically; files holding secrets get mode 0600 (no cluster file
holds one; the cluster's secrets are files of a Kubernetes Secret, named, never included). Re-running with the same inventory changes nothing. Files in the directory that
edgelab did not render are left alone.

Examples:
  $ edgelab render -i inventories/lab.yml -o out/
  $ edgelab render -i inventories/lab.yml --only k3s,cilium
  $ edgelab render --dry-run --json`,
    )
    .action((options: { output?: string; only?: string; dryRun?: boolean }, cmd: Command) => {
      const ctx = app.context(cmd);
      const s = app.style(ctx);
      const families = parseFamilies(options.only);
      const { lab, location, validation } = loadLab(ctx);
      const layout = familiesFor(lab.provider);
      const foreign = (families ?? []).filter((f) => !layout.includes(f));
      if (foreign.length > 0) {
        throw new UsageError(
          `${foreign.map((f) => `'${f}'`).join(", ")} ${foreign.length === 1 ? "is not a family" : "are not families"} of a ${lab.provider} lab`,
          `A ${lab.provider} lab renders: ${layout.join(", ")}.`,
        );
      }
      const outDir = options.output !== undefined ? resolve(ctx.cwd, options.output) : join(dirname(location.path), ".edgelab", "artifacts");
      const artifacts = renderAll(lab, { paths: localLayout(dirname(location.path)).nginx, only: families });
      const results = options.dryRun === true ? planArtifacts(outDir, artifacts) : writeArtifacts(outDir, artifacts);
      const shownDir = relative(ctx.cwd, outDir) || ".";
      const warnings = validation.issues.filter((i) => i.severity === "warning").length;
      if (ctx.options.json) {
        println(ctx.stdout, JSON.stringify({ inventory: location.display, output: shownDir, dryRun: options.dryRun === true, files: results }));
        return;
      }
      if (warnings > 0) println(ctx.stderr, s.yellow(`${plural(warnings, "warning")} in ${location.display} (see edgelab validate)`));
      println(ctx.stdout, table(results.map((r) => [r.status === "unchanged" ? s.dim(r.status) : s.green(r.status), join(shownDir, r.path), `${r.bytes} B`])));
      const changed = results.filter((r) => r.status !== "unchanged").length;
      const verb = options.dryRun === true ? "would change" : "changed";
      println(ctx.stdout, `${plural(results.length, "file")} rendered from ${location.display}, ${changed} ${verb}`);
    });
}

/**
 * `edgelab up`: the lab's stages, in order, through one runner (src/pipeline): each skipped when
 * its inputs did not change since it last succeeded, resumed where a failed run stopped.
 */
import { Command, Option } from "commander";
import { resolve } from "node:path";
import { UsageError } from "../errors.js";
import { style, table, type Style } from "../output.js";
import { loadPipeline } from "../pipeline/context.js";
import { JsonReporter, LineReporter, TtyReporter, type Reporter } from "../pipeline/events.js";
import { processInterrupts, runPipeline, type PipelineBase, type RunRequest, type Selection } from "../pipeline/runner.js";
import { isStageName, STAGE_ORDER, type NetworkMode, type StageName } from "../pipeline/stage.js";
import { allStages } from "../pipeline/stages/index.js";
import { localOutputs, type LocalOutputs } from "../pipeline/stages/local.js";
import type { Context } from "../context.js";
import { planFor } from "../netlab/index.js";
import { println, type App } from "./app.js";
import { tlsFingerprintFlag, tlsFingerprintOption } from "./provision.js";

function stageName(flag: string, value: string): StageName {
  const name = value.trim();
  if (!isStageName(name)) throw new UsageError(`${flag}: unknown stage '${name}'`, `Stages, in order: ${STAGE_ORDER.join(", ")}.`);
  return name;
}

export interface PipelineFlags {
  only?: string;
  from?: string;
  to?: string;
  dryRun?: boolean;
  force?: boolean;
}

/** --only/--from/--to parsed once into stage names. */
export function parseSelection(flags: PipelineFlags): Selection {
  if (flags.only !== undefined && (flags.from !== undefined || flags.to !== undefined)) throw new UsageError("--only cannot be combined with --from or --to");
  const only = flags.only?.split(",").filter((s) => s.trim() !== "").map((s) => stageName("--only", s));
  const from = flags.from === undefined ? undefined : stageName("--from", flags.from);
  const to = flags.to === undefined ? undefined : stageName("--to", flags.to);
  if (from !== undefined && to !== undefined && STAGE_ORDER.indexOf(from) > STAGE_ORDER.indexOf(to)) throw new UsageError(`--from ${from} comes after --to ${to}`, `Stages, in order: ${STAGE_ORDER.join(", ")}.`);
  return { ...(only !== undefined ? { only } : {}), ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) };
}

export function reporterFor(ctx: Context): Reporter {
  const s = style(ctx.options.color);
  if (ctx.options.json) return new JsonReporter(ctx.stdout);
  // The task tree needs a terminal that says how wide it is.
  if (ctx.stderr.isTTY && process.stderr.isTTY && (process.stderr.columns ?? 0) > 0) return new TtyReporter(ctx.stdout, s, process.stderr);
  return new LineReporter(ctx.stdout, ctx.stderr, s);
}

/** Runs the pipeline for `up`/`destroy`/`rebuild`; returns the exit code and the local lab's URLs. */
export async function runStages(app: App, base: PipelineBase, request: RunRequest): Promise<{ exitCode: number; urls: LocalOutputs }> {
  const ctx = base.ctx;
  const s = app.style(ctx);
  const interrupts = processInterrupts((signal) => {
    if (!ctx.options.json) println(ctx.stderr, s.yellow(`\n${signal}: stopping the running stage (its children are stopped; the journal stays consistent)...`));
  });
  try {
    const result = await runPipeline(base, allStages(), request, reporterFor(ctx), interrupts);
    return { exitCode: result.exitCode, urls: localOutputs(result.outputs.get("local")) };
  } finally {
    interrupts.dispose();
  }
}

export function printUrls(ctx: Context, s: Style, out: LocalOutputs): void {
  if (out.urls.length === 0) return;
  println(ctx.stdout, "");
  println(ctx.stdout, table([["STREAM", "EDGE", "HLS", "DASH", "PLAYER"].map((h) => s.bold(h)), ...out.urls.map((u) => [u.stream, u.edge, u.hls, u.dash ?? "-", u.player])]));
  // Ingest: where an encoder publishes each stream; never the key, only the command that shows it.
  const inventoryArg = ctx.options.inventory !== undefined ? ` -i ${ctx.options.inventory}` : "";
  const ingest = out.ingest.filter((i) => i.publisher !== "pull");
  if (ingest.length > 0) {
    println(ctx.stdout);
    println(ctx.stdout, table([["STREAM", "RTMP INGEST", "PUBLISHED BY", "STREAM KEY"].map((h) => s.bold(h)), ...ingest.map((i) => [i.stream, `${i.server}/${i.stream}`, i.publisher === "external" ? "your encoder (waiting for it)" : "the lab's test source", `edgelab${inventoryArg} keys show ${i.stream}`])]));
    println(ctx.stdout, s.dim("  OBS: Server = the ingest URL without the stream name; Stream Key = what the key command prints. See docs/local-lab.md."));
  }
  println(ctx.stdout, `\nNext: edgelab status · edgelab smoke · edgelab down`);
}

/** --network, parsed once. */
export function networkMode(value: string): NetworkMode {
  if (value === "loopback" || value === "netns") return value;
  throw new UsageError(`--network must be loopback or netns, got '${value}'`);
}

export function upCommand(app: App): Command {
  return new Command("up")
    .description("bring the lab up: run its stages in order, skipping what has not changed")
    .option("--only <stages>", "run only these stages (comma-separated), even if nothing changed")
    .option("--from <stage>", "start at this stage (earlier ones are taken as they are)")
    .option("--to <stage>", "stop after this stage")
    .option("--dry-run", "say what each stage would change; change nothing")
    .option("--force", "run the selected stages even if their inputs did not change")
    .addOption(new Option("--timeout <seconds>", "how long a stage may wait for the lab to become ready").default("120"))
    .addOption(new Option("--network <mode>", "provider local: run the lab on loopback, or in network namespaces behind FRR routers with the edges on the BGP-announced service address (root; see docs/network-lab.md)").choices(["loopback", "netns"]).default("loopback"))
    .option("--no-wait-ssh", "provider proxmox: do not wait for an SSH handshake on the new VMs")
    .option("--trust-on-first-use", "provider proxmox: accept SSH host keys edgelab does not know, UNVERIFIED, and record them (said in the output; the default is strict checking against .edgelab/known_hosts)")
    .option("--manifests <dir>", "provider proxmox: the deploy stage applies every YAML document in <dir> as it is instead of the rendered k8s/ files")
    .option("--kubeconfig <file>", "provider proxmox: write the cluster's kubeconfig here instead of merging it into ~/.kube/config")
    .addOption(tlsFingerprintOption())
    .addHelpText(
      "after",
      `
Stages, in order: ${STAGE_ORDER.join(" → ")}.
Provider local runs validate → render → local → smoke: redis, the media servers, the stream-key
router and its nginx, one edge per worker and a test source per stream, as supervised processes
on loopback (no root needed). Provider proxmox runs the cluster stages: provision (VMs; each VM's SSH host keys read through the
guest agent into .edgelab/known_hosts) → prepare (playbooks/prepare.yml) → k3s (playbooks/k3s.yml,
then the kubeconfig: context named after the lab, merged into ~/.kube/config) → cilium
(playbooks/cilium.yml: BGP and LB-IPAM, sessions established). Ansible runs over SSH checked
strictly against .edgelab/known_hosts; each host's current task is shown as a live row; a failure
is shown as host, task and message, with the log under .edgelab/logs/<run>/ named.

--network netns (provider local, root; the inventory needs cilium.bgp and cilium.lb_pool) runs
the same processes in the network lab instead: FRR routers running the rendered router
configurations, a GoBGP speaker per worker announcing the service address, the origin side in
the DC namespace, each worker's edge on the service address, a client namespace per region.
Addresses are mapped into 198.18.0.0/15. edgelab down removes every namespace it made.

Each stage records the hashes of its inputs in .edgelab/journal/<lab>.json. Running up again
skips every stage whose inputs did not change (and whose systems still hold what it made), and
says why each stage ran; after a failure it resumes at the stage that failed. Ctrl-C stops the
running stage cleanly. Logs of external commands: .edgelab/logs/<run>/.

Exit status: 0 done, 1 a stage failed (the message names it), 2 bad usage or inventory,
130 interrupted.

Examples:
  $ edgelab up
  $ edgelab up --dry-run
  $ edgelab up --from render --to local
  $ edgelab up --only smoke
  $ edgelab up -i inventories/lab.yml --from prepare --kubeconfig ./lab.kubeconfig
  $ edgelab up --json > events.ndjson
  $ sudo edgelab up -i inventories/netlab.yml --network netns
  $ edgelab status && edgelab smoke && edgelab down`,
    )
    .action(async (options: PipelineFlags & { timeout: string; waitSsh: boolean; tlsFingerprint?: string; network: string; trustOnFirstUse?: boolean; kubeconfig?: string; manifests?: string }, cmd: Command) => {
      const ctx = app.context(cmd);
      const s = app.style(ctx);
      const timeoutSeconds = Number(options.timeout);
      if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) throw new UsageError(`--timeout must be a positive number of seconds, got '${options.timeout}'`);
      const selection = parseSelection(options);
      const network = networkMode(options.network);
      if (options.kubeconfig !== undefined && options.kubeconfig.trim() === "") throw new UsageError("--kubeconfig needs a file name");
      const base = loadPipeline(ctx, { timeoutSeconds, waitSsh: options.waitSsh, tlsFingerprint: tlsFingerprintFlag(options.tlsFingerprint), network, trustOnFirstUse: options.trustOnFirstUse === true, kubeconfig: options.kubeconfig, ...(options.manifests === undefined ? {} : { kube: { forceConflicts: false, manifests: resolve(ctx.cwd, options.manifests) } }) });
      if (network === "netns") {
        if (base.lab.provider !== "local") throw new UsageError(`--network netns runs a provider local lab; this inventory's provider is ${base.lab.provider}`, "Use a provider local inventory with cilium.bgp (inventories/netlab.yml), or edgelab netlab up for the routing half of any inventory.");
        // The network lab's topology is checked before any stage runs (no cilium.bgp, no DC router, ...).
        planFor({ lab: base.lab, inventoryPath: base.location.path });
      }
      const { exitCode, urls } = await runStages(app, base, { command: "up", selection, dryRun: options.dryRun === true, force: options.force === true });
      app.exitCode = exitCode;
      if (exitCode === 0 && options.dryRun !== true && !ctx.options.json) printUrls(ctx, s, urls);
    });
}

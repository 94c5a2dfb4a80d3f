/**
 * `edgelab destroy` walks the lab's stages back (the local lab's processes; on a cluster the
 * workloads, K3s and the VMs), each touching only what edgelab created for this inventory.
 * `--keep-vms` (provider proxmox) walks back to the hosts' preparation only: what edgelab
 * installed on the VMs is uninstalled (playbooks/reset.yml) and the VMs stay.
 * `edgelab rebuild` = destroy + up, with one confirmation.
 */
import { Command } from "commander";
import { UsageError } from "../errors.js";
import { loadPipeline, lookingContext } from "../pipeline/context.js";
import type { PipelineBase } from "../pipeline/runner.js";
import { STAGE_ORDER, STAGE_PROVIDERS, type StageName } from "../pipeline/stage.js";
import type { Selection } from "../pipeline/runner.js";
import { allStages } from "../pipeline/stages/index.js";
import type { Context } from "../context.js";
import { println, type App } from "./app.js";
import { printUrls, runStages } from "./up.js";
import { tlsFingerprintFlag, tlsFingerprintOption } from "./provision.js";

/** The first stage --keep-vms walks back: everything after provisioning. */
const KEEP_VMS_FROM: StageName = "prepare";

/** The stages destroy walks back: all of them, or (--keep-vms) those after provisioning. */
function destroySelection(base: PipelineBase): Selection {
  return base.options.keepVms === true ? { from: KEEP_VMS_FROM } : {};
}

/** --keep-vms is for labs whose hosts are VMs. */
function checkKeepVms(base: PipelineBase): void {
  if (base.options.keepVms === true && base.lab.provider !== "proxmox") throw new UsageError(`--keep-vms is for provider proxmox; this inventory's provider is ${base.lab.provider}`, "Run `edgelab destroy` without it: a local lab has no VMs.");
}

/** What destroy would remove, stage by stage (last stage first). */
async function destroyPlan(base: PipelineBase): Promise<string[]> {
  const p = lookingContext(base);
  const lines: string[] = [];
  const stages = allStages();
  const first = STAGE_ORDER.indexOf(destroySelection(base).from ?? STAGE_ORDER[0]);
  for (const name of [...STAGE_ORDER].reverse()) {
    if (STAGE_ORDER.indexOf(name) < first) continue;
    const stage = stages.find((s) => s.name === name);
    if (stage?.destroyPlan === undefined || !STAGE_PROVIDERS[name].includes(base.lab.provider)) continue;
    for (const change of (await stage.destroyPlan(p)).changes) lines.push(`${name}: ${change}`);
  }
  return lines;
}

async function confirmed(ctx: Context, question: string, yes: boolean): Promise<boolean> {
  if (yes) return true;
  if (!process.stdin.isTTY || ctx.options.json) throw new UsageError("refusing to destroy without confirmation", "Pass --yes (for CI), or run it on a terminal to be asked.");
  const { confirm } = await import("@inquirer/prompts");
  return confirm({ message: question, default: false });
}

interface DestroyFlags {
  yes?: boolean;
  dryRun?: boolean;
  tlsFingerprint?: string;
  keepVms?: boolean;
}

const KEEP_VMS_HELP = "provider proxmox: keep the VMs, uninstall what edgelab put on them (K3s, Cilium's links and rules, the API VIP's keepalived) with playbooks/reset.yml";

export function destroyCommand(app: App): Command {
  return new Command("destroy")
    .description("take the lab down: walk its stages back, removing only what edgelab created for this inventory")
    .option("-y, --yes", "do not ask for confirmation (CI)")
    .option("--dry-run", "show what would be removed, remove nothing")
    .option("--keep-vms", KEEP_VMS_HELP)
    .addOption(tlsFingerprintOption())
    .addHelpText(
      "after",
      `
Provider local: stops the local lab's processes (logs and generated secrets are kept).
Provider proxmox: removes the lab's context from the kubeconfig and deletes the VMs tagged for
this lab (a VM with the right vmid but without the lab's tag is left alone). With --keep-vms the
VMs stay and playbooks/reset.yml uninstalls, over SSH checked against the known host keys, what
edgelab installed on them: K3s (units, binary, data and configuration), Cilium's links and
iptables rules, keepalived's API VIP configuration (only where it is edgelab's); the packages
prepare installed stay. Afterwards the journal forgets the stages walked back, so the next
\`edgelab up\` runs them again.

Examples:
  $ edgelab destroy --dry-run
  $ edgelab destroy -i inventories/lab.yml --yes
  $ edgelab destroy -i inventories/lab.yml --keep-vms --yes   # then: edgelab up (no new VMs)`,
    )
    .action(async (options: DestroyFlags, cmd: Command) => {
      const ctx = app.context(cmd);
      const base = loadPipeline(ctx, { timeoutSeconds: 120, waitSsh: false, tlsFingerprint: tlsFingerprintFlag(options.tlsFingerprint), keepVms: options.keepVms === true });
      checkKeepVms(base);
      const lines = await destroyPlan(base);
      if (lines.length === 0) {
        if (!ctx.options.json) println(ctx.stdout, `Nothing to destroy for lab ${base.lab.name}.`);
      } else if (!ctx.options.json || options.dryRun === true) {
        for (const line of lines) println(ctx.stdout, ctx.options.json ? JSON.stringify({ event: "destroy-plan", change: line }) : `- ${line}`);
      }
      if (options.dryRun === true || lines.length === 0) return;
      if (!(await confirmed(ctx, `Destroy these for lab ${base.lab.name}?`, options.yes === true))) {
        println(ctx.stdout, "Nothing destroyed.");
        return;
      }
      app.exitCode = (await runStages(app, base, { command: "destroy", selection: destroySelection(base), dryRun: false, force: false })).exitCode;
    });
}

export function rebuildCommand(app: App): Command {
  return new Command("rebuild")
    .description("destroy the lab and bring it up again (one confirmation; --yes for CI)")
    .option("-y, --yes", "do not ask for confirmation (CI)")
    .option("--timeout <seconds>", "how long a stage may wait for the lab to become ready", "120")
    .option("--keep-vms", `${KEEP_VMS_HELP}, then bring the lab up on them again`)
    .addOption(tlsFingerprintOption())
    .addHelpText("after", `\nExamples:\n  $ edgelab rebuild\n  $ edgelab rebuild -i inventories/lab.yml --keep-vms --yes   # K3s again, same VMs\n  $ edgelab rebuild -i inventories/lab.yml --yes --json > events.ndjson`)
    .action(async (options: { yes?: boolean; timeout: string; tlsFingerprint?: string; keepVms?: boolean }, cmd: Command) => {
      const ctx = app.context(cmd);
      const s = app.style(ctx);
      const timeoutSeconds = Number(options.timeout);
      if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) throw new UsageError(`--timeout must be a positive number of seconds, got '${options.timeout}'`);
      const base = loadPipeline(ctx, { timeoutSeconds, waitSsh: true, tlsFingerprint: tlsFingerprintFlag(options.tlsFingerprint), keepVms: options.keepVms === true });
      checkKeepVms(base);
      const lines = await destroyPlan(base);
      if (!ctx.options.json) for (const line of lines) println(ctx.stdout, `- ${line}`);
      if (!(await confirmed(ctx, `Destroy${lines.length === 0 ? " (nothing is there)" : " these"} and bring lab ${base.lab.name} up again?`, options.yes === true))) {
        println(ctx.stdout, "Nothing changed.");
        return;
      }
      const down = await runStages(app, base, { command: "destroy", selection: destroySelection(base), dryRun: false, force: false });
      if (down.exitCode !== 0) {
        app.exitCode = down.exitCode;
        return;
      }
      const up = await runStages(app, base, { command: "up", selection: {}, dryRun: false, force: false });
      app.exitCode = up.exitCode;
      if (up.exitCode === 0 && !ctx.options.json) printUrls(ctx, s, up.urls);
    });
}

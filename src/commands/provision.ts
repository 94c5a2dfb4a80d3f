/** `edgelab provision` and `edgelab destroy`: the Proxmox VMs of the lab. */
import { Command, Option } from "commander";
import { connect } from "node:net";
import { EXIT_FAILED, EXIT_USAGE, UsageError } from "../errors.js";
import { loadLab } from "../pipeline/inventory-file.js";
import { ProxmoxClient } from "../providers/proxmox/client.js";
import { resolveEndpoint } from "../providers/proxmox/endpoint.js";
import { labTag } from "../providers/proxmox/mapper.js";
import { ours, planLines, planVms } from "../providers/proxmox/plan.js";
import { DEFAULT_PROVISION, Provisioner, type StepEvent } from "../providers/proxmox/provision.js";
import { readActual } from "../providers/proxmox/read.js";
import { table } from "../output.js";
import type { Context } from "../context.js";
import type { Lab } from "../model/lab.js";
import { LiveRows } from "../live-rows.js";
import { println, type App } from "./app.js";

function positive(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got '${value}'`);
  return n;
}

function proxmoxLab(ctx: Context): { lab: Lab; client: ProxmoxClient; display: string } {
  const { lab, location } = loadLab(ctx);
  if (lab.provider !== "proxmox") throw new UsageError(`${location.display}: provider is ${lab.provider}; this command is for provider proxmox`, "The local lab is started with edgelab up.");
  return { lab, client: new ProxmoxClient(resolveEndpoint(lab, ctx.env, location.path)), display: location.display };
}

/** SSH answers when a TCP connection to port 22 opens (the host key is checked later, by Ansible). */
async function waitForSsh(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port, timeout: 3000 });
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("timeout", () => {
        s.destroy();
        resolve(false);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`SSH on ${host}:${port} did not answer within ${Math.round(timeoutMs / 1000)} s`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

export interface ProvisionOptions {
  concurrency: string;
  clonesPerTemplate: string;
  start: boolean;
  waitSsh: boolean;
  destroyOnFailure?: boolean;
  agentTimeout: string;
}

export function provisionCommand(app: App): Command {
  return new Command("provision")
    .description("create, update or replace the lab's VMs on Proxmox so they match the inventory (the plan, applied)")
    .option("--concurrency <n>", "VMs worked on at once", String(DEFAULT_PROVISION.concurrency))
    .option("--clones-per-template <n>", "clones of one template on one node at once (1 avoids lock timeouts)", String(DEFAULT_PROVISION.clonesPerSource))
    .option("--no-start", "do not start the VMs (nor wait for their guest agent and SSH)")
    .option("--no-wait-ssh", "do not wait for SSH to answer on each VM's address")
    .option("--destroy-on-failure", "remove the VMs this run created if anything fails")
    .addOption(new Option("--agent-timeout <seconds>", "how long to wait for a VM's guest agent to report its address").default("300"))
    .addHelpText(
      "after",
      `
Clones run one at a time per template and node (configurable); the rest runs concurrently. Tasks
are polled to completion; lock timeouts and proxy errors are retried with backoff. Every change
is read back. Re-running on a converged lab changes nothing and says so.

Examples:
  $ edgelab provision -i inventories/lab.yml
  $ edgelab provision -i inventories/lab.yml --destroy-on-failure --json > events.jsonl`,
    )
    .action(async (options: ProvisionOptions, cmd: Command) => {
      await runProvision(app, app.context(cmd), options);
    });
}

/** The provision stage: plan, apply, report. Shared by `provision` and `up` (provider proxmox). */
export async function runProvision(app: App, ctx: Context, options: ProvisionOptions): Promise<void> {
  const s = app.style(ctx);
  const { lab, client, display } = proxmoxLab(ctx);
  const started = Date.now();
  try {
    const plan = planVms(lab, await readActual(client, lab));
    const emit = (event: Record<string, unknown>): void => println(ctx.stdout, JSON.stringify(event));
    if (ctx.options.json) emit({ event: "plan", counts: plan.counts });
    else for (const line of planLines(plan)) println(ctx.stdout, line.startsWith("Plan:") ? s.bold(line) : line);
    if (plan.counts.conflict > 0) {
      app.exitCode = EXIT_USAGE;
      return;
    }
    const changes = plan.counts.create + plan.counts.update + plan.counts.replace + plan.counts.delete;
    const times = new Map<string, { first: number; last: number; step: string }>();
    const live = new LiveRows(ctx.stderr, started);
    const onStep = (e: StepEvent): void => {
      const t = times.get(e.host) ?? { first: e.at, last: e.at, step: e.step };
      times.set(e.host, { first: t.first, last: e.at, step: e.step });
      if (ctx.options.json) emit({ event: "step", host: e.host, vmid: e.vmid, step: e.step, seconds: (e.at - started) / 1000 });
      else live.update(e.host, ctx.stderr.isTTY ? `${e.step} (${((e.at - t.first) / 1000).toFixed(1)} s)` : e.step, e.at);
    };
    const provisioner = new Provisioner(client, lab, { ...DEFAULT_PROVISION, concurrency: positive("concurrency", options.concurrency), clonesPerSource: positive("clones-per-template", options.clonesPerTemplate), start: options.start, agentTimeoutMs: positive("agent-timeout", options.agentTimeout) * 1000 }, onStep);
    const result = await provisioner.apply(plan);
    const failed = [...result.failed];
    if (failed.length === 0 && options.start && options.waitSsh) {
      await Promise.all(
        lab.hosts.map(async (h) => {
          if (h.vm === undefined) return;
          onStep({ host: h.name, vmid: h.vm.vmid, step: "wait for SSH", at: Date.now() });
          try {
            await waitForSsh(h.address, h.sshPort, 300_000);
            onStep({ host: h.name, vmid: h.vm.vmid, step: "SSH answers", at: Date.now() });
          } catch (err) {
            failed.push({ host: h.name, vmid: h.vm.vmid, step: "wait for SSH", error: (err as Error).message });
          }
        }),
      );
    }
    if (failed.length > 0 && options.destroyOnFailure === true && result.created.length > 0) {
      for (const vmid of result.created) {
        const host = lab.hosts.find((h) => h.vm?.vmid === vmid);
        try {
          await provisioner.destroyVm(host?.name ?? String(vmid), vmid, host?.vm?.node ?? lab.proxmox?.node ?? "");
        } catch (err) {
          failed.push({ host: host?.name ?? String(vmid), vmid, step: "destroy on failure", error: (err as Error).message });
        }
      }
    }
    const seconds = (Date.now() - started) / 1000;
    if (ctx.options.json) {
      emit({ event: "done", seconds, created: result.created, failed, destroyedOnFailure: failed.length > 0 && options.destroyOnFailure === true ? result.created : [] });
    } else {
      if (changes === 0 && failed.length === 0) println(ctx.stdout, `Nothing to change: ${plan.counts.unchanged} VMs of ${display} match the inventory.`);
      println(ctx.stdout, table([["HOST", "LAST STEP", "SECONDS"].map((h) => s.bold(h)), ...[...times].map(([host, t]) => [host, t.step, ((t.last - t.first) / 1000).toFixed(1)])]));
      if (failed.length > 0) {
        println(ctx.stderr, s.red(`\n${failed.length} failed:`));
        for (const f of failed) println(ctx.stderr, `  ${f.host} (vmid ${f.vmid}), step ${f.step}: ${f.error}`);
        println(ctx.stderr, `Created by this run: ${result.created.join(", ") || "none"}${options.destroyOnFailure === true ? " (destroyed again)" : " (kept; run again to converge, or pass --destroy-on-failure)"}`);
      }
      println(ctx.stdout, `${failed.length === 0 ? s.green("✔") : s.red("✖")} ${seconds.toFixed(1)} s`);
    }
    if (failed.length > 0) app.exitCode = EXIT_FAILED;
  } finally {
    client.close();
  }
}

export function destroyCommand(app: App): Command {
  return new Command("destroy")
    .description("shut down and delete the VMs tagged for this lab (only those)")
    .option("-y, --yes", "do not ask for confirmation")
    .option("--dry-run", "show what would be deleted")
    .addHelpText("after", `\nOnly VMs carrying this lab's tag are touched; a VM with the right vmid but no tag is left alone.\n\nExamples:\n  $ edgelab destroy -i inventories/lab.yml --dry-run\n  $ edgelab destroy -i inventories/lab.yml --yes`)
    .action(async (options: { yes?: boolean; dryRun?: boolean }, cmd: Command) => {
      const ctx = app.context(cmd);
      const { lab, client } = proxmoxLab(ctx);
      try {
        const victims = (await readActual(client, lab)).filter((vm) => !vm.template && ours(lab, vm));
        const lines = victims.map((vm) => `- delete ${vm.config.name} (vmid ${vm.vmid} on ${vm.node}, ${vm.status})`);
        if (victims.length === 0) {
          println(ctx.stdout, `No VM is tagged ${labTag(lab)}: nothing to destroy.`);
          return;
        }
        for (const line of lines) println(ctx.stdout, line);
        if (options.dryRun === true) {
          println(ctx.stdout, `Dry run: ${victims.length} VM(s) would be deleted.`);
          return;
        }
        if (options.yes !== true) {
          if (!process.stdin.isTTY) throw new UsageError(`refusing to delete ${victims.length} VM(s) without confirmation`, "Pass --yes (or run interactively).");
          const { confirm } = await import("@inquirer/prompts");
          if (!(await confirm({ message: `Delete these ${victims.length} VM(s)?`, default: false }))) {
            println(ctx.stdout, "Nothing deleted.");
            return;
          }
        }
        const provisioner = new Provisioner(client, lab, DEFAULT_PROVISION, (e) => println(ctx.stderr, `  ${e.host}: ${e.step}`));
        const failed: string[] = [];
        await Promise.all(victims.map((vm) => provisioner.destroyVm(vm.config.name, vm.vmid, vm.node).catch((err: unknown) => failed.push(`${vm.config.name} (vmid ${vm.vmid}): ${(err as Error).message}`))));
        if (failed.length > 0) {
          for (const f of failed) println(ctx.stderr, f);
          app.exitCode = EXIT_FAILED;
        } else println(ctx.stdout, `${victims.length} VM(s) deleted.`);
      } finally {
        client.close();
      }
    });
}

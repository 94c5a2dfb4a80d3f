/**
 * The provision stage (provider proxmox): the lab's VMs on Proxmox, made to match the inventory
 * by the same code as `edgelab provision` (plan, clones per storage, retries, read-back, SSH
 * wait), its lines shown as this stage's steps. Against edgelab's simulator it is a rehearsal:
 * the stage records so in its outputs, and every later stage that would contact the hosts skips
 * that step and says why. `destroy` deletes the VMs tagged for this lab, and only those.
 */
import { createApp, type App } from "../../commands/app.js";
import { DEFAULT_PROVISION_FLAGS, destroyVms, readPlanCounts, runProvision, taggedVms, victimLine } from "../../commands/provision.js";
import { EdgelabError } from "../../errors.js";
import type { Context } from "../../context.js";
import type { PipelineContext, Stage, StageRun } from "../stage.js";

/** The VM-relevant parts of the inventory: hosts' VM specs and the Proxmox settings. */
function consumed(p: PipelineContext): Record<string, unknown> {
  return {
    proxmox: { ...p.lab.proxmox, tokenSecret: undefined },
    vms: p.lab.hosts.map((h) => ({ name: h.name, address: h.address, vm: h.vm, subnet: h.subnet })),
  };
}

/** A context whose output becomes the stage's steps (one line each), for the shared provision code. */
function stageContext(run: StageRun): { ctx: Context; app: App } {
  const ctx = run.p.ctx;
  const lines = (text: string): void => {
    for (const line of text.split("\n")) if (line.trim() !== "") run.step({ message: line.trim() });
  };
  const io = { stdout: { write: lines, isTTY: false }, stderr: { write: lines, isTTY: false }, env: ctx.env, cwd: ctx.cwd };
  return { ctx: { ...ctx, stdout: io.stdout, stderr: io.stderr, options: { ...ctx.options, json: false, color: false } }, app: createApp(io) };
}

export const provisionStage: Stage = {
  name: "provision",
  title: "Proxmox VMs to match the inventory",
  inputs: consumed,
  // One read of the cluster: VMs deleted, stopped or changed behind edgelab's back are noticed.
  verify: async (p) => {
    const c = await readPlanCounts(p.ctx, p.options.tlsFingerprint);
    const off = (c["create"] ?? 0) + (c["update"] ?? 0) + (c["replace"] ?? 0) + (c["delete"] ?? 0) + (c["conflict"] ?? 0);
    return off > 0 ? `the cluster differs from the inventory (${off} VM${off === 1 ? "" : "s"} to change)` : undefined;
  },
  apply: async (run) => {
    const { ctx, app } = stageContext(run);
    const { access, changes } = await runProvision(app, ctx, { ...DEFAULT_PROVISION_FLAGS, waitSsh: run.p.options.waitSsh, tlsFingerprint: run.p.options.tlsFingerprint, trustOnFirstUse: run.p.options.trustOnFirstUse === true });
    if (app.exitCode !== 0) throw new EdgelabError("provisioning failed (the steps above name each failed host and step)", { hint: "Run `edgelab up` again to converge what was created, or `edgelab destroy` to remove it." });
    return {
      changes,
      summary: `${run.p.lab.hosts.length} VMs match the inventory, ${changes} changed${access.isRehearsal ? " (rehearsal against the simulator)" : ""}`,
      outputs: { rehearsal: access.rehearsal ?? "" },
      skipped: access.skipped.map((k) => ({ what: `${k.step} on ${k.host} (${k.address})`, reason: k.reason })),
      ...(access.summary() !== undefined ? { notes: [access.summary() ?? ""] } : {}),
    };
  },
  destroyPlan: async (p) => {
    const { client, victims } = await taggedVms(p.ctx, p.options.tlsFingerprint);
    client.close();
    return { changes: victims.map(victimLine) };
  },
  destroy: async (run) => {
    const { lab, client, victims } = await taggedVms(run.p.ctx, run.p.options.tlsFingerprint);
    try {
      const failed = await destroyVms(client, lab, victims, (host, message) => run.step({ host, message }));
      if (failed.length > 0) throw new EdgelabError(`could not delete ${failed.length} VM(s): ${failed.join("; ")}`, { hint: "Run `edgelab destroy` again; VMs already deleted are not touched twice." });
      return { changes: victims.length, summary: `${victims.length} VM(s) deleted` };
    } finally {
      client.close();
    }
  },
};

/** `edgelab plan`: what `provision` would change on the Proxmox cluster. */
import { Command } from "commander";
import { EXIT_USAGE, UsageError } from "../errors.js";
import { loadLab } from "../pipeline/inventory-file.js";
import { ProxmoxClient } from "../providers/proxmox/client.js";
import { resolveEndpoint } from "../providers/proxmox/endpoint.js";
import { planLines, planVms } from "../providers/proxmox/plan.js";
import { readActual } from "../providers/proxmox/read.js";
import { tlsFingerprintFlag, tlsFingerprintOption } from "./provision.js";
import { println, type App } from "./app.js";

export function planCommand(app: App): Command {
  return new Command("plan")
    .description("show what provisioning would change on the Proxmox cluster (reads, never writes)")
    .option("--detailed-exitcode", "exit 3 when there are changes (like terraform plan)")
    .addOption(tlsFingerprintOption())
    .addHelpText(
      "after",
      `
Reads the cluster's VMs (those the inventory names by vmid, and those tagged for this lab), and
prints + create, ~ update (field: old → new), -/+ replace (why), - delete (only VMs tagged for
this lab and no longer in the inventory), = unchanged, ! conflict (a vmid held by a VM that is
not ours), and a summary line.

Endpoint and credentials: PROXMOX_URL, PROXMOX_TOKEN_ID + PROXMOX_TOKEN_SECRET (or
PROXMOX_VE_API_TOKEN=user@realm!id=secret); else the inventory. TLS: --tls-fingerprint, else
PROXMOX_TLS_FINGERPRINT, else proxmox.tls_fingerprint (a pin of the node certificate's SHA-256,
whatever signed it); or PROXMOX_CA_FILE / proxmox.ca_file (chain and name checked). Without
either, an untrusted certificate is refused with its subject, issuer and fingerprint.

Examples:
  $ edgelab plan -i inventories/lab.yml
  $ edgelab plan -i inventories/lab.yml --tls-fingerprint AB:CD:...:EF
  $ edgelab plan -i inventories/lab.yml --json | jq '.counts'`,
    )
    .action(async (options: { detailedExitcode?: boolean; tlsFingerprint?: string }, cmd: Command) => {
      const ctx = app.context(cmd);
      const s = app.style(ctx);
      const { lab, location } = loadLab(ctx);
      if (lab.provider !== "proxmox") throw new UsageError(`${location.display}: provider is ${lab.provider}; plan is for provider proxmox`, "The local lab has nothing to provision: edgelab up.");
      const client = new ProxmoxClient(resolveEndpoint(lab, ctx.env, location.path, { tlsFingerprint: tlsFingerprintFlag(options.tlsFingerprint) }));
      try {
        const actual = await readActual(client, lab);
        const plan = planVms(lab, actual);
        if (ctx.options.json) {
          println(ctx.stdout, JSON.stringify({ inventory: location.display, counts: plan.counts, actions: plan.actions }));
        } else {
          for (const line of planLines(plan)) {
            const colour = line.startsWith("+") ? s.green : line.startsWith("~") ? s.yellow : line.startsWith("-") ? s.red : line.startsWith("!") ? s.red : s.dim;
            println(ctx.stdout, line.startsWith("Plan:") ? s.bold(line) : colour(line));
          }
        }
        if (plan.counts.conflict > 0) app.exitCode = EXIT_USAGE;
        else if (options.detailedExitcode === true && plan.actions.some((a) => a.kind !== "unchanged")) app.exitCode = 3;
      } finally {
        client.close();
      }
    });
}

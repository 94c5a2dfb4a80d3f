/** `edgelab up`: bring the lab up. Provider local: supervised processes on loopback. */
import { Command, Option } from "commander";
import { localUp } from "../providers/local/lab.js";
import { loadLab } from "../pipeline/inventory-file.js";
import { table } from "../output.js";
import { UsageError } from "../errors.js";
import { DEFAULT_PROVISION_FLAGS, runProvision, tlsFingerprintFlag, tlsFingerprintOption } from "./provision.js";
import { println, type App } from "./app.js";

export function upCommand(app: App): Command {
  return new Command("up")
    .description("bring the lab up and wait until every edge serves every stream live")
    .addOption(new Option("--timeout <seconds>", "give up after this long").default("120"))
    .option("--no-wait-ssh", "provider proxmox: do not wait for SSH on the new VMs")
    .addOption(tlsFingerprintOption())
    .addHelpText(
      "after",
      `
Provider local (the default inventory): starts redis, the media servers, the stream-key router
and its nginx, one edge per worker and an ffmpeg test source per stream, as supervised processes
on loopback addresses (no root needed), then prints the stream URLs. Re-running changes nothing
unless the inventory changed (nginx then reloads without dropping viewers). Files live in
.edgelab/ beside the inventory; \`edgelab status\` shows what runs, \`edgelab down\` stops it.

Examples:
  $ edgelab up
  $ edgelab up -i inventories/local.yml --json
  $ edgelab status && edgelab smoke && edgelab down`,
    )
    .action(async (options: { timeout: string; waitSsh: boolean; tlsFingerprint?: string }, cmd: Command) => {
      const ctx = app.context(cmd);
      const s = app.style(ctx);
      const timeout = Number(options.timeout);
      if (!Number.isFinite(timeout) || timeout <= 0) throw new UsageError(`--timeout must be a positive number of seconds, got '${options.timeout}'`);
      const { lab, location } = loadLab(ctx);
      if (lab.provider === "proxmox") {
        // The cluster pipeline: provisioning is its first stage.
        await runProvision(app, ctx, { ...DEFAULT_PROVISION_FLAGS, waitSsh: options.waitSsh, tlsFingerprint: tlsFingerprintFlag(options.tlsFingerprint) });
        if (app.exitCode === 0 && !ctx.options.json) {
          println(ctx.stdout, `\nThe VMs of ${location.display} are provisioned. The stages after it (prepare hosts, K3s, Cilium, deploy, DNS) are not part of this version yet.`);
        }
        return;
      }
      const progress = (line: string): void => {
        if (!ctx.options.json) println(ctx.stderr, s.dim(`  ${line}`));
      };
      const result = await localUp({ inventoryPath: location.path, lab, env: ctx.env, progress }, timeout);
      if (ctx.options.json) {
        println(ctx.stdout, JSON.stringify({ lab: lab.name, provider: lab.provider, changed: result.changed, seconds: result.seconds, streams: result.urls }));
        return;
      }
      const verb = result.changed === "started" ? "is up" : result.changed === "reloaded" ? "is up (reloaded)" : "was already up (nothing changed)";
      println(ctx.stdout, `${s.green("✔")} local lab ${lab.name} ${verb} in ${result.seconds.toFixed(1)} s\n`);
      println(ctx.stdout, table([["STREAM", "EDGE", "HLS", "DASH", "PLAYER"].map((h) => s.bold(h)), ...result.urls.map((u) => [u.stream, u.edge, u.hls, u.dash ?? "-", u.player])]));
      println(ctx.stdout, `\nNext: edgelab status · edgelab smoke · edgelab down`);
    });
}

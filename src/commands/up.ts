/** `edgelab up`: bring the lab up. Provider local: supervised processes on loopback. */
import { Command, Option } from "commander";
import { localUp } from "../providers/local/lab.js";
import { loadLab } from "../pipeline/inventory-file.js";
import { table } from "../output.js";
import { UsageError } from "../errors.js";
import { runProvision } from "./provision.js";
import { println, type App } from "./app.js";

export function upCommand(app: App): Command {
  return new Command("up")
    .description("bring the lab up and wait until every edge serves every stream live")
    .addOption(new Option("--timeout <seconds>", "give up after this long").default("120"))
    .option("--no-wait-ssh", "provider proxmox: do not wait for SSH on the new VMs")
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
    .action(async (options: { timeout: string; waitSsh: boolean }, cmd: Command) => {
      const ctx = app.context(cmd);
      const s = app.style(ctx);
      const timeout = Number(options.timeout);
      if (!Number.isFinite(timeout) || timeout <= 0) throw new UsageError(`--timeout must be a positive number of seconds, got '${options.timeout}'`);
      const { lab, location } = loadLab(ctx);
      if (lab.provider === "proxmox") {
        // The cluster pipeline: provisioning is its first stage.
        await runProvision(app, ctx, { concurrency: "4", clonesPerTemplate: "1", start: true, waitSsh: options.waitSsh, agentTimeout: "300" });
        if (app.exitCode === 0 && !ctx.options.json) {
          println(ctx.stdout, `\nThe VMs of ${location.display} are provisioned. The stages after it (prepare hosts, K3s, Cilium, deploy, DNS) are not part of this version yet.`);
        }
        return;
      }
      const progress = (line: string): void => {
        if (!ctx.options.json) println(ctx.stderr, s.dim(`  ${line}`));
      };
      const result = await localUp({ inventoryPath: location.path, lab, env: ctx.env, progress }, timeout);
      // Ingest: where an encoder publishes each stream; never the key, only the command that shows it.
      const inventoryArg = ctx.options.inventory !== undefined ? ` -i ${location.display}` : "";
      const ingest = result.ingest
        .filter((i) => i.publisher !== "pull")
        .map((i) => ({ stream: i.stream, publisher: i.publisher, url: `${i.server}/${i.stream}`, server: i.server, keyCommand: `edgelab${inventoryArg} keys show ${i.stream}` }));
      if (ctx.options.json) {
        println(ctx.stdout, JSON.stringify({ lab: lab.name, provider: lab.provider, changed: result.changed, seconds: result.seconds, streams: result.urls, ingest }));
        return;
      }
      const verb = result.changed === "started" ? "is up" : result.changed === "reloaded" ? "is up (reloaded)" : "was already up (nothing changed)";
      println(ctx.stdout, `${s.green("✔")} local lab ${lab.name} ${verb} in ${result.seconds.toFixed(1)} s\n`);
      println(ctx.stdout, table([["STREAM", "EDGE", "HLS", "DASH", "PLAYER"].map((h) => s.bold(h)), ...result.urls.map((u) => [u.stream, u.edge, u.hls, u.dash ?? "-", u.player])]));
      println(ctx.stdout);
      println(ctx.stdout, table([["STREAM", "RTMP INGEST", "PUBLISHED BY", "STREAM KEY"].map((h) => s.bold(h)), ...ingest.map((i) => [i.stream, i.url, i.publisher === "external" ? "your encoder (waiting for it)" : "the lab's test source", i.keyCommand])]));
      println(ctx.stdout, s.dim("  OBS: Server = the ingest URL without the stream name; Stream Key = what the key command prints. See docs/local-lab.md."));
      println(ctx.stdout, `\nNext: edgelab status · edgelab smoke · edgelab down`);
    });
}

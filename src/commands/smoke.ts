/** `edgelab smoke`: prove delivery, per stream and per edge. */
import { Command } from "commander";
import { writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { EXIT_FAILED, UsageError } from "../errors.js";
import { table } from "../output.js";
import { loadLab } from "../pipeline/inventory-file.js";
import { Journal } from "../pipeline/journal.js";
import { deployOutputs, smokeEndpoints } from "../pipeline/stages/deploy.js";
import { clusterSmokeTarget } from "../smoke/cluster-target.js";
import { dashPath, hlsPath } from "../providers/local/plan.js";
import { findProgram } from "../providers/local/preflight.js";
import { localSmokeTarget } from "../smoke/local-target.js";
import { junit, summary } from "../smoke/report.js";
import { runSmoke, type CheckResult, type SmokeTarget } from "../smoke/run.js";
import { netlabSitesRunning, netlabSmoke } from "../netlab/index.js";
import { println, type App } from "./app.js";

interface SmokeOptions {
  edge?: string[];
  host?: string;
  origin?: string;
  ingest?: string;
  stream?: string[];
  junit?: string;
  maxLag: string;
}

export function smokeCommand(app: App): Command {
  return new Command("smoke")
    .description("check delivery per stream and edge: playlists, live edge, segments, DASH, caching, CORS, decoding, publish auth")
    .option("--edge <url...>", "edge base URL(s) to check (default: the local lab's edges; a cluster lab's Ingress as edgelab deploy found it)")
    .option("--host <name>", "Host header for the --edge URLs (an Ingress reached by its address before DNS answers)")
    .option("--origin <url>", "origin front base URL, for the edge-lag check (default: the local lab's)")
    .option("--ingest <url>", "rtmp://host:port/live of a media server, for the wrong-key check (default: the local lab's)")
    .option("--stream <name...>", "streams to check (default: every stream in the inventory)")
    .option("--junit <file>", "also write the results as JUnit XML")
    .option("--max-lag <seconds>", "longest an edge playlist may trail the origin's", "1")
    .addHelpText(
      "after",
      `
A lab started with --network netns is checked in its namespaces instead (root): every BGP
session Established, the service /32 on each region router from its own site (eBGP, best) and
the other region (iBGP), and HLS through the service address from each region's client
namespace, served by that region's own edge (read from the edges' access logs).

For the local lab, each stream's state comes first (from the stream-key router, as in edgelab
status): a stream waiting for its publisher (your own encoder not connected yet) is reported as
such, not as a failure, and not checked further; a stalled stream fails.

For a cluster lab (provider proxmox), the targets are the Ingress and the RTMP Service as the
last \`edgelab deploy\` recorded them: the Ingress by its address with dns.name in the Host header.

Exit status: 0 when every check passes, 1 when any fails.

Examples:
  $ edgelab smoke                                   # the local lab of the inventory
  $ edgelab smoke --junit smoke.xml --json
  $ edgelab smoke --edge http://live.example.com --stream live
  $ edgelab smoke -i inventories/lab.yml             # a cluster lab, after edgelab deploy
  $ edgelab smoke --edge http://172.16.228.10 --host live.example.com
  $ sudo edgelab smoke -i inventories/netlab.yml    # a lab started with --network netns`,
    )
    .action(async (options: SmokeOptions, cmd: Command) => {
      const ctx = app.context(cmd);
      const s = app.style(ctx);
      const maxLag = Number(options.maxLag);
      if (!Number.isFinite(maxLag) || maxLag <= 0) throw new UsageError(`--max-lag must be a positive number of seconds, got '${options.maxLag}'`);
      const { lab, location } = loadLab(ctx);
      const netlabTarget = { lab, inventoryPath: location.path };
      const inNamespaces = lab.provider === "local" && options.edge === undefined && (await netlabSitesRunning(netlabTarget));
      const names = options.stream ?? lab.streams.map((x) => x.name);
      for (const name of names) if (!lab.streams.some((x) => x.name === name)) throw new UsageError(`stream '${name}' is not in the inventory`, `Streams: ${lab.streams.map((x) => x.name).join(", ")}.`);
      const deployed = lab.provider === "proxmox" && options.edge === undefined ? deployOutputs(Journal.open(join(dirname(location.path), ".edgelab"), lab.name).stage("deploy")?.outputs) : undefined;
      if (lab.provider === "proxmox" && options.edge === undefined && deployed === undefined) {
        throw new UsageError("this cluster lab has no recorded Ingress address", "Run edgelab deploy first, or give the Ingress with --edge http://<address> --host <dns.name>.");
      }
      const progress = (line: string): void => {
        if (!ctx.options.json) println(ctx.stderr, s.dim(`  ${line}`));
      };
      let results: CheckResult[];
      if (inNamespaces) results = await netlabSmoke(netlabTarget, progress);
      else {
        const target: SmokeTarget =
          deployed !== undefined
            ? clusterSmokeTarget(lab, smokeEndpoints(deployed), ctx.env["PATH"], { streams: names, maxLagSeconds: maxLag })
            : options.edge === undefined
              ? { ...(await localSmokeTarget(lab, ctx.env["PATH"], { streams: names, maxLagSeconds: maxLag })), ...(options.origin !== undefined ? { origin: options.origin } : {}), ...(options.ingest !== undefined ? { ingest: options.ingest } : {}) }
              : {
                  edges: options.edge.map((url) => ({ name: new URL(url).host, url: url.replace(/\/$/, ""), ...(options.host !== undefined ? { host: options.host } : {}) })),
                  origin: options.origin,
                  ingest: options.ingest,
                  streams: names.map((name) => ({ name, hlsPath: hlsPath(lab, name), dashPath: dashPath(lab, name) })),
                  ffmpeg: findProgram("ffmpeg", ctx.env["PATH"]) ?? "ffmpeg",
                  ffprobe: findProgram("ffprobe", ctx.env["PATH"]) ?? "ffprobe",
                  maxLagSeconds: maxLag,
                  states: undefined,
                };
        results = await runSmoke(target, progress);
      }
      const { passed, failed } = summary(results);
      if (options.junit !== undefined) writeFileSync(resolve(ctx.cwd, options.junit), junit(results));
      if (ctx.options.json) {
        println(ctx.stdout, JSON.stringify({ passed, failed, results }));
      } else {
        println(ctx.stdout, table([["CHECK", "STREAM", "EDGE", "RESULT", "MEASURED"].map((h) => s.bold(h)), ...results.map((r) => [r.check, r.stream ?? "-", r.edge ?? "-", r.ok ? s.green("pass") : s.red("FAIL"), r.value])]));
        println(ctx.stdout, `\n${passed} passed, ${failed} failed`);
      }
      if (failed > 0) app.exitCode = EXIT_FAILED;
    });
}

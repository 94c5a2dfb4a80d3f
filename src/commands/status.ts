/** `edgelab status`: what the local lab runs, with pids, ports and health, and each stream's state. */
import { Command } from "commander";
import { localStatus } from "../providers/local/lab.js";
import { resolveInventory } from "../pipeline/inventory-file.js";
import { table } from "../output.js";
import { EXIT_FAILED } from "../errors.js";
import { println, type App } from "./app.js";

export function statusCommand(app: App): Command {
  return new Command("status")
    .description("show the local lab's processes (pid, listening ports, health, restarts) and each stream's state")
    .addHelpText(
      "after",
      `
Stream states (from the stream-key router, shared with its /healthz and with edgelab smoke):
  live                    the playlist advances at the origin
  waiting for publisher   not published since the lab started, or your own encoder is not
                          connected (not a failure)
  stalled                 was live (or its publisher is connected) and the playlist stopped
                          advancing for 3 target durations (a failure)

Exit status: 0 when every process runs and answers and no stream is stalled, 1 otherwise.

Examples:
  $ edgelab status
  $ edgelab status --json | jq '.streams[] | select(.state != "live")'`,
    )
    .action(async (_options: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      const s = app.style(ctx);
      const location = resolveInventory(ctx);
      const status = await localStatus(location.path);
      const streamsOk = status.streams !== undefined && status.streams.every((x) => x.state !== "stalled");
      const healthy = status.running && status.processes.length > 0 && status.processes.every((p) => p.healthy) && streamsOk;
      if (ctx.options.json) {
        println(ctx.stdout, JSON.stringify({ inventory: location.display, ...status, healthy }));
      } else if (!status.running && status.processes.every((p) => !p.alive)) {
        println(ctx.stdout, `local lab of ${location.display} is not running`);
      } else {
        println(ctx.stdout, `supervisor: ${status.running ? `pid ${status.supervisorPid ?? "?"}` : s.red("not running")}`);
        println(
          ctx.stdout,
          table([
            ["NAME", "PID", "STATUS", "LISTEN", "HEALTH", "RESTARTS"].map((h) => s.bold(h)),
            ...status.processes.map((p) => [p.name, p.alive ? String(p.pid) : "-", p.status, p.listens.map((e) => `${e.host}:${e.port}`).join(" ") || "-", p.healthy ? s.green("ok") : s.red("down"), String(p.restarts)]),
          ]),
        );
        println(ctx.stdout);
        if (status.streams === undefined) {
          println(ctx.stdout, s.red("streams: the router does not answer, so their state is unknown"));
        } else {
          const paint = (state: string): string => (state === "live" ? s.green(state) : state === "stalled" ? s.red(state) : s.yellow(state));
          println(
            ctx.stdout,
            table([
              ["STREAM", "STATE", "PUBLISHER", "MEDIA SERVER", "LAST NEW SEGMENT"].map((h) => s.bold(h)),
              ...status.streams.map((x) => [
                x.name,
                paint(x.state),
                x.publisher === "external" ? "your encoder" : x.publisher === "pull" ? "pulled" : "test source",
                x.server ?? "-",
                x.sinceAdvance === undefined ? "-" : `${x.sinceAdvance.toFixed(1)} s ago`,
              ]),
            ]),
          );
        }
      }
      if (!healthy) app.exitCode = EXIT_FAILED;
    });
}

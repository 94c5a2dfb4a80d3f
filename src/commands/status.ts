/** `edgelab status`: what the local lab runs, with pids, ports and health. */
import { Command } from "commander";
import { localStatus } from "../providers/local/lab.js";
import { resolveInventory } from "../pipeline/inventory-file.js";
import { table } from "../output.js";
import { EXIT_FAILED } from "../errors.js";
import { println, type App } from "./app.js";

export function statusCommand(app: App): Command {
  return new Command("status")
    .description("show the local lab's processes: pid, listening ports, health, restarts")
    .addHelpText("after", `\nExit status: 0 when everything runs and answers, 1 otherwise.\n\nExamples:\n  $ edgelab status\n  $ edgelab status --json | jq '.processes[] | select(.healthy | not)'`)
    .action(async (_options: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      const s = app.style(ctx);
      const location = resolveInventory(ctx);
      const status = await localStatus(location.path);
      const healthy = status.running && status.processes.length > 0 && status.processes.every((p) => p.healthy);
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
      }
      if (!healthy) app.exitCode = EXIT_FAILED;
    });
}

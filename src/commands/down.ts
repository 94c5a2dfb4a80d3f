/** `edgelab down`: stop everything the local lab started, and nothing else. */
import { Command } from "commander";
import { localDown } from "../providers/local/lab.js";
import { resolveInventory } from "../pipeline/inventory-file.js";
import { println, type App } from "./app.js";

export function downCommand(app: App): Command {
  return new Command("down")
    .description("stop the local lab's processes (logs and generated secrets are kept)")
    .addHelpText("after", `\nOnly processes this lab's supervisor started are stopped, checked by pid and command line.\n\nExamples:\n  $ edgelab down\n  $ edgelab down -i my-lab.yml`)
    .action(async (_options: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      const location = resolveInventory(ctx);
      const result = await localDown(location.path, (line) => {
        if (!ctx.options.json) println(ctx.stderr, `  ${line}`);
      });
      if (ctx.options.json) println(ctx.stdout, JSON.stringify({ inventory: location.display, ...result }));
      else println(ctx.stdout, result.wasRunning ? `local lab stopped (${result.stopped.length} processes)` : `local lab of ${location.display} was not running`);
    });
}

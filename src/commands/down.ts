/** `edgelab down`: stop everything the local lab started, and nothing else. */
import { Command } from "commander";
import { localDown } from "../providers/local/lab.js";
import { loadLab, resolveInventory } from "../pipeline/inventory-file.js";
import { netlabDown, netlabPresent } from "../netlab/index.js";
import { println, type App } from "./app.js";

export function downCommand(app: App): Command {
  return new Command("down")
    .description("stop the local lab's processes (logs and generated secrets are kept); remove its network lab")
    .addHelpText(
      "after",
      `
Only processes this lab's supervisor started are stopped, checked by pid and command line.
A lab started with --network netns (or edgelab netlab up) is removed too: every process in its
el-<id>-* namespaces, then the namespaces with their links (root) — nothing else.

Examples:
  $ edgelab down
  $ edgelab down -i my-lab.yml
  $ sudo edgelab down -i inventories/netlab.yml`,
    )
    .action(async (_options: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      const location = resolveInventory(ctx);
      const result = await localDown(location.path, (line) => {
        if (!ctx.options.json) println(ctx.stderr, `  ${line}`);
      });
      // The network lab of this inventory (only when it has one: an invalid or BGP-less inventory has none).
      let namespaces: string[] = [];
      const loaded = ((): ReturnType<typeof loadLab> | undefined => {
        try {
          return loadLab(ctx, location);
        } catch (error) {
          if (!ctx.options.json) println(ctx.stderr, `  not checking for a network lab: ${(error as Error).message.split("\n")[0] ?? ""}`);
          return undefined;
        }
      })();
      if (loaded !== undefined && loaded.lab.cilium.bgp !== undefined && loaded.lab.cilium.lbPool.length > 0) {
        const target = { lab: loaded.lab, inventoryPath: location.path };
        if (await netlabPresent(target)) namespaces = await netlabDown(target);
      }
      if (ctx.options.json) println(ctx.stdout, JSON.stringify({ inventory: location.display, ...result, namespaces }));
      else {
        if (result.wasRunning || namespaces.length === 0) println(ctx.stdout, result.wasRunning ? `local lab stopped (${result.stopped.length} processes)` : `local lab of ${location.display} was not running`);
        if (namespaces.length > 0) println(ctx.stdout, `network lab removed (${namespaces.length} namespaces, their links and processes)`);
      }
    });
}

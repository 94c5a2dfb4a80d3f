/** `edgelab schema`: the inventory JSON Schema, for editors and CI. */
import { Command } from "commander";
import { inventoryJsonSchema } from "../inventory/json-schema.js";
import { println, type App } from "./app.js";

export function schemaCommand(app: App): Command {
  return new Command("schema")
    .description("print the inventory JSON Schema (draft-07), with a description of every field")
    .addHelpText(
      "after",
      `
Examples:
  $ edgelab schema > inventory.schema.json
  Then put this first line in the inventory for completion and checks in editors that use
  the YAML language server (VS Code, Neovim, ...):
    # yaml-language-server: $schema=./inventory.schema.json`,
    )
    .action((_options: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      println(ctx.stdout, JSON.stringify(inventoryJsonSchema(), null, 2));
    });
}

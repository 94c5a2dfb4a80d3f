/** `edgelab schema`: the inventory JSON Schema, for editors and CI. */
import { Command } from "commander";
import { inventoryJsonSchema } from "../inventory/json-schema.js";
import { inventoryReference } from "../inventory/reference.js";
import { println, type App } from "./app.js";

export function schemaCommand(app: App): Command {
  return new Command("schema")
    .description("print the inventory JSON Schema (draft-07), with a description of every field")
    .option("--markdown", "print the inventory reference as Markdown instead (docs/inventory.md)")
    .addHelpText(
      "after",
      `
Examples:
  $ edgelab schema > inventory.schema.json
  $ edgelab schema --markdown > docs/inventory.md
  Then put this first line in the inventory for completion and checks in editors that use
  the YAML language server (VS Code, Neovim, ...):
    # yaml-language-server: $schema=./inventory.schema.json`,
    )
    .action((options: { markdown?: boolean }, cmd: Command) => {
      const ctx = app.context(cmd);
      const schema = inventoryJsonSchema();
      if (options.markdown === true) ctx.stdout.write(inventoryReference(schema));
      else println(ctx.stdout, JSON.stringify(schema, null, 2));
    });
}

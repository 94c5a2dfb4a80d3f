/** The inventory JSON Schema, generated from the zod schema (the single source). Pure. */
import { z } from "zod";
import { Inventory } from "./schema.js";

export const SCHEMA_ID = "https://edgelab.dev/schema/inventory.schema.json";

export function inventoryJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(Inventory, { target: "draft-7", io: "input", unrepresentable: "any" }) as Record<string, unknown>;
  return {
    $schema: generated["$schema"],
    $id: SCHEMA_ID,
    title: "edgelab inventory",
    ...generated,
  };
}

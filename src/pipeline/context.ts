/** Builds what every stage reads from the command's context: the lab, its files, its options. */
import { dirname, join } from "node:path";
import type { Context } from "../context.js";
import { issueLine } from "../commands/issues-report.js";
import { style } from "../output.js";
import { loadLab, readInventory } from "./inventory-file.js";
import type { PipelineBase } from "./runner.js";
import { Journal } from "./journal.js";
import type { PipelineContext, PipelineOptions } from "./stage.js";

/** Loads and validates the inventory (an invalid one throws InventoryError, nothing runs). */
export function loadPipeline(ctx: Context, options: PipelineOptions): PipelineBase {
  const { lab, location, validation } = loadLab(ctx);
  return {
    ctx,
    location,
    lab,
    inventoryText: readInventory(ctx, location),
    warnings: validation.issues.filter((i) => i.severity === "warning").map((i) => issueLine(i, style(false))),
    stateDir: join(dirname(location.path), ".edgelab"),
    options,
  };
}

/** A context for looking (plans, destroy plans) outside a run: outputs as the journal has them. */
export function lookingContext(base: PipelineBase): PipelineContext {
  const journal = Journal.open(base.stateDir, base.lab.name);
  return { ...base, logDir: join(base.stateDir, "logs", "plan"), outputs: journal.outputs(), lastChanged: journal.lastChanged() };
}

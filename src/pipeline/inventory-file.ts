/**
 * Finding and loading the inventory file: the only file I/O of the inventory stage.
 */
import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import type { Context } from "../context.js";
import { EdgelabError, EXIT_USAGE, InventoryError, UsageError } from "../errors.js";
import { validateInventoryText, type ValidationResult } from "../inventory/validate.js";
import { buildLab, type Lab } from "../model/lab.js";
import { SHIPPED_INVENTORIES_DIR } from "../paths.js";

export interface InventoryLocation {
  /** Absolute path. */
  readonly path: string;
  /** How it was chosen, for messages: "-i", "EDGELAB_INVENTORY", "./inventory.yml", "default". */
  readonly source: string;
  /** Path as shown to the user (relative to the working directory when inside it). */
  readonly display: string;
}

function display(ctx: Context, path: string): string {
  const rel = relative(ctx.cwd, path);
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
}

/** -i, else $EDGELAB_INVENTORY, else ./inventory.yml, else inventories/local.yml. */
export function resolveInventory(ctx: Context): InventoryLocation {
  const pick = (path: string, source: string): InventoryLocation => {
    const absolute = resolve(ctx.cwd, path);
    return { path: absolute, source, display: display(ctx, absolute) };
  };
  if (ctx.options.inventory !== undefined) return pick(ctx.options.inventory, "-i");
  const fromEnv = ctx.env["EDGELAB_INVENTORY"];
  if (fromEnv !== undefined && fromEnv !== "") return pick(fromEnv, "EDGELAB_INVENTORY");
  if (existsSync(join(ctx.cwd, "inventory.yml"))) return pick("inventory.yml", "./inventory.yml");
  const local = join(ctx.cwd, "inventories", "local.yml");
  return pick(existsSync(local) ? local : join(SHIPPED_INVENTORIES_DIR, "local.yml"), "default");
}

export function readInventory(ctx: Context, location: InventoryLocation): string {
  try {
    return readFileSync(location.path, "utf8");
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const via = location.source === "-i" ? "" : ` (chosen by ${location.source})`;
    if (code === "ENOENT") {
      throw new UsageError(`inventory ${location.display}${via} does not exist`, "Pass one with -i <file>, or start from inventories/local.yml.");
    }
    if (code === "EISDIR") throw new UsageError(`inventory ${location.display} is a directory`, "Pass the YAML file itself with -i <file>.");
    throw new EdgelabError(`cannot read inventory ${location.display}: ${(cause as Error).message}`, { exitCode: EXIT_USAGE, cause });
  }
}

export function validateInventory(ctx: Context, location: InventoryLocation): ValidationResult {
  return validateInventoryText(readInventory(ctx, location), location.display);
}

export interface LoadedLab {
  readonly location: InventoryLocation;
  readonly validation: ValidationResult;
  readonly lab: Lab;
}

/** Validates and builds the model; an invalid inventory throws InventoryError with every issue. */
export function loadLab(ctx: Context, location: InventoryLocation = resolveInventory(ctx)): LoadedLab {
  const validation = validateInventory(ctx, location);
  if (validation.facts === undefined) throw new InventoryError(location.display, validation.issues);
  return { location, validation, lab: buildLab(validation.facts) };
}

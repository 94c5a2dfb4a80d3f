/** Where edgelab's own files are (templates, shipped inventories), wherever it is installed. */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The package root: the directory holding package.json (src/ or dist/ is one level down). */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const TEMPLATES_DIR = join(PACKAGE_ROOT, "templates");
export const SHIPPED_INVENTORIES_DIR = join(PACKAGE_ROOT, "inventories");

/**
 * The one nunjucks environment every renderer uses: undefined variables are errors, output is
 * never HTML-escaped (these are config files), blocks do not leave blank lines behind.
 */
import nunjucks from "nunjucks";
import { TEMPLATES_DIR } from "../paths.js";

export type TemplateEnvironment = nunjucks.Environment;

export function createEnvironment(dir: string = TEMPLATES_DIR): TemplateEnvironment {
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(dir, { noCache: false }), {
    autoescape: false,
    throwOnUndefined: true,
    trimBlocks: true,
    lstripBlocks: true,
  });
  env.addFilter("pad", (value: unknown, width: number) => String(value).padEnd(width));
  env.addFilter("lpad", (value: unknown, width: number) => String(value).padStart(width));
  env.addFilter("json", (value: unknown) => JSON.stringify(value));
  return env;
}

let shared: TemplateEnvironment | undefined;

/** A process-wide environment over the shipped templates (compiled templates are cached). */
export function defaultEnvironment(): TemplateEnvironment {
  shared ??= createEnvironment();
  return shared;
}

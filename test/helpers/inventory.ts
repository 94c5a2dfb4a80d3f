/** Builders for test inventories: a known-good lab as data, mutated per test, as YAML text. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { validateInventoryText, type ValidationResult } from "../../src/inventory/validate.js";
import type { LocatedIssue } from "../../src/inventory/issue.js";
import { formatPath } from "../../src/inventory/issue.js";

export const ROOT = join(import.meta.dirname, "..", "..");

export function shipped(name: "lab" | "local"): string {
  return readFileSync(join(ROOT, "inventories", `${name}.yml`), "utf8");
}

export type Data = Record<string, unknown>;

/** The seed lab (inventories/lab.yml) as plain data, fresh each call. */
export function labData(): Data {
  return parse(shipped("lab")) as Data;
}

export function localData(): Data {
  return parse(shipped("local")) as Data;
}

/** Mutable access by dotted path: at(d, "all.vars.k3s").token = ... */
export function at(data: Data, path: string): Data {
  let node: unknown = data;
  for (const key of path.split(".")) {
    if (node === null || typeof node !== "object") throw new Error(`no ${path}`);
    const record = node as Record<string, unknown>;
    record[key] ??= {};
    node = record[key];
  }
  return node as Data;
}

export function vars(data: Data): Data {
  return at(data, "all.vars");
}

export function host(data: Data, name: string): Data {
  const group = name.startsWith("lab-") ? "master" : "node";
  return at(data, `all.children.k3s_cluster.children.${group}.hosts.${name}`);
}

export function check(data: Data | string, file = "test.yml"): ValidationResult {
  return validateInventoryText(typeof data === "string" ? data : stringify(data), file);
}

export function errors(result: ValidationResult): LocatedIssue[] {
  return result.issues.filter((i) => i.severity === "error");
}

export function warnings(result: ValidationResult): LocatedIssue[] {
  return result.issues.filter((i) => i.severity === "warning");
}

/** Issues whose message matches, as "path: message" strings for readable failures. */
export function matching(result: ValidationResult, pattern: RegExp, severity?: "error" | "warning"): string[] {
  return result.issues
    .filter((i) => pattern.test(i.message) && (severity === undefined || i.severity === severity))
    .map((i) => `${formatPath(i.path)}: ${i.message}`);
}

/**
 * Validation: YAML syntax, schema, then every cross-field rule; ALL problems are collected and
 * each is given its file:line:col. Pure: takes the text, returns issues. Never throws on input.
 */
import { collectFacts, type InventoryFacts } from "./facts.js";
import { compareLocated, error, type Issue, type LocatedIssue } from "./issue.js";
import { locate, parseInventoryText, type ParsedInventory } from "./parse.js";
import { RULES, type Rule } from "./rules.js";
import { fromZodIssues } from "./schema-issues.js";
import { Inventory } from "./schema.js";

export interface ValidationResult {
  readonly file: string;
  /** Sorted by position; errors before warnings at the same place. */
  readonly issues: readonly LocatedIssue[];
  /** Present when there are no errors (warnings allowed). */
  readonly facts: InventoryFacts | undefined;
}

/**
 * The data, and the parse itself when it is cheap to keep: a small text, or a large one whose
 * one-line host mappings the fast path read (the document tree is then a few MB). Otherwise the
 * tree (the largest structure by far) is dropped and rebuilt only if there is an issue to locate.
 */
function dataOnly(text: string): { data: unknown; syntax: ParsedInventory["syntax"]; kept: ParsedInventory | undefined } {
  const parsed = parseInventoryText(text);
  const keep = parsed.fast !== undefined || text.length < 64 * 1024;
  return { data: parsed.data, syntax: parsed.syntax, kept: keep ? parsed : undefined };
}

export function hasErrors(issues: readonly Issue[]): boolean {
  return issues.some((i) => i.severity === "error");
}

export function validateInventoryText(text: string, file: string, rules: readonly Rule[] = RULES): ValidationResult {
  // Positions are only needed when something is wrong: the document tree (the largest
  // structure by far) is not kept; it is rebuilt from the text only to locate issues.
  const { data, syntax, kept } = dataOnly(text);
  if (syntax.length > 0) {
    return { file, issues: syntax.map((i) => ({ ...i, file })).sort(compareLocated), facts: undefined };
  }
  const reparse = (): ParsedInventory => kept ?? parseInventoryText(text);
  const found: Issue[] = [];
  if (data === null || data === undefined) {
    found.push(error([], "the inventory is empty", "Start from a copy of inventories/local.yml."));
    return finish(reparse, file, found, undefined);
  }
  const schema = Inventory.safeParse(data, { reportInput: true });
  if (!schema.success) found.push(...fromZodIssues(Inventory, schema.error.issues));
  let facts: InventoryFacts | undefined;
  try {
    facts = collectFacts(data);
    for (const rule of rules) found.push(...rule(facts));
  } catch (cause) {
    // A rule must never crash validation; report what happened instead of a stack trace.
    const message = cause instanceof Error ? cause.message : String(cause);
    found.push(error([], `internal validation error: ${message}`, "Please report this with the inventory that caused it."));
  }
  return finish(reparse, file, dedupe(found), facts);
}

function dedupe(issues: readonly Issue[]): Issue[] {
  const seen = new Set<string>();
  const out: Issue[] = [];
  for (const issue of issues) {
    const key = `${issue.severity}|${issue.path.join("\u0000")}|${issue.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(issue);
  }
  return out;
}

function finish(reparse: () => ParsedInventory, file: string, issues: readonly Issue[], facts: InventoryFacts | undefined): ValidationResult {
  if (issues.length === 0) return { file, issues: [], facts };
  const parsed = reparse();
  const located = issues.map((issue) => ({ ...issue, file, position: locate(parsed, issue.path, issue.atKey === true) })).sort(compareLocated);
  return { file, issues: located, facts: hasErrors(located) ? undefined : facts };
}

/**
 * YAML text → document with positions. Pure: the caller reads the file.
 *
 * Parsed as YAML 1.1 because Ansible (PyYAML) reads inventories that way: `yes`/`no`/`on`/`off`
 * are booleans and `<<` merge keys work, so edgelab and ansible-inventory see the same values.
 */
import { Document, isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node, type ParsedNode, type ScalarTag } from "yaml";
import { error, type Issue, type PathSegment, type Position } from "./issue.js";

/** `!vault |` values become `{vault: ciphertext}` so the schema can recognise them. */
const vaultTag: ScalarTag = {
  tag: "!vault",
  resolve: (value: string) => ({ vault: value }),
  identify: () => false,
};

export interface ParsedInventory {
  readonly doc: Document.Parsed;
  readonly lines: LineCounter;
  /** The plain data; undefined when the YAML could not be parsed at all. */
  readonly data: unknown;
  /** YAML syntax problems, each with its own position. */
  readonly syntax: readonly SyntaxIssue[];
}

export interface SyntaxIssue extends Issue {
  readonly position: Position;
}

const ALIAS_LIMIT = 1000;

export function parseInventoryText(text: string): ParsedInventory {
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter: lines,
    version: "1.1",
    merge: true,
    // The library's own check compares every key with every other (quadratic: ~1 s for a
    // 10,000-host group); duplicateKeys() below does the same in one pass.
    uniqueKeys: false,
    prettyErrors: false,
    customTags: [vaultTag],
    strict: true,
  });
  const syntax: SyntaxIssue[] = [];
  for (const problem of doc.errors) {
    const position = toPosition(lines, problem.pos[0]);
    const message = firstLine(problem.message);
    syntax.push({
      ...error([], `YAML syntax error: ${message}`, syntaxHint(problem.code)),
      position,
    });
  }
  for (const { key, text } of duplicateKeys(doc.contents)) {
    syntax.push({
      ...error([], `YAML syntax error: duplicate key '${text}' (Map keys must be unique)`, syntaxHint("DUPLICATE_KEY")),
      position: toPosition(lines, nodeStart(key) ?? 0),
    });
  }
  if (syntax.length > 0) return { doc, lines, data: undefined, syntax };
  try {
    const data: unknown = doc.toJS({ maxAliasCount: ALIAS_LIMIT });
    return { doc, lines, data, syntax };
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    syntax.push({ ...error([], `YAML could not be resolved: ${firstLine(message)}`, "Check anchors and aliases (&name / *name)."), position: { line: 1, col: 1 } });
    return { doc, lines, data: undefined, syntax };
  }
}

/** Keys that repeat within one mapping, in one pass over the document. */
function duplicateKeys(root: unknown): { key: unknown; text: string }[] {
  const found: { key: unknown; text: string }[] = [];
  const stack: unknown[] = [root];
  const seenNodes = new Set<unknown>();
  while (stack.length > 0) {
    const node = stack.pop();
    if (node === null || typeof node !== "object" || seenNodes.has(node)) continue;
    seenNodes.add(node);
    if (isMap(node)) {
      const keys = new Set<string>();
      for (const pair of node.items) {
        const key = pair.key;
        if (isScalar(key) && (typeof key.value === "string" || typeof key.value === "number" || typeof key.value === "boolean")) {
          const text = String(key.value);
          const id = `${typeof key.value}:${text}`;
          if (keys.has(id)) found.push({ key, text });
          keys.add(id);
        }
        stack.push(pair.value);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) stack.push(item);
    }
  }
  return found;
}

function syntaxHint(code: string): string | undefined {
  switch (code) {
    case "DUPLICATE_KEY":
      return "Each key may appear once per mapping; merge the two entries.";
    case "TAB_AS_INDENT":
      return "Indent with spaces, not tabs.";
    case "BAD_INDENT":
    case "MISSING_CHAR":
    case "UNEXPECTED_TOKEN":
      return "Check the indentation and punctuation on this line and the one before.";
    default:
      return undefined;
  }
}

function firstLine(message: string): string {
  const line = message.split("\n", 1)[0] ?? message;
  return line.replace(/ at line \d+, column \d+:?$/, "").trim();
}

export function toPosition(lines: LineCounter, offset: number): Position {
  const { line, col } = lines.linePos(Math.max(0, offset));
  return { line, col };
}

/**
 * Where a path points in the document: the value node (or its key, with `atKey`), or when the
 * path does not exist, the key of the deepest part that does. Never throws.
 */
export function locate(parsed: ParsedInventory, path: readonly PathSegment[], atKey = false): Position {
  let node: unknown = parsed.doc.contents;
  let best: number = nodeStart(node) ?? 0;
  for (let i = 0; i < path.length; i++) {
    const segment = path[i];
    if (segment === undefined) break;
    const last = i === path.length - 1;
    const step = child(parsed.doc, node, segment);
    if (step === undefined) return toPosition(parsed.lines, best);
    node = step.value;
    const keyStart = step.key !== undefined ? nodeStart(step.key) : undefined;
    const valueStart = nodeStart(step.value);
    if (last && atKey && keyStart !== undefined) return toPosition(parsed.lines, keyStart);
    best = valueStart ?? keyStart ?? best;
    if (step.value === null || step.value === undefined) best = keyStart ?? best;
  }
  return toPosition(parsed.lines, best);
}

interface Step {
  key?: unknown;
  value: unknown;
}

function child(doc: Document.Parsed, node: unknown, segment: PathSegment, depth = 0): Step | undefined {
  if (depth > 8) return undefined;
  if (isAlias(node)) return child(doc, node.resolve(doc), segment, depth + 1);
  if (isMap(node)) {
    const merges: unknown[] = [];
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const keyValue = isScalar(pair.key) ? pair.key.value : pair.key;
      if (keyValue === "<<" || (typeof keyValue === "symbol" && keyValue.description === "<<")) {
        merges.push(pair.value);
        continue;
      }
      if ((typeof keyValue === "string" || typeof keyValue === "number" || typeof keyValue === "boolean") && String(keyValue) === String(segment)) {
        return { key: pair.key, value: pair.value };
      }
    }
    for (const source of merges) {
      const sources = isSeq(source) ? source.items : [source];
      for (const item of sources) {
        const found = child(doc, item, segment, depth + 1);
        if (found !== undefined) return found;
      }
    }
    return undefined;
  }
  if (isSeq(node) && typeof segment === "number") {
    const item = node.items[segment];
    return item === undefined ? undefined : { value: item };
  }
  return undefined;
}

function nodeStart(node: unknown): number | undefined {
  if (node === null || typeof node !== "object") return undefined;
  const range = (node as Partial<ParsedNode> & Partial<Node>).range;
  return Array.isArray(range) && typeof range[0] === "number" ? range[0] : undefined;
}

/**
 * YAML text → document with positions. Pure: the caller reads the file.
 *
 * Parsed as YAML 1.1 because Ansible (PyYAML) reads inventories that way: `yes`/`no`/`on`/`off`
 * are booleans and `<<` merge keys work, so edgelab and ansible-inventory see the same values.
 */
import { randomBytes } from "node:crypto";
import { Document, isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type DocumentOptions, type Node, type ParsedNode, type ParseOptions, type ScalarTag, type SchemaOptions } from "yaml";
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
  /** One-line flow mappings read by the fast path (see fastLines); undefined when none were. */
  readonly fast: FastLines | undefined;
}

export interface SyntaxIssue extends Issue {
  readonly position: Position;
}

const ALIAS_LIMIT = 1000;

const OPTIONS: ParseOptions & DocumentOptions & SchemaOptions = {
  version: "1.1",
  merge: true,
  // The library's own check compares every key with every other (quadratic: ~1 s for a
  // 10,000-host group); duplicateKeys() below does the same in one pass.
  uniqueKeys: false,
  prettyErrors: false,
  customTags: [vaultTag],
  strict: true,
};

export interface ParseInventoryOptions {
  /**
   * Read one-line flow mappings (`name: {key: value, ...}`) of large inventories without the
   * YAML library's general parser (see fastLines). "auto": for texts over 64 KiB.
   */
  readonly fastPath?: "auto" | "always" | "never";
}

export function parseInventoryText(text: string, options: ParseInventoryOptions = {}): ParsedInventory {
  const mode = options.fastPath ?? "auto";
  const fast = mode === "never" || (mode === "auto" && text.length < 64 * 1024) ? undefined : fastLines(text);
  const lines = new LineCounter();
  const doc = parseDocument(fast?.reduced ?? text, { ...OPTIONS, lineCounter: lines });
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
  if (syntax.length > 0) return { doc, lines, data: undefined, syntax, fast };
  try {
    const data: unknown = doc.toJS({ maxAliasCount: ALIAS_LIMIT });
    if (fast !== undefined) substituteMarkers(data, fast);
    return { doc, lines, data, syntax, fast };
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    syntax.push({ ...error([], `YAML could not be resolved: ${firstLine(message)}`, "Check anchors and aliases (&name / *name)."), position: { line: 1, col: 1 } });
    return { doc, lines, data: undefined, syntax, fast };
  }
}

/*
 * The fast path. At 10,000 hosts nearly all of an inventory is lines like
 *
 *     edge-00001: {ansible_host: 10.200.0.2, vmid: 10000, data_vlan: 200, label: edge-1}
 *
 * and the YAML library's general parser spends ~85% of its time and memory on them. Such a line
 * is read here instead: each value through the same YAML 1.1 schema tags the library would use,
 * so the data is the same. In the text handed to the library the flow mapping is replaced by a
 * marker scalar padded to the same length, so every offset (and position) stays the same; the
 * markers are swapped for the mappings after toJS. Anything unusual keeps the general path: a
 * line inside a block scalar, quotes or brackets spanning lines (then no line is taken at all),
 * a value that is not a plain scalar of letters, digits and . _ / + -, a key that is not a plain
 * string, a key given twice, a mapping shorter than its marker.
 */

export interface FastLines {
  /** The text with each taken flow mapping replaced by a marker of the same length. */
  readonly reduced: string;
  /** Markers are this prefix followed by the mapping's index in base 36. */
  readonly prefix: string;
  readonly objects: readonly Record<string, unknown>[];
  /** Offset of each taken mapping's `{` in the text (the same in `reduced`). */
  readonly offsets: readonly number[];
  readonly source: string;
}

const FLOW_LINE = /^( *)([A-Za-z0-9][A-Za-z0-9_.-]*): (\{[^\n]*\})[ \t]*$/;
const PAIR = /[ \t]*([A-Za-z_][A-Za-z0-9_]*): ((?:[A-Za-z0-9_./+]|-(?=[A-Za-z0-9_.]))[A-Za-z0-9_./+-]*)[ \t]*(,|$)/y;
const BLOCK_SCALAR_HEADER = /(?:^|\s)[|>][-+1-9]{0,2}$/;

interface FlowPair {
  readonly key: string;
  /** Offsets of the key and the value within the flow mapping's text (from its `{`). */
  readonly keyAt: number;
  readonly valueAt: number;
  readonly value: unknown;
}

let reference: Document | undefined;

/** A plain scalar resolved as the library resolves it (YAML 1.1 tags, in the same order). */
function resolvePlain(value: string, atKey: boolean): { ok: true; value: unknown } | { ok: false } {
  reference ??= new Document(null, OPTIONS);
  const tags = reference.schema.tags;
  const tag = tags.find((t): t is ScalarTag => !("collection" in t && t.collection !== undefined) && (t.default === true || (atKey && t.default === "key")) && t.test?.test(value) === true);
  if (tag === undefined) return { ok: true, value };
  let failed = false;
  const resolved = tag.resolve(value, () => (failed = true), reference.options);
  if (failed) return { ok: false };
  // Some tags (floats) answer a Scalar node; toJS would take its value.
  return { ok: true, value: isScalar(resolved) ? resolved.value : resolved };
}

/** The pairs of `{k: v, ...}` when every part is plain and simple; undefined otherwise. */
function flowPairs(flow: string): FlowPair[] | undefined {
  const body = flow.slice(1, -1);
  if (body.trim() === "") return undefined;
  const pairs: FlowPair[] = [];
  PAIR.lastIndex = 0;
  while (PAIR.lastIndex < body.length) {
    const start = PAIR.lastIndex;
    const m = PAIR.exec(body);
    if (m === null) return undefined;
    const [whole, key = "", raw = "", sep] = m;
    if (sep === "" && PAIR.lastIndex < body.length) return undefined;
    const k = resolvePlain(key, true);
    if (!k.ok || typeof k.value !== "string" || pairs.some((p) => p.key === k.value)) return undefined;
    const v = resolvePlain(raw, false);
    if (!v.ok) return undefined;
    const keyAt = 1 + start + whole.indexOf(key);
    pairs.push({ key: k.value, keyAt, valueAt: keyAt + key.length + 2, value: v.value });
    if (sep === "") break;
  }
  return pairs;
}

/** Quotes and brackets of one line (comments stripped) balance on that line. */
function balanced(line: string): { ok: boolean; content: string } {
  let single = false;
  let double = false;
  let depth = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (double) {
      if (c === "\\") i += 1;
      else if (c === '"') double = false;
    } else if (single) {
      if (c === "'") single = false;
    } else if (c === '"') double = true;
    else if (c === "'") single = true;
    else if (c === "#" && (i === 0 || line[i - 1] === " " || line[i - 1] === "\t")) return { ok: depth === 0, content: line.slice(0, i).trimEnd() };
    else if (c === "{" || c === "[") depth += 1;
    else if (c === "}" || c === "]") depth -= 1;
  }
  return { ok: !single && !double && depth === 0, content: line.trimEnd() };
}

/** Finds the lines the fast path takes; undefined when it takes none (or must not take any). */
export function fastLines(text: string): FastLines | undefined {
  let prefix: string;
  do prefix = `zq${randomBytes(3).toString("hex").replace(/[0-9]/g, (d) => "ghijklmnop"[Number(d)] ?? "x")}`;
  while (text.includes(prefix));
  const objects: Record<string, unknown>[] = [];
  const offsets: number[] = [];
  const pieces: string[] = [];
  let copied = 0;
  let blockIndent: number | undefined;
  for (let start = 0; start < text.length; ) {
    const newline = text.indexOf("\n", start);
    const end = newline === -1 ? text.length : newline;
    const line = text.slice(start, end);
    const lineStart = start;
    start = end + 1;
    const indent = line.length - line.trimStart().length;
    if (blockIndent !== undefined) {
      if (line.trim() === "" || indent > blockIndent) continue; // block scalar content
      blockIndent = undefined;
    }
    if (/^\s*(#|$)/.test(line)) continue;
    const { ok, content } = balanced(line);
    if (!ok) return undefined; // a quoted scalar or a flow collection spans lines: read nothing fast
    if (BLOCK_SCALAR_HEADER.test(content)) {
      blockIndent = indent;
      continue;
    }
    const m = FLOW_LINE.exec(line);
    const flow = m?.[3];
    if (m === null || flow === undefined) continue;
    const pairs = flowPairs(flow);
    const marker = `${prefix}${objects.length.toString(36)}`;
    if (pairs === undefined || marker.length > flow.length) continue;
    const at = lineStart + line.indexOf(flow, (m[1] ?? "").length + (m[2] ?? "").length);
    pieces.push(text.slice(copied, at), marker.padEnd(flow.length));
    copied = at + flow.length;
    objects.push(Object.fromEntries(pairs.map((p) => [p.key, p.value])));
    offsets.push(at);
  }
  if (objects.length === 0) return undefined;
  pieces.push(text.slice(copied));
  return { reduced: pieces.join(""), prefix, objects, offsets, source: text };
}

function markerIndex(fast: FastLines, value: unknown): number | undefined {
  if (typeof value !== "string" || !value.startsWith(fast.prefix)) return undefined;
  const index = parseInt(value.slice(fast.prefix.length), 36);
  return Number.isInteger(index) && index >= 0 && index < fast.objects.length && value === `${fast.prefix}${index.toString(36)}` ? index : undefined;
}

/** Puts the fast path's mappings where their markers ended up in the data (merges and aliases included). */
function substituteMarkers(data: unknown, fast: FastLines): void {
  const stack: unknown[] = [data];
  const seen = new Set<unknown>();
  while (stack.length > 0) {
    const node = stack.pop();
    if (node === null || typeof node !== "object" || seen.has(node) || node instanceof Date) continue;
    seen.add(node);
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const index = markerIndex(fast, node[i]);
        if (index !== undefined) node[i] = fast.objects[index];
        else stack.push(node[i]);
      }
    } else {
      const record = node as Record<string, unknown>;
      for (const key of Object.keys(record)) {
        const index = markerIndex(fast, record[key]);
        if (index !== undefined) record[key] = fast.objects[index];
        else stack.push(record[key]);
      }
    }
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
    const fastIndex = parsed.fast === undefined || !isScalar(node) ? undefined : markerIndex(parsed.fast, node.value);
    if (parsed.fast !== undefined && fastIndex !== undefined) {
      // Inside a mapping the fast path read: positions from its text.
      const at = parsed.fast.offsets[fastIndex] ?? 0;
      const flow = /^\{[^\n]*\}/.exec(parsed.fast.source.slice(at, parsed.fast.source.indexOf("\n", at) === -1 ? undefined : parsed.fast.source.indexOf("\n", at)))?.[0] ?? "";
      const pair = flowPairs(flow)?.find((p) => p.key === String(segment));
      if (pair === undefined) return toPosition(parsed.lines, best);
      return toPosition(parsed.lines, at + (last && atKey ? pair.keyAt : pair.valueAt));
    }
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

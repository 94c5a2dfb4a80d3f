/**
 * zod issues → edgelab issues with plain-language messages and hints. Pure.
 */
import { z } from "zod";
import { closest } from "../util/suggest.js";
import { error, type Issue, type PathSegment } from "./issue.js";
import { SecretRef } from "./schema.js";

const SECRET_FORMS = 'Write it as {env: NAME}, {file: path}, {generate: true}, an !vault value, or "{{ vault_var }}".';

type AnySchema = z.ZodType;

/** Follows a document path through the schema; undefined where the schema allows anything. */
export function schemaAt(root: AnySchema, path: readonly PathSegment[]): AnySchema | undefined {
  let current: AnySchema | undefined = root;
  for (const segment of path) {
    current = current === undefined ? undefined : step(unwrap(current), segment);
  }
  return current;
}

function unwrap(schema: AnySchema): AnySchema {
  let current = schema;
  for (let i = 0; i < 10; i++) {
    if (current instanceof z.ZodOptional || current instanceof z.ZodNullable) current = current.unwrap() as AnySchema;
    else if (current instanceof z.ZodDefault) current = current.unwrap() as AnySchema;
    else break;
  }
  return current;
}

function step(schema: AnySchema, segment: PathSegment): AnySchema | undefined {
  if (schema instanceof z.ZodObject) {
    const shape = schema.shape as Record<string, AnySchema>;
    const field = typeof segment === "string" ? shape[segment] : undefined;
    if (field !== undefined) return field;
    const catchall = schema.def.catchall as AnySchema | undefined;
    return catchall instanceof z.ZodNever || catchall instanceof z.ZodUnknown ? undefined : catchall;
  }
  if (schema instanceof z.ZodRecord) return schema.valueType as AnySchema;
  if (schema instanceof z.ZodArray) return typeof segment === "number" ? (schema.element as AnySchema) : undefined;
  if (schema instanceof z.ZodUnion) {
    for (const option of schema.options as readonly AnySchema[]) {
      const found = step(unwrap(option), segment);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** The keys an object schema at this path knows, for "did you mean" hints. */
export function knownKeysAt(root: AnySchema, path: readonly PathSegment[]): string[] {
  const schema = schemaAt(root, path);
  if (schema === undefined) return [];
  const inner = unwrap(schema);
  const objects: AnySchema[] = inner instanceof z.ZodUnion ? (inner.options as readonly AnySchema[]).map(unwrap) : [inner];
  const keys: string[] = [];
  for (const candidate of objects) {
    if (candidate instanceof z.ZodObject) keys.push(...Object.keys(candidate.shape));
  }
  return keys;
}

function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null (an empty value)";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value)}`;
  if (typeof value === "number") return Number.isInteger(value) ? `the integer ${value}` : `the number ${value}`;
  if (typeof value === "boolean" || typeof value === "bigint") return `${typeof value} ${value.toString()}`;
  return typeof value;
}

function expectedName(expected: string): string {
  switch (expected) {
    case "int":
      return "an integer";
    case "number":
      return "a number";
    case "string":
      return "a string";
    case "boolean":
      return "true or false";
    case "object":
      return "a mapping";
    case "array":
      return "a list";
    default:
      return expected;
  }
}

function lastKey(path: readonly PathSegment[]): string {
  for (let i = path.length - 1; i >= 0; i--) {
    const segment = path[i];
    if (typeof segment === "string") return segment;
  }
  return "value";
}

function description(root: AnySchema, path: readonly PathSegment[]): string | undefined {
  let schema = schemaAt(root, path);
  for (let i = 0; schema !== undefined && i < 10; i++) {
    if (schema.description !== undefined) return schema.description;
    const inner = unwrap(schema);
    schema = inner === schema ? undefined : inner;
  }
  return undefined;
}

/** Converts every zod issue into edgelab issues (an unknown-keys issue becomes one per key). */
export function fromZodIssues(root: AnySchema, issues: readonly z.core.$ZodIssue[]): Issue[] {
  const out: Issue[] = [];
  for (const issue of issues) {
    const path = issue.path.filter((p): p is PathSegment => typeof p !== "symbol");
    const input = (issue as { input?: unknown }).input;
    const desc = description(root, path);
    switch (issue.code) {
      case "unrecognized_keys": {
        const known = knownKeysAt(root, path);
        for (const key of issue.keys) {
          const suggestion = closest(key, known);
          out.push(
            error(
              [...path, key],
              `unknown key '${key}'`,
              suggestion !== undefined
                ? `Did you mean '${suggestion}'?`
                : known.length > 0
                  ? `Allowed here: ${known.join(", ")}.`
                  : undefined,
              true,
            ),
          );
        }
        break;
      }
      case "invalid_type": {
        if (input === undefined) {
          out.push(error(path, `required field '${lastKey(path)}' is missing`, desc));
        } else {
          const target = schemaAt(root, path);
          const inner = target === undefined ? undefined : unwrap(target);
          const expected = issue.expected === "number" && inner instanceof z.ZodNumberFormat && inner.format === "safeint" ? "int" : issue.expected;
          out.push(error(path, `expected ${expectedName(expected)}, got ${describeValue(input)}`, desc));
        }
        break;
      }
      case "too_small": {
        const bound = Number(issue.minimum);
        if (issue.origin === "array") {
          out.push(error(path, `needs at least ${bound} item${bound === 1 ? "" : "s"}`, desc));
        } else if (issue.origin === "string") {
          out.push(error(path, "must not be empty", desc));
        } else if (bound === 0 && !issue.inclusive) {
          out.push(error(path, `must be positive, got ${describeValue(input)}`, desc));
        } else {
          out.push(error(path, `must be ${issue.inclusive ? "at least" : "more than"} ${bound}, got ${describeValue(input)}`, desc));
        }
        break;
      }
      case "too_big": {
        const bound = Number(issue.maximum);
        out.push(error(path, `must be ${issue.inclusive ? "at most" : "less than"} ${bound}, got ${describeValue(input)}`, desc));
        break;
      }
      case "invalid_format": {
        const format = issue.format === "regex" ? undefined : issue.format;
        const custom = issue.message !== "" && !issue.message.startsWith("Invalid") ? issue.message : undefined;
        const what = custom ?? (format === "ipv4" ? "must be an IPv4 address" : format === "cidrv4" ? "must be an IPv4 CIDR such as 172.16.221.0/24" : format === "url" ? "must be a URL" : "has the wrong format");
        out.push(error(path, `${what}, got ${describeValue(input)}`, desc));
        break;
      }
      case "invalid_value": {
        const allowed = issue.values.map((v) => JSON.stringify(v)).join(", ");
        const suggestion = typeof input === "string" ? closest(input, issue.values.map(String)) : undefined;
        out.push(
          error(
            path,
            `must be one of ${allowed}, got ${describeValue(input)}`,
            suggestion !== undefined ? `Did you mean ${JSON.stringify(suggestion)}?` : desc,
          ),
        );
        break;
      }
      case "invalid_union": {
        const target = schemaAt(root, path);
        const isSecret = target !== undefined && unwrap(target) instanceof z.ZodUnion && (unwrap(target) as z.ZodUnion).options.includes(SecretRef.options[0]);
        out.push(error(path, `${describeValue(input)} is not an accepted form here`, isSecret ? `${desc ?? "A secret."} ${SECRET_FORMS}` : desc));
        break;
      }
      case "invalid_key": {
        out.push(error(path, `invalid key: ${issue.issues.map((i) => i.message).join("; ")}`, desc, true));
        break;
      }
      case "invalid_element":
      case "custom":
      case "not_multiple_of":
      default:
        out.push(error(path, issue.message, desc));
    }
  }
  return out;
}

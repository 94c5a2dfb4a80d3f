/**
 * No input may crash validation: random and mutated inventories end either valid or with a list
 * of issues, every one with a position inside the file. Bounded so it runs in CI every time.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import type { ValidationResult } from "../../../src/inventory/validate.js";
import { validateInventoryText } from "../../../src/inventory/validate.js";
import { labData, localData, shipped } from "../../helpers/inventory.js";

const SEED = Number(process.env["EDGELAB_FUZZ_SEED"] ?? 20261121);
const RUNS = Number(process.env["EDGELAB_FUZZ_RUNS"] ?? 300);

function assertWellFormed(text: string, result: ValidationResult): void {
  const lines = text.split("\n").length;
  if (result.facts === undefined) expect(result.issues.some((i) => i.severity === "error")).toBe(true);
  for (const issue of result.issues) {
    expect(issue.file).toBe("fuzz.yml");
    expect(Number.isInteger(issue.position.line)).toBe(true);
    expect(issue.position.line).toBeGreaterThanOrEqual(1);
    expect(issue.position.line).toBeLessThanOrEqual(lines + 1);
    expect(issue.position.col).toBeGreaterThanOrEqual(1);
    expect(typeof issue.message).toBe("string");
    expect(issue.message.length).toBeGreaterThan(0);
    // A rule that throws is caught and reported as an internal error: that is a crash too.
    expect(issue.message).not.toMatch(/^internal validation error/);
  }
}

function validate(text: string): ValidationResult {
  const result = validateInventoryText(text, "fuzz.yml");
  assertWellFormed(text, result);
  return result;
}

/** Any JSON-ish value, including the shapes an inventory has. */
const anyValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -5, max: 70000 }),
    fc.double({ noNaN: false }),
    fc.constantFrom("172.16.221.38", "10.0.0.0/8", "master", "{{ vault_x }}", "", "yes", "~", "$ANSIBLE_VAULT;1.1;AES256"),
    fc.string({ maxLength: 12 }),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom("env", "file", "id", "subnet", "gateway", "asn", "address", "name", "vmid", "hosts", "vars", "children", "x"), tie("value"), { maxKeys: 4 }),
  ),
})).value;

/** Every path of objects in a value (to pick a place to mutate). */
function paths(value: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(prefix);
  if (Array.isArray(value)) value.forEach((v, i) => paths(v, [...prefix, i], out));
  else if (value !== null && typeof value === "object") for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out);
  return out;
}

function setAt(root: Record<string, unknown>, path: readonly (string | number)[], value: unknown, remove: boolean): void {
  if (path.length === 0) return;
  let node: unknown = root;
  for (const key of path.slice(0, -1)) node = (node as Record<string | number, unknown>)[key];
  const last = path[path.length - 1] as string | number;
  const container = node as Record<string | number, unknown>;
  if (remove) {
    if (Array.isArray(container)) container.splice(Number(last), 1);
    else Reflect.deleteProperty(container, last);
  } else container[last] = value;
}

describe("validation never crashes", () => {
  it("on structural mutations of the shipped inventories", () => {
    const bases = [labData(), localData()];
    const allPaths = bases.map((b) => paths(b).filter((p) => p.length > 0));
    fc.assert(
      fc.property(
        fc.nat({ max: 1 }),
        fc.array(fc.tuple(fc.nat(), anyValue, fc.boolean()), { minLength: 1, maxLength: 4 }),
        (which, mutations) => {
          const data = which === 0 ? labData() : localData();
          const candidates = allPaths[which] ?? [];
          for (const [index, value, remove] of mutations) {
            const path = candidates[index % candidates.length];
            if (path === undefined) continue;
            try {
              setAt(data, path, value, remove);
            } catch {
              // the path vanished in an earlier mutation of this run
            }
          }
          validate(stringify(data));
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it("on text mutations of the shipped files (cut, duplicate, swap characters)", () => {
    const texts = [shipped("lab"), shipped("local")];
    fc.assert(
      fc.property(fc.nat({ max: 1 }), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 40 }), fc.constantFrom("cut", "dup", "char")), { minLength: 1, maxLength: 5 }), fc.string({ minLength: 1, maxLength: 3 }), (which, edits, insert) => {
        let text = texts[which] ?? "";
        for (const [pos, len, kind] of edits) {
          const at = pos % Math.max(1, text.length);
          if (kind === "cut") text = text.slice(0, at) + text.slice(at + len);
          else if (kind === "dup") text = text.slice(0, at) + text.slice(at, at + len) + text.slice(at);
          else text = text.slice(0, at) + insert + text.slice(at + 1);
        }
        validate(text);
      }),
      { seed: SEED + 1, numRuns: RUNS },
    );
  });

  it("on random documents", () => {
    fc.assert(
      fc.property(anyValue, (value) => {
        validate(stringify(value));
        validate(stringify({ all: value }));
        validate(stringify({ all: { vars: value, children: { k3s_cluster: { children: { master: { hosts: { a: value } } } } } } }));
      }),
      { seed: SEED + 2, numRuns: RUNS },
    );
  });

  it("on random text", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200, unit: fc.constantFrom("a", ":", " ", "\n", "-", "{", "}", "[", "]", "&", "*", "!", "'", '"', "#", "|", ">", "\t", "<<") }), (text) => {
        validate(text);
      }),
      { seed: SEED + 3, numRuns: RUNS },
    );
  });
});

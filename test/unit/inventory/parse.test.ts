import { describe, expect, it } from "vitest";
import { locate, parseInventoryText } from "../../../src/inventory/parse.js";
import { generateInventory } from "../../../bench/gen-inventory.js";
import { check } from "../../helpers/inventory.js";

const TEXT = `all:
  vars:
    k3s:
      token: {env: K3S_TOKEN}
    base: &base
      vcpus: 2
  children:
    k3s_cluster:
      children:
        master:
          hosts:
            a1:
              <<: *base
              ansible_host: 127.0.0.1
`;

describe("positions", () => {
  const parsed = parseInventoryText(TEXT);
  it("points at a value", () => {
    expect(locate(parsed, ["all", "vars", "k3s", "token", "env"])).toEqual({ line: 4, col: 20 });
  });
  it("points at a key when asked", () => {
    expect(locate(parsed, ["all", "vars", "k3s", "token"], true)).toEqual({ line: 4, col: 7 });
  });
  it("points at the deepest existing key for a missing path", () => {
    expect(locate(parsed, ["all", "vars", "k3s", "version"])).toEqual({ line: 4, col: 7 });
  });
  it("follows merge keys into the anchored mapping", () => {
    expect(locate(parsed, ["all", "children", "k3s_cluster", "children", "master", "hosts", "a1", "vcpus"])).toEqual({ line: 6, col: 14 });
  });
  it("reports positions for schema errors through the whole pipeline", () => {
    const result = check(TEXT.replace("vcpus: 2", "vcpus: zero"));
    const issue = result.issues.find((i) => i.path.at(-1) === "vcpus");
    expect(issue?.position).toEqual({ line: 6, col: 14 });
    expect(issue?.file).toBe("test.yml");
  });
});

describe("YAML as Ansible reads it", () => {
  it("reads YAML 1.1 booleans like PyYAML", () => {
    const parsed = parseInventoryText("all:\n  vars:\n    k3s: {allow_even_servers: yes}\n");
    expect(parsed.data).toEqual({ all: { vars: { k3s: { allow_even_servers: true } } } });
  });
  it("turns !vault values into vault references", () => {
    const parsed = parseInventoryText("a: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  3162\n");
    expect(parsed.data).toEqual({ a: { vault: "$ANSIBLE_VAULT;1.1;AES256\n3162\n" } });
  });
});

describe("YAML syntax errors", () => {
  it("reports a duplicate key with its line and column", () => {
    const result = check("all:\n  vars:\n    lab: {}\n    lab: {}\n");
    expect(result.issues).toHaveLength(1);
    expect(result.issues[0]).toMatchObject({ severity: "error", position: { line: 4, col: 5 } });
    expect(result.issues[0]?.message).toMatch(/YAML syntax error: duplicate key .lab. \(Map keys must be unique\)/);
  });
  it("reports a bad indentation with its position", () => {
    const result = check("all:\n  vars:\n    a: 1\n   b: 2\n");
    expect(result.issues[0]?.position.line).toBe(4);
    expect(result.facts).toBeUndefined();
  });
  it("reports an unterminated flow mapping", () => {
    const result = check("all: {vars: {a: 1}\n");
    expect(result.issues.length).toBeGreaterThan(0);
    expect(result.issues.every((i) => i.severity === "error" && i.position.line >= 1)).toBe(true);
  });
  it("reports too many aliases (billion laughs) instead of expanding them", () => {
    const lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 0; i < 8; i++) lines.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(", ")}]`);
    const result = check(lines.join("\n"));
    expect(result.issues[0]?.message).toMatch(/YAML could not be resolved/);
  });
  it("says an empty file is empty", () => {
    expect(check("").issues.map((i) => i.message)).toEqual(["the inventory is empty"]);
  });
});

describe("the fast path for one-line host mappings gives exactly what the YAML library gives", () => {
  /** Every path to a leaf (and to every mapping) of some data. */
  function paths(data: unknown, prefix: (string | number)[] = []): (string | number)[][] {
    if (data === null || typeof data !== "object" || data instanceof Date) return [prefix];
    const entries: [string | number, unknown][] = Array.isArray(data) ? data.map((v, i) => [i, v]) : Object.entries(data);
    return [prefix, ...entries.flatMap(([k, v]) => paths(v, [...prefix, k]))];
  }
  function same(text: string): { taken: number } {
    const general = parseInventoryText(text, { fastPath: "never" });
    const fast = parseInventoryText(text, { fastPath: "always" });
    expect(fast.syntax.map((s) => [s.message, s.position])).toEqual(general.syntax.map((s) => [s.message, s.position]));
    expect(fast.data).toEqual(general.data);
    for (const path of paths(general.data)) {
      expect(locate(fast, path), path.join(".")).toEqual(locate(general, path));
      expect(locate(fast, path, true), `${path.join(".")} (key)`).toEqual(locate(general, path, true));
    }
    // A path that does not exist inside a mapping the fast path read.
    expect(locate(fast, ["hosts", "h1", "nope"])).toEqual(locate(general, ["hosts", "h1", "nope"]));
    return { taken: fast.fast?.objects.length ?? 0 };
  }

  it("reads YAML 1.1 scalars (booleans, octal, hex, floats, null, timestamps) as the library does", () => {
    const values = ["yes", "No", "on", "OFF", "y", "012", "0x1F", "0b101", "1_000", "1.5", "-2.5e3", ".inf", "~", "null", "2024-01-02", "10.200.0.2", "edge-5", "/var/lib/x", "+7", "-1", "a+b"];
    const lines = ["hosts:", ...values.map((v, i) => `  h${i}: {value: ${v}, idx: ${i}, on: x}`)];
    // `on` as a key is a YAML 1.1 boolean (the key becomes "true"): such lines stay with the library.
    expect(same(`${lines.join("\n")}\n`).taken).toBe(0);
    const plainKeys = ["hosts:", ...values.map((v, i) => `  h${i}: {value: ${v}, idx: ${i}, label: x}`)];
    // `~` is not one of the characters the fast path reads: that line stays with the library.
    expect(same(`${plainKeys.join("\n")}\n`).taken).toBe(values.length - 1);
  });
  it("leaves alone lines inside block scalars, quoted or anchored values, duplicates and flow collections across lines", () => {
    const text = [
      "notes: |",
      "  h9: {vmid: 1, label: a}",
      "  not: {a: host}",
      "hosts:",
      "  h1: {vmid: 1, label: a}",
      '  h2: {vmid: 2, label: "quoted, with a comma"}',
      "  h3: {vmid: 3, vmid: 4}",
      "  h4: &anchor {vmid: 5}",
      "  h5: {vmid: 6, label: b}   # a comment",
      "  h6: {vmid: 7, label: c}",
      "literal: >-",
      "    h7: {vmid: 8}",
      "",
    ].join("\n");
    const { taken } = same(text);
    expect(taken).toBe(2); // h1 and h6 (h5's comment keeps it with the library too)
  });
  it("takes nothing when a quoted scalar or a flow collection spans lines", () => {
    expect(same('hosts:\n  h1: {vmid: 1, label: a}\nnote: "one\n  h2: {vmid: 2}"\n').taken).toBe(0);
    expect(same("hosts: {h0: {vmid: 0},\n  h1: {vmid: 1, label: a}}\n").taken).toBe(0);
  });
  it("keeps duplicate host names and merge keys working", () => {
    const dup = "hosts:\n  h1: {vmid: 1, label: a}\n  h1: {vmid: 2, label: b}\n";
    const result = parseInventoryText(dup, { fastPath: "always" });
    expect(result.syntax.map((s) => [s.message, s.position])).toEqual([["YAML syntax error: duplicate key 'h1' (Map keys must be unique)", { line: 3, col: 3 }]]);
    expect(same("base: &b\n  h1: {vmid: 1, label: a}\nhosts:\n  <<: *b\n  h2: {vmid: 2, label: b}\n").taken).toBe(2);
  });
  it("reads a generated 2,000-host inventory, valid and with 1% of its hosts broken, exactly as the library does", () => {
    for (const text of [generateInventory(2000), generateInventory(2000, { brokenEvery: 100 })]) {
      const general = parseInventoryText(text, { fastPath: "never" });
      const fast = parseInventoryText(text, { fastPath: "auto" });
      expect(fast.fast?.objects.length).toBeGreaterThan(2000);
      expect(fast.data).toEqual(general.data);
      const located = (p: typeof fast) => check(text).issues.map((i) => [i.message, locate(p, i.path, i.atKey === true)]);
      expect(located(fast)).toEqual(located(general));
    }
  });
});

import { describe, expect, it } from "vitest";
import { locate, parseInventoryText } from "../../../src/inventory/parse.js";
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

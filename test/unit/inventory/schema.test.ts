import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { inventoryJsonSchema } from "../../../src/inventory/json-schema.js";
import { inventoryReference } from "../../../src/inventory/reference.js";
import { HOST_FIELD_NAMES, LAB_SETTING_NAMES } from "../../../src/inventory/schema.js";
import { at, check, errors, host, labData, vars } from "../../helpers/inventory.js";

describe("proxmox.tls_fingerprint", () => {
  const hex = "26:2D:D4:BC:47:51:74:93:4C:13:7C:4C:89:8E:63:9E:A8:B0:FD:98:EE:E8:6F:A4:B7:36:D0:BA:E3:7A:CD:93";
  it.each([
    ["as the node's panel shows it", hex],
    ["lower case without colons", hex.replaceAll(":", "").toLowerCase()],
    ["as openssl x509 -fingerprint -sha256 prints it", `sha256 Fingerprint=${hex}`],
  ])("accepts the fingerprint %s", (_how, value) => {
    const data = labData();
    at(data, "all.vars.proxmox")["tls_fingerprint"] = value;
    expect(errors(check(data))).toEqual([]);
  });
  it("refuses a fingerprint one byte short, saying what it expects", () => {
    const data = labData();
    at(data, "all.vars.proxmox")["tls_fingerprint"] = hex.slice(0, -3);
    expect(errors(check(data)).map((i) => i.message)[0]).toMatch(/^must be a SHA-256 fingerprint: 32 hex bytes/);
  });
});

describe("schema errors", () => {
  it("names the expected type and the value found", () => {
    const data = labData();
    host(data, "lab-k3s03")["vmid"] = "abc";
    expect(errors(check(data)).map((i) => i.message)).toEqual(['expected an integer, got the string "abc"']);
  });
  it("rejects a malformed IPv4 address", () => {
    const data = labData();
    host(data, "lab-k3s03")["ansible_host"] = "172.16.221.300";
    expect(errors(check(data)).map((i) => i.message)).toEqual(['must be an IPv4 address, got the string "172.16.221.300"']);
  });
  it("suggests the closest enum value", () => {
    const data = labData();
    at(data, "all.vars.lab")["provider"] = "proxmxo";
    const issue = errors(check(data))[0];
    expect(issue?.message).toBe('must be one of "local", "proxmox", got the string "proxmxo"');
    expect(issue?.hint).toBe('Did you mean "proxmox"?');
  });
  it("explains a bad secret reference", () => {
    const data = labData();
    at(data, "all.vars.k3s")["token"] = { envv: "K3S_TOKEN" };
    const issue = errors(check(data))[0];
    expect(issue?.message).toBe("a mapping is not an accepted form here");
    expect(issue?.hint).toMatch(/\{env: NAME\}/);
  });
  it("reports a missing required field at its parent", () => {
    const data = labData();
    delete at(data, "all.vars.proxmox")["node"];
    const issue = errors(check(data))[0];
    expect(issue?.message).toBe("required field 'node' is missing");
    expect(issue?.path).toEqual(["all", "vars", "proxmox", "node"]);
  });
  it("collects every problem rather than stopping at the first", () => {
    const data = labData();
    host(data, "lab-k3s01")["vcpus"] = 0;
    host(data, "lab-k3s02")["memory"] = -1;
    at(data, "all.vars.cilium")["version"] = "latest";
    vars(data)["streams"] = [{ name: "Bad Name" }];
    expect(errors(check(data))).toHaveLength(4);
  });
  it("rejects a top level that is not an inventory", () => {
    expect(errors(check("- a\n- b\n")).map((i) => i.message)).toEqual(["expected a mapping, got a list"]);
    expect(errors(check("hosts: {}\n")).map((i) => i.message)).toContain("unknown key 'hosts'");
  });
});

describe("JSON Schema", () => {
  const schema = inventoryJsonSchema();
  it("is draft-07 with an id and title", () => {
    expect(schema["$schema"]).toBe("http://json-schema.org/draft-07/schema#");
    expect(schema["title"]).toBe("edgelab inventory");
  });
  it("describes every property it declares", () => {
    const undocumented: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (node === null || typeof node !== "object") return;
      const record = node as Record<string, unknown>;
      const props = record["properties"];
      if (props !== null && typeof props === "object") {
        for (const [key, value] of Object.entries(props as Record<string, unknown>)) {
          const child = value as Record<string, unknown>;
          const described = typeof child["description"] === "string" || (typeof child["$ref"] === "string");
          if (!described) undocumented.push(`${path}.${key}`);
          walk(value, `${path}.${key}`);
        }
      }
      for (const [key, value] of Object.entries(record)) if (key !== "properties") walk(value, path);
    };
    walk(schema, "");
    expect(undocumented).toEqual([]);
  });
  it("matches the committed inventory.schema.json", () => {
    const committed: unknown = JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "..", "inventory.schema.json"), "utf8"));
    expect(committed).toEqual(schema);
  });
});

describe("inventory reference", () => {
  it("docs/inventory.md is what `edgelab schema --markdown` generates", () => {
    const committed = readFileSync(join(import.meta.dirname, "..", "..", "..", "docs", "inventory.md"), "utf8");
    expect(committed).toBe(inventoryReference(inventoryJsonSchema()));
  });
  it("documents every host field and every lab-wide section", () => {
    const doc = inventoryReference(inventoryJsonSchema());
    for (const field of HOST_FIELD_NAMES) expect(doc).toContain(`| \`${field}\` |`);
    for (const section of LAB_SETTING_NAMES) expect(doc).toContain(`### \`${section}\``);
    expect(doc).toContain("| `address` | string (ipv4) | **required** |");
  });
});

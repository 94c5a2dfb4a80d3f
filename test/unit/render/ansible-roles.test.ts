/**
 * `ansible/vars.yml` and the roles speak one set of names: what a role requires is rendered, what
 * is rendered for a role has the type the role declares, what the roles read is declared, and
 * what is rendered is read by a role or said (in docs/cluster.md) to be for something else.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { z } from "zod";
import { ansibleVars } from "../../../src/render/ansible.js";
import { CLUSTER_LABS, labOf } from "../../helpers/cluster-labs.js";
import { at, labData, ROOT } from "../../helpers/inventory.js";

const Option = z.object({ type: z.string().optional(), required: z.boolean().optional(), elements: z.string().optional() }).loose();
const Specs = z.object({ argument_specs: z.record(z.string(), z.object({ options: z.record(z.string(), Option).optional() }).loose()) });
type Option = z.infer<typeof Option>;

const ROLES_DIR = join(ROOT, "roles");
const roles = readdirSync(ROLES_DIR, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);

function filesUnder(dir: string): string[] {
  // Symbolic links (playbooks/roles → ../roles) are not followed.
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? filesUnder(join(dir, d.name)) : d.isFile() ? [join(dir, d.name)] : []));
}

/** Every option each role declares, over all its entry points. */
const declared = new Map<string, Map<string, Option>>(
  roles.map((role) => {
    const specs = Specs.parse(parse(readFileSync(join(ROLES_DIR, role, "meta", "argument_specs.yml"), "utf8")));
    return [role, new Map(Object.values(specs.argument_specs).flatMap((entry) => Object.entries(entry.options ?? {})))];
  }),
);
/** Variables a role defines itself (defaults/ and vars/). */
const defined = new Map<string, Set<string>>(
  roles.map((role) => {
    const names = new Set<string>();
    for (const sub of ["defaults", "vars"]) {
      try {
        for (const key of Object.keys(z.record(z.string(), z.unknown()).parse(parse(readFileSync(join(ROLES_DIR, role, sub, "main.yml"), "utf8")) ?? {}))) names.add(key);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      }
    }
    return [role, names];
  }),
);
/** Roles a role runs (include_role / import_role / dependencies): their options are its options too. */
function included(role: string): string[] {
  const text = filesUnder(join(ROLES_DIR, role)).map((f) => readFileSync(f, "utf8")).join("\n");
  return [...text.matchAll(/(?:include_role|import_role):\s*\n\s*name:\s*([a-z0-9_]+)/g)].map((m) => m[1] ?? "").filter((r) => r !== role);
}
const anyDeclared = (name: string): Option | undefined => [...declared.values()].map((m) => m.get(name)).find((o) => o !== undefined);

function typeOk(option: Option, value: unknown): boolean {
  if (value === null) return option.required !== true;
  switch (option.type ?? "str") {
    case "str":
    case "path":
      return typeof value === "string";
    case "int":
      return Number.isInteger(value);
    case "bool":
      return typeof value === "boolean";
    case "list":
      return Array.isArray(value) && (option.elements === undefined || value.every((v) => typeOk({ type: option.elements }, v)));
    case "dict":
      return typeof value === "object" && !Array.isArray(value);
    default:
      return false;
  }
}

/** The variables docs/cluster.md says no role reads (they are for edgelab's stages and the user's playbooks). */
function documentedAsNotForRoles(): Set<string> {
  const doc = readFileSync(join(ROOT, "docs", "cluster.md"), "utf8");
  const paragraph = /Not read by edgelab's roles[^\n]*\n((?:[^\n]+\n)+)/.exec(doc)?.[0] ?? "";
  return new Set([...paragraph.matchAll(/`(edgelab_[a-z0-9_]+)`/g)].map((m) => m[1] ?? ""));
}

describe("ansible/vars.yml against the roles' argument_specs", () => {
  for (const { name, data } of CLUSTER_LABS) {
    const vars = ansibleVars(labOf(data()));
    it(`${name}: renders every edgelab_ variable a role requires`, () => {
      for (const [role, options] of declared) {
        for (const [option, spec] of options) if (spec.required === true && option.startsWith("edgelab_")) expect(vars[option], `${role} requires ${option}`).toBeDefined();
      }
    });
    it(`${name}: renders each variable a role reads with the type the role declares`, () => {
      for (const [key, value] of Object.entries(vars)) {
        for (const [role, options] of declared) {
          const spec = options.get(key);
          if (spec !== undefined) expect(typeOk(spec, value), `${key} (${JSON.stringify(value)}) is not of ${role}'s type ${spec.type ?? "str"}`).toBe(true);
        }
      }
    });
    it(`${name}: renders nothing no role reads, except the variables docs/cluster.md names as not for the roles`, () => {
      const roleText = [...filesUnder(ROLES_DIR), ...filesUnder(join(ROOT, "playbooks"))].map((f) => readFileSync(f, "utf8")).join("\n");
      const others = documentedAsNotForRoles();
      expect(others.size).toBeGreaterThan(0);
      for (const key of Object.keys(vars)) {
        const read = new RegExp(`\\b${key}\\b`).test(roleText);
        expect(read || others.has(key), `${key} is rendered, but no role reads it and docs/cluster.md does not say what it is for`).toBe(true);
        if (others.has(key)) expect(anyDeclared(key), `${key} is declared by a role, yet documented as not read by the roles`).toBeUndefined();
      }
    });
  }

  it("every edgelab_ variable a role reads is declared in its argument_specs (or in a role it runs) and rendered or defaulted", () => {
    // Each way of giving the K3s token renders its own variable.
    const tokens = [{ generate: true }, "{{ vault_k3s_token }}"].map((token) => {
      const d = labData();
      at(d, "all.vars.k3s")["token"] = token;
      return d;
    });
    const rendered = new Set([...CLUSTER_LABS.map(({ data }) => data()), ...tokens].flatMap((d) => Object.keys(ansibleVars(labOf(d)))));
    for (const role of roles) {
      const text = filesUnder(join(ROLES_DIR, role)).filter((f) => !f.endsWith("argument_specs.yml")).map((f) => readFileSync(f, "utf8")).join("\n");
      const own = new Set([role, ...included(role)].flatMap((r) => [...(declared.get(r)?.keys() ?? [])]));
      const defaults = new Set([role, ...included(role)].flatMap((r) => [...(defined.get(r) ?? [])]));
      // A name followed by ":" is a mapping key (a definition, or a message's field), not a read.
      for (const m of text.matchAll(/\b(edgelab_[a-z0-9_]+)\b(?!:)/g)) {
        const name = m[1] ?? "";
        expect(own.has(name), `${role} reads ${name} without declaring it in meta/argument_specs.yml`).toBe(true);
        expect(rendered.has(name) || defaults.has(name), `${role} reads ${name}, which neither ansible/vars.yml nor the role's defaults set`).toBe(true);
      }
    }
  });
});

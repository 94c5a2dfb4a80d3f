/**
 * The playbooks and roles pass ansible-lint's production profile (no rule skipped: .ansible-lint
 * only excludes paths that are not Ansible content) and ansible-playbook --syntax-check; every role
 * declares its arguments.
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { readFileSync } from "node:fs";

const exec = promisify(execFile);
const ROOT = join(import.meta.dirname, "..", "..");
const PLAYBOOKS = readdirSync(join(ROOT, "playbooks")).filter((f) => f.endsWith(".yml"));
const ROLES = readdirSync(join(ROOT, "roles"), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);

describe("Ansible content", () => {
  it("passes ansible-lint's production profile with nothing skipped", async () => {
    const config = parse(readFileSync(join(ROOT, ".ansible-lint"), "utf8")) as Record<string, unknown>;
    expect(config["profile"]).toBe("production");
    for (const key of ["skip_list", "warn_list", "enable_list", "mock_modules", "mock_roles"]) expect(config[key], key).toBeUndefined();
    const { stdout, stderr } = await exec("ansible-lint", ["--nocolor", "-f", "pep8", "playbooks", "roles"], { cwd: ROOT, env: { ...process.env, NO_COLOR: "1" }, maxBuffer: 16 * 1024 * 1024 });
    expect(`${stdout}${stderr}`).toMatch(/Passed with production profile: 0 failure\(s\), 0 warning\(s\)/);
  }, 180_000);

  it.each(PLAYBOOKS)("%s passes ansible-playbook --syntax-check, run standalone", async (playbook) => {
    const { stdout } = await exec("ansible-playbook", ["--syntax-check", "-i", join(ROOT, "inventories", "lab.yml"), join(ROOT, "playbooks", playbook)], { cwd: ROOT, env: { ...process.env, ANSIBLE_NOCOLOR: "1" } });
    expect(stdout.trim()).toBe(`playbook: ${join(ROOT, "playbooks", playbook)}`);
  }, 60_000);

  it("gives every role an argument spec for its main entry point", () => {
    expect(ROLES.sort()).toEqual(["api_vip", "k3s_agent", "k3s_install", "k3s_post", "k3s_server", "prereq", "reset", "storage"]);
    for (const role of ROLES) {
      const file = join(ROOT, "roles", role, "meta", "argument_specs.yml");
      expect(existsSync(file), file).toBe(true);
      const spec = parse(readFileSync(file, "utf8")) as { argument_specs: { main?: { options?: Record<string, unknown> } } };
      expect(spec.argument_specs.main, role).toBeDefined();
    }
  });
});

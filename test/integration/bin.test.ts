/** The installed entry point, run as a user runs it: a child process of a real Node.js. */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT, shipped } from "../helpers/inventory.js";

const exec = promisify(execFile);
const BIN = join(ROOT, "bin", "edgelab.cjs");
const dir = mkdtempSync(join(tmpdir(), "edgelab-bin-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function edgelab(args: string[], cwd = ROOT): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, NO_COLOR: "1" } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

describe("bin/edgelab.cjs", () => {
  it("validates the seed lab: exit 0", async () => {
    const r = await edgelab(["validate", "-i", "inventories/lab.yml"]);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toMatch(/inventories\/lab\.yml is valid/);
  });
  it("exits 2 on a broken inventory with file:line:col lines", async () => {
    const file = join(dir, "broken.yml");
    writeFileSync(file, shipped("lab").replace("id: 222,", "id: 0,"));
    const r = await edgelab(["validate", "-i", file], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^broken\.yml:37:16 {2}all\.vars\.network\.vlans\[1\]\.id {2}must be at least 1, got the integer 0/m);
  });
  it("exits 2 with one line plus a hint, no stack trace, on a bad flag", async () => {
    const r = await edgelab(["render", "--nope"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(2);
  });
  it("runs through npx from the project directory", async () => {
    const { stdout } = await exec("npx", ["--no-install", "edgelab", "validate", "-i", "inventories/lab.yml"], { cwd: ROOT });
    expect(stdout).toMatch(/inventories\/lab\.yml is valid/);
  });
});

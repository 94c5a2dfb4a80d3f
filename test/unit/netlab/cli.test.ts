/**
 * `edgelab up --network`, `status` and `down` on inventories that have no network lab: refused
 * or untouched before anything is built (these need no root and create nothing).
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cli } from "../../helpers/cli.js";
import { ROOT } from "../../helpers/inventory.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "edgelab-netns-cli-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const namespaces = (): string => execFileSync("ip", ["netns", "list"], { encoding: "utf8" });

describe("edgelab up --network", () => {
  it("refuses netns for a provider other than local, before any stage runs", async () => {
    cpSync(join(ROOT, "inventories", "lab.yml"), join(dir, "lab.yml"));
    const r = await cli(["up", "-i", join(dir, "lab.yml"), "--network", "netns"], { cwd: dir, env: { PATH: process.env["PATH"] } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--network netns runs a provider local lab; this inventory's provider is proxmox");
    expect(r.stderr).toContain("inventories/netlab.yml");
  });

  it("refuses an inventory without BGP peers, naming what to set, before any stage runs", async () => {
    cpSync(join(ROOT, "inventories", "local.yml"), join(dir, "local.yml"));
    const r = await cli(["up", "-i", join(dir, "local.yml"), "--network", "netns"], { cwd: dir, env: { PATH: process.env["PATH"] } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("the inventory has no cilium.bgp");
    expect(r.stderr).toContain("set its local_asn and peers");
    expect(r.stderr).not.toContain("validate");
  });

  it("refuses a mode it does not know", async () => {
    const r = await cli(["up", "-i", join(ROOT, "inventories", "netlab.yml"), "--network", "vxlan"], { cwd: dir, env: { PATH: process.env["PATH"] } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--network.*vxlan.*loopback, netns/s);
  });

  it("documents the flag with an example", async () => {
    const r = await cli(["up", "--help"], { cwd: dir });
    expect(r.stdout).toContain("--network <mode>");
    expect(r.stdout).toContain("sudo edgelab up -i inventories/netlab.yml --network netns");
  });
});

describe("status and down with a network-lab inventory that never ran", () => {
  it("report nothing running and remove nothing", async () => {
    cpSync(join(ROOT, "inventories", "netlab.yml"), join(dir, "netlab.yml"));
    const before = namespaces();
    const down = await cli(["down", "-i", join(dir, "netlab.yml")], { cwd: dir, env: { PATH: process.env["PATH"] } });
    expect(down.code).toBe(0);
    expect(down.stdout).toContain("was not running");
    expect(down.stdout).not.toContain("network lab removed");
    const status = await cli(["status", "-i", join(dir, "netlab.yml")], { cwd: dir, env: { PATH: process.env["PATH"] } });
    expect(status.stdout).toContain("is not running");
    expect(namespaces()).toBe(before);
  });
});

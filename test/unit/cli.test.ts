import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { ROOT, shipped } from "../helpers/inventory.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "edgelab-cli-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const LAB = join(ROOT, "inventories", "lab.yml");

describe("edgelab validate", () => {
  it("exits 0 on the seed lab with a one-line summary", async () => {
    const r = await cli(["validate", "-i", LAB], { cwd: ROOT });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("✔ inventories/lab.yml is valid: provider proxmox, 5 hosts (3 servers, 2 agents), 3 subnets, 1 stream\n");
    expect(r.stderr).toBe("");
  });
  it("exits 2 on a broken copy and lists every problem as file:line:col  path  message  (hint)", async () => {
    const broken = shipped("lab").replace("vmid: 3002", "vmid: 3001").replace("172.16.222.41", "172.16.221.41").replace("gateway: 172.16.223.1}", "gateway: 172.16.224.1}");
    const file = join(dir, "broken.yml");
    writeFileSync(file, broken);
    const r = await cli(["validate", "-i", "broken.yml"], { cwd: dir });
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toEqual([
      "broken.yml:35:74  all.vars.network.vlans[2].gateway  gateway 172.16.224.1 is outside VLAN 223's subnet 172.16.223.0/24  (The gateway must be an address inside the subnet.)",
      "broken.yml:64:60  all.children.k3s_cluster.children.master.hosts.lab-k3s02.vmid  duplicate vmid 3001: host 'lab-k3s02' and host 'lab-k3s01'  (Every VM needs its own vmid; pick an unused one (pvesh get /cluster/nextid).)",
      "broken.yml:68:44  all.children.k3s_cluster.children.node.hosts.west-lab-k3s01.ansible_host  address 172.16.221.41 of host 'west-lab-k3s01' is outside VLAN 222's subnet 172.16.222.0/24  (Use an address in 172.16.222.0/24, or put the host on the VLAN that holds 172.16.221.41.)",
      "✖ 3 errors in broken.yml",
    ]);
    // The positions are real: the line and column hold the value named.
    const text = broken.split("\n");
    expect(text[63]?.slice(59, 63)).toBe("3001");
    expect(text[34]?.slice(73, 85)).toBe("172.16.224.1");
    expect(text[67]?.slice(43, 56)).toBe("172.16.221.41");
  });
  it("gives JSON with --json", async () => {
    const file = join(dir, "i.yml");
    const text = shipped("local").replace("data_vlan: 222", "data_vlan: 5000");
    writeFileSync(file, text);
    const line = text.split("\n").findIndex((l) => l.includes("data_vlan: 5000")) + 1;
    const r = await cli(["--json", "validate", "-i", file]);
    expect(r.code).toBe(2);
    const out = JSON.parse(r.stdout) as { valid: boolean; errors: number; issues: { line: number; col: number; path: string; severity: string }[] };
    expect(out.valid).toBe(false);
    expect(out.errors).toBe(1);
    expect(out.issues[0]).toMatchObject({ severity: "error", path: "all.children.k3s_cluster.children.node.hosts.west-lab-k3s01.data_vlan", line });
  });
  it("passes warnings, and fails on them with --strict", async () => {
    const file = join(dir, "w.yml");
    writeFileSync(file, shipped("lab").replace("local_asn: 64513", "local_asn: 13335"));
    const plain = await cli(["validate", "-i", file]);
    expect(plain.code).toBe(0);
    expect(plain.stderr).toMatch(/warning: local ASN 13335 is a public ASN/);
    const strict = await cli(["validate", "--strict", "-i", file]);
    expect(strict.code).toBe(2);
  });
  it("reports a YAML syntax error with its position", async () => {
    const file = join(dir, "s.yml");
    writeFileSync(file, "all:\n  vars:\n    lab: {name: x\n");
    const r = await cli(["validate", "-i", file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/s\.yml:\d+:\d+ {2}\(document\) {2}YAML syntax error/);
  });
});

describe("inventory lookup", () => {
  it("uses EDGELAB_INVENTORY, then ./inventory.yml, then inventories/local.yml", async () => {
    writeFileSync(join(dir, "env.yml"), shipped("lab"));
    expect((await cli(["validate"], { cwd: dir, env: { EDGELAB_INVENTORY: "env.yml" } })).stdout).toMatch(/env\.yml is valid: provider proxmox/);
    writeFileSync(join(dir, "inventory.yml"), shipped("local"));
    expect((await cli(["validate"], { cwd: dir })).stdout).toMatch(/^✔ inventory\.yml is valid: provider local/);
    rmSync(join(dir, "inventory.yml"));
    expect((await cli(["validate"], { cwd: dir })).stdout).toMatch(/inventories\/local\.yml is valid: provider local/);
  });
  it("says what to do when the inventory does not exist", async () => {
    const r = await cli(["validate", "-i", "nope.yml"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("edgelab: error: inventory nope.yml does not exist\n  hint: Pass one with -i <file>, or start from inventories/local.yml.\n");
  });
});

describe("usage errors", () => {
  it("answers an unknown command in one line with a suggestion, exit 2", async () => {
    const r = await cli(["valdate"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("edgelab: error: unknown command 'valdate'\n  hint: did you mean validate? See 'edgelab --help'\n");
  });
  it("answers a bad flag in one line, exit 2, no stack trace", async () => {
    const r = await cli(["validate", "--bogus"]);
    expect(r.code).toBe(2);
    expect(r.stderr.split("\n")[0]).toBe("edgelab: error: unknown option '--bogus'");
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
  it("documents the exit codes and the inventory lookup in --help", async () => {
    const r = await cli(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/0 {2}success/);
    expect(r.stdout).toMatch(/1 {2}the operation failed/);
    expect(r.stdout).toMatch(/2 {2}usage error or invalid inventory/);
    expect(r.stdout).toMatch(/EDGELAB_INVENTORY/);
    for (const command of ["validate", "schema", "render", "version"]) expect(r.stdout).toContain(command);
  });
  it("shows examples in each command's help", async () => {
    for (const command of ["validate", "schema", "render"]) {
      const r = await cli([command, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Examples:\n {2}\$ edgelab/);
    }
  });
  it("prints help and exits 2 without a command", async () => {
    const r = await cli([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/Usage: edgelab/);
  });
});

describe("edgelab schema and version", () => {
  it("prints the JSON Schema", async () => {
    const r = await cli(["schema"]);
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.stdout) as { title: string; properties: Record<string, unknown> };
    expect(schema.title).toBe("edgelab inventory");
    expect(Object.keys(schema.properties)).toEqual(["all"]);
  });
  it("prints the version", async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    expect((await cli(["version"])).stdout).toMatch(new RegExp(`^edgelab ${pkg.version.replaceAll(".", "\\.")} \\(node \\d+`));
    expect((await cli(["--version"])).stdout).toBe(`${pkg.version}\n`);
    expect(JSON.parse((await cli(["--json", "version"])).stdout)).toMatchObject({ edgelab: pkg.version });
  });
});

describe("edgelab render", () => {
  it("writes the artifacts, then changes nothing on a second run", async () => {
    const out = join(dir, "out");
    const first = await cli(["render", "-i", LAB, "-o", out], { cwd: dir });
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/created {2}out\/lab\.json/);
    expect(first.stdout).toMatch(/19 files rendered from .*lab\.yml, 19 changed/);
    expect(statSync(join(out, "lab.json")).mode & 0o777).toBe(0o644);
    const second = await cli(["render", "-i", LAB, "-o", out], { cwd: dir });
    expect(second.stdout).toMatch(/unchanged {2}out\/summary\.txt/);
    expect(second.stdout).toMatch(/0 changed/);
  });
  it("repairs a file whose mode was changed and leaves foreign files alone", async () => {
    const out = join(dir, "out");
    await cli(["render", "-i", LAB, "-o", out]);
    chmodSync(join(out, "lab.json"), 0o666);
    writeFileSync(join(out, "mine.txt"), "keep");
    const r = await cli(["--json", "render", "--only", "lab", "-i", LAB, "-o", out]);
    const files = (JSON.parse(r.stdout) as { files: { path: string; status: string }[] }).files;
    expect(files).toEqual([
      { path: "lab.json", status: "updated", mode: 0o644, bytes: expect.any(Number) as number },
      { path: "summary.txt", status: "unchanged", mode: 0o644, bytes: expect.any(Number) as number },
    ]);
    expect(readFileSync(join(out, "mine.txt"), "utf8")).toBe("keep");
  });
  it("writes nothing with --dry-run", async () => {
    const out = join(dir, "dry");
    const r = await cli(["render", "--dry-run", "-i", LAB, "-o", out]);
    expect(r.stdout).toMatch(/19 would change/);
    expect(() => statSync(out)).toThrow();
  });
  it("defaults to .edgelab/artifacts beside the inventory", async () => {
    writeFileSync(join(dir, "inventory.yml"), shipped("local"));
    const r = await cli(["render"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, ".edgelab", "artifacts", "summary.txt"), "utf8")).toMatch(/^Lab local/);
  });
  it("refuses an invalid inventory with exit 2 and writes nothing", async () => {
    const file = join(dir, "bad.yml");
    writeFileSync(file, shipped("lab").replace("vmid: 3002", "vmid: 3001"));
    const out = join(dir, "out");
    const r = await cli(["render", "-i", file, "-o", out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad\.yml:64:60 .* duplicate vmid 3001/);
    expect(() => statSync(out)).toThrow();
  });
  it("writes the cluster layout for a proxmox lab, its data plane in the cluster placement", async () => {
    const out = join(dir, "cluster");
    const r = await cli(["--json", "render", "-i", LAB, "-o", out]);
    expect(r.code).toBe(0);
    const paths = (JSON.parse(r.stdout) as { files: { path: string }[] }).files.map((f) => f.path);
    expect(paths).toEqual([
      "ansible/vars.yml",
      "cilium/bgp.yaml",
      "cilium/helmchart.yaml",
      "k3s/east-lab-k3s01/config.yaml",
      "k3s/lab-k3s01/config.yaml",
      "k3s/lab-k3s02/config.yaml",
      "k3s/lab-k3s03/config.yaml",
      "k3s/west-lab-k3s01/config.yaml",
      "lab.json",
      "nginx/edge-east-worker.conf",
      "nginx/edge-west-worker.conf",
      "nginx/media-0.conf",
      "nginx/media-1.conf",
      "nginx/origin.conf",
      "router/router.json",
      "routers/dc-router01.frr.conf",
      "routers/region-router01.frr.conf",
      "routers/region-router02.frr.conf",
      "summary.txt",
    ]);
    // Service names and container ports, never a loopback address or a local-lab path.
    const origin = readFileSync(join(out, "nginx", "origin.conf"), "utf8");
    expect(origin).toMatch(/^\s+server media-0:8080;$/m);
    expect(origin).toMatch(/^\s+listen 8080;$/m);
    expect(origin).not.toMatch(/127\.0\.|\.edgelab\//);
  });
  it("selects families with --only, and refuses a family the provider does not render", async () => {
    const out = join(dir, "only");
    const r = await cli(["--json", "render", "--only", "k3s,routers", "-i", LAB, "-o", out]);
    const paths = (JSON.parse(r.stdout) as { files: { path: string }[] }).files.map((f) => f.path);
    expect(paths.every((p) => p.startsWith("k3s/") || p.startsWith("routers/"))).toBe(true);
    expect(paths).toHaveLength(8);
    const nginx = await cli(["--json", "render", "--only", "nginx", "-i", LAB, "-o", out]);
    expect(nginx.code).toBe(0);
    expect((JSON.parse(nginx.stdout) as { files: { path: string }[] }).files.map((f) => f.path).filter((p) => !/^(nginx|router)\//.test(p))).toEqual([]);
    const local = join(dir, "inventory.yml");
    writeFileSync(local, shipped("local"));
    const k3s = await cli(["render", "--only", "k3s", "-i", local, "-o", out]);
    expect(k3s.code).toBe(2);
    expect(k3s.stderr).toMatch(/'k3s' is not a family of a local lab/);
  });
  it("rejects an unknown family", async () => {
    const r = await cli(["render", "--only", "nginks", "-i", LAB, "-o", join(dir, "x")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown artifact family 'nginks'/);
  });
});

describe("stack traces", () => {
  it("are shown only with -v", async () => {
    const quiet = await cli(["validate", "-i", "missing.yml"], { cwd: dir });
    expect(quiet.stderr).not.toMatch(/\n\s+at /);
    const verbose = await cli(["-v", "validate", "-i", "missing.yml"], { cwd: dir });
    expect(verbose.code).toBe(2);
    expect(verbose.stderr).toMatch(/UsageError: inventory missing\.yml does not exist\n\s+at /);
  });
});

describe("edgelab up", () => {
  it("for a proxmox inventory starts with provisioning, which needs credentials first", async () => {
    const r = await cli(["up", "-i", LAB]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/secret proxmox-token-secret: environment variable PROXMOX_TOKEN_SECRET is not set/);
  });
  it("rejects a bad --timeout before doing anything", async () => {
    const r = await cli(["up", "--timeout", "soon"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--timeout must be a positive number of seconds, got 'soon'/);
  });
});

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cli } from "../../helpers/cli.js";

const dir = mkdtempSync(join(tmpdir(), "edgelab-images-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const inventory = join(dir, "inventory.yml");
writeFileSync(inventory, "all:\n  vars:\n    lab: {name: images-cli, provider: local}\n    ansible_connection: local\n  children:\n    k3s_cluster:\n      children:\n        master:\n          hosts:\n            s1: {ansible_host: 127.0.0.10}\n");

describe("edgelab images build: bad usage stops before anything is built", () => {
  it("--push without a registry in the inventory", async () => {
    const r = await cli(["-i", inventory, "images", "build", "--push"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--push: inventory\.yml has no images\.registry/);
    expect(r.stderr).not.toMatch(/mmdebstrap|buildah/);
  });

  it("an unknown image or builder, with the valid ones", async () => {
    const image = await cli(["-i", inventory, "images", "build", "--only", "edge,cache"], { cwd: dir });
    expect(image.code).toBe(2);
    expect(image.stderr).toMatch(/unknown image 'cache'/);
    expect(image.stderr).toMatch(/Images: origin, edge/);
    const builder = await cli(["-i", inventory, "images", "build", "--builder", "kaniko"], { cwd: dir });
    expect(builder.code).toBe(2);
    expect(builder.stderr).toMatch(/unknown builder 'kaniko'.*\n.*buildah .*podman/);
  });

  it("has help with examples", async () => {
    const r = await cli(["images", "build", "--help"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Examples:\n\s+\$ sudo edgelab images build -i lab.yml/);
  });
});

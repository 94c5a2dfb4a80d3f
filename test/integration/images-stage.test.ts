/**
 * The images stage of `edgelab up` on a cluster inventory: skipped with its reason when the
 * nodes would neither import archives (no airgap section) nor pull from a registry; otherwise
 * the archives are written (built, or from the content cache) into images.archive_dir, a second
 * `up` with nothing changed does not run the stage again, and a deleted archive makes it run.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { packageVersion } from "../../src/commands/version.js";
import { imageArchiveName } from "../../src/model/images.js";
import { ROOT } from "../helpers/inventory.js";
import { BIN, sh } from "../helpers/images.js";

const dir = mkdtempSync(join(tmpdir(), "edgelab-images-stage-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Event {
  event: string;
  stage?: string;
  status?: string;
  reason?: string;
  what?: string;
  summary?: string;
}

async function upToImages(sub: string): Promise<Event[]> {
  const result = await sh([process.execPath, BIN, "--json", "-i", join(dir, sub, "inventory.yml"), "up", "--to", "images"], { timeoutMs: 30 * 60_000 });
  expect(result.code, result.stderr).toBe(0);
  return result.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Event);
}

function labInventory(sub: string, airgap: boolean): void {
  const text = readFileSync(join(ROOT, "inventories", "lab.yml"), "utf8");
  mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, sub, "inventory.yml"), airgap ? text.replace("  vars:\n", "  vars:\n    airgap: {k3s_binary: files/k3s, k3s_images: files/k3s-airgap-images-amd64.tar.zst}\n") : text);
}

describe("the images stage", () => {
  it("is skipped, with the reason, when the nodes neither import archives nor pull from a registry", async () => {
    labInventory("plain", false);
    const events = await upToImages("plain");
    expect(events.find((e) => e.event === "skipped-step" && e.stage === "images")?.reason).toMatch(/neither an airgap section .* nor images\.registry/);
    expect(existsSync(join(dir, "plain", ".edgelab", "images"))).toBe(false);
  });

  it("writes both archives for an air-gapped lab, is not run again while nothing changed, and runs when an archive is gone", async () => {
    labInventory("airgap", true);
    const archives = join(dir, "airgap", ".edgelab", "images");
    const first = await upToImages("airgap");
    expect(first.find((e) => e.event === "stage-end" && e.stage === "images")?.status).toBe("ok");
    for (const name of ["origin", "edge"] as const) expect(existsSync(join(archives, imageArchiveName(name, packageVersion())))).toBe(true);

    const second = await upToImages("airgap");
    expect(second.find((e) => e.event === "stage-skip" && e.stage === "images")?.status).toBe("unchanged");

    rmSync(join(archives, imageArchiveName("edge", packageVersion())));
    const third = await upToImages("airgap");
    expect(third.find((e) => e.event === "stage-start" && e.stage === "images")?.reason).toMatch(/archive missing .*: edge/);
    expect(existsSync(join(archives, imageArchiveName("edge", packageVersion())))).toBe(true);
  }, 40 * 60_000);
});

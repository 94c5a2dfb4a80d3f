import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { buildLab } from "../../../src/model/lab.js";
import { createEnvironment } from "../../../src/render/environment.js";
import { renderAll } from "../../../src/render/index.js";
import { at, check, labData, localData, ROOT } from "../../helpers/inventory.js";
import { fixedPaths } from "../../helpers/dataplane.js";
import type { Data } from "../../helpers/inventory.js";

const GOLDEN = join(ROOT, "test", "golden");
const UPDATE = process.env["UPDATE_GOLDEN"] === "1";

function render(data: Data) {
  const facts = check(data).facts;
  if (facts === undefined) throw new Error("invalid test inventory");
  return renderAll(buildLab(facts), { paths: fixedPaths(), only: ["lab"], imageTag: "0.0.0-test" });
}

function golden(name: string, actual: string): void {
  const file = join(GOLDEN, name);
  if (UPDATE) writeFileSync(file, actual);
  expect(actual).toBe(readFileSync(file, "utf8"));
}

describe("lab artifacts", () => {
  it("match the golden files for the seed lab", () => {
    const files = render(labData());
    expect(files.map((f) => [f.path, f.mode.toString(8), f.family])).toEqual([
      ["lab.json", "644", "lab"],
      ["summary.txt", "644", "lab"],
    ]);
    for (const f of files) golden(`lab/${f.path}`, f.content);
  });
  it("match the golden files for the local lab", () => {
    for (const f of render(localData())) golden(`local/${f.path}`, f.content);
  });
  it("are deterministic: the same at another time, with other random numbers, a fresh template environment and vars in another order", () => {
    const first = render(labData());
    const data = labData();
    const all = at(data, "all");
    all["vars"] = Object.fromEntries(Object.entries(at(data, "all.vars")).reverse());
    vi.useFakeTimers({ now: new Date("2031-05-17T03:04:05Z") });
    const random = vi.spyOn(Math, "random").mockReturnValue(0.987654);
    try {
      const facts = check(data).facts;
      if (facts === undefined) throw new Error("invalid test inventory");
      expect(renderAll(buildLab(facts), { paths: fixedPaths(), only: ["lab"], env: createEnvironment(), imageTag: "0.0.0-test" })).toEqual(first);
    } finally {
      vi.useRealTimers();
      random.mockRestore();
    }
  });
  it("never copy vault ciphertext into the output", () => {
    const data = labData();
    at(data, "all.vars.k3s")["token"] = { vault: "$ANSIBLE_VAULT;1.1;AES256\n6231386461353139" };
    const all = render(data).map((f) => f.content).join("\n");
    expect(all).not.toContain("6231386461353139");
    expect(all).toContain('"vault": "(encrypted)"');
  });
});

describe("lab.json and secrets of the cluster settings", () => {
  it("keeps no vault ciphertext of the VRRP password, the registry password or the TSIG key", () => {
    const data = labData();
    const cipher = (n: string) => ({ vault: `$ANSIBLE_VAULT;1.1;AES256\n${n}` });
    Object.assign(at(data, "all.vars.k3s"), { api_vip: "172.16.221.37", vrrp: { password: cipher("1111aaaa") } });
    at(data, "all.vars.images")["registry"] = { address: "ghcr.io/example", username: "u", password: cipher("2222bbbb") };
    Object.assign(at(data, "all.vars.dns"), { server: "172.16.221.1", tsig: { name: "k", secret: cipher("3333cccc") } });
    const json = render(data).find((f) => f.path === "lab.json")?.content ?? "";
    for (const n of ["1111aaaa", "2222bbbb", "3333cccc"]) expect(json).not.toContain(n);
    expect(json.match(/"vault": "\(encrypted\)"/g)).toHaveLength(3);
  });
});

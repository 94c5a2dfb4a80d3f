/** Every rendered router configuration is accepted by FRR itself (`vtysh --dryrun -f`, Debian's frr). */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { defaultEnvironment } from "../../src/render/environment.js";
import { renderRouters } from "../../src/render/frr.js";
import { CLUSTER_LABS, labOf } from "../helpers/cluster-labs.js";
import { at, labData, type Data } from "../helpers/inventory.js";

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "edgelab-frr-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** vtysh parses the file as the daemons would and exits non-zero on any line it rejects. */
async function dryrun(name: string, content: string): Promise<{ code: number; output: string }> {
  const file = join(dir, name);
  writeFileSync(file, content);
  try {
    const r = await exec("vtysh", ["--dryrun", "-f", file], { timeout: 20_000 });
    return { code: 0, output: r.stdout + r.stderr };
  } catch (cause) {
    const e = cause as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, output: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

function ibgpAndNoPool(): Data {
  const data = labData();
  // A router in the cluster's own AS (iBGP), serving two node groups, and no LB pool.
  at(data, "all.vars.cilium.bgp.peers")["west-worker"] = [{ name: "core01", address: "172.16.222.1", asn: 64513 }];
  at(data, "all.vars.cilium.bgp.peers")["east-worker"] = [{ name: "core01", address: "172.16.222.1", asn: 64513 }];
  at(data, "all.vars.cilium")["lb_pool"] = [];
  at(data, "all.vars.cilium.bgp")["session"] = { hold_time: 9, keepalive_time: 3, connect_retry: 5, graceful_restart: { enabled: true, restart_time: 30 } };
  return data;
}

const labs: { name: string; data: () => Data }[] = [...CLUSTER_LABS, { name: "ibgp-no-pool", data: ibgpAndNoPool }];

describe("vtysh --dryrun", () => {
  for (const { name, data } of labs) {
    it(`accepts every router configuration of the ${name} lab`, async () => {
      const files = renderRouters(labOf(data()), defaultEnvironment());
      expect(files.length).toBeGreaterThan(0);
      for (const f of files) {
        const r = await dryrun(`${name}-${f.path.replace("/", "-")}`, f.content);
        expect(r, f.path).toEqual({ code: 0, output: "" });
      }
    });
  }
  it("rejects a configuration with a line FRR does not know (the check can fail)", async () => {
    const [first] = renderRouters(labOf(labData()), defaultEnvironment());
    const broken = (first?.content ?? "").replace(" timers connect ", " timer-connect ");
    const r = await dryrun("broken.frr.conf", broken);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/Unknown command/);
  });
  it("puts an iBGP router's sessions in its own AS with iBGP multipath", () => {
    const core = renderRouters(labOf(ibgpAndNoPool()), defaultEnvironment()).find((f) => f.path === "routers/core01.frr.conf");
    expect(core?.content).toMatch(/neighbor EDGELAB-WEST-WORKER remote-as internal/);
    expect(core?.content).toMatch(/neighbor EDGELAB-EAST-WORKER remote-as internal/);
    expect(core?.content).toMatch(/maximum-paths ibgp 16/);
    expect(core?.content).toMatch(/route-map EDGELAB-FROM-CLUSTER deny 10/);
  });
});

/**
 * The lab in the network lab (root): `edgelab up --network netns` on inventories/netlab.yml —
 * FRR routers, a GoBGP speaker per worker, the origin side in the DC namespace and each
 * worker's edge nginx on the announced service address — then `edgelab status`, `edgelab
 * smoke`, the ECMP split between the two west edges, a failover of the west site with a
 * segment-following client, and `edgelab down`, which must leave the host as it was.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localExecutor } from "../../src/netlab/exec.js";
import { connectionsByEdge, runFailover } from "../../src/netlab/failover.js";
import { planFor } from "../../src/netlab/index.js";
import { sitesLayout } from "../../src/netlab/sites.js";
import { cli } from "../helpers/cli.js";
import { labOf } from "../helpers/cluster-labs.js";
import { ROOT, type Data } from "../helpers/inventory.js";

const root = process.getuid?.() === 0;
const sh = (argv: string[]): string => execFileSync(argv[0] ?? "", argv.slice(1), { encoding: "utf8", timeout: 20_000 });
const hostNamespaces = (): string[] => sh(["ip", "netns", "list"]).split("\n").map((l) => l.split(" ")[0] ?? "").filter((n) => n !== "").sort();
const hostLinks = (): string[] => sh(["ip", "-o", "link", "show"]).split("\n").map((l) => l.split(":")[1]?.trim().split("@")[0] ?? "").filter((n) => n !== "").sort();
const hostAddresses = (): string => sh(["ip", "-o", "addr", "show"]);
const hostRoutes = (): string => sh(["ip", "route", "show", "table", "all"]);

const dir = mkdtempSync(join(tmpdir(), "el-nl-"));
// FRR's daemons run as user frr: the lab's directory must be reachable for it (mkdtemp makes 0700).
chmodSync(dir, 0o755);
const inventoryPath = join(dir, "inventory.yml");
const text = readFileSync(join(ROOT, "inventories", "netlab.yml"), "utf8").replace("../inventory.schema.json", join(ROOT, "inventory.schema.json"));
writeFileSync(inventoryPath, text);
const lab = labOf(parse(text) as Data);
const target = { lab, inventoryPath };
const { plan, dirs } = planFor(target);
const exec = localExecutor();
const ns = (short: string): string => `${plan.prefix}-${short}`;
const env = { PATH: process.env["PATH"] };
const edgelab = (...args: string[]): ReturnType<typeof cli> => cli([...args, "-i", inventoryPath], { env, cwd: dir });
// Another lab's namespace whose name starts like this lab's: down must leave it (and its process) alone.
const canary = `${plan.prefix}0-r0`;

let before: { ns: string[]; links: string[] };
let canaryPid = 0;

describe.runIf(root)("the lab in the network lab (root)", () => {
  beforeAll(async () => {
    before = { ns: hostNamespaces(), links: hostLinks() };
    sh(["ip", "netns", "add", canary]);
    canaryPid = exec.start(["ip", "netns", "exec", canary, "sleep", "600"], join(dir, "canary.log"));
    const up = await edgelab("up", "--network", "netns", "--timeout", "120");
    if (up.code !== 0) throw new Error(`edgelab up --network netns failed (${up.code}):\n${up.stdout}\n${up.stderr}`);
    // A fixed hash seed on the west router (kernels >= 6.11) and fixed client ports make the ECMP
    // split the same on every run instead of a fresh draw.
    if (existsSync("/proc/sys/net/ipv4/fib_multipath_hash_seed")) sh(["ip", "netns", "exec", ns("r1"), "sysctl", "-q", "-w", "net.ipv4.fib_multipath_hash_seed=7"]);
  }, 180_000);
  afterAll(async () => {
    // The last test takes the lab down; this is for a run that failed before it.
    await edgelab("down");
    try {
      process.kill(canaryPid, "SIGKILL");
    } catch {
      // already gone: the teardown test reports it
    }
    if (hostNamespaces().includes(canary)) sh(["ip", "netns", "del", canary]);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("status shows the namespaces, the processes in them and the address mapping", async () => {
    const status = await edgelab("status");
    expect(status.code).toBe(0);
    expect(status.stdout).toContain("| 127.0.222.0/24 | 198.18.1.0/24 | vlan 222 (region-west) |");
    expect(status.stdout).toContain("| 127.0.228.0/24 | 198.18.3.0/24 | LB pool |");
    for (const name of ["redis", "router", "media-0", "origin", "edge-west-lab-k3s01", "edge-west-lab-k3s02", "edge-east-lab-k3s01", "source-live"]) expect(status.stdout).toMatch(new RegExp(`${name}\\s+el-\\w+-(dc|w\\d)\\s+\\d+\\s+running`));
  });

  it("runs each edge on the service address inside its worker's namespace, pulling from the origin in the DC namespace over the routers", () => {
    for (const w of ["w0", "w1", "w2"]) expect(sh(["ip", "netns", "exec", ns(w), "ss", "-Hltn"])).toContain(`${plan.serviceIp}:80`);
    expect(sh(["ip", "netns", "exec", ns("dc"), "ss", "-Hltn"])).not.toContain(`${plan.serviceIp}:80`);
    // The origin's access log: requests from each worker's own (mapped) address.
    const originLog = readFileSync(join(sitesLayout(inventoryPath, dirs).nginx.logs, "origin.access.log"), "utf8");
    for (const address of ["198.18.1.41", "198.18.1.43", "198.18.2.42"]) expect(originLog).toContain(address);
    // Nothing of the lab is in the host's namespace.
    expect(hostAddresses()).not.toContain(`inet ${plan.serviceIp}/32`);
    // (Other tests' hosts may route /22 blocks of 198.18.0.0/15 from here: look for the lab's own prefixes.)
    const labPrefixes = [...plan.map.blocks.map((b) => b.to), "198.19.0.0/30", "198.19.0.4/30", "198.19.0.8/30", "198.19.1.0/24", "198.19.2.0/24", plan.serviceIp];
    const routes = hostRoutes().split("\n").map((l) => l.split(" ")[0] ?? "");
    expect(routes.filter((r) => labPrefixes.includes(r))).toEqual([]);
  });

  it("smoke: every session Established, the service /32 with the own site best and the other region over iBGP, HLS per region from its own edge", async () => {
    const smoke = await edgelab("smoke", "--json");
    expect(smoke.code, smoke.stderr).toBe(0);
    const results = (JSON.parse(smoke.stdout) as { results: { check: string; stream: string | null; ok: boolean; value: string }[] }).results;
    expect(results.every((r) => r.ok)).toBe(true);
    const value = (check: string, stream?: string): string | undefined => results.find((r) => r.check === check && (stream === undefined || r.stream === stream))?.value;
    expect(value("bgp sessions on region-router01")).toBe("4 Established");
    expect(value(`service ${plan.serviceIp}/32 on region-router01`)).toBe("2 eBGP (best, ECMP) + 1 iBGP");
    expect(value(`service ${plan.serviceIp}/32 on region-router02`)).toBe("1 eBGP (best) + 1 iBGP");
    for (const stream of ["live", "sports"]) {
      expect(value(`hls via ${plan.serviceIp} from c0`, stream)).toMatch(/^served by west-lab-k3s0[12](, west-lab-k3s0[12])? \(playlist 200, segment 200, \d+ bytes\)$/);
      expect(value(`hls via ${plan.serviceIp} from c1`, stream)).toMatch(/^served by east-lab-k3s01 \(playlist 200, segment 200, \d+ bytes\)$/);
    }
  });

  it("installs both west workers as ECMP next hops and splits 20 client connections between their edges (30–70 % each)", async () => {
    const route = sh(["ip", "-n", ns("r1"), "route", "show", `${plan.serviceIp}/32`]);
    expect(route).toMatch(/nexthop via 198\.18\.1\.41 /);
    expect(route).toMatch(/nexthop via 198\.18\.1\.43 /);
    const served = await connectionsByEdge(exec, lab, inventoryPath, plan, dirs, ns("c0"), 20);
    const first = served.filter((e) => e === "west-lab-k3s01").length;
    const second = served.filter((e) => e === "west-lab-k3s02").length;
    console.log(`ECMP: west-lab-k3s01 ${first}, west-lab-k3s02 ${second} of 20 connections`);
    expect(first + second).toBe(20);
    expect(first).toBeGreaterThanOrEqual(6);
    expect(second).toBeGreaterThanOrEqual(6);
  }, 60_000);

  it("keeps a west client playing from the east site when the west site dies (speakers, then nginx), and brings it back to the west edges", async () => {
    const result = await runFailover(exec, lab, inventoryPath, plan, dirs, { region: "region-router01", stream: "live", beforeSeconds: 6, edgeDelaySeconds: 1, outageSeconds: 10, afterSeconds: 6 }, (line) => console.log(line));
    const r = result.report;
    console.log(
      `failover: route withdrawn ${result.withdrawnSeconds.toFixed(1)} s after the speakers died; longest gap without an answer ${r.gap.toFixed(2)} s; ` +
        `longest stall ${r.longestStall.toFixed(2)} s (segment ${result.segmentDuration} s); ${r.failed} requests without an answer, ${r.serverErrors} 5xx, ${r.clientErrors} 4xx, ` +
        `${r.segments} segments, missing ${r.missing.length}; back in ${result.returnSeconds.toFixed(1)} s; before ${JSON.stringify(result.before.servedBy)}, outage ${JSON.stringify(result.outage.servedBy)}, after ${JSON.stringify(result.after.servedBy)}`,
    );
    expect(Object.keys(result.before.servedBy).length).toBeGreaterThan(0);
    expect(Object.keys(result.before.servedBy).every((e) => e.startsWith("west-"))).toBe(true);
    expect(result.outage.servedBy["east-lab-k3s01"] ?? 0).toBeGreaterThan(3);
    expect(Object.keys(result.after.servedBy).length).toBeGreaterThan(0);
    expect(Object.keys(result.after.servedBy).every((e) => e.startsWith("west-"))).toBe(true);
    expect(r.serverErrors).toBe(0);
    expect(r.missing).toEqual([]);
    expect(r.longestStall).toBeLessThanOrEqual(result.segmentDuration);
  }, 120_000);

  it("edgelab down removes every namespace, link and process the lab made, and nothing else", async () => {
    const down = await edgelab("down");
    expect(down.code).toBe(0);
    expect(down.stdout).toContain(`network lab removed (${plan.namespaces.length} namespaces`);
    expect(hostNamespaces().filter((n) => n.startsWith(`${plan.prefix}-`))).toEqual([]);
    // Other programs on this machine may add or remove their own namespaces and links meanwhile:
    // compare what could be ours (el-* namespaces; links named like the lab's interfaces).
    expect(hostNamespaces().filter((n) => n.startsWith("el-"))).toEqual([...before.ns.filter((n) => n.startsWith("el-")), canary].sort());
    const ours = new Set(plan.links.flatMap((l) => [l.a.ifname, l.b.ifname]).concat(plan.bridges.map((b) => b.name)));
    expect(hostLinks().filter((l) => !before.links.includes(l) && ours.has(l))).toEqual([]);
    // No process of the lab is left (they ran from files under the lab's directory), the canary's is.
    const left = sh(["ps", "-eo", "pid=,args="]).split("\n").filter((l) => l.includes(dir) && !l.includes("canary"));
    expect(left).toEqual([]);
    expect(() => process.kill(canaryPid, 0)).not.toThrow();
    expect(sh(["ip", "netns", "pids", canary]).trim()).toBe(String(canaryPid));
  }, 60_000);
});

/**
 * The network lab for real (root): namespaces, veths, FRR (zebra + bgpd) running the rendered
 * router configurations, gobgpd speakers configured from the rendered Cilium objects. One lab
 * for the whole file, torn down even when a test fails; the host's namespaces and links are the
 * same before and after.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { netlabDown, netlabUp, planFor, type NetlabUpResult } from "../../src/netlab/index.js";
import { localExecutor } from "../../src/netlab/exec.js";
import { runChecks } from "../../src/netlab/checks.js";
import { routerDir, speakerDir, startSpeaker, vtyshArgv } from "../../src/netlab/runner.js";
import { defaultEnvironment } from "../../src/render/environment.js";
import { renderRouters } from "../../src/render/frr.js";
import { labOf } from "../helpers/cluster-labs.js";
import { netlabData } from "../helpers/netlab.js";

const root = process.getuid?.() === 0;
const sh = (argv: string[]): string => execFileSync(argv[0] ?? "", argv.slice(1), { encoding: "utf8", timeout: 20_000 });
const hostNamespaces = (): string[] => sh(["ip", "netns", "list"]).split("\n").map((l) => l.split(" ")[0] ?? "").filter((n) => n !== "").sort();
const hostLinks = (): string[] => sh(["ip", "-o", "link", "show"]).split("\n").map((l) => l.split(":")[1]?.trim() ?? "").filter((n) => n !== "").sort();

const dir = mkdtempSync(join(tmpdir(), "el-net-"));
// FRR's daemons run as user frr: the lab's directory must be reachable for it (mkdtemp makes 0700).
chmodSync(dir, 0o755);
const inventoryPath = join(dir, "inventory.yml");
writeFileSync(inventoryPath, stringify(netlabData()));
const target = { lab: labOf(netlabData()), inventoryPath };
const { plan, dirs } = planFor(target);
const exec = localExecutor();
const ns = (short: string): string => `${plan.prefix}-${short}`;
const westRouter = plan.routers.find((r) => r.name === "region-router01");
if (westRouter === undefined) throw new Error("the test lab has no region-router01");

/** A TCP server on the service address in each worker namespace answering with the worker's name. */
function startResponders(): void {
  for (const s of plan.speakers) {
    const code = `require("node:net").createServer((c) => c.end(${JSON.stringify(s.host)})).listen(8080, ${JSON.stringify(plan.serviceIp)})`;
    exec.start(["ip", "netns", "exec", s.ns, process.execPath, "-e", code], join(speakerDir(dirs, s), "responder.log"));
  }
}

/** Opens `n` connections from a client namespace to the service address; returns who answered each. */
function connect(client: string, n: number): string[] {
  const code = `const net=require("node:net");const out=[];let left=${n};for(let i=0;i<${n};i++){const c=net.connect({port:8080,host:${JSON.stringify(plan.serviceIp)},localPort:41000+i});let b="";c.setTimeout(3000,()=>c.destroy());c.on("data",(d)=>b+=d);c.on("close",()=>{out.push(b||"-");if(--left===0)console.log(out.join("\\n"))});c.on("error",()=>{})}`;
  return sh(["ip", "netns", "exec", client, process.execPath, "-e", code]).trim().split("\n");
}

let before: { ns: string[]; links: string[] };
let up: NetlabUpResult;

describe.runIf(root)("network lab (root)", () => {
  beforeAll(async () => {
    before = { ns: hostNamespaces(), links: hostLinks() };
    up = await netlabUp(target, () => undefined, exec, 30_000);
    // A fixed hash seed on the west router (kernels >= 6.11) and fixed client ports (below) make
    // the ECMP split the same on every run instead of a fresh draw (a 50/50 draw of 20 flows
    // lands outside 6..14 about 4% of the time).
    if (existsSync("/proc/sys/net/ipv4/fib_multipath_hash_seed")) sh(["ip", "netns", "exec", ns("r1"), "sysctl", "-q", "-w", "net.ipv4.fib_multipath_hash_seed=7"]);
    startResponders();
    // The responders start in the background: wait until each answers in its own namespace.
    for (const s of plan.speakers) {
      const probe = `require("node:net").connect(8080, ${JSON.stringify(plan.serviceIp)}).on("data", (d) => { console.log(String(d)); process.exit(0); }).on("error", () => process.exit(1))`;
      const deadline = Date.now() + 20_000;
      for (;;) {
        try {
          if (sh(["ip", "netns", "exec", s.ns, process.execPath, "-e", probe]).trim() === s.host) break;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error(`the responder of ${s.host} did not start`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }, 90_000);
  afterAll(async () => {
    await netlabDown(target, exec);
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it("converges: every session Established, the service /32 on each region router from its own site and the other region", () => {
    expect(up.checks.map((c) => [c.check, c.ok, c.value])).toEqual([
      ["bgp sessions on dc-router01", true, "2 Established"],
      ["bgp sessions on region-router01", true, "4 Established"],
      ["bgp sessions on region-router02", true, "3 Established"],
      [`service ${plan.serviceIp}/32 on region-router01`, true, "2 eBGP (best, ECMP) + 1 iBGP"],
      [`service ${plan.serviceIp}/32 on region-router02`, true, "1 eBGP (best) + 1 iBGP"],
    ]);
  });

  it("runs each router's rendered configuration with only its addresses changed", () => {
    const rendered = renderRouters(target.lab, defaultEnvironment()).find((f) => f.path === "routers/region-router01.frr.conf")?.content ?? "";
    expect(rendered).toMatch(/bgp listen range 172\.16\.222\.0\/24/);
    const running = readFileSync(join(routerDir(dirs, westRouter), "bgpd.conf"), "utf8");
    const addr = /\d+\.\d+\.\d+\.\d+/g;
    expect(running.replace(addr, "A")).toBe(rendered.replace(addr, "A"));
    expect(running).not.toMatch(/172\.16\./);
    const shown = sh(vtyshArgv(dirs, westRouter, "show running-config"));
    expect(shown).toMatch(/bgp listen range 198\.18\.1\.0\/24 peer-group EDGELAB-WEST-WORKER/);
    expect(shown).toMatch(/neighbor 198\.19\.0\.10 next-hop-self/);
  });

  it("installs both west workers as ECMP next hops and splits 20 client connections between them (30–70 % each)", () => {
    const route = sh(["ip", "-n", ns("r1"), "route", "show", `${plan.serviceIp}/32`]);
    expect(route).toMatch(/nexthop via 198\.18\.1\.41/);
    expect(route).toMatch(/nexthop via 198\.18\.1\.43/);
    const answers = connect(ns("c0"), 20);
    const first = answers.filter((a) => a === "west-lab-k3s01").length;
    const second = answers.filter((a) => a === "west-lab-k3s02").length;
    expect(first + second).toBe(20);
    expect(first).toBeGreaterThanOrEqual(6);
    expect(second).toBeGreaterThanOrEqual(6);
  });

  it("serves east clients from the east site", () => {
    expect(new Set(connect(ns("c1"), 5))).toEqual(new Set(["east-lab-k3s01"]));
  });

  it("fails west clients over to the east site when the west speakers die, and back when they return", async () => {
    const west = plan.speakers.filter((s) => s.label === "west-worker");
    const routeOnR1 = (): string => sh(["ip", "-n", ns("r1"), "route", "show", `${plan.serviceIp}/32`]);
    const until = async (what: string, ok: () => boolean): Promise<number> => {
      const t0 = Date.now();
      while (!ok()) {
        if (Date.now() - t0 > 20_000) throw new Error(`${what}: not within 20 s (route: ${routeOnR1()})`);
        await new Promise((r) => setTimeout(r, 100));
      }
      return (Date.now() - t0) / 1000;
    };
    for (const p of up.state.pids.filter((p) => west.some((s) => s.ns === p.ns))) process.kill(p.pid, "SIGKILL");
    // A killed speaker's session ends when the router's hold timer (9 s here) expires.
    const gap = await until("west route moves to the iBGP path", () => routeOnR1().includes("via 198.19.0.10"));
    expect(gap).toBeLessThan(15);
    expect(new Set(connect(ns("c0"), 5))).toEqual(new Set(["east-lab-k3s01"]));
    const checks = await runChecks(exec, plan, dirs);
    expect(checks.find((c) => c.check.startsWith("service") && c.edge === "region-router01")?.ok).toBe(false);
    for (const s of west) await startSpeaker(exec, target.lab, plan, dirs, s);
    await until("west workers back as next hops", () => routeOnR1().includes("nexthop via 198.18.1.41 ") && routeOnR1().includes("nexthop via 198.18.1.43 "));
    expect(new Set(connect(ns("c0"), 10))).toEqual(new Set(["west-lab-k3s01", "west-lab-k3s02"]));
  }, 60_000);
});

describe.runIf(root)("network lab teardown (root)", () => {
  it("leaves the host's namespaces and links as they were", async () => {
    await netlabDown(target, exec);
    expect(hostNamespaces().filter((n) => n.startsWith(plan.prefix))).toEqual([]);
    // Other programs on this machine may add or remove their own namespaces and links meanwhile:
    // compare what could be ours (el-* namespaces; links named like the lab's interfaces).
    const ours = new Set(plan.links.flatMap((l) => [l.a.ifname, l.b.ifname]).concat(plan.bridges.map((b) => b.name)));
    expect(hostNamespaces().filter((n) => n.startsWith("el-"))).toEqual(before.ns.filter((n) => n.startsWith("el-")));
    expect(hostLinks().filter((l) => !before.links.includes(l) && ours.has(l.split("@")[0] ?? l))).toEqual([]);
  });
});

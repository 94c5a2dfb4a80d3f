// The network lab (root): how long the user waits for BGP, and how long a region's viewers wait
// when their site dies. Each round, on inventories/netlab.yml in a temp directory:
//   1. `edgelab netlab up` (whole CLI): namespaces, FRR, gobgpd, until every session is
//      Established and each region router has installed the service /32 (its checks pass);
//   2. `edgelab up --network netns` (whole CLI): the same plus the data plane, until every
//      stream plays through the service address from every client namespace, and smoke;
//   3. the failover with a segment-following west client, the west site killed (speakers,
//      then nginx: the kernel closes their sessions), and again unplugged (everything it sends
//      dropped: the router waits out the hold timer);
//   4. `edgelab down`.
//
//   npm run build && sudo node bench/netlab.js --runs 3
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BENCH_DIR, median, option, writeResult } from "./lib.js";

const dist = join(BENCH_DIR, "..", "dist");
const { validateInventoryText } = await import(join(dist, "inventory", "validate.js"));
const { buildLab } = await import(join(dist, "model", "lab.js"));
const { planFor } = await import(join(dist, "netlab", "index.js"));
const { runFailover } = await import(join(dist, "netlab", "failover.js"));
const { localExecutor } = await import(join(dist, "netlab", "exec.js"));

if (process.getuid?.() !== 0) {
  console.error("bench/netlab.js needs root (network namespaces)");
  process.exit(2);
}
const runs = option("--runs", 3);
const bin = join(BENCH_DIR, "..", "bin", "edgelab.cjs");
const dir = mkdtempSync(join(tmpdir(), "edgelab-bench-netlab-"));
chmodSync(dir, 0o755); // FRR's daemons (user frr) work in it
const inventory = join(dir, "netlab.yml");
const text = readFileSync(join(BENCH_DIR, "..", "inventories", "netlab.yml"), "utf8");
writeFileSync(inventory, text);
const validation = validateInventoryText(text, inventory);
if (validation.facts === undefined) throw new Error("inventories/netlab.yml does not validate");
const lab = buildLab(validation.facts);
const { plan, dirs } = planFor({ lab, inventoryPath: inventory });
const exec = localExecutor();

function timed(args) {
  const t0 = performance.now();
  execFileSync(process.execPath, [bin, "-i", inventory, ...args], { stdio: ["ignore", "ignore", "pipe"], env: { PATH: process.env.PATH } });
  return (performance.now() - t0) / 1000;
}

const failoverOptions = { region: "region-router01", stream: "live", beforeSeconds: 6, edgeDelaySeconds: 1, outageSeconds: 14, afterSeconds: 6 };
const rows = [];
try {
  for (let i = 0; i < runs; i++) {
    timed(["down"]);
    const converge = timed(["netlab", "up"]);
    timed(["netlab", "down"]);
    const up = timed(["up", "--network", "netns", "--force"]);
    const kill = await runFailover(exec, lab, inventory, plan, dirs, { ...failoverOptions, how: "kill" }, () => undefined);
    const unplug = await runFailover(exec, lab, inventory, plan, dirs, { ...failoverOptions, how: "unplug" }, () => undefined);
    const summary = (f) => ({ withdrawn: f.withdrawnSeconds, gap: f.report.gap, longestStall: f.report.longestStall, failed: f.report.failed, serverErrors: f.report.serverErrors, missing: f.report.missing.length, back: f.returnSeconds, outageServedBy: f.outage.servedBy, afterServedBy: f.after.servedBy });
    rows.push({ converge, up, kill: summary(kill), unplug: summary(unplug) });
    console.error(`run ${i + 1}/${runs}: ${JSON.stringify(rows.at(-1))}`);
  }
} finally {
  try {
    timed(["down"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const m = (pick) => Number(median(rows.map(pick)).toFixed(2));
const result = {
  runs,
  segmentSeconds: lab.media.hls.fragment,
  holdSeconds: lab.cilium.bgp?.groups[0]?.session.holdTime,
  netlabUpSeconds: m((r) => r.converge),
  upNetnsSeconds: m((r) => r.up),
  kill: { withdrawnSeconds: m((r) => r.kill.withdrawn), gapSeconds: m((r) => r.kill.gap), longestStallSeconds: m((r) => r.kill.longestStall), failedRequests: m((r) => r.kill.failed), serverErrors: m((r) => r.kill.serverErrors), backSeconds: m((r) => r.kill.back) },
  unplug: { withdrawnSeconds: m((r) => r.unplug.withdrawn), gapSeconds: m((r) => r.unplug.gap), longestStallSeconds: m((r) => r.unplug.longestStall), failedRequests: m((r) => r.unplug.failed), serverErrors: m((r) => r.unplug.serverErrors), backSeconds: m((r) => r.unplug.back) },
  rows,
  loadAverage: execFileSync("cat", ["/proc/loadavg"], { encoding: "utf8" }).trim(),
};
writeResult("netlab", result);
console.log(JSON.stringify(result, null, 2));

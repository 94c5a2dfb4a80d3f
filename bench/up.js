// `edgelab up` on the local lab: the first run (every stage) vs a second run with nothing
// changed (the journal skips every stage), each a whole CLI process as the user waits for it.
// Interleaved: each round takes the lab down, runs up twice, and records both.
//
//   npm run build && node bench/up.js --runs 5
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BENCH_DIR, median, option, writeResult } from "./lib.js";

const runs = option("--runs", 5);
const bin = join(BENCH_DIR, "..", "bin", "edgelab.cjs");
const dir = mkdtempSync(join(tmpdir(), "edgelab-bench-up-"));
const inventory = join(dir, "local.yml");
// The shipped local inventory on its own addresses and ports (so it runs beside a user's lab).
writeFileSync(
  inventory,
  readFileSync(join(BENCH_DIR, "..", "inventories", "local.yml"), "utf8")
    .replaceAll("127.0.22", "127.0.12")
    .replace("    media:\n", "    local: {ports: {edge: 28080, origin: 28000, router: 28001, redis: 28090, media_http: 28100, media_rtmp: 28935}}\n    media:\n"),
);

function timed(args) {
  const t0 = performance.now();
  execFileSync(process.execPath, [bin, "-i", inventory, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  return performance.now() - t0;
}

const first = [];
const second = [];
try {
  for (let i = 0; i < runs; i++) {
    timed(["destroy", "--yes"]);
    first.push(timed(["up"]));
    second.push(timed(["up"]));
    console.error(`run ${i + 1}/${runs}: first ${first.at(-1).toFixed(0)} ms, second ${second.at(-1).toFixed(0)} ms`);
  }
} finally {
  try {
    timed(["down"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const result = {
  runs,
  firstMs: Math.round(median(first)),
  secondMs: Math.round(median(second)),
  ratio: Number((median(second) / median(first)).toFixed(3)),
  target: "second up <= 0.1x the first",
  samples: { first: first.map(Math.round), second: second.map(Math.round) },
};
writeResult("up", result);
console.log(JSON.stringify(result, null, 2));

// `edgelab images build` (both images), each a whole CLI process as the user waits for it:
//   cold    — an empty cache: mmdebstrap builds both root filesystems, buildah commits both images;
//   rebuild — the root filesystems cached, the images not (what a changed source costs);
//   warm    — everything cached: the archives are placed from the content cache.
// Needs root (mmdebstrap, buildah) and the Debian mirror.
//
//   npm run build && node bench/images.js --cold-runs 1 --runs 3
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BENCH_DIR, median, option, writeResult } from "./lib.js";

const coldRuns = option("--cold-runs", 1);
const runs = option("--runs", 3);
const bin = join(BENCH_DIR, "..", "bin", "edgelab.cjs");
const sharedRootfs = join(BENCH_DIR, "..", ".cache", "rootfs");
const dir = mkdtempSync(join(tmpdir(), "edgelab-bench-images-"));
const inventory = join(dir, "inventory.yml");
writeFileSync(inventory, "all:\n  vars:\n    lab: {name: bench-images, provider: local}\n    ansible_connection: local\n  children:\n    k3s_cluster:\n      children:\n        master:\n          hosts:\n            s1: {ansible_host: 127.0.0.10}\n");

function timed(cache) {
  const t0 = performance.now();
  execFileSync(process.execPath, [bin, "-i", inventory, "images", "build"], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, EDGELAB_CACHE_DIR: cache } });
  return performance.now() - t0;
}

const cold = [];
const rebuild = [];
const warm = [];
try {
  for (let i = 0; i < coldRuns; i++) {
    const cache = join(dir, `cold-${i}`);
    cold.push(timed(cache));
    rmSync(cache, { recursive: true, force: true });
    console.error(`cold ${i + 1}/${coldRuns}: ${(cold.at(-1) / 1000).toFixed(1)} s`);
  }
  mkdirSync(sharedRootfs, { recursive: true });
  for (let i = 0; i < runs; i++) {
    const cache = join(dir, `rebuild-${i}`);
    mkdirSync(cache);
    symlinkSync(sharedRootfs, join(cache, "rootfs"));
    rebuild.push(timed(cache));
    warm.push(timed(cache));
    rmSync(cache, { recursive: true, force: true });
    console.error(`run ${i + 1}/${runs}: rebuild ${(rebuild.at(-1) / 1000).toFixed(1)} s, warm ${(warm.at(-1) / 1000).toFixed(2)} s`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const result = {
  coldRuns,
  runs,
  coldMs: cold.length > 0 ? Math.round(median(cold)) : null,
  rebuildMs: Math.round(median(rebuild)),
  warmMs: Math.round(median(warm)),
  warmOverCold: cold.length > 0 ? Number((median(warm) / median(cold)).toFixed(4)) : null,
  warmOverRebuild: Number((median(warm) / median(rebuild)).toFixed(4)),
  samples: { cold: cold.map(Math.round), rebuild: rebuild.map(Math.round), warm: warm.map(Math.round) },
};
writeResult("images", result);
console.log(JSON.stringify(result, null, 2));

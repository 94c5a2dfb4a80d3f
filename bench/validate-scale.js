// Benchmark: what a user waits for — the `edgelab validate` process, end to end (start, module
// loading, reading, validating, printing, exit) — on a generated inventory with 10,000 edge hosts
// (the scale of seed 002), once valid and once with 1% of its hosts broken (every problem must be
// reported with its file:line:col). Wall time from spawn to exit; peak RSS from GNU time.
// Compared, run by run, with the floor: a Node.js process that only parses the same file with the
// YAML library. Targets on this 2-core machine: < 2 s and < 300 MB for both inventories.
//
//   npm run build && node bench/validate-scale.js [--edges 10000] [--runs 5]
//
// Needs GNU time (/usr/bin/time, Debian package `time`). Writes bench/results/validate-scale.json.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { generateInventory } from "./gen-inventory.js";
import { BENCH_DIR, median, option, writeResult } from "./lib.js";

const edges = option("--edges", 10000);
const runs = option("--runs", 5);
const BIN = join(BENCH_DIR, "..", "bin", "edgelab.cjs");
const dir = mkdtempSync(join(tmpdir(), "edgelab-bench-"));
const files = { valid: join(dir, "valid.yml"), broken: join(dir, "broken.yml") };
const texts = { valid: generateInventory(edges), broken: generateInventory(edges, { brokenEvery: 100 }) };
for (const [name, text] of Object.entries(texts)) writeFileSync(files[name], text);
const brokenHosts = texts.broken.split("\n").filter((l, i) => l !== texts.valid.split("\n")[i]).length;

/** One measured process: wall ms (spawn to exit), peak RSS MB, exit code, output. */
function measure(argv) {
  const t0 = performance.now();
  const r = spawnSync("/usr/bin/time", ["-f", "%M", ...argv], { cwd: join(BENCH_DIR, ".."), encoding: "utf8", maxBuffer: 64 * 1024 * 1024, env: { ...process.env, NO_COLOR: "1" } });
  const ms = performance.now() - t0;
  if (r.error) throw new Error(`cannot run /usr/bin/time (apt-get install time): ${r.error.message}`);
  const lines = r.stderr.trimEnd().split("\n");
  const peakRssMb = Number(lines.pop()) / 1024;
  return { ms, peakRssMb, code: r.status, stdout: r.stdout, stderr: lines.join("\n") };
}

const yamlOnly = (file) => [process.execPath, "--input-type=module", "-e", `import { parseDocument } from "yaml"; import { readFileSync } from "node:fs"; parseDocument(readFileSync(${JSON.stringify(file)}, "utf8"), { version: "1.1", merge: true, uniqueKeys: false }).toJS();`];
const validate = (file) => [process.execPath, BIN, "validate", "-i", file];

const samples = { valid: [], broken: [], yamlValid: [], yamlBroken: [] };
let located = undefined;
try {
  // Interleaved, so every configuration sees the same machine load.
  for (let i = 0; i < runs; i++) {
    const v = measure(validate(files.valid));
    if (v.code !== 0) throw new Error(`the valid inventory did not validate: ${v.stderr.slice(0, 500)}`);
    const b = measure(validate(files.broken));
    if (b.code !== 2) throw new Error(`the broken inventory exited ${b.code}, not 2`);
    // Every problem is reported with its position: one "file:line:col" line per counted issue.
    const summary = /✖ (\d+) errors?(?:, (\d+) warnings?)?/.exec(b.stderr);
    const count = Number(summary?.[1] ?? 0) + Number(summary?.[2] ?? 0);
    const withPosition = `${b.stdout}\n${b.stderr}`.split("\n").filter((l) => l.startsWith(`${files.broken}:`) && /^\S+:\d+:\d+ /.test(l)).length;
    if (count === 0 || withPosition !== count) throw new Error(`broken inventory: ${count} issues counted, ${withPosition} reported with a position`);
    located = { issues: count, brokenHosts };
    const yv = measure(yamlOnly(files.valid));
    const yb = measure(yamlOnly(files.broken));
    samples.valid.push(v);
    samples.broken.push(b);
    samples.yamlValid.push(yv);
    samples.yamlBroken.push(yb);
    process.stderr.write(`run ${i + 1}/${runs}: valid ${v.ms.toFixed(0)} ms / ${v.peakRssMb.toFixed(0)} MB, broken ${b.ms.toFixed(0)} ms / ${b.peakRssMb.toFixed(0)} MB (${count} issues located); YAML parse alone ${yv.ms.toFixed(0)} ms / ${yv.peakRssMb.toFixed(0)} MB\n`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const summarise = (xs) => ({ medianMs: Math.round(median(xs.map((s) => s.ms))), maxMs: Math.round(Math.max(...xs.map((s) => s.ms))), medianPeakRssMb: Math.round(median(xs.map((s) => s.peakRssMb))), maxPeakRssMb: Math.round(Math.max(...xs.map((s) => s.peakRssMb))) });
const result = {
  benchmark: "validate-scale",
  what: "edgelab validate process, end to end (wall time spawn to exit, peak RSS)",
  date: new Date().toISOString(),
  node: process.versions.node,
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model,
  loadAverage: (await import("node:os")).loadavg().map((l) => Number(l.toFixed(2))),
  edges,
  hosts: edges + 3,
  inventoryBytes: Buffer.byteLength(texts.valid),
  broken: located,
  runs,
  valid: summarise(samples.valid),
  brokenInventory: summarise(samples.broken),
  yamlParseOnly: { valid: summarise(samples.yamlValid), broken: summarise(samples.yamlBroken) },
  targets: { ms: 2000, peakRssMb: 300 },
};
result.ratioToYamlParse = {
  valid: { time: Number((result.valid.medianMs / result.yamlParseOnly.valid.medianMs).toFixed(2)), peakRss: Number((result.valid.medianPeakRssMb / result.yamlParseOnly.valid.medianPeakRssMb).toFixed(2)) },
  broken: { time: Number((result.brokenInventory.medianMs / result.yamlParseOnly.broken.medianMs).toFixed(2)), peakRss: Number((result.brokenInventory.medianPeakRssMb / result.yamlParseOnly.broken.medianPeakRssMb).toFixed(2)) },
};
result.pass = [result.valid, result.brokenInventory].every((r) => r.medianMs < result.targets.ms && r.maxPeakRssMb < result.targets.peakRssMb);
writeResult("validate-scale", result);
const line = (name, r, y) => `${name}: median ${r.medianMs} ms (max ${r.maxMs}), peak RSS median ${r.medianPeakRssMb} MB (max ${r.maxPeakRssMb}); YAML parse alone ${y.medianMs} ms / ${y.medianPeakRssMb} MB`;
console.log(`edgelab validate, ${result.hosts} hosts (${(result.inventoryBytes / 1024).toFixed(0)} KiB YAML), ${runs} runs, load ${result.loadAverage.join(" ")}`);
console.log(line("valid", result.valid, result.yamlParseOnly.valid));
console.log(line(`1% broken (${located?.issues ?? "?"} issues, all located)`, result.brokenInventory, result.yamlParseOnly.broken));
console.log(`${result.pass ? "within" : "OVER"} target (< ${result.targets.ms} ms, < ${result.targets.peakRssMb} MB)`);

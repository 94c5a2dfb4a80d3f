// Benchmark: validate + build the Lab model for a generated inventory with 10,000 edge hosts
// (the scale of seed 002). Each run is a fresh process so peak memory is that run's own.
// Targets on a 2-core machine: median under 2 s, peak RSS under 300 MB.
//
//   npm run build && node bench/validate-scale.js [--edges 10000] [--runs 5]
//
// Writes bench/results/validate-scale.json and prints a summary.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync, rmSync, mkdtempSync } from "node:fs";
import { tmpdir, cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateInventory } from "./gen-inventory.js";
import { median, option, writeResult } from "./lib.js";

const args = process.argv.slice(2);

if (args[0] === "--child-parse") {
  // The floor, for the ratio: the YAML library alone parsing the same file (YAML 1.1, to data).
  const { parseDocument } = await import("yaml");
  const start = performance.now();
  const doc = parseDocument(readFileSync(args[1], "utf8"), { version: "1.1", merge: true, uniqueKeys: false });
  doc.toJS();
  const ms = performance.now() - start;
  process.stdout.write(JSON.stringify({ ms, peakRssMb: process.resourceUsage().maxRSS / 1024 }));
} else if (args[0] === "--child") {
  // One measured run: read, validate, build the model. Prints JSON.
  const { validateInventoryText } = await import("../dist/inventory/validate.js");
  const { buildLab } = await import("../dist/model/lab.js");
  const file = args[1];
  const baseline = process.memoryUsage().rss;
  const start = performance.now();
  const text = readFileSync(file, "utf8");
  const result = validateInventoryText(text, file);
  if (result.facts === undefined) throw new Error(`generated inventory is invalid: ${result.issues[0]?.message}`);
  const lab = buildLab(result.facts);
  const ms = performance.now() - start;
  const peakKb = process.resourceUsage().maxRSS;
  process.stdout.write(JSON.stringify({ ms, peakRssMb: peakKb / 1024, baselineRssMb: baseline / 1e6 / 1.048576, hosts: lab.hosts.length, issues: result.issues.length }));
} else {
  const edges = option("--edges", 10000);
  const runs = option("--runs", 5);
  const dir = mkdtempSync(join(tmpdir(), "edgelab-bench-"));
  const file = join(dir, "inventory.yml");
  const text = generateInventory(edges);
  writeFileSync(file, text);
  const samples = [];
  const floor = [];
  const child = (mode) => JSON.parse(execFileSync(process.execPath, [fileURLToPath(import.meta.url), mode, file], { encoding: "utf8" }));
  // Interleaved, so both see the same machine load.
  for (let i = 0; i < runs; i++) {
    samples.push(child("--child"));
    floor.push(child("--child-parse"));
    process.stderr.write(`run ${i + 1}/${runs}: edgelab ${samples.at(-1).ms.toFixed(0)} ms / ${samples.at(-1).peakRssMb.toFixed(0)} MB; YAML parse alone ${floor.at(-1).ms.toFixed(0)} ms / ${floor.at(-1).peakRssMb.toFixed(0)} MB\n`);
  }
  rmSync(dir, { recursive: true, force: true });
  const result = {
    benchmark: "validate-scale",
    date: new Date().toISOString(),
    node: process.versions.node,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    edges,
    hosts: samples[0].hosts,
    inventoryBytes: Buffer.byteLength(text),
    runs,
    medianMs: Math.round(median(samples.map((s) => s.ms))),
    medianPeakRssMb: Math.round(median(samples.map((s) => s.peakRssMb))),
    maxPeakRssMb: Math.round(Math.max(...samples.map((s) => s.peakRssMb))),
    nodeBaselineRssMb: Math.round(median(samples.map((s) => s.baselineRssMb))),
    yamlParseOnly: { medianMs: Math.round(median(floor.map((s) => s.ms))), medianPeakRssMb: Math.round(median(floor.map((s) => s.peakRssMb))) },
    targets: { ms: 2000, peakRssMb: 300 },
  };
  result.ratioToYamlParse = { time: Number((result.medianMs / result.yamlParseOnly.medianMs).toFixed(2)), peakRss: Number((result.medianPeakRssMb / result.yamlParseOnly.medianPeakRssMb).toFixed(2)) };
  result.pass = result.medianMs < result.targets.ms && result.maxPeakRssMb < result.targets.peakRssMb;
  writeResult("validate-scale", result);
  console.log(`validate + model, ${result.hosts} hosts (${(result.inventoryBytes / 1024).toFixed(0)} KiB YAML), ${runs} runs: median ${result.medianMs} ms, peak RSS median ${result.medianPeakRssMb} MB (max ${result.maxPeakRssMb} MB, Node baseline ${result.nodeBaselineRssMb} MB) — ${result.pass ? "within" : "OVER"} target (< ${result.targets.ms} ms, < ${result.targets.peakRssMb} MB); ${result.ratioToYamlParse.time}× the time and ${result.ratioToYamlParse.peakRss}× the peak memory of parsing the YAML alone (${result.yamlParseOnly.medianMs} ms, ${result.yamlParseOnly.medianPeakRssMb} MB)`);
}

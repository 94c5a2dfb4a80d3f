// Benchmark: `prepare` (playbooks/prepare.yml: roles prereq and storage) on 6 systemd test hosts
// over SSH (3 servers in one subnet, agents in two others), edgelab's Ansible settings vs
// Ansible's defaults, side by side:
//
//  - edgelab: pipelining, forks = every host, the interpreter named (no discovery), SSH
//    multiplexing kept for the run, for prepare the free strategy and no fact gathering;
//  - Ansible's defaults: no pipelining, 5 forks, interpreter discovery, ControlPersist 60 s, all
//    facts (edgelab_gather_subset=all), linear strategy. Host keys are checked strictly in both.
//
// Each run boots fresh hosts for each configuration and times the first `prepare` (hosts as
// provisioned) and a second one (converged: what a re-run costs). Configurations alternate which
// goes first. Median of --runs.
//
//   npm run build && node bench/prepare.js [--runs 3]
//
// Needs root (containers, network namespaces) and scripts/setup.sh's packages; the test hosts'
// root filesystem is built once (cached in .cache/rootfs). Traffic: 198.18.0.0/15 test network only.
import { execFileSync } from "node:child_process";
import { cpus } from "node:os";
import { join } from "node:path";
import { BENCH_DIR, median, option, writeResult } from "./lib.js";

const RUNS = option("--runs", 3);
const ROOT = join(BENCH_DIR, "..");

// The test hosts live in test/helpers (TypeScript): compile them with the rest to dist-check/.
execFileSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", join(ROOT, "tsconfig.json")], { stdio: "inherit" });
const { startTestLab } = await import("../dist-check/test/helpers/testhosts.js");
const { AnsibleRunner } = await import("../dist/ansible/runner.js");
const { ANSIBLE_DEFAULTS, EDGELAB_SETTINGS } = await import("../dist/ansible/settings.js");

const HOSTS = [
  { name: "lab-k3s01", group: "master", subnet: 0 },
  { name: "lab-k3s02", group: "master", subnet: 0 },
  { name: "lab-k3s03", group: "master", subnet: 0 },
  { name: "west-lab-k3s01", group: "node", subnet: 1 },
  { name: "west-lab-k3s02", group: "node", subnet: 1 },
  { name: "east-lab-k3s01", group: "node", subnet: 2 },
];

const CONFIGS = {
  edgelab: { settings: EDGELAB_SETTINGS, extraVars: {} },
  defaults: { settings: ANSIBLE_DEFAULTS, extraVars: { edgelab_gather_subset: ["all"] } },
};

async function measure(name) {
  const { settings, extraVars } = CONFIGS[name];
  const lab = await startTestLab(HOSTS);
  const runner = new AnsibleRunner({ stateDir: lab.stateDir, env: process.env, settings });
  try {
    const times = [];
    for (let i = 0; i < 2; i++) {
      const started = performance.now();
      const result = await runner.run({ playbook: "prepare", inventory: lab.inventoryFile, extraVars });
      times.push((performance.now() - started) / 1000);
      if (i === 1 && result.changed.length > 0) throw new Error(`${name}: the second run changed ${JSON.stringify(result.changed)}`);
    }
    return { first: times[0], rerun: times[1] };
  } finally {
    await runner.close();
    await lab.stop();
  }
}

const samples = { edgelab: [], defaults: [] };
for (let run = 0; run < RUNS; run++) {
  const order = run % 2 === 0 ? ["edgelab", "defaults"] : ["defaults", "edgelab"];
  for (const name of order) {
    const s = await measure(name);
    samples[name].push(s);
    console.log(`run ${run + 1} ${name}: first ${s.first.toFixed(1)} s, re-run ${s.rerun.toFixed(1)} s`);
  }
}

const med = (name, key) => median(samples[name].map((s) => s[key]));
const result = {
  hosts: HOSTS.length,
  runs: RUNS,
  cpus: cpus().length,
  node: process.version,
  settings: { edgelab: EDGELAB_SETTINGS, defaults: { ...ANSIBLE_DEFAULTS, gather_subset: "all" } },
  samples,
  median: {
    first: { edgelab: med("edgelab", "first"), defaults: med("defaults", "first"), ratio: med("defaults", "first") / med("edgelab", "first") },
    rerun: { edgelab: med("edgelab", "rerun"), defaults: med("defaults", "rerun"), ratio: med("defaults", "rerun") / med("edgelab", "rerun") },
  },
  date: new Date().toISOString(),
};
writeResult("prepare", result);
console.log(`\n| prepare, 6 hosts (median of ${RUNS}) | edgelab's settings | Ansible's defaults | ratio |`);
console.log("| --- | --- | --- | --- |");
for (const key of ["first", "rerun"]) {
  const m = result.median[key];
  console.log(`| ${key === "first" ? "first run (fresh hosts)" : "re-run (converged)"} | ${m.edgelab.toFixed(1)} s | ${m.defaults.toFixed(1)} s | ${m.ratio.toFixed(2)}× |`);
}

// Benchmark: provision 30 VMs against the simulator's clone model (full clones share their
// storage's bandwidth, 200 MiB/s; linked clones ~1 s; storage-lock timeouts +2% per other clone
// running on the storage, 10 s lost each) with the realistic task durations (configure 0.5 s,
// resize 0.5 s, start 2 s, boot to guest agent 10 s), on the simulator's clock scaled by --scale
// (the provisioner polls on the same scale). Results are in simulated seconds: what a user waits.
//
// For full clones on one storage, full clones on two storages, linked clones (and linked clones
// with the inventory naming two storages: linked clones live on the template's storage):
//  - edgelab with its defaults, vs the IDEAL: the fastest schedule the model allows, computed by
//    fastestSchedule() from the same model (target: edgelab <= 1.10 x ideal);
//  - vs one VM at a time (each VM cloned, configured, started and reachable before the next).
//
//   npm run build && node bench/provision.js [--scale 0.05] [--runs 3] [--linked-runs 15]
//   npm run build && node bench/provision.js --sweep [--linked] [--linked-runs n] [--concurrency n]   # clones per storage and concurrency, for the defaults
//
// Writes bench/results/provision.json (or provision-sweep.json). Traffic: the simulator on 127.0.239.1 only.
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { validateInventoryText } from "../dist/inventory/validate.js";
import { buildLab } from "../dist/model/lab.js";
import { ProxmoxClient } from "../dist/providers/proxmox/client.js";
import { bytesPerMs, DEFAULT_CLONE_MODEL, fastestSchedule } from "../dist/providers/proxmox/clone-model.js";
import { planVms } from "../dist/providers/proxmox/plan.js";
import { DEFAULT_PROVISION, Provisioner } from "../dist/providers/proxmox/provision.js";
import { readActual } from "../dist/providers/proxmox/read.js";
import { DEFAULT_DURATIONS, NO_FAULTS, ProxmoxSimulator } from "../dist/providers/proxmox/simulator.js";
import { BENCH_DIR, median, option, writeResult } from "./lib.js";

// At 0.05 a loopback HTTP round trip (~1 ms) is ~20 ms of simulated time, about an API call on a LAN.
const SCALE = option("--scale", 0.05);
const RUNS = option("--runs", 3);
// Linked clones vary from run to run (a storage-lock timeout costs 10 s): more runs for their medians.
const LINKED_RUNS = option("--linked-runs", 15);
const runsFor = (c) => (c.linked ? LINKED_RUNS : RUNS);
const CONCURRENCY_SWEEP = process.argv.includes("--concurrency") ? [option("--concurrency", 16)] : [8, 16, 30];
const SWEEP = process.argv.includes("--sweep");
const VMS = 30;
const TEMPLATE_MIB = 3584;
const TOKEN = { id: "edgelab@pve!bench", secret: "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901" };

/** The seed lab plus workers up to 30 VMs; every other VM on the second storage when asked. */
function lab({ linked, storages }) {
  const data = parse(readFileSync(join(BENCH_DIR, "..", "inventories", "lab.yml"), "utf8"));
  data.all.vars.proxmox.clone = linked ? "linked" : "full";
  const workers = data.all.children.k3s_cluster.children.node.hosts;
  for (let i = 0; Object.keys(workers).length + 3 < VMS; i++) workers[`edge-${i}`] = { ansible_host: `172.16.222.${100 + i}`, vmid: 3100 + i, data_vlan: 222, label: "west-worker" };
  if (storages === 2) {
    const masters = data.all.children.k3s_cluster.children.master.hosts;
    [...Object.values(masters), ...Object.values(workers)].forEach((h, i) => {
      if (i % 2 === 1) h.storage = "nvme01";
    });
  }
  const result = validateInventoryText(stringify(data), "bench.yml");
  if (result.facts === undefined) throw new Error(result.issues.map((i) => i.message).join("; "));
  return buildLab(result.facts);
}

const tailMs = DEFAULT_DURATIONS.config + DEFAULT_DURATIONS.resize + DEFAULT_DURATIONS.start + DEFAULT_DURATIONS.bootToAgent;

/** The fastest schedule the model allows for this lab (simulated seconds). */
function ideal(l) {
  const templateStorage = "ssd02-4T";
  const jobs = l.hosts.map((h) => ({ storage: l.proxmox.clone === "linked" ? templateStorage : h.vm.storage, fullBytes: l.proxmox.clone === "linked" ? undefined : TEMPLATE_MIB * 1024 * 1024 }));
  const schedule = fastestSchedule(DEFAULT_CLONE_MODEL, jobs, () => bytesPerMs(DEFAULT_CLONE_MODEL.bandwidthMiBps), tailMs);
  return { seconds: schedule.ms / 1000, storages: schedule.storages };
}

let port = 18900;
/** One provisioning of `l` on a fresh simulator; simulated seconds. */
async function run(l, seed, { oneAtATime = false, options = {} } = {}) {
  port += 1;
  const sim = new ProxmoxSimulator(
    {
      nodes: [{ name: "pve01", storages: [{ id: "ssd02-4T", totalGiB: 8000 }, { id: "nvme01", totalGiB: 8000 }] }],
      vms: [{ vmid: 9000, node: "pve01", template: true, config: { name: "tpl", scsi0: `ssd02-4T:base-9000-disk-0,size=${TEMPLATE_MIB}M`, net0: "virtio=BC:24:11:90:00:01,bridge=vmbr0", agent: "1" } }],
    },
    { seed, durations: DEFAULT_DURATIONS, faults: NO_FAULTS, resourcesLagMs: 2000, timeScale: SCALE, tokens: [TOKEN], users: [] },
  );
  const server = await sim.listen(port, "127.0.239.1");
  const client = new ProxmoxClient({ url: `http://127.0.239.1:${port}`, tokenId: TOKEN.id, tokenSecret: TOKEN.secret, timeoutMs: 30_000, backoffMs: 1000 * SCALE });
  // As `edgelab provision` does against the simulator: poll and back off on its clock.
  const provisionOptions = { ...DEFAULT_PROVISION, pollMs: Math.max(5, DEFAULT_PROVISION.pollMs * SCALE), backoffMs: Math.max(5, DEFAULT_PROVISION.backoffMs * SCALE), ...options };
  const started = performance.now();
  const plan = planVms(l, await readActual(client, l));
  const failed = [];
  if (oneAtATime) {
    for (const action of plan.actions) failed.push(...(await new Provisioner(client, l, provisionOptions).apply({ actions: [action], counts: plan.counts })).failed);
  } else {
    failed.push(...(await new Provisioner(client, l, provisionOptions).apply(plan)).failed);
  }
  const seconds = (performance.now() - started) / 1000 / SCALE;
  client.close();
  await new Promise((r) => server.close(r));
  if (failed.length > 0) throw new Error(`failed: ${JSON.stringify(failed)}`);
  return { seconds, storageLockTimeouts: sim.injected.storageLockTimeouts };
}

const CASES = [
  { name: "full clones, one storage", linked: false, storages: 1 },
  { name: "full clones, two storages", linked: false, storages: 2 },
  { name: "linked clones (template's storage)", linked: true, storages: 1 },
  { name: "linked clones, inventory naming two storages", linked: true, storages: 2 },
];

const round = (x, d = 2) => Number(x.toFixed(d));
const base = { date: new Date().toISOString(), node: process.versions.node, cpus: cpus().length, vms: VMS, scale: SCALE, runs: { full: RUNS, linked: LINKED_RUNS }, templateMiB: TEMPLATE_MIB, model: DEFAULT_CLONE_MODEL, durationsMs: DEFAULT_DURATIONS };

if (SWEEP) {
  // Which clones-per-storage and concurrency make edgelab fastest against the model.
  const rows = [];
  const only = process.argv.includes("--linked") ? CASES.slice(2, 3) : CASES.slice(0, 3);
  for (const c of only) {
    const l = lab(c);
    const best = ideal(l);
    const clones = c.linked ? [1, 2, 3, 4, 5, 6, 8] : [1, 2];
    for (const clonesPerStorage of clones) {
      for (const concurrency of c.linked ? CONCURRENCY_SWEEP : [4, 8, 16]) {
        const times = [];
        const timeouts = [];
        for (let r = 0; r < runsFor(c); r++) {
          const res = await run(l, 100 + r, { options: { clonesPerStorage, concurrency } });
          times.push(res.seconds);
          timeouts.push(res.storageLockTimeouts);
        }
        const mean = times.reduce((a, b) => a + b, 0) / times.length;
        const row = { case: c.name, clonesPerStorage, concurrency, runs: times.length, medianSeconds: round(median(times)), meanSeconds: round(mean), ratioToIdeal: round(median(times) / best.seconds, 3), storageLockTimeouts: timeouts };
        rows.push(row);
        process.stderr.write(`${JSON.stringify(row)}\n`);
      }
    }
  }
  writeResult("provision-sweep", { benchmark: "provision-sweep", ...base, rows });
} else {
  const results = [];
  for (const c of CASES) {
    const l = lab(c);
    const best = ideal(l);
    const edgelab = [];
    const serial = [];
    const timeouts = [];
    for (let r = 0; r < runsFor(c); r++) {
      const e = await run(l, 1 + r);
      edgelab.push(e.seconds);
      timeouts.push(e.storageLockTimeouts);
      // One at a time hits no storage-lock timeout (nothing runs beside a clone): RUNS runs are enough.
      if (r < RUNS) serial.push((await run(l, 1 + r, { oneAtATime: true })).seconds);
      process.stderr.write(`${c.name}, run ${r + 1}: edgelab ${e.seconds.toFixed(1)} s${r < RUNS ? `, one at a time ${serial.at(-1).toFixed(1)} s` : ""}, ideal ${best.seconds.toFixed(1)} s\n`);
    }
    results.push({
      case: c.name,
      idealSeconds: round(best.seconds),
      idealClonesAtOnce: Object.fromEntries(Object.entries(best.storages).map(([s, v]) => [s, v.clonesAtOnce])),
      edgelabSeconds: edgelab.map((s) => round(s)),
      oneAtATimeSeconds: serial.map((s) => round(s)),
      storageLockTimeouts: timeouts,
      ratioToIdeal: round(median(edgelab) / best.seconds, 3),
      speedupOverOneAtATime: round(median(serial) / median(edgelab)),
    });
  }
  const res = { benchmark: "provision", ...base, defaults: { clonesPerStorage: DEFAULT_PROVISION.clonesPerStorage, concurrency: DEFAULT_PROVISION.concurrency }, target: "<= 1.10 x ideal", results };
  writeResult("provision", res);
  console.log(JSON.stringify(results, null, 2));
}

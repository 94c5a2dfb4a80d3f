// Benchmark: provision 30 VMs against the simulator with realistic task durations (clone 8 s,
// config 0.5 s, resize 0.5 s, start 2 s, boot to agent 10 s) scaled down by --scale, polled
// every second (scaled the same way), like the mature providers do.
//
//  - edgelab (clones serialized per template, the rest concurrent) vs the critical-path ideal
//    (every clone back to back, plus the last VM's configure/resize/start/boot) — target <= 1.15x;
//  - vs one VM at a time (concurrency 1), the baseline.
//
//   npm run build && node bench/provision.js [--scale 0.05] [--runs 2]
//
// Writes bench/results/provision.json. Traffic: the simulator on 127.0.239.1 only.
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { validateInventoryText } from "../dist/inventory/validate.js";
import { buildLab } from "../dist/model/lab.js";
import { ProxmoxClient } from "../dist/providers/proxmox/client.js";
import { planVms } from "../dist/providers/proxmox/plan.js";
import { DEFAULT_PROVISION, Provisioner } from "../dist/providers/proxmox/provision.js";
import { readActual } from "../dist/providers/proxmox/read.js";
import { DEFAULT_DURATIONS, NO_FAULTS, ProxmoxSimulator } from "../dist/providers/proxmox/simulator.js";
import { stringify } from "yaml";
import { BENCH_DIR, median, option, writeResult } from "./lib.js";

const SCALE = option("--scale", 0.05);
const RUNS = option("--runs", 2);
const VMS = 30;
const TOKEN = { id: "edgelab@pve!bench", secret: "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901" };

// The seed lab plus workers up to 30 VMs.
const data = parse(readFileSync(join(BENCH_DIR, "..", "inventories", "lab.yml"), "utf8"));
const workers = data.all.children.k3s_cluster.children.node.hosts;
for (let i = 0; workers && Object.keys(workers).length + 3 < VMS; i++) workers[`edge-${i}`] = { ansible_host: `172.16.222.${100 + i}`, vmid: 3100 + i, data_vlan: 222, label: "west-worker" };
const result = validateInventoryText(stringify(data), "bench.yml");
if (result.facts === undefined) throw new Error(result.issues.map((i) => i.message).join("; "));
const lab = buildLab(result.facts);

const d = Object.fromEntries(Object.entries(DEFAULT_DURATIONS).map(([k, v]) => [k, v * SCALE]));
const tail = d.config + d.resize + d.start + d.bootToAgent;
const idealSeconds = (VMS * d.clone + tail) / 1000;
const oneAtATimeIdeal = (VMS * (d.clone + tail)) / 1000;

let port = 18900;
async function run(concurrency) {
  port += 1;
  const sim = new ProxmoxSimulator(
    { nodes: [{ name: "pve01", storages: [{ id: "ssd02-4T", shared: false, totalGiB: 8000 }] }], vms: [{ vmid: 9000, node: "pve01", template: true, config: { name: "tpl", scsi0: "ssd02-4T:base-9000-disk-0,size=4G", net0: "virtio=BC:24:11:90:00:01,bridge=vmbr0", agent: "1" } }] },
    { seed: 1, durations: d, faults: NO_FAULTS, resourcesLagMs: 0, tokens: [TOKEN], users: [] },
  );
  const server = await sim.listen(port, "127.0.239.1");
  const client = new ProxmoxClient({ url: `http://127.0.239.1:${port}`, tokenId: TOKEN.id, tokenSecret: TOKEN.secret, timeoutMs: 10_000 });
  const started = performance.now();
  const plan = planVms(lab, await readActual(client, lab));
  const out = await new Provisioner(client, lab, { ...DEFAULT_PROVISION, concurrency, pollMs: 1000 * SCALE, backoffMs: 1000 * SCALE }).apply(plan);
  const seconds = (performance.now() - started) / 1000;
  client.close();
  await new Promise((r) => server.close(r));
  if (out.failed.length > 0) throw new Error(`failed: ${JSON.stringify(out.failed)}`);
  return seconds;
}

const edgelab = [];
const serial = [];
for (let i = 0; i < RUNS; i++) {
  edgelab.push(await run(DEFAULT_PROVISION.concurrency));
  serial.push(await run(1));
  process.stderr.write(`run ${i + 1}: edgelab ${edgelab.at(-1).toFixed(2)} s, one at a time ${serial.at(-1).toFixed(2)} s (ideal ${idealSeconds.toFixed(2)} s)\n`);
}
const res = {
  benchmark: "provision",
  date: new Date().toISOString(),
  node: process.versions.node,
  cpus: cpus().length,
  vms: VMS,
  scale: SCALE,
  durationsMs: d,
  concurrency: DEFAULT_PROVISION.concurrency,
  idealSeconds: Number(idealSeconds.toFixed(2)),
  oneAtATimeIdealSeconds: Number(oneAtATimeIdeal.toFixed(2)),
  edgelabSeconds: edgelab.map((s) => Number(s.toFixed(2))),
  oneAtATimeSeconds: serial.map((s) => Number(s.toFixed(2))),
  ratioToIdeal: Number((median(edgelab) / idealSeconds).toFixed(3)),
  speedupOverOneAtATime: Number((median(serial) / median(edgelab)).toFixed(2)),
  target: "<= 1.15 x ideal",
};
writeResult("provision", res);
console.log(JSON.stringify(res, null, 2));

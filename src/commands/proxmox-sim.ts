/** `edgelab proxmox-sim`: a Proxmox VE API simulator to rehearse an inventory against. */
import { Command } from "commander";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parse } from "yaml";
import { EdgelabError, EXIT_USAGE, UsageError } from "../errors.js";
import { DEFAULT_CLONE_MODEL } from "../providers/proxmox/clone-model.js";
import { DEFAULT_DURATIONS, NO_FAULTS, ProxmoxSimulator, SimStateSchema, type SimStateSpec } from "../providers/proxmox/simulator.js";
import { clusterCertificates, selfSignedCertificate } from "../providers/proxmox/tls.js";
import { println, type App } from "./app.js";

interface SimCliOptions {
  port: string;
  host: string;
  state?: string;
  http?: boolean;
  selfSigned?: boolean;
  caFile?: string;
  seed: string;
  timeScale: string;
  storageBandwidth: string;
  storageLockRatePerClone: string;
  storageLockBaseRate: string;
  lockTimeoutRate: string;
  taskFailureRate: string;
  http5xxRate: string;
  proxy596Rate: string;
  authDelay: string;
  slowTaskRate: string;
  slowTaskFactor: string;
}

/** One node with a 3.5 GiB cloud-init template: a lone full clone of it takes ~18 s at 200 MiB/s. */
export const DEFAULT_SIM_STATE: SimStateSpec = {
  nodes: [{ name: "pve01", storages: [{ id: "local-lvm", shared: false, totalGiB: 1000 }, { id: "ssd02-4T", shared: false, totalGiB: 4000 }] }],
  vms: [{ vmid: 9000, node: "pve01", template: true, config: { name: "debian12-cloudinit", cores: "2", memory: "2048", scsi0: "local-lvm:base-9000-disk-0,size=3584M", net0: "virtio=BC:24:11:90:00:01,bridge=vmbr0", ide2: "local-lvm:vm-9000-cloudinit,media=cdrom", agent: "1", serial0: "socket" } }],
};

function rate(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new UsageError(`--${name} must be between 0 and 1, got '${value}'`);
  return n;
}

function positiveNumber(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number, got '${value}'`);
  return n;
}

function readState(file: string): SimStateSpec {
  let data: unknown;
  try {
    data = parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new UsageError(`--state ${file}: ${(err as Error).message}`);
  }
  const result = SimStateSchema.safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new EdgelabError(`--state ${file}: ${issue === undefined ? "invalid" : `${issue.path.join(".") || "(top)"}: ${issue.message}`}`, { hint: "See docs/proxmox.md (the simulator) for the format: nodes with storages, and VMs.", exitCode: EXIT_USAGE });
  }
  return result.data;
}

export function proxmoxSimCommand(app: App): Command {
  return new Command("proxmox-sim")
    .description("run a Proxmox VE API simulator (HTTPS, token auth, tasks, locks, clone model, guest agent, faults) to rehearse an inventory")
    .option("--port <port>", "port to listen on", "8006")
    .option("--host <address>", "address to listen on (loopback by default)", "127.0.0.1")
    .option("--state <file.yml>", "initial nodes, storages (with bandwidthMiBps) and VMs (default: node pve01 with a 3.5 GiB template 9000)")
    .option("--http", "plain HTTP instead of HTTPS")
    .option("--self-signed", "serve a self-signed certificate instead of a node certificate signed by a generated cluster CA")
    .option("--ca-file <path>", "where to write the cluster CA (default: a temporary file, removed at exit)")
    .option("--seed <n>", "seed of the random draws (a seed replays a run)", "1")
    .option("--time-scale <factor>", "real time per simulated time: 0.1 runs everything 10× faster (clones, boots, lock waits, ...)", "1")
    .option("--storage-bandwidth <MiB/s>", "bandwidth of a storage without its own, shared by the full clones writing to it", String(DEFAULT_CLONE_MODEL.bandwidthMiBps))
    .option("--storage-lock-rate-per-clone <r>", "storage-lock timeout probability added per other clone running on the same storage", String(DEFAULT_CLONE_MODEL.storageLockRatePerClone))
    .option("--storage-lock-base-rate <r>", "storage-lock timeout probability of a clone alone on its storage", String(DEFAULT_CLONE_MODEL.storageLockBaseRate))
    .option("--lock-timeout-rate <r>", "fault: share of clones that end in a source-lock timeout", "0")
    .option("--task-failure-rate <r>", "fault: share of tasks that fail", "0")
    .option("--http-5xx-rate <r>", "fault: share of requests answered 500", "0")
    .option("--proxy-596-rate <r>", "fault: share of requests answered 596", "0")
    .option("--auth-delay <ms>", "delay before a 401, like the real server", "3000")
    .option("--slow-task-rate <r>", "fault: share of tasks that run slow", "0")
    .option("--slow-task-factor <x>", "how many times longer a slow task takes", "10")
    .addHelpText(
      "after",
      `
Like a freshly installed node, it serves a certificate signed by its own cluster CA ("PVE Cluster
Manager CA") with SANs for the node's name, localhost and the listen address. It prints its URL,
the node certificate's SHA-256 fingerprint, the CA file it wrote and an API token; export them
and point the inventory at it. Clients can tell it is a simulator (GET /version says so):
provision and up then run as a rehearsal and contact nothing outside it. Faults can also be
changed while it runs: POST /api2/json/_sim/faults.

Examples:
  $ edgelab proxmox-sim --port 8006 --time-scale 0.1
  $ edgelab proxmox-sim --state lab-cluster.yml --lock-timeout-rate 0.2 --task-failure-rate 0.05 --seed 42`,
    )
    .action(async (options: SimCliOptions, cmd: Command) => {
      const ctx = app.context(cmd);
      const port = Number(options.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--port must be a port number, got '${options.port}'`);
      const timeScale = positiveNumber("time-scale", options.timeScale);
      const state = options.state === undefined ? DEFAULT_SIM_STATE : readState(resolve(ctx.cwd, options.state));
      const token = { id: "edgelab@pve!sim", secret: randomUUID() };
      const sim = new ProxmoxSimulator(state, {
        seed: Number(options.seed),
        durations: DEFAULT_DURATIONS,
        faults: { ...NO_FAULTS, lockTimeoutRate: rate("lock-timeout-rate", options.lockTimeoutRate), taskFailureRate: rate("task-failure-rate", options.taskFailureRate), http5xxRate: rate("http-5xx-rate", options.http5xxRate), proxy596Rate: rate("proxy-596-rate", options.proxy596Rate), authDelayMs: Number(options.authDelay), slowTaskRate: rate("slow-task-rate", options.slowTaskRate), slowTaskFactor: Math.max(1, Number(options.slowTaskFactor)) },
        model: { bandwidthMiBps: positiveNumber("storage-bandwidth", options.storageBandwidth), storageLockRatePerClone: rate("storage-lock-rate-per-clone", options.storageLockRatePerClone), storageLockBaseRate: rate("storage-lock-base-rate", options.storageLockBaseRate) },
        resourcesLagMs: 2000,
        timeScale,
        tokens: [token],
        users: [],
      });
      const node = state.nodes[0]?.name ?? "pve01";
      const tls = options.http === true ? undefined : options.selfSigned === true ? selfSignedCertificate("edgelab-proxmox-sim", [options.host, "localhost"]) : clusterCertificates(`${node}.sim.invalid`, [node, `${node}.sim.invalid`, "localhost", options.host, "127.0.0.1", "::1"]);
      // The cluster CA, for proxmox.ca_file / PROXMOX_CA_FILE (as /etc/pve/pve-root-ca.pem on a real cluster).
      let caFile: string | undefined;
      let tempDir: string | undefined;
      if (tls?.caPem !== undefined) {
        if (options.caFile !== undefined) caFile = resolve(ctx.cwd, options.caFile);
        else {
          tempDir = mkdtempSync(join(tmpdir(), "edgelab-proxmox-sim-"));
          caFile = join(tempDir, "pve-root-ca.pem");
        }
        writeFileSync(caFile, tls.caPem);
      }
      const server = await sim.listen(port, options.host, tls);
      const url = `${tls === undefined ? "http" : "https"}://${options.host.includes(":") ? `[${options.host}]` : options.host}:${port}`;
      const info = { url, fingerprint: tls?.fingerprint, caFile, tokenId: token.id, tokenSecret: token.secret, nodes: state.nodes.map((n) => n.name), vms: (state.vms ?? []).map((v) => v.vmid), timeScale };
      if (ctx.options.json) println(ctx.stdout, JSON.stringify(info));
      else {
        println(ctx.stdout, `Proxmox VE simulator listening on ${url} (nodes: ${info.nodes.join(", ")}; VMs: ${info.vms.join(", ") || "none"}; time scale ${timeScale})`);
        if (tls !== undefined) println(ctx.stdout, tls.caPem === undefined ? "# a self-signed certificate" : `# node certificate of ${node}, signed by the simulated cluster CA written to ${caFile ?? "?"}`);
        println(ctx.stdout, `export PROXMOX_URL=${url}`);
        if (tls !== undefined) println(ctx.stdout, `export PROXMOX_TLS_FINGERPRINT=${tls.fingerprint}`);
        println(ctx.stdout, `export PROXMOX_TOKEN_ID='${token.id}'`);
        println(ctx.stdout, `export PROXMOX_TOKEN_SECRET=${token.secret}`);
        if (caFile !== undefined) println(ctx.stdout, `# or, instead of the pin, verify chain and name: unset PROXMOX_TLS_FINGERPRINT; export PROXMOX_CA_FILE=${caFile}`);
      }
      await new Promise<void>((done) => {
        const stop = (): void => {
          server.close(() => done());
          server.closeAllConnections();
        };
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
      if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });
    });
}

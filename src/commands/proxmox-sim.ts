/** `edgelab proxmox-sim`: a Proxmox VE API simulator to rehearse an inventory against. */
import { Command } from "commander";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse } from "yaml";
import { UsageError } from "../errors.js";
import { DEFAULT_DURATIONS, NO_FAULTS, ProxmoxSimulator, type SimStateSpec } from "../providers/proxmox/simulator.js";
import { selfSignedCertificate } from "../providers/proxmox/tls.js";
import { println, type App } from "./app.js";

interface SimCliOptions {
  port: string;
  host: string;
  state?: string;
  http?: boolean;
  seed: string;
  timeScale: string;
  lockTimeoutRate: string;
  taskFailureRate: string;
  http5xxRate: string;
  proxy596Rate: string;
  authDelay: string;
  slowTaskRate: string;
  slowTaskFactor: string;
}

export const DEFAULT_SIM_STATE: SimStateSpec = {
  nodes: [{ name: "pve01", storages: [{ id: "local-lvm", shared: false, totalGiB: 1000 }, { id: "ssd02-4T", shared: false, totalGiB: 4000 }] }],
  vms: [{ vmid: 9000, node: "pve01", template: true, config: { name: "debian12-cloudinit", cores: "2", memory: "2048", scsi0: "local-lvm:base-9000-disk-0,size=4G", net0: "virtio=BC:24:11:90:00:01,bridge=vmbr0", ide2: "local-lvm:vm-9000-cloudinit,media=cdrom", agent: "1", serial0: "socket" } }],
};

function rate(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new UsageError(`--${name} must be between 0 and 1, got '${value}'`);
  return n;
}

export function proxmoxSimCommand(app: App): Command {
  return new Command("proxmox-sim")
    .description("run a Proxmox VE API simulator (HTTPS, token auth, tasks, locks, faults) to rehearse an inventory")
    .option("--port <port>", "port to listen on", "8006")
    .option("--host <address>", "address to listen on (loopback by default)", "127.0.0.1")
    .option("--state <file.yml>", "initial nodes, storages and VMs (default: node pve01 with template 9000)")
    .option("--http", "plain HTTP instead of HTTPS with a generated certificate")
    .option("--seed <n>", "seed of the fault injection (a seed replays a run)", "1")
    .option("--time-scale <factor>", "task durations × factor (clone 8 s, start 2 s, boot to agent 10 s, ...)", "1")
    .option("--lock-timeout-rate <r>", "share of clones that end in a lock timeout", "0")
    .option("--task-failure-rate <r>", "share of tasks that fail", "0")
    .option("--http-5xx-rate <r>", "share of requests answered 500", "0")
    .option("--proxy-596-rate <r>", "share of requests answered 596", "0")
    .option("--auth-delay <ms>", "delay before a 401, like the real server", "3000")
    .option("--slow-task-rate <r>", "share of tasks that run slow", "0")
    .option("--slow-task-factor <x>", "how many times longer a slow task takes", "10")
    .addHelpText(
      "after",
      `
It prints its URL, the SHA-256 fingerprint of its certificate and an API token; export them and
point the inventory at it. Faults can also be changed while it runs: POST /api2/json/_sim/faults.

Examples:
  $ edgelab proxmox-sim --port 8006 --time-scale 0.1
  $ edgelab proxmox-sim --state lab-cluster.yml --lock-timeout-rate 0.2 --task-failure-rate 0.05 --seed 42`,
    )
    .action(async (options: SimCliOptions, cmd: Command) => {
      const ctx = app.context(cmd);
      const port = Number(options.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--port must be a port number, got '${options.port}'`);
      const scale = Number(options.timeScale);
      if (!Number.isFinite(scale) || scale < 0) throw new UsageError(`--time-scale must be a non-negative number, got '${options.timeScale}'`);
      const state = options.state === undefined ? DEFAULT_SIM_STATE : (parse(readFileSync(resolve(ctx.cwd, options.state), "utf8")) as SimStateSpec);
      const durations = Object.fromEntries(Object.entries(DEFAULT_DURATIONS).map(([k, v]) => [k, Math.round(v * scale)])) as unknown as typeof DEFAULT_DURATIONS;
      const token = { id: "edgelab@pve!sim", secret: randomUUID() };
      const sim = new ProxmoxSimulator(state, {
        seed: Number(options.seed),
        durations,
        faults: { ...NO_FAULTS, lockTimeoutRate: rate("lock-timeout-rate", options.lockTimeoutRate), taskFailureRate: rate("task-failure-rate", options.taskFailureRate), http5xxRate: rate("http-5xx-rate", options.http5xxRate), proxy596Rate: rate("proxy-596-rate", options.proxy596Rate), authDelayMs: Number(options.authDelay), slowTaskRate: rate("slow-task-rate", options.slowTaskRate), slowTaskFactor: Math.max(1, Number(options.slowTaskFactor)) },
        resourcesLagMs: Math.round(2000 * scale),
        tokens: [token],
        users: [],
      });
      const tls = options.http === true ? undefined : selfSignedCertificate("edgelab-proxmox-sim", [options.host, "localhost"]);
      const server = await sim.listen(port, options.host, tls);
      const url = `${tls === undefined ? "http" : "https"}://${options.host}:${port}`;
      const info = { url, fingerprint: tls?.fingerprint, tokenId: token.id, tokenSecret: token.secret, nodes: state.nodes.map((n) => n.name), vms: state.vms.map((v) => v.vmid) };
      if (ctx.options.json) println(ctx.stdout, JSON.stringify(info));
      else {
        println(ctx.stdout, `Proxmox VE simulator listening on ${url} (nodes: ${info.nodes.join(", ")}; VMs: ${info.vms.join(", ") || "none"})`);
        println(ctx.stdout, `export PROXMOX_URL=${url}`);
        if (tls !== undefined) println(ctx.stdout, `export PROXMOX_TLS_FINGERPRINT=${tls.fingerprint}`);
        println(ctx.stdout, `export PROXMOX_TOKEN_ID='${token.id}'`);
        println(ctx.stdout, `export PROXMOX_TOKEN_SECRET=${token.secret}`);
      }
      await new Promise<void>((done) => {
        const stop = (): void => {
          server.close(() => done());
          server.closeAllConnections();
        };
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    });
}

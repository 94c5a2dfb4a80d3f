/**
 * `edgelab status`: for the local lab, what it runs (pids, ports, health) and each stream's state;
 * for a cluster lab, the API endpoint and which server holds the API VIP.
 */
import { Command } from "commander";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Context } from "../context.js";
import { localStatus } from "../providers/local/lab.js";
import { loadLab, resolveInventory, type InventoryLocation, type LoadedLab } from "../pipeline/inventory-file.js";
import { apiVipReport, sshConnector, type VipReport } from "../pipeline/api-vip.js";
import { HostAccess } from "../pipeline/host-access.js";
import { Journal } from "../pipeline/journal.js";
import type { Lab } from "../model/lab.js";
import { netlabLabStatus, netlabPresent, type NetlabLabStatus } from "../netlab/index.js";
import { mappingTable } from "../netlab/mermaid.js";
import { table, type Style } from "../output.js";
import { EXIT_FAILED, UsageError } from "../errors.js";
import { println, type App } from "./app.js";

/** The inventory's network lab, when one is there (a BGP inventory whose lab ran with --network netns or netlab up). */
async function networkStatus(lab: Lab, location: InventoryLocation): Promise<NetlabLabStatus | undefined> {
  if (lab.cilium.bgp === undefined || lab.cilium.lbPool.length === 0) return undefined;
  const target = { lab, inventoryPath: location.path };
  return (await netlabPresent(target)) ? netlabLabStatus(target) : undefined;
}

/** The private key for SSH to a cluster's servers: --ssh-key, $EDGELAB_SSH_KEY, else the usual files in ~/.ssh. */
function sshKeyPath(ctx: Context, option: string | undefined): string {
  if (option !== undefined) return resolve(ctx.cwd, option);
  const fromEnv = ctx.env["EDGELAB_SSH_KEY"];
  if (fromEnv !== undefined && fromEnv !== "") return resolve(ctx.cwd, fromEnv);
  const home = ctx.env["HOME"] ?? "";
  const found = ["id_ed25519", "id_ecdsa", "id_rsa"].map((f) => join(home, ".ssh", f)).find((f) => home !== "" && existsSync(f));
  if (found === undefined) throw new UsageError("no SSH private key to ask the servers which one holds the API VIP", "Pass --ssh-key <file> or set EDGELAB_SSH_KEY (the key Ansible logs in with).");
  return found;
}

const VERDICT_TEXT: Record<VipReport["verdict"], string> = {
  held: "held by one server",
  unheld: "held by NO server: the API endpoint does not answer",
  split: "held by SEVERAL servers at once (VRRP split: the servers do not hear each other's advertisements)",
  unknown: "not known: no server that answered holds it, and some did not answer",
};

async function clusterStatus(ctx: Context, s: Style, location: InventoryLocation, lab: Lab, keyOption: string | undefined): Promise<boolean> {
  const stateDir = join(dirname(location.path), ".edgelab");
  const endpoint = `https://${lab.k3s.apiAddress}:6443`;
  const vip = lab.k3s.vip;
  const first = lab.servers[0]?.name ?? "?";
  let report: VipReport | undefined;
  if (vip !== undefined && vip.holder === "keepalived") {
    const rehearsal = Journal.open(stateDir, lab.name).outputs().get("provision")?.["rehearsal"] ?? "";
    const access = rehearsal !== "" ? HostAccess.rehearsal(rehearsal) : HostAccess.direct();
    const connect = sshConnector({
      knownHostsFile: join(stateDir, "known_hosts"),
      privateKeyPath: access.isRehearsal ? "" : sshKeyPath(ctx, keyOption),
      inventoryKeys: new Map(lab.hosts.map((h) => [h.name, h.sshHostKeys])),
      logins: new Map(lab.hosts.map((h) => [h.name, { user: h.sshUser ?? ctx.env["USER"] ?? "root", port: h.sshPort }])),
    });
    report = await apiVipReport(vip, lab.servers, access, connect);
  }
  const healthy = report === undefined || report.verdict === "held";
  if (ctx.options.json) {
    println(ctx.stdout, JSON.stringify({ inventory: location.display, lab: lab.name, provider: lab.provider, apiEndpoint: endpoint, apiVip: vip === undefined ? null : { address: vip.address, holder: vip.holder, report: report ?? null }, healthy }));
    return healthy;
  }
  println(ctx.stdout, `cluster lab ${lab.name} (${location.display})`);
  if (vip === undefined) {
    println(ctx.stdout, `API endpoint: ${endpoint}, the first server ${first} (no k3s.api_vip: while ${first} is down, the kubeconfig and joining nodes cannot reach the API)`);
  } else if (report === undefined) {
    println(ctx.stdout, `API endpoint: ${endpoint}, the VIP, held outside edgelab (api_vip_holder: external): not checked`);
  } else {
    println(ctx.stdout, `API endpoint: ${endpoint}, the VIP, held by the servers with keepalived`);
    println(
      ctx.stdout,
      table([
        ["SERVER", "ADDRESS", "API VIP"].map((h) => s.bold(h)),
        ...report.servers.map((x) => [x.host, x.address, x.state === "holds" ? s.green(`holds it (${x.interface})`) : x.state === "free" ? "-" : s.yellow(`unknown: ${x.reason}`)]),
      ]),
    );
    const verdict = report.verdict === "held" ? s.green(`${VERDICT_TEXT.held}: ${report.holders.join("")}`) : s.red(VERDICT_TEXT[report.verdict]);
    println(ctx.stdout, `VIP ${report.vip}: ${verdict}`);
    println(ctx.stdout, `checked: ${report.checked}; whether the API answers through the VIP is not checked here`);
  }
  return healthy;
}

export function statusCommand(app: App): Command {
  return new Command("status")
    .description("show the local lab's processes and streams, or a cluster lab's API endpoint and which server holds its VIP")
    .option("--ssh-key <file>", "cluster lab: private key for SSH to the servers (default: $EDGELAB_SSH_KEY, else ~/.ssh/id_ed25519, id_ecdsa, id_rsa)")
    .addHelpText(
      "after",
      `
Stream states (from the stream-key router, shared with its /healthz and with edgelab smoke):
  live                    the playlist advances at the origin
  waiting for publisher   not published since the lab started, or your own encoder is not
                          connected (not a failure)
  stalled                 was live (or its publisher is connected) and the playlist stopped
                          advancing for 3 target durations (a failure)

A lab started with --network netns shows its network lab instead: the namespaces, what each
stands for, the processes in them (pid, alive) and the address mapping from the inventory's
ranges into 198.18.0.0/15.

Exit status: 0 when every process runs and answers and no stream is stalled, 1 otherwise.

A cluster lab (provider proxmox): the API endpoint, and with k3s.api_vip held by keepalived, each
server's answer to \`ip -o -4 address show\` over SSH (host keys from .edgelab/known_hosts or the
inventory, never trusted on first use), so the table says which server holds the VIP. Exit
status 1 when no server or several hold it, or when it cannot be known.

Examples:
  $ edgelab status
  $ edgelab status -i inventories/lab.yml --ssh-key ~/.ssh/lab_ed25519
  $ edgelab status --json | jq '.streams[] | select(.state != "live")'`,
    )
    .action(async (options: { sshKey?: string }, cmd: Command) => {
      const ctx = app.context(cmd);
      const s = app.style(ctx);
      const location = resolveInventory(ctx);
      // The inventory is loaded (validated) once; when it is not valid, say so before the error.
      let loaded: LoadedLab | undefined;
      let loadError: unknown;
      try {
        loaded = loadLab(ctx, location);
      } catch (error) {
        loadError = error;
        if (!ctx.options.json) println(ctx.stderr, `  not checking for a network lab: ${(error as Error).message.split("\n")[0] ?? ""}`);
      }
      const network = loaded === undefined ? undefined : await networkStatus(loaded.lab, location);
      if (network !== undefined) {
        const healthy = network.running && network.processes.every((p) => p.alive);
        if (ctx.options.json) {
          println(ctx.stdout, JSON.stringify({ inventory: location.display, network: "netns", running: network.running, healthy, prefix: network.plan.prefix, serviceIp: network.plan.serviceIp, map: network.plan.map.blocks, namespaces: network.plan.namespaces.map((n) => ({ name: n.name, role: n.role, stands: n.stands, up: network.namespaces.includes(n.name) })), processes: network.processes }));
        } else {
          println(ctx.stdout, `network lab ${network.plan.prefix}: ${network.namespaces.length} namespaces since ${network.startedAt ?? "?"}; service address ${network.plan.serviceIp}`);
          println(ctx.stdout, table([["NAMESPACE", "ROLE", "STANDS FOR", "UP"].map((h) => s.bold(h)), ...network.plan.namespaces.map((n) => [n.name, n.role, n.stands, network.namespaces.includes(n.name) ? s.green("yes") : s.red("no")])]));
          println(ctx.stdout);
          println(ctx.stdout, table([["PROCESS", "NAMESPACE", "PID", "STATUS"].map((h) => s.bold(h)), ...network.processes.map((p) => [p.name, p.ns, String(p.pid), p.alive ? s.green("running") : s.red("dead")])]));
          println(ctx.stdout, `\nAddress mapping (the inventory's ranges are never used):\n${mappingTable(network.plan)}`);
          println(ctx.stdout, s.dim(`Routers: vtysh --vty_socket .edgelab/netlab/r<n> -c 'show bgp ipv4 unicast' (root); see docs/network-lab.md.`));
        }
        if (!healthy) app.exitCode = EXIT_FAILED;
        return;
      }
      if (loaded === undefined) throw loadError;
      const { lab } = loaded;
      if (lab.provider !== "local") {
        if (!(await clusterStatus(ctx, s, location, lab, options.sshKey))) app.exitCode = EXIT_FAILED;
        return;
      }
      const status = await localStatus(location.path);
      const streamsOk = status.streams !== undefined && status.streams.every((x) => x.state !== "stalled");
      const healthy = status.running && status.processes.length > 0 && status.processes.every((p) => p.healthy) && streamsOk;
      if (ctx.options.json) {
        println(ctx.stdout, JSON.stringify({ inventory: location.display, ...status, healthy }));
      } else if (!status.running && status.processes.every((p) => !p.alive)) {
        println(ctx.stdout, `local lab of ${location.display} is not running`);
      } else {
        println(ctx.stdout, `supervisor: ${status.running ? `pid ${status.supervisorPid ?? "?"}` : s.red("not running")}`);
        println(
          ctx.stdout,
          table([
            ["NAME", "PID", "STATUS", "LISTEN", "HEALTH", "RESTARTS"].map((h) => s.bold(h)),
            ...status.processes.map((p) => [p.name, p.alive ? String(p.pid) : "-", p.status, p.listens.map((e) => `${e.host}:${e.port}`).join(" ") || "-", p.healthy ? s.green("ok") : s.red("down"), String(p.restarts)]),
          ]),
        );
        println(ctx.stdout);
        if (status.streams === undefined) {
          println(ctx.stdout, s.red("streams: the router does not answer, so their state is unknown"));
        } else {
          const paint = (state: string): string => (state === "live" ? s.green(state) : state === "stalled" ? s.red(state) : s.yellow(state));
          println(
            ctx.stdout,
            table([
              ["STREAM", "STATE", "PUBLISHER", "MEDIA SERVER", "LAST NEW SEGMENT"].map((h) => s.bold(h)),
              ...status.streams.map((x) => [
                x.name,
                paint(x.state),
                x.publisher === "external" ? "your encoder" : x.publisher === "pull" ? "pulled" : "test source",
                x.server ?? "-",
                x.sinceAdvance === undefined ? "-" : `${x.sinceAdvance.toFixed(1)} s ago`,
              ]),
            ]),
          );
        }
      }
      if (!healthy) app.exitCode = EXIT_FAILED;
    });
}

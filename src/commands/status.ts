/** `edgelab status`: what the local lab runs, with pids, ports and health, and each stream's state. */
import { Command } from "commander";
import { localStatus } from "../providers/local/lab.js";
import { loadLab, resolveInventory } from "../pipeline/inventory-file.js";
import { netlabLabStatus, netlabPresent, type NetlabLabStatus } from "../netlab/index.js";
import { mappingTable } from "../netlab/mermaid.js";
import { table } from "../output.js";
import { EXIT_FAILED } from "../errors.js";
import { println, type App } from "./app.js";
import type { Context } from "../context.js";
import type { InventoryLocation } from "../pipeline/inventory-file.js";

/** The inventory's network lab, when one is there (a BGP inventory whose lab ran with --network netns or netlab up). */
async function networkStatus(ctx: Context, location: InventoryLocation): Promise<NetlabLabStatus | undefined> {
  let lab;
  try {
    lab = loadLab(ctx, location).lab;
  } catch (error) {
    // The loopback lab's status needs no valid inventory: say why the network lab is not looked at.
    if (!ctx.options.json) println(ctx.stderr, `  not checking for a network lab: ${(error as Error).message.split("\n")[0] ?? ""}`);
    return undefined;
  }
  if (lab.cilium.bgp === undefined || lab.cilium.lbPool.length === 0) return undefined;
  const target = { lab, inventoryPath: location.path };
  return (await netlabPresent(target)) ? netlabLabStatus(target) : undefined;
}

export function statusCommand(app: App): Command {
  return new Command("status")
    .description("show the local lab's processes (pid, listening ports, health, restarts) and each stream's state")
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

Examples:
  $ edgelab status
  $ edgelab status --json | jq '.streams[] | select(.state != "live")'`,
    )
    .action(async (_options: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      const s = app.style(ctx);
      const location = resolveInventory(ctx);
      const network = await networkStatus(ctx, location);
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

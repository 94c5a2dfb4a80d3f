/** `edgelab netlab up|down|status|check`: the seed's routing half in network namespaces (root). */
import { Command } from "commander";
import { loadLab } from "../pipeline/inventory-file.js";
import { netlabCheck, netlabDown, netlabStatus, netlabUp, planFor } from "../netlab/index.js";
import { mappingTable, topologyMermaid } from "../netlab/mermaid.js";
import { table } from "../output.js";
import type { CheckResult } from "../smoke/run.js";
import { EXIT_FAILED } from "../errors.js";
import { println, type App } from "./app.js";

const HELP = `
Builds, from the inventory, one network namespace per BGP peer router (FRR: zebra + bgpd running
the rendered routers/<router>.frr.conf), per worker (gobgpd configured from the rendered Cilium
BGP objects, announcing the LB pool's first address as a /32), for the servers' site and for a
client behind each region router. Addresses are mapped into 198.18.0.0/15 — the inventory's own
ranges are never used. Needs root. Files: .edgelab/netlab/ beside the inventory.
See docs/network-lab.md.

Examples:
  $ sudo edgelab netlab up -i inventories/lab.yml
  $ sudo edgelab netlab check -i inventories/lab.yml
  $ sudo edgelab netlab status -i inventories/lab.yml
  $ sudo edgelab netlab down -i inventories/lab.yml
  $ edgelab netlab plan -i inventories/lab.yml        # the topology and mapping; no root needed`;

function printChecks(app: App, cmd: Command, checks: readonly CheckResult[]): void {
  const ctx = app.context(cmd);
  const s = app.style(ctx);
  if (ctx.options.json) println(ctx.stdout, JSON.stringify({ checks }));
  else println(ctx.stdout, table([["CHECK", "RESULT", "VALUE"].map((h) => s.bold(h)), ...checks.map((c) => [c.check, c.ok ? s.green("ok") : s.red("FAIL"), c.value])]));
  if (checks.some((c) => !c.ok)) app.exitCode = EXIT_FAILED;
}

export function netlabCommand(app: App): Command {
  const cmd = new Command("netlab").description("the network lab: routers and BGP speakers in network namespaces (root)").addHelpText("after", HELP);
  const target = (sub: Command): { lab: ReturnType<typeof loadLab>["lab"]; inventoryPath: string } => {
    const { lab, location } = loadLab(app.context(sub));
    return { lab, inventoryPath: location.path };
  };
  cmd
    .command("plan")
    .description("print the topology (Mermaid) and the address mapping; changes nothing")
    .action((_o: unknown, sub: Command) => {
      const ctx = app.context(sub);
      const { plan } = planFor(target(sub));
      if (ctx.options.json) println(ctx.stdout, JSON.stringify(plan));
      else println(ctx.stdout, `Namespaces: ${plan.prefix}-*\nService address: ${plan.serviceIp}\n\n${mappingTable(plan)}\n\`\`\`mermaid\n${topologyMermaid(plan)}\`\`\``);
    });
  cmd
    .command("up")
    .description("build the network lab and wait until BGP has converged")
    .action(async (_o: unknown, sub: Command) => {
      const ctx = app.context(sub);
      const result = await netlabUp(target(sub), (line) => {
        if (!ctx.options.json) println(ctx.stderr, `  ${line}`);
      });
      if (!ctx.options.json) println(ctx.stdout, `network lab ${result.plan.prefix} up in ${result.seconds.toFixed(1)} s (BGP converged ${result.convergenceSeconds.toFixed(1)} s after the last speaker started)\n`);
      printChecks(app, sub, result.checks);
    });
  cmd
    .command("check")
    .description("BGP checks: sessions Established, the service /32 on each region router")
    .action(async (_o: unknown, sub: Command) => {
      printChecks(app, sub, await netlabCheck(target(sub)));
    });
  cmd
    .command("status")
    .description("the lab's namespaces and the address mapping")
    .action(async (_o: unknown, sub: Command) => {
      const ctx = app.context(sub);
      const status = await netlabStatus(target(sub));
      if (ctx.options.json) {
        println(ctx.stdout, JSON.stringify({ prefix: status.plan.prefix, running: status.running, map: status.plan.map.blocks, serviceIp: status.plan.serviceIp }));
        return;
      }
      println(ctx.stdout, status.running.length === 0 ? `network lab ${status.plan.prefix} is not running` : `network lab ${status.plan.prefix}: ${status.running.length} namespaces since ${status.state?.startedAt ?? "?"}`);
      println(ctx.stdout, table([["NAMESPACE", "ROLE", "STANDS FOR", "UP"], ...status.plan.namespaces.map((n) => [n.name, n.role, n.stands, status.running.includes(n.name) ? "yes" : "no"])]));
      println(ctx.stdout, `\nService address: ${status.plan.serviceIp}\n\n${mappingTable(status.plan)}`);
    });
  cmd
    .command("down")
    .description("stop every process in the lab's namespaces and delete them (nothing else)")
    .action(async (_o: unknown, sub: Command) => {
      const ctx = app.context(sub);
      const removed = await netlabDown(target(sub));
      if (ctx.options.json) println(ctx.stdout, JSON.stringify({ removed }));
      else println(ctx.stdout, removed.length === 0 ? "network lab was not running" : `network lab removed (${removed.length} namespaces)`);
    });
  return cmd;
}

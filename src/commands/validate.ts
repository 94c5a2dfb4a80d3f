/** `edgelab validate`: every problem in the inventory, each with file:line:col. */
import { Command } from "commander";
import { EXIT_USAGE } from "../errors.js";
import { buildLab } from "../model/lab.js";
import { plural } from "../output.js";
import { resolveInventory, validateInventory } from "../pipeline/inventory-file.js";
import { println, type App } from "./app.js";
import { issueCounts, issueJson, issueLine, issuesSummary } from "./issues-report.js";

export function validateCommand(app: App): Command {
  return new Command("validate")
    .description("check the inventory: YAML syntax, schema and cross-field rules; lists every problem")
    .option("--strict", "treat warnings as errors")
    .addHelpText(
      "after",
      `
Each problem is printed as  file:line:col  path  message  (hint).
Exit status: 0 valid (warnings allowed), 2 errors found (or warnings with --strict).

Examples:
  $ edgelab validate                         # ./inventory.yml, else inventories/local.yml
  $ edgelab validate -i inventories/lab.yml
  $ edgelab validate -i lab.yml --json | jq '.issues[] | select(.severity == "error")'`,
    )
    .action((options: { strict?: boolean }, cmd: Command) => {
      const ctx = app.context(cmd);
      const s = app.style(ctx);
      const location = resolveInventory(ctx);
      const result = validateInventory(ctx, location);
      const { errors, warnings } = issueCounts(result.issues);
      const failed = errors > 0 || (options.strict === true && warnings > 0);
      const lab = result.facts === undefined ? undefined : buildLab(result.facts);
      if (ctx.options.json) {
        println(
          ctx.stdout,
          JSON.stringify({
            file: location.display,
            valid: !failed,
            errors,
            warnings,
            issues: result.issues.map(issueJson),
            ...(lab === undefined ? {} : { summary: { provider: lab.provider, hosts: lab.hosts.length, servers: lab.servers.length, agents: lab.agents.length, subnets: lab.subnets.length, streams: lab.streams.length } }),
          }),
        );
      } else {
        for (const issue of result.issues) println(failed || issue.severity === "warning" ? ctx.stderr : ctx.stdout, issueLine(issue, s));
        if (failed) {
          println(ctx.stderr, `${s.red("✖")} ${issuesSummary(location.display, result.issues, s)}`);
        } else if (lab !== undefined) {
          const warn = warnings > 0 ? ` (${plural(warnings, "warning")})` : "";
          println(
            ctx.stdout,
            `${s.green("✔")} ${location.display} is valid${warn}: provider ${lab.provider}, ${plural(lab.hosts.length, "host")} (${plural(lab.servers.length, "server")}, ${plural(lab.agents.length, "agent")}), ${plural(lab.subnets.length, "subnet")}, ${plural(lab.streams.length, "stream")}`,
          );
        }
      }
      if (failed) app.exitCode = EXIT_USAGE;
    });
}

/**
 * The edgelab command line. The only place that prints errors and decides the exit code:
 * 0 success, 1 operation failed, 2 usage or validation error.
 */
import { Command, CommanderError, Option } from "commander";
import { createApp, println, type App, type Io } from "./commands/app.js";
import { issueJson, issueLine, issuesSummary } from "./commands/issues-report.js";
import { renderCommand } from "./commands/render.js";
import { schemaCommand } from "./commands/schema.js";
import { validateCommand } from "./commands/validate.js";
import { initCommand } from "./commands/init.js";
import { upCommand } from "./commands/up.js";
import { statusCommand } from "./commands/status.js";
import { downCommand } from "./commands/down.js";
import { smokeCommand } from "./commands/smoke.js";
import { keysCommand } from "./commands/keys.js";
import { proxmoxSimCommand } from "./commands/proxmox-sim.js";
import { planCommand } from "./commands/plan.js";
import { provisionCommand } from "./commands/provision.js";
import { destroyCommand, rebuildCommand } from "./commands/destroy.js";
import { netlabCommand } from "./commands/netlab.js";
import { dnsCommand } from "./commands/dns.js";
import { deployCommand } from "./commands/deploy.js";
import { imagesCommand } from "./commands/images.js";
import { packageVersion, versionCommand } from "./commands/version.js";
import { EdgelabError, EXIT_FAILED, EXIT_USAGE, InventoryError } from "./errors.js";
import { style } from "./output.js";

const EPILOG = `
Inventory: -i <file>, else $EDGELAB_INVENTORY, else ./inventory.yml, else inventories/local.yml.

Exit status:
  0  success
  1  the operation failed (an external system or a check); the message names host, step and cause
  2  usage error or invalid inventory; nothing was changed

Examples:
  $ edgelab validate -i inventories/lab.yml
  $ edgelab render -i inventories/lab.yml -o out/
  $ edgelab schema > inventory.schema.json
  $ edgelab <command> --help`;

export function buildProgram(app: App): Command {
  const program = new Command("edgelab")
    .description("Build a live-video edge-caching lab from one inventory file: Proxmox VMs, HA K3s, Cilium BGP, NGINX origin and edges; or the same lab locally on loopback.")
    .version(packageVersion(), "-V, --version", "print the version")
    .option("-i, --inventory <file>", "inventory file (see below for the default)")
    .option("--json", "machine-readable output on stdout")
    .option("-v, --verbose", "more detail; stack traces on errors")
    .addOption(new Option("--no-color", "no colours (also: NO_COLOR=1)"))
    .showSuggestionAfterError(true)
    .addHelpText("after", EPILOG);

  for (const make of [initCommand, validateCommand, schemaCommand, renderCommand, planCommand, provisionCommand, upCommand, deployCommand, destroyCommand, rebuildCommand, statusCommand, smokeCommand, downCommand, keysCommand, imagesCommand, dnsCommand, netlabCommand, proxmoxSimCommand, versionCommand]) {
    program.addCommand(make(app));
  }
  const configure = (cmd: Command): void => {
    cmd.exitOverride();
    cmd.configureOutput({
      writeOut: (text) => app.io.stdout.write(text),
      writeErr: (text) => app.io.stderr.write(text),
      // Commander's own errors are printed by run() below, one line plus a hint.
      outputError: () => undefined,
    });
    cmd.showSuggestionAfterError(true);
    for (const sub of cmd.commands) configure(sub);
  };
  configure(program);
  return program;
}

function wantsVerbose(argv: readonly string[]): boolean {
  return argv.includes("-v") || argv.includes("--verbose");
}

function wantsJson(argv: readonly string[]): boolean {
  return argv.includes("--json");
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  const app = createApp(io);
  const program = buildProgram(app);
  const colour = !argv.includes("--no-color") && !(io.env["NO_COLOR"] ?? "") && io.stderr.isTTY;
  const s = style(colour);
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return EXIT_USAGE;
    }
    await program.parseAsync([...argv], { from: "user" });
    return app.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help") return 0;
      const [first = "", ...rest] = err.message.replace(/^error: /, "").split("\n");
      const suggestion = rest.join(" ").match(/Did you mean (.+?)\??\)?$/)?.[1];
      println(io.stderr, `edgelab: ${s.red("error:")} ${first}`);
      const help = err.code === "commander.unknownCommand" ? "edgelab --help" : "edgelab <command> --help";
      const hint = suggestion !== undefined ? `did you mean ${suggestion}? See '${help}'` : `see '${help}' for usage`;
      println(io.stderr, s.dim(`  hint: ${hint}`));
      return EXIT_USAGE;
    }
    if (err instanceof InventoryError) {
      if (wantsJson(argv)) {
        println(io.stdout, JSON.stringify({ error: err.message, issues: err.issues.map(issueJson) }));
      } else {
        for (const issue of err.issues) println(io.stderr, issueLine(issue, s));
        println(io.stderr, `edgelab: ${s.red("✖")} ${issuesSummary(err.issues[0]?.file ?? "inventory", err.issues, s)}`);
      }
      return err.exitCode;
    }
    if (err instanceof EdgelabError) {
      println(io.stderr, `edgelab: ${s.red("error:")} ${err.message}`);
      if (err.hint !== undefined) println(io.stderr, s.dim(`  hint: ${err.hint}`));
      if (wantsVerbose(argv) && err.stack !== undefined) println(io.stderr, s.dim(err.stack));
      return err.exitCode;
    }
    const error = err instanceof Error ? err : new Error(String(err));
    println(io.stderr, `edgelab: ${s.red("internal error:")} ${error.message}`);
    if (wantsVerbose(argv)) println(io.stderr, s.dim(error.stack ?? ""));
    else println(io.stderr, s.dim("  hint: run again with -v for the stack trace, and report it"));
    return EXIT_FAILED;
  }
}

/** At run time isTTY is undefined (not false) on pipes, whatever the type says. */
function isTty(stream: { isTTY?: boolean | undefined }): boolean {
  return stream.isTTY === true;
}

/** Entry point used by bin/edgelab.cjs. */
export async function main(): Promise<void> {
  const code = await run(process.argv.slice(2), {
    stdout: { write: (t) => void process.stdout.write(t), isTTY: isTty(process.stdout) },
    stderr: { write: (t) => void process.stderr.write(t), isTTY: isTty(process.stderr) },
    env: process.env,
    cwd: process.cwd(),
  });
  process.exitCode = code;
}

/** `edgelab init`: write a new inventory from answers (a file, or asked interactively) checked against the cluster. */
import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { Command } from "commander";
import { parse as parseYaml } from "yaml";
import { EXIT_USAGE, UsageError } from "../errors.js";
import { Answers, checkLocalAnswers, LocalAnswers, type AnswerIssue } from "../wizard/answers.js";
import { askAnswers } from "../wizard/prompts.js";
import { checkAll, connect, discoverAll, planFor, secretFromEnv, withKeyFiles, writeAtomically } from "../wizard/session.js";
import { println, type App } from "./app.js";

function issueText(i: AnswerIssue): string {
  return `${i.severity}: ${i.question}: ${i.message}${i.hint !== undefined ? `\n  hint: ${i.hint}` : ""}`;
}

function readAnswers(path: string): Answers | LocalAnswers {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, "utf8"));
  } catch (cause) {
    throw new UsageError(`cannot read the answers file ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, "Give a YAML file in the format of docs/wizard.md.");
  }
  const local = typeof raw === "object" && raw !== null && (raw as Record<string, unknown>)["provider"] === "local";
  const parsed = local ? LocalAnswers.safeParse(raw) : Answers.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new UsageError(`${path}: ${first?.path.join(".") ?? ""}: ${first?.message ?? "invalid"}`, "See docs/wizard.md for the answers file format.");
  }
  return parsed.data;
}

export function initCommand(app: App): Command {
  return new Command("init")
    .description("write a new inventory: asks (or reads --answers), discovers the Proxmox cluster, validates, shows the plan")
    .option("--answers <file>", "answers file (YAML, see docs/wizard.md): no questions asked")
    .option("-o, --output <file>", "inventory file to write", "inventory.yml")
    .option("--force", "overwrite the output file if it exists")
    .addHelpText(
      "after",
      `
Asks where the lab runs. For a local lab (processes on loopback on this machine) it asks the
lab name, the streams, the number of media servers and of edges, and writes an inventory like
inventories/local.yml. For Proxmox it asks for the API URL, shows the API certificate (subject,
issuer, SHA-256) and offers to pin it, then offers the cluster's nodes, templates, storages and
bridges as choices, asks for the SSH public keys cloud-init installs for the VMs' user (offering
the keys in ~/.ssh/*.pub, a pasted key or a file; a private key is refused), proposes addresses, VM ids and host names, asks VLAN names and the VMs'
nameservers, checks every answer with the rules of \`edgelab validate\` and against the
cluster (taken vmids and names), shows the inventory and the plan, and writes the file only
when confirmed. The token secret is read hidden (or from PROXMOX_TOKEN_SECRET) and never written:
the inventory says {env: PROXMOX_TOKEN_SECRET}. Nothing is written when interrupted.

Examples:
  $ edgelab init
  $ edgelab init -o inventories/mylab.yml
  $ PROXMOX_TOKEN_SECRET=... edgelab init --answers answers.yml --json
  $ edgelab init --answers answers.yml -o inventory.yml --force
  $ edgelab init --answers local-answers.yml -o lab.yml     # provider: local (no cluster, no secret)`,
    )
    .action(async (options: { answers?: string; output: string; force?: boolean }, cmd: Command) => {
      const ctx = app.context(cmd);
      const out = resolve(ctx.cwd, options.output);
      const force = options.force === true;
      if (!force && existsSync(out)) throw new UsageError(`${options.output} already exists`, "Give --force to overwrite it, or -o to write elsewhere.");
      if (options.answers === undefined) {
        await askAnswers({ ctx, output: out, display: options.output, force });
        return;
      }
      const answersPath = resolve(ctx.cwd, options.answers);
      const answers = readAnswers(answersPath);
      if (answers.provider === "local") {
        // A local lab: nothing to discover; the same validator, the same atomic write.
        const checked = checkLocalAnswers(answers, options.output);
        const errors = checked.issues.filter((i) => i.severity === "error");
        if (errors.length === 0) writeAtomically(out, checked.inventory.text, force);
        if (ctx.options.json) {
          println(ctx.stdout, JSON.stringify({ output: options.output, written: errors.length === 0, issues: checked.issues, hosts: checked.inventory.hosts.map((h) => ({ name: h.name, address: h.address, vlan: h.vlan, label: h.label })) }));
        } else {
          for (const i of checked.issues) println(ctx.stderr, issueText(i));
          if (errors.length === 0) println(ctx.stdout, `wrote ${options.output}; next: edgelab up -i ${options.output}`);
          else println(ctx.stderr, `edgelab: ${errors.length} answer${errors.length === 1 ? "" : "s"} refused; nothing written`);
        }
        if (errors.length > 0) app.exitCode = EXIT_USAGE;
        return;
      }
      const secret = secretFromEnv(ctx.env);
      if (secret === undefined) throw new UsageError("PROXMOX_TOKEN_SECRET is not set", "export PROXMOX_TOKEN_SECRET=<the token's secret>: it is read from the environment and never written to the inventory.");
      const client = connect({ url: answers.proxmox.url, tokenId: ctx.env["PROXMOX_TOKEN_ID"] ?? answers.proxmox.token_id, tokenSecret: secret, fingerprint: answers.proxmox.tls_fingerprint });
      try {
        const keyed = withKeyFiles(answers, ctx.env["HOME"], dirname(answersPath));
        const discovered = await discoverAll(client, answers.proxmox.node);
        const checked = checkAll(keyed.answers, discovered.cluster, discovered.choices, options.output);
        const all = [...keyed.issues, ...checked.all];
        const errors = all.filter((i) => i.severity === "error");
        if (errors.length > 0) {
          if (ctx.options.json) println(ctx.stdout, JSON.stringify({ output: options.output, written: false, issues: all }));
          else for (const i of all) println(ctx.stderr, issueText(i));
          app.exitCode = EXIT_USAGE;
          if (!ctx.options.json) println(ctx.stderr, `edgelab: ${errors.length} answer${errors.length === 1 ? "" : "s"} refused; nothing written`);
          return;
        }
        const { plan, lines } = await planFor(client, checked.inventory.text, options.output);
        writeAtomically(out, checked.inventory.text, force);
        if (ctx.options.json) {
          println(ctx.stdout, JSON.stringify({ output: options.output, written: true, issues: all, hosts: checked.inventory.hosts.map((h) => ({ name: h.name, address: h.address, vmid: h.vmid, vlan: h.vlan, label: h.label })), plan: { counts: plan.counts, actions: plan.actions } }));
        } else {
          for (const i of all) println(ctx.stderr, issueText(i));
          for (const line of lines) println(ctx.stdout, line);
          println(ctx.stdout, `wrote ${options.output}; next: edgelab validate -i ${options.output} && edgelab provision -i ${options.output}`);
        }
      } finally {
        client.close();
      }
    });
}

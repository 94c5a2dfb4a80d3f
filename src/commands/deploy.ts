/**
 * `edgelab deploy`: the cluster lab's objects to the cluster, then its DNS name and a smoke test
 * through the Ingress — the render, deploy, dns and smoke stages of `edgelab up`, run now.
 */
import { Command, Option } from "commander";
import { resolve } from "node:path";
import { UsageError } from "../errors.js";
import { loadPipeline } from "../pipeline/context.js";
import type { StageName } from "../pipeline/stage.js";
import { println, type App } from "./app.js";
import { runStages } from "./up.js";

interface DeployFlags {
  kubeconfig?: string;
  context?: string;
  dryRun?: boolean;
  forceConflicts?: boolean;
  manifests?: string;
  timeout: string;
  smoke: boolean;
  dns: boolean;
}

export function deployCommand(app: App): Command {
  return new Command("deploy")
    .description("apply the cluster lab's manifests (server-side apply, prune, rollouts), point DNS at the Ingress, smoke-test it")
    .option("--kubeconfig <file>", "kubeconfig of the cluster (default: $KUBECONFIG, .edgelab/kubeconfig beside the inventory, ~/.kube/config)")
    .option("--context <name>", "kubeconfig context (default: the one named after the lab, else the current one)")
    .option("--dry-run", "server-side dry run: the API server checks every object and says what would change; nothing is written")
    .option("--force-conflicts", "take over fields another field manager (kubectl, a controller) changed since edgelab set them")
    .addOption(new Option("--timeout <seconds>", "how long to wait for the rollouts and the LoadBalancer addresses").default("300"))
    .option("--manifests <dir>", "apply every YAML document in <dir> as it is (reviewed or hand-edited copies) instead of the rendered k8s/ files; the Secrets are still built at deploy time")
    .option("--no-dns", "do not point the DNS name at the Ingress (dns stage)")
    .option("--no-smoke", "do not run the smoke test through the Ingress")
    .addHelpText(
      "after",
      `
Runs the render, deploy, dns and smoke stages of \`edgelab up\` (journal and resume alike):
  render  the manifests under .edgelab/artifacts/k8s/ (only what changed is written)
  deploy  every YAML document there, plus the Secrets built now (never written to a file):
          edgelab-data-plane (redis password, notify secret: generated once per lab, kept 0600
          in .edgelab/secrets/, or taken from the cluster when it has them) and
          edgelab-registry (from images.registry, its password from the environment);
          server-side apply as field manager edgelab, objects this lab applied before but no
          longer renders pruned (by the labels app.kubernetes.io/managed-by=edgelab and
          edgelab.dev/lab=<lab>), then waits for the rollouts, the Ingress' address and the
          RTMP Service's. An object that did not change is not written.
  dns     dns.name → the Ingress' address: RFC 2136 update signed with TSIG when dns.server is
          set, else the /etc/hosts line is printed
  smoke   the same checks as on the local lab, through the Ingress by its address with the
          Host header dns.name (it works before DNS answers), and the wrong-key check on the
          RTMP Service

Exit status: 0 done, 1 a stage failed (the message names the object and its last condition),
2 bad usage, inventory or kubeconfig, 130 interrupted.

Examples:
  $ edgelab deploy -i inventories/lab.yml
  $ edgelab deploy -i inventories/lab.yml --dry-run
  $ edgelab deploy --kubeconfig ~/.kube/lab.yaml --context lab --timeout 600
  $ EDGELAB_TSIG_SECRET=... edgelab deploy --json > deploy.ndjson
  $ edgelab deploy --force-conflicts          # after someone ran kubectl edit
  $ edgelab deploy --manifests ./reviewed-k8s # apply reviewed copies of the rendered manifests`,
    )
    .action(async (options: DeployFlags, cmd: Command) => {
      const ctx = app.context(cmd);
      const timeoutSeconds = Number(options.timeout);
      if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) throw new UsageError(`--timeout must be a positive number of seconds, got '${options.timeout}'`);
      const base = loadPipeline(ctx, { timeoutSeconds, waitSsh: false, kube: { kubeconfig: options.kubeconfig, context: options.context, forceConflicts: options.forceConflicts === true, manifests: options.manifests === undefined ? undefined : resolve(ctx.cwd, options.manifests) } });
      if (base.lab.provider !== "proxmox") {
        throw new UsageError(`edgelab deploy deploys a cluster lab; ${base.location.display} is a ${base.lab.provider} lab`, "The local lab runs on this machine: edgelab up.");
      }
      const only: StageName[] = ["render", "deploy", ...(options.dns ? (["dns"] as const) : []), ...(options.smoke && options.dryRun !== true ? (["smoke"] as const) : [])];
      const { exitCode } = await runStages(app, base, { command: "up", invokedAs: "deploy", selection: { only }, dryRun: options.dryRun === true, force: false });
      app.exitCode = exitCode;
      if (exitCode === 0 && options.dryRun === true && !ctx.options.json) println(ctx.stderr, "Dry run: the API server checked every object; nothing was written.");
    });
}

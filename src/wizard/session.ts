/**
 * The wizard's I/O around the pure answers → inventory: connect to the API, discover, check the
 * answers against the cluster and the validator, compute the plan, write the file atomically.
 * Shared by `edgelab init --answers` and the interactive prompts, so both end in the same checks.
 */
import { linkSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { EdgelabError, UsageError } from "../errors.js";
import { validateInventoryText } from "../inventory/validate.js";
import { buildLab } from "../model/lab.js";
import { ProxmoxClient } from "../providers/proxmox/client.js";
import { planLines, planVms, type Plan } from "../providers/proxmox/plan.js";
import { readActual } from "../providers/proxmox/read.js";
import { checkAnswers, type AnswerIssue, type Answers, type AnswersResult, type ClusterFacts } from "./answers.js";
import { expandPath, keyLine, readPublicKeyFile } from "./ssh-keys.js";
import { discoverBridges, discoverCluster, discoverStorages, type DiscoveredBridge, type DiscoveredCluster, type DiscoveredStorage } from "./discover.js";

export interface Connection {
  readonly url: string;
  readonly tokenId: string;
  readonly tokenSecret: string;
  readonly fingerprint?: string | undefined;
}

export function connect(c: Connection): ProxmoxClient {
  return new ProxmoxClient({ url: c.url, tokenId: c.tokenId, tokenSecret: c.tokenSecret, fingerprint: c.fingerprint, timeoutMs: 15_000 });
}

/** The token secret from the environment, never from a file or argv. */
export function secretFromEnv(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const value = env["PROXMOX_TOKEN_SECRET"];
  return value !== undefined && value !== "" ? value : undefined;
}

export interface NodeChoices {
  readonly storages: readonly DiscoveredStorage[];
  readonly bridges: readonly DiscoveredBridge[];
}

export interface Discovered {
  readonly cluster: DiscoveredCluster;
  readonly choices: NodeChoices;
}

/** The cluster, and the storages and bridges of `node` (none when the node is not there). */
export async function discoverAll(client: ProxmoxClient, node: string): Promise<Discovered> {
  const cluster = await discoverCluster(client);
  const choices = cluster.nodes.some((n) => n.name === node) ? await nodeChoices(client, node) : { storages: [], bridges: [] };
  return { cluster, choices };
}

export async function nodeChoices(client: ProxmoxClient, node: string): Promise<NodeChoices> {
  return { storages: await discoverStorages(client, node), bridges: await discoverBridges(client, node) };
}

/** What the answers name must exist: node (online), template, storage with images, bridge. */
export function discoveryIssues(answers: Answers, cluster: DiscoveredCluster, choices: NodeChoices): AnswerIssue[] {
  const out: AnswerIssue[] = [];
  const p = answers.proxmox;
  const node = cluster.nodes.find((n) => n.name === p.node);
  if (node === undefined) out.push({ severity: "error", question: "proxmox.node", message: `node ${p.node} is not in the cluster`, hint: `Nodes: ${cluster.nodes.map((n) => n.name).join(", ") || "(none)"}.` });
  else if (!node.online) out.push({ severity: "error", question: "proxmox.node", message: `node ${p.node} is not online`, hint: "Pick an online node." });
  const template = cluster.templates.find((t) => t.vmid === p.template);
  if (template === undefined) out.push({ severity: "error", question: "proxmox.template", message: `VM ${p.template} is not a template on the cluster`, hint: `Templates: ${cluster.templates.map((t) => `${t.vmid} (${t.name})`).join(", ") || "(none)"}.` });
  if (node !== undefined && !choices.storages.some((s) => s.id === p.storage)) out.push({ severity: "error", question: "proxmox.storage", message: `storage ${p.storage} does not hold VM disks on node ${p.node}`, hint: `Storages with images content there: ${choices.storages.map((s) => s.id).join(", ") || "(none)"}.` });
  if (node !== undefined && !choices.bridges.some((b) => b.iface === p.bridge)) out.push({ severity: "error", question: "proxmox.bridge", message: `bridge ${p.bridge} does not exist on node ${p.node}`, hint: `Bridges there: ${choices.bridges.map((b) => b.iface).join(", ") || "(none)"}.` });
  return out;
}

export function clusterFacts(answers: Answers, cluster: DiscoveredCluster): ClusterFacts {
  return { vmids: cluster.vms.map((v) => v.vmid), names: cluster.vms.map((v) => v.name).filter((n) => n !== ""), templateDiskGiB: cluster.templates.find((t) => t.vmid === answers.proxmox.template)?.diskGiB };
}

export interface Checked extends AnswersResult {
  readonly all: readonly AnswerIssue[];
}

/** Everything the wizard checks, in one list: discovery, then the validator and the cluster. */
export function checkAll(answers: Answers, cluster: DiscoveredCluster, choices: NodeChoices, file: string): Checked {
  const result = checkAnswers(answers, clusterFacts(answers, cluster), file);
  return { ...result, all: [...discoveryIssues(answers, cluster, choices), ...result.issues] };
}

/**
 * The answers with the keys of their ssh_key_files added to ssh_keys (`~/` is `home`, a relative
 * path is from `base`, the answers file's directory). A file that gives no key (unreadable, a
 * private key, a bad line) is an issue on its entry; the paths themselves are never written.
 */
export function withKeyFiles(answers: Answers, home: string | undefined, base: string): { answers: Answers; issues: AnswerIssue[] } {
  const issues: AnswerIssue[] = [];
  const lines: string[] = [];
  answers.ssh_key_files.forEach((file, i) => {
    const result = readPublicKeyFile(expandPath(file, home, base));
    if (result.ok) lines.push(...result.keys.map(keyLine));
    else issues.push({ severity: "error", question: `ssh_key_files[${i}]`, message: result.reason, hint: result.hint });
  });
  return { answers: { ...answers, ssh_keys: [...answers.ssh_keys, ...lines] }, issues };
}

/** What provisioning would do with this inventory on the cluster (the same plan as `edgelab plan`). */
export async function planFor(client: ProxmoxClient, text: string, file: string): Promise<{ plan: Plan; lines: string[] }> {
  const validation = validateInventoryText(text, file);
  if (validation.facts === undefined) throw new EdgelabError(`the inventory for ${file} does not validate`, { hint: "This is a bug in the wizard: please report it with the answers." });
  const plan = planVms(buildLab(validation.facts), await readActual(client, buildLab(validation.facts)));
  return { plan, lines: planLines(plan) };
}

/**
 * Writes `text` to `path` atomically: a temporary file beside it, then a rename (with `force`) or
 * a hard link that fails if `path` exists (without). An interrupted run leaves no file at `path`.
 */
export function writeAtomically(path: string, text: string, force: boolean): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  writeFileSync(tmp, text, { flag: "wx", mode: 0o644 });
  try {
    if (force) renameSync(tmp, path);
    else {
      try {
        linkSync(tmp, path);
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code === "EEXIST") throw new UsageError(`${path} already exists`, "Give --force to overwrite it, or -o to write elsewhere.");
        throw cause;
      }
    }
  } finally {
    rmSync(tmp, { force: true });
  }
}

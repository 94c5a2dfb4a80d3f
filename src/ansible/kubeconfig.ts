/**
 * The cluster's kubeconfig: fetched from the first server over verified SSH (K3s writes it to
 * /etc/rancher/k3s/k3s.yaml with server https://127.0.0.1:6443 and everything named "default"),
 * rewritten to the API endpoint with cluster, user and context named after the lab, and merged
 * into a kubeconfig file (mode 0600) without touching the other entries there.
 */
import { existsSync, readFileSync } from "node:fs";
import { parse, stringify } from "yaml";
import { z } from "zod";
import { EdgelabError } from "../errors.js";
import type { Executor } from "../exec/types.js";
import { writeFileAtomic, type WriteStatus } from "../util/atomic-write.js";

export const KubeconfigSchema = z
  .object({
    apiVersion: z.string().default("v1"),
    kind: z.string().default("Config"),
    clusters: z
      .array(z.object({ name: z.string(), cluster: z.object({ server: z.string() }).loose() }).loose())
      .nullish()
      .transform((v) => v ?? []),
    users: z
      .array(z.object({ name: z.string(), user: z.record(z.string(), z.unknown()) }).loose())
      .nullish()
      .transform((v) => v ?? []),
    contexts: z
      .array(z.object({ name: z.string(), context: z.object({ cluster: z.string(), user: z.string() }).loose() }).loose())
      .nullish()
      .transform((v) => v ?? []),
    "current-context": z.string().optional(),
    preferences: z.record(z.string(), z.unknown()).optional(),
  })
  .loose();
export type Kubeconfig = z.infer<typeof KubeconfigSchema>;

export const K3S_KUBECONFIG = "/etc/rancher/k3s/k3s.yaml";

export class KubeconfigError extends EdgelabError {
  override readonly name = "KubeconfigError";
}

export function parseKubeconfig(text: string, where: string): Kubeconfig {
  let data: unknown;
  try {
    data = parse(text);
  } catch (cause) {
    throw new KubeconfigError(`${where} is not valid YAML: ${cause instanceof Error ? cause.message.split("\n")[0] ?? "" : String(cause)}`, { hint: "Fix or move the file; edgelab does not overwrite a file it cannot read.", cause });
  }
  const parsed = KubeconfigSchema.safeParse(data ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new KubeconfigError(`${where} is not a kubeconfig: ${issue === undefined ? "" : `${issue.path.join(".")}: ${issue.message}`}`, { hint: "Fix or move the file; edgelab does not overwrite a file it cannot read." });
  }
  return parsed.data;
}

/**
 * K3s' kubeconfig for this lab: its one cluster, user and context renamed to `name`, the server
 * set to `server` (the API endpoint: the VIP, or the first server).
 */
export function rewriteK3sKubeconfig(k3s: Kubeconfig, name: string, server: string): Kubeconfig {
  if (!/^https:\/\/[^/\s]+$/.test(server)) throw new KubeconfigError(`API endpoint '${server}' is not https://host:port`);
  const cluster = k3s.clusters[0];
  const user = k3s.users[0];
  if (cluster === undefined || user === undefined) throw new KubeconfigError("the server's kubeconfig has no cluster or no user", { hint: `Check ${K3S_KUBECONFIG} on the first server.` });
  return {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ ...cluster, name, cluster: { ...cluster.cluster, server } }],
    users: [{ ...user, name }],
    contexts: [{ name, context: { cluster: name, user: name } }],
    "current-context": name,
  };
}

function replaceByName<T extends { name: string }>(existing: readonly T[], incoming: readonly T[]): T[] {
  const names = new Set(incoming.map((e) => e.name));
  return [...existing.filter((e) => !names.has(e.name)), ...incoming];
}

/** `existing` with `lab`'s cluster, user and context replaced (or added); the current context becomes the lab's. */
export function mergeKubeconfig(existing: Kubeconfig | undefined, lab: Kubeconfig): Kubeconfig {
  if (existing === undefined) return lab;
  return {
    ...existing,
    clusters: replaceByName(existing.clusters, lab.clusters),
    users: replaceByName(existing.users, lab.users),
    contexts: replaceByName(existing.contexts, lab.contexts),
    ...(lab["current-context"] === undefined ? {} : { "current-context": lab["current-context"] }),
  };
}

/** `existing` without the cluster, user and context named `name` (what edgelab merged for a lab). */
export function removeFromKubeconfig(existing: Kubeconfig, name: string): Kubeconfig {
  const { "current-context": current, ...rest } = existing;
  return {
    ...rest,
    clusters: existing.clusters.filter((c) => c.name !== name),
    users: existing.users.filter((u) => u.name !== name),
    contexts: existing.contexts.filter((c) => c.name !== name),
    ...(current === undefined || current === name ? {} : { "current-context": current }),
  };
}

function readKubeconfig(path: string): Kubeconfig | undefined {
  return existsSync(path) ? parseKubeconfig(readFileSync(path, "utf8"), path) : undefined;
}

export function writeKubeconfig(path: string, config: Kubeconfig): WriteStatus {
  return writeFileAtomic(path, stringify(config), 0o600);
}

export interface InstalledKubeconfig {
  readonly path: string;
  readonly context: string;
  readonly server: string;
  readonly status: WriteStatus;
}

/**
 * Fetches K3s' kubeconfig from the first server (through an Executor whose connection verified
 * the host key) and merges it into `path` as context `name` pointing at `server`.
 */
export async function installKubeconfig(firstServer: Executor, options: { name: string; server: string; path: string; sudo?: boolean }): Promise<InstalledKubeconfig> {
  // The file is root's (0600): a login other than root reads it through sudo, without a password prompt.
  const text = (await firstServer.run([...(options.sudo === true ? ["sudo", "-n"] : []), "cat", K3S_KUBECONFIG], { timeoutMs: 30_000 })).stdout;
  const lab = rewriteK3sKubeconfig(parseKubeconfig(text, `${firstServer.host}:${K3S_KUBECONFIG}`), options.name, options.server);
  const status = writeKubeconfig(options.path, mergeKubeconfig(readKubeconfig(options.path), lab));
  return { path: options.path, context: options.name, server: options.server, status };
}

/** Removes the lab's entries from `path` (nothing when the file or the entries are not there). */
export function uninstallKubeconfig(path: string, name: string): WriteStatus {
  const existing = readKubeconfig(path);
  if (existing === undefined) return "unchanged";
  const without = removeFromKubeconfig(existing, name);
  if (JSON.stringify(without) === JSON.stringify(existing)) return "unchanged";
  return writeKubeconfig(path, without);
}

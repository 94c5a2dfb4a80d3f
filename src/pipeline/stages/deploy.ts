/**
 * The deploy stage (provider proxmox): the rendered manifests (every YAML document under the
 * render output's `k8s/`) plus the Secrets built at deploy time, applied to the cluster with
 * server-side apply (field manager edgelab), what this lab applied before but no longer renders
 * pruned, then a bounded wait for the rollouts, the Ingress' LoadBalancer address and the RTMP
 * Service's. Its outputs (the addresses) feed the dns and smoke stages. `edgelab deploy` runs it.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, dirname, join, relative, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { EdgelabError, EXIT_USAGE } from "../../errors.js";
import { applyObjects, LAB_LABEL, MANAGED_BY, MANAGED_BY_LABEL, readiness, waitForObjects, type ApplyEntry, type ApplyResult } from "../../kube/apply.js";
import { describeRef, kubeClient, loadKubeConfig, refOf, type KubeClient, type KubeObject } from "../../kube/client.js";
import { readManifestDir } from "../../kube/manifests.js";
import { DATA_PLANE_KEYS, DATA_PLANE_SECRET, dataPlaneSecret, dataPlaneValues, REGISTRY_SECRET, registrySecret, secretReferences, type DataPlaneKey } from "../../kube/secrets.js";
import { hashKey, KeyHash, transcoderCredentialOf, verifyKey } from "../../media/keys.js";
import { clusterDataPlane } from "../../model/dataplane.js";
import { publisherOf } from "../../model/lab.js";
import { labLayout, streamKey } from "../../providers/local/lab.js";
import { secretIds } from "../../providers/local/layout.js";
import { renderAbrNotifyConf, renderMediaNotifyConf, renderTranscoderPreset } from "../../render/nginx.js";
import { DATA_PLANE_SECRET as DATA_PLANE_KEYS_OF } from "../../render/router.js";
import { hashValue } from "../../util/hash.js";
import { writeFileAtomic } from "../artifacts.js";
import { Journal } from "../journal.js";
import { generatedSecretPath, resolveSecret } from "../secrets.js";
import type { PipelineContext, Stage, StageOutcome, StageRun } from "../stage.js";
import type { ClusterEndpoints } from "../../smoke/cluster-target.js";
import { hostAccess } from "./access.js";
import { artifactsDir, renderedArtifacts } from "./render.js";

/**
 * In a rehearsal (the VMs exist only in the simulator) there is no cluster, no Ingress and no
 * DNS server of the lab's to contact: the stage says so and does nothing.
 */
export function rehearsalOutcome(p: PipelineContext, what: string): StageOutcome | undefined {
  const access = hostAccess(p);
  if (!access.isRehearsal) return undefined;
  return { changes: 0, summary: `rehearsal: ${what} skipped`, skipped: [{ what, reason: access.rehearsal ?? "rehearsal" }] };
}

/** Where `up` keeps the cluster's kubeconfig when the k3s stage fetched it. */
export function labKubeconfigPath(p: PipelineContext): string {
  return join(p.stateDir, "kubeconfig");
}

/** The kubeconfig to use: --kubeconfig, $KUBECONFIG (its first file), .edgelab/kubeconfig, ~/.kube/config. */
export function kubeconfigPath(p: PipelineContext): string {
  const flag = p.options.kube?.kubeconfig;
  if (flag !== undefined) return resolve(p.ctx.cwd, flag);
  const env = (p.ctx.env["KUBECONFIG"] ?? "").split(delimiter).find((x) => x !== "");
  if (env !== undefined) return resolve(p.ctx.cwd, env);
  if (existsSync(labKubeconfigPath(p))) return labKubeconfigPath(p);
  return join(p.ctx.env["HOME"] ?? homedir(), ".kube", "config");
}

/** The lab's cluster through the kubeconfig; the context named after the lab when there is one. */
export function kubeFor(p: PipelineContext): { client: KubeClient; server: string } {
  const path = kubeconfigPath(p);
  if (!existsSync(path)) {
    throw new EdgelabError(`no kubeconfig at ${path}`, { hint: "Pass --kubeconfig <file>, set KUBECONFIG, or let `edgelab up` fetch the cluster's (it keeps it in .edgelab/kubeconfig).", exitCode: EXIT_USAGE });
  }
  const text = readFileSync(path, "utf8");
  let context = p.options.kube?.context;
  if (context === undefined && loadKubeConfig(text, path).getContextObject(p.lab.name) !== null) context = p.lab.name;
  const kc = loadKubeConfig(text, path, context);
  return { client: kubeClient(kc), server: kc.getCurrentCluster()?.server ?? "?" };
}

export function k8sDir(p: PipelineContext): string {
  return p.options.kube?.manifests ?? join(artifactsDir(p), "k8s");
}

export interface LabManifests {
  readonly objects: readonly KubeObject[];
  /** Files under k8s/ that the renderer no longer produces: not applied. */
  readonly stale: readonly string[];
  /** Hash of what is applied (file names and contents). */
  readonly digest: string;
}

/**
 * The lab's manifests: every YAML file under the render output's k8s/ directory, with the
 * renderer's current content for the files it produces (the same bytes the render stage
 * writes, so a dry run sees what render would write). When the renderer produces k8s files,
 * files there that it no longer produces are stale (an object removed from the inventory): they
 * are not applied, so the object is pruned.
 */
export function labManifests(p: PipelineContext): LabManifests {
  const dir = k8sDir(p);
  // With --manifests the directory's files are applied as they are: nothing rendered is overlaid.
  const rendered = new Map(
    (p.options.kube?.manifests !== undefined ? [] : renderedArtifacts(p))
      .filter((a) => a.path.startsWith("k8s/") && !a.path.slice(4).includes("/"))
      .map((a) => [a.path.slice(4), a.content] as const),
  );
  const shown = relative(p.ctx.cwd, dir) || dir;
  const all = readManifestDir(dir, shown, rendered);
  const stale = rendered.size === 0 ? [] : [...new Set(all.map((m) => m.source.file))].filter((f) => !rendered.has(f.slice(shown.length + 1)));
  const used = all.filter((m) => !stale.includes(m.source.file));
  return { objects: used.map((m) => m.object), stale, digest: hashValue(used.map((m) => [m.source.file, m.object])) };
}

/* ---------------------------------------------------------------- secrets */

function secretsDir(p: PipelineContext): string {
  return join(p.stateDir, "secrets");
}

function dataPlaneId(p: PipelineContext, key: DataPlaneKey): string {
  return `cluster-${p.lab.name}-${key}`;
}

/**
 * The data plane's generated secrets: the cluster's when edgelab's Secret for this lab exists
 * (what the pods run with; kept in .edgelab/secrets, 0600, so this machine has them too), else
 * the ones generated once for this lab in .edgelab/secrets. A dry run writes nothing (new values
 * are throwaway).
 */
function generatedValues(p: PipelineContext, fromCluster: Readonly<Record<string, string>> | undefined, dryRun: boolean): Record<DataPlaneKey, string> {
  const dir = secretsDir(p);
  const out: Partial<Record<DataPlaneKey, string>> = {};
  for (const key of DATA_PLANE_KEYS) {
    const file = generatedSecretPath(dir, dataPlaneId(p, key));
    const local = existsSync(file) ? readFileSync(file, "utf8").trim() : undefined;
    const cluster = fromCluster?.[key];
    if (cluster !== undefined) {
      if (!dryRun && local !== cluster) {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        chmodSync(dir, 0o700);
        writeFileAtomic(file, `${cluster}\n`, 0o600);
      }
      out[key] = cluster;
    } else if (local !== undefined) out[key] = local;
    else out[key] = dryRun ? randomBytes(24).toString("base64url") : resolveSecret({ generate: true }, dataPlaneId(p, key), { env: p.ctx.env, baseDir: dirname(p.location.path), secretsDir: dir });
  }
  return out as Record<DataPlaneKey, string>;
}

/**
 * Every key of the data plane's Secret (the contract's keys): redis-password, notify-secret,
 * each media server's callback include (rendered with the notify secret), and each published
 * stream's key hash. A hash already in the cluster that still matches the stream's key is kept
 * (a fresh salt would rewrite the Secret on every deploy).
 */
async function dataPlaneSecretValues(p: PipelineContext, client: KubeClient, namespace: string, dryRun: boolean): Promise<Record<string, string>> {
  // Only a Secret edgelab made for this lab is trusted: another tool's is not read (applying over it is then a conflict naming that tool).
  const existing = await client.get({ apiVersion: "v1", kind: "Secret", name: DATA_PLANE_SECRET, namespace });
  const labels = existing?.metadata.labels ?? {};
  const fromCluster = labels[MANAGED_BY_LABEL] === MANAGED_BY && labels[LAB_LABEL] === p.lab.name ? dataPlaneValues(existing) : undefined;
  const generated = generatedValues(p, fromCluster, dryRun);
  const values: Record<string, string> = { ...generated };
  const plane = clusterDataPlane(p.lab);
  for (const server of plane.mediaServers) values[DATA_PLANE_KEYS_OF.notifyInclude(server.name)] = renderMediaNotifyConf(plane, server, generated["notify-secret"]);
  // redis reads its password as a configuration line (its redis.conf includes this file).
  values[DATA_PLANE_KEYS_OF.redisAuth] = `requirepass ${generated["redis-password"]}\n`;
  if (p.lab.media.abr.length > 0) {
    const credential = transcoderCredentialOf(generated["notify-secret"]);
    values[DATA_PLANE_KEYS_OF.transcoderCredential] = credential;
    values[DATA_PLANE_KEYS_OF.transcoderPreset] = renderTranscoderPreset(credential);
    for (const server of plane.mediaServers) values[DATA_PLANE_KEYS_OF.abrNotifyInclude(server.name)] = renderAbrNotifyConf(plane, server, generated["notify-secret"]);
  }
  const layout = labLayout(p.location.path);
  for (const stream of p.lab.streams) {
    if (publisherOf(stream) === "pull") continue;
    const key = dryRun && !existsSync(generatedSecretPath(layout.secrets, secretIds.streamKey(stream.name))) && typeof stream.key === "object" && "generate" in stream.key ? "dry-run" : streamKey({ inventoryPath: p.location.path, env: p.ctx.env }, layout, stream);
    const name = DATA_PLANE_KEYS_OF.streamKey(stream.name);
    const kept = fromCluster?.[name];
    values[name] = kept !== undefined && keptHashMatches(kept, key) ? kept : JSON.stringify(hashKey(key));
  }
  return values;
}

function keptHashMatches(json: string, key: string): boolean {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    // Not JSON: not a hash edgelab wrote; a new one replaces it.
    return false;
  }
  const parsed = KeyHash.safeParse(value);
  return parsed.success && verifyKey(key, parsed.data);
}

/** The Secrets the manifests refer to, in each namespace that refers to them. */
export async function labSecrets(p: PipelineContext, client: KubeClient, objects: readonly KubeObject[], dryRun: boolean): Promise<KubeObject[]> {
  const refs = secretReferences(objects);
  const out: KubeObject[] = [];
  for (const ns of [...(refs.get(DATA_PLANE_SECRET) ?? [])].sort()) out.push(dataPlaneSecret(ns, await dataPlaneSecretValues(p, client, ns, dryRun)));
  const pulling = [...(refs.get(REGISTRY_SECRET) ?? [])].sort();
  if (pulling.length > 0) {
    const registry = p.lab.images.registry;
    if (registry?.username === undefined || registry.password === undefined) {
      throw new EdgelabError(`the manifests pull images with Secret ${REGISTRY_SECRET}, but the inventory's images.registry has no username and password`, {
        hint: "Add images.registry.username and images.registry.password ({env: NAME}: the value stays in the environment), or render without a registry.",
        exitCode: EXIT_USAGE,
      });
    }
    const password = resolveSecret(registry.password, "registry-password", { env: p.ctx.env, baseDir: dirname(p.location.path), secretsDir: secretsDir(p) });
    for (const ns of pulling) out.push(registrySecret(ns, registry.address, registry.username, password));
  }
  return out;
}

/* ---------------------------------------------------------------- the stage */

/** What the deploy stage found: the addresses the dns and smoke stages use. */
export interface DeployEndpoints {
  readonly ingressIp: string;
  readonly host: string;
  readonly rtmpIp: string | undefined;
  readonly rtmpPort: number | undefined;
}

function rec(value: unknown): Readonly<Record<string, unknown>> {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function ingressHosts(ingress: KubeObject): string[] {
  const rules = rec(ingress["spec"])["rules"];
  return (Array.isArray(rules) ? rules : []).map((r) => rec(r)["host"]).filter((h): h is string => typeof h === "string");
}

function rtmpPort(service: KubeObject): number | undefined {
  const ports = rec(service["spec"])["ports"];
  const list = (Array.isArray(ports) ? ports : []).map(rec);
  const port = list.find((x) => x["name"] === "rtmp") ?? list.find((x) => x["port"] === 1935);
  return typeof port?.["port"] === "number" ? port["port"] : undefined;
}

/** The Ingress serving the lab's name and the RTMP Service, with their addresses, from ready objects. */
export function endpointsOf(p: PipelineContext, objects: readonly KubeObject[]): DeployEndpoints {
  const name = p.lab.dns?.name ?? p.lab.dnsName;
  const ingresses = objects.filter((o) => o.kind === "Ingress");
  const ingress = ingresses.find((o) => name !== undefined && ingressHosts(o).includes(name)) ?? ingresses[0];
  if (ingress === undefined) throw new EdgelabError("the manifests have no Ingress: viewers could not reach the edges", { hint: "Render the cluster manifests (edgelab render) and deploy again." });
  const ingressIp = readiness(ingress)?.ip;
  const host = name ?? ingressHosts(ingress)[0];
  if (ingressIp === undefined || host === undefined) throw new EdgelabError(`${describeRef(refOf(ingress))} has ${ingressIp === undefined ? "no address" : "no host rule"}`, { hint: "Set dns.name in the inventory (the Ingress' host)." });
  const rtmp = objects.find((o) => o.kind === "Service" && rec(o["spec"])["type"] === "LoadBalancer" && rtmpPort(o) !== undefined);
  return { ingressIp, host, rtmpIp: rtmp === undefined ? undefined : readiness(rtmp)?.ip, rtmpPort: rtmp === undefined ? undefined : rtmpPort(rtmp) };
}

/** The endpoints the deploy stage recorded (this run's or the journal's). */
export function deployOutputs(outputs: Readonly<Record<string, string>> | undefined): DeployEndpoints | undefined {
  const ingressIp = outputs?.["ingressIp"];
  const host = outputs?.["host"];
  if (ingressIp === undefined || ingressIp === "" || host === undefined) return undefined;
  const rtmpIp = outputs?.["rtmpIp"] || undefined;
  const port = Number(outputs?.["rtmpPort"]);
  return { ingressIp, host, rtmpIp, rtmpPort: Number.isInteger(port) && port > 0 ? port : undefined };
}

/** The recorded endpoints as the smoke test reaches them (RTMP on 1935 when no port was recorded). */
export function smokeEndpoints(e: DeployEndpoints): ClusterEndpoints {
  return { ingressIp: e.ingressIp, host: e.host, rtmp: e.rtmpIp === undefined ? undefined : { ip: e.rtmpIp, port: e.rtmpPort ?? 1935 } };
}

function verb(e: ApplyEntry): string {
  return `${e.action} ${describeRef(e.ref)}${e.note !== undefined ? ` (${e.note})` : ""}`;
}

function counts(result: ApplyResult): Record<ApplyEntry["action"], number> {
  const c = { created: 0, configured: 0, unchanged: 0, pruned: 0, kept: 0 };
  for (const e of result.entries) c[e.action]++;
  return c;
}

/** Applies (a server-side dry run when `dryRun`) the lab's objects and its Secrets, pruning. */
async function applyLab(p: PipelineContext, client: KubeClient, dryRun: boolean, onEntry?: (e: ApplyEntry) => void): Promise<{ manifests: LabManifests; result: ApplyResult }> {
  const manifests = labManifests(p);
  if (manifests.objects.length === 0) {
    throw new EdgelabError(`no manifests under ${relative(p.ctx.cwd, k8sDir(p)) || k8sDir(p)}`, { hint: "Render the lab first (edgelab render -i <inventory>): deploy applies the files under its k8s/ directory.", exitCode: EXIT_USAGE });
  }
  const secrets = await labSecrets(p, client, manifests.objects, dryRun);
  const result = await applyObjects(client, [...manifests.objects, ...secrets], { lab: p.lab.name, dryRun, force: p.options.kube?.forceConflicts ?? false, prune: true, ...(onEntry !== undefined ? { onEntry } : {}) });
  return { manifests, result };
}

export const deployStage: Stage = {
  name: "deploy",
  title: "the lab's objects on the cluster (server-side apply, prune, rollouts)",

  inputs: (p) => ({
    manifests: labManifests(p).digest,
    lab: p.lab.name,
    registry: p.lab.images.registry === undefined ? null : { address: p.lab.images.registry.address, username: p.lab.images.registry.username ?? null, password: p.lab.images.registry.password ?? null },
    kubeconfig: kubeconfigPath(p),
    context: p.options.kube?.context ?? null,
  }),
  // One server-side dry run and a look at what is awaited: drift, deletions and unready objects are noticed.
  verify: async (p) => {
    if (hostAccess(p).isRehearsal) return undefined;
    const { client } = kubeFor(p);
    const { result } = await applyLab(p, client, true);
    const off = result.entries.filter((e) => e.action !== "unchanged" && e.action !== "kept");
    if (off.length > 0) return `${off.length} object${off.length === 1 ? " differs" : "s differ"} from the cluster (${off.slice(0, 3).map(verb).join("; ")})`;
    for (const o of result.objects) {
      const state = readiness(o);
      if (state !== undefined && !state.ready) return `${describeRef(refOf(o))}: ${state.detail}`;
    }
    // What the last successful run recorded (this run has not set the stage's outputs yet).
    const before = deployOutputs(Journal.open(p.stateDir, p.lab.name).stage("deploy")?.outputs);
    try {
      const now = endpointsOf(p, result.objects);
      if (before?.ingressIp !== now.ingressIp || before.rtmpIp !== now.rtmpIp) return "the LoadBalancer addresses changed";
    } catch (err) {
      return (err as Error).message;
    }
    return undefined;
  },
  plan: async (p) => {
    if (hostAccess(p).isRehearsal) return { changes: ["rehearsal: nothing is applied (no cluster behind the simulator)"] };
    const { client } = kubeFor(p);
    const { manifests, result } = await applyLab(p, client, true);
    const sign = { created: "+", configured: "~", pruned: "-", kept: "=", unchanged: " " };
    return {
      changes: [
        ...manifests.stale.map((f) => `! ${f} is no longer rendered: not applied (delete the file)`),
        ...result.entries.filter((e) => e.action !== "unchanged").map((e) => `${sign[e.action]} ${verb(e)} (server-side dry run)`),
      ],
    };
  },
  apply: async (run: StageRun) => {
    const p = run.p;
    const rehearsal = rehearsalOutcome(p, "applying the manifests to the cluster");
    if (rehearsal !== undefined) return rehearsal;
    const { client, server } = kubeFor(p);
    run.step({ message: `applying to ${server} as field manager edgelab` });
    const { manifests, result } = await applyLab(p, client, false, (e) => {
      if (e.action !== "unchanged") run.step({ message: verb(e) });
    });
    for (const f of manifests.stale) run.warn(`${f} is no longer rendered: not applied, and its objects are pruned (delete the file)`);
    const c = counts(result);
    run.step({ message: `${result.entries.length} objects: ${c.created} created, ${c.configured} configured, ${c.unchanged} unchanged, ${c.pruned} pruned${c.kept > 0 ? `, ${c.kept} kept` : ""}` });
    const seen = new Map<string, string>();
    const waited = await waitForObjects(client, result.objects, {
      timeoutMs: p.options.timeoutSeconds * 1000,
      intervalMs: 500,
      onProgress: (ref, state) => {
        const k = describeRef(ref);
        if (seen.get(k) === state.detail) return;
        seen.set(k, state.detail);
        run.step({ message: `${k}: ${state.detail}` });
      },
    });
    // The objects as they are now, with the addresses the waits saw.
    const now = await Promise.all(result.objects.map(async (o) => (await client.get(refOf(o))) ?? o));
    const endpoints = endpointsOf(p, now);
    const changes = c.created + c.configured + c.pruned;
    return {
      changes,
      summary: `${result.entries.length} objects, ${changes} changed; Ingress ${endpoints.ingressIp}${endpoints.rtmpIp !== undefined ? `, RTMP ${endpoints.rtmpIp}:${endpoints.rtmpPort ?? "?"}` : ""}`,
      outputs: { ingressIp: endpoints.ingressIp, host: endpoints.host, rtmpIp: endpoints.rtmpIp ?? "", rtmpPort: endpoints.rtmpPort === undefined ? "" : String(endpoints.rtmpPort) },
      details: {
        objects: result.entries.map((e) => ({ action: e.action, kind: e.ref.kind, namespace: e.ref.namespace ?? null, name: e.ref.name, ...(e.note !== undefined ? { note: e.note } : {}) })),
        ready: waited.map((w) => ({ kind: w.ref.kind, namespace: w.ref.namespace ?? null, name: w.ref.name, detail: w.detail, ...(w.ip !== undefined ? { ip: w.ip } : {}), seconds: w.ms / 1000 })),
        endpoints,
      },
    };
  },
};

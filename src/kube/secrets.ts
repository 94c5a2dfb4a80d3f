/**
 * The Secrets edgelab adds to the rendered objects at deploy time (never rendered to files): the
 * data plane's (`edgelab-data-plane`: redis password, notify secret, the media servers' callback
 * includes, the streams' key hashes) and the registry pull secret (`edgelab-registry`). Each
 * goes into every namespace whose workloads refer to it. Pure.
 */
import type { KubeObject } from "./client.js";

export const DATA_PLANE_SECRET = "edgelab-data-plane";
/** The keys whose values are secrets generated once per lab (the others are derived from them). */
export const DATA_PLANE_KEYS = ["redis-password", "notify-secret"] as const;
export type DataPlaneKey = (typeof DATA_PLANE_KEYS)[number];
export const REGISTRY_SECRET = "edgelab-registry";

const WORKLOADS = new Set(["Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"]);

function rec(value: unknown): Readonly<Record<string, unknown>> {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function arr(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}

function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** The pod spec of a workload (CronJob: its job template's). */
function podSpec(object: KubeObject): Readonly<Record<string, unknown>> | undefined {
  if (!WORKLOADS.has(object.kind)) return undefined;
  const spec = rec(object["spec"]);
  if (object.kind === "Pod") return spec;
  if (object.kind === "CronJob") return rec(rec(rec(rec(spec["jobTemplate"])["spec"])["template"])["spec"]);
  return rec(rec(spec["template"])["spec"]);
}

/** Secret name → the namespaces whose workloads mount it, read it into env, or pull with it. */
export function secretReferences(objects: readonly KubeObject[]): Map<string, Set<string>> {
  const refs = new Map<string, Set<string>>();
  const add = (name: string | undefined, namespace: string): void => {
    if (name === undefined) return;
    refs.set(name, (refs.get(name) ?? new Set<string>()).add(namespace));
  };
  for (const object of objects) {
    const spec = podSpec(object);
    if (spec === undefined) continue;
    const ns = object.metadata.namespace ?? "default";
    for (const v of arr(spec["volumes"])) {
      add(str(rec(rec(v)["secret"])["secretName"]), ns);
      for (const source of arr(rec(rec(v)["projected"])["sources"])) add(str(rec(rec(source)["secret"])["name"]), ns);
    }
    for (const p of arr(spec["imagePullSecrets"])) add(str(rec(p)["name"]), ns);
    for (const c of [...arr(spec["containers"]), ...arr(spec["initContainers"])]) {
      for (const e of arr(rec(c)["env"])) add(str(rec(rec(rec(e)["valueFrom"])["secretKeyRef"])["name"]), ns);
      for (const e of arr(rec(c)["envFrom"])) add(str(rec(rec(e)["secretRef"])["name"]), ns);
    }
  }
  return refs;
}

const b64 = (text: string): string => Buffer.from(text, "utf8").toString("base64");

/** The data plane's Secret in `namespace`: every key as given, in key order (`data`, so the server stores exactly this). */
export function dataPlaneSecret(namespace: string, values: Readonly<Record<string, string>>): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: DATA_PLANE_SECRET, namespace },
    type: "Opaque",
    data: Object.fromEntries(Object.keys(values).sort().map((k) => [k, b64(values[k] ?? "")])),
  };
}

/** Every key of a data-plane Secret read from the cluster, decoded; undefined unless it has the generated keys. */
export function dataPlaneValues(secret: KubeObject | undefined): Record<string, string> | undefined {
  if (secret === undefined) return undefined;
  const data = rec(secret["data"]);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data)) if (typeof v === "string") out[k] = Buffer.from(v, "base64").toString("utf8");
  return DATA_PLANE_KEYS.every((k) => (out[k] ?? "") !== "") ? out : undefined;
}

/** The registry's host[:port] (a registry address may carry a path: registry.example.com:5000/edgelab). */
export function registryHost(address: string): string {
  return address.replace(/^[a-z]+:\/\//i, "").split("/")[0] ?? address;
}

/** A kubernetes.io/dockerconfigjson Secret for the registry, in `namespace`. */
export function registrySecret(namespace: string, address: string, username: string, password: string): KubeObject {
  const config = { auths: { [registryHost(address)]: { username, password, auth: b64(`${username}:${password}`) } } };
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: REGISTRY_SECRET, namespace },
    type: "kubernetes.io/dockerconfigjson",
    data: { ".dockerconfigjson": b64(JSON.stringify(config)) },
  };
}

/**
 * A STAND-IN for the Kubernetes API server (no kube-apiserver can run on these machines). It
 * implements, the way the real server does, exactly what edgelab uses:
 *
 * - discovery (/api/v1, /apis/<group>/<version>) for the kinds edgelab applies;
 * - server-side apply: PATCH with Content-Type application/apply-patch+yaml, fieldManager
 *   (required), force; managedFields kept per manager at the granularity of top-level fields of
 *   spec/data/... and single labels/annotations; 409 Conflict naming the other manager and the
 *   fields when an applied value differs from one another manager owns (unless force);
 *   fields a manager stops applying are removed when nobody else owns them;
 * - dryRun=All: the response is computed, nothing is stored;
 * - GET, LIST (all namespaces or one) with labelSelector (=, ==, !=, exists, !exists, in, notin)
 *   and limit/continue; DELETE with propagationPolicy (deleting a Namespace deletes its objects);
 * - resourceVersion bumps only on real changes, metadata.generation on spec changes;
 * - objects that fail validation (kubernetes-models, generated from the API's OpenAPI schema)
 *   refused with 422 Invalid; objects in a namespace that does not exist refused with 404;
 * - a fake controller writing status: rollout progress after a delay (a rollout can be made to
 *   never finish), a LoadBalancer address for LoadBalancer Services and Ingresses after a delay;
 * - bearer-token authentication, HTTPS with a self-signed CA that the kubeconfig carries.
 *
 * It listens on 127.0.0.1 only. Pods and ReplicaSets are not modelled: propagation policies are
 * accepted and recorded, dependents are not simulated.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { createServer, request, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parse as parseYaml } from "yaml";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { LimitRange } from "kubernetes-models/v1/LimitRange";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { PersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";
import { ResourceQuota } from "kubernetes-models/v1/ResourceQuota";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { Ingress } from "kubernetes-models/networking.k8s.io/v1/Ingress";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { Role } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import { selfSignedCertificate } from "../../src/providers/proxmox/tls.js";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface ResourceType {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: boolean;
  /** Whether metadata.generation is kept (kinds with a spec the controllers act on). */
  readonly generation: boolean;
  readonly validate: (data: JsonObject) => void;
}

const v = (Model: new (data: never) => { validate(): void }) => (data: JsonObject): void => new Model(data as never).validate();

const TYPES: readonly ResourceType[] = [
  { group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false, generation: false, validate: v(Namespace) },
  { group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", namespaced: true, generation: false, validate: v(ConfigMap) },
  { group: "", version: "v1", kind: "Secret", plural: "secrets", namespaced: true, generation: false, validate: v(Secret) },
  { group: "", version: "v1", kind: "Service", plural: "services", namespaced: true, generation: false, validate: v(Service) },
  { group: "", version: "v1", kind: "ServiceAccount", plural: "serviceaccounts", namespaced: true, generation: false, validate: v(ServiceAccount) },
  { group: "", version: "v1", kind: "PersistentVolumeClaim", plural: "persistentvolumeclaims", namespaced: true, generation: false, validate: v(PersistentVolumeClaim) },
  { group: "", version: "v1", kind: "ResourceQuota", plural: "resourcequotas", namespaced: true, generation: false, validate: v(ResourceQuota) },
  { group: "", version: "v1", kind: "LimitRange", plural: "limitranges", namespaced: true, generation: false, validate: v(LimitRange) },
  { group: "apps", version: "v1", kind: "Deployment", plural: "deployments", namespaced: true, generation: true, validate: v(Deployment) },
  { group: "apps", version: "v1", kind: "StatefulSet", plural: "statefulsets", namespaced: true, generation: true, validate: v(StatefulSet) },
  { group: "apps", version: "v1", kind: "DaemonSet", plural: "daemonsets", namespaced: true, generation: true, validate: v(DaemonSet) },
  { group: "networking.k8s.io", version: "v1", kind: "Ingress", plural: "ingresses", namespaced: true, generation: true, validate: v(Ingress) },
  { group: "networking.k8s.io", version: "v1", kind: "NetworkPolicy", plural: "networkpolicies", namespaced: true, generation: true, validate: v(NetworkPolicy) },
  { group: "rbac.authorization.k8s.io", version: "v1", kind: "Role", plural: "roles", namespaced: true, generation: false, validate: v(Role) },
  { group: "rbac.authorization.k8s.io", version: "v1", kind: "RoleBinding", plural: "rolebindings", namespaced: true, generation: false, validate: v(RoleBinding) },
];

const gv = (t: ResourceType): string => (t.group === "" ? t.version : `${t.group}/${t.version}`);
const qualified = (t: ResourceType): string => (t.group === "" ? t.plural : `${t.plural}.${t.group}`);
const kindQualified = (t: ResourceType): string => (t.group === "" ? t.kind : `${t.kind}.${t.group}`);

/** One HTTP request as the stand-in received it. */
export interface StandinRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly contentType: string | undefined;
  status: number;
}

export interface StandinOptions {
  /** How long the fake controller takes to finish a rollout. Default 150 ms. */
  readonly rolloutDelayMs?: number;
  /** How long until a LoadBalancer Service or an Ingress gets its address. Default 150 ms. */
  readonly lbDelayMs?: number;
  /** Rollouts of these workloads never finish ("namespace/name"). */
  readonly stuckRollouts?: ReadonlySet<string>;
  /**
   * The LoadBalancer address given to these Services and Ingresses ("namespace/name"), e.g. a
   * loopback address where a test serves something real; others get 198.18.200.x.
   */
  readonly lbAddresses?: Readonly<Record<string, string>>;
}

interface Stored {
  object: JsonObject;
  type: ResourceType;
  /** manager → the field paths it owns, and when it last changed them. */
  owners: Map<string, { paths: Set<string>; time: string }>;
}

export interface KubeApiserverStandin {
  readonly url: string;
  /** The PEM certificate of the stand-in's self-signed CA. */
  readonly ca: string;
  readonly token: string;
  readonly requests: StandinRequest[];
  /** Requests that would change stored state: PATCH/POST/PUT/DELETE without dryRun=All. */
  writes(): StandinRequest[];
  /** A kubeconfig for this stand-in (or, with `ca`, one that trusts another CA). */
  kubeconfig(options?: { ca?: string; token?: string; skipTlsVerify?: boolean }): string;
  /** The stored object (a copy), for assertions. */
  stored(apiVersion: string, kind: string, name: string, namespace?: string): JsonObject | undefined;
  /** An HTTPS request as another client would send it (e.g. another field manager). */
  send(method: string, path: string, body: string | undefined, contentType?: string): Promise<{ status: number; body: JsonObject }>;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details: JsonObject = {},
  ) {
    super(message);
  }
}

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function clone<T extends Json>(value: T): T {
  return structuredClone(value);
}

function equal(a: Json | undefined, b: Json | undefined): boolean {
  return stable(a) === stable(b);
}

function stable(value: Json | undefined): string {
  return JSON.stringify(value ?? null, (_k, x: unknown) => (isObject(x) ? Object.fromEntries(Object.entries(x).sort(([p], [q]) => p.localeCompare(q))) : x));
}

/* ---------------------------------------------------------------- field ownership */

const TOP_SKIP = new Set(["apiVersion", "kind", "metadata", "status"]);

/** The field units an applied configuration sets: `.spec.replicas`, `.data.key`, `.metadata.labels.x`. */
function fieldUnits(object: JsonObject): Map<string, Json> {
  const units = new Map<string, Json>();
  for (const [key, value] of Object.entries(object)) {
    if (TOP_SKIP.has(key)) continue;
    if (isObject(value) && Object.keys(value).length > 0) for (const [sub, inner] of Object.entries(value)) units.set(`.${key}.${sub}`, inner);
    else units.set(`.${key}`, value);
  }
  const meta = isObject(object["metadata"]) ? object["metadata"] : {};
  for (const section of ["labels", "annotations"] as const) {
    const map = meta[section];
    if (isObject(map)) for (const [k, value] of Object.entries(map)) units.set(`.metadata.${section}.${k}`, value);
  }
  return units;
}

function splitPath(path: string): string[] {
  // ".metadata.labels.app.kubernetes.io/name": the third part is the whole rest.
  const parts = path.slice(1).split(".");
  if (parts[0] === "metadata" && parts.length >= 3) return [parts[0], parts[1] ?? "", parts.slice(2).join(".")];
  return parts.length > 2 ? [parts[0] ?? "", parts.slice(1).join(".")] : parts;
}

function getPath(object: JsonObject, path: string): Json | undefined {
  let at: Json | undefined = object;
  for (const p of splitPath(path)) at = isObject(at) ? at[p] : undefined;
  return at;
}

function setPath(object: JsonObject, path: string, value: Json): void {
  const parts = splitPath(path);
  let at = object;
  for (const p of parts.slice(0, -1)) {
    const next = at[p];
    if (!isObject(next)) at[p] = {};
    at = at[p] as JsonObject;
  }
  at[parts[parts.length - 1] ?? ""] = clone(value);
}

function removeKey(object: JsonObject, key: string): void {
  Reflect.deleteProperty(object, key);
}

function deletePath(object: JsonObject, path: string): void {
  const parts = splitPath(path);
  const parents: JsonObject[] = [object];
  for (const p of parts.slice(0, -1)) {
    const next = parents[parents.length - 1]?.[p];
    if (!isObject(next)) return;
    parents.push(next);
  }
  const last = parents[parents.length - 1];
  if (last !== undefined) removeKey(last, parts[parts.length - 1] ?? "");
  // Drop maps left empty (labels: {}), as the real server's merge does.
  for (let i = parents.length - 1; i > 0; i--) {
    const parent = parents[i - 1];
    const name = parts[i - 1] ?? "";
    if (parent !== undefined && isObject(parent[name]) && Object.keys(parent[name]).length === 0 && !(i === 1 && name === "metadata")) removeKey(parent, name);
  }
}

/** FieldsV1 ({"f:spec": {"f:replicas": {}}}) from unit paths. */
function fieldsV1(paths: Iterable<string>): JsonObject {
  const root: JsonObject = {};
  for (const path of [...paths].sort()) {
    let at = root;
    for (const p of splitPath(path)) {
      const k = `f:${p}`;
      if (!isObject(at[k])) at[k] = {};
      at = at[k];
    }
  }
  return root;
}

/* ---------------------------------------------------------------- label selectors */

type Requirement = (labels: Readonly<Record<string, Json>>) => boolean;

function parseSelector(text: string): Requirement[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of text) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      parts.push(current);
      current = "";
    } else current += ch;
  }
  if (current.trim() !== "") parts.push(current);
  const key = "([A-Za-z0-9][-A-Za-z0-9_./]*)";
  const value = "([-A-Za-z0-9_.]*)";
  return parts.map((raw): Requirement => {
    const part = raw.trim();
    let m: RegExpExecArray | null;
    if ((m = new RegExp(`^${key}\\s*(==|=|!=)\\s*${value}$`).exec(part)) !== null) {
      const [, k = "", op, val = ""] = m;
      return op === "!=" ? (l) => l[k] !== val : (l) => l[k] === val;
    }
    if ((m = new RegExp(`^${key}\\s+(in|notin)\\s*\\(([^)]*)\\)$`).exec(part)) !== null) {
      const [, k = "", op, list = ""] = m;
      const values = list.split(",").map((s) => s.trim());
      return op === "in" ? (l) => typeof l[k] === "string" && values.includes(l[k]) : (l) => !(typeof l[k] === "string" && values.includes(l[k]));
    }
    if ((m = new RegExp(`^(!?)${key}$`).exec(part)) !== null) {
      const [, not, k = ""] = m;
      return not === "!" ? (l) => !(k in l) : (l) => k in l;
    }
    throw new HttpError(400, "BadRequest", `unable to parse requirement: found '${part}', expected: identifier, '=', '!=', 'in', 'notin'`);
  });
}

/* ---------------------------------------------------------------- the server */

const DNS1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export async function startKubeApiserverStandin(options: StandinOptions = {}): Promise<KubeApiserverStandin> {
  const rolloutDelay = options.rolloutDelayMs ?? 150;
  const lbDelay = options.lbDelayMs ?? 150;
  const stuck = options.stuckRollouts ?? new Set<string>();
  const tls = selfSignedCertificate("kube-apiserver-standin", ["127.0.0.1"]);
  const token = randomBytes(24).toString("hex");
  const store = new Map<string, Stored>();
  const requests: StandinRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let resourceVersion = 1000;
  let nextLbIp = 10;
  let nextClusterIp = 10;

  const storeKey = (t: ResourceType, namespace: string | undefined, name: string): string => `${qualified(t)}|${namespace ?? ""}|${name}`;
  const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, "Z");

  const render = (s: Stored): JsonObject => {
    const object = clone(s.object);
    const meta = object["metadata"] as JsonObject;
    const entries: Json[] = [...s.owners].filter(([, o]) => o.paths.size > 0).map(([manager, o]) => ({ manager, operation: "Apply", apiVersion: gv(s.type), time: o.time, fieldsType: "FieldsV1", fieldsV1: fieldsV1(o.paths) }));
    if (isObject(object["status"])) entries.push({ manager: "k3s", operation: "Update", apiVersion: gv(s.type), time: typeof meta["creationTimestamp"] === "string" ? meta["creationTimestamp"] : now(), fieldsType: "FieldsV1", fieldsV1: { "f:status": {} }, subresource: "status" });
    meta["managedFields"] = entries;
    return object;
  };

  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  const setStatus = (key: string, status: JsonObject): void => {
    const s = store.get(key);
    if (s === undefined) return;
    if (equal(s.object["status"], status)) return;
    s.object["status"] = status;
    (s.object["metadata"] as JsonObject)["resourceVersion"] = String(++resourceVersion);
  };

  /** The fake controllers: rollouts, LoadBalancer addresses. */
  const react = (key: string, before: JsonObject | undefined): void => {
    const s = store.get(key);
    if (s === undefined) return;
    const meta = s.object["metadata"] as JsonObject;
    const spec = isObject(s.object["spec"]) ? s.object["spec"] : {};
    const name = typeof meta["name"] === "string" ? meta["name"] : "";
    const id = `${typeof meta["namespace"] === "string" ? meta["namespace"] : ""}/${name}`;
    const generation = Number(meta["generation"] ?? 1);
    if (s.type.kind === "Deployment" || s.type.kind === "StatefulSet") {
      if (before !== undefined && Number((before["metadata"] as JsonObject)["generation"]) === generation) return;
      const replicas = typeof spec["replicas"] === "number" ? spec["replicas"] : 1;
      const old = isObject(s.object["status"]) ? s.object["status"] : {};
      const revision = `${name}-${randomBytes(4).toString("hex")}`;
      const t = now();
      const wasAvailable = Number(old["availableReplicas"] ?? 0);
      const progressing = (reason: string, message: string): JsonObject => ({ type: "Progressing", status: "True", reason, message, lastUpdateTime: t, lastTransitionTime: t });
      const available = (ok: boolean): JsonObject => ({ type: "Available", status: ok ? "True" : "False", reason: ok ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable", message: ok ? "Deployment has minimum availability." : "Deployment does not have minimum availability.", lastUpdateTime: t, lastTransitionTime: t });
      if (s.type.kind === "Deployment") {
        setStatus(key, { observedGeneration: generation, replicas: Math.max(replicas, Number(old["replicas"] ?? 0)), updatedReplicas: 0, readyReplicas: wasAvailable, availableReplicas: wasAvailable, conditions: [available(wasAvailable >= replicas && replicas > 0), progressing("ReplicaSetUpdated", `ReplicaSet "${revision}" is progressing.`)] });
        if (stuck.has(id)) return;
        later(rolloutDelay, () => {
          const done = now();
          if (Number(((store.get(key)?.object["metadata"] as JsonObject | undefined) ?? {})["generation"]) !== generation) return;
          setStatus(key, { observedGeneration: generation, replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas, conditions: [{ ...available(true), lastUpdateTime: done }, { ...progressing("NewReplicaSetAvailable", `ReplicaSet "${revision}" has successfully progressed.`), lastUpdateTime: done }] });
        });
      } else {
        const current = typeof old["currentRevision"] === "string" ? old["currentRevision"] : revision;
        setStatus(key, { observedGeneration: generation, replicas, readyReplicas: Number(old["readyReplicas"] ?? 0), currentReplicas: Number(old["currentReplicas"] ?? 0), updatedReplicas: 0, currentRevision: current, updateRevision: revision });
        if (stuck.has(id)) return;
        later(rolloutDelay, () => {
          if (Number(((store.get(key)?.object["metadata"] as JsonObject | undefined) ?? {})["generation"]) !== generation) return;
          setStatus(key, { observedGeneration: generation, replicas, readyReplicas: replicas, currentReplicas: replicas, updatedReplicas: replicas, availableReplicas: replicas, currentRevision: revision, updateRevision: revision });
        });
      }
    }
    const wantsLb = (s.type.kind === "Service" && spec["type"] === "LoadBalancer") || s.type.kind === "Ingress";
    const hasLb = isObject(s.object["status"]) && isObject(s.object["status"]["loadBalancer"]) && Array.isArray(s.object["status"]["loadBalancer"]["ingress"]);
    if (wantsLb && !hasLb) {
      later(lbDelay, () => {
        const ip = options.lbAddresses?.[id] ?? `198.18.200.${nextLbIp++}`;
        setStatus(key, { loadBalancer: { ingress: [s.type.kind === "Service" ? { ip, ipMode: "VIP" } : { ip }] } });
      });
    }
  };

  const typeOf = (group: string, version: string, plural: string): ResourceType => {
    const t = TYPES.find((x) => x.group === group && x.version === version && x.plural === plural);
    if (t === undefined) throw new HttpError(404, "NotFound", "the server could not find the requested resource");
    return t;
  };

  const notFound = (t: ResourceType, name: string): HttpError => new HttpError(404, "NotFound", `${qualified(t)} "${name}" not found`, { name, group: t.group, kind: t.plural });

  const invalid = (t: ResourceType, name: string, causes: { field: string; message: string }[]): HttpError =>
    new HttpError(422, "Invalid", `${kindQualified(t)} "${name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(", ")}`, { name, group: t.group, kind: t.kind, causes: causes.map((c) => ({ reason: "FieldValueInvalid", message: c.message, field: c.field })) });

  const apply = (t: ResourceType, namespace: string | undefined, name: string, body: string, query: URLSearchParams): { code: number; object: JsonObject } => {
    const manager = query.get("fieldManager") ?? "";
    if (manager === "") throw new HttpError(400, "BadRequest", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
    const force = query.get("force") === "true";
    const dryRun = query.get("dryRun") === "All";
    let applied: unknown;
    try {
      applied = parseYaml(body);
    } catch (err) {
      throw new HttpError(400, "BadRequest", `error decoding YAML: ${(err as Error).message}`);
    }
    if (!isObject(applied)) throw new HttpError(400, "BadRequest", "the body of an apply patch must be an object");
    const meta = isObject(applied["metadata"]) ? applied["metadata"] : {};
    if (applied["apiVersion"] !== gv(t) || applied["kind"] !== t.kind) throw new HttpError(400, "BadRequest", `the API version in the data (${JSON.stringify(applied["apiVersion"])}) and kind (${JSON.stringify(applied["kind"])}) do not match the URL (${gv(t)} ${t.kind})`);
    if (meta["name"] !== name) throw new HttpError(400, "BadRequest", "the name of the object does not match the name on the URL");
    if (t.namespaced && meta["namespace"] !== undefined && meta["namespace"] !== namespace) throw new HttpError(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request");
    if (t.namespaced) {
      const ns = store.get(storeKey(TYPES[0] as ResourceType, undefined, namespace ?? ""));
      if (ns === undefined) throw new HttpError(404, "NotFound", `namespaces "${namespace ?? ""}" not found`, { name: namespace ?? "", kind: "namespaces" });
    }
    if (!DNS1123.test(name) || name.length > 253) throw invalid(t, name, [{ field: "metadata.name", message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character` }]);

    const key = storeKey(t, namespace, name);
    const existing = store.get(key);
    const units = fieldUnits(applied);
    let next: JsonObject;
    const owners = new Map<string, { paths: Set<string>; time: string }>([...(existing?.owners ?? new Map<string, { paths: Set<string>; time: string }>())].map(([m, o]) => [m, { paths: new Set(o.paths), time: o.time }]));
    if (existing === undefined) {
      next = { apiVersion: gv(t), kind: t.kind, metadata: { name, ...(t.namespaced ? { namespace: namespace ?? "" } : {}) } };
      for (const [path, value] of units) setPath(next, path, value);
    } else {
      next = clone(existing.object);
      const conflicts: { manager: string; field: string }[] = [];
      for (const [path, value] of units) {
        if (equal(getPath(existing.object, path), value)) continue;
        for (const [other, o] of owners) if (other !== manager && o.paths.has(path)) conflicts.push({ manager: other, field: path });
      }
      if (conflicts.length > 0 && !force) {
        throw new HttpError(409, "Conflict", `Apply failed with ${conflicts.length} conflict${conflicts.length === 1 ? "" : "s"}: ${conflicts.map((c) => `conflict with "${c.manager}" using ${gv(t)}: ${c.field}`).join("; ")}`, {
          name,
          group: t.group,
          kind: t.plural,
          causes: conflicts.map((c) => ({ reason: "FieldManagerConflict", message: `conflict with "${c.manager}" using ${gv(t)}`, field: c.field })),
        });
      }
      for (const c of conflicts) owners.get(c.manager)?.paths.delete(c.field);
      const before = owners.get(manager)?.paths ?? new Set<string>();
      for (const path of before) {
        if (units.has(path)) continue;
        const sharedWith = [...owners].some(([m, o]) => m !== manager && o.paths.has(path));
        if (!sharedWith) deletePath(next, path);
      }
      for (const [path, value] of units) setPath(next, path, value);
    }
    const previousPaths = owners.get(manager)?.paths;
    const ownershipChanged = previousPaths === undefined || previousPaths.size !== units.size || [...units.keys()].some((p) => !previousPaths.has(p));
    owners.set(manager, { paths: new Set(units.keys()), time: ownershipChanged ? now() : (owners.get(manager)?.time ?? now()) });
    for (const [m, o] of owners) if (o.paths.size === 0 && m !== manager) owners.delete(m);

    // Server-side defaults the applier never sets (and does not own).
    if (t.kind === "Service") {
      const spec = (isObject(next["spec"]) ? next["spec"] : (next["spec"] = {}));
      spec["type"] ??= "ClusterIP";
      const kept = existing !== undefined && isObject(existing.object["spec"]) ? existing.object["spec"]["clusterIP"] : undefined;
      spec["clusterIP"] ??= kept ?? `10.43.0.${nextClusterIp++}`;
      spec["clusterIPs"] = [spec["clusterIP"]];
    }

    const contentChanged = existing === undefined || !equal({ ...next, status: null }, { ...existing.object, status: null });
    const specChanged = existing === undefined || !equal(next["spec"], existing.object["spec"]);
    const nmeta = next["metadata"] as JsonObject;
    if (existing === undefined) {
      nmeta["uid"] = randomUUID();
      nmeta["creationTimestamp"] = now();
      if (t.generation) nmeta["generation"] = 1;
    } else if (t.generation && specChanged) nmeta["generation"] = Number(nmeta["generation"] ?? 1) + 1;

    try {
      t.validate(next);
    } catch (err) {
      const errors = (err as { errors?: { instancePath?: string; message?: string }[] }).errors ?? [];
      throw invalid(t, name, errors.length > 0 ? errors.map((e) => ({ field: (e.instancePath ?? "").replace(/^\//, "").replaceAll("/", "."), message: `Invalid value: ${e.message ?? "invalid"}` })) : [{ field: "", message: (err as Error).message }]);
    }

    const changed = contentChanged || ownershipChanged;
    const candidate: Stored = { object: next, type: t, owners };
    if (!changed) return { code: 200, object: existing === undefined ? render(candidate) : render(existing) };
    if (dryRun) {
      if (existing === undefined) delete nmeta["resourceVersion"];
      return { code: existing === undefined ? 201 : 200, object: render(candidate) };
    }
    nmeta["resourceVersion"] = String(++resourceVersion);
    const before = existing?.object;
    store.set(key, candidate);
    react(key, before);
    return { code: existing === undefined ? 201 : 200, object: render(candidate) };
  };

  const remove = (t: ResourceType, namespace: string | undefined, name: string, query: URLSearchParams, body: string): JsonObject => {
    let policy = query.get("propagationPolicy");
    if (policy === null && body.trim() !== "") {
      const options: unknown = JSON.parse(body);
      if (isObject(options) && typeof options["propagationPolicy"] === "string") policy = options["propagationPolicy"];
    }
    if (policy !== null && !["Foreground", "Background", "Orphan"].includes(policy)) throw new HttpError(400, "BadRequest", `propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`);
    const key = storeKey(t, namespace, name);
    const existing = store.get(key);
    if (existing === undefined) throw notFound(t, name);
    if (query.get("dryRun") !== "All") {
      store.delete(key);
      // The namespace controller deletes everything in a deleted namespace.
      if (t.kind === "Namespace") for (const k of [...store.keys()]) if (k.split("|")[1] === name) store.delete(k);
    }
    return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details: { name, group: t.group, kind: t.plural, uid: (existing.object["metadata"] as JsonObject)["uid"] ?? null } };
  };

  const list = (t: ResourceType, namespace: string | undefined, query: URLSearchParams): JsonObject => {
    const requirements = parseSelector(query.get("labelSelector") ?? "");
    const items = [...store.values()]
      .filter((s) => s.type === t && (namespace === undefined || (s.object["metadata"] as JsonObject)["namespace"] === namespace))
      .filter((s) => {
        const labels = (s.object["metadata"] as JsonObject)["labels"];
        const map = isObject(labels) ? labels : {};
        return requirements.every((r) => r(map));
      })
      .sort((a, b) => stable((a.object["metadata"] as JsonObject)["name"]).localeCompare(stable((b.object["metadata"] as JsonObject)["name"])))
      .map((s) => {
        // List items carry no apiVersion/kind: they are the list's.
        const item = render(s);
        removeKey(item, "apiVersion");
        removeKey(item, "kind");
        return item;
      });
    const offset = Number(query.get("continue") ?? 0);
    const limit = Number(query.get("limit") ?? 0);
    const page = limit > 0 ? items.slice(offset, offset + limit) : items.slice(offset);
    const more = limit > 0 && offset + limit < items.length;
    return { kind: `${t.kind}List`, apiVersion: gv(t), metadata: { resourceVersion: String(resourceVersion), ...(more ? { continue: String(offset + limit) } : {}) }, items: page };
  };

  const discovery = (group: string, version: string): JsonObject | undefined => {
    const types = TYPES.filter((t) => t.group === group && t.version === version);
    if (types.length === 0) return undefined;
    return {
      kind: "APIResourceList",
      apiVersion: "v1",
      groupVersion: group === "" ? version : `${group}/${version}`,
      resources: types.map((t) => ({ name: t.plural, singularName: t.kind.toLowerCase(), namespaced: t.namespaced, kind: t.kind, verbs: ["create", "delete", "get", "list", "patch", "update", "watch"] })),
    };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "https://127.0.0.1");
    const entry: StandinRequest = { method: req.method ?? "", path: url.pathname, query: Object.fromEntries(url.searchParams), contentType: req.headers["content-type"], status: 0 };
    requests.push(entry);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const send = (code: number, payload: JsonObject): void => {
      entry.status = code;
      res.writeHead(code, { "content-type": "application/json" });
      res.end(JSON.stringify(payload));
    };
    try {
      if (req.headers.authorization !== `Bearer ${token}`) throw new HttpError(401, "Unauthorized", "Unauthorized");
      const path = url.pathname;
      let m = /^\/api\/(v1)$/.exec(path) ?? /^\/apis\/([^/]+\/[^/]+)$/.exec(path);
      if (m !== null && req.method === "GET") {
        const [group, version] = (m[1] ?? "").includes("/") ? ((m[1] ?? "").split("/") as [string, string]) : ["", m[1] ?? ""];
        const d = discovery(group, version);
        if (d === undefined) throw new HttpError(404, "NotFound", "the server could not find the requested resource");
        return send(200, d);
      }
      m = /^\/api\/(v1)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?$/.exec(path);
      let group = "";
      let version = "";
      let namespace: string | undefined;
      let plural = "";
      let name: string | undefined;
      if (m !== null) [, version = "", namespace, plural = "", name] = m;
      else {
        m = /^\/apis\/([^/]+)\/([^/]+)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?$/.exec(path);
        if (m === null) throw new HttpError(404, "NotFound", "the server could not find the requested resource");
        [, group = "", version = "", namespace, plural = "", name] = m;
      }
      const t = typeOf(group, version, plural);
      if (t.namespaced && name !== undefined && namespace === undefined) throw new HttpError(404, "NotFound", "the server could not find the requested resource");
      if (!t.namespaced && namespace !== undefined) throw new HttpError(404, "NotFound", "the server could not find the requested resource");
      if (name === undefined) {
        if (req.method === "GET") return send(200, list(t, namespace, url.searchParams));
        throw new HttpError(405, "MethodNotAllowed", `the stand-in does not implement ${req.method ?? ""} on a collection`);
      }
      switch (req.method) {
        case "GET": {
          const s = store.get(storeKey(t, namespace, name));
          if (s === undefined) throw notFound(t, name);
          return send(200, render(s));
        }
        case "PATCH": {
          const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim();
          if (type !== "application/apply-patch+yaml") throw new HttpError(415, "UnsupportedMediaType", `the stand-in implements only server-side apply (application/apply-patch+yaml), not ${type ?? "(none)"}`);
          const { code, object } = apply(t, namespace, name, body, url.searchParams);
          return send(code, object);
        }
        case "DELETE":
          return send(200, remove(t, namespace, name, url.searchParams, body));
        default:
          throw new HttpError(405, "MethodNotAllowed", `the stand-in does not implement ${req.method ?? ""}`);
      }
    } catch (err) {
      if (err instanceof HttpError) return send(err.code, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: err.message, reason: err.reason, details: err.details, code: err.code });
      return send(500, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: `stand-in error: ${(err as Error).message}`, reason: "InternalError", code: 500 });
    }
  };

  const server: Server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      res.destroy(err instanceof Error ? err : new Error(String(err)));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const port = (server.address() as AddressInfo).port;
  const url = `https://127.0.0.1:${port}`;

  return {
    url,
    ca: tls.cert,
    token,
    requests,
    writes: () => requests.filter((r) => ["PATCH", "POST", "PUT", "DELETE"].includes(r.method) && r.query["dryRun"] !== "All"),
    kubeconfig: (o = {}) =>
      [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        "- name: standin",
        "  cluster:",
        `    server: ${url}`,
        `    certificate-authority-data: ${Buffer.from(o.ca ?? tls.cert).toString("base64")}`,
        ...(o.skipTlsVerify === true ? ["    insecure-skip-tls-verify: true"] : []),
        "users:",
        "- name: edgelab",
        "  user:",
        `    token: ${o.token ?? token}`,
        "contexts:",
        "- name: standin",
        "  context: {cluster: standin, user: edgelab}",
        "current-context: standin",
        "",
      ].join("\n"),
    stored: (apiVersion, kind, name, namespace) => {
      const t = TYPES.find((x) => gv(x) === apiVersion && x.kind === kind);
      const s = t === undefined ? undefined : store.get(storeKey(t, namespace, name));
      return s === undefined ? undefined : render(s);
    },
    send: (method, path, body, contentType) =>
      new Promise((resolve, reject) => {
        const r = request(`${url}${path}`, { method, ca: tls.cert, headers: { authorization: `Bearer ${token}`, ...(contentType === undefined ? {} : { "content-type": contentType }) } }, (res) => {
          const parts: Buffer[] = [];
          res.on("data", (d: Buffer) => parts.push(d));
          res.on("end", () => {
            const parsed: unknown = JSON.parse(Buffer.concat(parts).toString("utf8"));
            resolve({ status: res.statusCode ?? 0, body: isObject(parsed) ? parsed : {} });
          });
        });
        r.on("error", reject);
        r.end(body);
      }),
    close: async () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

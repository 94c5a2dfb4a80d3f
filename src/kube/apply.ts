/**
 * Applying a lab's objects with server-side apply: in dependency order, writing only what
 * changes, pruning what edgelab applied before but no longer renders, and waiting (bounded) for
 * rollouts and LoadBalancer addresses.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { EdgelabError } from "../errors.js";
import { describeRef, FIELD_MANAGER, refOf, type KubeClient, type KubeObject, type ObjectRef, type PropagationPolicy } from "./client.js";

export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MANAGED_BY = "edgelab";
export const LAB_LABEL = "edgelab.dev/lab";

/** The label selector of one lab's objects. */
export function labSelector(lab: string): string {
  return `${MANAGED_BY_LABEL}=${MANAGED_BY},${LAB_LABEL}=${lab}`;
}

/**
 * Kinds in the order they are applied: namespaces, then policies and configuration the
 * workloads need, then services, workloads, and what routes to them. Kinds not listed (custom
 * resources) come last, in the order given. Pruning walks the list backwards.
 */
export const KIND_ORDER: readonly (readonly [apiVersion: string, kind: string])[] = [
  ["v1", "Namespace"],
  ["networking.k8s.io/v1", "NetworkPolicy"],
  ["v1", "ResourceQuota"],
  ["v1", "LimitRange"],
  ["v1", "ServiceAccount"],
  ["rbac.authorization.k8s.io/v1", "Role"],
  ["rbac.authorization.k8s.io/v1", "RoleBinding"],
  ["v1", "Secret"],
  ["v1", "ConfigMap"],
  ["v1", "PersistentVolumeClaim"],
  ["v1", "Service"],
  ["apps/v1", "DaemonSet"],
  ["apps/v1", "Deployment"],
  ["apps/v1", "StatefulSet"],
  ["networking.k8s.io/v1", "Ingress"],
];

/** Kinds never pruned: deleting them loses data (recordings on a claim). */
export const NEVER_PRUNED: ReadonlySet<string> = new Set(["PersistentVolumeClaim"]);

function rank(kind: string): number {
  const i = KIND_ORDER.findIndex(([, k]) => k === kind);
  return i < 0 ? KIND_ORDER.length : i;
}

/** Stable sort by kind order (objects of one kind keep their given order). */
export function dependencyOrder<T extends Pick<KubeObject, "kind">>(objects: readonly T[]): T[] {
  return objects.map((o, i) => ({ o, i })).sort((a, b) => rank(a.o.kind) - rank(b.o.kind) || a.i - b.i).map((x) => x.o);
}

function group(apiVersion: string): string {
  return apiVersion.includes("/") ? (apiVersion.split("/")[0] ?? "") : "";
}

function key(ref: ObjectRef): string {
  return `${group(ref.apiVersion)}|${ref.kind}|${ref.namespace ?? ""}|${ref.name}`;
}

export type ApplyAction = "created" | "configured" | "unchanged" | "pruned" | "kept";

export interface ApplyEntry {
  readonly ref: ObjectRef;
  readonly action: ApplyAction;
  /** Why, when it is not obvious (dry run of a new namespace's objects, a claim kept). */
  readonly note?: string;
}

export interface ApplyOptions {
  /** The lab's name: its objects carry edgelab.dev/lab=<lab>. */
  readonly lab: string;
  /** Server-side dry run (dryRun=All): nothing is persisted. */
  readonly dryRun: boolean;
  /** Take over fields another field manager owns (server-side apply force). */
  readonly force: boolean;
  /** Delete this lab's objects that are not in the set. */
  readonly prune: boolean;
  readonly propagationPolicy?: PropagationPolicy;
  /** Kinds looked at when pruning, besides those in the set. Default: KIND_ORDER. */
  readonly pruneKinds?: readonly (readonly [apiVersion: string, kind: string])[];
  readonly onEntry?: (entry: ApplyEntry) => void;
}

export interface ApplyResult {
  readonly entries: readonly ApplyEntry[];
  /** Each applied object as the server holds it (or would, in a dry run), in apply order. */
  readonly objects: readonly KubeObject[];
}

/** The object with this lab's labels set; an object labelled for another lab is refused. */
export function withLabLabels(object: KubeObject, lab: string): KubeObject {
  const labels = object.metadata.labels ?? {};
  const other = labels[LAB_LABEL];
  if (other !== undefined && other !== lab) {
    throw new EdgelabError(`${describeRef(refOf(object))} is labelled for lab '${other}', not '${lab}'`, { hint: `Render it for this lab, or leave the ${LAB_LABEL} label to edgelab.` });
  }
  return { ...object, metadata: { ...object.metadata, labels: { ...labels, [MANAGED_BY_LABEL]: MANAGED_BY, [LAB_LABEL]: lab } } };
}

/**
 * What a write would change, compared without server bookkeeping: versions, status (the
 * controllers write it at any time), other managers' entries and timestamps. edgelab's own
 * managedFields entry stays: applying fewer fields is a change even when the values are equal.
 */
function comparable(object: KubeObject): unknown {
  const without = (o: object, keys: readonly string[]): Record<string, unknown> => Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));
  const ours = (object.metadata.managedFields ?? []).filter((m) => m.manager === FIELD_MANAGER && m.subresource === undefined).map((m) => without(m, ["time"]));
  return { ...without(object, ["status", "metadata"]), metadata: { ...without(object.metadata, ["resourceVersion", "generation", "managedFields"]), managedFields: ours } };
}

function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (v !== null && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v));
}

/**
 * Applies `objects` (validated by the caller) in dependency order and prunes what this lab had
 * but no longer has. An object that exists is first applied as a server-side dry run; when the
 * server says nothing would change, nothing is written. A 409 conflict stops the run with a
 * KubeConflictError naming the other manager and the fields.
 */
export async function applyObjects(client: KubeClient, objects: readonly KubeObject[], options: ApplyOptions): Promise<ApplyResult> {
  const entries: ApplyEntry[] = [];
  const applied: KubeObject[] = [];
  const report = (entry: ApplyEntry): void => {
    entries.push(entry);
    options.onEntry?.(entry);
  };
  const ordered = dependencyOrder(objects.map((o) => withLabLabels(o, options.lab)));
  const seen = new Set<string>();
  for (const o of ordered) {
    const k = key(refOf(o));
    if (seen.has(k)) throw new EdgelabError(`${describeRef(refOf(o))} is in the set twice`, { hint: "Each object must be rendered once." });
    seen.add(k);
  }
  // In a dry run, objects in a namespace that does not exist yet cannot be checked by the server.
  const newNamespaces = new Set<string>();

  for (const object of ordered) {
    const ref = refOf(object);
    if (options.dryRun && ref.namespace !== undefined && newNamespaces.has(ref.namespace)) {
      report({ ref, action: "created", note: `not checked by the server: namespace ${ref.namespace} does not exist yet` });
      applied.push(object);
      continue;
    }
    const current = await client.get(ref);
    if (current === undefined) {
      const result = await client.apply(object, { force: options.force, dryRun: options.dryRun });
      if (options.dryRun && object.kind === "Namespace") newNamespaces.add(object.metadata.name);
      report({ ref, action: "created" });
      applied.push(result);
      continue;
    }
    const preview = await client.apply(object, { force: options.force, dryRun: true });
    if (stableJson(comparable(preview)) === stableJson(comparable(current))) {
      report({ ref, action: "unchanged" });
      applied.push(current);
      continue;
    }
    if (options.dryRun) {
      report({ ref, action: "configured" });
      applied.push(preview);
      continue;
    }
    const result = await client.apply(object, { force: options.force, dryRun: false });
    report({ ref, action: "configured" });
    applied.push(result);
  }

  if (options.prune) {
    const kinds = new Map<string, readonly [string, string]>();
    for (const [apiVersion, kind] of options.pruneKinds ?? KIND_ORDER) kinds.set(`${group(apiVersion)}|${kind}`, [apiVersion, kind]);
    for (const o of ordered) kinds.set(`${group(o.apiVersion)}|${o.kind}`, [o.apiVersion, o.kind]);
    const byKind = dependencyOrder([...kinds.values()].map(([apiVersion, kind]) => ({ apiVersion, kind }))).reverse();
    for (const { apiVersion, kind } of byKind) {
      const found = await client.list(apiVersion, kind, labSelector(options.lab));
      for (const item of found) {
        const labels = item.metadata.labels ?? {};
        // Never trust the selector alone: only this lab's objects, only edgelab's.
        if (labels[MANAGED_BY_LABEL] !== MANAGED_BY || labels[LAB_LABEL] !== options.lab) continue;
        const ref = refOf(item);
        if (seen.has(key(ref)) || item.metadata.deletionTimestamp !== undefined) continue;
        if (NEVER_PRUNED.has(kind)) {
          report({ ref, action: "kept", note: "no longer rendered, but it may hold data: delete it yourself when it is not needed" });
          continue;
        }
        await client.delete(ref, { propagationPolicy: options.propagationPolicy ?? "Background", dryRun: options.dryRun });
        report({ ref, action: "pruned" });
      }
    }
  }
  return { entries, objects: applied };
}

/* ---------------------------------------------------------------- waits */

interface Condition {
  readonly type?: unknown;
  readonly status?: unknown;
  readonly reason?: unknown;
  readonly message?: unknown;
  readonly lastUpdateTime?: unknown;
  readonly lastTransitionTime?: unknown;
}

export interface Readiness {
  readonly ready: boolean;
  /** What is awaited or was found, e.g. "2 of 3 updated replicas are available". */
  readonly detail: string;
  /** The object's most recent condition, formatted; undefined when it has none. */
  readonly lastCondition: string | undefined;
  /** The LoadBalancer address, for Services and Ingresses. */
  readonly ip?: string;
  /** True when waiting longer cannot help (progress deadline exceeded). */
  readonly failed?: boolean;
}

function record(value: unknown): Readonly<Record<string, unknown>> {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function num(value: unknown, fallback = 0): number {
  return typeof value === "number" ? value : fallback;
}

function conditions(status: Readonly<Record<string, unknown>>): Condition[] {
  return Array.isArray(status["conditions"]) ? (status["conditions"] as unknown[]).map(record) : [];
}

function formatCondition(c: Condition): string {
  const text = (v: unknown): string => (typeof v === "string" ? v : "");
  const reason = text(c.reason);
  const message = text(c.message);
  return `${text(c.type)}=${text(c.status)}${reason === "" ? "" : ` (${reason})`}${message === "" ? "" : `: ${message}`}`;
}

/** The condition updated last (by lastUpdateTime, else lastTransitionTime; else the last listed). */
function lastCondition(list: readonly Condition[]): string | undefined {
  if (list.length === 0) return undefined;
  const time = (c: Condition): string => (typeof c.lastUpdateTime === "string" ? c.lastUpdateTime : typeof c.lastTransitionTime === "string" ? c.lastTransitionTime : "");
  let best = list[list.length - 1] as Condition;
  for (const c of list) if (time(c) > time(best)) best = c;
  return formatCondition(best);
}

function lbIp(status: Readonly<Record<string, unknown>>): string | undefined {
  const ingress = record(status["loadBalancer"])["ingress"];
  const first = Array.isArray(ingress) ? record(ingress[0]) : {};
  return typeof first["ip"] === "string" ? first["ip"] : undefined;
}

/** Whether `object` is what a wait is for: undefined when there is nothing to wait for. Pure. */
export function readiness(object: KubeObject): Readiness | undefined {
  const spec = record(object["spec"]);
  const status = record(object["status"]);
  const conds = conditions(status);
  const last = lastCondition(conds);
  const generation = num(object.metadata.generation);
  const observed = num(status["observedGeneration"], -1);
  const waitingGen = (): Readiness => ({ ready: false, detail: `the controller has not yet seen generation ${generation} (observed ${observed < 0 ? "none" : observed})`, lastCondition: last });
  switch (object.kind) {
    case "Deployment": {
      if (observed < generation) return waitingGen();
      const progressing = conds.find((c) => c.type === "Progressing");
      if (progressing?.reason === "ProgressDeadlineExceeded") return { ready: false, failed: true, detail: "the rollout exceeded its progress deadline", lastCondition: formatCondition(progressing) };
      const want = num(spec["replicas"], 1);
      const updated = num(status["updatedReplicas"]);
      const total = num(status["replicas"]);
      const available = num(status["availableReplicas"]);
      if (updated < want) return { ready: false, detail: `${updated} of ${want} replicas updated`, lastCondition: last };
      if (total > updated) return { ready: false, detail: `${total - updated} old replicas pending termination`, lastCondition: last };
      if (available < updated) return { ready: false, detail: `${available} of ${updated} updated replicas available`, lastCondition: last };
      return { ready: true, detail: `${available} of ${want} replicas available`, lastCondition: last };
    }
    case "StatefulSet": {
      if (observed < generation) return waitingGen();
      const want = num(spec["replicas"], 1);
      const ready = num(status["readyReplicas"]);
      const updated = num(status["updatedReplicas"]);
      if (updated < want) return { ready: false, detail: `${updated} of ${want} pods updated`, lastCondition: last };
      if (ready < want) return { ready: false, detail: `${ready} of ${want} pods ready`, lastCondition: last };
      if (status["updateRevision"] !== undefined && status["currentRevision"] !== status["updateRevision"]) {
        return { ready: false, detail: `pods still moving to revision ${JSON.stringify(status["updateRevision"])}`, lastCondition: last };
      }
      return { ready: true, detail: `${ready} of ${want} pods ready`, lastCondition: last };
    }
    case "Service": {
      if (spec["type"] !== "LoadBalancer") return undefined;
      const ip = lbIp(status);
      return ip === undefined ? { ready: false, detail: "no LoadBalancer address assigned yet", lastCondition: last } : { ready: true, detail: `LoadBalancer address ${ip}`, lastCondition: last, ip };
    }
    case "Ingress": {
      const ip = lbIp(status);
      return ip === undefined ? { ready: false, detail: "no LoadBalancer address assigned yet", lastCondition: last } : { ready: true, detail: `address ${ip}`, lastCondition: last, ip };
    }
    default:
      return undefined;
  }
}

export interface WaitOptions {
  readonly timeoutMs: number;
  readonly intervalMs: number;
  readonly onProgress?: (ref: ObjectRef, state: Readiness) => void;
}

export interface WaitResult {
  readonly ref: ObjectRef;
  readonly detail: string;
  readonly ip?: string;
  readonly ms: number;
}

/** One or more waits did not finish; the message names each object and its last condition. */
export class KubeWaitError extends EdgelabError {
  override readonly name = "KubeWaitError";
  readonly pending: readonly { readonly ref: ObjectRef; readonly state: Readiness | undefined }[];
  constructor(message: string, pending: KubeWaitError["pending"], hint: string) {
    super(message, { hint });
    this.pending = pending;
  }
}

function describeState(ref: ObjectRef, state: Readiness | undefined): string {
  if (state === undefined) return `${describeRef(ref)}: it no longer exists`;
  return `${describeRef(ref)}: ${state.detail}; last condition: ${state.lastCondition ?? "none reported"}`;
}

/**
 * Waits until every object there is something to wait for is ready: Deployments and
 * StatefulSets rolled out, LoadBalancer Services and Ingresses given an address. Bounded by
 * `timeoutMs` for all of them together; polls each every `intervalMs`.
 */
export async function waitForObjects(client: KubeClient, objects: readonly KubeObject[], options: WaitOptions): Promise<WaitResult[]> {
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const waitables = objects.filter((o) => readiness(o) !== undefined).map(refOf);
  const failures: { ref: ObjectRef; state: Readiness | undefined; failed: boolean }[] = [];
  const results = await Promise.all(
    waitables.map(async (ref): Promise<WaitResult | undefined> => {
      let state: Readiness | undefined;
      for (;;) {
        const object = await client.get(ref);
        state = object === undefined ? undefined : readiness(object);
        if (state !== undefined) options.onProgress?.(ref, state);
        if (state?.ready === true) return { ref, detail: state.detail, ms: Date.now() - started, ...(state.ip === undefined ? {} : { ip: state.ip }) };
        if (state === undefined || state.failed === true || Date.now() >= deadline) {
          failures.push({ ref, state, failed: state?.failed === true || state === undefined });
          return undefined;
        }
        await sleep(Math.min(options.intervalMs, Math.max(0, deadline - Date.now())));
      }
    }),
  );
  if (failures.length > 0) {
    const timedOut = failures.some((f) => !f.failed);
    const lines = failures.map((f) => describeState(f.ref, f.state));
    const seconds = Math.round(options.timeoutMs / 100) / 10;
    throw new KubeWaitError(
      timedOut ? `not ready after ${seconds} s: ${lines.join(" | ")}` : `failed: ${lines.join(" | ")}`,
      failures.map(({ ref, state }) => ({ ref, state })),
      "See the object's events: kubectl -n <namespace> describe <kind> <name> (image pull errors, unschedulable pods, an empty LoadBalancer pool). Raise the timeout if the cluster is just slow.",
    );
  }
  return results.filter((r): r is WaitResult => r !== undefined);
}

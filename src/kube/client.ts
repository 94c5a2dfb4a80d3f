/**
 * The Kubernetes API as edgelab uses it: server-side apply, get, list by label, delete. One
 * interface (KubeClient) so the apply logic runs against any implementation; the real one is
 * @kubernetes/client-node from a kubeconfig, with TLS verified as the kubeconfig's CA says.
 */
import { ApiException, KubeConfig, KubernetesObjectApi, PatchStrategy, V1ObjectMeta, type KubernetesObject } from "@kubernetes/client-node";
import { z } from "zod";
import { EdgelabError, EXIT_USAGE } from "../errors.js";

export const FIELD_MANAGER = "edgelab";

export interface ManagedFieldsEntry {
  readonly manager?: string;
  readonly operation?: string;
  readonly apiVersion?: string;
  readonly time?: string;
  readonly fieldsType?: string;
  readonly fieldsV1?: unknown;
  readonly subresource?: string;
}

export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly resourceVersion?: string;
  readonly generation?: number;
  readonly uid?: string;
  readonly creationTimestamp?: string;
  readonly deletionTimestamp?: string;
  readonly managedFields?: readonly ManagedFieldsEntry[];
}

/** Any Kubernetes object, as JSON. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: ObjectMeta;
  readonly [field: string]: unknown;
}

export interface ObjectRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string | undefined;
}

export type PropagationPolicy = "Foreground" | "Background" | "Orphan";

export interface KubeClient {
  /** Server-side apply (PATCH application/apply-patch+yaml, fieldManager=edgelab). Returns the object as the server holds it (or would, under dryRun). */
  apply(object: KubeObject, options: { readonly force: boolean; readonly dryRun: boolean }): Promise<KubeObject>;
  /** undefined when the object does not exist. */
  get(ref: ObjectRef): Promise<KubeObject | undefined>;
  /** Every object of a kind matching `labelSelector`, in all namespaces (or one). */
  list(apiVersion: string, kind: string, labelSelector: string, namespace?: string): Promise<KubeObject[]>;
  delete(ref: ObjectRef, options: { readonly propagationPolicy: PropagationPolicy; readonly dryRun: boolean }): Promise<void>;
}

export function refOf(object: Pick<KubeObject, "apiVersion" | "kind" | "metadata">): ObjectRef {
  return { apiVersion: object.apiVersion, kind: object.kind, name: object.metadata.name, namespace: object.metadata.namespace };
}

/** "Deployment edge/edge-cache" (namespace/name), for messages. */
export function describeRef(ref: ObjectRef): string {
  return `${ref.kind} ${ref.namespace === undefined ? "" : `${ref.namespace}/`}${ref.name}`;
}

/** One field another manager owns, from a 409 Conflict. */
export interface FieldConflict {
  readonly manager: string;
  readonly field: string;
}

/** The API server refused a request; `status` is the HTTP code, `reason` the Status reason. */
export class KubeApiError extends EdgelabError {
  override readonly name: string = "KubeApiError";
  readonly status: number;
  readonly reason: string;
  readonly causes: readonly { readonly reason?: string; readonly message?: string; readonly field?: string }[];
  constructor(message: string, details: { status: number; reason: string; causes: KubeApiError["causes"]; hint?: string; cause?: unknown }) {
    super(message, { hint: details.hint, cause: details.cause });
    this.status = details.status;
    this.reason = details.reason;
    this.causes = details.causes;
  }
}

/** Server-side apply found fields owned by other managers (HTTP 409). */
export class KubeConflictError extends KubeApiError {
  override readonly name = "KubeConflictError";
  readonly conflicts: readonly FieldConflict[];
  constructor(ref: ObjectRef, conflicts: readonly FieldConflict[], serverMessage: string, cause?: unknown) {
    const byManager = new Map<string, string[]>();
    for (const c of conflicts) byManager.set(c.manager, [...(byManager.get(c.manager) ?? []), c.field]);
    const list = [...byManager].map(([m, fields]) => `"${m}" owns ${fields.join(", ")}`).join("; ");
    super(`${describeRef(ref)}: apply conflicts with another field manager: ${list || serverMessage}`, {
      status: 409,
      reason: "Conflict",
      causes: conflicts.map((c) => ({ reason: "FieldManagerConflict", message: `conflict with "${c.manager}"`, field: c.field })),
      hint: `Another tool changed these fields after edgelab set them. Let edgelab own them again with --force-conflicts, or stop the other manager from managing them (kubectl ... --field-manager=${[...byManager.keys()][0] ?? "<manager>"}).`,
      cause,
    });
    this.conflicts = conflicts;
  }
}

const StatusBody = z.looseObject({
  message: z.string().optional(),
  reason: z.string().optional(),
  code: z.number().optional(),
  details: z
    .looseObject({
      causes: z.array(z.looseObject({ reason: z.string().optional(), message: z.string().optional(), field: z.string().optional() })).optional(),
    })
    .optional(),
});

const ObjectJson = z.looseObject({
  apiVersion: z.string(),
  kind: z.string(),
  metadata: z.looseObject({ name: z.string() }),
});

const ListJson = z.looseObject({
  metadata: z.looseObject({ continue: z.string().optional() }).optional(),
  items: z.array(z.looseObject({ metadata: z.looseObject({ name: z.string() }) })),
});

/** The server's objects as plain JSON (client-node deserialises into classes with Dates). */
function plain(value: unknown, what: string): KubeObject {
  const parsed = ObjectJson.safeParse(JSON.parse(JSON.stringify(value)));
  if (!parsed.success) throw new EdgelabError(`the API server returned something that is not a Kubernetes object for ${what}`, { hint: parsed.error.issues[0]?.message });
  return parsed.data;
}

/** `conflict with "kubectl" using apps/v1` → kubectl */
function conflictManager(message: string): string {
  return /conflict with "([^"]+)"/.exec(message)?.[1] ?? "another manager";
}

export function toKubeError(err: unknown, ref: ObjectRef, action: string, server: string): EdgelabError {
  if (err instanceof EdgelabError) return err;
  if (err instanceof ApiException) {
    const body: unknown = err.body;
    let status: z.infer<typeof StatusBody> = {};
    if (typeof body === "string") {
      try {
        const parsed = StatusBody.safeParse(JSON.parse(body));
        if (parsed.success) status = parsed.data;
      } catch (parseError) {
        status = { message: `${body.slice(0, 200)} (${(parseError as Error).message})` };
      }
    } else {
      const parsed = StatusBody.safeParse(body);
      if (parsed.success) status = parsed.data;
    }
    const code = typeof err.code === "number" ? err.code : 0;
    const causes = status.details?.causes ?? [];
    const message = status.message ?? `HTTP ${code}`;
    if (code === 409 && causes.some((c) => c.reason === "FieldManagerConflict")) {
      return new KubeConflictError(
        ref,
        causes.filter((c) => c.reason === "FieldManagerConflict").map((c) => ({ manager: conflictManager(c.message ?? ""), field: c.field ?? "?" })),
        message,
        err,
      );
    }
    const hints: Record<number, string> = {
      401: "The kubeconfig's credentials were not accepted; get a fresh kubeconfig from the cluster (/etc/rancher/k3s/k3s.yaml on a server).",
      403: "The kubeconfig's user may not do this; edgelab needs rights to manage its objects in its namespace (cluster-admin on a lab cluster).",
      404: "A namespace or the object's kind is missing; is the namespace applied first, or the CRD installed?",
      422: "The object does not pass the API server's validation; the message names the field.",
    };
    return new KubeApiError(`${describeRef(ref)}: ${action} refused by ${server}: ${message}`, { status: code, reason: status.reason ?? "", causes, hint: hints[code], cause: err });
  }
  const e = err instanceof Error ? err : new Error(String(err));
  const code = (e as NodeJS.ErrnoException).code ?? (e.cause as NodeJS.ErrnoException | undefined)?.code ?? "";
  const tls = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|TLS|SSL/i.test(`${code} ${e.message} ${(e.cause as Error | undefined)?.message ?? ""}`);
  if (/Unrecognized API version and kind/.test(e.message)) {
    return new EdgelabError(`${describeRef(ref)}: the API server at ${server} does not serve ${ref.apiVersion} ${ref.kind}`, { hint: "Install the CRD that defines it (e.g. Cilium's), or check the apiVersion.", cause: e });
  }
  return new EdgelabError(`${describeRef(ref)}: ${action} failed: cannot reach the API server at ${server}: ${e.message}${code === "" ? "" : ` (${code})`}`, {
    hint: tls ? "The server's certificate is not signed by the kubeconfig's certificate-authority-data; get the kubeconfig from the cluster again. edgelab never skips TLS verification." : "Check the kubeconfig's server address and that the cluster is up.",
    cause: e,
  });
}

/** Loads a kubeconfig (its text) and checks it verifies TLS. */
export function loadKubeConfig(text: string, source: string, context?: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromString(text);
  } catch (err) {
    throw new EdgelabError(`kubeconfig ${source} cannot be read: ${(err as Error).message}`, { hint: "Give the kubeconfig the cluster wrote (K3s: /etc/rancher/k3s/k3s.yaml), with its server address.", exitCode: EXIT_USAGE, cause: err });
  }
  if (context !== undefined) {
    if (kc.getContextObject(context) === null) throw new EdgelabError(`kubeconfig ${source} has no context '${context}'`, { hint: `Contexts: ${kc.getContexts().map((c) => c.name).join(", ") || "none"}.`, exitCode: EXIT_USAGE });
    kc.setCurrentContext(context);
  }
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new EdgelabError(`kubeconfig ${source} has no current cluster`, { hint: "Set current-context, or pass the context to use.", exitCode: EXIT_USAGE });
  if (cluster.skipTLSVerify) {
    throw new EdgelabError(`kubeconfig ${source}: cluster '${cluster.name}' sets insecure-skip-tls-verify; edgelab does not talk to an API server it cannot verify`, {
      hint: "Put the cluster's CA in certificate-authority-data (K3s: the kubeconfig in /etc/rancher/k3s/k3s.yaml has it) and remove insecure-skip-tls-verify.",
      exitCode: EXIT_USAGE,
    });
  }
  if (!cluster.server.startsWith("https://")) {
    throw new EdgelabError(`kubeconfig ${source}: cluster '${cluster.name}' is served over ${cluster.server.split(":")[0] ?? "?"}, not HTTPS`, { hint: "Use the API server's https:// address.", exitCode: EXIT_USAGE });
  }
  return kc;
}

/** The KubeClient over @kubernetes/client-node. */
export function kubeClient(kc: KubeConfig): KubeClient {
  const api = KubernetesObjectApi.makeApiClient(kc);
  const server = kc.getCurrentCluster()?.server ?? "?";
  // client-node fills in missing fields (the default namespace) on what it is given: pass copies.
  const header = (ref: ObjectRef): KubernetesObject & { metadata: { name: string } } => {
    const metadata = Object.assign(new V1ObjectMeta(), { name: ref.name }, ref.namespace === undefined ? {} : { namespace: ref.namespace });
    return { apiVersion: ref.apiVersion, kind: ref.kind, metadata };
  };
  return {
    async apply(object, options) {
      const ref = refOf(object);
      try {
        const result = await api.patch(structuredClone(object) as KubernetesObject, undefined, options.dryRun ? "All" : undefined, FIELD_MANAGER, options.force, PatchStrategy.ServerSideApply);
        return plain(result, describeRef(ref));
      } catch (err) {
        throw toKubeError(err, ref, options.dryRun ? "apply (dry run)" : "apply", server);
      }
    },
    async get(ref) {
      try {
        return plain(await api.read(header(ref)), describeRef(ref));
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return undefined;
        throw toKubeError(err, ref, "get", server);
      }
    },
    async list(apiVersion, kind, labelSelector, namespace) {
      const items: KubeObject[] = [];
      let token: string | undefined;
      do {
        let page: unknown;
        try {
          page = await api.list(apiVersion, kind, namespace, undefined, undefined, undefined, undefined, labelSelector, 500, token);
        } catch (err) {
          throw toKubeError(err, { apiVersion, kind, name: `(list ${labelSelector})`, namespace }, "list", server);
        }
        const parsed = ListJson.safeParse(JSON.parse(JSON.stringify(page)));
        if (!parsed.success) throw new EdgelabError(`the API server's list of ${kind} is malformed`, { hint: parsed.error.issues[0]?.message });
        // List items carry no apiVersion/kind on the wire: they are the list's.
        for (const item of parsed.data.items) items.push({ ...item, apiVersion, kind });
        token = parsed.data.metadata?.continue || undefined;
      } while (token !== undefined);
      return items;
    },
    async delete(ref, options) {
      try {
        await api.delete(header(ref), undefined, options.dryRun ? "All" : undefined, undefined, undefined, options.propagationPolicy);
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return;
        throw toKubeError(err, ref, "delete", server);
      }
    },
  };
}

/**
 * Server-side apply, pruning and waits through @kubernetes/client-node against the Kubernetes
 * API server STAND-IN (test/helpers/kube-apiserver-standin.ts) over verified HTTPS.
 */
import { createHash } from "node:crypto";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { PersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";
import { Service } from "kubernetes-models/v1/Service";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { Ingress } from "kubernetes-models/networking.k8s.io/v1/Ingress";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyObjects, waitForObjects, type ApplyEntry } from "../../src/kube/apply.js";
import { KubeApiError, kubeClient, loadKubeConfig, type KubeClient, type KubeObject } from "../../src/kube/client.js";
import { selfSignedCertificate } from "../../src/providers/proxmox/tls.js";
import { rejection } from "../helpers/rejection.js";
import { startKubeApiserverStandin, type KubeApiserverStandin } from "../helpers/kube-apiserver-standin.js";

const NS = "edgelab-test";
const LAB = "test";
const labels = { "app.kubernetes.io/managed-by": "edgelab", "edgelab.dev/lab": LAB };

function hashOf(data: Record<string, string>): string {
  return createHash("sha256").update(JSON.stringify(data)).digest("hex").slice(0, 16);
}

/** A small lab: namespace, config, edge Deployment carrying the config's hash, Service, Ingress. */
function labObjects(config: Record<string, string>, extra: { service?: boolean; replicas?: number } = {}): KubeObject[] {
  const objects = [
    new Namespace({ metadata: { name: NS, labels } }),
    new ConfigMap({ metadata: { name: "edge-config", namespace: NS, labels }, data: config }),
    new ConfigMap({ metadata: { name: "router-config", namespace: NS, labels }, data: { "router.json": "{}" } }),
    new Deployment({
      metadata: { name: "edge", namespace: NS, labels },
      spec: {
        replicas: extra.replicas ?? 3,
        selector: { matchLabels: { app: "edge" } },
        template: {
          metadata: { labels: { app: "edge" }, annotations: { "edgelab.dev/config-hash": hashOf(config) } },
          spec: { containers: [{ name: "nginx", image: "edgelab/edge:1", ports: [{ containerPort: 8080 }] }] },
        },
      },
    }),
    ...(extra.service === false ? [] : [new Service({ metadata: { name: "edge", namespace: NS, labels }, spec: { selector: { app: "edge" }, ports: [{ port: 80, targetPort: 8080 }] } })]),
    new Ingress({
      metadata: { name: "live", namespace: NS, labels },
      spec: { ingressClassName: "cilium", rules: [{ host: "live.example.com", http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "edge", port: { number: 80 } } } }] } }] },
    }),
  ];
  for (const o of objects) o.validate();
  // Deliberately out of dependency order: apply must sort them.
  return objects.reverse().map((o) => o.toJSON() as KubeObject);
}

const CONFIG = { "nginx.conf": "worker_processes 1;\n", "cache.conf": "proxy_cache_valid 200 2s;\n" };

describe("server-side apply against the API server stand-in", () => {
  let standin: KubeApiserverStandin;
  let client: KubeClient;
  const run = (objects: KubeObject[], options: { dryRun?: boolean; force?: boolean } = {}): Promise<{ entries: readonly ApplyEntry[] }> =>
    applyObjects(client, objects, { lab: LAB, dryRun: options.dryRun ?? false, force: options.force ?? false, prune: true });
  const actions = (entries: readonly ApplyEntry[]): Record<string, string> => Object.fromEntries(entries.map((e) => [`${e.ref.kind}/${e.ref.name}`, e.action]));
  const rv = (kind: string, name: string, apiVersion = "v1", namespace: string | undefined = NS): string | undefined => {
    const meta = standin.stored(apiVersion, kind, name, namespace)?.["metadata"] as { resourceVersion?: string } | undefined;
    return meta?.resourceVersion;
  };

  beforeAll(async () => {
    standin = await startKubeApiserverStandin({ rolloutDelayMs: 100, lbDelayMs: 100 });
    client = kubeClient(loadKubeConfig(standin.kubeconfig(), "standin.kubeconfig"));
  });
  afterAll(() => standin.close());

  it("first apply creates every object, namespace first", async () => {
    const { entries } = await run(labObjects(CONFIG));
    expect(entries.map((e) => `${e.ref.kind}/${e.ref.name}`)).toEqual(["Namespace/edgelab-test", "ConfigMap/router-config", "ConfigMap/edge-config", "Service/edge", "Deployment/edge", "Ingress/live"]);
    expect(new Set(entries.map((e) => e.action))).toEqual(new Set(["created"]));
    const applyPatches = standin.writes().filter((r) => r.method === "PATCH");
    expect(applyPatches).toHaveLength(6);
    for (const r of applyPatches) {
      expect(r.contentType).toBe("application/apply-patch+yaml");
      expect(r.query["fieldManager"]).toBe("edgelab");
    }
    const deployment = standin.stored("apps/v1", "Deployment", "edge", NS);
    expect((deployment?.["metadata"] as { managedFields: { manager: string }[] }).managedFields.map((m) => m.manager)).toContain("edgelab");
  });

  it("re-applying the same objects makes no write request", async () => {
    const writesBefore = standin.writes().length;
    const { entries } = await run(labObjects(CONFIG));
    expect(new Set(entries.map((e) => e.action))).toEqual(new Set(["unchanged"]));
    expect(standin.writes().length).toBe(writesBefore);
  });

  it("a config change rewrites only that ConfigMap and the Deployment whose template carries its hash", async () => {
    const before = { router: rv("ConfigMap", "router-config"), service: rv("Service", "edge"), ingress: rv("Ingress", "live", "networking.k8s.io/v1"), ns: rv("Namespace", NS, "v1", undefined), edge: rv("ConfigMap", "edge-config"), deploy: rv("Deployment", "edge", "apps/v1") };
    const writesBefore = standin.writes().length;
    const changed = { ...CONFIG, "cache.conf": "proxy_cache_valid 200 4s;\n" };
    const { entries } = await run(labObjects(changed));
    expect(actions(entries)).toEqual({ "Namespace/edgelab-test": "unchanged", "ConfigMap/router-config": "unchanged", "ConfigMap/edge-config": "configured", "Service/edge": "unchanged", "Deployment/edge": "configured", "Ingress/live": "unchanged" });
    expect(standin.writes().slice(writesBefore).map((r) => r.path)).toEqual([`/api/v1/namespaces/${NS}/configmaps/edge-config`, `/apis/apps/v1/namespaces/${NS}/deployments/edge`]);
    expect(rv("ConfigMap", "router-config")).toBe(before.router);
    expect(rv("Service", "edge")).toBe(before.service);
    expect(rv("Ingress", "live", "networking.k8s.io/v1")).toBe(before.ingress);
    expect(rv("Namespace", NS, "v1", undefined)).toBe(before.ns);
    expect(rv("ConfigMap", "edge-config")).not.toBe(before.edge);
    expect(rv("Deployment", "edge", "apps/v1")).not.toBe(before.deploy);
    const template = (standin.stored("apps/v1", "Deployment", "edge", NS)?.["spec"] as { template: { metadata: { annotations: Record<string, string> } } }).template;
    expect(template.metadata.annotations["edgelab.dev/config-hash"]).toBe(hashOf(changed));
    expect((standin.stored("v1", "ConfigMap", "edge-config", NS)?.["data"] as Record<string, string>)["cache.conf"]).toBe("proxy_cache_valid 200 4s;\n");
    // Back to the first config for the following tests.
    await run(labObjects(CONFIG));
  });

  it("dry run reports what would change and writes nothing", async () => {
    const writesBefore = standin.writes().length;
    const requestsBefore = standin.requests.length;
    const generation = (): unknown => (standin.stored("apps/v1", "Deployment", "edge", NS)?.["metadata"] as { generation?: number }).generation;
    const generationBefore = generation();
    const { entries } = await run(labObjects(CONFIG, { replicas: 5, service: false }), { dryRun: true });
    expect(actions(entries)).toMatchObject({ "Deployment/edge": "configured", "Service/edge": "pruned", "ConfigMap/edge-config": "unchanged" });
    expect(standin.writes().length).toBe(writesBefore);
    expect(standin.requests.slice(requestsBefore).filter((r) => r.method !== "GET").every((r) => r.query["dryRun"] === "All")).toBe(true);
    expect(generation()).toBe(generationBefore);
    expect(standin.stored("v1", "Service", "edge", NS)).toBeDefined();
    expect((standin.stored("apps/v1", "Deployment", "edge", NS)?.["spec"] as { replicas: number }).replicas).toBe(3);
  });

  it("prunes this lab's object that is no longer rendered, and nothing of another lab or without edgelab's labels", async () => {
    const other = (name: string, objectLabels: Record<string, string>): string =>
      JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: NS, labels: objectLabels }, data: { a: "b" } });
    const putByHand = async (name: string, objectLabels: Record<string, string>): Promise<void> => {
      const res = await standin.send("PATCH", `/api/v1/namespaces/${NS}/configmaps/${name}?fieldManager=kubectl`, other(name, objectLabels), "application/apply-patch+yaml");
      expect(res.status).toBe(201);
    };
    await putByHand("other-lab", { "app.kubernetes.io/managed-by": "edgelab", "edgelab.dev/lab": "another" });
    await putByHand("unlabelled", {});
    await putByHand("same-lab-other-tool", { "edgelab.dev/lab": LAB });
    const recordings = new PersistentVolumeClaim({ metadata: { name: "recordings", namespace: NS, labels }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } } });
    await run([...labObjects(CONFIG), recordings.toJSON() as KubeObject]);

    const deletesBefore = standin.writes().filter((r) => r.method === "DELETE").length;
    const { entries } = await run(labObjects(CONFIG, { service: false }));
    expect(entries.filter((e) => e.action === "pruned" || e.action === "kept").map((e) => `${e.action} ${e.ref.kind}/${e.ref.name}`)).toEqual(["pruned Service/edge", "kept PersistentVolumeClaim/recordings"]);
    const deletes = standin.writes().filter((r) => r.method === "DELETE").slice(deletesBefore);
    expect(deletes.map((r) => [r.path, r.query["propagationPolicy"]])).toEqual([[`/api/v1/namespaces/${NS}/services/edge`, "Background"]]);
    expect(standin.stored("v1", "Service", "edge", NS)).toBeUndefined();
    for (const name of ["other-lab", "unlabelled", "same-lab-other-tool"]) expect(standin.stored("v1", "ConfigMap", name, NS)).toBeDefined();
    expect(standin.stored("v1", "PersistentVolumeClaim", "recordings", NS)).toBeDefined();
    await run(labObjects(CONFIG));
  });

  it("reports a conflict naming the other field manager and its field, and takes the field over with force", async () => {
    const scaled = JSON.stringify({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "edge", namespace: NS }, spec: { replicas: 5 } });
    const res = await standin.send("PATCH", `/apis/apps/v1/namespaces/${NS}/deployments/edge?fieldManager=ops-console&force=true`, scaled, "application/apply-patch+yaml");
    expect(res.status).toBe(200);
    const writesBefore = standin.writes().length;
    const error = await rejection(run(labObjects(CONFIG)));
    expect(error).toMatchObject({ name: "KubeConflictError", conflicts: [{ manager: "ops-console", field: ".spec.replicas" }] });
    expect((error as Error).message).toMatch(/Deployment edgelab-test\/edge: apply conflicts with another field manager: "ops-console" owns \.spec\.replicas/);
    expect((error as { hint: string }).hint).toMatch(/--force-conflicts/);
    expect(standin.writes().length).toBe(writesBefore);
    expect((standin.stored("apps/v1", "Deployment", "edge", NS)?.["spec"] as { replicas: number }).replicas).toBe(5);

    const { entries } = await run(labObjects(CONFIG), { force: true });
    expect(actions(entries)["Deployment/edge"]).toBe("configured");
    expect((standin.stored("apps/v1", "Deployment", "edge", NS)?.["spec"] as { replicas: number }).replicas).toBe(3);
  });

  it("an object the API server's validation refuses is reported with the field (422)", async () => {
    const bad = { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "broken", namespace: NS }, spec: { replicas: "three", selector: { matchLabels: { app: "x" } }, template: { metadata: { labels: { app: "x" } }, spec: { containers: [{ name: "c", image: "i" }] } } } } as unknown as KubeObject;
    const error = await rejection(run([...labObjects(CONFIG), bad]));
    expect(error instanceof KubeApiError ? error.status : undefined).toBe(422);
    expect(error.message).toMatch(/Deployment edgelab-test\/broken: apply refused by https:\/\/127\.0\.0\.1:\d+: Deployment\.apps "broken" is invalid: spec\.replicas/);
    expect(standin.stored("apps/v1", "Deployment", "broken", NS)).toBeUndefined();
  });

  it("waits for the rollout and the Ingress' LoadBalancer address", async () => {
    const lb = new Service({ metadata: { name: "rtmp", namespace: NS, labels }, spec: { type: "LoadBalancer", selector: { app: "origin" }, ports: [{ port: 1935, targetPort: 1935 }] } });
    const objects = [...labObjects(CONFIG, { replicas: 4 }), lb.toJSON() as KubeObject];
    const { objects: applied } = await applyObjects(client, objects, { lab: LAB, dryRun: false, force: false, prune: true });
    const results = await waitForObjects(client, applied, { timeoutMs: 15_000, intervalMs: 50 });
    const byName = Object.fromEntries(results.map((r) => [`${r.ref.kind}/${r.ref.name}`, r]));
    expect(Object.keys(byName).sort()).toEqual(["Deployment/edge", "Ingress/live", "Service/rtmp"]);
    expect(byName["Service/rtmp"]?.ip).toMatch(/^198\.18\.200\.\d+$/);
    expect(byName["Ingress/live"]?.ip).toMatch(/^198\.18\.200\.\d+$/);
    expect(byName["Deployment/edge"]?.detail).toBe("4 of 4 replicas available");
    expect(standin.stored("v1", "Service", "rtmp", NS)?.["status"]).toEqual({ loadBalancer: { ingress: [{ ip: byName["Service/rtmp"]?.ip, ipMode: "VIP" }] } });
  });
});

describe("bounded waits and connection security", () => {
  let standin: KubeApiserverStandin;
  beforeAll(async () => {
    standin = await startKubeApiserverStandin({ rolloutDelayMs: 50, lbDelayMs: 50, stuckRollouts: new Set([`${NS}/edge`]) });
  });
  afterAll(() => standin.close());

  it("a rollout that never finishes times out naming the object and its last condition", async () => {
    const client = kubeClient(loadKubeConfig(standin.kubeconfig(), "standin.kubeconfig"));
    const { objects } = await applyObjects(client, labObjects(CONFIG), { lab: LAB, dryRun: false, force: false, prune: false });
    const started = Date.now();
    const error = await rejection(waitForObjects(client, objects, { timeoutMs: 1500, intervalMs: 50 }));
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(error).toMatchObject({ name: "KubeWaitError" });
    const message = (error as Error).message;
    expect(message).toMatch(/^not ready after 1\.5 s: Deployment edgelab-test\/edge: 0 of 3 replicas updated; last condition: Progressing=True \(ReplicaSetUpdated\): ReplicaSet "edge-[0-9a-f]+" is progressing\.$/);
    expect(message).not.toMatch(/Ingress/);
  });

  it("refuses a kubeconfig that turns TLS verification off", () => {
    expect(() => loadKubeConfig(standin.kubeconfig({ skipTlsVerify: true }), "insecure.kubeconfig")).toThrow(/sets insecure-skip-tls-verify; edgelab does not talk to an API server it cannot verify/);
  });

  it("does not talk to a server whose certificate another CA signed", async () => {
    const impostorCa = selfSignedCertificate("someone-else", ["127.0.0.1"]).cert;
    const client = kubeClient(loadKubeConfig(standin.kubeconfig({ ca: impostorCa }), "other-ca.kubeconfig"));
    const before = standin.requests.length;
    const error = await rejection(client.get({ apiVersion: "v1", kind: "Namespace", name: NS }));
    expect(error.message).toMatch(/cannot reach the API server/);
    expect(error.hint).toMatch(/certificate-authority-data/);
    expect(standin.requests.length).toBe(before);
  });

  it("reports rejected credentials with a hint", async () => {
    const client = kubeClient(loadKubeConfig(standin.kubeconfig({ token: "wrong" }), "wrong-token.kubeconfig"));
    const error = await rejection(client.get({ apiVersion: "v1", kind: "Namespace", name: NS }));
    expect(error instanceof KubeApiError ? error.status : undefined).toBe(401);
    expect(error.hint).toMatch(/credentials were not accepted/);
  });
});

/**
 * Opt-in: the apply / re-apply / change / dry-run / prune cycle against a real Kubernetes API
 * server. Runs only when EDGELAB_E2E_KUBECONFIG names a kubeconfig (its current context is
 * used). Everything happens in a namespace of its own (edgelab-e2e-<random>), deleted at the
 * end. EDGELAB_E2E_IMAGE overrides the workload image (default registry.k8s.io/pause:3.9).
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Service } from "kubernetes-models/v1/Service";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { afterAll, describe, expect, it } from "vitest";
import { applyObjects, waitForObjects, type ApplyEntry } from "../../src/kube/apply.js";
import { kubeClient, loadKubeConfig, type KubeClient, type KubeObject } from "../../src/kube/client.js";

const kubeconfig = process.env["EDGELAB_E2E_KUBECONFIG"];
const image = process.env["EDGELAB_E2E_IMAGE"] ?? "registry.k8s.io/pause:3.9";
const suffix = randomBytes(3).toString("hex");
const NS = `edgelab-e2e-${suffix}`;
const LAB = `e2e-${suffix}`;
const labels = { "app.kubernetes.io/managed-by": "edgelab", "edgelab.dev/lab": LAB };

function objects(config: string, withService: boolean): KubeObject[] {
  const list = [
    new Namespace({ metadata: { name: NS, labels } }),
    new ConfigMap({ metadata: { name: "edge-config", namespace: NS, labels }, data: { "nginx.conf": config } }),
    new Deployment({
      metadata: { name: "edge", namespace: NS, labels },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: "edge" } },
        template: { metadata: { labels: { app: "edge" }, annotations: { "edgelab.dev/config-hash": config.length.toString(16) } }, spec: { containers: [{ name: "pause", image }] } },
      },
    }),
    ...(withService ? [new Service({ metadata: { name: "edge", namespace: NS, labels }, spec: { selector: { app: "edge" }, ports: [{ port: 80 }] } })] : []),
  ];
  for (const o of list) o.validate();
  return list.map((o) => o.toJSON() as KubeObject);
}

describe.runIf(kubeconfig !== undefined)("a real Kubernetes API server", () => {
  let client: KubeClient | undefined;
  const actions = (entries: readonly ApplyEntry[]): Record<string, string> => Object.fromEntries(entries.map((e) => [`${e.ref.kind}/${e.ref.name}`, e.action]));
  const connected = (): KubeClient => {
    if (client === undefined) throw new Error("no client");
    return client;
  };
  const apply = (set: KubeObject[], dryRun = false): Promise<{ entries: readonly ApplyEntry[]; objects: readonly KubeObject[] }> => applyObjects(connected(), set, { lab: LAB, dryRun, force: false, prune: true });

  afterAll(async () => {
    await client?.delete({ apiVersion: "v1", kind: "Namespace", name: NS }, { propagationPolicy: "Foreground", dryRun: false });
  });

  it("applies, re-applies without writes, changes one config, dry-runs and prunes", async () => {
    const path = kubeconfig ?? "";
    const kube = kubeClient(loadKubeConfig(readFileSync(path, "utf8"), path));
    client = kube;

    const first = await apply(objects("worker_processes 1;\n", true));
    expect(new Set(first.entries.map((e) => e.action))).toEqual(new Set(["created"]));
    await waitForObjects(kube, first.objects, { timeoutMs: 300_000, intervalMs: 2000 });

    const versions = async (): Promise<string[]> =>
      Promise.all(
        [
          { apiVersion: "v1", kind: "ConfigMap", name: "edge-config", namespace: NS },
          { apiVersion: "v1", kind: "Service", name: "edge", namespace: NS },
          { apiVersion: "v1", kind: "Namespace", name: NS },
        ].map(async (ref) => (await kube.get(ref))?.metadata.resourceVersion ?? "gone"),
      );
    const before = await versions();
    const again = await apply(objects("worker_processes 1;\n", true));
    expect(new Set(again.entries.map((e) => e.action))).toEqual(new Set(["unchanged"]));
    expect(await versions()).toEqual(before);

    const changed = await apply(objects("worker_processes 2;\n", true));
    expect(actions(changed.entries)).toEqual({ [`Namespace/${NS}`]: "unchanged", "ConfigMap/edge-config": "configured", "Service/edge": "unchanged", "Deployment/edge": "configured" });
    await waitForObjects(kube, changed.objects, { timeoutMs: 300_000, intervalMs: 2000 });

    const dry = await apply(objects("worker_processes 3;\n", false), true);
    expect(actions(dry.entries)).toMatchObject({ "ConfigMap/edge-config": "configured", "Service/edge": "pruned" });
    expect(await kube.get({ apiVersion: "v1", kind: "Service", name: "edge", namespace: NS })).toBeDefined();

    const pruned = await apply(objects("worker_processes 2;\n", false));
    expect(actions(pruned.entries)["Service/edge"]).toBe("pruned");
    expect(await kube.get({ apiVersion: "v1", kind: "Service", name: "edge", namespace: NS })).toBeUndefined();
  }, 900_000);
});

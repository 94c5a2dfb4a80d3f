/** The Secrets deploy adds: where the workloads refer to them, and their exact content. */
import { Secret } from "kubernetes-models/v1/Secret";
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../../src/kube/client.js";
import { DATA_PLANE_KEYS, DATA_PLANE_SECRET, dataPlaneSecret, dataPlaneValues, registryHost, registrySecret, secretReferences } from "../../../src/kube/secrets.js";
import { DATA_PLANE_SECRET as RENDERED } from "../../../src/render/router.js";

const workload = (kind: string, namespace: string, podSpec: Record<string, unknown>): KubeObject => ({
  apiVersion: "apps/v1",
  kind,
  metadata: { name: "w", namespace },
  spec: { template: { spec: podSpec } },
});

describe("secretReferences", () => {
  it("finds secret volumes, projected sources, env, envFrom and image pull secrets, per namespace", () => {
    const refs = secretReferences([
      workload("Deployment", "a", { volumes: [{ name: "s", secret: { secretName: "vol" } }, { name: "p", projected: { sources: [{ secret: { name: "proj" } }] } }], containers: [{ name: "c", env: [{ name: "X", valueFrom: { secretKeyRef: { name: "env", key: "k" } } }] }] }),
      workload("StatefulSet", "b", { imagePullSecrets: [{ name: "pull" }], containers: [{ name: "c", envFrom: [{ secretRef: { name: "envfrom" } }] }], initContainers: [{ name: "i", env: [{ name: "Y", valueFrom: { secretKeyRef: { name: "vol", key: "k" } } }] }] }),
      { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", namespace: "c" }, data: { volumes: "secretName: nope" } },
    ]);
    expect(Object.fromEntries([...refs].map(([k, v]) => [k, [...v].sort()]))).toEqual({ vol: ["a", "b"], proj: ["a"], env: ["a"], pull: ["b"], envfrom: ["b"] });
  });
});

describe("the Secrets' content", () => {
  it("names the Secret and its generated keys as the rendered configurations read them", () => {
    expect(DATA_PLANE_SECRET).toBe(RENDERED.name);
    expect([...DATA_PLANE_KEYS]).toEqual([RENDERED.redisPassword, RENDERED.notifySecret]);
  });

  it("the data plane's Secret holds the values base64-encoded and reads back", () => {
    const s = dataPlaneSecret("edgelab", { "redis-password": "r3d!s", "notify-secret": "n0t1fy" });
    new Secret(s as never).validate();
    expect(s["data"]).toEqual({ "redis-password": Buffer.from("r3d!s").toString("base64"), "notify-secret": Buffer.from("n0t1fy").toString("base64") });
    expect(dataPlaneValues(s)).toEqual({ "redis-password": "r3d!s", "notify-secret": "n0t1fy" });
    expect(dataPlaneValues({ ...s, data: { "redis-password": "eA==" } })).toBeUndefined();
  });

  it("the registry pull secret is a dockerconfigjson for the registry's host", () => {
    expect(registryHost("registry.example.com:5000/edgelab")).toBe("registry.example.com:5000");
    expect(registryHost("https://reg.example.com/x/y")).toBe("reg.example.com");
    const s = registrySecret("edgelab", "registry.example.com:5000/edgelab", "user", "p@ss:word");
    new Secret(s as never).validate();
    expect(s["type"]).toBe("kubernetes.io/dockerconfigjson");
    const config: unknown = JSON.parse(Buffer.from((s["data"] as Record<string, string>)[".dockerconfigjson"] ?? "", "base64").toString("utf8"));
    expect(config).toEqual({ auths: { "registry.example.com:5000": { username: "user", password: "p@ss:word", auth: Buffer.from("user:p@ss:word").toString("base64") } } });
  });
});

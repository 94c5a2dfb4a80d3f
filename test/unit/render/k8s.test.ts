/**
 * The lab's Kubernetes objects (k8s/): valid for their kinds, labelled for the lab, no Secret, and
 * consistent with the files they carry and with Cilium's selectors. Read back from the rendered
 * YAML, as deploy reads them.
 */
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { renderAll } from "../../../src/render/index.js";
import { CLUSTER_LABS, labOf, vipData } from "../../helpers/cluster-labs.js";
import { fixedPaths } from "../../helpers/dataplane.js";
import { at, labData, vars, type Data } from "../../helpers/inventory.js";
import { validateObject } from "../../helpers/kube-models.js";

type Obj = Record<string, unknown> & { kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> } };

function rendered(data: Data) {
  return renderAll(labOf(data), { paths: fixedPaths(), imageTag: "1.2.3" });
}

function objects(data: Data): Obj[] {
  return rendered(data)
    .filter((f) => f.path.startsWith("k8s/"))
    .map((f) => parse(f.content) as Obj);
}

function one(list: readonly Obj[], kind: string, name: string): Obj {
  const found = list.find((o) => o.kind === kind && o.metadata.name === name);
  if (found === undefined) throw new Error(`no ${kind} ${name}`);
  return found;
}

/** Dotted access into an object read from YAML. */
function get(value: unknown, path: string): unknown {
  let node = value;
  for (const key of path.split(".")) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

interface Container {
  name: string;
  image: string;
  command: string[];
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
  securityContext: Record<string, unknown>;
}
interface PodSpec {
  containers: Container[];
  volumes: { name: string; configMap?: { name: string }; emptyDir?: { medium?: string; sizeLimit?: string }; secret?: { secretName: string; items: { key: string }[] } }[];
  securityContext: Record<string, unknown>;
  imagePullSecrets?: { name: string }[];
}
function pod(o: Obj): PodSpec {
  return get(o, "spec.template.spec") as PodSpec;
}

const WORKLOADS = ["Deployment", "StatefulSet"];

describe("k8s objects", () => {
  for (const { name, data } of CLUSTER_LABS) {
    it(`of the ${name} lab are valid for their kinds (kubernetes-models) and labelled as this lab's`, () => {
      const list = objects(data());
      expect(list.length).toBeGreaterThan(20);
      for (const o of list) {
        expect(validateObject(o), `${o.kind} ${o.metadata.name}`).toBe("model");
        expect(o.metadata.labels, `${o.kind} ${o.metadata.name}`).toMatchObject({ "app.kubernetes.io/managed-by": "edgelab", "edgelab.dev/lab": "seed-lab" });
        if (o.kind !== "Namespace") expect(o.metadata.namespace).toBe("edgelab-seed-lab");
      }
    });
  }

  it("are one YAML document per file, named <NN>-<kind>-<name>.yaml in apply order", () => {
    const files = rendered(labData()).filter((f) => f.path.startsWith("k8s/"));
    for (const f of files) {
      expect(parseAllDocuments(f.content)).toHaveLength(1);
      const o = parse(f.content) as Obj;
      expect(f.path).toBe(`k8s/${f.path.slice(4, 6)}-${o.kind.toLowerCase()}-${o.metadata.name}.yaml`);
    }
    const order = files.map((f) => (parse(f.content) as Obj).kind);
    expect(order.indexOf("Namespace")).toBe(0);
    expect(order.lastIndexOf("ConfigMap")).toBeLessThan(order.indexOf("Deployment"));
    expect(order.lastIndexOf("NetworkPolicy")).toBeLessThan(order.indexOf("Deployment"));
  });

  it("hold no Secret and no secret: the Secret is only referenced", () => {
    const data = vipData();
    const files = rendered(data).filter((f) => f.path.startsWith("k8s/"));
    const list = files.map((f) => parse(f.content) as Obj);
    expect(list.filter((o) => o.kind === "Secret")).toEqual([]);
    const text = files.map((f) => f.content).join("\n");
    expect(text).not.toMatch(/requirepass \S+|vault_dns_tsig_secret|secretSha256|"key":/);
    const secretRefs = list.filter((o) => WORKLOADS.includes(o.kind)).flatMap((o) => pod(o).volumes.flatMap((v) => (v.secret === undefined ? [] : [v.secret.secretName])));
    expect(new Set(secretRefs)).toEqual(new Set(["edgelab-data-plane"]));
  });

  it("run every pod as the images' user, read-only, without privileges or a service account token", () => {
    for (const o of objects(labData()).filter((x) => WORKLOADS.includes(x.kind))) {
      const spec = pod(o);
      expect(spec.securityContext, o.metadata.name).toMatchObject({ runAsNonRoot: true, runAsUser: 10101, runAsGroup: 10101 });
      expect(get(o, "spec.template.spec.automountServiceAccountToken")).toBe(false);
      for (const c of spec.containers) expect(c.securityContext, `${o.metadata.name}/${c.name}`).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ["ALL"] } });
    }
  });

  it("give nginx a writable volume for every path its configuration writes, and the file its command names", () => {
    const data = labData();
    vars(data)["media"] = { servers: 2, record: { path: "recordings" }, abr: [{ name: "360p", width: 640, height: 360, video_kbps: 800 }] };
    const list = objects(data);
    let checked = 0;
    for (const o of list.filter((x) => WORKLOADS.includes(x.kind) && ["origin", "media"].includes(x.metadata.name) || x.metadata.name.startsWith("edge-"))) {
      if (!WORKLOADS.includes(o.kind)) continue;
      const spec = pod(o);
      const c = spec.containers[0];
      if (c === undefined) throw new Error("no container");
      const confArg = c.command[c.command.indexOf("-c") + 1] ?? "";
      const configVolume = spec.volumes.find((v) => v.configMap !== undefined);
      const configMount = c.volumeMounts.find((m) => m.name === configVolume?.name);
      const cm = one(list, "ConfigMap", configVolume?.configMap?.name ?? "");
      const data = cm["data"] as Record<string, string>;
      const podNames = o.kind === "StatefulSet" ? Array.from({ length: Number(get(o, "spec.replicas")) }, (_, i) => `${o.metadata.name}-${i}`) : [""];
      for (const podName of podNames) {
        const file = confArg.replace("$(POD_NAME)", podName);
        expect(file.startsWith(`${configMount?.mountPath}/`), file).toBe(true);
        const conf = data[file.slice((configMount?.mountPath.length ?? 0) + 1)];
        expect(conf, `${o.metadata.name}: ${file}`).toBeDefined();
        const written = [...(conf ?? "").matchAll(/^\s*(?:pid|client_body_temp_path|proxy_temp_path|fastcgi_temp_path|uwsgi_temp_path|scgi_temp_path|proxy_cache_path|hls_path|dash_path|record_path)\s+(\/\S+?);?(?:\s|$)/gm)].map((m) => m[1] ?? "");
        expect(written.length).toBeGreaterThan(5);
        for (const path of written) {
          const mount = c.volumeMounts.find((m) => path === m.mountPath || path.startsWith(`${m.mountPath}/`));
          expect(mount, `${o.metadata.name}: ${path}`).toBeDefined();
          expect(mount?.readOnly, `${o.metadata.name}: ${path}`).not.toBe(true);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(20);
  });

  it("pin each node group's edges to its nodes, with the inventory's replicas and a memory cache of its size", () => {
    const list = objects(vipData());
    const west = one(list, "Deployment", "edge-west-worker");
    const east = one(list, "Deployment", "edge-east-worker");
    // vipData: west-worker replicas 2, cache_mb 512; east-worker: one worker, the lab's 256 MB.
    expect(get(west, "spec.replicas")).toBe(2);
    expect(get(east, "spec.replicas")).toBe(1);
    for (const [d, label, mb] of [[west, "west-worker", 512], [east, "east-worker", 256]] as const) {
      expect(get(d, "spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms")).toEqual([{ matchExpressions: [{ key: "bgp-group", operator: "In", values: [label] }] }]);
      expect(get(d, "spec.template.spec.topologySpreadConstraints.0.topologyKey")).toBe("kubernetes.io/hostname");
      const cache = pod(d).volumes.find((v) => v.name === "cache")?.emptyDir;
      expect(cache?.medium).toBe("Memory");
      expect(Number.parseInt(cache?.sizeLimit ?? "0", 10)).toBeGreaterThanOrEqual(mb);
      const conf = (one(list, "ConfigMap", `edge-${label}`)["data"] as Record<string, string>)["edge.conf"] ?? "";
      expect(conf).toMatch(new RegExp(`max_size=${mb}m`));
      const limit = get(d, "spec.template.spec.containers.0.resources.limits.memory") as string;
      expect(Number.parseInt(limit, 10)).toBeGreaterThan(Number.parseInt(cache?.sizeLimit ?? "0", 10));
      for (const probe of ["readinessProbe", "livenessProbe"]) expect(get(d, `spec.template.spec.containers.0.${probe}.httpGet`)).toEqual({ path: "/healthz", port: 8080 });
    }
    // Every group with workers has edges.
    const groups = new Set(list.filter((o) => o.kind === "Deployment" && o.metadata.name.startsWith("edge-")).map((o) => o.metadata.labels?.["edgelab.dev/edge-group"]));
    expect(groups).toEqual(new Set(["west-worker", "east-worker"]));
  });

  it("roll out exactly the pods whose configuration changed (the pod template carries its hash)", () => {
    const before = objects(labData());
    const data = labData();
    at(data, "all.vars.edge")["playlist_ttl"] = 2;
    const after = objects(data);
    const hash = (list: readonly Obj[], kind: string, name: string) => get(one(list, kind, name), "spec.template.metadata.annotations")?.valueOf();
    expect(hash(after, "Deployment", "edge-west-worker")).not.toEqual(hash(before, "Deployment", "edge-west-worker"));
    expect(hash(after, "StatefulSet", "media")).toEqual(hash(before, "StatefulSet", "media"));
    expect(hash(after, "Deployment", "router")).toEqual(hash(before, "Deployment", "router"));
  });

  it("let only the router reach redis and the status ports, and only the origin front and media servers reach the router", () => {
    const list = objects(labData());
    const ingress = (name: string) => get(one(list, "NetworkPolicy", name), "spec.ingress") as { ports: { port: number }[]; from?: { podSelector: { matchLabels: Record<string, string> } }[] }[];
    const fromComponents = (rules: ReturnType<typeof ingress>, port: number) =>
      rules.filter((r) => r.ports.some((p) => p.port === port)).flatMap((r) => (r.from === undefined ? ["anyone"] : r.from.map((f) => f.podSelector.matchLabels["app.kubernetes.io/component"])));
    expect(fromComponents(ingress("redis"), 6379)).toEqual(["router"]);
    expect(fromComponents(ingress("router"), 8090).sort()).toEqual(["media", "origin"]);
    for (const name of ["media", "origin", "edge"]) expect(fromComponents(ingress(name), 8088), name).toEqual(["router"]);
    expect(fromComponents(ingress("media"), 8080)).toEqual(["origin"]);
    expect(fromComponents(ingress("origin"), 8080)).toEqual(["edge"]);
    // Every pod is selected by a policy, and no Service exposes the status port.
    for (const o of list.filter((x) => WORKLOADS.includes(x.kind))) {
      const component = o.metadata.labels?.["app.kubernetes.io/component"] ?? "";
      expect(get(one(list, "NetworkPolicy", component), "spec.podSelector.matchLabels.app\\.kubernetes\\.io/component") ?? component).toBe(component);
    }
    for (const s of list.filter((o) => o.kind === "Service")) expect((get(s, "spec.ports") as { port: number; targetPort: number }[]).flatMap((p) => [p.port, p.targetPort]), s.metadata.name).not.toContain(8088);
  });

  it("expose RTMP on a LoadBalancer that the LB pool and the BGP advertisement select, and viewers through Cilium's ingress", () => {
    const files = rendered(labData());
    const list = files.filter((f) => f.path.startsWith("k8s/")).map((f) => parse(f.content) as Obj);
    const rtmp = one(list, "Service", "rtmp");
    expect(get(rtmp, "spec.type")).toBe("LoadBalancer");
    expect(get(rtmp, "spec.ports")).toEqual([{ name: "rtmp", port: 1935, targetPort: 1935, protocol: "TCP" }]);
    const bgp = parseAllDocuments(files.find((f) => f.path === "cilium/bgp.yaml")?.content ?? "").map((d) => d.toJS() as Obj);
    const selects = (sel: unknown, objLabels: Record<string, string> | undefined) => Object.entries((sel as { matchLabels: Record<string, string> }).matchLabels).every(([k, v]) => objLabels?.[k] === v);
    const advertisement = bgp.find((o) => o.kind === "CiliumBGPAdvertisement");
    const pool = bgp.find((o) => o.kind === "CiliumLoadBalancerIPPool");
    expect(selects(get(advertisement, "spec.advertisements.0.selector"), rtmp.metadata.labels)).toBe(true);
    expect(pool).toBeDefined();
    // A pool without a service selector serves every LoadBalancer Service.
    const poolSelector = get(pool, "spec.serviceSelector");
    expect(poolSelector === undefined || selects(poolSelector, rtmp.metadata.labels)).toBe(true);
    // Shared-mode ingress: Cilium creates its Service with the Helm values' labels, which the same advertisement selects.
    const helm = parse(files.find((f) => f.path === "cilium/helmchart.yaml")?.content ?? "") as Obj;
    const values = parse(String(get(helm, "spec.valuesContent"))) as Record<string, unknown>;
    expect(get(values, "ingressController.loadbalancerMode")).toBe("shared");
    expect(selects(get(advertisement, "spec.advertisements.0.selector"), get(values, "ingressController.service.labels") as Record<string, string>)).toBe(true);
    const ing = one(list, "Ingress", "edge");
    expect(get(ing, "spec.ingressClassName")).toBe("cilium");
    expect(get(ing, "spec.rules.0.host")).toBe(String(at(labData(), "all.vars.dns")["name"]));
    expect(get(ing, "spec.rules.0.http.paths.0.backend.service")).toEqual({ name: "edge", port: { number: 8080 } });
    expect(one(list, "Service", "edge")).toBeDefined();
  });

  it("keep recordings on a volume claim only when recording is on", () => {
    expect(get(one(objects(labData()), "StatefulSet", "media"), "spec.volumeClaimTemplates")).toBeUndefined();
    const data = labData();
    vars(data)["media"] = { record: { path: "recordings" } };
    const media = one(objects(data), "StatefulSet", "media");
    expect(get(media, "spec.volumeClaimTemplates.0.metadata.name")).toBe("recordings");
    expect(pod(media).containers[0]?.volumeMounts.find((m) => m.name === "recordings")?.mountPath).toBe("/var/lib/edgelab/recordings");
  });

  it("run the images of this version, pulled with the registry's secret only when it has credentials", () => {
    const seed = objects(labData()).filter((o) => WORKLOADS.includes(o.kind));
    for (const o of seed) {
      expect(pod(o).imagePullSecrets, o.metadata.name).toBeUndefined();
      for (const c of pod(o).containers) expect(c.image).toMatch(/^localhost\/edgelab\/(origin|edge):1\.2\.3$/);
    }
    for (const o of objects(vipData()).filter((x) => WORKLOADS.includes(x.kind))) {
      expect(pod(o).imagePullSecrets, o.metadata.name).toEqual([{ name: "edgelab-registry" }]);
      for (const c of pod(o).containers) expect(c.image.startsWith("registry.example.com:5000/edgelab/")).toBe(true);
    }
  });

  it("mount each pod only the Secret's keys it needs", () => {
    const list = objects(labData());
    const keys = (name: string, kind = "Deployment") => pod(one(list, kind, name)).volumes.flatMap((v) => v.secret?.items.map((i) => i.key) ?? []).sort();
    expect(keys("redis")).toEqual(["redis-auth.conf"]);
    expect(keys("router")).toEqual(["notify-secret", "redis-password", "stream-live.key.json"]);
    expect(keys("media", "StatefulSet")).toEqual(["media-0-notify.conf", "media-1-notify.conf"]);
    expect(keys("origin")).toEqual([]);
    expect(keys("edge-west-worker")).toEqual([]);
  });
});

/**
 * `edgelab deploy` end to end against the Kubernetes API server STAND-IN
 * (test/helpers/kube-apiserver-standin.ts) over verified HTTPS, with the fixture manifests of
 * test/fixtures/k8s-deploy/ placed where `edgelab render` writes a cluster lab's k8s/ files.
 */
import { readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { afterEach, describe, expect, it } from "vitest";
import { cli, type CliResult } from "../helpers/cli.js";
import { events, stageResult } from "../helpers/events.js";
import { KeyHash, verifyKey } from "../../src/media/keys.js";
import { clusterLabOnStandin, REGISTRY_PASSWORD } from "../helpers/cluster-deploy.js";
import { localData } from "../helpers/inventory.js";
import type { KubeApiserverStandin } from "../helpers/kube-apiserver-standin.js";

const NS = "edgelab";

function patches(standin: KubeApiserverStandin, from: number): string[] {
  return standin
    .writes()
    .slice(from)
    .map((r) => `${r.method} ${r.path}`);
}

describe("edgelab deploy against the Kubernetes API stand-in", () => {
  const t = clusterLabOnStandin({ rolloutDelayMs: 200, lbDelayMs: 300 });
  const outputs: string[] = [];
  const deploy = async (args: readonly string[] = [], env: Record<string, string | undefined> = {}): Promise<CliResult> => {
    const r = await t.lab.deploy(["--no-smoke", ...args], env);
    outputs.push(r.stdout, r.stderr);
    return r;
  };

  it("first deploy: every object and the Secrets applied, rollouts and addresses awaited, the hosts line printed", async () => {
    const r = await deploy(["--json"]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    for (const [apiVersion, kind, name] of [
      ["v1", "ConfigMap", "edge-nginx"],
      ["v1", "Service", "rtmp"],
      ["apps/v1", "Deployment", "edge"],
      ["networking.k8s.io/v1", "Ingress", "edge"],
      ["v1", "Secret", "edgelab-data-plane"],
      ["v1", "Secret", "edgelab-registry"],
    ] as const) {
      const o = t.standin.stored(apiVersion, kind, name, NS);
      expect(o, `${kind} ${name}`).toBeDefined();
      const meta = o?.["metadata"] as { labels?: Record<string, string>; managedFields?: { manager: string }[] };
      expect(meta.labels?.["edgelab.dev/lab"]).toBe("seed-lab");
      expect(meta.managedFields?.map((m) => m.manager)).toContain("edgelab");
    }
    // The Deployment was rolled out when deploy returned, and the Ingress had its address.
    const edge = t.standin.stored("apps/v1", "Deployment", "edge", NS);
    expect((edge?.["status"] as { availableReplicas?: number }).availableReplicas).toBe(2);
    const deployed = stageResult(r.stdout, "deploy");
    expect(deployed?.status).toBe("ok");
    const endpoints = deployed?.details?.["endpoints"] as { ingressIp: string; host: string; rtmpIp: string; rtmpPort: number };
    const ingressIp = ((t.standin.stored("networking.k8s.io/v1", "Ingress", "edge", NS)?.["status"] as { loadBalancer: { ingress: { ip: string }[] } }).loadBalancer.ingress[0] ?? { ip: "" }).ip;
    expect(ingressIp).toMatch(/^198\.18\.200\.\d+$/);
    expect(endpoints).toMatchObject({ ingressIp, host: "live.example.com", rtmpPort: 1935 });
    expect(endpoints.rtmpIp).toMatch(/^198\.18\.200\.\d+$/);
    // No DNS server in the inventory: the hosts-file line.
    const dns = stageResult(r.stdout, "dns");
    expect(dns?.details?.["line"]).toBe(`${ingressIp}\tlive.example.com`);

    // The data plane's secrets: generated once, kept 0600, the same values in the cluster.
    const secret = t.standin.stored("v1", "Secret", "edgelab-data-plane", NS);
    const data = secret?.["data"] as Record<string, string>;
    for (const key of ["redis-password", "notify-secret"]) {
      const file = join(t.lab.dir, ".edgelab", "secrets", `cluster-seed-lab-${key}`);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const value = readFileSync(file, "utf8").trim();
      expect(value.length).toBeGreaterThanOrEqual(32);
      expect(Buffer.from(data[key] ?? "", "base64").toString("utf8")).toBe(value);
    }
    // Derived keys, as the contract names them: each media server's callback include with the
    // notify secret, and the published stream's key hash (which verifies the user's key).
    const notify = readFileSync(join(t.lab.dir, ".edgelab", "secrets", "cluster-seed-lab-notify-secret"), "utf8").trim();
    const decoded = (key: string): string => Buffer.from(data[key] ?? "", "base64").toString("utf8");
    expect(Object.keys(data).sort()).toEqual(["media-0-notify.conf", "media-1-notify.conf", "notify-secret", "redis-auth.conf", "redis-password", "stream-live.key.json"]);
    // redis reads the same password as a configuration line.
    expect(decoded("redis-auth.conf")).toBe(`requirepass ${decoded("redis-password")}\n`);
    expect(decoded("media-0-notify.conf")).toMatch(new RegExp(`^on_publish http://router:8090/auth/publish/media-0/${notify};$`, "m"));
    const streamKey = readFileSync(join(t.lab.dir, ".edgelab", "secrets", "stream-live"), "utf8").trim();
    expect(statSync(join(t.lab.dir, ".edgelab", "secrets", "stream-live")).mode & 0o777).toBe(0o600);
    expect(verifyKey(streamKey, KeyHash.parse(JSON.parse(decoded("stream-live.key.json"))))).toBe(true);
    expect(verifyKey(`${streamKey}x`, KeyHash.parse(JSON.parse(decoded("stream-live.key.json"))))).toBe(false);
    // The registry pull secret from the environment's password.
    const pull = t.standin.stored("v1", "Secret", "edgelab-registry", NS);
    expect(pull?.["type"]).toBe("kubernetes.io/dockerconfigjson");
    const config = JSON.parse(Buffer.from((pull?.["data"] as Record<string, string>)[".dockerconfigjson"] ?? "", "base64").toString("utf8")) as { auths: Record<string, { username: string; password: string }> };
    expect(config.auths["registry.example.com:5000"]).toMatchObject({ username: "edgelab", password: REGISTRY_PASSWORD });
  });

  it("re-deploying without changes writes nothing", async () => {
    const before = t.standin.writes().length;
    const r = await deploy();
    expect(r.code, r.stderr).toBe(0);
    expect(patches(t.standin, before)).toEqual([]);
    expect(r.stdout).toMatch(/0 changed/);
  });

  it("a config change rewrites only that ConfigMap and the pods' hash", async () => {
    const cm = join(t.lab.k8s, "10-configmap-edge-nginx.yaml");
    writeFileSync(cm, readFileSync(cm, "utf8").replace("max_size=512m", "max_size=256m"));
    const dep = join(t.lab.k8s, "30-deployment-edge.yaml");
    writeFileSync(dep, readFileSync(dep, "utf8").replace("edgelab.dev/config-hash: 3f1c0b6e9a2d4c75", "edgelab.dev/config-hash: 71d0a9e3b6c2f548"));
    const specBefore = t.standin.stored("apps/v1", "Deployment", "edge", NS)?.["spec"] as { template: { metadata: { annotations: Record<string, string> } } };
    const before = t.standin.writes().length;
    const r = await deploy();
    expect(r.code, r.stderr).toBe(0);
    expect(patches(t.standin, before).sort()).toEqual(["PATCH /api/v1/namespaces/edgelab/configmaps/edge-nginx", "PATCH /apis/apps/v1/namespaces/edgelab/deployments/edge"]);
    const specAfter = t.standin.stored("apps/v1", "Deployment", "edge", NS)?.["spec"] as typeof specBefore;
    expect(specAfter.template.metadata.annotations["edgelab.dev/config-hash"]).toBe("71d0a9e3b6c2f548");
    // Nothing else in the Deployment's spec moved.
    expect({ ...specAfter, template: { ...specAfter.template, metadata: {} } }).toEqual({ ...specBefore, template: { ...specBefore.template, metadata: {} } });
    expect(r.stderr).toMatch(/configured ConfigMap edgelab\/edge-nginx/);
  });

  it("an object no longer rendered is pruned", async () => {
    unlinkSync(join(t.lab.k8s, "21-service-origin-front.yaml"));
    const before = t.standin.writes().length;
    const r = await deploy();
    expect(r.code, r.stderr).toBe(0);
    expect(patches(t.standin, before)).toEqual(["DELETE /api/v1/namespaces/edgelab/services/origin-front"]);
    expect(t.standin.stored("v1", "Service", "origin-front", NS)).toBeUndefined();
    expect(r.stderr).toMatch(/pruned Service edgelab\/origin-front/);
  });

  it("--dry-run asks the server (dryRun=All) and writes nothing", async () => {
    const cm = join(t.lab.k8s, "11-configmap-origin-nginx.yaml");
    const original = readFileSync(cm, "utf8");
    writeFileSync(cm, original.replace("worker_processes 1;", "worker_processes 2;"));
    const before = t.standin.writes().length;
    const requests = t.standin.requests.length;
    const r = await deploy(["--dry-run"]);
    expect(r.code, r.stderr).toBe(0);
    expect(patches(t.standin, before)).toEqual([]);
    expect(t.standin.requests.slice(requests).some((q) => q.method === "PATCH" && q.path.endsWith("/configmaps/origin-nginx") && q.query["dryRun"] === "All")).toBe(true);
    expect(r.stderr).toMatch(/~ configured ConfigMap edgelab\/origin-nginx \(server-side dry run\)/);
    writeFileSync(cm, original);
  });

  it("the data plane's secrets come from the cluster when it has them: nothing is rewritten", async () => {
    const dir = join(t.lab.dir, ".edgelab", "secrets");
    const value = readFileSync(join(dir, "cluster-seed-lab-redis-password"), "utf8");
    // This machine lost the lab's generated secrets (the stream's publishing key is the user's and stays).
    for (const key of ["redis-password", "notify-secret"]) rmSync(join(dir, `cluster-seed-lab-${key}`));
    const before = t.standin.writes().length;
    const r = await deploy(["--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(patches(t.standin, before)).toEqual([]);
    expect(readFileSync(join(dir, "cluster-seed-lab-redis-password"), "utf8")).toBe(value);
    expect(statSync(join(dir, "cluster-seed-lab-redis-password")).mode & 0o777).toBe(0o600);
  });

  it("a conflict with another field manager is reported naming it; --force-conflicts takes the field back", async () => {
    // kubectl scales the edge Deployment with its own apply (it now owns .spec.replicas).
    const kubectl = await t.standin.send(
      "PATCH",
      `/apis/apps/v1/namespaces/${NS}/deployments/edge?fieldManager=kubectl&force=true`,
      stringify({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "edge", namespace: NS }, spec: { replicas: 5 } }),
      "application/apply-patch+yaml",
    );
    expect(kubectl.status).toBe(200);
    const r = await deploy();
    expect(r.code).toBe(1);
    expect(r.stderr + r.stdout).toMatch(/Deployment edgelab\/edge: apply conflicts with another field manager: "kubectl" owns \.spec\.replicas/);
    expect(r.stderr + r.stdout).toMatch(/--force-conflicts/);
    expect((t.standin.stored("apps/v1", "Deployment", "edge", NS)?.["spec"] as { replicas: number }).replicas).toBe(5);

    const forced = await deploy(["--force-conflicts"]);
    expect(forced.code, forced.stderr).toBe(0);
    expect((t.standin.stored("apps/v1", "Deployment", "edge", NS)?.["spec"] as { replicas: number }).replicas).toBe(2);
  });

  it("a Secret in the render output is refused with its file and line", async () => {
    const file = join(t.lab.k8s, "15-secret-leak.yaml");
    writeFileSync(file, "# a hand-written secret\napiVersion: v1\nkind: Secret\nmetadata: {name: leak, namespace: edgelab}\nstringData: {password: x}\n");
    const before = t.standin.writes().length;
    const r = await deploy();
    unlinkSync(file);
    expect(r.code).toBe(2);
    expect(r.stderr + r.stdout).toMatch(/15-secret-leak\.yaml:2:1: Secret leak in the render output; secrets are never rendered to files/);
    expect(patches(t.standin, before)).toEqual([]);
  });

  it("the Secrets' values never reach the render output, the logs, the journal or the command's output", () => {
    const values: string[] = [REGISTRY_PASSWORD, readFileSync(join(t.lab.dir, ".edgelab", "secrets", "stream-live"), "utf8").trim()];
    for (const key of ["redis-password", "notify-secret"]) values.push(readFileSync(join(t.lab.dir, ".edgelab", "secrets", `cluster-seed-lab-${key}`), "utf8").trim());
    const forms = values.flatMap((v) => [v, Buffer.from(v).toString("base64")]);
    const scanned = t.lab.files(".edgelab").filter((f) => !f.startsWith(".edgelab/secrets/"));
    expect(scanned.some((f) => f.startsWith(".edgelab/artifacts/"))).toBe(true);
    expect(scanned.some((f) => f.startsWith(".edgelab/journal/"))).toBe(true);
    for (const f of scanned) {
      const text = readFileSync(join(t.lab.dir, f), "utf8");
      for (const v of forms) expect(text.includes(v), `${f} holds a secret`).toBe(false);
    }
    expect(outputs.length).toBeGreaterThan(10);
    for (const out of outputs) for (const v of forms) expect(out.includes(v)).toBe(false);
  });
});

describe("edgelab deploy: a rollout that never finishes", () => {
  const t = clusterLabOnStandin({ rolloutDelayMs: 100, lbDelayMs: 100, stuckRollouts: new Set([`${NS}/edge`]) });

  it("ends at the timeout with a message naming the object and its last condition", async () => {
    const started = Date.now();
    const r = await t.lab.deploy(["--no-smoke", "--timeout", "3"]);
    expect(r.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(30_000);
    const text = r.stderr + r.stdout;
    const error = /edgelab: error: .*/.exec(r.stderr)?.[0] ?? "";
    expect(error).toMatch(/not ready after 3 s: Deployment edgelab\/edge: 0 of 2 replicas updated; last condition: Progressing=True \(ReplicaSetUpdated\): ReplicaSet "edge-[0-9a-f]+" is progressing\./);
    // The other objects were fine: only the stuck one is named.
    expect(error).not.toMatch(/origin/);
    // The journal says where to resume.
    expect(text).toMatch(/resumes at deploy/);
    const ev = events((await t.lab.deploy(["--no-smoke", "--timeout", "1", "--json"])).stdout);
    expect(ev.find((e) => e.event === "stage-start" && e.stage === "deploy")?.reason).toBe("selected with --only");
  });
});

describe("edgelab deploy: a data-plane Secret another tool made", () => {
  const t = clusterLabOnStandin({ rolloutDelayMs: 100, lbDelayMs: 100 });

  it("is neither read nor silently overwritten: the apply conflict names its manager", async () => {
    const apply = (path: string, body: Record<string, unknown>): ReturnType<KubeApiserverStandin["send"]> => t.standin.send("PATCH", `${path}?fieldManager=helm`, stringify(body), "application/apply-patch+yaml");
    expect((await apply("/api/v1/namespaces/edgelab", { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } })).status).toBe(201);
    const foreign = Buffer.from("someone-elses-password").toString("base64");
    expect((await apply(`/api/v1/namespaces/${NS}/secrets/edgelab-data-plane`, { apiVersion: "v1", kind: "Secret", metadata: { name: "edgelab-data-plane", namespace: NS }, data: { "redis-password": foreign, "notify-secret": foreign } })).status).toBe(201);
    const r = await t.lab.deploy(["--no-smoke"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Secret edgelab\/edgelab-data-plane: apply conflicts with another field manager: "helm" owns \.data\.(redis-password|notify-secret), \.data\.(redis-password|notify-secret)/);
    // The foreign value was not copied to this machine, and the generated one never replaced it.
    expect(readFileSync(join(t.lab.dir, ".edgelab", "secrets", "cluster-seed-lab-redis-password"), "utf8")).not.toContain("someone-elses-password");
    expect((t.standin.stored("v1", "Secret", "edgelab-data-plane", NS)?.["data"] as Record<string, string>)["redis-password"]).toBe(foreign);
  });
});

describe("edgelab deploy: inputs it refuses", () => {
  const t = clusterLabOnStandin();
  afterEach(() => {
    expect(t.standin.writes()).toEqual([]);
  });

  it("a registry password missing from the environment", async () => {
    const r = await t.lab.deploy(["--no-smoke"], { EDGELAB_TEST_REGISTRY_PASSWORD: undefined });
    expect(r.code).toBe(2);
    expect(r.stderr + r.stdout).toMatch(/secret registry-password: environment variable EDGELAB_TEST_REGISTRY_PASSWORD is not set/);
  });

  it("a kubeconfig that skips TLS verification", async () => {
    writeFileSync(t.lab.kubeconfig, t.standin.kubeconfig({ skipTlsVerify: true }));
    const r = await t.lab.deploy(["--no-smoke"]);
    writeFileSync(t.lab.kubeconfig, t.standin.kubeconfig());
    expect(r.code).toBe(2);
    expect(r.stderr + r.stdout).toMatch(/insecure-skip-tls-verify/);
  });

  it("a local lab", async () => {
    const local = join(t.lab.dir, "local.yml");
    writeFileSync(local, stringify(localData()));
    const r = await cli(["-i", local, "deploy"], { cwd: t.lab.dir, env: { PATH: process.env["PATH"] } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/edgelab deploy deploys a cluster lab; .* is a local lab/);
  });
});

describe("edgelab deploy: the rendered manifests (no --manifests)", () => {
  const t = clusterLabOnStandin({ rolloutDelayMs: 100, lbDelayMs: 100 });

  it("applies every object edgelab render wrote for the seed lab, each accepted by the API's validation, with every Secret key the pods mount", async () => {
    const r = await t.lab.run(["deploy", "--kubeconfig", t.lab.kubeconfig, "--no-smoke", "--timeout", "30"]);
    expect(r.code, r.stderr).toBe(0);
    const rendered = readdirSync(join(t.lab.dir, ".edgelab", "artifacts", "k8s")).filter((f) => f.endsWith(".yaml"));
    expect(rendered.length).toBeGreaterThan(10);
    const ns = "edgelab-seed-lab";
    for (const file of rendered) {
      const object = parse(readFileSync(join(t.lab.dir, ".edgelab", "artifacts", "k8s", file), "utf8")) as { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };
      expect(t.standin.stored(object.apiVersion, object.kind, object.metadata.name, object.metadata.namespace), file).toBeDefined();
    }
    // Every key a pod mounts from the data-plane Secret is one deploy put there.
    const secret = t.standin.stored("v1", "Secret", "edgelab-data-plane", ns);
    const keys = new Set(Object.keys((secret?.["data"] ?? {}) as Record<string, string>));
    const mounted = rendered
      .map((f) => readFileSync(join(t.lab.dir, ".edgelab", "artifacts", "k8s", f), "utf8"))
      .flatMap((text) => [...text.matchAll(/secretName: edgelab-data-plane[\s\S]*?items:\n((?:\s+- key: \S+\n\s+path: \S+\n)+)/g)].flatMap((m) => [...(m[1] ?? "").matchAll(/- key: (\S+)/g)].map((k) => k[1] ?? "")));
    expect(mounted.length).toBeGreaterThan(0);
    for (const key of mounted) expect(keys.has(key), key).toBe(true);
  }, 90_000);
});

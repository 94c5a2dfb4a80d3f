/** The cluster layout: golden files, and every file checked against what its program accepts. */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { RenderError } from "../../../src/errors.js";
import { K3S_KEYS, K3S_MUST_MATCH } from "../../../src/inventory/k3s-keys.js";
import { renderAll } from "../../../src/render/index.js";
import { checkCiliumValues, ciliumNetworkObjects, ciliumHelmChart } from "../../../src/render/cilium.js";
import { checkK3sConfig, checkMustMatch, k3sConfig } from "../../../src/render/k3s.js";
import { CLUSTER_LABS, labOf, legacyData, vipData } from "../../helpers/cluster-labs.js";
import { fixedPaths } from "../../helpers/dataplane.js";
import { at, labData, ROOT, type Data } from "../../helpers/inventory.js";
import { validateObject } from "../../helpers/kube-models.js";

const GOLDEN = join(ROOT, "test", "golden");
const UPDATE = process.env["UPDATE_GOLDEN"] === "1";

function files(data: Data) {
  return renderAll(labOf(data), { paths: fixedPaths(), imageTag: "0.0.0-test" });
}

function file(data: Data, path: string): string {
  const found = files(data).find((f) => f.path === path);
  if (found === undefined) throw new Error(`${path} was not rendered`);
  return found.content;
}

function yamlOf(data: Data, path: string): Record<string, unknown> {
  return parse(file(data, path)) as Record<string, unknown>;
}

function documents(text: string): Record<string, unknown>[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as unknown)
    .filter((d): d is Record<string, unknown> => d !== null && typeof d === "object");
}

describe("golden files", () => {
  for (const { name, data } of CLUSTER_LABS) {
    it(`match for the ${name} lab`, () => {
      const rendered = files(data());
      const listing = rendered.map((f) => `${f.mode.toString(8)} ${f.family} ${f.path}`).join("\n") + "\n";
      const all = [{ path: "FILES", content: listing }, ...rendered.filter((f) => f.path !== "lab.json")];
      for (const f of all) {
        const target = join(GOLDEN, `cluster-${name}`, f.path);
        if (UPDATE) {
          mkdirSync(dirname(target), { recursive: true });
          writeFileSync(target, f.content);
        }
        expect(f.content, f.path).toBe(readFileSync(target, "utf8"));
      }
    });
  }
  it("are deterministic: the same at another time, with other random numbers and vars in another order", () => {
    const first = files(vipData());
    const data = vipData();
    const all = at(data, "all");
    all["vars"] = Object.fromEntries(Object.entries(all["vars"] as Record<string, unknown>).reverse());
    vi.useFakeTimers({ now: new Date("2031-05-17T03:04:05Z") });
    const random = vi.spyOn(Math, "random").mockReturnValue(0.987654);
    try {
      expect(files(data)).toEqual(first);
    } finally {
      vi.useRealTimers();
      random.mockRestore();
    }
  });
});

describe("K3s configs", () => {
  const servers = ["lab-k3s01", "lab-k3s02", "lab-k3s03"];
  it("initialise the cluster on the first server only; everyone else joins the endpoint", () => {
    const seed = labData();
    expect(yamlOf(seed, "k3s/lab-k3s01/config.yaml")).toMatchObject({ "cluster-init": true });
    expect(yamlOf(seed, "k3s/lab-k3s01/config.yaml")["server"]).toBeUndefined();
    for (const host of ["lab-k3s02", "lab-k3s03", "west-lab-k3s01", "east-lab-k3s01"]) {
      const config = yamlOf(seed, `k3s/${host}/config.yaml`);
      expect(config["server"], host).toBe("https://172.16.221.38:6443");
      expect(config["cluster-init"], host).toBeUndefined();
    }
    const vip = vipData();
    for (const host of ["lab-k3s02", "west-lab-k3s01"]) expect(yamlOf(vip, `k3s/${host}/config.yaml`)["server"]).toBe("https://172.16.221.37:6443");
  });
  it("cover the VIP, every server and the inventory's extra names in tls-san", () => {
    expect(yamlOf(vipData(), "k3s/lab-k3s02/config.yaml")["tls-san"]).toEqual(["172.16.221.37", "172.16.221.38", "172.16.221.39", "172.16.221.40", "k8s.example.com"]);
  });
  it("label each node with its BGP group and set its address", () => {
    expect(yamlOf(labData(), "k3s/east-lab-k3s01/config.yaml")).toMatchObject({ "node-name": "east-lab-k3s01", "node-ip": ["172.16.223.42"], "node-label": ["bgp-group=east-worker"] });
  });
  it("are Cilium-ready on servers", () => {
    expect(yamlOf(labData(), "k3s/lab-k3s02/config.yaml")).toMatchObject({
      "flannel-backend": "none",
      "disable-network-policy": true,
      "disable-kube-proxy": true,
      disable: ["servicelb", "traefik"],
      "cluster-cidr": ["10.42.0.0/16"],
      "service-cidr": ["10.43.0.0/16"],
      "cluster-dns": ["10.43.0.10"],
      "cluster-domain": "cluster.local",
    });
  });
  it("never hold the token: only token-file, even when K3S_TOKEN is set", () => {
    process.env["K3S_TOKEN"] = "k3s-token-value-never-rendered";
    try {
      for (const { data } of CLUSTER_LABS) {
        for (const f of files(data())) {
          expect(f.content, f.path).not.toContain("k3s-token-value-never-rendered");
          if (f.path.startsWith("k3s/")) {
            const config = parse(f.content) as Record<string, unknown>;
            expect(Object.keys(config).filter((k) => k === "token" || k === "agent-token")).toEqual([]);
            expect(config["token-file"]).toBe("/etc/rancher/k3s/edgelab-token");
          }
        }
      }
    } finally {
      delete process.env["K3S_TOKEN"];
    }
  });
  it("use only real K3s keys that each host's role accepts", () => {
    for (const { data } of CLUSTER_LABS) {
      for (const f of files(data()).filter((x) => x.path.startsWith("k3s/"))) {
        const role = servers.includes(f.path.split("/")[1] ?? "") ? "server" : "agent";
        for (const key of Object.keys(parse(f.content) as Record<string, unknown>)) {
          const spec = K3S_KEYS.get(key);
          expect(spec, `${f.path}: ${key}`).toBeDefined();
          expect([role, "both"], `${f.path}: ${key}`).toContain(spec?.role);
        }
      }
    }
  });
  it("hold identical must-match values on all servers", () => {
    for (const { name, data } of CLUSTER_LABS) {
      const configs = servers.map((h) => yamlOf(data(), `k3s/${h}/config.yaml`));
      for (const key of K3S_MUST_MATCH) {
        const values = configs.map((c) => JSON.stringify(c[key] ?? null));
        expect(new Set(values).size, `${name}: ${key} (${values.join(" / ")})`).toBe(1);
      }
    }
  });
  it("refuse servers that disagree on a must-match value, naming it and who has what", () => {
    const lab = labOf(labData());
    const configs = lab.servers.map((h) => ({ host: h.name, config: k3sConfig(lab, h) }));
    expect(() => checkMustMatch(configs)).not.toThrow();
    const third = configs[2];
    if (third === undefined) throw new Error("three servers expected");
    const broken = [configs[0], configs[1], { host: third.host, config: { ...third.config, "cluster-dns": ["10.43.0.53"] } }].filter((c) => c !== undefined);
    expect(() => checkMustMatch(broken)).toThrow(RenderError);
    expect(() => checkMustMatch(broken)).toThrow(/servers disagree on 'cluster-dns' \(lab-k3s01: \["10.43.0.10"\], lab-k3s02: \["10.43.0.10"\], lab-k3s03: \["10.43.0.53"\]\)/);
  });
  it("refuse a typo, a key of the other role and a value of the wrong type", () => {
    expect(() => checkK3sConfig("k3s/x/config.yaml", "server", { "cluster-cdir": ["10.42.0.0/16"] })).toThrow(/'cluster-cdir' is not a K3s server config key/);
    expect(() => checkK3sConfig("k3s/x/config.yaml", "server", { "disable-apiserver-lb": true })).toThrow(/is a K3s agent key; a K3s server refuses to start with it/);
    expect(() => checkK3sConfig("k3s/x/config.yaml", "agent", { "cluster-init": true })).toThrow(/is a K3s server key/);
    expect(() => checkK3sConfig("k3s/x/config.yaml", "agent", { "node-ip": "172.16.222.41" })).toThrow(/takes a list of strings/);
    expect(() => checkK3sConfig("k3s/x/config.yaml", "server", { "cluster-init": true, "tls-san": ["a"] })).not.toThrow();
  });
  it("add the inventory's extra keys per role", () => {
    expect(yamlOf(vipData(), "k3s/lab-k3s03/config.yaml")["etcd-snapshot-retention"]).toBe(10);
    expect(yamlOf(vipData(), "k3s/west-lab-k3s01/config.yaml")["kubelet-arg"]).toEqual(["max-pods=150"]);
    expect(yamlOf(vipData(), "k3s/west-lab-k3s01/config.yaml")["etcd-snapshot-retention"]).toBeUndefined();
  });
});

describe("Cilium HelmChart", () => {
  it("is a valid bootstrap HelmChart for the pinned chart version", () => {
    const chart = documents(file(labData(), "cilium/helmchart.yaml"));
    expect(chart).toHaveLength(1);
    const object = chart[0] ?? {};
    expect(validateObject(object)).toBe("schema");
    expect(object).toMatchObject({ metadata: { name: "cilium", namespace: "kube-system" }, spec: { bootstrap: true, chart: "cilium", repo: "https://helm.cilium.io/", version: "1.19.1", targetNamespace: "kube-system" } });
  });
  it("has values for nodes in several subnets: local API balancer, VXLAN, K3s IPAM, BGP, shared ingress", () => {
    const spec = (documents(file(labData(), "cilium/helmchart.yaml"))[0]?.["spec"] ?? {}) as Record<string, unknown>;
    const values = parse(String(spec["valuesContent"])) as Record<string, unknown>;
    expect(values).toEqual({
      kubeProxyReplacement: true,
      k8sServiceHost: "127.0.0.1",
      k8sServicePort: 6444,
      routingMode: "tunnel",
      tunnelProtocol: "vxlan",
      ipam: { mode: "kubernetes" },
      k8s: { requireIPv4PodCIDR: true },
      bgpControlPlane: { enabled: true },
      ingressController: { enabled: true, default: true, loadbalancerMode: "shared", service: { labels: { "edgelab.dev/advertise": "bgp" } } },
      operator: { replicas: 2 },
    });
  });
  it("runs no more operator replicas than there are servers", () => {
    const data = labData();
    const masters = at(data, "all.children.k3s_cluster.children.master.hosts");
    delete masters["lab-k3s02"];
    delete masters["lab-k3s03"];
    const values = parse(String(ciliumHelmChart(labOf(data)).spec["valuesContent"])) as { operator: { replicas: number } };
    expect(values.operator.replicas).toBe(1);
  });
  it("takes the chart from K3s' own static files when the air-gap source has it", () => {
    const object = documents(file(vipData(), "cilium/helmchart.yaml"))[0] ?? {};
    expect(validateObject(object)).toBe("schema");
    expect(object["spec"]).toMatchObject({ chart: "https://%{KUBERNETES_API}%/static/charts/cilium-1.19.1.tgz" });
    expect((object["spec"] as Record<string, unknown>)["repo"]).toBeUndefined();
  });
  it("refuses a value path the chart does not have, or a value of the wrong type", () => {
    expect(() => checkCiliumValues("cilium/helmchart.yaml", { bgpControlPlane: { enable: true } })).toThrow(/'bgpControlPlane.enable' is not a value of the Cilium chart/);
    expect(() => checkCiliumValues("cilium/helmchart.yaml", { operator: { replicas: "2" } })).toThrow(/'operator.replicas' takes integer, not string/);
    expect(() => checkCiliumValues("cilium/helmchart.yaml", { routingMode: "native-ish" })).toThrow(/cannot be "native-ish"/);
    expect(() => checkCiliumValues("cilium/helmchart.yaml", { k8sServicePort: "6444", bpf: { masquerade: null } })).not.toThrow();
  });
});

describe("BGP and LB-IPAM objects", () => {
  it("are valid for their kinds in every golden lab", () => {
    for (const { name, data } of CLUSTER_LABS) {
      const objects = documents(file(data(), "cilium/bgp.yaml"));
      expect(objects.length, name).toBeGreaterThan(0);
      for (const object of objects) expect(() => validateObject(object), `${name}: ${String(object["kind"])}`).not.toThrow();
    }
  });
  it("use cilium.io/v2 on 1.19: one cluster config and peer config per group, one advertisement, a pool with blocks", () => {
    const objects = documents(file(labData(), "cilium/bgp.yaml"));
    expect(objects.map((o) => `${String(o["apiVersion"])} ${String(o["kind"])}`)).toEqual([
      ...Array<string>(3).fill("cilium.io/v2 CiliumBGPClusterConfig"),
      ...Array<string>(3).fill("cilium.io/v2 CiliumBGPPeerConfig"),
      "cilium.io/v2 CiliumBGPAdvertisement",
      "cilium.io/v2 CiliumLoadBalancerIPPool",
    ]);
    expect(objects.every((o) => validateObject(o) === "model")).toBe(true);
    expect(objects.at(-1)?.["spec"]).toEqual({ blocks: [{ cidr: "172.16.228.0/24" }] });
  });
  it("give the node groups disjoint selectors and peer each with its own routers, by bare address", () => {
    const configs = documents(file(labData(), "cilium/bgp.yaml")).filter((o) => o["kind"] === "CiliumBGPClusterConfig");
    const selected = configs.map((o) => (o["spec"] as { nodeSelector: { matchLabels: Record<string, string> } }).nodeSelector.matchLabels["bgp-group"]);
    expect(selected).toEqual(["master", "west-worker", "east-worker"]);
    const west = configs[1]?.["spec"] as { bgpInstances: { localASN: number; peers: unknown[] }[] };
    expect(west.bgpInstances[0]).toMatchObject({ localASN: 64513, peers: [{ name: "region-router01", peerASN: 30, peerAddress: "172.16.222.1", peerConfigRef: { name: "edgelab-west-worker" } }] });
  });
  it("carry the group's multihop, timers and graceful restart, and advertise only LoadBalancer addresses of labelled Services", () => {
    const objects = documents(file(vipData(), "cilium/bgp.yaml"));
    const east = objects.find((o) => o["kind"] === "CiliumBGPPeerConfig" && (o["metadata"] as { name: string }).name === "edgelab-east-worker");
    expect(east?.["spec"]).toMatchObject({ ebgpMultihop: 2, timers: { connectRetryTimeSeconds: 120, holdTimeSeconds: 90, keepAliveTimeSeconds: 30 }, gracefulRestart: { enabled: false } });
    const families = (east?.["spec"] as { families: { advertisements: { matchLabels: Record<string, string> } }[] }).families;
    const advert = objects.find((o) => o["kind"] === "CiliumBGPAdvertisement");
    const advertLabels = (advert?.["metadata"] as { labels: Record<string, string> }).labels;
    for (const [k, v] of Object.entries(families[0]?.advertisements.matchLabels ?? {})) expect(advertLabels[k]).toBe(v);
    expect(advert?.["spec"]).toEqual({ advertisements: [{ advertisementType: "Service", service: { addresses: ["LoadBalancerIP"] }, selector: { matchLabels: { "edgelab.dev/advertise": "bgp" } } }] });
  });
  it("use the legacy peering policy on 1.17, with /32 peers and the seed's session settings", () => {
    const objects = documents(file(legacyData(), "cilium/bgp.yaml"));
    expect(objects.map((o) => `${String(o["apiVersion"])} ${String(o["kind"])}`)).toEqual([
      ...Array<string>(3).fill("cilium.io/v2alpha1 CiliumBGPPeeringPolicy"),
      "cilium.io/v2alpha1 CiliumLoadBalancerIPPool",
    ]);
    const west = (objects[1]?.["spec"] as { virtualRouters: { neighbors: unknown[] }[] }).virtualRouters[0];
    expect(west?.neighbors).toEqual([{ peerAddress: "172.16.222.1/32", peerASN: 30, eBGPMultihopTTL: 10, connectRetryTimeSeconds: 120, holdTimeSeconds: 90, keepAliveTimeSeconds: 30, gracefulRestart: { enabled: true, restartTimeSeconds: 120 } }]);
    expect(validateObject(objects[3] ?? {})).toBe("model");
  });
  it("use the v2alpha1 BGPv2 kinds when 1.17 is told to, valid for that version's models", () => {
    const data = legacyData();
    at(data, "all.vars.cilium.bgp")["api"] = "bgpv2";
    const objects = ciliumNetworkObjects(labOf(data)) as unknown as Record<string, unknown>[];
    expect(new Set(objects.map((o) => o["apiVersion"]))).toEqual(new Set(["cilium.io/v2alpha1"]));
    expect(objects.map((o) => validateObject(o))).toEqual(Array<string>(objects.length).fill("model"));
  });
  it("write the pool as spec.cidrs on 1.14", () => {
    const data = legacyData();
    at(data, "all.vars.cilium")["version"] = "1.14.6";
    const pool = (ciliumNetworkObjects(labOf(data)) as unknown as Record<string, unknown>[]).find((o) => o["kind"] === "CiliumLoadBalancerIPPool") ?? {};
    expect(pool["spec"]).toEqual({ cidrs: [{ cidr: "172.16.228.0/24" }] });
    expect(validateObject(pool)).toBe("schema");
  });
  it("are checked by validators that reject what Cilium rejects", () => {
    const objects = documents(file(labData(), "cilium/bgp.yaml"));
    const config = structuredClone(objects.find((o) => o["kind"] === "CiliumBGPPeerConfig") ?? {});
    (config["spec"] as Record<string, unknown>)["ebgpMultihop"] = "ten";
    expect(() => validateObject(config)).toThrow();
    const legacy = structuredClone(documents(file(legacyData(), "cilium/bgp.yaml"))[0] ?? {});
    const neighbor = (legacy["spec"] as { virtualRouters: { neighbors: Record<string, unknown>[] }[] }).virtualRouters[0]?.neighbors[0] ?? {};
    neighbor["peerAddress"] = "172.16.221.1";
    expect(() => validateObject(legacy)).toThrow(/\/32 CIDR/);
  });
});

describe("ansible/vars.yml", () => {
  it("names every variable with the edgelab_ prefix and documents each in docs/cluster.md", () => {
    const doc = readFileSync(join(ROOT, "docs", "cluster.md"), "utf8");
    for (const { data } of CLUSTER_LABS) {
      for (const key of Object.keys(yamlOf(data(), "ansible/vars.yml"))) {
        expect(key).toMatch(/^edgelab_[a-z0-9_]+$/);
        expect(doc, key).toContain(`\`${key}\``);
      }
    }
  });
  it("says where each secret comes from and never holds one", () => {
    const vars = yamlOf(vipData(), "ansible/vars.yml");
    expect(vars["edgelab_k3s_token_env"]).toBe("K3S_TOKEN");
    expect(vars).not.toHaveProperty("edgelab_k3s_token");
    expect(vars["edgelab_registry"]).toMatchObject({ password_source: { env: "EDGELAB_REGISTRY_PASSWORD" } });
    expect(vars["edgelab_api_vip"]).toMatchObject({ address: "172.16.221.37", prefix: 24, holder: "keepalived", router_id: 37, interface: "eth1", password_source: { env: "EDGELAB_VRRP_PASSWORD" }, priorities: { "lab-k3s01": 150, "lab-k3s02": 140, "lab-k3s03": 130 } });
    expect(vars["edgelab_dns"]).toMatchObject({ tsig: { secret_source: { inventory_var: "dns.tsig.secret" } } });
    expect(file(vipData(), "ansible/vars.yml")).not.toContain("vault_dns_tsig_secret");
    const generated = labData();
    at(generated, "all.vars.k3s")["token"] = { generate: true };
    expect(yamlOf(generated, "ansible/vars.yml")["edgelab_k3s_token_source_file"]).toBe(".edgelab/secrets/k3s-token");
    const vaulted = labData();
    at(vaulted, "all.vars.k3s")["token"] = "{{ vault_k3s_token }}";
    // A vault value or Jinja reference stays in the inventory: the role reads it through Ansible.
    expect(yamlOf(vaulted, "ansible/vars.yml")["edgelab_k3s_token"]).toBe("{{ k3s.token }}");
  });
  it("lists the air-gap files, each host's storage and host keys, and every BGP session to wait for", () => {
    const vars = yamlOf(vipData(), "ansible/vars.yml");
    expect(vars).toMatchObject({ edgelab_k3s_install_source: "airgap", edgelab_k3s_airgap_binary: "files/k3s", edgelab_cilium_chart_archive: "files/cilium-1.19.1.tgz", edgelab_k3s_image_archives: ["files/cilium-images-1.19.1.tar"] });
    expect(yamlOf(labData(), "ansible/vars.yml")["edgelab_k3s_install_source"]).toBe("online");
    expect(Object.keys(vars["edgelab_storage"] as object)).toEqual(["lab-k3s01", "west-lab-k3s01", "east-lab-k3s01"]);
    const storage = (vars["edgelab_storage"] as Record<string, { iscsi_targets: { portal: string; port: number }[]; block_devices: { format: boolean }[] }>)["lab-k3s01"];
    expect(storage?.block_devices[0]?.format).toBe(true);
    expect(storage?.iscsi_targets[0]?.port).toBe(3260);
    expect(storage?.iscsi_targets[0]?.portal).not.toContain(":");
    expect(Object.keys(vars["edgelab_ssh_host_keys"] as object)).toEqual(["west-lab-k3s01"]);
    expect(vars["edgelab_bgp_sessions"]).toContainEqual({ node: "east-lab-k3s01", group: "east-worker", peer: "region-router02", address: "172.16.30.129", asn: 30 });
  });
});

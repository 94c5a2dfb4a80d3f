/**
 * What the K3s roles consume, written by the tests themselves: the air-gap source (the K3s
 * stand-in as `k3s`, a small images archive, the release-style sha256sum file) and the files
 * `edgelab render` produces under .edgelab/artifacts (per-host K3s configs, Cilium's HelmChart,
 * the BGP objects, ansible/vars.yml).
 */
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { z } from "zod";
import { LocalExecutor } from "../../src/exec/local.js";
import type { TestLab } from "./testhosts.js";
import { ROOT } from "./testhosts.js";

export const STANDIN = join(ROOT, "test", "fixtures", "k3s-standin");
export const TOKEN_FILE = "/etc/rancher/k3s/edgelab-token";

const sha256 = (data: string | Buffer): string => createHash("sha256").update(data).digest("hex");

/**
 * An air-gap directory for `version`: the stand-in (its VERSION line set to `version`), an images
 * archive and sha256sum-amd64.txt listing both. `tamper` makes the binary differ from the sum.
 */
export async function airgapDir(dir: string, version: string, options: { tamper?: boolean } = {}): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const source = readFileSync(STANDIN, "utf8");
  if (!/^VERSION = ".*"$/m.test(source)) throw new Error("the stand-in has no VERSION line");
  const binary = source.replace(/^VERSION = ".*"$/m, `VERSION = "${version}"`);
  writeFileSync(join(dir, "k3s"), options.tamper === true ? `${binary}# tampered\n` : binary);
  chmodSync(join(dir, "k3s"), 0o755);
  const content = join(dir, "images");
  mkdirSync(content, { recursive: true });
  writeFileSync(join(content, "README"), `Stand-in for the K3s ${version} air-gap images archive (no real images).\n`);
  await new LocalExecutor().run(["tar", "--create", "--file", join(dir, "k3s-airgap-images-amd64.tar"), "--directory", content, "--mtime=2024-01-01", "--owner=0", "--group=0", "README"]);
  const sums = [`${sha256(binary)}  k3s`, `${sha256(readFileSync(join(dir, "k3s-airgap-images-amd64.tar")))}  k3s-airgap-images-amd64.tar`];
  writeFileSync(join(dir, "sha256sum-amd64.txt"), `${sums.join("\n")}\n`);
  return dir;
}

export const artifactsDir = (lab: TestLab): string => join(lab.dir, ".edgelab", "artifacts");

export interface K3sInputs {
  readonly version: string;
  readonly airgap: string;
  /** Extra variables for ansible/vars.yml. */
  readonly vars?: Readonly<Record<string, unknown>>;
  /** Extra keys per host's K3s config. */
  readonly extraConfig?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Extra BGP peers per node group (label), beyond the subnet's gateway. */
  readonly extraPeers?: Readonly<Record<string, readonly { name: string; address: string; asn: number }[]>>;
}

/** The node group (bgp-group label) of each test host: servers "master", agents by subnet. */
export function groupOf(lab: TestLab, name: string): string {
  const h = lab.host(name);
  if (h.group === "master") return "master";
  return h.gateway === lab.subnets[1]?.gateway ? "west-worker" : "east-worker";
}

/** Writes the rendered inputs as `edgelab render` lays them out; returns each host's config. */
export function writeK3sInputs(lab: TestLab, inputs: K3sInputs): Record<string, Record<string, unknown>> {
  const out = artifactsDir(lab);
  const servers = lab.hosts.filter((h) => h.group === "master");
  const first = servers[0];
  if (first === undefined) throw new Error("no server");
  const endpoint = `https://${first.address}:6443`;
  const critical = {
    "flannel-backend": "none",
    "disable-network-policy": true,
    "disable-kube-proxy": true,
    disable: ["servicelb", "traefik"],
    "cluster-cidr": "10.42.0.0/16",
    "service-cidr": "10.43.0.0/16",
  };
  const configs: Record<string, Record<string, unknown>> = {};
  for (const h of lab.hosts) {
    const common = { "token-file": TOKEN_FILE, "node-ip": h.address, "node-label": [`bgp-group=${groupOf(lab, h.name)}`] };
    const config =
      h === first
        ? { "cluster-init": true, ...common, ...critical, "tls-san": servers.map((s) => s.address), "write-kubeconfig-mode": "0600" }
        : h.group === "master"
          ? { server: endpoint, ...common, ...critical, "tls-san": servers.map((s) => s.address), "write-kubeconfig-mode": "0600" }
          : { server: endpoint, ...common };
    configs[h.name] = { ...config, ...inputs.extraConfig?.[h.name] };
    mkdirSync(join(out, "k3s", h.name), { recursive: true });
    writeFileSync(join(out, "k3s", h.name, "config.yaml"), stringify(configs[h.name]), { mode: 0o600 });
  }
  mkdirSync(join(out, "cilium"), { recursive: true });
  writeFileSync(
    join(out, "cilium", "helmchart.yaml"),
    stringify({
      apiVersion: "helm.cattle.io/v1",
      kind: "HelmChart",
      metadata: { name: "cilium", namespace: "kube-system" },
      spec: {
        repo: "https://helm.cilium.io/",
        chart: "cilium",
        version: "1.19.1",
        targetNamespace: "kube-system",
        bootstrap: true,
        valuesContent: stringify({ kubeProxyReplacement: true, k8sServiceHost: "127.0.0.1", k8sServicePort: 6444, routingMode: "tunnel", tunnelProtocol: "vxlan", bgpControlPlane: { enabled: true } }),
      },
    }),
  );
  const groups: { label: string; subnet: number; asn: number }[] = [
    { label: "master", subnet: 0, asn: 200 },
    { label: "west-worker", subnet: 1, asn: 30 },
    { label: "east-worker", subnet: 2, asn: 30 },
  ];
  const docs = [
    ...groups.map((g) => ({
      apiVersion: "cilium.io/v2",
      kind: "CiliumBGPClusterConfig",
      metadata: { name: g.label },
      spec: {
        nodeSelector: { matchLabels: { "bgp-group": g.label } },
        bgpInstances: [
          {
            name: "64513",
            localASN: 64513,
            peers: [
              { name: `${g.label}-router`, peerASN: g.asn, peerAddress: lab.subnets[g.subnet]?.gateway, peerConfigRef: { name: "upstream" } },
              ...(inputs.extraPeers?.[g.label] ?? []).map((p) => ({ name: p.name, peerASN: p.asn, peerAddress: p.address, peerConfigRef: { name: "upstream" } })),
            ],
          },
        ],
      },
    })),
    { apiVersion: "cilium.io/v2", kind: "CiliumBGPPeerConfig", metadata: { name: "upstream" }, spec: { ebgpMultihop: 10, families: [{ afi: "ipv4", safi: "unicast", advertisements: { matchLabels: { advertise: "bgp" } } }] } },
    { apiVersion: "cilium.io/v2", kind: "CiliumLoadBalancerIPPool", metadata: { name: "lb-pool" }, spec: { blocks: [{ cidr: "198.18.250.0/24" }] } },
  ];
  writeFileSync(join(out, "cilium", "bgp.yaml"), docs.map((d) => stringify(d)).join("---\n"));
  mkdirSync(join(out, "ansible"), { recursive: true });
  writeFileSync(
    join(out, "ansible", "vars.yml"),
    stringify({
      edgelab_k3s_version: inputs.version,
      edgelab_k3s_install_source: "airgap",
      edgelab_k3s_airgap_binary: join(inputs.airgap, "k3s"),
      edgelab_k3s_airgap_images: join(inputs.airgap, "k3s-airgap-images-amd64.tar"),
      edgelab_k3s_airgap_checksums: join(inputs.airgap, "sha256sum-amd64.txt"),
      edgelab_k3s_environment: { NO_PROXY: "127.0.0.1,localhost,10.42.0.0/16,10.43.0.0/16" },
      k3s_server_ready_timeout: 60,
      k3s_agent_ready_timeout: 60,
      k3s_server_nodes_ready_timeout: 60,
      k3s_post_crd_timeout: 60,
      k3s_post_bgp_timeout: 60,
      ...inputs.vars,
    }),
  );
  return configs;
}

/** What the stand-in recorded on a host (/var/lib/k3s-standin/events.jsonl). */
export const StandinEvent = z
  .object({
    ts: z.number(),
    host: z.string(),
    pid: z.number(),
    event: z.string(),
    version: z.string(),
    role: z.string().optional(),
    argv: z.array(z.string()).optional(),
    env: z.record(z.string(), z.string()).optional(),
    config: z.record(z.string(), z.unknown()).optional(),
    manifests: z.array(z.object({ file: z.string(), sha256: z.string(), charts: z.array(z.record(z.string(), z.unknown())) })).optional(),
    token: z.object({ source: z.string().nullable(), file: z.string().optional(), mode: z.string().optional(), uid: z.number().optional(), sha256: z.string().optional() }).optional(),
    server: z.string().optional(),
    made: z.array(z.string()).optional(),
    errors: z.array(z.string()).optional(),
  })
  .loose();
export type StandinEvent = z.infer<typeof StandinEvent>;

export function standinEvents(lab: TestLab, name: string): StandinEvent[] {
  let text: string;
  try {
    text = readFileSync(lab.host(name).file("/var/lib/k3s-standin/events.jsonl"), "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => StandinEvent.parse(JSON.parse(l)));
}

export function readYamlFile(path: string): unknown {
  return parse(readFileSync(path, "utf8"));
}

export { sha256 };

/**
 * K3s configuration per host (`k3s/<host>/config.yaml`, installed as
 * /etc/rancher/k3s/config.yaml). Every key is checked against K3s' key table for the host's
 * role, and the values K3s compares between servers are checked to be identical: a config K3s
 * would refuse is a render-time error, not a service that does not start. Pure.
 *
 * The join token is never in these files: `token-file` points at a file the Ansible stage
 * writes (mode 0600) from the environment or the vault.
 */
import { stringify } from "yaml";
import { RenderError } from "../errors.js";
import { checkK3sKey, K3S_MERGED_KEYS, mustMatchMismatches, type K3sRole } from "../inventory/k3s-keys.js";
import type { Lab, LabHost } from "../model/lab.js";
import type { Artifact } from "./artifact.js";

/** Where the Ansible stage writes the join token on every node. */
export const K3S_TOKEN_FILE = "/etc/rancher/k3s/edgelab-token";
export const K3S_CONFIG_PATH = "/etc/rancher/k3s/config.yaml";
export const K3S_API_PORT = 6443;
/** Node label that puts a node in its BGP group. */
export const BGP_GROUP_LABEL = "bgp-group";

export type K3sValue = string | number | boolean | readonly string[];
export type K3sConfig = Readonly<Record<string, K3sValue>>;

export function apiEndpoint(lab: Lab): string {
  return lab.k3s.apiAddress;
}

export function apiUrl(lab: Lab): string {
  return `https://${apiEndpoint(lab)}:${K3S_API_PORT}`;
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** Adds the inventory's extra keys: list keys edgelab also sets get their items appended. */
function merge(base: Record<string, K3sValue>, extra: Readonly<Record<string, K3sValue>>): Record<string, K3sValue> {
  const out = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const mine = out[key];
    if (K3S_MERGED_KEYS.includes(key) && Array.isArray(mine) && Array.isArray(value)) out[key] = unique([...(mine as string[]), ...(value as string[])]);
    else out[key] = value;
  }
  return out;
}

/** The config of one host, before checking. */
export function k3sConfig(lab: Lab, host: LabHost): K3sConfig {
  const first = lab.servers[0];
  const isFirst = first !== undefined && first.name === host.name;
  const common: Record<string, K3sValue> = {
    "token-file": K3S_TOKEN_FILE,
    "node-name": host.name,
    "node-ip": [host.address],
    "node-label": [`${BGP_GROUP_LABEL}=${host.label}`],
  };
  if (host.role === "agent") {
    return merge({ server: apiUrl(lab), ...common }, lab.k3s.agentConfig);
  }
  const server: Record<string, K3sValue> = {
    ...(isFirst ? { "cluster-init": true } : { server: apiUrl(lab) }),
    ...common,
    "tls-san": unique([...(lab.k3s.vip ? [lab.k3s.vip.address] : []), ...lab.servers.map((s) => s.address)]),
    "cluster-cidr": [lab.k3s.clusterCidr],
    "service-cidr": [lab.k3s.serviceCidr],
    "cluster-dns": [lab.k3s.clusterDns],
    "cluster-domain": lab.k3s.clusterDomain,
    // Cilium is the CNI, enforces network policy and replaces kube-proxy.
    "flannel-backend": "none",
    "disable-network-policy": true,
    "disable-kube-proxy": true,
    // Cilium's LB-IPAM hands out LoadBalancer addresses; Cilium's ingress replaces traefik.
    disable: ["servicelb", "traefik"],
    "secrets-encryption": lab.k3s.secretsEncryption,
    "write-kubeconfig-mode": "0600",
  };
  return merge(server, lab.k3s.serverConfig);
}

/** Throws RenderError for a key K3s does not know for this role or a value of the wrong type. */
export function checkK3sConfig(file: string, role: K3sRole, config: K3sConfig): void {
  for (const [key, value] of Object.entries(config)) {
    const problem = checkK3sKey(role, key, value);
    if (problem !== undefined) throw new RenderError(file, problem.message, problem.hint);
  }
}

/** Throws RenderError when servers disagree on a value K3s requires to be identical. */
export function checkMustMatch(servers: readonly { readonly host: string; readonly config: K3sConfig }[]): void {
  const [mismatch] = mustMatchMismatches(servers);
  if (mismatch === undefined) return;
  const shown = mismatch.values.map((v) => `${v.host}: ${JSON.stringify(v.value ?? null)}`).join(", ");
  throw new RenderError(`k3s/${mismatch.values[0]?.host ?? "?"}/config.yaml`, `servers disagree on '${mismatch.key}' (${shown})`, "K3s refuses to join a server whose value differs (\"critical configuration value mismatch\"): set it once for all servers.");
}

export function k3sConfigPath(host: string): string {
  return `k3s/${host}/config.yaml`;
}

function header(lab: Lab, host: LabHost): string {
  const first = lab.servers[0]?.name === host.name;
  const what = host.role === "agent" ? "agent" : first ? "server (first: initialises the cluster)" : "server";
  return [
    `# K3s ${what} ${host.name} of lab ${lab.name}, K3s ${lab.k3s.version}. Rendered by edgelab: do not edit.`,
    `# Installed as ${K3S_CONFIG_PATH}. The join token is read from ${K3S_TOKEN_FILE} (0600).`,
    "",
  ].join("\n");
}

export function renderK3s(lab: Lab): Artifact[] {
  const configs = lab.hosts.map((host) => ({ host, config: k3sConfig(lab, host) }));
  for (const { host, config } of configs) checkK3sConfig(k3sConfigPath(host.name), host.role, config);
  checkMustMatch(configs.filter((c) => c.host.role === "server").map((c) => ({ host: c.host.name, config: c.config })));
  return configs.map(({ host, config }) => ({
    path: k3sConfigPath(host.name),
    content: header(lab, host) + stringify(config, { lineWidth: 0 }),
    mode: 0o644,
    family: "k3s",
  }));
}

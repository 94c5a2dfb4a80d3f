/**
 * The K3s config keys (`/etc/rancher/k3s/config.yaml`: every long flag is a key), with their
 * types and the roles that accept them, and the values every server must share. Taken from
 * K3s' flag definitions (shared/reference/k3s-keys-cilium-values.md, A1 and A2). Pure data and
 * checks; used by validation (keys from the inventory) and by the K3s renderer (every key).
 */
import { closest } from "../util/suggest.js";

/** bool, string, string list, integer, Go duration. */
export type K3sKeyType = "bool" | "string" | "list" | "int" | "duration";
export type K3sKeyRole = "both" | "server" | "agent";

export interface K3sKey {
  readonly type: K3sKeyType;
  readonly role: K3sKeyRole;
}

const keys = new Map<string, K3sKey>();
function add(role: K3sKeyRole, type: K3sKeyType, names: string): void {
  for (const name of names.split(/\s+/).filter(Boolean)) keys.set(name, { type, role });
}

// Accepted by both `k3s server` and `k3s agent`.
add("both", "bool", "debug alsologtostderr with-node-id selinux protect-kernel-defaults disable-default-registry-endpoint docker nonroot-devices enable-pprof rootless prefer-bundled-bin");
add("both", "int", "v lb-server-port");
add("both", "string", "config vmodule log token token-file server data-dir node-name image-credential-provider-bin-dir image-credential-provider-config");
add("both", "string", "container-runtime-endpoint default-runtime image-service-endpoint pause-image snapshotter private-registry bind-address resolv-conf flannel-iface flannel-conf flannel-cni-conf vpn-auth vpn-auth-file");
add("both", "list", "node-label node-taint airgap-extra-registry node-ip node-external-ip node-internal-dns node-external-dns kubelet-arg kube-proxy-arg");
// Agent only.
add("agent", "bool", "disable-apiserver-lb");
// Server only.
add("server", "int", "https-listen-port advertise-port etcd-snapshot-retention etcd-s3-retention");
add("server", "bool", "tls-san-security flannel-ipv6-masq flannel-external-ip flannel-ip-masq-disable-random-fully cluster-init cluster-reset kine-tls");
add("server", "bool", "etcd-expose-metrics etcd-disable-snapshots etcd-snapshot-compress etcd-s3 etcd-s3-skip-ssl-verify etcd-s3-insecure");
add("server", "bool", "disable-scheduler disable-cloud-controller disable-kube-proxy disable-network-policy disable-helm-controller embedded-registry supervisor-metrics secrets-encryption");
add("server", "bool", "disable-apiserver disable-controller-manager disable-etcd disable-agent");
add("server", "string", "advertise-address service-node-port-range cluster-domain flannel-backend egress-selector-mode servicelb-namespace");
add("server", "string", "write-kubeconfig write-kubeconfig-mode write-kubeconfig-group helm-job-image agent-token agent-token-file cluster-reset-restore-path");
add("server", "string", "datastore-endpoint datastore-cafile datastore-certfile datastore-keyfile");
add("server", "string", "etcd-snapshot-name etcd-snapshot-schedule-cron etcd-snapshot-dir etcd-s3-endpoint etcd-s3-endpoint-ca etcd-s3-access-key etcd-s3-secret-key etcd-s3-bucket etcd-s3-region etcd-s3-folder etcd-s3-proxy etcd-s3-config-secret etcd-s3-session-token etcd-s3-bucket-lookup-type");
add("server", "string", "default-local-storage-path system-default-registry secrets-encryption-provider");
add("server", "duration", "etcd-s3-timeout");
add("server", "list", "tls-san cluster-cidr service-cidr cluster-dns disable kube-apiserver-arg etcd-arg kube-controller-manager-arg kube-scheduler-arg kube-cloud-controller-manager-arg kube-controller-arg kube-cloud-controller-arg");

export const K3S_KEYS: ReadonlyMap<string, K3sKey> = keys;

/** Values K3s compares between servers ("critical configuration value mismatch"). */
export const K3S_MUST_MATCH: readonly string[] = [
  "cluster-cidr",
  "service-cidr",
  "cluster-dns",
  "cluster-domain",
  "disable",
  "disable-cloud-controller",
  "disable-helm-controller",
  "disable-network-policy",
  "disable-kube-proxy",
  "secrets-encryption",
  "secrets-encryption-provider",
  "embedded-registry",
  "flannel-backend",
  "flannel-ipv6-masq",
  "flannel-ip-masq-disable-random-fully",
  "flannel-external-ip",
  "egress-selector-mode",
  "supervisor-metrics",
  "agent-token",
];

/** Components `disable` accepts. */
export const K3S_DISABLE_ITEMS: readonly string[] = ["coredns", "servicelb", "traefik", "local-storage", "metrics-server", "runtimes"];

/** Keys edgelab writes itself, and where the inventory sets them instead. */
export const K3S_MANAGED_KEYS: Readonly<Record<string, string>> = {
  token: "k3s.token",
  "token-file": "k3s.token",
  "agent-token": "k3s.token",
  "agent-token-file": "k3s.token",
  server: "k3s.api_vip (the endpoint joining nodes use)",
  "cluster-init": "the order of the servers (the first one initialises the cluster)",
  "node-name": "the host's inventory name",
  "node-ip": "the host's ansible_host",
  "cluster-cidr": "k3s.cluster_cidr",
  "service-cidr": "k3s.service_cidr",
  "cluster-dns": "k3s.cluster_dns",
  "cluster-domain": "k3s.cluster_domain",
  "secrets-encryption": "k3s.secrets_encryption",
  "flannel-backend": "nothing: Cilium is the CNI, so flannel stays off",
  "disable-network-policy": "nothing: Cilium enforces network policy",
  "disable-kube-proxy": "nothing: Cilium replaces kube-proxy",
  "write-kubeconfig-mode": "nothing: the kubeconfig stays readable by root only (0600)",
  "data-dir": "nothing: edgelab's roles use K3s' default data directory",
  config: "nothing: the rendered file is the config",
};

/** Keys whose items are added to edgelab's own. */
export const K3S_MERGED_KEYS: readonly string[] = ["tls-san", "node-label", "disable"];

export type K3sRole = "server" | "agent";

export interface K3sKeyProblem {
  readonly key: string;
  readonly message: string;
  readonly hint: string;
}

function typeMatches(type: K3sKeyType, value: unknown): boolean {
  switch (type) {
    case "bool":
      return typeof value === "boolean";
    case "string":
      return typeof value === "string";
    case "int":
      return typeof value === "number" && Number.isInteger(value);
    case "duration":
      return typeof value === "string" && /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(value);
    case "list":
      return Array.isArray(value) && value.every((v) => typeof v === "string");
  }
}

const TYPE_NAMES: Readonly<Record<K3sKeyType, string>> = {
  bool: "true or false",
  string: "a string",
  int: "an integer",
  duration: "a duration such as 5m",
  list: "a list of strings",
};

/** Checks one key/value for a role: a real K3s key, accepted by that role, of the right type. */
export function checkK3sKey(role: K3sRole, key: string, value: unknown): K3sKeyProblem | undefined {
  const spec = K3S_KEYS.get(key);
  if (spec === undefined) {
    const suggestion = closest(key, [...K3S_KEYS.keys()].filter((k) => K3S_KEYS.get(k)?.role === "both" || K3S_KEYS.get(k)?.role === role));
    return { key, message: `'${key}' is not a K3s ${role} config key`, hint: suggestion !== undefined ? `Did you mean '${suggestion}'?` : "Config keys are the long flag names of `k3s server` / `k3s agent` without the leading dashes." };
  }
  if (spec.role !== "both" && spec.role !== role) {
    return { key, message: `'${key}' is a K3s ${spec.role} key; a K3s ${role} refuses to start with it`, hint: `Set it for ${spec.role}s only.` };
  }
  if (!typeMatches(spec.type, value)) {
    return { key, message: `K3s key '${key}' takes ${TYPE_NAMES[spec.type]}`, hint: spec.type === "list" ? `Write it as a YAML list: ${key}: [value]` : `Give '${key}' ${TYPE_NAMES[spec.type]}.` };
  }
  if (key === "disable" && Array.isArray(value)) {
    const unknown = value.filter((v) => typeof v === "string" && !K3S_DISABLE_ITEMS.includes(v));
    if (unknown.length > 0) return { key, message: `K3s cannot disable ${unknown.map((u) => `'${String(u)}'`).join(", ")}`, hint: `Packaged components: ${K3S_DISABLE_ITEMS.join(", ")}.` };
  }
  return undefined;
}

/** Must-match keys whose values differ between servers, with who has what. */
export function mustMatchMismatches(servers: readonly { readonly host: string; readonly config: Readonly<Record<string, unknown>> }[]): { key: string; values: { host: string; value: unknown }[] }[] {
  const out: { key: string; values: { host: string; value: unknown }[] }[] = [];
  for (const key of K3S_MUST_MATCH) {
    const values = servers.map((s) => ({ host: s.host, value: s.config[key] }));
    const distinct = new Set(values.map((v) => JSON.stringify(v.value ?? null)));
    if (distinct.size > 1) out.push({ key, values });
  }
  return out;
}

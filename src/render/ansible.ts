/**
 * `ansible/vars.yml`: the variables the playbooks need, derived from the Lab model — a pure
 * function of it. Every name is prefixed `edgelab_`; docs/cluster.md documents each one and
 * which role reads it. The names and shapes the roles read are the ones their
 * meta/argument_specs.yml declare (test/unit/render/ansible-roles.test.ts holds both sides
 * together).
 *
 * No secret is in it: a secret appears as its source (an environment variable, a file, the
 * inventory variable Ansible decrypts itself), which the roles read with no_log.
 */
import { stringify } from "yaml";
import type { SecretRef } from "../inventory/schema.js";
import type { Lab } from "../model/lab.js";
import type { Artifact } from "./artifact.js";
import { CILIUM_MANIFEST_PATH, K3S_STATIC_CHARTS_DIR } from "./cilium.js";
import { apiEndpoint, apiUrl, K3S_API_PORT, K3S_CONFIG_PATH, K3S_TOKEN_FILE } from "./k3s.js";

/** Where K3s imports image archives from at start. */
export const K3S_AGENT_IMAGES_DIR = "/var/lib/rancher/k3s/agent/images";

export type SecretSource = { readonly env: string } | { readonly file: string; readonly generated?: true } | { readonly inventory_var: string };

/**
 * Where a role reads a secret from. Paths are relative to the inventory's directory. `inventory_var`:
 * the inventory variable holds a vault value or a Jinja reference that Ansible resolves itself.
 */
export function secretSource(ref: SecretRef, id: string, inventoryVar: string): SecretSource {
  if (typeof ref === "string" || "vault" in ref) return { inventory_var: inventoryVar };
  if ("env" in ref) return { env: ref.env };
  if ("file" in ref) return { file: ref.file };
  return { file: `.edgelab/secrets/${id}`, generated: true };
}

/**
 * Where k3s_install reads the cluster token from, as the role's variables: the name of an
 * environment variable, a file on the controller, or a Jinja reference to the inventory variable
 * that holds it (a vault value Ansible decrypts itself). Never the token.
 */
export function k3sTokenVars(ref: SecretRef): Record<string, string> {
  const source = secretSource(ref, "k3s-token", "k3s.token");
  if ("env" in source) return { edgelab_k3s_token_env: source.env };
  if ("file" in source) return { edgelab_k3s_token_source_file: source.file };
  return { edgelab_k3s_token: `{{ ${source.inventory_var} }}` };
}

/** A host's storage in the storage role's own item shapes (see roles/storage/meta/argument_specs.yml). */
function storageVars(h: Lab["hosts"][number]): Record<string, unknown> {
  return {
    nfs_mounts: h.storage.nfs.map((n) => ({ src: n.export, path: n.path, opts: n.options })),
    // One login per portal and target, however many of its LUNs the host mounts.
    iscsi_targets: [...new Map(h.storage.iscsi.map((t) => [`${t.portal} ${t.target}`, t])).values()].map((t) => {
      const colon = t.portal.lastIndexOf(":");
      return { portal: t.portal.slice(0, colon), port: Number(t.portal.slice(colon + 1)), target: t.target };
    }),
    block_devices: h.storage.iscsi.map((t) => ({ device: t.device, fstype: t.fstype, path: t.path, opts: t.options, format: t.format })),
  };
}

export function ansibleVars(lab: Lab): Record<string, unknown> {
  const first = lab.servers[0];
  const vip = lab.k3s.vip;
  const registry = lab.images.registry;
  const dns = lab.dns;
  const storage = Object.fromEntries(
    lab.hosts
      .filter((h) => h.storage.nfs.length > 0 || h.storage.iscsi.length > 0)
      .map((h) => [h.name, storageVars(h)]),
  );
  const hostKeys = Object.fromEntries(lab.hosts.filter((h) => h.sshHostKeys.length > 0).map((h) => [h.name, h.sshHostKeys]));
  const sessions = (lab.cilium.bgp?.groups ?? []).flatMap((g) => g.hosts.flatMap((node) => g.peers.map((p) => ({ node, group: g.label, peer: p.name, address: p.address, asn: p.asn }))));
  return {
    edgelab_lab_name: lab.name,
    edgelab_k3s_version: lab.k3s.version,
    edgelab_k3s_api_endpoint: apiEndpoint(lab),
    edgelab_k3s_api_port: K3S_API_PORT,
    edgelab_k3s_api_url: apiUrl(lab),
    edgelab_k3s_first_server: first?.name ?? null,
    edgelab_k3s_servers: lab.servers.map((h) => h.name),
    edgelab_k3s_agents: lab.agents.map((h) => h.name),
    edgelab_k3s_config_path: K3S_CONFIG_PATH,
    edgelab_k3s_token_file: K3S_TOKEN_FILE,
    ...k3sTokenVars(lab.k3s.token),
    edgelab_k3s_install_source: lab.airgap === undefined ? "online" : "airgap",
    edgelab_k3s_airgap_binary: lab.airgap?.k3sBinary ?? null,
    edgelab_k3s_airgap_images: lab.airgap?.k3sImages ?? null,
    edgelab_k3s_airgap_checksums: lab.airgap?.k3sChecksums ?? null,
    edgelab_k3s_images_dir: K3S_AGENT_IMAGES_DIR,
    edgelab_k3s_image_archives: lab.airgap?.imageArchives ?? [],
    edgelab_images_dir: lab.images.archiveDir,
    edgelab_registry:
      registry === undefined
        ? null
        : { address: registry.address, username: registry.username ?? null, password_source: registry.password === undefined ? null : secretSource(registry.password, "registry-password", "images.registry.password"), ca_file: registry.caFile ?? null },
    edgelab_cilium_version: lab.cilium.version,
    edgelab_cilium_manifest_path: CILIUM_MANIFEST_PATH,
    edgelab_cilium_chart_archive: lab.airgap?.ciliumChart ?? null,
    edgelab_cilium_chart_dir: K3S_STATIC_CHARTS_DIR,
    edgelab_api_vip:
      vip === undefined
        ? null
        : {
            address: vip.address,
            prefix: vip.prefix ?? null,
            holder: vip.holder,
            router_id: vip.vrrp.routerId,
            interface: vip.vrrp.interface ?? null,
            password_source: vip.vrrp.password === undefined ? null : secretSource(vip.vrrp.password, "vrrp-password", "k3s.vrrp.password"),
            priorities: Object.fromEntries(vip.vrrp.priorities.map((p) => [p.host, p.priority])),
          },
    edgelab_storage: storage,
    edgelab_ssh_host_keys: hostKeys,
    edgelab_bgp_sessions: sessions,
    edgelab_dns:
      dns === undefined
        ? null
        : {
            name: dns.name,
            server: dns.server ?? null,
            port: dns.port,
            zone: dns.zone,
            ttl: dns.ttl,
            tsig: dns.tsig === undefined ? null : { name: dns.tsig.name, algorithm: dns.tsig.algorithm, secret_source: secretSource(dns.tsig.secret, "dns-tsig-secret", "dns.tsig.secret") },
          },
  };
}

export function renderAnsibleVars(lab: Lab): Artifact[] {
  const header = [
    `# Variables for edgelab's playbooks, lab ${lab.name}. Rendered by edgelab from the inventory: do not edit.`,
    "# Each is described in docs/cluster.md. Relative paths are relative to the inventory's directory.",
    "# No secret is written here: *_source says where a role reads it (environment, file, vault).",
    "",
  ].join("\n");
  return [{ path: "ansible/vars.yml", content: header + stringify(ansibleVars(lab), { lineWidth: 0 }), mode: 0o644, family: "ansible" }];
}

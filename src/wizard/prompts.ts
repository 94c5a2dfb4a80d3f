/**
 * The interactive side of `edgelab init` (I/O only): each question's answer is put into a draft
 * of the Answers and checked with the same checks as `--answers` (the inventory validator,
 * discovery, the cluster's vmids and names); a refused answer is asked again with the reason.
 */
import { connect as tlsConnect, type PeerCertificate } from "node:tls";
import { checkbox, confirm, input, number, password, select } from "@inquirer/prompts";
import { EdgelabError, UsageError } from "../errors.js";
import type { Context } from "../context.js";
import { certificateFacts, type CertificateFacts } from "../providers/proxmox/client.js";
import { Answers, checkLocalAnswers, LocalAnswers, plannedHosts, type AnswersInput, type LocalAnswersInput } from "./answers.js";
import { describeKey, expandPath, findPublicKeys, keyLine, readPublicKeyFile } from "./ssh-keys.js";
import { checkAll, connect, discoverAll, planFor, secretFromEnv, writeAtomically, type Discovered } from "./session.js";

export interface AskOptions {
  readonly ctx: Context;
  readonly output: string;
  readonly display: string;
  readonly force: boolean;
}

/** The certificate the API serves, and whether the system's CAs already trust it. Reads only. */
export function peekCertificate(url: string): Promise<{ facts: CertificateFacts; trusted: boolean } | undefined> {
  const u = new URL(url);
  if (u.protocol !== "https:") return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: u.hostname, port: Number(u.port || 443), servername: /^[\d.]+$/.test(u.hostname) ? undefined : u.hostname, rejectUnauthorized: false }, () => {
      const peer: PeerCertificate = socket.getPeerCertificate();
      const trusted = socket.authorized;
      socket.end();
      resolve({ facts: certificateFacts(peer), trusted });
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no TLS answer from ${u.host} within 10 s`)));
    socket.on("error", (err: Error) => reject(new EdgelabError(`cannot reach ${u.host}: ${err.message}`, { hint: "Is the URL right (https://<node>:8006), and is pveproxy running?" })));
  });
}

const PLACEHOLDER_VLAN = { id: 4000, subnet: "10.255.0.0/24", gateway: "10.255.0.1" };

function split(text: string): string[] {
  return text.split(/[\s,]+/).filter((s) => s !== "");
}

export async function askAnswers(opts: AskOptions): Promise<void> {
  try {
    await ask(opts);
  } catch (err) {
    if (err instanceof Error && err.name === "ExitPromptError") throw new EdgelabError("interrupted; nothing was written", { exitCode: 130 });
    throw err;
  }
}

/** The local lab: its name, streams, media servers and edges; the rest is inventories/local.yml's. */
async function askLocal({ ctx, output, display, force }: AskOptions): Promise<void> {
  const say = (text: string): void => ctx.stderr.write(`${text}\n`);
  const draft: LocalAnswersInput = { provider: "local" };
  const check = (question: string, patch: (d: LocalAnswersInput) => void): string | true => {
    const candidate = structuredClone(draft);
    patch(candidate);
    const parsed = LocalAnswers.safeParse(candidate);
    if (!parsed.success) return parsed.error.issues[0]?.message ?? "invalid";
    const issue = checkLocalAnswers(parsed.data, display).issues.find((i) => i.severity === "error" && (i.question === question || i.question.startsWith(`${question}[`)));
    return issue === undefined ? true : `${issue.message}${issue.hint !== undefined ? ` (${issue.hint})` : ""}`;
  };
  draft.name = await input({ message: "Lab name", default: "local", validate: (v) => check("name", (d) => { d.name = v; }) });
  draft.streams = split(await input({ message: "Stream names (comma-separated; each gets a test source and a generated key)", default: "live, sports", validate: (v) => check("streams", (d) => { d.streams = split(v); }) }));
  draft.media_servers = (await number({ message: "Number of media servers (streams are spread across them)", default: 2, required: true, validate: (v) => check("media_servers", (d) => { d.media_servers = v ?? 0; }) })) ?? 2;
  draft.edges = (await number({ message: "Number of edge caches (1 to 3)", default: 2, required: true, validate: (v) => check("edges", (d) => { d.edges = v ?? 0; }) })) ?? 2;
  const checked = checkLocalAnswers(LocalAnswers.parse(draft), display);
  const errors = checked.issues.filter((i) => i.severity === "error");
  if (errors.length > 0) throw new UsageError(`the answers are refused: ${errors.map((e) => `${e.question}: ${e.message}`).join("; ")}`, "Run edgelab init again.");
  say(`\n--- ${display}\n${checked.inventory.text}---`);
  if (!(await confirm({ message: `Write ${display}?`, default: true }))) {
    say("Nothing written.");
    return;
  }
  writeAtomically(output, checked.inventory.text, force);
  say(`Wrote ${display}. Next: edgelab up -i ${display}`);
}

const PASTE = "\0paste";
const FILE = "\0file";

/**
 * The SSH public keys cloud-init installs for `user`: the keys in ~/.ssh/*.pub as choices (the
 * first of id_ed25519, id_ecdsa, id_rsa chosen), a pasted key, or a file's keys. Each is checked
 * as `edgelab validate` checks proxmox.ssh_keys; a private key is refused.
 */
async function askKeys(ctx: Context, user: string, check: (question: string, patch: (d: AnswersInput) => void) => string | true): Promise<string[]> {
  const home = ctx.env["HOME"];
  const found = findPublicKeys(home);
  const chosen = await checkbox({
    message: `SSH public keys cloud-init installs for ${user}`,
    choices: [
      ...found.map((f) => ({ name: `${f.file}  ${describeKey(f.key)}`, value: keyLine(f.key), checked: f.preferred })),
      { name: "paste a key", value: PASTE },
      { name: "read from a file", value: FILE },
    ],
    validate: (items) => (items.length > 0 ? true : "choose at least one key: space selects, enter goes on"),
  });
  const keys = chosen.filter((v) => v !== PASTE && v !== FILE);
  if (chosen.includes(PASTE)) {
    const pasted = await input({ message: "Public key (the one line of its .pub file)", validate: (v) => check("ssh_keys", (d) => { d.ssh_keys = [...keys, v]; }) });
    keys.push(pasted.trim());
  }
  if (chosen.includes(FILE)) {
    const read = (v: string): ReturnType<typeof readPublicKeyFile> => readPublicKeyFile(expandPath(v.trim(), home, ctx.cwd));
    const file = await input({ message: "Public key file (e.g. ~/.ssh/id_ed25519.pub)", validate: (v) => {
      if (v.trim() === "") return "no file given";
      const r = read(v);
      return r.ok ? true : `${r.reason} (${r.hint})`;
    } });
    const r = read(file);
    if (r.ok) keys.push(...r.keys.map(keyLine));
  }
  return keys;
}

async function ask({ ctx, output, display, force }: AskOptions): Promise<void> {
  const say = (text: string): void => ctx.stderr.write(`${text}\n`);
  const provider = await select({ message: "Where will the lab run?", choices: [{ name: "proxmox: VMs on a Proxmox VE cluster", value: "proxmox" }, { name: "local: processes on loopback on this machine", value: "local" }] });
  if (provider === "local") {
    await askLocal({ ctx, output, display, force });
    return;
  }

  const draft: AnswersInput = { proxmox: { url: "", node: "", template: 100, storage: "", token_id: "" }, servers: { count: 3, vlan: PLACEHOLDER_VLAN, peer: { address: "10.255.0.1", asn: 65000 } }, workers: [], dns_name: "live.example.com" };
  let discovered: Discovered | undefined;
  const empty: Discovered = { cluster: { nodes: [], templates: [], vms: [] }, choices: { storages: [], bridges: [] } };
  /** The reason `question` (and what is under it) is refused with `patch` applied, or true. */
  const check = (question: string, patch: (d: AnswersInput) => void): string | true => {
    const candidate = structuredClone(draft);
    patch(candidate);
    const parsed = Answers.safeParse(candidate);
    if (!parsed.success) return parsed.error.issues[0]?.message ?? "invalid";
    const d = discovered ?? empty;
    const issue = checkAll(parsed.data, d.cluster, d.choices, display).all.find((i) => i.severity === "error" && (i.question === question || i.question.startsWith(`${question}.`) || i.question.startsWith(`${question}[`)) && !(discovered === undefined && i.question.startsWith("proxmox.") && /node|template|storage|bridge/.test(i.question)));
    return issue === undefined ? true : `${issue.message}${issue.hint !== undefined ? ` (${issue.hint})` : ""}`;
  };

  draft.proxmox.url = await input({ message: "Proxmox API URL", default: "https://pve01.example.com:8006", validate: (v) => check("proxmox.url", (d) => { d.proxmox.url = v; }) });
  const cert = await peekCertificate(draft.proxmox.url);
  if (cert !== undefined && !cert.trusted) {
    say(`The API's certificate is not signed by a CA this machine trusts:\n  subject: ${cert.facts.subject}\n  issuer:  ${cert.facts.issuer}\n  names:   ${cert.facts.names}\n  SHA-256: ${cert.facts.fingerprint}\nCompare the fingerprint with the node's (pvenode cert info, or the web UI's certificate view).`);
    const pin = await confirm({ message: "Pin this certificate (trust exactly this one)?", default: false });
    if (!pin) throw new UsageError("the API certificate is not trusted; nothing was written", "Pin it when it matches the node's, or give proxmox.ca_file in the inventory.");
    draft.proxmox.tls_fingerprint = cert.facts.fingerprint;
  }
  draft.proxmox.token_id = await input({ message: "API token id (user@realm!name)", default: ctx.env["PROXMOX_TOKEN_ID"] ?? "edgelab@pve!edgelab", validate: (v) => check("proxmox.token_id", (d) => { d.proxmox.token_id = v; }) });
  let secret = secretFromEnv(ctx.env);
  if (secret !== undefined) say("Token secret: taken from PROXMOX_TOKEN_SECRET (it is never written).");
  else secret = await password({ message: "API token secret (hidden; never written)", mask: false, validate: (v) => (v === "" ? "the secret is needed to read the cluster" : true) });

  const client = connect({ url: draft.proxmox.url, tokenId: draft.proxmox.token_id, tokenSecret: secret, fingerprint: draft.proxmox.tls_fingerprint });
  try {
    const first = await discoverAll(client, "");
    const online = first.cluster.nodes.filter((n) => n.online);
    if (online.length === 0) throw new EdgelabError("no online node in the cluster", { hint: "Check the cluster's state in the web UI." });
    draft.proxmox.node = await select({ message: "Node for the VMs", choices: online.map((n) => ({ name: `${n.name}${n.freeMemoryMiB !== undefined ? `  (${Math.round(n.freeMemoryMiB / 1024)} GiB free)` : ""}`, value: n.name })) });
    discovered = await discoverAll(client, draft.proxmox.node);
    const templates = discovered.cluster.templates;
    if (templates.length === 0) throw new EdgelabError("the cluster has no template (a VM with template=1)", { hint: "Create a cloud-init template first (docs/proxmox.md)." });
    draft.proxmox.template = await select({ message: "Template to clone", choices: templates.map((t) => ({ name: `${t.vmid} ${t.name}  (${t.ostype ?? "?"}, ${t.diskGiB ?? "?"} GiB, on ${t.node})${t.description !== undefined ? ` ${t.description}` : ""}`, value: t.vmid })) });
    draft.proxmox.storage = await select({ message: "Storage for the VMs' disks", choices: discovered.choices.storages.map((s) => ({ name: `${s.id}  (${s.shared ? "shared" : "local"}, ${s.availGiB ?? "?"} GiB free)`, value: s.id })) });
    draft.proxmox.bridge = await select({ message: "Bridge for the VMs' NIC", choices: discovered.choices.bridges.map((b) => ({ name: `${b.iface}  (${b.vlanAware ? "VLAN-aware" : "not VLAN-aware"})`, value: b.iface })) });

    draft.name = await input({ message: "Lab name", default: "edgelab", validate: (v) => check("name", (d) => { d.name = v; }) });
    draft.ssh_keys = await askKeys(ctx, draft.user ?? "ansibleuser", check);
    const group = async (question: "servers" | `workers[${number}]`, what: string, get: (d: AnswersInput) => AnswersInput["servers"]): Promise<void> => {
      const g = get(draft);
      const id = await number({ message: `${what}: VLAN id`, required: true, validate: (v) => check(`${question}.vlan`, (d) => { get(d).vlan.id = v ?? 0; }) });
      g.vlan = { ...g.vlan, id: id ?? 0 };
      const vlanName = await input({ message: `${what}: VLAN name (optional, e.g. dc-east)`, default: "", validate: (v) => check(`${question}.vlan`, (d) => { get(d).vlan.name = v.trim() === "" ? undefined : v.trim(); }) });
      if (vlanName.trim() !== "") g.vlan.name = vlanName.trim();
      g.vlan.subnet = await input({ message: `${what}: subnet (CIDR)`, validate: (v) => check(`${question}.vlan`, (d) => { get(d).vlan.subnet = v; get(d).vlan.gateway = v.replace(/\.\d+\/\d+$/, ".1"); }) });
      g.vlan.gateway = await input({ message: `${what}: gateway`, default: g.vlan.subnet.replace(/\.\d+\/\d+$/, ".1"), validate: (v) => check(`${question}.vlan`, (d) => { get(d).vlan.gateway = v; }) });
      g.peer.address = await input({ message: `${what}: BGP peer router address`, default: g.vlan.gateway, validate: (v) => check(`${question}.peer`, (d) => { get(d).peer.address = v; }) });
      g.peer.asn = (await number({ message: `${what}: BGP peer ASN`, required: true, validate: (v) => check(`${question}.peer`, (d) => { get(d).peer.asn = v ?? 0; }) })) ?? 0;
    };
    draft.servers.count = (await number({ message: "Number of K3s servers (odd: 1 or 3 for etcd quorum)", default: 3, required: true, validate: (v) => check("servers.count", (d) => { d.servers.count = v ?? 0; }) })) ?? 3;
    await group("servers", "Servers", (d) => d.servers);
    const workers = draft.workers ?? [];
    draft.workers = workers;
    while (await confirm({ message: workers.length === 0 ? "Add a worker group?" : "Add another worker group?", default: workers.length === 0 })) {
      const i = workers.length;
      const label = await input({ message: "Worker group name (node label, e.g. west-worker)", validate: (v) => check(`workers[${i}].label`, (d) => { d.workers = [...(d.workers ?? []), { label: v, count: 1, vlan: PLACEHOLDER_VLAN, peer: { address: "10.255.0.1", asn: 65000 } }]; }) });
      workers.push({ label, count: 1, vlan: { ...PLACEHOLDER_VLAN }, peer: { address: "10.255.0.1", asn: 65000 } });
      const at = (d: AnswersInput): AnswersInput["servers"] => {
        const w = d.workers?.[i];
        if (w === undefined) throw new Error(`worker group ${i} missing from the draft`);
        return w;
      };
      await group(`workers[${i}]`, label, at);
      at(draft).count = (await number({ message: `${label}: number of workers`, default: 1, required: true, validate: (v) => check(`workers[${i}]`, (d) => { at(d).count = v ?? 0; }) })) ?? 1;
    }

    // Proposed addresses and vmids, editable.
    const proposal = plannedHosts(Answers.parse(draft), { vmids: discovered.cluster.vms.map((v) => v.vmid), names: discovered.cluster.vms.map((v) => v.name) });
    const groups: { q: "servers" | `workers[${number}]`; get: (d: AnswersInput) => AnswersInput["servers"] }[] = [{ q: "servers", get: (d) => d.servers }, ...workers.map((_, i) => ({ q: `workers[${i}]` as const, get: (d: AnswersInput) => d.workers?.[i] ?? d.servers }))];
    for (const { q, get } of groups) {
      const mine = proposal.filter((h) => h.question === q);
      const addresses = await input({ message: `${q}: addresses`, default: mine.map((h) => h.address).join(", "), validate: (v) => check(`${q}.addresses`, (d) => { get(d).addresses = split(v); }) });
      get(draft).addresses = split(addresses);
      const vmids = await input({ message: `${q}: VM ids`, default: mine.map((h) => h.vmid).join(", "), validate: (v) => check(`${q}.vmids`, (d) => { get(d).vmids = split(v).map(Number); }) });
      get(draft).vmids = split(vmids).map(Number);
      const names = await input({ message: `${q}: host names (VM and K3s node names)`, default: mine.map((h) => h.name).join(", "), validate: (v) => check(`${q}.names`, (d) => { get(d).names = split(v); }) });
      get(draft).names = split(names);
    }

    // The VMs' resolvers (cloud-init): the servers' gateway is offered, as most lab routers answer DNS.
    const resolvers = await input({ message: "Nameservers for the VMs (comma-separated; empty: none set)", default: draft.servers.vlan.gateway, validate: (v) => check("nameservers", (d) => { d.nameservers = split(v); }) });
    draft.nameservers = split(resolvers);
    const search = await input({ message: "Search domain for the VMs (optional)", default: "", validate: (v) => check("search_domain", (d) => { d.search_domain = v.trim() === "" ? undefined : v.trim(); }) });
    if (search.trim() !== "") draft.search_domain = search.trim();

    const templateDisk = discovered.cluster.templates.find((t) => t.vmid === draft.proxmox.template)?.diskGiB ?? 0;
    draft.vcpus = (await number({ message: "vCPUs per VM", default: 4, required: true, validate: (v) => check("vcpus", (d) => { d.vcpus = v ?? 0; }) })) ?? 4;
    draft.memory = (await number({ message: "Memory per VM (MiB)", default: 4096, required: true, validate: (v) => check("memory", (d) => { d.memory = v ?? 0; }) })) ?? 4096;
    draft.disk = (await number({ message: `Disk per VM (GiB, at least the template's ${templateDisk})`, default: Math.max(32, Math.ceil(templateDisk)), required: true, validate: (v) => check("disk", (d) => { d.disk = v ?? 0; }) })) ?? 32;
    draft.k3s_version = await input({ message: "K3s version", default: "v1.34.3+k3s1", validate: (v) => check("k3s_version", (d) => { d.k3s_version = v; }) });
    draft.cilium_version = await input({ message: "Cilium version", default: "1.19.1", validate: (v) => check("cilium_version", (d) => { d.cilium_version = v; }) });
    draft.local_asn = (await number({ message: "Cluster ASN (private: 64512–65534)", default: 64513, required: true, validate: (v) => check("local_asn", (d) => { d.local_asn = v ?? 0; }) })) ?? 64513;
    draft.lb_pool = split(await input({ message: "LoadBalancer pool (CIDRs, comma-separated)", validate: (v) => check("lb_pool", (d) => { d.lb_pool = split(v); }) }));
    draft.dns_name = await input({ message: "DNS name viewers use", default: "live.example.com", validate: (v) => check("dns_name", (d) => { d.dns_name = v; }) });
    draft.streams = split(await input({ message: "Stream names (comma-separated)", default: "live", validate: (v) => check("streams", (d) => { d.streams = split(v); }) }));

    const answers = Answers.parse(draft);
    const checked = checkAll(answers, discovered.cluster, discovered.choices, display);
    const errors = checked.all.filter((i) => i.severity === "error");
    if (errors.length > 0) throw new UsageError(`the answers are refused: ${errors.map((e) => `${e.question}: ${e.message}`).join("; ")}`, "Run edgelab init again.");
    const { lines } = await planFor(client, checked.inventory.text, display);
    say(`\n--- ${display}\n${checked.inventory.text}---\nPlan (what edgelab provision would do):`);
    for (const line of lines) say(`  ${line}`);
    if (!(await confirm({ message: `Write ${display}?`, default: true }))) {
      say("Nothing written.");
      return;
    }
    writeAtomically(output, checked.inventory.text, force);
    say(`Wrote ${display}. Next: edgelab validate -i ${display} && edgelab provision -i ${display}`);
  } finally {
    client.close();
  }
}

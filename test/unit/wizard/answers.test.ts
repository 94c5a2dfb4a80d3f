import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { validateInventoryText } from "../../../src/inventory/validate.js";
import { Answers, buildLocalInventory, checkAnswers, checkLocalAnswers, LocalAnswers, proposeAddresses, proposeVmids, type AnswersInput } from "../../../src/wizard/answers.js";

/** A public key line as a .pub file holds it (inventories/lab.yml's). */
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEdCQddV402NdWP88l9wNa2nHo+Zhlbb4P9Xtn/7r/Wo you@workstation";

const base: AnswersInput = {
  name: "seed-lab",
  ssh_keys: [KEY],
  proxmox: { url: "https://pve01.example.com:8006", node: "pve01", template: 9000, storage: "ssd02-4T", token_id: "edgelab@pve!edgelab" },
  servers: { count: 3, vlan: { id: 221, name: "dc-east", subnet: "172.16.221.0/24", gateway: "172.16.221.1" }, peer: { address: "172.16.221.1", asn: 200 } },
  workers: [
    { label: "west-worker", count: 1, vlan: { id: 222, subnet: "172.16.222.0/24", gateway: "172.16.222.1" }, peer: { address: "172.16.222.1", asn: 30 } },
    { label: "east-worker", count: 2, vlan: { id: 223, subnet: "172.16.223.0/24", gateway: "172.16.223.1" }, peer: { address: "172.16.223.1", asn: 30 } },
  ],
  lb_pool: ["172.16.228.0/24"],
  dns_name: "live.example.com",
  streams: ["live", "sports"],
};

function answers(patch: (a: AnswersInput) => void = () => undefined): Answers {
  const copy = structuredClone(base);
  patch(copy);
  return Answers.parse(copy);
}

describe("wizard answers → inventory", () => {
  it("writes an inventory the real validator accepts, with the schema line and no secret values", () => {
    const { inventory, issues } = checkAnswers(answers(), { vmids: [3001, 3002], names: [] });
    expect(issues).toEqual([]);
    expect(validateInventoryText(inventory.text, "x.yml").issues).toEqual([]);
    expect(inventory.text.split("\n")[0]).toBe("# yaml-language-server: $schema=./inventory.schema.json");
    const doc = parse(inventory.text) as { all: { vars: { proxmox: { token_secret: unknown }; k3s: { token: unknown }; streams: { key: unknown }[] }; children: { k3s_cluster: { children: { master: { hosts: Record<string, { vmid: number; ansible_host: string; label: string }> }; node: { hosts: Record<string, { data_vlan: number; label: string }> } } } } } };
    expect(doc.all.vars.proxmox.token_secret).toEqual({ env: "PROXMOX_TOKEN_SECRET" });
    expect(doc.all.vars.k3s.token).toEqual({ env: "K3S_TOKEN" });
    expect(doc.all.vars.streams.map((s) => s.key)).toEqual([{ generate: true }, { generate: true }]);
    const masters = Object.values(doc.all.children.k3s_cluster.children.master.hosts);
    // Occupied ids 3001 and 3002 are skipped; the gateway is never proposed.
    expect(masters.map((h) => h.vmid)).toEqual([3003, 3004, 3005]);
    expect(masters.map((h) => h.ansible_host)).toEqual(["172.16.221.10", "172.16.221.11", "172.16.221.12"]);
    const workers = Object.values(doc.all.children.k3s_cluster.children.node.hosts);
    expect(workers.map((h) => [h.data_vlan, h.label])).toEqual([[222, "west-worker"], [223, "east-worker"], [223, "east-worker"]]);
  });

  it("an even number of servers is refused with the validator's message, named as servers.count", () => {
    const { issues } = checkAnswers(answers((a) => { a.servers.count = 2; }));
    const issue = issues.find((i) => i.severity === "error");
    expect(issue?.question).toBe("servers.count");
    expect(issue?.message).toMatch(/2 K3s servers: etcd needs a majority/);
  });

  it("an address outside its subnet is refused and named by its answer", () => {
    const { issues } = checkAnswers(answers((a) => { const west = a.workers?.[0]; if (west) west.addresses = ["172.16.99.5"]; }));
    const errors = issues.filter((i) => i.severity === "error");
    expect(errors.map((i) => i.question)).toContain("workers[0].addresses[0]");
    expect(errors.find((i) => i.question === "workers[0].addresses[0]")?.message).toMatch(/172\.16\.222\.0\/24|subnet/);
  });

  it("an LB pool overlapping a node subnet is refused as lb_pool", () => {
    const { issues } = checkAnswers(answers((a) => { a.lb_pool = ["172.16.221.128/25"]; }));
    const errors = issues.filter((i) => i.severity === "error");
    expect(errors.map((i) => i.question)).toContain("lb_pool");
  });

  it("a vmid taken on the cluster and a disk smaller than the template are refused", () => {
    const { issues } = checkAnswers(answers((a) => { a.servers.vmids = [4001, 4002, 4003]; a.disk = 8; }), { vmids: [4002], names: [], templateDiskGiB: 10 });
    expect(issues.map((i) => i.question)).toEqual(expect.arrayContaining(["servers.vmids[1]", "disk"]));
  });

  it("a literal-looking answer cannot inject YAML: a DNS name with a newline and key is rejected, not written as a key", () => {
    const { inventory, issues } = checkAnswers(answers((a) => { a.dns_name = "live.example.com\n    evil: 1"; }));
    expect((parse(inventory.text) as { all: { vars: Record<string, unknown> } }).all.vars.evil).toBeUndefined();
    expect(issues.some((i) => i.question === "dns_name" && i.severity === "error")).toBe(true);
  });
});

describe("wizard answers: the SSH public keys for cloud-init", () => {
  let dir: string;
  let ed: { pub: string; priv: string };
  let rsaPub: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "edgelab-answers-keys-"));
    const make = (type: string, name: string): { pub: string; priv: string } => {
      execFileSync("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", `${name}@answers-test`, "-f", join(dir, name)]);
      return { pub: readFileSync(join(dir, `${name}.pub`), "utf8").trim(), priv: readFileSync(join(dir, name), "utf8") };
    };
    ed = make("ed25519", "ed");
    rsaPub = make("rsa", "rsa").pub;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const keysOf = (text: string): unknown => (parse(text) as { all: { vars: { proxmox: { ssh_keys?: unknown } } } }).all.vars.proxmox.ssh_keys;

  it("writes the given key lines to proxmox.ssh_keys, each key once", () => {
    const { inventory, issues } = checkAnswers(answers((a) => { a.ssh_keys = [ed.pub, rsaPub, `  ${ed.pub}  `]; }));
    expect(issues).toEqual([]);
    expect(keysOf(inventory.text)).toEqual([ed.pub, rsaPub]);
  });

  it("with no key, refuses as ssh_keys with what to add, instead of the validator's warning", () => {
    const { inventory, issues } = checkAnswers(answers((a) => { a.ssh_keys = []; }));
    expect(issues.map((i) => [i.severity, i.question, i.message])).toEqual([["error", "ssh_keys", "no SSH public key for ansibleuser: cloud-init would install none, and Ansible would have no way to log in to the VMs"]]);
    expect(issues[0]?.hint).toMatch(/ssh_keys: \["ssh-ed25519 AAAA\.\.\. you@host"\].*ssh_key_files: \[~\/\.ssh\/id_ed25519\.pub\]/);
    expect(keysOf(inventory.text)).toBeUndefined();
  });

  it("refuses a private key as ssh_keys[i], and its text never reaches the inventory", () => {
    const { inventory, issues } = checkAnswers(answers((a) => { a.ssh_keys = [ed.pub, ed.priv]; }));
    expect(issues.map((i) => [i.severity, i.question, i.message])).toEqual([["error", "ssh_keys[1]", "that is a private key; give its .pub"]]);
    expect(inventory.text).not.toContain("PRIVATE KEY");
    expect(inventory.text).not.toContain((ed.priv.split("\n")[1] ?? "").slice(0, 30));
    expect(keysOf(inventory.text)).toEqual([ed.pub]);
  });

  it("refuses a line that is not a public key, one whose key data is another type's, and an empty answer", () => {
    const rsaBlob = rsaPub.split(" ")[1] ?? "";
    const { issues } = checkAnswers(answers((a) => { a.ssh_keys = ["my laptop", `ssh-ed25519 ${rsaBlob}`, "  "]; }));
    expect(issues.map((i) => [i.question, i.message])).toEqual([
      ["ssh_keys[0]", "not an OpenSSH public key: unknown key type 'my'"],
      ["ssh_keys[1]", "not an OpenSSH public key: the key data is not a ssh-ed25519 key (it holds a ssh-rsa key)"],
      ["ssh_keys[2]", "no key given"],
    ]);
  });
});

describe("proposals", () => {
  it("addresses skip the gateway and taken ones; small subnets start at the first host", () => {
    expect(proposeAddresses("10.0.0.0/29", "10.0.0.1", 3, ["10.0.0.3"])).toEqual(["10.0.0.2", "10.0.0.4", "10.0.0.5"]);
    expect(proposeAddresses("10.0.0.0/24", "10.0.0.10", 2)).toEqual(["10.0.0.11", "10.0.0.12"]);
  });
  it("vmids are a consecutive free range", () => {
    expect(proposeVmids(100, 3, [101, 105])).toEqual([102, 103, 104]);
  });
});

describe("wizard answers → local inventory", () => {
  const strip = (text: string): string[] =>
    text
      .split("\n")
      .map((l) => l.replace(/\s+#.*$/, ""))
      .filter((l) => l.trim() !== "" && !l.startsWith("#"));

  it("with the defaults, is inventories/local.yml (comments aside), and validates", () => {
    const { inventory, issues } = checkLocalAnswers(LocalAnswers.parse({ provider: "local" }));
    expect(issues).toEqual([]);
    expect(inventory.text.split("\n")[0]).toBe("# yaml-language-server: $schema=./inventory.schema.json");
    expect(strip(inventory.text)).toEqual(strip(readFileSync(join(import.meta.dirname, "..", "..", "..", "inventories", "local.yml"), "utf8")));
  });

  it("carries the user's streams, media servers and edges into a lab that validates", () => {
    const { inventory, issues } = checkLocalAnswers(LocalAnswers.parse({ provider: "local", name: "studio", streams: ["cam-a", "cam-b", "slides"], media_servers: 1, edges: 3 }));
    expect(issues).toEqual([]);
    const facts = validateInventoryText(inventory.text, "studio.yml").facts;
    expect(facts).toBeDefined();
    const doc = parse(inventory.text) as { all: { vars: { lab: unknown; streams: { name: string }[]; media: { servers: number } }; children: { k3s_cluster: { children: { node: { hosts: Record<string, unknown> } } } } } };
    expect(doc.all.vars.lab).toEqual({ name: "studio", provider: "local" });
    expect(doc.all.vars.streams.map((s) => s.name)).toEqual(["cam-a", "cam-b", "slides"]);
    expect(doc.all.vars.media.servers).toBe(1);
    expect(Object.keys(doc.all.children.k3s_cluster.children.node.hosts)).toHaveLength(3);
  });

  it("refuses what edgelab validate refuses, with its message, named by the answer", () => {
    const { issues } = checkLocalAnswers(LocalAnswers.parse({ provider: "local", streams: ["live", "live"], media_servers: 0 }));
    const validate = validateInventoryText(buildLocalInventory(LocalAnswers.parse({ provider: "local", streams: ["live", "live"], media_servers: 0 })).text, "inventory.yml");
    expect(validate.issues.length).toBeGreaterThan(0);
    expect(issues.map((i) => i.message).sort()).toEqual(validate.issues.map((i) => i.message).sort());
    expect(issues.map((i) => i.question).sort()).toEqual(["media_servers", "streams[1]"]);
    expect(checkLocalAnswers(LocalAnswers.parse({ provider: "local", edges: 4 })).issues.map((i) => [i.question, i.message])).toEqual([["edges", "4 edges: the local lab has 1 to 3"]]);
  });
});

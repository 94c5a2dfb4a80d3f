/**
 * `edgelab up --from prepare --to cilium` with an inventory of its own: provider proxmox, the
 * test hosts' 198.18 addresses and host keys in the inventory, provisioning not run (no Proxmox
 * is contacted; its URL is never dialed). Three servers in one subnet, an agent in each of two
 * others. The real playbooks run over SSH checked against the keys the inventory gives; K3s is
 * the stand-in (test/fixtures/k3s-standin) from an air-gap source named in the inventory, with
 * relative paths. Checked through the CLI's own output, the journal, the stand-in's records and
 * the kubeconfig written.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseKubeconfig } from "../../src/ansible/kubeconfig.js";
import { fingerprint, parseKnownHosts } from "../../src/exec/known-hosts.js";
import { cli, type CliResult } from "../helpers/cli.js";
import { events as pipelineEvents, stageResult } from "../helpers/events.js";
import { at, host, labData, type Data } from "../helpers/inventory.js";
import { airgapDir, standinEvents, type StandinEvent } from "../helpers/k3s-inputs.js";
import { SEED_HOSTS, startTestLab, type TestLab } from "../helpers/testhosts.js";

const VERSION = "v1.34.3+k3s1";
const TOKEN = `edgelab-up-${Math.random().toString(36).slice(2)}-token`;
const SERVERS = ["lab-k3s01", "lab-k3s02", "lab-k3s03"];
const AGENTS = ["west-lab-k3s01", "east-lab-k3s01"];

let lab: TestLab;
let dir: string;
let inventory: string;

/** The seed lab's inventory, moved onto the test hosts: their subnets, addresses and host keys. */
function testInventory(hostKey: (name: string) => string): Data {
  const data = labData();
  const vars = at(data, "all.vars");
  at(data, "all.vars.lab")["name"] = "up-test";
  vars["ansible_user"] = "root";
  vars["ansible_ssh_private_key_file"] = lab.keyFile;
  const [s0, s1, s2] = lab.subnets;
  if (s0 === undefined || s1 === undefined || s2 === undefined) throw new Error("three subnets expected");
  at(data, "all.vars.network")["vlans"] = [
    { id: 221, name: "dc-east", subnet: s0.cidr, gateway: s0.gateway },
    { id: 222, name: "region-west", subnet: s1.cidr, gateway: s1.gateway },
    { id: 223, name: "region-east", subnet: s2.cidr, gateway: s2.gateway },
  ];
  at(data, "all.vars.network")["nameservers"] = [s0.gateway];
  at(data, "all.vars.cilium.bgp")["peers"] = {
    master: [{ name: "dc-router01", address: s0.gateway, asn: 200 }],
    "west-worker": [{ name: "region-router01", address: s1.gateway, asn: 30 }],
    "east-worker": [{ name: "region-router02", address: s2.gateway, asn: 30 }],
  };
  // TEST-NET-3: rendered into the pool object, never dialed.
  at(data, "all.vars.cilium")["lb_pool"] = ["203.0.113.0/24"];
  // Nothing listens there: a command that wrongly asked Proxmox would fail at once.
  at(data, "all.vars.proxmox")["url"] = "https://127.0.0.1:9";
  vars["airgap"] = { k3s_binary: "airgap/k3s", k3s_images: "airgap/k3s-airgap-images-amd64.tar", k3s_checksums: "airgap/sha256sum-amd64.txt" };
  for (const h of lab.hosts) {
    const entry = host(data, h.name);
    entry["ansible_host"] = h.address;
    entry["ssh_host_keys"] = [hostKey(h.name)];
  }
  return data;
}

function writeInventory(data: Data): void {
  writeFileSync(inventory, stringify(data));
}

const up = (global: readonly string[], env: Record<string, string | undefined> = { K3S_TOKEN: TOKEN }): Promise<CliResult> =>
  cli([...global, "up", "-i", inventory, "--from", "prepare", "--to", "cilium", "--kubeconfig", join(dir, "kube", "config")], { cwd: dir, env: { ...process.env, K3S_TOKEN: undefined, ...env } });

const standin = (name: string, kind: string): StandinEvent[] => standinEvents(lab, name).filter((e) => e.event === kind);

beforeAll(async () => {
  lab = await startTestLab(SEED_HOSTS);
  // The lab's own directory: its .edgelab/ starts empty (no known_hosts: keys come from the inventory).
  dir = join(lab.dir, "up");
  inventory = join(dir, "inventory.yml");
  await airgapDir(join(dir, "airgap"), VERSION);
  await lab.listenInRouter(lab.subnets.map((s) => s.gateway));
}, 600_000);

afterAll(async () => {
  await lab?.stop();
}, 120_000);

describe("edgelab up --from prepare (provider proxmox, provisioning not run)", () => {
  it("refuses hosts whose SSH host key is not the one the inventory gives, naming each host and both keys, before running anything", async () => {
    // Every host's key swapped with another's: each presents a key the inventory does not give it.
    const names = lab.hosts.map((h) => h.name);
    const swapped = (name: string): string => names[(names.indexOf(name) + 1) % names.length] ?? name;
    const keyOf = (name: string): string => `${lab.host(name).hostKey.type} ${lab.host(name).hostKey.blob}`;
    writeInventory(testInventory((name) => keyOf(swapped(name))));
    expect((await cli(["up", "-i", inventory, "--only", "render"], { cwd: dir, env: process.env })).code).toBe(0);
    const r = await up([]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: up failed at stage prepare: SSH host key check failed on 5 hosts, nothing was run:/);
    for (const name of names) {
      const h = lab.host(name);
      const line = r.stderr.split("\n").find((l) => l.startsWith(`  ${name} `));
      expect(line).toBe(`  ${name} (${h.address}) presented SSH host key ssh-ed25519 ${fingerprint(h.hostKey)}, which is not the key edgelab knows for it (ssh-ed25519 ${fingerprint(lab.host(swapped(name)).hostKey)}); connection refused`);
    }
    // Nothing was done on any host.
    for (const name of names) expect(existsSync(lab.host(name).file("/etc/sysctl.d/90-edgelab.conf")), name).toBe(false);
  }, 300_000);

  it("reports a failed task as host, task and message, naming the full log", async () => {
    const data = testInventory((name) => `${lab.host(name).hostKey.type} ${lab.host(name).hostKey.blob}`);
    // A sysctl no kernel has (an inventory variable reaching the role): setting it fails on every host.
    at(data, "all.vars")["prereq_sysctls"] = [{ name: "net.ipv4.edgelab_no_such_key", value: "1", scope: "netns" }];
    writeInventory(data);
    const r = await up([]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: up failed at stage prepare: prepare failed on 5 hosts:/);
    for (const h of lab.hosts) expect(r.stderr, h.name).toMatch(new RegExp(`\\n  ${h.name}: prereq : Set network sysctls: [^\\n]*edgelab_no_such_key`));
    const log = /full log: (\S+\.jsonl)/.exec(r.stderr)?.[1] ?? "";
    expect(log.startsWith(join(dir, ".edgelab", "logs"))).toBe(true);
    expect(readFileSync(log, "utf8")).toContain('"prereq : Set network sysctls"');
  }, 300_000);

  it("prepares the hosts, then stops at k3s when the token is missing, before touching any host", async () => {
    writeInventory(testInventory((name) => `${lab.host(name).hostKey.type} ${lab.host(name).hostKey.blob}`));
    expect((await cli(["up", "-i", inventory, "--only", "render"], { cwd: dir, env: process.env })).code).toBe(0);
    const r = await up([], {});
    // A missing secret is the user's to fix (exit 2), found before any host is contacted for K3s.
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/up failed at stage k3s: secret k3s-token: environment variable K3S_TOKEN is not set/);
    expect(r.stdout).toMatch(/^prepare\s+ok\s+\d+/m);
    // The inventory's keys are edgelab's known hosts now; prepare ran on every host.
    const known = parseKnownHosts(readFileSync(join(dir, ".edgelab", "known_hosts"), "utf8"));
    // (The swapped keys of the first test are gone: only what the inventory gives now is accepted.)
    expect(known.map((k) => [k.host, k.keys.map((x) => x.blob)]).sort()).toEqual(lab.hosts.map((h) => [h.address, [h.hostKey.blob]]).sort());
    for (const h of lab.hosts) expect(existsSync(h.file("/etc/sysctl.d/90-edgelab.conf")), h.name).toBe(true);
    for (const h of lab.hosts) expect(standinEvents(lab, h.name), h.name).toEqual([]);
  }, 900_000);

  it("resumes at k3s: servers one at a time, agents joined, Cilium's objects applied, the kubeconfig merged; each host's tasks as progress", async () => {
    const r = await up(["--json"]);
    const events = pipelineEvents(r.stdout);
    expect(r.code, r.stderr + r.stdout.slice(-3000)).toBe(0);
    expect(events.find((e) => e.event === "stage-skip" && e.stage === "prepare")?.status).toBe("unchanged");
    expect(events.find((e) => e.event === "stage-start" && e.stage === "k3s")?.reason).toMatch(/^resuming: it failed last time/);
    // Per-host progress rows: every host reported its K3s tasks as they ran.
    const steps = events.filter((e) => e.event === "step" && e.stage === "k3s").map((e) => e as { host?: string; message?: string });
    for (const name of [...SERVERS, ...AGENTS]) expect(steps.some((e) => e.host === name && /k3s_install : Write the K3s configuration/.test(e.message ?? "")), name).toBe(true);

    // The rendered configuration is what each K3s ran with; servers started one after another, each after the previous was registered.
    for (const h of lab.hosts) {
      const rendered = parse(readFileSync(join(dir, ".edgelab", "artifacts", "k3s", h.name, "config.yaml"), "utf8")) as Record<string, unknown>;
      expect(standin(h.name, "start")[0]?.config, h.name).toEqual(rendered);
    }
    const starts = SERVERS.map((s) => standin(s, "start")[0]?.ts ?? Infinity);
    expect([...starts].sort((a, b) => a - b)).toEqual(starts);
    const first = lab.host("lab-k3s01");
    for (const agent of AGENTS) expect(standin(agent, "joined")[0]?.server).toBe(`https://${first.address}:6443`);

    // Cilium's objects were applied on the first server, and its BGP sessions reported.
    expect(events.find((e) => e.event === "stage-end" && e.stage === "cilium")?.status).toBe("ok");
    expect(standin("lab-k3s01", "kubectl").some((e) => e.argv?.[0] === "apply")).toBe(true);

    // The kubeconfig: the lab's context, the API endpoint, mode 0600.
    const path = join(dir, "kube", "config");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const kube = parseKubeconfig(readFileSync(path, "utf8"), path);
    expect(kube["current-context"]).toBe("up-test");
    expect(kube.clusters.map((c) => [c.name, c.cluster.server])).toEqual([["up-test", `https://${first.address}:6443`]]);
    expect(readFileSync(path, "utf8")).not.toContain(TOKEN);
  }, 1_500_000);

  it("skips every stage when nothing changed", async () => {
    const r = await up([]);
    expect(r.code, r.stderr).toBe(0);
    for (const stage of ["prepare", "k3s", "cilium"]) expect(r.stdout).toMatch(new RegExp(`^${stage}\\s+unchanged\\s`, "m"));
  }, 300_000);
  it("destroy --keep-vms uninstalls K3s from every host and the lab's kubeconfig context, asks no Proxmox, and the next up runs prepare, k3s and cilium again", async () => {
    const env = { ...process.env, K3S_TOKEN: undefined, PROXMOX_TOKEN_SECRET: undefined };
    const r = await cli(["--json", "destroy", "-i", inventory, "--keep-vms", "--yes"], { cwd: dir, env });
    expect(r.code, r.stderr + r.stdout.slice(-3000)).toBe(0);
    // The VMs stay: the provision stage is not walked back (the Proxmox URL would refuse).
    expect(stageResult(r.stdout, "provision")?.status).toBe("not-selected");
    expect(stageResult(r.stdout, "k3s")?.status).toBe("ok");
    const steps = pipelineEvents(r.stdout).filter((e) => e.event === "step" && e.stage === "k3s").map((e) => e as { host?: string; message?: string });
    for (const name of [...SERVERS, ...AGENTS]) expect(steps.some((e) => e.host === name && /^reset : Stop and disable K3s/.test(e.message ?? "")), name).toBe(true);
    for (const h of lab.hosts) {
      for (const path of ["/usr/local/bin/k3s", "/etc/rancher/k3s", "/var/lib/rancher/k3s", "/etc/systemd/system/k3s.service", "/etc/systemd/system/k3s-agent.service"]) expect(existsSync(h.file(path)), `${h.name}:${path}`).toBe(false);
      // What prepare did stays (the VM is not new).
      expect(existsSync(h.file("/etc/sysctl.d/90-edgelab.conf")), h.name).toBe(true);
    }
    const kube = readFileSync(join(dir, "kube", "config"), "utf8");
    expect(kube).not.toContain("up-test");

    // The journal forgot every stage from prepare on: the next up runs them again.
    const plan = await cli(["--json", "up", "-i", inventory, "--from", "prepare", "--to", "cilium", "--dry-run"], { cwd: dir, env });
    expect(plan.code, plan.stderr).toBe(0);
    const summary = pipelineEvents(plan.stdout).find((e) => e.event === "summary") as { stages?: { stage: string; status: string; summary: string }[] } | undefined;
    for (const stage of ["prepare", "k3s", "cilium"]) expect(summary?.stages?.find((x) => x.stage === stage), stage).toMatchObject({ status: "planned", summary: "first run" });
  }, 600_000);
});

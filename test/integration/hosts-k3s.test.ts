/**
 * The K3s playbooks (k3s.yml, cilium.yml, upgrade.yml, reset.yml) over real SSH against five
 * systemd test hosts (three servers in one subnet, an agent in each of two others), in air-gap
 * mode. K3s cannot run here: the air-gap source holds test/fixtures/k3s-standin, a stand-in that
 * records what it was started with and answers the readiness commands the roles use; the tests
 * assert through its records.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { installKubeconfig, parseKubeconfig, uninstallKubeconfig } from "../../src/ansible/kubeconfig.js";
import { AnsibleError, AnsibleRunner, type AnsibleResult } from "../../src/ansible/runner.js";
import { airgapDir, artifactsDir, sha256, STANDIN, standinEvents, TOKEN_FILE, writeK3sInputs, type K3sInputs, type StandinEvent } from "../helpers/k3s-inputs.js";
import { ROOT, SEED_HOSTS, startTestLab, type TestLab } from "../helpers/testhosts.js";
import { revealsSecret } from "../helpers/secrets.js";
import { sleep } from "../../src/util/sleep.js";

const V1 = "v1.34.3+k3s1";
const V2 = "v1.34.4+k3s1";
const TOKEN = `edgelab-test-${Math.random().toString(36).slice(2)}-token`;
const SERVERS = ["lab-k3s01", "lab-k3s02", "lab-k3s03"];
const AGENTS = ["west-lab-k3s01", "east-lab-k3s01"];

let lab: TestLab;
let runner: AnsibleRunner;
let inputs: K3sInputs;
let configs: Record<string, Record<string, unknown>>;

beforeAll(async () => {
  lab = await startTestLab(SEED_HOSTS);
  inputs = { version: V1, airgap: await airgapDir(join(lab.dir, "airgap-v1"), V1) };
  configs = writeK3sInputs(lab, inputs);
  runner = new AnsibleRunner({ stateDir: lab.stateDir, env: process.env });
}, 600_000);

afterAll(async () => {
  await runner?.close();
  await lab?.stop();
}, 120_000);

const run = (playbook: string): Promise<AnsibleResult> => runner.run({ playbook, inventory: lab.inventoryFile, secrets: { K3S_TOKEN: TOKEN } });
const failing = (playbook: string): Promise<AnsibleError> =>
  run(playbook).then(
    () => {
      throw new Error(`${playbook} succeeded`);
    },
    (e: unknown) => {
      if (e instanceof AnsibleError) return e;
      throw e;
    },
  );
const events = (host: string, kind?: string): StandinEvent[] => standinEvents(lab, host).filter((e) => kind === undefined || e.event === kind);
const first = (host: string, kind: string): StandinEvent => {
  const e = events(host, kind)[0];
  if (e === undefined) throw new Error(`${host}: no ${kind} event`);
  return e;
};
/** The last `k3s kubectl <argv...>` the stand-in ran on `host` before `before` (seconds). */
const kubectlBefore = (host: string, argv: readonly string[], before: number): StandinEvent | undefined =>
  events(host, "kubectl")
    .filter((e) => e.ts < before && argv.every((a, i) => e.argv?.[i] === a))
    .at(-1);
const changedCount = (r: AnsibleResult): number => Object.values(r.stats).reduce((n, s) => n + s.changed, 0);

async function onHost(name: string, argv: readonly string[]): Promise<string> {
  const ssh = await lab.ssh(name);
  try {
    return (await ssh.run(argv)).stdout;
  } finally {
    ssh.close();
  }
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? filesUnder(join(dir, d.name)) : [join(dir, d.name)]));
}

describe("K3s in air-gap mode (with the K3s stand-in)", () => {
  it("puts Cilium's chart in place before the first server starts, starts the servers one at a time, then joins the agents with the token file", async () => {
    await run("k3s");
    const firstServer = lab.host("lab-k3s01");
    const chart = readFileSync(join(artifactsDir(lab), "cilium", "helmchart.yaml"));

    // The first server found the CNI chart in its manifests directory when it started.
    const boot = first("lab-k3s01", "start");
    expect(boot.manifests?.find((m) => m.file === "edgelab-cilium.yaml")).toMatchObject({ sha256: sha256(chart), charts: [{ chart: "cilium", bootstrap: true }] });

    // Each server started only after the previous one answered /readyz and had its node registered.
    for (let i = 1; i < SERVERS.length; i++) {
      const [previous, next] = [SERVERS[i - 1] ?? "", SERVERS[i] ?? ""];
      const started = first(next, "start").ts;
      const ready = kubectlBefore(previous, ["get", "--raw", "/readyz"], started);
      const registered = kubectlBefore(previous, ["get", "node", previous], started);
      expect(ready, `${previous} /readyz before ${next} starts`).toBeDefined();
      expect(registered, `${previous} registered before ${next} starts`).toBeDefined();
      expect(registered?.ts ?? Infinity).toBeGreaterThan(first(previous, "start").ts);
    }
    // Agents after the last server; joined to the API endpoint with the token file.
    const lastServerStart = first(SERVERS.at(-1) ?? "", "start").ts;
    for (const agent of AGENTS) {
      const start = first(agent, "start");
      expect(start.ts).toBeGreaterThan(lastServerStart);
      expect(first(agent, "joined").server).toBe(`https://${firstServer.address}:6443`);
    }

    for (const h of lab.hosts) {
      const start = first(h.name, "start");
      // The effective configuration is the rendered one; the token is in its file, nowhere else.
      expect(start.config, h.name).toEqual(configs[h.name]);
      expect(start.argv).toEqual(["/usr/local/bin/k3s", h.group === "master" ? "server" : "agent"]);
      expect(start.token).toEqual({ source: "file", file: TOKEN_FILE, mode: "0o600", uid: 0, sha256: sha256(TOKEN) });
      expect(Object.keys(start.env ?? {})).not.toContain("K3S_TOKEN");
      expect(JSON.stringify(start.env)).not.toContain(TOKEN);
      expect(start.env?.["NO_PROXY"]).toBe("127.0.0.1,localhost,10.42.0.0/16,10.43.0.0/16");
      expect(statSync(h.file(TOKEN_FILE)).mode & 0o777).toBe(0o600);
      const unit = readFileSync(h.file(`/etc/systemd/system/${h.group === "master" ? "k3s" : "k3s-agent"}.service`), "utf8");
      expect(unit).toMatch(/^# Managed by edgelab/);
      expect(unit).not.toContain(TOKEN);
    }
    // The files K3s writes.
    for (const s of SERVERS) {
      expect(readlinkSync(lab.host(s).file("/var/lib/rancher/k3s/server/node-token"))).toBe("/var/lib/rancher/k3s/server/token");
      expect(readFileSync(lab.host(s).file("/var/lib/rancher/k3s/server/token"), "utf8").trim()).toMatch(new RegExp(`^K10[0-9a-f]{64}::server:${TOKEN}$`));
    }
    expect(statSync(firstServer.file("/etc/rancher/k3s/k3s.yaml")).mode & 0o777).toBe(0o600);

    // Every node joined the one cluster and is Ready (the CNI chart is there).
    const nodes = parse(await onHost("lab-k3s01", ["k3s", "kubectl", "get", "nodes", "-o", "json"])) as { items: { metadata: { name: string }; status: { conditions: { type: string; status: string }[] } }[] };
    expect(nodes.items.map((n) => n.metadata.name).sort()).toEqual([...SERVERS, ...AGENTS].sort());
    expect(nodes.items.every((n) => n.status.conditions.some((c) => c.type === "Ready" && c.status === "True"))).toBe(true);

    // The token never reached edgelab's logs, not even base64-encoded.
    for (const file of filesUnder(join(lab.stateDir, "logs"))) expect(revealsSecret(readFileSync(file, "utf8"), TOKEN), file).toBe(false);
  }, 600_000);

  it("changes nothing and restarts nothing when run again", async () => {
    const starts = lab.hosts.map((h) => events(h.name, "start").length);
    const result = await run("k3s");
    expect(result.changed).toEqual([]);
    expect(changedCount(result)).toBe(0);
    expect(lab.hosts.map((h) => events(h.name, "start").length)).toEqual(starts);
  }, 600_000);

  it("restarts only the host whose configuration changed", async () => {
    const starts = Object.fromEntries(lab.hosts.map((h) => [h.name, events(h.name, "start").length]));
    inputs = { ...inputs, extraConfig: { "east-lab-k3s01": { "node-label": ["bgp-group=east-worker", "edge-tier=b"] } } };
    configs = writeK3sInputs(lab, inputs);
    const result = await run("k3s");
    expect(new Set(result.changed.map((c) => c.host))).toEqual(new Set(["east-lab-k3s01"]));
    expect(result.changed.map((c) => c.task)).toEqual(["k3s_install : Write the K3s configuration", "k3s_install : Start K3s, restarting it only when its binary, unit, environment, configuration or token changed"]);
    for (const h of lab.hosts) expect(events(h.name, "start").length, h.name).toBe((starts[h.name] ?? 0) + (h.name === "east-lab-k3s01" ? 1 : 0));
    expect(events("east-lab-k3s01", "start").at(-1)?.config?.["node-label"]).toEqual(["bgp-group=east-worker", "edge-tier=b"]);
  }, 600_000);

  it("names each node still NotReady, with its condition, when the wait for Ready runs out", async () => {
    const fault = lab.host("west-lab-k3s01").file("/etc/k3s-standin/not-ready");
    mkdirSync(join(fault, ".."), { recursive: true });
    writeFileSync(fault, "cilium agent not running (injected)\n");
    writeK3sInputs(lab, { ...inputs, vars: { k3s_server_nodes_ready_timeout: 3 } });
    try {
      // The node reports its state every second: wait until the cluster sees it NotReady.
      for (let i = 0; ; i++) {
        const node = parse(await onHost("lab-k3s01", ["k3s", "kubectl", "get", "node", "west-lab-k3s01", "-o", "json"])) as { status: { conditions: { type: string; status: string }[] } };
        if (node.status.conditions.some((c) => c.type === "Ready" && c.status === "False")) break;
        if (i > 30) throw new Error("west-lab-k3s01 never became NotReady");
        await sleep(500);
      }
      const error = await failing(join(ROOT, "test", "fixtures", "playbooks", "cluster-ready.yml"));
      expect(error.result.failures).toEqual([
        {
          host: "lab-k3s01",
          task: "k3s_server : Report the nodes that are not Ready",
          message: expect.stringMatching(/^Nodes still NotReady after 3 s: west-lab-k3s01 \(Ready=False: KubeletNotReady, cilium agent not running \(injected\)\)\. Until the CNI/) as unknown,
          unreachable: false,
        },
      ]);
    } finally {
      rmSync(fault);
      writeK3sInputs(lab, inputs);
    }
  }, 600_000);

  it("refuses an air-gap binary whose checksum is not the release's, and installs nothing", async () => {
    const tampered = await airgapDir(join(lab.dir, "airgap-tampered"), V2, { tamper: true });
    writeK3sInputs(lab, { ...inputs, version: V2, airgap: tampered });
    try {
      const error = await failing("k3s");
      const actual = sha256(readFileSync(join(tampered, "k3s")));
      const listed = readFileSync(join(tampered, "sha256sum-amd64.txt"), "utf8").split("\n")[0]?.split(/\s+/)[0];
      expect(error.result.failures).toEqual([
        { host: "lab-k3s01", task: "k3s_install : Check the air-gap binary is the release's", message: `${tampered}/k3s has SHA-256 ${actual}, but sha256sum-amd64.txt says ${listed}: refusing to install it.`, unreachable: false },
      ]);
      for (const h of lab.hosts) expect(readFileSync(h.file("/usr/local/bin/k3s"), "utf8"), h.name).toContain(`VERSION = "${V1}"`);
    } finally {
      writeK3sInputs(lab, inputs);
    }
  }, 600_000);
});

describe("Cilium's BGP objects (k3s_post, with the stand-in)", () => {
  it("applies them once the CRDs exist, waits for the sessions, and names the node and peer of a session that does not come up", async () => {
    await lab.listenInRouter(lab.subnets.map((s) => s.gateway));
    const silent = lab.subnets[2]?.cidr.replace(/0\/24$/, "254") ?? "";
    writeK3sInputs(lab, { ...inputs, vars: { k3s_post_bgp_timeout: 4 }, extraPeers: { "east-worker": [{ name: "region-router09", address: silent, asn: 30 }] } });
    const error = await failing("cilium");
    expect(error.result.failures).toEqual([
      {
        host: "lab-k3s01",
        task: "k3s_post : Report the BGP sessions that are not established",
        message: `BGP sessions not established after 4 s: node east-lab-k3s01: peer region-router09 (${silent}, AS 30) is active. Check that each peer accepts this node (address, AS, multihop) and that TCP port 179 is reachable from it.`,
        unreachable: false,
      },
    ]);

    writeK3sInputs(lab, inputs);
    const applied = await run("cilium");
    expect(applied.changed).toEqual([
      { host: "lab-k3s01", task: "k3s_post : Copy the BGP and LB-IPAM objects to the server" },
      { host: "lab-k3s01", task: "k3s_post : Apply the BGP and LB-IPAM objects" },
    ]);
    // The CRDs were waited for before the first apply.
    const kubectl = events("lab-k3s01", "kubectl");
    const firstApply = kubectl.findIndex((e) => e.argv?.[0] === "apply");
    const crdWait = kubectl.findIndex((e) => e.argv?.[0] === "wait" && e.argv.includes("crd/ciliumbgpclusterconfigs.cilium.io"));
    expect(crdWait).toBeGreaterThanOrEqual(0);
    expect(crdWait).toBeLessThan(firstApply);
    const sessions = parse(await onHost("lab-k3s01", ["k3s", "kubectl", "get", "ciliumbgpnodeconfigs", "-o", "json"])) as { items: { metadata: { name: string }; status: { bgpInstances: { peers: { name: string; peeringState: string }[] }[] } }[] };
    expect(sessions.items.map((i) => i.metadata.name).sort()).toEqual([...SERVERS, ...AGENTS].sort());
    expect(sessions.items.flatMap((i) => i.status.bgpInstances.flatMap((b) => b.peers.map((p) => p.peeringState)))).toEqual(Array(5).fill("established"));

    const again = await run("cilium");
    expect(again.changed).toEqual([]);
  }, 600_000);
});

describe("kubeconfig", () => {
  it("fetches it from the first server, points it at the API endpoint under the lab's name, and merges it without touching other entries", async () => {
    const path = join(lab.dir, "kube", "config");
    mkdirSync(join(lab.dir, "kube"), { recursive: true });
    const other = { apiVersion: "v1", kind: "Config", clusters: [{ name: "other", cluster: { server: "https://127.0.0.1:1" } }], users: [{ name: "other", user: { token: "x" } }], contexts: [{ name: "other", context: { cluster: "other", user: "other" } }], "current-context": "other" };
    writeFileSync(path, stringify(other), { mode: 0o644 });
    const server = lab.host("lab-k3s01");
    const ssh = await lab.ssh(server.name);
    try {
      await installKubeconfig(ssh, { name: "test-lab", server: `https://${server.address}:6443`, path });
    } finally {
      ssh.close();
    }
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const merged = parseKubeconfig(readFileSync(path, "utf8"), path);
    expect(merged.contexts.map((c) => c.name)).toEqual(["other", "test-lab"]);
    expect(merged["current-context"]).toBe("test-lab");
    expect(merged.clusters.find((c) => c.name === "test-lab")?.cluster.server).toBe(`https://${server.address}:6443`);
    // A client using it reaches the cluster through the endpoint (the stand-in's kubectl, from this machine).
    const nodes = parse(execFileSync("python3", [STANDIN, "kubectl", "--kubeconfig", path, "get", "nodes", "-o", "json"]).toString()) as { items: { metadata: { name: string } }[] };
    expect(nodes.items.map((n) => n.metadata.name).sort()).toEqual([...SERVERS, ...AGENTS].sort());

    // Removing the lab's entries leaves the others as they were (no current context: it was the lab's).
    uninstallKubeconfig(path, "test-lab");
    const rest = Object.fromEntries(Object.entries(other).filter(([k]) => k !== "current-context"));
    expect(parseKubeconfig(readFileSync(path, "utf8"), path)).toEqual(parseKubeconfig(stringify(rest), "other"));
  }, 120_000);
});

describe("upgrade.yml", () => {
  it("restarts the servers one at a time, then the agents one at a time, each at the new version before the next", async () => {
    const since = Date.now() / 1000;
    inputs = { ...inputs, version: V2, airgap: await airgapDir(join(lab.dir, "airgap-v2"), V2) };
    writeK3sInputs(lab, inputs);
    const result = await run("upgrade");
    const order = [...SERVERS, ...AGENTS];
    const after = (host: string, kind: string): StandinEvent => {
      const e = events(host, kind).find((x) => x.ts > since);
      if (e === undefined) throw new Error(`${host}: no ${kind} since the upgrade began`);
      return e;
    };
    for (const [i, host] of order.entries()) {
      const stop = after(host, "stop");
      const start = after(host, "start");
      expect(start.version, host).toBe(V2);
      expect(stop.ts).toBeLessThan(start.ts);
      const next = order[i + 1];
      if (next !== undefined) expect(after(next, "stop").ts, `${next} stops after ${host} is back`).toBeGreaterThan(after(host, "ready").ts);
    }
    expect(new Set(result.changed.filter((c) => c.task === "k3s_install : Install the air-gap K3s binary").map((c) => c.host))).toEqual(new Set(order));
    const nodes = parse(await onHost("lab-k3s01", ["k3s", "kubectl", "get", "nodes", "-o", "json"])) as { items: { status: { nodeInfo: { kubeletVersion: string } } }[] };
    expect(nodes.items.map((n) => n.status.nodeInfo.kubeletVersion)).toEqual(Array(5).fill(V2));
  }, 600_000);
});

describe("reset.yml", () => {
  it("removes what edgelab installed and nothing else, and a second reset changes nothing", async () => {
    const keep = lab.host("lab-k3s02").file("/etc/rancher/not-edgelabs.conf");
    writeFileSync(keep, "someone else's file\n");
    expect(await onHost("west-lab-k3s01", ["ip", "-o", "link", "show"])).toContain("cilium_host");
    expect(await onHost("west-lab-k3s01", ["iptables-save"])).toContain("CILIUM_INPUT");

    await run("reset");
    for (const h of lab.hosts) {
      for (const path of ["/usr/local/bin/k3s", "/etc/systemd/system/k3s.service", "/etc/systemd/system/k3s-agent.service", "/etc/systemd/system/k3s.service.env", "/etc/systemd/system/k3s-agent.service.env", "/etc/rancher/k3s", "/var/lib/rancher", "/var/lib/kubelet"]) {
        expect(existsSync(h.file(path)), `${h.name}:${path}`).toBe(false);
      }
      const state = await onHost(h.name, ["sh", "-c", "ls -d /run/k3s 2>&1; ip -o link show; iptables-save; systemctl is-active k3s k3s-agent || true"]);
      expect(state).toContain("No such file or directory");
      expect(state).not.toMatch(/cilium_|CILIUM/);
      expect(state).not.toMatch(/^active$/m);
      // What edgelab did not install stays: the stand-in's own records.
      expect(events(h.name, "stop").length).toBeGreaterThan(0);
    }
    expect(readFileSync(keep, "utf8")).toBe("someone else's file\n");
    expect(existsSync(lab.host("lab-k3s01").file("/etc/rancher"))).toBe(false);

    const again = await run("reset");
    expect(again.changed).toEqual([]);
    expect(changedCount(again)).toBe(0);
  }, 600_000);
});

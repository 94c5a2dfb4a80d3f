/**
 * The parts of the Ansible stages that need no hosts: where the kubeconfig goes and what destroy
 * removes from it, and how the inventory's SSH host keys join those provisioning read.
 * (The stages against real hosts: test/integration/hosts-up.test.ts.)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Context } from "../../../src/context.js";
import { parseKubeconfig } from "../../../src/ansible/kubeconfig.js";
import { parseHostKey, parseKnownHosts } from "../../../src/exec/known-hosts.js";
import type { Lab, LabHost } from "../../../src/model/lab.js";
import { Journal } from "../../../src/pipeline/journal.js";
import { composeKnownHosts, knownHostsFile, recordProvisionedKeys } from "../../../src/pipeline/known-hosts.js";
import type { PipelineContext, StageRun } from "../../../src/pipeline/stage.js";
import { k3sStage, kubeconfigPath } from "../../../src/pipeline/stages/k3s.js";

const KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBm6v0pCSaV0qiyb2zX0Wc0N1a1p8o1ukGxHcX1yLr4E";
const KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEdCQddV402NdWP88l9wNa2nHo+Zhlbb4P9Xtn/7r/Wo";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "edgelab-cluster-stages-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function context(options: { kubeconfig?: string; home?: string } = {}): PipelineContext {
  const ctx: Context = { cwd: join(dir, "work"), env: { HOME: options.home ?? join(dir, "home") }, stdout: { write: () => undefined, isTTY: false }, stderr: { write: () => undefined, isTTY: false }, options: { inventory: undefined, json: false, verbose: false, color: false } };
  return {
    ctx,
    location: { path: join(dir, "inventory.yml"), source: "-i", display: "inventory.yml" },
    lab: { name: "lab-a", provider: "proxmox" } as unknown as Lab,
    inventoryText: "",
    warnings: [],
    stateDir: join(dir, ".edgelab"),
    logDir: join(dir, ".edgelab", "logs", "r"),
    options: { timeoutSeconds: 10, waitSsh: false, ...(options.kubeconfig === undefined ? {} : { kubeconfig: options.kubeconfig }) },
    outputs: new Map(),
    lastChanged: new Map(),
  };
}

const kube = (names: readonly string[], current: string) => ({
  apiVersion: "v1",
  kind: "Config",
  clusters: names.map((n) => ({ name: n, cluster: { server: `https://${n}.invalid:6443` } })),
  users: names.map((n) => ({ name: n, user: { token: `t-${n}` } })),
  contexts: names.map((n) => ({ name: n, context: { cluster: n, user: n } })),
  "current-context": current,
});

describe("the k3s stage's kubeconfig", () => {
  it("goes to ~/.kube/config, or where --kubeconfig says (relative to the working directory)", () => {
    expect(kubeconfigPath(context())).toBe(join(dir, "home", ".kube", "config"));
    expect(kubeconfigPath(context({ kubeconfig: "lab.kubeconfig" }))).toBe(join(dir, "work", "lab.kubeconfig"));
    expect(kubeconfigPath(context({ kubeconfig: "/etc/lab/config" }))).toBe("/etc/lab/config");
  });

  it("is cleaned by destroy: the lab's cluster, user and context go, the others stay", async () => {
    const p = context();
    const path = join(dir, "merged-config");
    writeFileSync(path, stringify(kube(["other", "lab-a"], "lab-a")), { mode: 0o600 });
    const journal = Journal.open(p.stateDir, "lab-a");
    journal.startStage("k3s", "r1", {}, new Date().toISOString());
    journal.endStage("k3s", "ok", new Date().toISOString(), { outputs: { kubeconfig: path, context: "lab-a" } });

    expect((await k3sStage.destroyPlan?.(p))?.changes).toEqual([`remove context lab-a from ${path}`]);
    const run = { p, signal: new AbortController().signal, step: () => undefined, warn: () => undefined, logFile: (n: string) => join(dir, n) } satisfies StageRun;
    const outcome = await k3sStage.destroy?.(run);
    expect(outcome?.changes).toBe(1);
    const left = parseKubeconfig(readFileSync(path, "utf8"), path);
    expect(left.contexts.map((c) => c.name)).toEqual(["other"]);
    expect(left.clusters.map((c) => c.name)).toEqual(["other"]);
    expect(left.users.map((u) => u.name)).toEqual(["other"]);
    expect(left["current-context"]).toBeUndefined();
    expect((await k3sStage.destroy?.(run))?.changes).toBe(0);
  });

  it("has nothing to destroy when the stage never wrote one", async () => {
    expect((await k3sStage.destroyPlan?.(context()))?.changes).toEqual([]);
  });
});

describe("known hosts", () => {
  const host = (keys: readonly string[], address = "198.18.0.10"): LabHost => ({ name: "h1", address, sshPort: 22, sshHostKeys: keys }) as unknown as LabHost;
  const blobs = (stateDir: string): [string, string[]][] => parseKnownHosts(readFileSync(knownHostsFile(stateDir), "utf8")).map((k) => [k.host, k.keys.map((x) => x.blob).sort()]);
  const blob = (key: string): string => key.split(" ")[1] ?? "";

  it("accepts the inventory's keys beside those read through the guest agent, and only while the inventory gives them", () => {
    const stateDir = join(dir, ".edgelab");
    recordProvisionedKeys(stateDir, [{ host: "198.18.0.10", port: 22, keys: [parseHostKey(KEY_A)] }]);
    composeKnownHosts(stateDir, [host([KEY_B])]);
    expect(blobs(stateDir)).toEqual([["198.18.0.10", [blob(KEY_A), blob(KEY_B)].sort()]]);
    expect(composeKnownHosts(stateDir, [host([KEY_B])])).toBe("unchanged");
    // A key taken out of the inventory is no longer accepted; the agent's stays.
    composeKnownHosts(stateDir, [host([])]);
    expect(blobs(stateDir)).toEqual([["198.18.0.10", [blob(KEY_A)]]]);
  });

  it("replaces a re-provisioned host's keys with the ones read now, and leaves other hosts alone", () => {
    const stateDir = join(dir, ".edgelab");
    recordProvisionedKeys(stateDir, [{ host: "198.18.0.10", port: 22, keys: [parseHostKey(KEY_A)] }, { host: "198.18.0.11", port: 22, keys: [parseHostKey(KEY_A)] }]);
    composeKnownHosts(stateDir, [host([]), host([], "198.18.0.11")]);
    recordProvisionedKeys(stateDir, [{ host: "198.18.0.10", port: 22, keys: [parseHostKey(KEY_B)] }]);
    composeKnownHosts(stateDir, [host([])]);
    expect(blobs(stateDir)).toEqual([
      ["198.18.0.10", [blob(KEY_B)]],
      ["198.18.0.11", [blob(KEY_A)]],
    ]);
  });
});

/**
 * The inventory is a real Ansible inventory: Debian's ansible-inventory reads the same hosts,
 * groups and (inherited) variables that edgelab does.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { buildLab } from "../../src/model/lab.js";
import { check, ROOT, shipped } from "../helpers/inventory.js";

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "edgelab-ansible-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface AnsibleList {
  _meta: { hostvars: Record<string, Record<string, unknown>> };
  [group: string]: { hosts?: string[]; children?: string[] } | AnsibleList["_meta"];
}

async function ansibleList(file: string): Promise<AnsibleList> {
  const { stdout } = await exec("ansible-inventory", ["-i", file, "--list"], {
    env: { ...process.env, ANSIBLE_INVENTORY_ENABLED: "yaml", ANSIBLE_INVENTORY_UNPARSED_FAILED: "true", ANSIBLE_LOCAL_TEMP: dir, ANSIBLE_HOME: dir },
  });
  return JSON.parse(stdout) as AnsibleList;
}

function groupHosts(list: AnsibleList, group: string): string[] {
  const entry = list[group] as { hosts?: string[] } | undefined;
  return [...(entry?.hosts ?? [])].sort();
}

describe("ansible-inventory reads what edgelab reads", () => {
  for (const name of ["lab", "local"] as const) {
    it(`inventories/${name}.yml`, async () => {
      const list = await ansibleList(join(ROOT, "inventories", `${name}.yml`));
      const facts = check(shipped(name)).facts;
      if (facts === undefined) throw new Error("shipped inventory invalid");
      const lab = buildLab(facts);
      expect(groupHosts(list, "master")).toEqual(lab.servers.map((h) => h.name).sort());
      expect(groupHosts(list, "node")).toEqual(lab.agents.map((h) => h.name).sort());
      for (const host of lab.hosts) {
        const vars = list._meta.hostvars[host.name] ?? {};
        expect(vars["ansible_host"]).toBe(host.address);
        expect(vars["label"]).toBe(host.label);
        expect(vars["data_vlan"]).toBe(host.vlan);
        if (host.vm !== undefined) {
          expect(vars["vmid"]).toBe(host.vm.vmid);
          expect(vars["storage"]).toBe(host.vm.storage);
          expect(vars["memory"]).toBe(host.vm.memoryMiB);
          expect(vars["vcpus"]).toBe(host.vm.cores);
        }
      }
    });
  }

  it("agrees on precedence (host > child group > parent group > all) and YAML 1.1 booleans", async () => {
    const text = shipped("lab")
      .replace("  children:\n    k3s_cluster:\n      children:", "  children:\n    k3s_cluster:\n      vars:\n        memory: 2048\n      children:")
      .replace("        node:\n          hosts:", "        node:\n          vars:\n            memory: 8192\n          hosts:")
      .replace("east-lab-k3s01: {ansible_host: 172.16.223.42,", "east-lab-k3s01: {memory: 16384, ansible_host: 172.16.223.42,")
      .replace("      token: {env: K3S_TOKEN}", "      token: {env: K3S_TOKEN}\n      allow_even_servers: yes");
    const file = join(dir, "precedence.yml");
    writeFileSync(file, text);
    const list = await ansibleList(file);
    const facts = check(text).facts;
    if (facts === undefined) throw new Error("precedence inventory invalid");
    const lab = buildLab(facts);
    const ours = Object.fromEntries(lab.hosts.map((h) => [h.name, h.vm?.memoryMiB]));
    const theirs = Object.fromEntries(lab.hosts.map((h) => [h.name, list._meta.hostvars[h.name]?.["memory"]]));
    expect(ours).toEqual({ "lab-k3s01": 2048, "lab-k3s02": 2048, "lab-k3s03": 2048, "west-lab-k3s01": 8192, "east-lab-k3s01": 16384 });
    expect(theirs).toEqual(ours);
    const k3s = list._meta.hostvars["lab-k3s01"]?.["k3s"] as Record<string, unknown>;
    expect(k3s["allow_even_servers"]).toBe(true);
  });
});

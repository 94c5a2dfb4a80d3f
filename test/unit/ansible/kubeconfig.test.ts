import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { installKubeconfig, KubeconfigError, mergeKubeconfig, parseKubeconfig, rewriteK3sKubeconfig, uninstallKubeconfig } from "../../../src/ansible/kubeconfig.js";
import type { ExecResult, Executor } from "../../../src/exec/types.js";

const dir = mkdtempSync(join(tmpdir(), "edgelab-kubeconfig-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// What K3s writes to /etc/rancher/k3s/k3s.yaml.
const K3S = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0E=
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
`;

/** The first server, as far as installKubeconfig is concerned: it answers `cat`. */
class Server implements Executor {
  readonly host = "lab-k3s01";
  constructor(private readonly text: string) {}
  run(argv: readonly string[]): Promise<ExecResult> {
    expect(argv).toEqual(["cat", "/etc/rancher/k3s/k3s.yaml"]);
    return Promise.resolve({ stdout: this.text, stderr: "", exitCode: 0, signal: null, timedOut: false, durationMs: 1 });
  }
}

describe("kubeconfig", () => {
  it("renames K3s' entries after the lab and points the cluster at the API endpoint", () => {
    const lab = rewriteK3sKubeconfig(parseKubeconfig(K3S, "k3s.yaml"), "seed-lab", "https://172.16.221.38:6443");
    expect(lab.clusters).toEqual([{ name: "seed-lab", cluster: { "certificate-authority-data": "Q0E=", server: "https://172.16.221.38:6443" } }]);
    expect(lab.users).toEqual([{ name: "seed-lab", user: { "client-certificate-data": "Q0VSVA==", "client-key-data": "S0VZ" } }]);
    expect(lab.contexts).toEqual([{ name: "seed-lab", context: { cluster: "seed-lab", user: "seed-lab" } }]);
    expect(lab["current-context"]).toBe("seed-lab");
    expect(() => rewriteK3sKubeconfig(parseKubeconfig(K3S, "k3s.yaml"), "x", "http://172.16.221.38:6443")).toThrow(KubeconfigError);
  });

  it("merges into an existing file (mode 0600), replacing the lab's entries on a re-run and keeping the others", async () => {
    const path = join(dir, "config");
    writeFileSync(path, stringify({ apiVersion: "v1", kind: "Config", clusters: [{ name: "prod", cluster: { server: "https://prod:6443" } }], users: [{ name: "prod", user: { token: "t" } }], contexts: [{ name: "prod", context: { cluster: "prod", user: "prod" } }], "current-context": "prod" }), { mode: 0o644 });
    await installKubeconfig(new Server(K3S), { name: "seed-lab", server: "https://172.16.221.38:6443", path });
    const rotated = K3S.replace("S0VZ", "TkVXS0VZ");
    const second = await installKubeconfig(new Server(rotated), { name: "seed-lab", server: "https://172.16.221.39:6443", path });
    expect(second.status).toBe("updated");
    const merged = parseKubeconfig(readFileSync(path, "utf8"), path);
    expect(merged.clusters.map((c) => `${c.name} ${c.cluster.server}`)).toEqual(["prod https://prod:6443", "seed-lab https://172.16.221.39:6443"]);
    expect(merged.users.find((u) => u.name === "seed-lab")?.user["client-key-data"]).toBe("TkVXS0VZ");
    expect(merged.contexts.map((c) => c.name)).toEqual(["prod", "seed-lab"]);
    expect(statSync(path).mode & 0o777).toBe(0o600);

    expect(uninstallKubeconfig(path, "seed-lab")).toBe("updated");
    expect(parseKubeconfig(readFileSync(path, "utf8"), path).contexts.map((c) => c.name)).toEqual(["prod"]);
    expect(uninstallKubeconfig(path, "seed-lab")).toBe("unchanged");
    expect(uninstallKubeconfig(join(dir, "missing"), "seed-lab")).toBe("unchanged");
  });

  it("refuses to overwrite a file it cannot read as a kubeconfig", async () => {
    const path = join(dir, "broken");
    writeFileSync(path, "clusters: [unclosed\n");
    await expect(installKubeconfig(new Server(K3S), { name: "seed-lab", server: "https://172.16.221.38:6443", path })).rejects.toThrow(`${path} is not valid YAML`);
    expect(readFileSync(path, "utf8")).toBe("clusters: [unclosed\n");
    writeFileSync(path, "clusters: 3\n");
    await expect(installKubeconfig(new Server(K3S), { name: "seed-lab", server: "https://172.16.221.38:6443", path })).rejects.toThrow(`${path} is not a kubeconfig: clusters:`);
    expect(mergeKubeconfig(undefined, parseKubeconfig(K3S, "k")).clusters[0]?.name).toBe("default");
  });
});

/**
 * Online install: the K3s roles download the binary from a release server and verify it against
 * the release's sha256sum file before installing it. The release server is an HTTP server in the
 * test network's router namespace holding the K3s stand-in as the release's `k3s`.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AnsibleError, AnsibleRunner } from "../../src/ansible/runner.js";
import { airgapDir, sha256, standinEvents, writeK3sInputs } from "../helpers/k3s-inputs.js";
import { startTestLab, type TestLab } from "../helpers/testhosts.js";

const V1 = "v1.34.3+k3s1";
const V2 = "v1.34.4+k3s1";
let lab: TestLab;
let runner: AnsibleRunner;
let release: string;
let releaseUrl: string;

beforeAll(async () => {
  lab = await startTestLab([
    { name: "lab-k3s01", group: "master", subnet: 0 },
    { name: "west-lab-k3s01", group: "node", subnet: 1 },
  ]);
  release = join(lab.dir, "release");
  await airgapDir(join(release, V1), V1);
  await airgapDir(join(release, V2), V2, { tamper: true });
  const server = lab.subnets[0]?.gateway ?? "";
  await lab.serveInRouter(release, server, 8080);
  releaseUrl = `http://${server}:8080`;
  runner = new AnsibleRunner({ stateDir: lab.stateDir, env: process.env });
}, 600_000);

afterAll(async () => {
  await runner?.close();
  await lab?.stop();
}, 120_000);

const online = (version: string): void => {
  writeK3sInputs(lab, { version, airgap: "", vars: { edgelab_k3s_install_source: "online", edgelab_k3s_release_url: releaseUrl } });
};

describe("online install", () => {
  it("downloads the release's binary, checked against its sha256sum file, leaves images to K3s, and downloads nothing new on a re-run", async () => {
    online(V1);
    await runner.run({ playbook: "k3s", inventory: lab.inventoryFile, secrets: { K3S_TOKEN: "online-test-token" } });
    const again = await runner.run({ playbook: "k3s", inventory: lab.inventoryFile, secrets: { K3S_TOKEN: "online-test-token" } });
    expect(again.changed).toEqual([]);
    for (const h of lab.hosts) {
      expect(sha256(readFileSync(h.file("/usr/local/bin/k3s")))).toBe(sha256(readFileSync(join(release, V1, "k3s"))));
      expect(standinEvents(lab, h.name).find((e) => e.event === "start")?.version).toBe(V1);
      expect(readdirSync(h.file("/var/lib/rancher/k3s/agent/images"))).toEqual([]);
    }
  }, 300_000);

  it("refuses a download whose checksum is not the one the release lists, keeping the installed binary", async () => {
    online(V2);
    const error = await runner.run({ playbook: "k3s", inventory: lab.inventoryFile, secrets: { K3S_TOKEN: "online-test-token" } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AnsibleError);
    const failure = (error as AnsibleError).result.failures[0];
    const listed = readFileSync(join(release, V2, "sha256sum-amd64.txt"), "utf8").split(/\s+/)[0] ?? "";
    expect(failure?.host).toBe("lab-k3s01");
    expect(failure?.task).toBe("k3s_install : Download the K3s binary, verified against the release's checksum file");
    // The running K3s was neither replaced nor restarted.
    expect(standinEvents(lab, "lab-k3s01").filter((e) => e.event === "start")).toHaveLength(1);
    expect(failure?.message).toContain(`The checksum for /var/lib/rancher/k3s/edgelab/k3s did not match ${listed}; it was ${sha256(readFileSync(join(release, V2, "k3s")))}`);
    for (const h of lab.hosts) expect(sha256(readFileSync(h.file("/usr/local/bin/k3s"))), h.name).toBe(sha256(readFileSync(join(release, V1, "k3s"))));
  }, 300_000);
});

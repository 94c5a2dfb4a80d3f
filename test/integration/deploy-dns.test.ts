/**
 * The dns stage through `edgelab deploy` / `edgelab up`: the Ingress' address (from the
 * Kubernetes API server STAND-IN) written to a real BIND 9 on loopback with RFC 2136 + TSIG.
 * The wire protocol itself is tested in dns-update.test.ts; this is the stage around it.
 */
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { updateServiceRecord } from "../../src/dns/index.js";
import { BIND_KEY, BIND_NAME, BIND_ZONE, startBind, type Bind } from "../helpers/bind.js";
import { clusterLab, type ClusterLab } from "../helpers/cluster-deploy.js";
import { stageResult } from "../helpers/events.js";
import { at } from "../helpers/inventory.js";
import { startKubeApiserverStandin, type KubeApiserverStandin } from "../helpers/kube-apiserver-standin.js";

describe("edgelab deploy: the service's A record on a real BIND", () => {
  let bind: Bind;
  let first: KubeApiserverStandin;
  let second: KubeApiserverStandin;
  let lab: ClusterLab;
  let tsig: Record<string, string>;

  beforeAll(async () => {
    bind = await startBind();
    tsig = { EDGELAB_TEST_TSIG: bind.secret };
    first = await startKubeApiserverStandin({ rolloutDelayMs: 100, lbDelayMs: 100, lbAddresses: { "edgelab/edge": "198.18.7.10" } });
    second = await startKubeApiserverStandin({ rolloutDelayMs: 100, lbDelayMs: 100, lbAddresses: { "edgelab/edge": "198.18.7.20" } });
    lab = clusterLab(first, (data) => {
      Object.assign(at(data, "all.vars.dns"), { name: BIND_NAME, server: "127.0.0.1", port: bind.port, zone: BIND_ZONE, tsig: { name: BIND_KEY, algorithm: "hmac-sha256", secret: { env: "EDGELAB_TEST_TSIG" } } });
    });
  });
  afterAll(async () => {
    lab.cleanup();
    await first.close();
    await second.close();
    await bind.stop();
  });

  it("creates the record once the Ingress has its address", async () => {
    expect(bind.dig(BIND_NAME)).toEqual([]);
    const r = await lab.deploy(["--no-smoke", "--json"], tsig);
    expect(r.code, r.stdout).toBe(0);
    expect(stageResult(r.stdout, "dns")?.summary).toBe(`${BIND_NAME} A 198.18.7.10 created on 127.0.0.1:${bind.port}`);
    expect(bind.dig(BIND_NAME)).toEqual(["198.18.7.10"]);
  });

  it("up skips deploy and dns when the cluster and the record still match; a record changed behind its back is put back", async () => {
    const serial = bind.serial();
    const same = await lab.run(["--json", "up", "--from", "deploy", "--to", "dns", "--manifests", lab.k8s], tsig);
    expect(same.code, same.stdout).toBe(0);
    expect(stageResult(same.stdout, "deploy")?.status, same.stdout).toBe("unchanged");
    expect(stageResult(same.stdout, "dns")?.status).toBe("unchanged");
    expect(bind.serial()).toBe(serial);

    // Someone points the name elsewhere.
    await updateServiceRecord({ name: BIND_NAME, server: "127.0.0.1", port: bind.port, zone: BIND_ZONE, ttl: 60, tsig: { name: BIND_KEY, algorithm: "hmac-sha256", secret: { env: "X" } } }, "198.18.7.99", bind.secret);
    const fixed = await lab.run(["--json", "up", "--from", "deploy", "--to", "dns", "--manifests", lab.k8s], tsig);
    expect(fixed.code, fixed.stdout).toBe(0);
    expect(stageResult(fixed.stdout, "deploy")?.status).toBe("unchanged");
    const dns = stageResult(fixed.stdout, "dns");
    expect(dns?.status).toBe("ok");
    expect(dns?.summary).toBe(`${BIND_NAME} A 198.18.7.10 replaced (was 198.18.7.99) on 127.0.0.1:${bind.port}`);
    expect(bind.dig(BIND_NAME)).toEqual(["198.18.7.10"]);
  });

  it("replaces the record when the Ingress' address changes, never adding a second one", async () => {
    writeFileSync(lab.kubeconfig, second.kubeconfig());
    const r = await lab.deploy(["--no-smoke", "--json"], tsig);
    expect(r.code, r.stdout).toBe(0);
    expect(stageResult(r.stdout, "dns")?.summary).toBe(`${BIND_NAME} A 198.18.7.20 replaced (was 198.18.7.10) on 127.0.0.1:${bind.port}`);
    expect(bind.dig(BIND_NAME)).toEqual(["198.18.7.20"]);
  });

  it("a wrong TSIG key is refused with a clear message and changes nothing", async () => {
    const serial = bind.serial();
    const wrong = Buffer.alloc(32, 7).toString("base64");
    const r = await lab.deploy(["--no-smoke"], { EDGELAB_TEST_TSIG: wrong });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/failed at stage dns: DNS server 127\.0\.0\.1:\d+ rejected the signature made with TSIG key 'edgelab-update' \(BADSIG\): the secret differs from the server's/);
    expect(r.stderr + r.stdout).not.toContain(wrong);
    expect(bind.dig(BIND_NAME)).toEqual(["198.18.7.20"]);
    expect(bind.serial()).toBe(serial);
  });
});

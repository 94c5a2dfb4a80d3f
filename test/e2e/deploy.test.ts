/**
 * Opt-in: `edgelab deploy` of a cluster lab onto its real cluster, then the smoke test through
 * the Ingress. Runs only when both are set:
 *   EDGELAB_E2E_KUBECONFIG  the cluster's kubeconfig
 *   EDGELAB_E2E_INVENTORY   the lab's inventory (provider proxmox; its images reachable by the
 *                           cluster, its registry password and TSIG secret in the environment)
 * It deploys twice (the second makes no change) and leaves the lab running: remove it with
 * kubectl delete namespace, or keep it for edgelab smoke.
 */
import { dirname } from "node:path";
import { describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { stageResult } from "../helpers/events.js";

const kubeconfig = process.env["EDGELAB_E2E_KUBECONFIG"];
const inventory = process.env["EDGELAB_E2E_INVENTORY"];

describe.runIf(kubeconfig !== undefined && inventory !== undefined)("edgelab deploy on a real cluster", () => {
  const deploy = (): ReturnType<typeof cli> => cli(["--json", "-i", inventory ?? "", "deploy", "--kubeconfig", kubeconfig ?? "", "--timeout", "600"], { cwd: dirname(inventory ?? "."), env: process.env });

  it("deploys, waits for the rollouts and addresses, and passes smoke through the Ingress", async () => {
    const r = await deploy();
    expect(stageResult(r.stdout, "deploy")?.status, r.stderr).toBe("ok");
    expect(stageResult(r.stdout, "smoke")?.status, r.stdout).toBe("ok");
    expect(r.code).toBe(0);
  });

  it("a second deploy changes nothing", async () => {
    const r = await deploy();
    expect(r.code, r.stderr).toBe(0);
    expect(stageResult(r.stdout, "deploy")?.summary).toMatch(/, 0 changed;/);
  });
});

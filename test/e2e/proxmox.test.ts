/**
 * Opt-in: plan, provision and destroy against a real Proxmox VE cluster. Runs only when
 *   EDGELAB_E2E_PROXMOX_URL, EDGELAB_E2E_PROXMOX_TOKEN (user@realm!id=secret) and
 *   EDGELAB_E2E_INVENTORY (an inventory whose VMs may be created and destroyed)
 * are set; EDGELAB_E2E_PROXMOX_FINGERPRINT pins a self-signed certificate.
 */
import { describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";

const url = process.env["EDGELAB_E2E_PROXMOX_URL"];
const token = process.env["EDGELAB_E2E_PROXMOX_TOKEN"];
const inventory = process.env["EDGELAB_E2E_INVENTORY"];
const enabled = url !== undefined && token !== undefined && inventory !== undefined;
const env = { ...process.env, PROXMOX_URL: url, PROXMOX_VE_API_TOKEN: token, PROXMOX_TLS_FINGERPRINT: process.env["EDGELAB_E2E_PROXMOX_FINGERPRINT"] };

describe.runIf(enabled)("a real Proxmox VE cluster", () => {
  const inv = inventory ?? "";
  it("plans, provisions, converges and destroys", async () => {
    const plan = await cli(["--json", "plan", "-i", inv], { env });
    expect(plan.code).toBe(0);
    const provision = await cli(["provision", "-i", inv], { env });
    expect(provision.code, provision.stderr).toBe(0);
    const again = await cli(["--json", "plan", "-i", inv], { env });
    const counts = (JSON.parse(again.stdout) as { counts: Record<string, number> }).counts;
    expect(counts["create"] ?? 0).toBe(0);
    expect(counts["update"] ?? 0).toBe(0);
    const destroy = await cli(["destroy", "-i", inv, "--yes"], { env });
    expect(destroy.code, destroy.stderr).toBe(0);
  }, 1_800_000);
});

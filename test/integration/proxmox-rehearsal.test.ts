/**
 * A rehearsal touches nothing outside the simulator: `edgelab proxmox-sim`, then `provision`
 * and `up` for the seed lab (whose hosts have 172.16.x addresses), all inside a network
 * namespace that has only loopback, each edgelab command under `strace -f -e trace=connect`.
 * Every connect() they attempt must go to loopback, and the steps that would have contacted
 * the VMs must be reported as skipped.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseKnownHosts } from "../../src/exec/known-hosts.js";
import { ROOT } from "../helpers/inventory.js";

let dir: string;
const read = (name: string): string => readFileSync(join(dir, name), "utf8");

/** The connect() calls of a trace: "AF_INET 127.0.0.1:8006 = -1 EINPROGRESS", "AF_UNIX ...". */
function connects(trace: string): { family: string; address: string; line: string }[] {
  return trace
    .split("\n")
    .filter((l) => /\bconnect\(/.test(l))
    .map((line) => {
      const family = /sa_family=(AF_[A-Z0-9]+)/.exec(line)?.[1] ?? "?";
      const v4 = /sin_addr=inet_addr\("([^"]+)"\)/.exec(line)?.[1];
      const v6 = /inet_pton\(AF_INET6, "([^"]+)"/.exec(line)?.[1];
      return { family, address: v4 ?? v6 ?? "", line };
    });
}

const loopback = (c: { family: string; address: string }): boolean => (c.family === "AF_INET" ? c.address.startsWith("127.") : c.family === "AF_INET6" ? c.address === "::1" || c.address.startsWith("::ffff:127.") : true);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "edgelab-rehearsal-"));
  const script = `set -eu
ip link set lo up
"$NODE" "$EDGELAB" --json proxmox-sim --host 127.0.0.1 --port 8006 --time-scale 0.005 --auth-delay 0 > "$DIR/sim.json" 2> "$DIR/sim.err" &
sim=$!
trap 'kill $sim 2>/dev/null || true; wait $sim 2>/dev/null || true' EXIT
for i in $(seq 400); do grep -q '}' "$DIR/sim.json" 2>/dev/null && break; sleep 0.05; done
eval "$("$NODE" -e 'const i = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").split("\\n")[0]); console.log("export PROXMOX_URL=" + i.url + " PROXMOX_TLS_FINGERPRINT=" + i.fingerprint + " PROXMOX_TOKEN_ID=" + JSON.stringify(i.tokenId) + " PROXMOX_TOKEN_SECRET=" + i.tokenSecret)' "$DIR/sim.json")"
trace() { out=$1; shift; strace -f -qq -e trace=connect -o "$DIR/$out.trace" "$@" > "$DIR/$out.out" 2> "$DIR/$out.err" || echo "$?" > "$DIR/$out.code"; }
trace provision "$NODE" "$EDGELAB" --json provision -i "$INVENTORY"
trace up "$NODE" "$EDGELAB" up -i "$INVENTORY"
trace keepvms "$NODE" "$EDGELAB" destroy -i "$INVENTORY" --keep-vms --yes
trace plan "$NODE" "$EDGELAB" plan -i "$INVENTORY"
# The control: an attempt to reach an address outside loopback is seen by the same trace.
trace control "$NODE" -e 'require("net").connect(9, "198.18.0.1").on("error", (e) => console.log(e.code))'
`;
  writeFileSync(join(dir, "rehearse.sh"), script);
  // A copy, so the run's journal and logs (.edgelab/ beside the inventory) stay in the temp dir.
  copyFileSync(join(ROOT, "inventories", "lab.yml"), join(dir, "lab.yml"));
  execFileSync("unshare", ["-n", "bash", join(dir, "rehearse.sh")], {
    env: { ...process.env, NODE: process.execPath, EDGELAB: join(ROOT, "bin", "edgelab.cjs"), INVENTORY: join(dir, "lab.yml"), DIR: dir, PROXMOX_TOKEN_SECRET: "", PROXMOX_VE_API_TOKEN: "" },
    stdio: "ignore",
    timeout: 90_000,
  });
}, 120_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("rehearsing the seed lab against the simulator, in a namespace with only loopback", () => {
  it("the trace sees a connection attempt outside loopback when one is made (the control)", () => {
    const control = connects(read("control.trace"));
    expect(control.some((c) => c.address === "198.18.0.1" && /ENETUNREACH/.test(c.line))).toBe(true);
    expect(read("control.out").trim()).toBe("ENETUNREACH");
  });

  it("provision attempts no connection outside loopback, and lists the SSH wait of every host as skipped, with the reason", () => {
    const calls = connects(read("provision.trace"));
    expect(calls.some((c) => c.family === "AF_INET" && c.address === "127.0.0.1" && /htons\(8006\)/.test(c.line))).toBe(true);
    expect(calls.filter((c) => !loopback(c)).map((c) => c.line)).toEqual([]);
    const events = read("provision.out").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    const skipped = events.filter((e) => e["event"] === "skipped");
    expect(skipped.map((e) => [e["host"], e["step"], e["address"]])).toEqual(
      expect.arrayContaining([
        ["lab-k3s01", "wait for SSH", "172.16.221.38"],
        ["lab-k3s02", "wait for SSH", "172.16.221.39"],
        ["lab-k3s03", "wait for SSH", "172.16.221.40"],
        ["west-lab-k3s01", "wait for SSH", "172.16.222.41"],
        ["east-lab-k3s01", "wait for SSH", "172.16.223.42"],
      ]),
    );
    expect(skipped).toHaveLength(5);
    expect(String(skipped[0]?.["reason"])).toMatch(/^rehearsal: https:\/\/127\.0\.0\.1:8006 is edgelab proxmox-sim \(its GET \/version says so\)/);
    expect(events.at(-1)).toMatchObject({ event: "done", failed: [], rehearsal: true, summary: "rehearsal: nothing outside the simulator was contacted" });
    expect((events.at(-1)?.["created"] as number[]).sort()).toEqual([3001, 3002, 3003, 3004, 3005]);
  });

  it("reads every VM's SSH host keys through the simulated guest agent into .edgelab/known_hosts", () => {
    const events = read("provision.out").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.filter((e) => e["step"] === "read SSH host keys").map((e) => e["host"]).sort()).toEqual(["east-lab-k3s01", "lab-k3s01", "lab-k3s02", "lab-k3s03", "west-lab-k3s01"]);
    const known = parseKnownHosts(read(".edgelab/known_hosts"));
    expect(known.map((k) => k.host).sort()).toEqual(["172.16.221.38", "172.16.221.39", "172.16.221.40", "172.16.222.41", "172.16.223.42"]);
    // Each simulated VM made its own keys at first boot (ed25519, ECDSA, RSA): no two hosts share one.
    for (const k of known) expect(k.keys.map((x) => x.type).sort(), k.host).toEqual(["ecdsa-sha2-nistp256", "ssh-ed25519", "ssh-rsa"]);
    expect(new Set(known.flatMap((k) => k.keys.map((x) => x.blob))).size).toBe(15);
    expect(statSync(join(dir, ".edgelab", "known_hosts")).mode & 0o777).toBe(0o600);
  });

  it("up attempts no connection outside loopback, says what it skipped and that nothing outside the simulator was contacted", () => {
    const calls = connects(read("up.trace"));
    expect(calls.some((c) => c.address === "127.0.0.1")).toBe(true);
    expect(calls.filter((c) => !loopback(c)).map((c) => c.line)).toEqual([]);
    const out = read("up.out");
    const err = read("up.err");
    expect(err).toContain("provision: Plan: 0 to create, 0 to update, 0 to replace, 0 to delete, 5 unchanged.");
    expect(err).toMatch(/provision: skipped wait for SSH on lab-k3s01 \(172\.16\.221\.38\) \(rehearsal: https:\/\/127\.0\.0\.1:8006 is edgelab proxmox-sim/);
    expect(out).toMatch(/^rehearsal: nothing outside the simulator was contacted$/m);
    // The Ansible stages contact the hosts: each is skipped, host by host, with the reason.
    for (const [stage, what] of [["prepare", "prepare the hosts"], ["k3s", "install K3s"]] as const) {
      expect(err).toMatch(new RegExp(`${stage}: skipped ${what} \\(ansible-playbook ${stage}\\.yml\\) on east-lab-k3s01 \\(172\\.16\\.223\\.42\\) \\(rehearsal: `));
      expect(out).toMatch(new RegExp(`^${stage}\\s+ok\\s+0\\s.*skipped \\(rehearsal, nothing contacted\\)`, "m"));
    }
    expect(err).toMatch(/cilium: skipped apply the BGP and LB-IPAM objects and wait for the sessions \(ansible-playbook cilium\.yml\) on lab-k3s01 \(172\.16\.221\.38\)/);
  });
  it("destroy --keep-vms attempts no connection outside loopback, lists reset.yml as skipped host by host, and every VM stays", () => {
    const calls = connects(read("keepvms.trace"));
    expect(calls.filter((c) => !loopback(c)).map((c) => c.line)).toEqual([]);
    expect(() => read("keepvms.code")).toThrow();
    const err = read("keepvms.err");
    expect(err).toMatch(/k3s: skipped uninstall K3s \(ansible-playbook reset\.yml\) on east-lab-k3s01 \(172\.16\.223\.42\) \(rehearsal: /);
    expect(read("keepvms.out")).toMatch(/^provision\s+not-selected/m);
    // The simulator still has the lab's five VMs: nothing to create.
    expect(read("plan.out")).toContain("Plan: 0 to create, 0 to update, 0 to replace, 0 to delete, 5 unchanged.");
  });
});

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { expectedPeers, ownWorkers, parseSummary, parseTable, serviceRouteVerdict, sessionsVerdict } from "../../../src/netlab/checks.js";
import { topologyMermaid } from "../../../src/netlab/mermaid.js";
import { netlabPlan, type RouterPlan } from "../../../src/netlab/plan.js";
import { labSpeakerGroups, routerAdditions, speakerConfig } from "../../../src/netlab/routers.js";
import { labOf } from "../../helpers/cluster-labs.js";
import { legacyData } from "../../helpers/cluster-labs.js";
import { labData, ROOT } from "../../helpers/inventory.js";
import { netlabData } from "../../helpers/netlab.js";

const plan = netlabPlan(labOf(netlabData()), "/labs/seed/inventory.yml");
function router(name: string): RouterPlan {
  const found = plan.routers.find((r) => r.name === name);
  if (found === undefined) throw new Error(`no router ${name}`);
  return found;
}
const dc = router("dc-router01");
const west = router("region-router01");
const east = router("region-router02");

describe("docs/network-lab.md", () => {
  it("draws the seed lab's topology exactly as netlabPlan builds it", () => {
    const doc = readFileSync(join(ROOT, "docs", "network-lab.md"), "utf8");
    const block = /```mermaid\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(block).toBe(topologyMermaid(netlabPlan(labOf(labData()), "/any/inventory.yml")));
  });
});

describe("speakers from the rendered Cilium objects", () => {
  it("reads each group's ASN, peers and session settings (BGPv2 and legacy policy alike)", () => {
    for (const data of [netlabData(), legacyData()]) {
      const west = labSpeakerGroups(labOf(data)).find((g) => g.label === "west-worker");
      expect(west?.localAsn).toBe(64513);
      expect(west?.peers.map((p) => [p.address, p.asn])).toEqual([["172.16.222.1", 30]]);
    }
    expect(labSpeakerGroups(labOf(netlabData())).find((g) => g.label === "west-worker")?.peers[0]).toMatchObject({ connectRetry: 1, holdTime: 9, keepalive: 3, ebgpMultihop: 1 });
    expect(labSpeakerGroups(labOf(legacyData())).find((g) => g.label === "west-worker")?.peers[0]).toMatchObject({ ebgpMultihop: 10, holdTime: 90, gracefulRestart: { enabled: true, restartTime: 120 } });
  });
  it("writes gobgpd a non-listening config with mapped addresses only", () => {
    const speaker = plan.speakers[0];
    const group = labSpeakerGroups(labOf(netlabData())).find((g) => g.label === "west-worker");
    if (speaker === undefined || group === undefined) throw new Error("no west speaker");
    const toml = speakerConfig(plan, speaker, group);
    expect(toml).toContain('neighbor-address = "198.18.1.1"');
    expect(toml).toContain('local-address = "198.18.1.41"');
    expect(toml).toContain("port = -1");
    expect(toml).not.toMatch(/172\.16\./);
  });
  it("adds iBGP with next-hop-self between region routers and eBGP with a policy to the DC router", () => {
    const text = routerAdditions(west);
    expect(text).toMatch(/neighbor 198\.19\.0\.10 remote-as internal/);
    expect(text).toMatch(/neighbor 198\.19\.0\.10 next-hop-self/);
    expect(text).toMatch(/neighbor 198\.19\.0\.1 remote-as 200/);
    expect(text).toMatch(/neighbor 198\.19\.0\.1 route-map EDGELAB-NETLAB-ANY in/);
    expect(text).not.toMatch(/neighbor 198\.19\.0\.1 next-hop-self/);
  });
});

/** FRR 8.4's JSON shapes (trimmed), as `show bgp summary json` / `show bgp ipv4 unicast json` print them. */
const summary = (peers: Record<string, string>): string => JSON.stringify({ ipv4Unicast: { routerId: "198.18.1.1", as: 30, peers: Object.fromEntries(Object.entries(peers).map(([a, state]) => [a, { remoteAs: 64513, state, pfxRcd: 1 }])) } });
const table = (paths: object[]): string => JSON.stringify({ vrfId: 0, routerId: "198.18.1.1", routes: { "198.18.3.0/32": paths } });
const ext = (peer: string, extra: object = {}): object => ({ valid: true, pathFrom: "external", peerId: peer, nexthops: [{ ip: peer }], ...extra });

describe("BGP checks", () => {
  it("expects a region router's workers and its router links", () => {
    expect(expectedPeers(plan, west)).toEqual(["198.18.1.41", "198.18.1.43", "198.19.0.1", "198.19.0.10"]);
    expect(expectedPeers(plan, dc)).toEqual(["198.19.0.2", "198.19.0.6"]);
  });
  it("passes when every expected session is Established and names the ones that are not", () => {
    const expected = expectedPeers(plan, west);
    expect(sessionsVerdict(west, expected, parseSummary(summary(Object.fromEntries(expected.map((a) => [a, "Established"]))))).ok).toBe(true);
    const bad = sessionsVerdict(west, expected, parseSummary(summary({ "198.18.1.41": "Established", "198.18.1.43": "Active", "198.19.0.1": "Established", "198.19.0.10": "Established" })));
    expect(bad).toMatchObject({ ok: false, value: "198.18.1.43 Active" });
    expect(sessionsVerdict(east, expectedPeers(plan, east), parseSummary("{}")).value).toMatch(/198\.18\.2\.42 absent/);
  });
  it("wants the service route from its own site (best, ECMP) and from the other region over iBGP", () => {
    const workers = ownWorkers(plan, west);
    const ibgp = { valid: true, pathFrom: "internal", peerId: "198.19.0.10", nexthops: [{ ip: "198.19.0.10" }] };
    const good = parseTable(table([ext("198.18.1.41", { bestpath: true, multipath: true }), ext("198.18.1.43", { multipath: true }), ibgp]));
    expect(serviceRouteVerdict(plan, west, workers, good)).toMatchObject({ ok: true, value: "2 eBGP (best, ECMP) + 1 iBGP" });
    const noIbgp = parseTable(table([ext("198.18.1.41", { bestpath: true, multipath: true }), ext("198.18.1.43", { multipath: true })]));
    expect(serviceRouteVerdict(plan, west, workers, noIbgp)).toMatchObject({ ok: false, value: "no iBGP path from the other region" });
    const failedOver = parseTable(table([{ ...ibgp, bestpath: true }]));
    expect(serviceRouteVerdict(plan, west, workers, failedOver).value).toMatch(/0 of 2 paths from its own workers; best path from internal/);
    const noEcmp = parseTable(table([ext("198.18.1.41", { bestpath: true }), ext("198.18.1.43"), ibgp]));
    expect(serviceRouteVerdict(plan, west, workers, noEcmp).value).toBe("own workers' paths are not all multipath");
  });
});

describe("requireRoot", () => {
  it("says the network lab needs root and how to run it", async () => {
    const { requireRoot } = await import("../../../src/netlab/runner.js");
    expect(() => requireRoot(1000)).toThrow(/needs root/);
    expect(() => requireRoot(0)).not.toThrow();
  });
});

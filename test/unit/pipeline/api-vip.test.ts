import { describe, expect, it } from "vitest";
import type { ExecResult } from "../../../src/exec/types.js";
import type { ApiVip } from "../../../src/model/lab.js";
import { ADDRESS_ARGV, apiVipReport, parseAddresses, type ClosableExecutor } from "../../../src/pipeline/api-vip.js";
import { HostAccess, type HostRef } from "../../../src/pipeline/host-access.js";

// `ip -o -4 address show` on a Debian 12 server holding the VIP as a secondary address.
const HOLDER = [
  "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever",
  "2: eth0    inet 198.18.137.10/24 brd 198.18.137.255 scope global eth0\\       valid_lft forever preferred_lft forever",
  "2: eth0    inet 198.18.137.100/24 scope global secondary eth0\\       valid_lft forever preferred_lft forever",
  "",
].join("\n");
const FREE = (address: string): string => `1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n2: ens18    inet ${address}/24 brd 198.18.137.255 scope global ens18\\       valid_lft forever preferred_lft forever\n`;

const VIP: ApiVip = { address: "198.18.137.100", prefix: 24, holder: "keepalived", vrrp: { routerId: 100, interface: undefined, password: undefined, priorities: [] } };
const SERVERS: HostRef[] = [
  { name: "s1", address: "198.18.137.10" },
  { name: "s2", address: "198.18.137.11" },
  { name: "s3", address: "198.18.137.12" },
];

/** Executors answering with fixed output, recording what was run and whether they were closed. */
function fakeHosts(outputs: Record<string, string | Error>): { connect: (server: HostRef, address: string) => Promise<ClosableExecutor>; runs: string[]; closed: string[] } {
  const runs: string[] = [];
  const closed: string[] = [];
  const connect = (server: HostRef, address: string): Promise<ClosableExecutor> => {
    const output = outputs[server.name];
    if (output instanceof Error) return Promise.reject(output);
    return Promise.resolve({
      host: server.name,
      run: (argv: readonly string[]): Promise<ExecResult> => {
        runs.push(`${server.name}@${address} ${argv.join(" ")}`);
        return Promise.resolve({ stdout: output ?? "", stderr: "", exitCode: 0, signal: null, timedOut: false, durationMs: 1 });
      },
      close: () => closed.push(server.name),
    });
  };
  return { connect, runs, closed };
}

describe("parseAddresses", () => {
  it("reads every IPv4 address with its interface and prefix, secondary ones included", () => {
    expect(parseAddresses(HOLDER)).toEqual([
      { ifname: "lo", address: "127.0.0.1", prefix: 8 },
      { ifname: "eth0", address: "198.18.137.10", prefix: 24 },
      { ifname: "eth0", address: "198.18.137.100", prefix: 24 },
    ]);
  });

  it("does not read a malformed address as an address", () => {
    expect(parseAddresses("2: eth0    inet 198.18.137.1001/24 scope global eth0\n")).toEqual([]);
  });
});

describe("apiVipReport", () => {
  it("names the one server that holds the VIP and its interface, asking each server once and closing every connection", async () => {
    const hosts = fakeHosts({ s1: FREE("198.18.137.10"), s2: HOLDER, s3: FREE("198.18.137.12") });
    const report = await apiVipReport(VIP, SERVERS, HostAccess.direct(), hosts.connect);
    expect(report.verdict).toBe("held");
    expect(report.holders).toEqual(["s2"]);
    expect(report.servers).toEqual([
      { host: "s1", address: "198.18.137.10", state: "free" },
      { host: "s2", address: "198.18.137.11", state: "holds", interface: "eth0" },
      { host: "s3", address: "198.18.137.12", state: "free" },
    ]);
    expect(hosts.runs.sort()).toEqual(SERVERS.map((s) => `${s.name}@${s.address} ${ADDRESS_ARGV.join(" ")}`));
    expect(hosts.closed.sort()).toEqual(["s1", "s2", "s3"]);
  });

  it("reports several holders as a split, and none as unheld", async () => {
    expect((await apiVipReport(VIP, SERVERS, HostAccess.direct(), fakeHosts({ s1: HOLDER, s2: HOLDER, s3: FREE("198.18.137.12") }).connect)).verdict).toBe("split");
    const none = await apiVipReport(VIP, SERVERS, HostAccess.direct(), fakeHosts({ s1: FREE("198.18.137.10"), s2: FREE("198.18.137.11"), s3: FREE("198.18.137.12") }).connect);
    expect(none.verdict).toBe("unheld");
    expect(none.holders).toEqual([]);
  });

  it("never counts a server it could not ask as free: the verdict is unknown, with the reason", async () => {
    const report = await apiVipReport(VIP, SERVERS, HostAccess.direct(), fakeHosts({ s1: FREE("198.18.137.10"), s2: new Error("s2 (198.18.137.11:22): connect ECONNREFUSED"), s3: FREE("198.18.137.12") }).connect);
    expect(report.verdict).toBe("unknown");
    expect(report.servers[1]).toEqual({ host: "s2", address: "198.18.137.11", state: "unknown", reason: "s2 (198.18.137.11:22): connect ECONNREFUSED" });
  });

  it("dials nothing in a rehearsal, and says so", async () => {
    const hosts = fakeHosts({ s1: HOLDER, s2: HOLDER, s3: HOLDER });
    const report = await apiVipReport(VIP, SERVERS, HostAccess.rehearsal("the Proxmox API is edgelab's simulator"), hosts.connect);
    expect(hosts.runs).toEqual([]);
    expect(report.verdict).toBe("unknown");
    expect(report.servers.map((s) => (s.state === "unknown" ? s.reason : s.state))).toEqual(Array(3).fill("not contacted: the Proxmox API is edgelab's simulator"));
  });
});

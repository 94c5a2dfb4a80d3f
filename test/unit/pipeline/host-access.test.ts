import { describe, expect, it } from "vitest";
import { HostAccess, type SkippedStep } from "../../../src/pipeline/host-access.js";

const hosts = [
  { name: "lab-k3s01", address: "172.16.221.38" },
  { name: "lab-k3s02", address: "172.16.221.39" },
];

describe("HostAccess", () => {
  it("reaches the hosts of a real cluster at their addresses", async () => {
    const access = HostAccess.direct();
    const dialed: string[] = [];
    const r = await access.reach(hosts[0] ?? { name: "", address: "" }, "wait for SSH", (address) => {
      dialed.push(address);
      return Promise.resolve("open");
    });
    expect(r).toEqual({ reached: true, value: "open" });
    expect(dialed).toEqual(["172.16.221.38"]);
    expect(access.isRehearsal).toBe(false);
    expect(access.summary()).toBeUndefined();
  });
  it("in a rehearsal, never calls the dialer and records each step as skipped with its reason", async () => {
    const access = HostAccess.rehearsal("the API is edgelab's simulator");
    const heard: SkippedStep[] = [];
    access.onSkip((s) => heard.push(s));
    let dials = 0;
    const one = await access.reach(hosts[0] ?? { name: "", address: "" }, "wait for SSH", () => {
      dials += 1;
      return Promise.resolve("open");
    });
    const all = await access.reachAll(hosts, "ansible-playbook site.yml", () => {
      dials += 1;
      return Promise.resolve(0);
    });
    expect(dials).toBe(0);
    expect(one).toEqual({ reached: false, skipped: { host: "lab-k3s01", address: "172.16.221.38", step: "wait for SSH", reason: "the API is edgelab's simulator" } });
    expect(all.reached).toBe(false);
    expect(access.skipped.map((s) => `${s.host} ${s.step}`)).toEqual(["lab-k3s01 wait for SSH", "lab-k3s01 ansible-playbook site.yml", "lab-k3s02 ansible-playbook site.yml"]);
    expect(heard).toEqual(access.skipped);
    expect(access.summary()).toBe("rehearsal: nothing outside the simulator was contacted");
  });
});

import { describe, expect, it } from "vitest";
import { bytesPerMs, DEFAULT_CLONE_MODEL, fastestSchedule, SharedBandwidth, storageLockTimeoutRate } from "../../../../src/providers/proxmox/clone-model.js";

const GiB = 1024 ** 3;
const bw200 = (): number => bytesPerMs(200);

describe("storage bandwidth shared by concurrent full clones", () => {
  it("a lone 3.5 GiB clone at 200 MiB/s takes 17.92 s", () => {
    const flows = new SharedBandwidth<string>(bw200, 0);
    flows.add("a", "ssd", 3.5 * GiB, 0);
    expect(flows.advance(17_000)).toEqual([]);
    expect(flows.advance(60_000)).toEqual([{ id: "a", at: 17_920 }]);
  });
  it("two clones to one storage share it: each goes at half speed, and one that starts later ends later", () => {
    const flows = new SharedBandwidth<string>(bw200, 0);
    flows.add("a", "ssd", 3.5 * GiB, 0);
    // b starts when a is half done: both then run at 100 MiB/s; a needs 8.96 s more at that rate... times two.
    flows.add("b", "ssd", 3.5 * GiB, 8960);
    const done = flows.advance(100_000);
    expect(done.map((d) => d.id)).toEqual(["a", "b"]);
    // a: 8.96 s alone + 1792 MiB at 100 MiB/s = 17.92 s more → 26.88 s; b then has 1792 MiB left alone → 8.96 s → 35.84 s.
    expect(done[0]?.at).toBeCloseTo(26_880, 3);
    expect(done[1]?.at).toBeCloseTo(35_840, 3);
  });
  it("clones to different storages do not share bandwidth", () => {
    const flows = new SharedBandwidth<string>((s) => (s === "hdd-slow" ? bytesPerMs(100) : bytesPerMs(200)), 0);
    flows.add("fast", "ssd", 2 * GiB, 0);
    flows.add("slow", "hdd-slow", 1 * GiB, 0);
    expect(flows.advance(60_000)).toEqual([
      { id: "fast", at: 10_240 },
      { id: "slow", at: 10_240 },
    ]);
  });
});

describe("storage-lock timeout rate", () => {
  it("is 0% alone and grows by 2% per other clone on the storage, capped at 100%", () => {
    expect([0, 1, 4, 200].map((n) => storageLockTimeoutRate(DEFAULT_CLONE_MODEL, n))).toEqual([0, 0.02, 0.08, 1]);
    expect(storageLockTimeoutRate({ ...DEFAULT_CLONE_MODEL, storageLockBaseRate: 0.1, storageLockRatePerClone: 0.05 }, 2)).toBeCloseTo(0.2);
  });
});

describe("the fastest schedule the model allows", () => {
  const tail = 13_000;
  it("full clones of one storage: their bytes over its bandwidth, then one VM's tail", () => {
    const jobs = Array.from({ length: 30 }, () => ({ storage: "ssd", fullBytes: 3.5 * GiB }));
    const s = fastestSchedule(DEFAULT_CLONE_MODEL, jobs, bw200, tail);
    expect(s.ms).toBeCloseTo(30 * 17_920 + tail, 3);
    expect(s.storages["ssd"]?.clonesAtOnce).toBe(1);
  });
  it("two storages work in parallel: the slower one decides", () => {
    const jobs = [...Array.from({ length: 15 }, () => ({ storage: "a", fullBytes: 3.5 * GiB })), ...Array.from({ length: 15 }, () => ({ storage: "b", fullBytes: 3.5 * GiB }))];
    expect(fastestSchedule(DEFAULT_CLONE_MODEL, jobs, bw200, tail).ms).toBeCloseTo(15 * 17_920 + tail, 3);
  });
  it("linked clones with no lock timeouts: all at once", () => {
    const jobs = Array.from({ length: 30 }, () => ({ storage: "ssd", fullBytes: undefined }));
    const s = fastestSchedule({ ...DEFAULT_CLONE_MODEL, storageLockRatePerClone: 0 }, jobs, bw200, tail);
    expect(s).toEqual({ ms: 1000 + tail, storages: { ssd: { clonesAtOnce: 30, clonesDoneMs: 1000 } } });
  });
  it("linked clones under the default lock-timeout growth: a middle concurrency, faster than one at a time and than all at once", () => {
    const jobs = Array.from({ length: 30 }, () => ({ storage: "ssd", fullBytes: undefined }));
    const s = fastestSchedule(DEFAULT_CLONE_MODEL, jobs, bw200, tail);
    const lanes = s.storages["ssd"]?.clonesAtOnce ?? 0;
    expect(lanes).toBeGreaterThan(1);
    expect(lanes).toBeLessThan(30);
    expect(s.ms).toBeLessThan(30 * 1000 + tail);
    expect(s.ms).toBeGreaterThan(1000 + tail);
  });
});

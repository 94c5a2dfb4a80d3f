import { describe, expect, it } from "vitest";
import { LiveRows } from "../../src/live-rows.js";

function output(isTTY: boolean) {
  let text = "";
  return { out: { isTTY, write: (t: string) => (text += t) }, text: () => text };
}

describe("LiveRows", () => {
  it("redraws one row per item in place on a terminal", () => {
    const o = output(true);
    const rows = new LiveRows(o.out, 0);
    rows.update("vm-a", "clone");
    rows.update("vm-b", "clone");
    rows.update("vm-a", "configure");
    const frames = o.text().split("\u001b[J");
    expect(frames.at(-1)).toBe("  vm-a  configure\n  vm-b  clone\n");
    expect(o.text()).toContain("\u001b[2F"); // back to the first of the two rows drawn
  });
  it("prints a timestamped line per change elsewhere", () => {
    const o = output(false);
    const rows = new LiveRows(o.out, 1000);
    rows.update("vm-a", "clone", 1500);
    rows.update("vm-a", "done", 4000);
    expect(o.text().split("\n").filter(Boolean)).toEqual(["  [   0.5s] vm-a                     clone", "  [   3.0s] vm-a                     done"]);
    expect(o.text()).not.toContain("\u001b");
  });
});

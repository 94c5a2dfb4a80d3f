import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseMpd } from "../../../src/media/dash.js";
import { ROOT } from "../../helpers/inventory.js";

describe("parseMpd", () => {
  it("finds init and newest segment of each representation in nginx-rtmp's MPD", () => {
    const mpd = parseMpd(readFileSync(join(ROOT, "test", "golden", "sample.mpd"), "utf8"));
    if ("error" in mpd) throw new Error(mpd.error);
    expect(mpd.type).toBe("dynamic");
    expect(mpd.representations.map((r) => [r.mimeType, r.init])).toEqual([
      ["video/mp4", "init.m4v"],
      ["audio/mp4", "init.m4a"],
    ]);
    for (const r of mpd.representations) expect(r.latest).toMatch(/^\d+\.m4[av]$/);
  });
  it("expands repeat counts in the segment timeline", () => {
    const mpd = parseMpd('<MPD type="dynamic"><Representation id="v"><SegmentTemplate media="$RepresentationID$-$Time$.m4s" initialization="$RepresentationID$-init.mp4"><SegmentTimeline><S t="1000" d="2000" r="2"/><S d="1500"/></SegmentTimeline></SegmentTemplate></Representation></MPD>');
    expect(mpd).toEqual({ type: "dynamic", representations: [{ id: "v", mimeType: undefined, init: "v-init.mp4", latest: "v-7000.m4s" }] });
  });
  it("says what is wrong with a document that is not a usable MPD", () => {
    expect(parseMpd("<html/>")).toEqual({ error: "not an MPD (no <MPD> element)" });
    expect(parseMpd('<MPD><Representation id="a"><SegmentBase/></Representation></MPD>')).toEqual({ error: "representation a has no SegmentTemplate media/initialization" });
  });
});

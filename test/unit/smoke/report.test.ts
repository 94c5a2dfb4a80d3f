import { describe, expect, it } from "vitest";
import { junit, summary } from "../../../src/smoke/report.js";
import type { CheckResult } from "../../../src/smoke/run.js";

const results: CheckResult[] = [
  { check: "hls-playlist", stream: "live", edge: "west", ok: true, value: "200 application/vnd.apple.mpegurl", ms: 12 },
  { check: "edge-lag", stream: "live", edge: "west", ok: false, value: 'max 1.50 s > 1 s <"&>', ms: 7000 },
];

describe("smoke reports", () => {
  it("count passes and failures", () => {
    expect(summary(results)).toEqual({ passed: 1, failed: 1 });
  });
  it("write JUnit XML with escaped failure messages", () => {
    const xml = junit(results);
    expect(xml).toContain('<testsuite name="edgelab smoke" tests="2" failures="1" errors="0" time="7.012">');
    expect(xml).toContain('<testcase classname="smoke.live.west" name="edge-lag" time="7.000">');
    expect(xml).toContain('<failure message="max 1.50 s &gt; 1 s &lt;&quot;&amp;&gt;">');
    expect(xml).toContain("<system-out>200 application/vnd.apple.mpegurl</system-out>");
  });
});

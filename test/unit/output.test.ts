import { describe, expect, it } from "vitest";
import { style, table } from "../../src/output.js";

describe("table", () => {
  it("aligns coloured cells by the text a terminal shows, not by their escape codes", () => {
    const s = style(true);
    const lines = table([
      [s.bold("STAGE"), s.bold("STATUS"), "TIME"],
      ["validate", s.green("ok"), "0.0 s"],
      ["local", s.red("failed"), "8.5 s"],
    ]).split("\n");
    // eslint-disable-next-line no-control-regex
    const shown = lines.map((l) => l.replace(/\u001b\[[0-9;]*m/g, ""));
    expect(shown).toEqual(["STAGE     STATUS  TIME", "validate  ok      0.0 s", "local     failed  8.5 s"]);
  });
});

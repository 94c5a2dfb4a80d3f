/**
 * `edgelab up` on a terminal: a task tree (one row per stage, ✔ when done) and the summary table.
 * Run under a real pseudo-terminal (util-linux `script`) with a known width.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { testLab } from "../helpers/lab.js";

const exec = promisify(execFile);
const BIN = join(import.meta.dirname, "..", "..", "bin", "edgelab.cjs");
const lab = testLab({ net: 91, edges: 1, portBase: 25000, streams: [{ name: "live" }] });

afterAll(() => lab.cleanup());

describe("edgelab up on a terminal", () => {
  it("draws a task tree with a row per stage, then the summary table", async () => {
    const command = `stty cols 120 rows 40; exec '${process.execPath}' '${BIN}' -i '${lab.inventory}' up --to render`;
    const { stdout } = await exec("script", ["-qec", command, "/dev/null"], { cwd: lab.dir, env: { ...process.env, TERM: "xterm-256color" } });
    // eslint-disable-next-line no-control-regex
    const screen = stdout.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, "").replace(/\r/g, "");
    expect(screen).toMatch(/✔ validate {2}valid/);
    expect(screen).toMatch(/✔ render {2}\d+ files, \d+ changed/);
    expect(screen).toMatch(/^STAGE +STATUS +CHANGES +TIME/m);
    expect(screen).toMatch(/^local +not-selected/m);
  }, 30_000);
});

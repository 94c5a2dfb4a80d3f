import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ExecError } from "../../../src/exec/errors.js";
import { LocalExecutor } from "../../../src/exec/local.js";

const local = new LocalExecutor();
const home = mkdtempSync(join(tmpdir(), "edgelab-home-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe("LocalExecutor", () => {
  it("passes each argument to the program as one word, whatever characters it holds", async () => {
    const hostile = ["a b", "it's", '"quoted"', "$(touch /tmp/edgelab-injected)", "`id`", "; rm -rf /", "line\nbreak", "*", ""];
    const out = await local.run(["python3", "-c", "import json, sys; print(json.dumps(sys.argv[1:]))", ...hostile]);
    expect(JSON.parse(out.stdout) as unknown).toEqual(hostile);
  });

  it("gives standard input, the environment it is told, and each output line as it comes", async () => {
    const lines: string[] = [];
    const out = await local.run(["sh", "-c", 'cat; echo "$EDGELAB_TEST_VALUE"; echo partial | tr -d "\\n"'], { input: "from stdin\n", env: { PATH: process.env["PATH"], EDGELAB_TEST_VALUE: "from env" }, onStdoutLine: (l) => lines.push(l) });
    expect(out.stdout).toBe("from stdin\nfrom env\npartial");
    expect(lines).toEqual(["from stdin", "from env", "partial"]);
  });

  it("fails with an ExecError naming the host, the argv, the exit code and the end of stderr", async () => {
    const run = local.run(["sh", "-c", "for i in $(seq 1 20); do echo line $i >&2; done; exit 3", "ignored arg"]);
    await expect(run).rejects.toBeInstanceOf(ExecError);
    const error = (await run.catch((e: unknown) => e)) as ExecError;
    expect(error.host).toBe("local");
    expect(error.commandExitCode).toBe(3);
    expect(error.message).toBe(`local: \`sh -c 'for i in $(seq 1 20); do echo line $i >&2; done; exit 3' 'ignored arg'\` exited with code 3:\n${Array.from({ length: 8 }, (_, i) => `  line ${i + 13}`).join("\n")}`);
    const allowed = await local.run(["sh", "-c", "exit 4"], { allowFailure: true });
    expect(allowed.exitCode).toBe(4);
  });

  it("runs without the user's shell start-up files (a slow ~/.bashrc, BASH_ENV)", async () => {
    writeFileSync(join(home, ".bashrc"), "echo bashrc was read >&2; sleep 30\n");
    writeFileSync(join(home, "env.sh"), "echo BASH_ENV was read >&2; sleep 30\n");
    const started = Date.now();
    const out = await local.run(["sh", "-c", "cat; echo \"BASH_ENV=${BASH_ENV-unset}\""], { input: "in\n", env: { PATH: process.env["PATH"], HOME: home, BASH_ENV: join(home, "env.sh"), SHLVL: "0" }, timeoutMs: 20_000 });
    expect(out.stdout).toBe("in\nBASH_ENV=unset\n");
    expect(out.stderr).toBe("");
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("kills a program that runs past its timeout, and says so", async () => {
    const started = Date.now();
    const error = (await local.run(["sleep", "30"], { timeoutMs: 500, allowFailure: true }).catch((e: unknown) => e)) as ExecError;
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(error).toBeInstanceOf(ExecError);
    expect(error.timedOut).toBe(true);
    expect(error.message).toMatch(/^local: `sleep 30` timed out after \d+ s$/);
  });
});

/**
 * docs/ci.md's example jobs, run: the GitHub Actions workflow's `run` steps are executed in
 * order in this checkout, as a runner would, with the job's environment except that
 * EDGELAB_INVENTORY names a lab of this test's own (its own addresses and ports, so it cannot
 * collide with other tests); the GitLab job runs the same commands. The job must leave smoke.xml
 * (JUnit) and take the lab down.
 */
import { execFile } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { parse } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { testLab } from "../helpers/lab.js";

const exec = promisify(execFile);
const ROOT = join(import.meta.dirname, "..", "..");

function yamlBlocks(markdown: string): unknown[] {
  return [...markdown.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parse(m[1] ?? "") as unknown);
}

interface GithubStep {
  run?: string;
  uses?: string;
  if?: string;
}
interface GithubWorkflow {
  jobs: Record<string, { env?: Record<string, string>; steps: GithubStep[] }>;
}
interface GitlabJob {
  variables?: Record<string, string>;
  script: string[];
  after_script?: string[];
}

const [github, gitlab] = yamlBlocks(readFileSync(join(ROOT, "docs", "ci.md"), "utf8")) as [GithubWorkflow, Record<string, GitlabJob>];
const lab = testLab({ net: 81, edges: 1, portBase: 24000, streams: [{ name: "live" }] });
/** What the job leaves in the checkout (ignored by git); removed afterwards. */
const OUTPUTS = ["smoke.xml", "up-events.ndjson"];

afterAll(async () => {
  await lab.cleanup();
  for (const f of OUTPUTS) rmSync(join(ROOT, f), { force: true });
});

describe("docs/ci.md", () => {
  it("the GitLab job runs the same commands as the GitHub workflow", () => {
    const job = Object.values(github.jobs)[0];
    const runs = (job?.steps ?? []).flatMap((s) => (s.run !== undefined ? [s.run.trim()] : []));
    const lab = Object.values(gitlab)[0];
    expect([...(lab?.script ?? []), ...(lab?.after_script ?? [])]).toEqual(runs);
    expect(lab?.variables).toEqual(job?.env);
  });

  it("the GitHub workflow's steps bring a lab up, pass smoke with a JUnit report, and take it down", async () => {
    const job = Object.values(github.jobs)[0];
    expect(job?.env?.["EDGELAB_INVENTORY"]).toBe("inventories/local.yml");
    const env = { ...process.env, ...job?.env, EDGELAB_INVENTORY: lab.inventory };
    const ran: string[] = [];
    let failed = false;
    for (const step of job?.steps ?? []) {
      if (step.run === undefined) continue;
      if (failed && step.if !== "always()") continue;
      try {
        await exec("bash", ["-eo", "pipefail", "-c", step.run], { cwd: ROOT, env, timeout: 240_000 });
        ran.push(step.run.trim());
      } catch (err) {
        failed = true;
        ran.push(`FAILED ${step.run.trim()}: ${(err as { stderr?: string }).stderr ?? String(err)}`);
      }
    }
    expect(ran.filter((r) => r.startsWith("FAILED"))).toEqual([]);
    const junit = readFileSync(join(ROOT, "smoke.xml"), "utf8");
    expect(junit).toMatch(/<testsuite [^>]*failures="0"/);
    expect(junit).toMatch(/<testcase /);
    const events = readFileSync(join(ROOT, "up-events.ndjson"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { event: string; status?: string });
    expect(events.at(-1)).toMatchObject({ event: "summary", status: "ok" });
    // status exits 1 when the lab is not running; its JSON says so either way.
    const status = await exec(process.execPath, [join(ROOT, "bin", "edgelab.cjs"), "-i", lab.inventory, "--json", "status"]).catch((err: unknown) => err as { stdout: string });
    const stdout = status.stdout;
    expect(JSON.parse(stdout)).toMatchObject({ running: false });
  }, 300_000);
});

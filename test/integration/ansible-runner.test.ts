/**
 * AnsibleRunner against the real ansible-playbook (local connection): the JSON-lines callback
 * parsed into per-host events, failures as host + task + message (a rescued failure is not one),
 * skip reasons, secrets kept out of argv and logs, logs kept under .edgelab/logs/<run>/.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import type { AnsibleEvent } from "../../src/ansible/events.js";
import { AnsibleError, AnsibleRunner } from "../../src/ansible/runner.js";

const dir = mkdtempSync(join(tmpdir(), "edgelab-runner-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SECRET = `s3cret-${Math.random().toString(36).slice(2)}`;

const inventory = join(dir, "inventory.yml");
writeFileSync(inventory, stringify({ all: { hosts: { alpha: { ansible_connection: "local" }, beta: { ansible_connection: "local" } } } }));
mkdirSync(join(dir, ".edgelab"), { recursive: true });
writeFileSync(join(dir, ".edgelab", "known_hosts"), "");

const playbook = join(dir, "play.yml");
writeFileSync(
  playbook,
  stringify([
    {
      name: "Exercise the callback",
      hosts: "all",
      gather_facts: false,
      tasks: [
        { name: "Report the tasks skipped here", "ansible.builtin.debug": { msg: { edgelab_skipped: { reason: "no such thing here", tasks: ["Do the impossible"] } } } },
        { name: "Do the impossible", "ansible.builtin.command": "false", when: false },
        { name: "Change something", "ansible.builtin.command": "true", changed_when: "inventory_hostname == 'alpha'" },
        { name: "Use the secret", "ansible.builtin.debug": { msg: "{{ lookup('ansible.builtin.env', 'EDGELAB_TEST_SECRET') }}" }, no_log: true },
        {
          name: "Try and recover",
          block: [{ name: "Fail on purpose", "ansible.builtin.command": "false" }],
          rescue: [{ name: "Recover", "ansible.builtin.debug": { msg: "recovered" } }],
        },
        { name: "Check each item", "ansible.builtin.fail": { msg: "item {{ item }} is bad" }, loop: [1, 2, 3], when: "inventory_hostname == 'beta' and item != 2" },
        { name: "Run a failing command", "ansible.builtin.command": { argv: ["sh", "-c", "echo first >&2; echo 'the real reason' >&2; exit 7"] }, when: "inventory_hostname == 'alpha'" },
      ],
    },
  ]),
);

describe("AnsibleRunner", () => {
  it("reports each failed host with the task and message that ended its run, and where the log is", async () => {
    const events: AnsibleEvent[] = [];
    const runner = new AnsibleRunner({ stateDir: join(dir, ".edgelab"), env: process.env, runId: "test-run" });
    const error = await runner.run({ playbook, inventory, secrets: { EDGELAB_TEST_SECRET: SECRET }, onEvent: (e) => events.push(e) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    await runner.close();
    expect(error).toBeInstanceOf(AnsibleError);
    const result = (error as AnsibleError).result;
    // Hosts fail in whatever order their tasks end; the report is per host, not an order.
    expect([...result.failures].sort((a, b) => a.host.localeCompare(b.host))).toEqual([
      { host: "alpha", task: "Run a failing command", message: "first / the real reason (exit 7)", unreachable: false },
      { host: "beta", task: "Check each item", message: "[1] item 1 is bad; [3] item 3 is bad", unreachable: false },
    ]);
    expect((error as AnsibleError).message).toBe("play failed on 2 hosts:\n  alpha: Run a failing command: first / the real reason (exit 7)\n  beta: Check each item: [1] item 1 is bad; [3] item 3 is bad");
    expect((error as AnsibleError).hint).toBe(`Full log: ${join(dir, ".edgelab", "logs", "test-run", "01-play.jsonl")}`);
    expect(result.skipped.filter((s) => s.task === "Do the impossible")).toEqual([
      { host: "alpha", task: "Do the impossible", reason: "no such thing here" },
      { host: "beta", task: "Do the impossible", reason: "no such thing here" },
    ]);
    expect(result.changed).toEqual([{ host: "alpha", task: "Change something" }]);
    expect(result.stats["alpha"]).toMatchObject({ failures: 1, rescued: 1, changed: 1 });

    // Per-host progress, in order: plays, tasks, results.
    expect(events[0]).toEqual({ kind: "play", name: "Exercise the callback" });
    expect(events.filter((e) => e.kind === "task").map((e) => e.name)).toContain("Fail on purpose");
    expect(events.find((e) => e.kind === "host" && e.host === "beta" && e.task === "Fail on purpose")).toMatchObject({ status: "failed" });
    expect(events.at(-1)?.kind).toBe("stats");

    // The secret reached the playbook through the environment and nowhere else.
    const logs = readdirSync(join(dir, ".edgelab", "logs", "test-run"));
    expect(logs.sort()).toEqual(["01-play.jsonl", "01-play.stderr.log"]);
    for (const f of logs) expect(readFileSync(join(dir, ".edgelab", "logs", "test-run", f), "utf8")).not.toContain(SECRET);
  }, 120_000);

  it("says so when ansible-playbook cannot start the play", async () => {
    const broken = join(dir, "broken.yml");
    writeFileSync(broken, "- hosts: all\n  tasks:\n    - ansible.builtin.no_such_module: {}\n");
    const runner = new AnsibleRunner({ stateDir: join(dir, ".edgelab"), env: process.env, runId: "broken" });
    try {
      await expect(runner.run({ playbook: broken, inventory })).rejects.toThrow(/^broken: ansible-playbook stopped before running the play \(exit 4\): .*no_such_module/);
      await expect(runner.run({ playbook: "no-such-playbook", inventory })).rejects.toThrow(/^no playbook .*\/playbooks\/no-such-playbook\.yml$/);
    } finally {
      await runner.close();
    }
  }, 60_000);
});

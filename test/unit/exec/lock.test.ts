import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { acquireLock } from "../../../src/exec/lock.js";
import { sleep } from "../../../src/util/sleep.js";

const dir = mkdtempSync(join(tmpdir(), "edgelab-lock-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const DIST_LOCK = join(import.meta.dirname, "..", "..", "..", "dist", "exec", "lock.js");

describe("acquireLock", () => {
  it("lets one holder at a time in, the next one as soon as the first releases", async () => {
    const file = join(dir, "one-at-a-time.lock");
    const order: string[] = [];
    let waited = false;
    const a = await acquireLock(file, { timeoutMs: 10_000 });
    const b = acquireLock(file, { timeoutMs: 10_000, onWait: () => (waited = true) }).then((lock) => {
      order.push("b acquired");
      return lock;
    });
    await sleep(500);
    order.push("a releases");
    await a.release();
    await (await b).release();
    expect(order).toEqual(["a releases", "b acquired"]);
    expect(waited).toBe(true);
  });

  it("is released when its holder is killed", async () => {
    const file = join(dir, "killed.lock");
    const holder = spawn(process.execPath, ["--input-type=module", "-e", `const { acquireLock } = await import(${JSON.stringify(DIST_LOCK)}); await acquireLock(${JSON.stringify(file)}, { timeoutMs: 5000 }); console.log("held"); setInterval(() => {}, 1000);`], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve) => holder.stdout.once("data", () => resolve()));
    await expect(acquireLock(file, { timeoutMs: 1000 })).rejects.toThrow(`${file} is still locked by another process after 1 s`);
    holder.kill("SIGKILL");
    await new Promise((resolve) => holder.once("exit", resolve));
    const lock = await acquireLock(file, { timeoutMs: 5000 });
    await lock.release();
  });
});

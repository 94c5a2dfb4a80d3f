/** `edgelab keys show|rotate`: the key an encoder publishes with (no lab needs to run). */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { cli } from "../helpers/cli.js";
import { localData, vars } from "../helpers/inventory.js";

const dir = mkdtempSync(join(tmpdir(), "edgelab-keys-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const data = localData();
vars(data)["streams"] = [
  { name: "live" },
  { name: "cam", source: { type: "external" } },
  { name: "news", key: { env: "EDGELAB_TEST_NEWS_KEY" } },
  { name: "relay", source: { type: "url", url: "rtmp://127.0.0.1:1999/app/relay" } },
];
const inventory = join(dir, "inventory.yml");
writeFileSync(inventory, stringify(data));
const run = (...args: string[]) => cli(["-i", inventory, ...args], { cwd: dir, env: { PATH: process.env["PATH"], EDGELAB_TEST_NEWS_KEY: "news-key-from-env" } });
const keyFile = join(dir, ".edgelab", "secrets", "stream-cam");

describe("edgelab keys show", () => {
  it("generates a {generate: true} key on first use (0600) and prints the OBS fields and the publish URL", async () => {
    const show = await run("keys", "show", "cam");
    expect(show.code, show.stderr).toBe(0);
    const key = readFileSync(keyFile, "utf8").trim();
    expect(key).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect((statSync(keyFile).mode & 0o777).toString(8)).toBe("600");
    expect(show.stdout.split("\n").map((l) => l.split(/\s{2,}/))).toEqual([
      ["server", "rtmp://127.0.221.38:1936/live"],
      ["stream key", `cam?key=${key}`],
      ["key", key],
      ["publish URL", `rtmp://127.0.221.38:1936/live/cam?key=${key}`],
      [""],
    ]);
    expect((await run("keys", "show", "cam", "--url")).stdout).toBe(`rtmp://127.0.221.38:1936/live/cam?key=${key}\n`);
    expect(JSON.parse((await run("--json", "keys", "show", "cam")).stdout)).toEqual({ stream: "cam", key, server: "rtmp://127.0.221.38:1936/live", streamKey: `cam?key=${key}`, url: `rtmp://127.0.221.38:1936/live/cam?key=${key}` });
  });
  it("reads a key from the environment without writing it anywhere", async () => {
    const show = await run("--json", "keys", "show", "news");
    expect(JSON.parse(show.stdout)).toMatchObject({ stream: "news", key: "news-key-from-env" });
    expect(() => statSync(join(dir, ".edgelab", "secrets", "stream-news"))).toThrow();
  });
  it("says why a stream has no key, and which streams there are", async () => {
    const pulled = await run("keys", "show", "relay");
    expect(pulled.code).toBe(2);
    expect(pulled.stderr).toContain("stream 'relay' is pulled by its media server from rtmp://127.0.0.1:1999/app/relay: nobody publishes it, so it has no key");
    const unknown = await run("keys", "show", "nope");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/stream 'nope' is not in the inventory[\s\S]*Streams: live, cam, news, relay\./);
  });
});

describe("edgelab keys rotate", () => {
  it("replaces a generated key (the lab not running: up will use it)", async () => {
    const before = readFileSync(keyFile, "utf8").trim();
    const rotate = await run("keys", "rotate", "cam");
    expect(rotate.code, rotate.stderr).toBe(0);
    expect(rotate.stdout).toContain("new key for 'cam' (the lab is not running; up will use it)");
    const after = readFileSync(keyFile, "utf8").trim();
    expect(after).not.toBe(before);
    expect(after).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect((statSync(keyFile).mode & 0o777).toString(8)).toBe("600");
    expect(rotate.stdout).not.toContain(after);
  });
  it("refuses a key it did not generate, saying where it comes from", async () => {
    const rotate = await run("keys", "rotate", "news");
    expect(rotate.code).toBe(2);
    expect(rotate.stderr).toContain("the key of stream 'news' comes from the environment variable EDGELAB_TEST_NEWS_KEY, not from edgelab");
  });
});

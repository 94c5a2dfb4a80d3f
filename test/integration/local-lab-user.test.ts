/**
 * The local lab as its users run it: as an ordinary (unprivileged) user, with their own encoder.
 * The test creates a system user, gives it a copy of inventories/local.yml (moved to addresses
 * and ports of its own, plus a stream for the user's encoder) and runs up, status, smoke, the
 * ffmpeg command docs/local-lab.md shows, keys rotate and down as that user. It removes the user,
 * its processes and its files afterwards.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RtmpError, rtmpPublish } from "../../src/media/rtmp.js";
import { ROOT, shipped } from "../helpers/inventory.js";
import { segmentsOf, sleep, text } from "../helpers/lab.js";

const USER = `edgelab-t${process.pid}`;
const ROOT_RUN = process.getuid?.() === 0;
/** As root directly, else through sudo (which must not ask for a password). */
const asRoot = (argv: string[]): string => execFileSync(ROOT_RUN ? argv[0] ?? "" : "sudo", ROOT_RUN ? argv.slice(1) : ["-n", ...argv], { encoding: "utf8" });

// A copy of the lab inventory on addresses and ports of its own, and a stream for the user's encoder.
const NETS: [string, string][] = [
  ["127.0.221.", "127.0.191."],
  ["127.0.222.", "127.0.192."],
  ["127.0.223.", "127.0.193."],
];
const EDGE = "http://127.0.192.41:25080";
const HOST = "127.0.191.38";
const CAM_RTMP = 25936; // stream 2 of 2 goes to media-1
const CAM_SERVER = `rtmp://${HOST}:${CAM_RTMP}/live`;

let dir: string;
let uid: number;
let gid: number;
let env: Record<string, string>;

function inventoryCopy(): string {
  let yml = shipped("local");
  for (const [from, to] of NETS) yml = yml.replaceAll(from, to);
  yml = yml.replace(
    "    streams:\n      - name: live\n        key: {generate: true}\n      - name: sports\n        key: {generate: true}\n",
    "    streams:\n      - name: live\n        key: {generate: true}\n      - name: cam\n        source: {type: external}\n    local:\n      ports: {edge: 25080, origin: 25000, router: 25001, redis: 25090, media_http: 25100, media_rtmp: 25935}\n",
  );
  if (!yml.includes("type: external")) throw new Error("inventories/local.yml changed shape: update this test's copy");
  return yml;
}

/** Runs a program as the test user (setpriv execs it: the pid we get is the program's). */
function asUser(argv: string[], options: { input?: string } = {}): ChildProcess {
  const [command, ...args] = ROOT_RUN
    ? ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--", ...argv]
    : ["sudo", "-n", "-u", USER, "--preserve-env=PATH,HOME,EDGELAB_INVENTORY,NO_COLOR", "--", ...argv];
  return spawn(command ?? "", args, { cwd: dir, env, stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
}

async function edgelab(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = asUser(["edgelab", ...args]);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number>((resolve) => child.once("exit", (c) => resolve(c ?? -1)));
  return { code, stdout, stderr };
}

function uidOf(pid: number): number {
  return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
}

/** Every process running as the test user. */
function userProcesses(): number[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((pid) => {
      try {
        return uidOf(pid) === uid;
      } catch {
        return false; // gone meanwhile
      }
    });
}

/** The block of docs/local-lab.md marked as the publish example, exactly as written there. */
function docsPublishExample(): string {
  const doc = readFileSync(join(ROOT, "docs", "local-lab.md"), "utf8");
  const block = /<!-- publish-example[^>]*-->\n```sh\n([\s\S]*?)\n```/.exec(doc)?.[1];
  if (block === undefined) throw new Error("docs/local-lab.md has no publish-example block");
  return block;
}

let encoder: ChildProcess | undefined;

beforeAll(() => {
  asRoot(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", USER]);
  uid = Number(execFileSync("id", ["-u", USER], { encoding: "utf8" }).trim());
  gid = Number(execFileSync("id", ["-g", USER], { encoding: "utf8" }).trim());
  dir = mkdtempSync(join(tmpdir(), "edgelab-user-"));
  chmodSync(dir, 0o755);
  const bin = join(dir, "bin");
  mkdirSync(bin);
  // `edgelab` on the user's PATH is this clone's CLI, as `npm link` or npx would provide it.
  writeFileSync(join(bin, "edgelab"), `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, "bin", "edgelab.cjs")}" "$@"\n`, { mode: 0o755 });
  writeFileSync(join(dir, "inventory.yml"), inventoryCopy());
  asRoot(["chown", "-R", `${uid}:${gid}`, dir]);
  env = {
    PATH: `${bin}:${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin`,
    HOME: dir,
    EDGELAB_INVENTORY: join(dir, "inventory.yml"),
    NO_COLOR: "1",
  };
});

afterAll(async () => {
  encoder?.kill("SIGTERM");
  if (dir !== undefined) await edgelab("down");
  // Whatever still runs as the test user is this test's (the user did not exist before it).
  for (const pid of userProcesses()) asRoot(["kill", "-KILL", String(pid)]);
  for (let i = 0; i < 50 && userProcesses().length > 0; i++) await sleep(100);
  asRoot(["userdel", USER]);
  if (dir !== undefined) asRoot(["rm", "-rf", dir]);
}, 60_000);

describe("the local lab as an unprivileged user, with the user's own encoder", () => {
  it("up works as that user: every process runs as it (redis included), and it prints where to publish, never the key", async () => {
    const up = await edgelab("up", "--timeout", "90");
    expect(up.code, up.stderr).toBe(0);
    const state = JSON.parse(readFileSync(join(dir, ".edgelab", "local", "state.json"), "utf8")) as { processes: { name: string; pid: number }[] };
    expect(state.processes.map((p) => p.name)).toEqual(["redis", "router", "media-0", "media-1", "origin", "edge-west-lab-k3s01", "edge-east-lab-k3s01", "source-live"]);
    for (const p of state.processes) expect(uidOf(p.pid), p.name).toBe(uid);
    expect(up.stdout).toMatch(new RegExp(`cam +${CAM_SERVER.replaceAll(".", "\\.")}/cam +your encoder \\(waiting for it\\) +edgelab keys show cam`));
    expect(up.stdout).toMatch(/live +rtmp:\/\/127\.0\.191\.38:25935\/live\/live +the lab's test source +edgelab keys show live/);
    const key = readFileSync(join(dir, ".edgelab", "secrets", "stream-cam"), "utf8").trim();
    expect(up.stdout + up.stderr).not.toContain(key);
  }, 120_000);

  it("status: the test stream is live, the user's stream waits for its publisher, and that is not a failure", async () => {
    const status = await edgelab("status");
    expect(status.code, status.stdout).toBe(0);
    expect(status.stdout).toMatch(/cam +waiting for publisher +your encoder/);
    expect(status.stdout).toMatch(/live +live +test source/);
  });

  it("smoke passes, reporting the user's stream as waiting for its publisher", async () => {
    const smoke = await edgelab("--json", "smoke");
    const report = JSON.parse(smoke.stdout) as { failed: number; results: { check: string; stream?: string; ok: boolean; value: string }[] };
    expect(report.results.filter((r) => !r.ok)).toEqual([]);
    expect(smoke.code).toBe(0);
    expect(report.results.find((r) => r.check === "stream-state" && r.stream === "cam")?.value).toMatch(/^waiting for publisher/);
    expect(report.results.filter((r) => r.stream === "cam").map((r) => r.check)).toEqual(["stream-state"]);
    expect(report.results.some((r) => r.check === "ffprobe-decode" && r.stream === "live")).toBe(true);
  }, 90_000);

  it("the ffmpeg command in docs/local-lab.md, run exactly as written, publishes the stream and it plays through an edge", async () => {
    encoder = asUser(["bash", "-c", `exec ${docsPublishExample()}`]);
    let stderr = "";
    encoder.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    let state = "";
    for (let i = 0; i < 60 && state !== "live"; i++) {
      await sleep(500);
      state = /cam +(live|waiting for publisher|stalled)/.exec((await edgelab("status")).stdout)?.[1] ?? "";
    }
    expect(state, stderr).toBe("live");
    const playlist = await text(`${EDGE}/hls/cam/index.m3u8`);
    expect(playlist.status).toBe(200);
    expect(segmentsOf(playlist.body).length).toBeGreaterThan(0);
    const probe = JSON.parse(execFileSync("ffprobe", ["-v", "error", "-rw_timeout", "5000000", "-show_entries", "stream=codec_name", "-of", "json", `${EDGE}/hls/cam/index.m3u8`], { encoding: "utf8", timeout: 20_000 })) as { streams: { codec_name: string }[] };
    expect(probe.streams.map((s) => s.codec_name).sort()).toEqual(["aac", "h264"]);
  }, 60_000);

  it("keys rotate: the encoder on the air keeps going; after it stops, the old key is refused and the new one accepted", async () => {
    const oldKey = JSON.parse((await edgelab("--json", "keys", "show", "cam")).stdout) as { key: string; server: string; streamKey: string };
    expect(oldKey.server).toBe(CAM_SERVER);
    const rotated = await edgelab("keys", "rotate", "cam");
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toContain("new key for 'cam': the router refuses the old one from now on");
    const before = segmentsOf((await text(`${EDGE}/hls/cam/index.m3u8`)).body).at(-1);
    await sleep(4500);
    expect(segmentsOf((await text(`${EDGE}/hls/cam/index.m3u8`)).body).at(-1)).not.toBe(before); // still advancing
    const stopped = new Promise((resolve) => encoder?.once("exit", resolve));
    encoder?.kill("SIGTERM");
    await stopped;
    encoder = undefined;
    await sleep(1000); // the media server sees the connection close; publish-done ends the registration
    const attempt = async (key: string): Promise<string> => {
      try {
        const publisher = await rtmpPublish({ host: HOST, port: CAM_RTMP, app: "live", name: `cam?key=${encodeURIComponent(key)}`, timeoutMs: 15_000 });
        await publisher.close();
        return "accepted";
      } catch (cause) {
        if (cause instanceof RtmpError && cause.refused) return "refused";
        throw cause;
      }
    };
    expect(await attempt(oldKey.key)).toBe("refused");
    const newKey = JSON.parse((await edgelab("--json", "keys", "show", "cam")).stdout) as { key: string };
    expect(newKey.key).not.toBe(oldKey.key);
    expect(await attempt(newKey.key)).toBe("accepted");
  }, 60_000);

  it("down stops everything it started; nothing keeps running as the user", async () => {
    const down = await edgelab("down");
    expect(down.code).toBe(0);
    expect(down.stdout).toMatch(/^local lab stopped \(8 processes\)/);
    expect(userProcesses()).toEqual([]);
    // This run's test-source key is gone; the user's keys stay.
    expect(readdirSync(join(dir, ".edgelab", "secrets")).filter((f) => f.startsWith("source-") || f.startsWith("stream-")).sort()).toEqual(["stream-cam", "stream-live"]);
  }, 60_000);
});

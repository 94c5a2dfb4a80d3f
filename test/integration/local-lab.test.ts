/**
 * The local lab end to end, with the real programs: nginx + rtmp module, ffmpeg, redis, the
 * router, the supervisor. One lab at a time (this machine has 2 cores), torn down at the end.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RtmpError, rtmpPublish } from "../../src/media/rtmp.js";
import { ROOT } from "../helpers/inventory.js";
import { stageResult } from "../helpers/events.js";
import { processAlive, segmentsOf, sleep, testLab, text, type TestLab } from "../helpers/lab.js";

describe("local lab: two media servers, two edges, two streams", () => {
  let lab: TestLab;
  let upJson: { changed: string; streams: { stream: string; edge: string; hls: string; dash: string; player: string }[] };

  beforeAll(async () => {
    lab = testLab({ net: 231 });
    const up = await lab.run(["--json", "up", "--to", "local", "--timeout", "90"]);
    if (up.code !== 0) throw new Error(`up failed: ${up.stderr}`);
    upJson = stageResult(up.stdout, "local")?.details as typeof upJson;
  }, 120_000);

  afterAll(async () => {
    const pids = lab.state().processes.map((p) => p.pid).filter((p): p is number => p !== undefined);
    await lab.cleanup();
    for (const pid of pids) expect(processAlive(pid), `pid ${pid} still running after down`).toBe(false);
  }, 60_000);

  it("up prints every stream at every edge", () => {
    expect(upJson.changed).toBe("started");
    expect(upJson.streams.map((s) => `${s.stream}@${s.edge}`).sort()).toEqual(["live@edge0", "live@edge1", "sports@edge0", "sports@edge1"]);
    const first = upJson.streams.find((s) => s.stream === "live" && s.edge === "edge0");
    expect(first).toEqual({
      stream: "live",
      edge: "edge0",
      hls: `${lab.edgeUrls[0] ?? ""}/hls/live/index.m3u8`,
      dash: `${lab.edgeUrls[0] ?? ""}/dash/live/index.mpd`,
      player: `${lab.edgeUrls[0] ?? ""}/player/?stream=live`,
    });
  });

  it("status shows every process running and answering", async () => {
    const status = await lab.run(["--json", "status"]);
    expect(status.code).toBe(0);
    const report = JSON.parse(status.stdout) as { healthy: boolean; processes: { name: string; healthy: boolean; alive: boolean }[] };
    expect(report.healthy).toBe(true);
    expect(report.processes.map((p) => p.name)).toEqual(["redis", "router", "media-0", "media-1", "origin", "edge-edge0", "edge-edge1", "source-live", "source-sports"]);
  });

  it("streams are spread across the media servers", async () => {
    const media0 = await text(`http://127.0.231.38:18100/hls/live/index.m3u8`);
    const media1 = await text(`http://127.0.231.38:18101/hls/sports/index.m3u8`);
    expect([media0.status, media1.status]).toEqual([200, 200]);
    expect((await text(`http://127.0.231.38:18100/hls/sports/index.m3u8`)).status).toBe(404);
  });

  it("re-running up changes nothing", async () => {
    const again = await lab.run(["--json", "up", "--to", "local"]);
    expect(again.code).toBe(0);
    expect(stageResult(again.stdout, "local")).toMatchObject({ event: "stage-skip", status: "unchanged" });
  });

  it("smoke passes every check and writes JUnit", async () => {
    const junit = join(lab.dir, "smoke.xml");
    const smoke = await lab.run(["--json", "smoke", "--junit", junit]);
    const report = JSON.parse(smoke.stdout) as { passed: number; failed: number; results: { check: string; ok: boolean; value: string }[] };
    expect(report.results.filter((r) => !r.ok)).toEqual([]);
    expect(smoke.code).toBe(0);
    expect(new Set(report.results.map((r) => r.check))).toEqual(
      new Set(["unknown-stream-404", "cors-on-404", "stream-state", "wrong-key-refused", "hls-playlist", "hls-target-duration", "hls-window", "hls-live-edge", "edge-lag", "hls-segment", "cache-hit-segment", "cache-hit-playlist", "dash", "ffprobe-decode"]),
    );
    expect(readFileSync(junit, "utf8")).toMatch(/<testsuite name="edgelab smoke" tests="\d+" failures="0"/);
  }, 90_000);

  it("thundering herd: 200 concurrent requests for a fresh segment reach the media server once", async () => {
    const edge = lab.edgeUrls[0] ?? "";
    // Wait for a segment nobody has asked for yet: the newest one at the media server.
    const before = segmentsOf((await text("http://127.0.231.38:18100/hls/live/index.m3u8")).body);
    let fresh: string | undefined;
    for (let i = 0; i < 60 && fresh === undefined; i++) {
      await sleep(100);
      const now = segmentsOf((await text("http://127.0.231.38:18100/hls/live/index.m3u8")).body);
      fresh = now.find((s) => !before.includes(s));
    }
    if (fresh === undefined) throw new Error("no new segment within 6 s");
    const responses = await Promise.all(Array.from({ length: 200 }, () => fetch(`${edge}/hls/live/${fresh}`).then(async (r) => ({ status: r.status, bytes: (await r.arrayBuffer()).byteLength }))));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(new Set(responses.map((r) => r.bytes)).size).toBe(1);
    await sleep(200);
    const count = (log: string): number => readFileSync(join(lab.stateDir, "logs", log), "utf8").split("\n").filter((l) => l.includes(`/hls/live/${fresh}`)).length;
    expect(count("media-0.access.log")).toBe(1);
    expect(count("origin.access.log")).toBe(1);
    expect(count("edge-edge0.access.log")).toBe(200);
  }, 30_000);

  it("origin down for 10 s: edges keep serving what they hold, no 5xx, and recover", async () => {
    const edge = lab.edgeUrls[1] ?? "";
    const playlistUrl = `${edge}/hls/sports/index.m3u8`;
    // Warm the edge: the playlist and every segment it lists.
    const warm = await text(playlistUrl);
    const held = segmentsOf(warm.body);
    for (const s of held) expect((await fetch(`${edge}/hls/sports/${s}`)).status).toBe(200);
    const supervisor = lab.state().supervisorPid;
    const origin = lab.pid("origin");
    process.kill(supervisor, "SIGSTOP"); // so it does not restart the origin during the outage
    try {
      process.kill(origin, "SIGTERM");
      for (let i = 0; i < 50 && processAlive(origin); i++) await sleep(100);
      expect((await fetch(`${lab.origin}/healthz`).then(() => "up").catch(() => "down"))).toBe("down");
      const statuses: number[] = [];
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        statuses.push((await fetch(playlistUrl)).status);
        for (const s of held) statuses.push((await fetch(`${edge}/hls/sports/${s}`)).status);
        await sleep(500);
      }
      expect(statuses.length).toBeGreaterThan(20);
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
    } finally {
      process.kill(supervisor, "SIGCONT");
    }
    // The supervisor restarts the origin; the edge's playlist moves on again.
    const last = segmentsOf((await text(playlistUrl)).body).at(-1);
    let moved = false;
    for (let i = 0; i < 100 && !moved; i++) {
      await sleep(200);
      const now = await text(playlistUrl).catch(() => ({ status: 0, body: "" }));
      moved = now.status === 200 && segmentsOf(now.body).at(-1) !== last;
    }
    expect(moved).toBe(true);
    // The supervisor marks it running once its health check answers (it may lag the first bytes).
    let restarted = lab.state().processes.find((p) => p.name === "origin");
    for (let i = 0; i < 50 && restarted?.status !== "running"; i++) {
      await sleep(100);
      restarted = lab.state().processes.find((p) => p.name === "origin");
    }
    expect(restarted?.restarts).toBe(1);
    expect(restarted?.status).toBe("running");
    expect((await lab.run(["status"])).code).toBe(0);
  }, 60_000);

  it("publisher restart: viewers resume", async () => {
    const edge = lab.edgeUrls[0] ?? "";
    const playlistUrl = `${edge}/hls/live/index.m3u8`;
    const before = segmentsOf((await text(playlistUrl)).body);
    process.kill(lab.pid("source-live"), "SIGKILL");
    let resumed: string[] = [];
    for (let i = 0; i < 150 && resumed.length === 0; i++) {
      await sleep(200);
      const now = await text(playlistUrl);
      if (now.status === 200) resumed = segmentsOf(now.body).filter((s) => !before.includes(s));
    }
    expect(resumed.length).toBeGreaterThan(0);
    const fresh = resumed.at(-1) ?? "";
    const seg = await fetch(`${edge}/hls/live/${fresh}`);
    expect(seg.status).toBe(200);
    expect(seg.headers.get("content-type")).toBe("video/mp2t");
    expect(lab.state().processes.find((p) => p.name === "source-live")?.restarts).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it("the player page plays a stream in headless Chromium with live stats", async () => {
    const browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1000, height: 760 } });
      await page.goto(`${lab.edgeUrls[0] ?? ""}/player/?stream=sports`);
      // Browser-side expressions, as strings: they run in the page, not under Node's types.
      await page.waitForFunction("(window.edgelabStats?.segments ?? 0) >= 2 && (window.edgelabStats?.latency ?? 0) > 0 && document.querySelector('video').currentTime > 1", undefined, { timeout: 30_000 });
      const stats = await page.evaluate<{ latency: number; buffer: number; cache: string | null; errors: string[] }>("window.edgelabStats");
      expect(stats.latency).toBeGreaterThan(0);
      expect(stats.latency).toBeLessThan(15);
      expect(["HIT", "MISS", "EXPIRED", "STALE", "UPDATING"]).toContain(stats.cache);
      expect(await page.textContent("#s-cache")).toBe(stats.cache);
      mkdirSync(join(ROOT, "test-results"), { recursive: true });
      await page.screenshot({ path: join(ROOT, "test-results", "player.png") });
    } finally {
      await browser.close();
    }
  }, 60_000);

  it("a new media server is picked up by reloading, without dropping viewers", async () => {
    const edge = lab.edgeUrls[0] ?? "";
    const inventory = readFileSync(lab.inventory, "utf8");
    writeFileSync(lab.inventory, inventory.replace("media: {}", "media:\n        servers: 3"));
    const statuses: number[] = [];
    let watching = true;
    const viewer = (async () => {
      while (watching) {
        const playlist = await text(`${edge}/hls/live/index.m3u8`).catch((err: unknown) => ({ status: -1, body: String(err), headers: new Headers() }));
        statuses.push(playlist.status);
        const last = segmentsOf(playlist.body).at(-1);
        if (last !== undefined) statuses.push(await fetch(`${edge}/hls/live/${last}`).then((r) => r.status, () => -1));
        await sleep(100);
      }
    })();
    const originPid = lab.pid("origin");
    const up = await lab.run(["--json", "up", "--to", "local"]);
    await sleep(1000);
    watching = false;
    await viewer;
    expect(up.code, up.stderr).toBe(0);
    expect(stageResult(up.stdout, "local")?.details?.["changed"]).toBe("reloaded");
    expect(statuses.length).toBeGreaterThan(10);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(lab.pid("origin")).toBe(originPid); // reloaded, not restarted
    expect(lab.state().processes.find((p) => p.name === "media-2")?.status).toBe("running");
    expect(readFileSync(join(lab.stateDir, "conf", "origin.conf"), "utf8")).toContain("upstream media-2 {");
    expect(readFileSync(join(lab.stateDir, "logs", "router.log"), "utf8")).toContain("configuration reloaded: 3 media servers");
  }, 60_000);

  it("down stops everything it started, and nothing else", async () => {
    const bystander = spawn("sleep", ["30"], { stdio: "ignore" });
    const pids = lab.state().processes.map((p) => p.pid).filter((p): p is number => p !== undefined);
    const supervisor = lab.state().supervisorPid;
    const down = await lab.run(["down"]);
    expect(down.code).toBe(0);
    expect(down.stdout).toBe(`local lab stopped (${pids.length} processes)\n`);
    for (const pid of [...pids, supervisor]) expect(processAlive(pid), `pid ${pid}`).toBe(false);
    expect(bystander.pid !== undefined && processAlive(bystander.pid)).toBe(true);
    bystander.kill();
    const status = await lab.run(["status"]);
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(/is not running/);
  }, 60_000);
});

describe("local lab: ABR ladder", () => {
  let lab: TestLab;
  beforeAll(async () => {
    lab = testLab({
      net: 241,
      edges: 1,
      portBase: 19000,
      // cam: configured for the user's encoder, not published, so its renditions' names are free.
      streams: [{ name: "abr" }, { name: "cam", source: { type: "external" } }],
      media: { servers: 1, fps: 15, abr: [{ name: "180p", width: 320, height: 180, video_kbps: 300, audio_kbps: 48 }, { name: "90p", width: 160, height: 90, video_kbps: 120, audio_kbps: 32 }] },
    });
    const up = await lab.run(["up", "--to", "local", "--timeout", "90"]);
    if (up.code !== 0) throw new Error(`up failed: ${up.stderr}`);
  }, 120_000);
  afterAll(() => lab.cleanup(), 60_000);

  it("serves a master playlist with both renditions, each live", async () => {
    const edge = lab.edgeUrls[0] ?? "";
    const master = await text(`${edge}/hls/abr.m3u8`);
    expect(master.status).toBe(200);
    expect(master.body).toContain("RESOLUTION=320x180");
    expect(master.body).toContain("RESOLUTION=160x90");
    for (const variant of ["abr_180p", "abr_90p"]) {
      const p = await text(`${edge}/hls/${variant}/index.m3u8`);
      expect(p.status, variant).toBe(200);
      expect(segmentsOf(p.body).length).toBeGreaterThan(0);
    }
  });

  it("refuses a publish into the abr application without the lab's transcoder credential, even from loopback; the transcoder's credential is in no command line", async () => {
    const rtmpPort = 19000 + 935;
    const publishAbr = async (name: string, flashVer?: string): Promise<string> => {
      try {
        const publisher = await rtmpPublish({ host: "127.0.241.38", port: rtmpPort, app: "abr", name, flashVer, timeoutMs: 20_000 });
        await publisher.close();
        return "accepted";
      } catch (cause) {
        if (cause instanceof RtmpError && cause.refused) return "refused";
        throw cause;
      }
    };
    // A rendition name nobody publishes (the encoder of cam is not connected): only the credential decides.
    expect(await publishAbr("cam_180p")).toBe("refused");
    expect(await publishAbr("cam_90p", "guessed-credential")).toBe("refused");
    // A stream key does not stand in for the credential.
    expect(await publishAbr("cam_180p?key=anything")).toBe("refused");
    const routerLog = readFileSync(join(lab.stateDir, "logs", "router.log"), "utf8");
    expect(routerLog).toMatch(/refused ABR rendition publish "cam_180p" from 127\.0\.0\.1 on media-0: not the lab's transcoder/);
    expect(routerLog).toMatch(/refused ABR rendition publish "cam_90p" from 127\.0\.0\.1 on media-0: not the lab's transcoder/);
    expect(routerLog.match(/refused ABR rendition publish "cam_180p" from 127\.0\.0\.1 on media-0: not the lab's transcoder/g)).toHaveLength(2);
    // The lab's own transcoder was never refused, and its renditions are still advancing.
    expect(routerLog).not.toMatch(/refused ABR rendition publish "abr_/);
    const edge = lab.edgeUrls[0] ?? "";
    const before = segmentsOf((await text(`${edge}/hls/abr_90p/index.m3u8`)).body).at(-1);
    await sleep(5000);
    expect(segmentsOf((await text(`${edge}/hls/abr_90p/index.m3u8`)).body).at(-1)).not.toBe(before);
    // What the transcoder presents: 31 characters of the generated secret (a flashVer's limit).
    const credential = readFileSync(join(lab.dir, ".edgelab", "secrets", "abr-transcoder"), "utf8").trim().slice(0, 31);
    expect(credential).toMatch(/^[A-Za-z0-9_-]{31}$/);
    let transcoders = 0;
    for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
      let cmdline: string;
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      } catch {
        continue; // gone meanwhile
      }
      if (cmdline.includes("-fpre\0") && cmdline.includes("/abr/abr_")) transcoders += 1;
      expect(cmdline.includes(credential), `the transcoder credential in the command line of pid ${pid}`).toBe(false);
    }
    expect(transcoders).toBe(1);
  }, 60_000);

  it("passes smoke through the master playlist", async () => {
    const smoke = await lab.run(["--json", "smoke"]);
    const report = JSON.parse(smoke.stdout) as { results: { check: string; ok: boolean; value: string }[] };
    expect(report.results.filter((r) => !r.ok)).toEqual([]);
    expect(report.results.find((r) => r.check === "hls-playlist")?.value).toMatch(/2 variants/);
  }, 90_000);
});

/**
 * The local data plane under attack and accident, with the real programs (nginx-rtmp, redis,
 * the router, the supervisor). Each test performs the attack (on loopback only) and checks that
 * the stream stays on the air, nothing leaks and the lab says honestly what state it is in.
 * One lab for the whole file: 2 media servers, 1 edge, a test-source stream and a stream for
 * the user's own encoder.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { request } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RtmpError, rtmpPublish } from "../../src/media/rtmp.js";
import { processAlive, sleep, testLab, text, type TestLab } from "../helpers/lab.js";

const NET = 171; // origin 127.0.171.38, edge 127.0.172.41
const BASE = 24000;
const HOST = `127.0.${NET}.38`;
const RTMP = [BASE + 935, BASE + 936];
const ROUTER = `http://${HOST}:${BASE + 1}`;
const MEDIA_HTTP = [`http://${HOST}:${BASE + 100}`, `http://${HOST}:${BASE + 101}`];

let lab: TestLab;
let edge: string;
const secrets = (): string => join(lab.dir, ".edgelab", "secrets");
const secret = (name: string): string => readFileSync(join(secrets(), name), "utf8").trim();
const logOf = (name: string): string => readFileSync(join(lab.stateDir, "logs", name), "utf8");
const status = async (url: string, init?: RequestInit): Promise<number> => (await fetch(url, { ...init, signal: AbortSignal.timeout(5000) })).status;

/** Fetches `url` every `everyMs` for `ms`, returning every status seen. */
async function watch(url: string, ms: number, everyMs = 100): Promise<number[]> {
  const seen: number[] = [];
  const until = Date.now() + ms;
  while (Date.now() < until) {
    seen.push(await status(url).catch(() => -1));
    await sleep(everyMs);
  }
  return seen;
}

/** Publishes with the RTMP client; resolves "accepted" (then disconnects) or the refusal's message. */
async function tryPublish(port: number, name: string, localAddress?: string): Promise<string> {
  try {
    const publisher = await rtmpPublish({ host: HOST, port, app: "live", name, localAddress, timeoutMs: 20_000 });
    await publisher.close();
    return "accepted";
  } catch (cause) {
    if (cause instanceof RtmpError && cause.refused) return "refused";
    throw cause;
  }
}

async function health(): Promise<{ ok: boolean; streams: { name: string; state: string; server?: string; session?: string }[] }> {
  return (await (await fetch(`${ROUTER}/healthz`)).json()) as { ok: boolean; streams: { name: string; state: string; server?: string; session?: string }[] };
}

/** Sends raw RESP commands to the lab's redis and returns its first `count` reply lines. */
async function redisSays(commands: string, count = 1): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: HOST, port: BASE + 90 });
    let reply = "";
    socket.once("connect", () => socket.write(commands));
    socket.on("data", (d: Buffer) => {
      reply += d.toString("utf8");
      const lines = reply.split("\r\n");
      // A bulk reply ($n) is two lines.
      const replies: string[] = [];
      for (let i = 0; i < lines.length - 1; i++) {
        const line = lines[i] ?? "";
        replies.push(line.startsWith("$") && line !== "$-1" ? (lines[++i] ?? "") : line);
      }
      if (replies.length >= count) {
        socket.destroy();
        resolve(replies.slice(0, count));
      }
    });
    socket.once("error", reject);
  });
}

const liveSession = async (): Promise<string | undefined> => (await health()).streams.find((s) => s.name === "live")?.session;

beforeAll(async () => {
  lab = testLab({ net: NET, edges: 1, portBase: BASE, streams: [{ name: "live" }, { name: "cam", source: { type: "external" } }] });
  const up = await lab.run(["up", "--to", "local", "--timeout", "90"]);
  if (up.code !== 0) throw new Error(`up failed: ${up.stderr}`);
  edge = lab.edgeUrls[0] ?? "";
  // The router has seen the stream advance (live) before the attacks start.
  for (let i = 0; i < 50 && (await health()).streams.find((s) => s.name === "live")?.state !== "live"; i++) await sleep(200);
}, 120_000);

afterAll(async () => {
  const pids = lab.state().processes.map((p) => p.pid).filter((p): p is number => p !== undefined);
  await lab.cleanup();
  for (const pid of pids) expect(processAlive(pid), `pid ${pid} still running after down`).toBe(false);
}, 60_000);

describe("who can take a stream off the air", () => {
  it("an unauthenticated unregister is refused and the stream stays on the air", async () => {
    const session = await liveSession();
    expect(session).toMatch(/^\d+$/);
    expect(await status(`${ROUTER}/auth/publish-done/media-0?name=live`)).toBe(404);
    expect(await status(`${ROUTER}/auth/publish-done/media-0/guessed-secret?name=live&clientid=${session ?? ""}`)).toBe(403);
    // Even another media server's real secret does not speak for media-0.
    expect(await status(`${ROUTER}/auth/publish-done/media-0/${secret("media-media-1")}?name=live&clientid=${session ?? ""}`)).toBe(403);
    expect(await watch(`${edge}/hls/live/index.m3u8`, 3000)).not.toContain(404);
    expect(await liveSession()).toBe(session);
    expect(logOf("router.log")).toContain('refused a publish-done callback claiming to come from media server "media-0": wrong media-server secret');
  });

  it("a second publisher with the right key (a double start, a reconnect) is refused, and the running stream stays on the air", async () => {
    const session = await liveSession();
    const key = secret("stream-live");
    const viewers = watch(`${edge}/hls/live/index.m3u8`, 4000);
    expect(await tryPublish(RTMP[0] ?? 0, `live?key=${key}`)).toBe("refused"); // same media server
    expect(await tryPublish(RTMP[1] ?? 0, `live?key=${key}`)).toBe("refused"); // the other one
    expect(await viewers).not.toContain(404);
    expect(await liveSession()).toBe(session);
    expect(logOf("router.log")).toMatch(/refused publish of stream "live" from [\d.]+ on media-1: stream is already live on media-0 \(session \d+\)/);
  }, 30_000);

  it("a CR/LF in the key through the RTMP port forges no callback and no log line", async () => {
    const session = await liveSession();
    const forged = `GET /auth/publish-done/media-0/${"x".repeat(32)}?name=live&clientid=${session ?? ""} HTTP/1.0\r\nHost: router\r\n\r\n`;
    expect(await tryPublish(RTMP[0] ?? 0, `live?key=wrong\r\n${forged}`)).toBe("refused");
    expect(await tryPublish(RTMP[0] ?? 0, `live?key=wrong%0d%0a${encodeURIComponent(forged)}`)).toBe("refused");
    expect(await watch(`${edge}/hls/live/index.m3u8`, 2000)).not.toContain(404);
    expect(await liveSession()).toBe(session);
    const router = logOf("router.log");
    expect(router).toMatch(/refused a malformed request from 127\.0\.\d+\.\d+: HPE_/);
    expect(router).toContain("refused publish on media-0: control characters in the publish arguments");
    expect(router).not.toMatch(/ended on media-0 \(session/);
    // nginx-rtmp's access log: our format, one well-formed line per session, nothing forged.
    const lines = logOf("media-0.rtmp.log").split("\n").filter((l) => l !== "");
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatch(/^\d+ [\d.]+ \[[^\]]+\] (PUBLISH|PLAY|NONE|PLAY\+PUBLISH) \d+ \d+ \d+$/);
  }, 30_000);
});

describe("edges", () => {
  it("an encoded path cannot poison an edge's cache", async () => {
    const poisoning = (async () => {
      const seen: number[] = [];
      for (let i = 0; i < 8; i++) {
        for (const path of ["/%68ls/live/index.m3u8", "/hls/%6Cive/index.m3u8", "/hls/live/%69ndex.m3u8", "/hls//live/./index.m3u8"]) {
          seen.push(await status(`${edge}${path}`));
        }
        await sleep(500);
      }
      return seen;
    })();
    const viewers = await watch(`${edge}/hls/live/index.m3u8`, 4000, 50);
    expect(viewers.filter((s) => s !== 200)).toEqual([]);
    // Each spelling names the same playlist and gets it.
    expect((await poisoning).filter((s) => s !== 200)).toEqual([]);
  }, 20_000);

  it("a playlist error is kept by an edge to the end of the second at most", async () => {
    // cam is configured but nobody publishes it: 404. How long does an edge keep answering that 404
    // from its cache (HIT)? Entries kept "1 s" by nginx can live almost 2 s.
    const streaks: number[] = [];
    for (let i = 0; i < 3; i++) {
      await sleep(1100); // whatever is cached expires
      let first = await fetch(`${edge}/hls/cam/index.m3u8`);
      while ((first.headers.get("x-cache-status") ?? "") === "HIT") first = await fetch(`${edge}/hls/cam/index.m3u8`);
      expect(first.status).toBe(404);
      // From when the 404 arrived (after it was stored) to when the last HIT was asked for
      // (before it was answered): request latency on a loaded machine never lengthens it.
      const stored = performance.now();
      let last = stored;
      for (;;) {
        const asked = performance.now();
        const res = await fetch(`${edge}/hls/cam/index.m3u8`);
        if (res.headers.get("x-cache-status") !== "HIT") break;
        last = asked;
        await sleep(20);
      }
      streaks.push((last - stored) / 1000);
    }
    for (const streak of streaks) expect(streak).toBeLessThanOrEqual(1.05);
  }, 30_000);

  it("media paths answer GET, HEAD and OPTIONS only, at the edge, the origin, the media servers and the router", async () => {
    const urls = [`${edge}/hls/live/index.m3u8`, `${lab.origin}/hls/live/index.m3u8`, `${MEDIA_HTTP[0] ?? ""}/hls/live/index.m3u8`, `${ROUTER}/hls/live/index.m3u8`];
    for (const url of urls) {
      for (const method of ["POST", "PUT", "DELETE", "PATCH"]) expect(await status(url, { method, body: method === "DELETE" ? undefined : "x" }), `${method} ${url}`).toBe(405);
      expect(await status(url), `GET ${url}`).toBe(200);
      expect(await status(url, { method: "HEAD" }), `HEAD ${url}`).toBe(200);
    }
    for (const url of urls.slice(0, 3)) expect(await status(url, { method: "OPTIONS" }), `OPTIONS ${url}`).toBe(204);
  });

  it("status pages never answer on a public listener; they are unix sockets only the lab's user can reach", async () => {
    for (const base of [edge, lab.origin, ...MEDIA_HTTP]) {
      for (const path of ["/nginx_status", "/stat"]) expect(await status(`${base}${path}`), `${base}${path}`).toBe(404);
    }
    const dir = join(lab.stateDir, "status");
    expect((statSync(dir).mode & 0o777).toString(8)).toBe("700");
    expect(readdirSync(dir).sort()).toEqual(["edge-edge0.sock", "media-0.sock", "media-1.sock", "origin.sock"]);
    const stat = await new Promise<string>((resolve, reject) => {
      request({ socketPath: join(dir, "media-0.sock"), path: "/stat" }, (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve(body));
      })
        .once("error", reject)
        .end();
    });
    expect(stat).toMatch(/<name>live<\/name>[\s\S]*<publishing\/>/);
  });
});

describe("publish keys", () => {
  it("a burst of 50 wrong-key attempts does not hold viewers: every origin lookup answers within 250 ms", async () => {
    const lookups: number[] = [];
    let bursting = true;
    const viewer = (async () => {
      while (bursting) {
        const t0 = performance.now();
        const res = await fetch(`${lab.origin}/hls/live/index.m3u8`);
        await res.arrayBuffer();
        lookups.push(performance.now() - t0);
        await sleep(20);
      }
    })();
    const t0 = performance.now();
    // 50 attackers, each from an address of its own (no per-address limit applies): 50 key checks.
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => tryPublish(RTMP[0] ?? 0, `live?key=guess-${i}`, `127.0.180.${i + 1}`)));
    const burstMs = performance.now() - t0;
    bursting = false;
    await viewer;
    expect(results.every((r) => r === "refused")).toBe(true);
    expect(burstMs).toBeGreaterThan(1000); // 50 scrypt checks, one at a time, really ran
    expect(lookups.length).toBeGreaterThan(20);
    expect(Math.max(...lookups)).toBeLessThanOrEqual(250);
  }, 60_000);

  it("an address that keeps failing is refused for a while, with a clear log line", async () => {
    for (let i = 0; i < 5; i++) expect(await tryPublish(RTMP[1] ?? 0, `cam?key=guess-${i}`, "127.0.181.1")).toBe("refused");
    expect(logOf("router.log")).toContain("too many failed publish attempts from 127.0.181.1 (5 within 60 s): refusing its publishes for 60 s");
    expect(await tryPublish(RTMP[1] ?? 0, `cam?key=${secret("stream-cam")}`, "127.0.181.1")).toBe("refused");
    expect(await tryPublish(RTMP[1] ?? 0, `cam?key=${secret("stream-cam")}`, "127.0.181.2")).toBe("accepted");
  }, 60_000);

  it("no key is in any process's command line or in any log; logs are readable by their owner only", () => {
    const keys = readdirSync(secrets())
      .filter((f) => /^(stream-|source-|media-media-)|^redis-password$/.test(f))
      .map((f) => ({ name: f, value: secret(f) }));
    expect(keys.map((k) => k.name).sort()).toEqual(["media-media-0", "media-media-1", "redis-password", "source-live", "stream-cam", "stream-live"]);
    for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
      let cmdline: string;
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      } catch {
        continue; // gone meanwhile
      }
      for (const k of keys) expect(cmdline.includes(k.value), `${k.name} in the command line of pid ${pid}`).toBe(false);
    }
    const logs = join(lab.stateDir, "logs");
    const files = [...readdirSync(logs).map((f) => join(logs, f)), join(lab.stateDir, "state.json"), join(lab.stateDir, "supervisor.json"), ...readdirSync(join(lab.stateDir, "conf")).map((f) => join(lab.stateDir, "conf", f))];
    for (const system of ["/var/log/nginx/access.log", "/var/log/nginx/error.log"]) {
      try {
        statSync(system);
        files.push(system);
      } catch {
        // not there: nothing written to it
      }
    }
    for (const file of files) {
      const content = readFileSync(file, "utf8");
      for (const k of keys) expect(content.includes(k.value), `${k.name} in ${file}`).toBe(false);
    }
    for (const f of readdirSync(logs)) expect((statSync(join(logs, f)).mode & 0o777).toString(8), f).toBe("600");
    expect((statSync(logs).mode & 0o777).toString(8)).toBe("700");
  });
});

describe("redis", () => {
  it("refuses every command without the password, so nobody rewrites or deletes registrations", async () => {
    expect((await redisSays("PING\r\n"))[0]).toMatch(/^-NOAUTH/);
    expect((await redisSays("DEL edgelab:stream:live\r\n"))[0]).toMatch(/^-NOAUTH/);
    expect((await redisSays("SET edgelab:stream:live x\r\n"))[0]).toMatch(/^-NOAUTH/);
    // With the password: works, except CONFIG (turning protected mode off, moving dir...).
    expect(await redisSays(`AUTH ${secret("redis-password")}\r\nCONFIG SET protected-mode no\r\n`, 2)).toEqual(["+OK", expect.stringMatching(/^-ERR unknown command 'CONFIG'/) as string]);
    expect(await liveSession()).toMatch(/^\d+$/);
  });

  it("runs as an unprivileged user, on the loopback address only", () => {
    const pid = lab.pid("redis");
    const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
    expect(uid).not.toBe(0);
    if (process.getuid?.() === 0) expect(uid).toBe(Number(execFileSync("id", ["-u", "redis"], { encoding: "utf8" }).trim()));
    const listening = execFileSync("ss", ["-H", "-l", "-t", "-n", "-p"], { encoding: "utf8" }).split("\n").filter((l) => l.includes(`pid=${pid},`));
    expect(listening.map((l) => l.trim().split(/\s+/)[3])).toEqual([`${HOST}:${BASE + 90}`]);
  });
});

describe("the stream-key router", () => {
  it("runs as an unprivileged user when the lab is started as root, and still serves: lookups, redis, the media servers' stat pages", async () => {
    const pid = lab.pid("router");
    const ids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.slice(1).map(Number) ?? [];
    expect(ids).toHaveLength(4);
    // Real, effective, saved and filesystem uid: none is root, so it cannot get root back.
    for (const id of ids) expect(id).not.toBe(0);
    if (process.getuid?.() === 0) for (const id of ids) expect(id).toBe(Number(execFileSync("id", ["-u", "nobody"], { encoding: "utf8" }).trim()));
    // The lab's directory is 0700 (a temp dir): the router reaches its files only through the
    // descriptors the supervisor gave it.
    expect((statSync(lab.dir).mode & 0o777).toString(8)).toBe("700");
    // Its own directory (its configuration and redis password) is its and nobody else's.
    const own = join(lab.stateDir, "router");
    expect([(statSync(own).mode & 0o777).toString(8), statSync(own).uid]).toEqual(["700", ids[0]]);
    for (const f of readdirSync(own)) expect([f, (statSync(join(own, f)).mode & 0o777).toString(8), statSync(join(own, f)).uid]).toEqual([f, "600", ids[0]]);
    // Lookups (redis, with its password) and reconciliation (the status sockets) work as that user.
    expect(await status(`${lab.origin}/hls/live/index.m3u8`)).toBe(200);
    const report = await health();
    expect(report.ok).toBe(true);
    expect(report.streams.find((s) => s.name === "live")).toMatchObject({ state: "live", server: "media-0" });
    const auth = `AUTH ${secret("redis-password")}\r\n`;
    const session = await liveSession();
    expect(await redisSays(`${auth}DEL edgelab:stream:live\r\n`, 2)).toEqual(["+OK", ":1"]);
    let registered = "$-1";
    for (let i = 0; i < 50 && registered === "$-1"; i++) {
      await sleep(100);
      registered = (await redisSays(`${auth}GET edgelab:stream:live\r\n`, 2))[1] ?? "";
    }
    expect(registered).toBe(JSON.stringify({ server: "media-0", client: session }));
    // A configuration reload (SIGHUP) re-reads its files as that user.
    process.kill(pid, "SIGHUP");
    let reloaded = false;
    for (let i = 0; i < 30 && !reloaded; i++) {
      await sleep(100);
      reloaded = logOf("router.log").includes("configuration reloaded");
    }
    expect(reloaded).toBe(true);
    expect(logOf("router.log")).not.toContain("configuration reload failed");
  });
});

describe("self-healing and honest health", () => {
  it("a running stream whose registration is deleted is back within 5 s", async () => {
    const session = await liveSession();
    const auth = `AUTH ${secret("redis-password")}\r\n`;
    expect(await redisSays(`${auth}DEL edgelab:stream:live\r\n`, 2)).toEqual(["+OK", ":1"]);
    const deleted = Date.now();
    let registered = "$-1";
    while (registered === "$-1" && Date.now() - deleted < 5000) {
      await sleep(100);
      registered = (await redisSays(`${auth}GET edgelab:stream:live\r\n`, 2))[1] ?? "";
    }
    expect(Date.now() - deleted).toBeLessThan(5000);
    expect(logOf("router.log")).toMatch(/stream "live" is published on media-0 \(session \d+\) but was not registered: registered again/);
    expect(await liveSession()).toBe(session);
    await sleep(1100); // past the router's cache: the answer now comes from the new registration
    expect(await status(`${lab.origin}/hls/live/index.m3u8`)).toBe(200);
  });

  it("status and /healthz say stalled when a stream stops advancing, and live again when it resumes; a stream waiting for its encoder is not a failure", async () => {
    let report = JSON.parse((await lab.run(["--json", "status"])).stdout) as { healthy: boolean; streams: { name: string; state: string }[] };
    expect(report.streams.map((s) => [s.name, s.state])).toEqual([
      ["live", "live"],
      ["cam", "waiting for publisher"],
    ]);
    expect(report.healthy).toBe(true);
    // Freeze the test source's encoder: the publisher stays connected, no new segment comes.
    const publisher = lab.pid("source-live");
    const encoder = Number(
      readdirSync("/proc").find((pid) => {
        try {
          const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
          return stat.includes("(ffmpeg)") && stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1] === String(publisher);
        } catch {
          return false;
        }
      }),
    );
    expect(encoder).toBeGreaterThan(0);
    process.kill(encoder, "SIGSTOP");
    try {
      let state = "live";
      const frozen = Date.now();
      while (state !== "stalled" && Date.now() - frozen < 15_000) {
        await sleep(250);
        state = (await health()).streams.find((s) => s.name === "live")?.state ?? "?";
      }
      expect(state).toBe("stalled");
      expect(await status(`${ROUTER}/healthz`)).toBe(503);
      const stalled = await lab.run(["--json", "status"]);
      expect(stalled.code).toBe(1);
      report = JSON.parse(stalled.stdout) as typeof report;
      expect(report.streams.find((s) => s.name === "live")?.state).toBe("stalled");
    } finally {
      process.kill(encoder, "SIGCONT");
    }
    let state = "stalled";
    for (let i = 0; i < 60 && state !== "live"; i++) {
      await sleep(250);
      state = (await health()).streams.find((s) => s.name === "live")?.state ?? "?";
    }
    expect(state).toBe("live");
    expect((await lab.run(["status"])).code).toBe(0);
  }, 60_000);
});

describe("router memory", () => {
  it("10,000 lookups of distinct unknown stream names grow the router by less than 10 MB", async () => {
    const rss = (): number => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${lab.pid("router")}/status`, "utf8"))?.[1]) / 1024;
    const flood = async (from: number, count: number): Promise<void> => {
      let next = from;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < from + count) {
            const i = next++;
            expect((await text(`${lab.origin}/hls/no-such-stream-${i}/index.m3u8`)).status).toBe(404);
          }
        }),
      );
    };
    await flood(0, 1000); // warm up: connections, JIT, heap
    const before = rss();
    await flood(1000, 10_000);
    const grown = rss() - before;
    expect(grown).toBeLessThan(10);
  }, 120_000);
});

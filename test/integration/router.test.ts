/**
 * The stream-key router against a real redis, over real HTTP. The media servers' stat pages are
 * a stand-in here (statStandIn: the XML nginx-rtmp's rtmp_stat writes, set per test); the local
 * lab suites exercise the same paths with real nginx-rtmp.
 */
import { readdirSync, readFileSync } from "node:fs";
import type { Server } from "node:http";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { KeyChecker } from "../../src/media/key-checker.js";
import { hashKey, SCRYPT_PARAMS, sha256Hex } from "../../src/media/keys.js";
import { redisRegistry, Router, startRouterServer, type MediaServerClient, type StreamRegistry } from "../../src/media/router-server.js";
import { ROUTER_DEFAULTS, type MediaServerRef, type RouterConfig } from "../../src/media/routing.js";
import { startRedis, type Started } from "../helpers/procs.js";

const HOST = "127.0.236.10";
const REDIS_PORT = 6391;
const REDIS_PASSWORD = "router-test-redis-password";
const PORT = 18201;
const base = `http://${HOST}:${PORT}`;
const SECRET = { "media-0": "secret-zero_0", "media-1": "secret-one_1", "media-2": "secret-two_2" } as const;
const SOURCE_KEY = "minted-source-key-for-live";
const TRANSCODER = "the-labs-transcoder-credential1";

const server = (name: keyof typeof SECRET, i: number): MediaServerRef => ({ name, secretSha256: sha256Hex(SECRET[name]), http: { host: HOST, port: 19990 + i }, stat: { socket: `/nonexistent/${name}.sock` } });

const config: RouterConfig = {
  listen: { host: HOST, port: PORT },
  redis: { host: HOST, port: REDIS_PORT },
  servers: [server("media-0", 0), server("media-1", 1)],
  streams: [
    { name: "live", publisher: "source", key: hashKey("right-key"), sourceKeySha256: sha256Hex(SOURCE_KEY), playlist: "/hls/live/index.m3u8" },
    { name: "sports", publisher: "external", key: hashKey("other-key"), playlist: "/hls/sports/index.m3u8" },
    { name: "cam", publisher: "pull", staticServer: "media-1", playlist: "/hls/cam/index.m3u8" },
  ],
  abrSuffixes: ["360p"],
  transcoderSha256: sha256Hex(TRANSCODER),
  ...ROUTER_DEFAULTS,
  cacheMs: 300,
  negativeCacheMs: 300,
  auth: { ...ROUTER_DEFAULTS.auth, concurrency: 1, failures: 5, windowMs: 60_000, blockMs: 60_000 },
};

/** What each media server's rtmp_stat page says is being published: stream -> client id. */
const published = new Map<string, Map<string, string>>();
function statXml(serverName: string): string {
  const streams = [...(published.get(serverName) ?? new Map<string, string>())]
    .map(([stream, client]) => `<stream>\n<name>${stream}</name>\n<time>1000</time><client><id>${client}</id><address>127.0.0.1</address><publishing/><active/></client>\n<publishing/>\n<active/>\n</stream>\n`)
    .join("");
  return `<?xml version="1.0" encoding="utf-8" ?>\n<rtmp>\n<server>\n<application>\n<name>live</name>\n<live>\n${streams}<nclients>1</nclients>\n</live>\n</application>\n</server>\n</rtmp>\n`;
}
const statStandIn: MediaServerClient = {
  stat: (s) => Promise.resolve(statXml(s.name)),
  playlist: () => Promise.resolve(undefined),
};

const checker = new KeyChecker(SCRYPT_PARAMS);
let redis: Started;
let registry: StreamRegistry;
let registryGets = 0;
let httpServer: Server;
let router: Router;
const logs: string[] = [];

beforeAll(async () => {
  redis = await startRedis(HOST, REDIS_PORT, REDIS_PASSWORD);
  const real = await redisRegistry(HOST, REDIS_PORT, REDIS_PASSWORD);
  registry = {
    ...real,
    get: (stream) => {
      registryGets += 1;
      return real.get(stream);
    },
  };
  // Each test gets a fresh router (its own cache and failure counts) behind the same listener.
  httpServer = await startRouterServer({ handle: (req, res) => router.handle(req, res) }, HOST, PORT, (l) => logs.push(l));
});
afterAll(async () => {
  httpServer.closeAllConnections();
  await new Promise((r) => httpServer.close(r));
  await registry.close();
  await redis.stop();
  await checker.close();
});
beforeEach(async () => {
  published.clear();
  for (const stream of ["live", "sports"]) {
    const current = await registry.get(stream);
    if (current !== null) await registry.release(stream, current);
  }
  router = new Router(config, registry, statStandIn, (l) => logs.push(l), Date.now, (key, hash) => checker.verify(key, hash));
});

const get = (path: string, init?: RequestInit) => fetch(`${base}${path}`, init);
/** A callback as nginx-rtmp sends it: its own arguments first, the publisher's URL arguments appended raw. */
const publish = (serverName: keyof typeof SECRET, query: string, secret: string = SECRET[serverName]) => get(`/auth/publish/${serverName}/${secret}?app=live&addr=127.0.0.5&call=publish&type=live&${query}`);
const publishDone = (serverName: keyof typeof SECRET, query: string, secret: string = SECRET[serverName]) => get(`/auth/publish-done/${serverName}/${secret}?app=live&addr=127.0.0.5&call=publish_done&${query}`);

describe("who may call the auth endpoints", () => {
  it("refuses an unregister without the media server's secret, and the stream stays registered", async () => {
    expect((await publish("media-0", "clientid=7&name=live&key=right-key")).status).toBe(200);
    expect((await get("/auth/publish-done/media-0?name=live")).status).toBe(404); // the old, unauthenticated form
    expect((await publishDone("media-0", "clientid=7&name=live", "guessed-secret")).status).toBe(403);
    expect((await publishDone("media-0", "clientid=7&name=live", SECRET["media-1"])).status).toBe(403); // another server's secret
    expect(await registry.get("live")).toEqual({ server: "media-0", client: "7" });
    expect(logs.at(-1)).toBe('refused a publish-done callback claiming to come from media server "media-0": wrong media-server secret');
    expect(logs.join("\n")).not.toContain(SECRET["media-1"]);
  });
  it("refuses a publish from a media server it does not know", async () => {
    expect((await get(`/auth/publish/media-9/${SECRET["media-0"]}?clientid=1&name=live&key=right-key`)).status).toBe(403);
    expect(await registry.get("live")).toBeNull();
  });
});

describe("publish authorization", () => {
  it("refuses a wrong key and logs stream and address, without the key", async () => {
    const res = await publish("media-0", "clientid=3&name=live&key=a-wrong-key-value");
    expect(res.status).toBe(403);
    expect(logs.at(-1)).toBe('refused publish of stream "live" from 127.0.0.5 on media-0: wrong stream key');
    expect(logs.join("\n")).not.toContain("a-wrong-key-value");
    expect(await registry.get("live")).toBeNull();
  });
  it("refuses a missing key, an unknown stream and a pulled stream", async () => {
    expect((await publish("media-0", "clientid=3&name=live")).status).toBe(403);
    expect((await publish("media-0", "clientid=3&name=nope&key=right-key")).status).toBe(403);
    expect((await publish("media-0", "clientid=3&name=cam&key=right-key")).status).toBe(403);
    expect(logs.slice(-3).map((l) => l.split(": ").at(-1))).toEqual(["no stream key", "no such stream", "stream is pulled, not published"]);
  });
  it("refuses control characters in the arguments and nginx-rtmp's own arguments given twice", async () => {
    expect((await publish("media-0", "clientid=3&name=live&key=right-key%0d%0aX-Forged:%201")).status).toBe(403);
    expect(logs.at(-1)).toBe("refused publish on media-0: control characters in the publish arguments");
    // The publisher's raw arguments come after nginx-rtmp's: a second name or session id is an attack.
    expect((await publish("media-0", "clientid=3&name=live&key=right-key&clientid=99")).status).toBe(403);
    expect((await publish("media-0", "clientid=3&name=live&key=right-key&name=sports")).status).toBe(403);
    expect(await registry.get("live")).toBeNull();
  });
  it("decodes the arguments once: an encoded key stays what was sent", async () => {
    // "right%2Dkey" decodes once to "right-key" (accepted); twice-encoded "%252D" must not.
    expect((await publish("media-0", "clientid=3&name=live&key=right%252Dkey")).status).toBe(403);
    expect((await publish("media-0", "clientid=3&name=live&key=right%2Dkey")).status).toBe(200);
  });
  it("accepts the right key and registers the stream with its media server and session", async () => {
    expect((await publish("media-1", "clientid=12&name=live&key=right-key")).status).toBe(200);
    expect(await registry.get("live")).toEqual({ server: "media-1", client: "12" });
    expect(logs.at(-1)).toBe('publish of stream "live" from 127.0.0.5 accepted on media-1 (session 12)');
  });
  it("accepts the key minted for the lab's test source", async () => {
    expect((await publish("media-0", `clientid=4&name=live&key=${SOURCE_KEY}`)).status).toBe(200);
  });
});

describe("ABR renditions (the abr application's on_publish)", () => {
  const abr = (query: string, secret: string = SECRET["media-0"]) => get(`/auth/abr-publish/media-0/${secret}?app=abr&addr=127.0.0.1&call=publish&type=live&${query}`);
  it("accepts a rendition of a known stream only with the lab's transcoder credential (the flashVer)", async () => {
    expect((await abr(`clientid=200&name=live_360p&flashver=${TRANSCODER}`)).status).toBe(200);
    expect((await abr("clientid=201&name=live_360p&flashver=FMLE%2F3.0")).status).toBe(403);
    expect(logs.at(-1)).toBe('refused ABR rendition publish "live_360p" from 127.0.0.1 on media-0: not the lab\'s transcoder (wrong or missing transcoder credential)');
    expect((await abr("clientid=202&name=live_360p")).status).toBe(403);
    // A stream key, even the right one, is not the credential.
    expect((await abr("clientid=203&name=live_360p&key=right-key")).status).toBe(403);
    // A prefix of the credential (what nginx-rtmp would keep of a longer one) is not it either.
    expect((await abr(`clientid=204&name=live_360p&flashver=${TRANSCODER.slice(0, -1)}`)).status).toBe(403);
  });
  it("refuses names that are not renditions of the lab's streams, a second flashver, and a caller without the media server's secret", async () => {
    expect((await abr(`clientid=210&name=live&flashver=${TRANSCODER}`)).status).toBe(403);
    expect(logs.at(-1)).toBe('refused ABR rendition publish "live" from 127.0.0.1 on media-0: not a rendition of a stream of this lab');
    expect((await abr(`clientid=211&name=other_360p&flashver=${TRANSCODER}`)).status).toBe(403);
    expect((await abr(`clientid=212&name=live_720p&flashver=${TRANSCODER}`)).status).toBe(403);
    expect((await abr(`clientid=213&name=live_360p&flashver=x&flashver=${TRANSCODER}`)).status).toBe(403);
    expect((await abr(`clientid=214&name=live_360p&flashver=${TRANSCODER}`, "guessed-secret")).status).toBe(403);
    expect(logs.at(-1)).toBe('refused an abr-publish callback claiming to come from media server "media-0": wrong media-server secret');
  });
  it("is not limited per address: failed guesses from loopback do not keep the transcoder off", async () => {
    for (let i = 0; i < 8; i++) expect((await abr(`clientid=${220 + i}&name=live_360p&flashver=guess-${i}`)).status).toBe(403);
    expect((await abr(`clientid=230&name=live_360p&flashver=${TRANSCODER}`)).status).toBe(200);
  });
});

describe("a registration belongs to its session", () => {
  it("a second publisher of a live stream is refused, and its publish-done does not touch the running one", async () => {
    expect((await publish("media-0", "clientid=20&name=live&key=right-key")).status).toBe(200);
    published.set("media-0", new Map([["live", "20"]]));
    // The same encoder started twice (same server), and another encoder on another server.
    expect((await publish("media-0", "clientid=21&name=live&key=right-key")).status).toBe(403);
    expect(logs.at(-1)).toMatch(/stream is already live on media-0 \(session 20\)/);
    expect((await publish("media-1", "clientid=5&name=live&key=right-key")).status).toBe(403);
    // nginx-rtmp calls publish-done for the refused session 3 ms later: it must change nothing.
    expect((await publishDone("media-0", "clientid=21&name=live")).status).toBe(200);
    expect((await publishDone("media-1", "clientid=5&name=live")).status).toBe(200);
    expect(await registry.get("live")).toEqual({ server: "media-0", client: "20" });
    expect((await get("/hls/live/index.m3u8")).headers.get("x-accel-redirect")).toBe("/_media/media-0/hls/live/index.m3u8");
  });
  it("only the registered session's publish-done removes it", async () => {
    expect((await publish("media-0", "clientid=30&name=live&key=right-key")).status).toBe(200);
    expect((await publishDone("media-0", "clientid=31&name=live")).status).toBe(200);
    expect(await registry.get("live")).not.toBeNull();
    expect((await publishDone("media-0", "clientid=30&name=live")).status).toBe(200);
    expect(await registry.get("live")).toBeNull();
    expect(logs.at(-1)).toBe('stream "live" ended on media-0 (session 30)');
  });
  it("a registration whose session no longer publishes (no publish-done came) is taken over", async () => {
    expect((await publish("media-0", "clientid=40&name=live&key=right-key")).status).toBe(200);
    // media-0 restarted: its stat page shows nothing; the encoder reconnects to media-1.
    expect((await publish("media-1", "clientid=2&name=live&key=right-key")).status).toBe(200);
    expect(await registry.get("live")).toEqual({ server: "media-1", client: "2" });
  });
});

describe("failed attempts are limited per address", () => {
  it("blocks an address after 5 failures within the window, with a clear log line; the right key is then refused too", async () => {
    const from = (addr: string, query: string) => get(`/auth/publish/media-0/${SECRET["media-0"]}?app=live&addr=${addr}&${query}`);
    for (let i = 0; i < 5; i++) expect((await from("127.0.77.7", `clientid=${50 + i}&name=sports&key=guess-${i}`)).status).toBe(403);
    expect(logs.at(-1)).toBe("too many failed publish attempts from 127.0.77.7 (5 within 60 s): refusing its publishes for 60 s");
    expect((await from("127.0.77.7", "clientid=60&name=sports&key=other-key")).status).toBe(403);
    expect(logs.at(-1)).toMatch(/^refused publish of stream "sports" from 127\.0\.77\.7 on media-0: too many failed attempts from this address \(blocked for \d+ s more\)$/);
    // Other addresses are not affected.
    expect((await from("127.0.77.8", "clientid=61&name=sports&key=other-key")).status).toBe(200);
  });
  it("never blocks the lab's own source: guesses from its address (loopback, shared with every local user) cannot keep it off the air", async () => {
    const from = (query: string) => get(`/auth/publish/media-0/${SECRET["media-0"]}?app=live&addr=127.0.0.1&${query}`);
    for (let i = 0; i < 6; i++) expect((await from(`clientid=${80 + i}&name=live&key=guess-${i}`)).status).toBe(403);
    expect(logs).toContain("too many failed publish attempts from 127.0.0.1 (5 within 60 s): refusing its publishes for 60 s");
    expect((await from("clientid=90&name=live&key=right-key")).status).toBe(403);
    expect((await from(`clientid=91&name=live&key=${SOURCE_KEY}`)).status).toBe(200);
    expect(await registry.get("live")).toEqual({ server: "media-0", client: "91" });
  });
  it("checks keys off the event loop: lookups answer while a burst of wrong keys is being checked", async () => {
    await publish("media-0", "clientid=70&name=live&key=right-key");
    const burst = Array.from({ length: 20 }, (_, i) => get(`/auth/publish/media-0/${SECRET["media-0"]}?app=live&addr=127.0.78.${i + 1}&clientid=${100 + i}&name=sports&key=wrong-${i}`));
    const lookups: number[] = [];
    const started = performance.now();
    while (performance.now() - started < 600) {
      const t0 = performance.now();
      const res = await get("/hls/live/index.m3u8");
      await res.arrayBuffer();
      lookups.push(performance.now() - t0);
    }
    const statuses = await Promise.all(burst.map(async (r) => (await r).status));
    expect(statuses.every((s) => s === 403)).toBe(true);
    // 20 scrypt checks one at a time take over a second; synchronous, they would hold every lookup that long.
    expect(performance.now() - started).toBeGreaterThan(600);
    expect(lookups.length).toBeGreaterThan(10);
    expect(Math.max(...lookups)).toBeLessThan(200);
  });
});

describe("the key checker", () => {
  it("checks keys on a thread of its own at a lower CPU priority", async () => {
    const stored = hashKey("the-key");
    expect(await checker.verify("the-key", stored)).toBe(true);
    expect(await checker.verify("the-kez", stored)).toBe(false);
    expect(await checker.niced).toBe(true);
    // The thread's nice value, as the kernel sees it (field 19 of /proc/<pid>/task/<tid>/stat).
    const nices = readdirSync(`/proc/${process.pid}/task`).map((tid) => Number(readFileSync(`/proc/${process.pid}/task/${tid}/stat`, "utf8").split(") ")[1]?.split(" ")[16]));
    expect(nices).toContain(10);
    expect(nices.filter((n) => n === 0).length).toBeGreaterThan(0); // the rest of the process is not slowed down
  });
});

describe("lookups", () => {
  it("answer with X-Accel-Redirect to the media server's internal location", async () => {
    await publish("media-1", "clientid=80&name=live&key=right-key");
    const res = await get("/hls/live/index.m3u8");
    expect(res.status).toBe(200);
    expect(res.headers.get("x-accel-redirect")).toBe("/_media/media-1/hls/live/index.m3u8");
    expect((await get("/hls/live_360p/123.ts")).headers.get("x-accel-redirect")).toBe("/_media/media-1/hls/live_360p/123.ts");
  });
  it("answer 404 for an unregistered stream, 400 for a malformed path, 405 for other methods", async () => {
    expect((await get("/hls/sports/index.m3u8")).status).toBe(404);
    expect((await get("/hls/a/b/c")).status).toBe(400);
    const post = await get("/hls/sports/index.m3u8", { method: "POST", body: "x" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
  });
  it("use a pulled stream's static placement", async () => {
    expect((await get("/dash/cam/index.mpd")).headers.get("x-accel-redirect")).toBe("/_media/media-1/dash/cam/index.mpd");
  });
  it("never ask redis about names that are not streams, and cache nothing for them", async () => {
    const before = registryGets;
    for (let i = 0; i < 300; i++) expect((await get(`/hls/no-such-stream-${i}/index.m3u8`)).status).toBe(404);
    expect(registryGets).toBe(before);
  });
  it("see a registration made by another router once the short negative cache expires", async () => {
    expect((await get("/hls/sports/index.m3u8")).status).toBe(404);
    await registry.claim("sports", { server: "media-0", client: "9" });
    expect((await get("/hls/sports/index.m3u8")).status).toBe(404); // "unknown" is kept for negativeCacheMs
    await new Promise((r) => setTimeout(r, 350));
    expect((await get("/hls/sports/index.m3u8")).headers.get("x-accel-redirect")).toBe("/_media/media-0/hls/sports/index.m3u8");
  });
});

describe("reconciliation with the media servers' stat pages", () => {
  it("registers a published stream that lost its registration, in one round", async () => {
    published.set("media-1", new Map([["live", "90"]]));
    expect(await registry.get("live")).toBeNull();
    await router.reconcile();
    expect(await registry.get("live")).toEqual({ server: "media-1", client: "90" });
    expect(logs.at(-1)).toBe('stream "live" is published on media-1 (session 90) but was not registered: registered again');
  });
  it("removes a registration whose session is not published, after two rounds", async () => {
    await registry.claim("live", { server: "media-0", client: "91" });
    await router.reconcile();
    expect(await registry.get("live")).not.toBeNull(); // one round: maybe a publish a moment ago
    await router.reconcile();
    expect(await registry.get("live")).toBeNull();
  });
});

describe("health", () => {
  it("reports redis and each stream's state as JSON", async () => {
    const res = await get("/healthz");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { ok: boolean; redis: boolean; streams: { name: string; state: string }[] };
    expect(body.redis).toBe(true);
    expect(body.streams.map((s) => [s.name, s.state])).toEqual([
      ["live", "waiting for publisher"],
      ["sports", "waiting for publisher"],
      ["cam", "waiting for publisher"],
    ]);
    expect((await get("/readyz")).status).toBe(200);
  });
  it("picks up a new server list without restarting", async () => {
    router.reconfigure({ ...config, servers: [...config.servers, server("media-2", 2)] });
    expect((await publish("media-2", "clientid=1&name=sports&key=other-key")).status).toBe(200);
    expect((await get("/hls/sports/index.m3u8")).headers.get("x-accel-redirect")).toBe("/_media/media-2/hls/sports/index.m3u8");
  });
});

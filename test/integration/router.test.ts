/** The stream-key router against a real redis, over real HTTP. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashKey } from "../../src/media/keys.js";
import { redisRegistry, Router, startRouterServer, type StreamRegistry } from "../../src/media/router-server.js";
import type { RouterConfig } from "../../src/media/routing.js";
import { startRedis, type Started } from "../helpers/procs.js";
import type { Server } from "node:http";

const HOST = "127.0.236.10";
const REDIS_PORT = 6391;
const PORT = 18201;
const base = `http://${HOST}:${PORT}`;

const config: RouterConfig = {
  listen: { host: HOST, port: PORT },
  redis: { host: HOST, port: REDIS_PORT },
  servers: ["media-0", "media-1"],
  streams: [{ name: "live", key: hashKey("right-key") }, { name: "sports", key: hashKey("other-key") }, { name: "cam", staticServer: "media-1" }],
  abrSuffixes: ["360p"],
  cacheMs: 300,
};

let redis: Started;
let registry: StreamRegistry;
let server: Server;
let router: Router;
const logs: string[] = [];

beforeAll(async () => {
  redis = await startRedis(HOST, REDIS_PORT);
  registry = await redisRegistry(HOST, REDIS_PORT);
  router = new Router(config, registry, (l) => logs.push(l));
  server = await startRouterServer(router, HOST, PORT);
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await registry.close();
  await redis.stop();
});

const get = (path: string) => fetch(`${base}${path}`);

describe("publish authorization", () => {
  it("refuses a wrong key and logs stream and address, without the key", async () => {
    const res = await get("/auth/publish/media-0?app=live&name=live&addr=127.0.0.5&key=wrong");
    expect(res.status).toBe(403);
    expect(logs.at(-1)).toBe('refused publish of stream "live" from 127.0.0.5 on media-0: wrong stream key');
    expect(logs.join("\n")).not.toContain("wrong-key");
  });
  it("refuses a missing key, an unknown stream and an unknown media server", async () => {
    expect((await get("/auth/publish/media-0?name=live&addr=a")).status).toBe(403);
    expect((await get("/auth/publish/media-0?name=nope&key=right-key&addr=a")).status).toBe(403);
    expect((await get("/auth/publish/media-9?name=live&key=right-key&addr=a")).status).toBe(403);
    expect(logs.slice(-3).map((l) => l.split(": ").at(-1))).toEqual(["no stream key", "no such stream", "unknown media server"]);
  });
  it("accepts the right key and registers the stream in redis", async () => {
    expect((await get("/auth/publish/media-1?name=live&key=right-key&addr=127.0.0.5")).status).toBe(200);
    expect(await registry.get("live")).toBe("media-1");
  });
});

describe("lookups", () => {
  it("answer with X-Accel-Redirect to the media server's internal location", async () => {
    const res = await get("/hls/live/index.m3u8");
    expect(res.status).toBe(200);
    expect(res.headers.get("x-accel-redirect")).toBe("/_media/media-1/hls/live/index.m3u8");
    expect((await get("/hls/live_360p/123.ts")).headers.get("x-accel-redirect")).toBe("/_media/media-1/hls/live_360p/123.ts");
  });
  it("answer 404 for an unknown stream and 400 for a malformed path", async () => {
    expect((await get("/hls/sports/index.m3u8")).status).toBe(404);
    expect((await get("/hls/a/b/c")).status).toBe(400);
  });
  it("use a pulled stream's static placement", async () => {
    expect((await get("/dash/cam/index.mpd")).headers.get("x-accel-redirect")).toBe("/_media/media-1/dash/cam/index.mpd");
  });
  it("see a registration made by another router once the local cache expires", async () => {
    expect((await get("/hls/sports/index.m3u8")).status).toBe(404);
    await registry.set("sports", "media-0");
    expect((await get("/hls/sports/index.m3u8")).status).toBe(404); // cached "unknown" for cacheMs
    await new Promise((r) => setTimeout(r, 350));
    expect((await get("/hls/sports/index.m3u8")).headers.get("x-accel-redirect")).toBe("/_media/media-0/hls/sports/index.m3u8");
  });
});

describe("publish end", () => {
  it("removes the registration only for the server that holds it", async () => {
    await get("/auth/publish/media-0?name=live&key=right-key&addr=x"); // the stream moved to media-0
    expect((await get("/auth/publish-done/media-1?name=live")).status).toBe(200); // the old session ends late
    expect(await registry.get("live")).toBe("media-0");
    await get("/auth/publish-done/media-0?name=live");
    expect(await registry.get("live")).toBeNull();
    expect((await get("/hls/live/index.m3u8")).status).toBe(404);
  });
});

describe("health and configuration", () => {
  it("reports redis health", async () => {
    expect((await get("/healthz")).status).toBe(200);
  });
  it("picks up a new server list without restarting", async () => {
    router.reconfigure({ ...config, servers: ["media-0", "media-1", "media-2"] });
    await get("/auth/publish/media-2?name=sports&key=other-key&addr=x");
    expect((await get("/hls/sports/index.m3u8")).headers.get("x-accel-redirect")).toBe("/_media/media-2/hls/sports/index.m3u8");
  });
});

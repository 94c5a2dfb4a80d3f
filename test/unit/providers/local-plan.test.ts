import { describe, expect, it } from "vitest";
import { hashKey, sha256Hex } from "../../../src/media/keys.js";
import { defaultEnvironment } from "../../../src/render/environment.js";
import { localLayout } from "../../../src/providers/local/layout.js";
import { buildLocalPlan, dashPath, hlsPath } from "../../../src/providers/local/plan.js";
import { sweep } from "../../../src/providers/local/supervisor.js";
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { labFrom, localDataPlane } from "../../helpers/dataplane.js";
import { localData, vars } from "../../helpers/inventory.js";

const USER_KEYS = (lab: ReturnType<typeof labFrom>) => new Map(lab.streams.map((s) => [s.name, `user-key-of-${s.name}`]));

function plan(data = localData(), redisUser?: { name: string; uid: number; gid: number; home?: string }, routerUser?: { name: string; uid: number; gid: number }) {
  const lab = labFrom(data);
  const keys = USER_KEYS(lab);
  return {
    lab,
    plan: buildLocalPlan({
      lab,
      plane: localDataPlane(lab),
      layout: localLayout("/srv/lab"),
      env: defaultEnvironment(),
      binaries: { nginx: "/usr/sbin/nginx", redis: "/usr/bin/redis-server", ffmpeg: "/usr/bin/ffmpeg", node: "/usr/bin/node", routerScript: "/opt/edgelab/dist/media/router-server.js", publisherScript: "/opt/edgelab/dist/media/publisher.js" },
      secrets: {
        keyHashes: new Map([...keys].map(([name, key]) => [name, hashKey(key)])),
        sourceKeys: new Map(lab.streams.map((s) => [s.name, `source-key-of-${s.name}`])),
        mediaServers: new Map([["media-0", "secret-of-media-0"], ["media-1", "secret-of-media-1"]]),
        redisPassword: "redis-pass-word",
        transcoder: "transcoder-credential",
      },
      playerFiles: new Map([["index.html", "<html>"]]),
      redisUser,
      routerUser,
    }),
  };
}

/** Every secret the plan was given, as it must never appear in argv or in a file outside the secrets directory. */
function secretsOf(lab: ReturnType<typeof labFrom>): string[] {
  return [...USER_KEYS(lab).values(), ...lab.streams.map((s) => `source-key-of-${s.name}`), "secret-of-media-0", "secret-of-media-1", "redis-pass-word"];
}

describe("local lab plan", () => {
  it("starts processes in dependency order", () => {
    expect(plan().plan.processes.map((p) => p.name)).toEqual(["redis", "router", "media-0", "media-1", "origin", "edge-west-lab-k3s01", "edge-east-lab-k3s01", "source-live", "source-sports"]);
  });
  it("publishes each stream to its media server through the publisher, which reads the minted key from a file; keyframes every fps × fragment", () => {
    const source = plan().plan.processes.find((p) => p.name === "source-sports");
    const argv = source?.argv ?? [];
    expect(argv.slice(0, 7)).toEqual(["/usr/bin/node", "/opt/edgelab/dist/media/publisher.js", "--url", "rtmp://127.0.221.38:1936/live/sports", "--key-file", "/srv/lab/.edgelab/secrets/source-sports", "--"]);
    expect(argv.join(" ")).toContain("-g 60 -keyint_min 60 -sc_threshold 0");
    expect(argv.slice(-2)).toEqual(["no_duration_filesize", "pipe:1"]);
  });
  it("puts no secret in any process's argv, nor in any file outside the secrets directory", () => {
    const { lab, plan: p } = plan();
    const secrets = secretsOf(lab);
    for (const process of p.processes) for (const secret of secrets) expect(process.argv.join(" "), process.name).not.toContain(secret);
    const isPrivate = (path: string): boolean => ["/srv/lab/.edgelab/secrets/", "/srv/lab/.edgelab/local/router/"].some((dir) => path.startsWith(dir));
    for (const file of p.files.filter((f) => !isPrivate(f.path))) for (const secret of secrets) expect(file.content, file.path).not.toContain(secret);
    const secretFiles = p.files.filter((f) => isPrivate(f.path));
    expect(secretFiles.map((f) => [f.path, f.mode.toString(8)])).toEqual([
      ["/srv/lab/.edgelab/secrets/redis.conf", "600"],
      ["/srv/lab/.edgelab/local/router/router.json", "600"],
      ["/srv/lab/.edgelab/local/router/redis-password", "600"],
      ["/srv/lab/.edgelab/secrets/media-0-notify.conf", "600"],
      ["/srv/lab/.edgelab/secrets/media-1-notify.conf", "600"],
    ]);
    expect(p.privateDirs).toEqual(["/srv/lab/.edgelab/secrets", "/srv/lab/.edgelab/local/status", "/srv/lab/.edgelab/local/logs", "/srv/lab/.edgelab/local/router"]);
  });
  it("with an ABR ladder: the transcoder's credential only in its preset file (the workers', 0600) and its digest in the router's configuration", () => {
    const data = localData();
    vars(data)["media"] = { abr: [{ name: "360p", width: 640, height: 360, video_kbps: 800 }] };
    const { plan: p } = plan(data);
    for (const process of p.processes) expect(process.argv.join(" "), process.name).not.toContain("transcoder-credential");
    const holding = p.files.filter((f) => f.content.includes("transcoder-credential"));
    expect(holding.map((f) => [f.path, f.mode.toString(8), f.worker])).toEqual([["/srv/lab/.edgelab/local/transcoder/transcoder.ffpreset", "600", true]]);
    expect(holding[0]?.content).toBe("rtmp_flashver=transcoder-credential\n");
    const router = JSON.parse(p.files.find((f) => f.path.endsWith("router.json"))?.content ?? "{}") as { transcoderSha256?: string };
    expect(router.transcoderSha256).toBe(sha256Hex("transcoder-credential"));
    expect(p.files.find((f) => f.path === "/srv/lab/.edgelab/secrets/media-0-abr-notify.conf")?.content).toContain("on_publish http://127.0.221.38:8001/auth/abr-publish/media-0/secret-of-media-0;");
    expect(p.privateDirs).toContain("/srv/lab/.edgelab/local/transcoder");
    expect(p.workerDirs).toContain("/srv/lab/.edgelab/local/transcoder");
  });
  it("writes the router configuration with digests of keys and secrets only, mode 0600", () => {
    const router = plan().plan.files.find((f) => f.path.endsWith("router.json"));
    expect(router?.mode).toBe(0o600);
    const config = JSON.parse(router?.content ?? "{}") as { servers: { name: string; secretSha256: string; stat: unknown }[]; streams: { name: string; publisher: string; sourceKeySha256?: string }[]; redis: unknown };
    expect(config).toMatchObject({ listen: { host: "127.0.221.38", port: 8001 }, cacheMs: 1000, redis: { host: "127.0.221.38", port: 6390, passwordFile: "/proc/self/fd/3/redis-password" } });
    expect(config.servers.map((s) => [s.name, s.secretSha256, s.stat])).toEqual([
      ["media-0", sha256Hex("secret-of-media-0"), { socket: "/proc/self/fd/4/media-0.sock" }],
      ["media-1", sha256Hex("secret-of-media-1"), { socket: "/proc/self/fd/4/media-1.sock" }],
    ]);
    expect(config.streams.map((s) => [s.name, s.publisher, s.sourceKeySha256])).toEqual([
      ["live", "source", sha256Hex("source-key-of-live")],
      ["sports", "source", sha256Hex("source-key-of-sports")],
    ]);
  });
  it("gives redis its password on standard input, loopback only, protected mode on, CONFIG off", () => {
    const { plan: p } = plan();
    const redis = p.processes.find((x) => x.name === "redis");
    expect(redis?.argv).toEqual(["/usr/bin/redis-server", "-"]);
    expect(redis?.stdin).toBe("/srv/lab/.edgelab/secrets/redis.conf");
    expect(redis?.user).toBeUndefined();
    const conf = p.files.find((f) => f.path === redis?.stdin)?.content ?? "";
    for (const line of ["bind 127.0.221.38", "port 6390", "protected-mode yes", "requirepass redis-pass-word", 'rename-command CONFIG ""', "dir /srv/lab/.edgelab/local"]) expect(conf.split("\n")).toContain(line);
  });
  it("runs redis as the given unprivileged user, in that user's home", () => {
    const { plan: p } = plan(localData(), { name: "redis", uid: 103, gid: 105, home: "/var/lib/redis" });
    const redis = p.processes.find((x) => x.name === "redis");
    expect(redis?.user).toEqual({ name: "redis", uid: 103, gid: 105, home: "/var/lib/redis" });
    expect(p.files.find((f) => f.path === redis?.stdin)?.content.split("\n")).toContain("dir /var/lib/redis");
  });
  it("runs the router as the given user, reaching its files and the status sockets through the descriptors it is given", () => {
    const { plan: p } = plan(localData(), undefined, { name: "nobody", uid: 65534, gid: 65534 });
    const router = p.processes.find((x) => x.name === "router");
    expect(router?.user).toEqual({ name: "nobody", uid: 65534, gid: 65534 });
    expect(router?.dirs).toEqual(["/srv/lab/.edgelab/local/router", "/srv/lab/.edgelab/local/status"]);
    expect(router?.argv.slice(-2)).toEqual(["--config", "/proc/self/fd/3/router.json"]);
    const config = p.files.find((f) => f.path === "/srv/lab/.edgelab/local/router/router.json");
    expect(config?.owner?.uid).toBe(65534);
    const parsed = JSON.parse(config?.content ?? "{}") as { redis: { passwordFile: string }; servers: { stat: { socket: string } }[] };
    expect(parsed.redis.passwordFile).toBe("/proc/self/fd/3/redis-password");
    expect(parsed.servers.map((s) => s.stat.socket)).toEqual(["/proc/self/fd/4/media-0.sock", "/proc/self/fd/4/media-1.sock"]);
    expect(p.files.find((f) => f.path === "/srv/lab/.edgelab/local/router/redis-password")).toMatchObject({ content: "redis-pass-word\n", mode: 0o600, owner: { uid: 65534 } });
    expect(p.ownedDirs.map((d) => [d.dir, d.owner.uid])).toEqual([
      ["/srv/lab/.edgelab/local/router", 65534],
      ["/srv/lab/.edgelab/local/status", 65534],
    ]);
    expect(p.privateDirs).toContain("/srv/lab/.edgelab/local/router");
    // Started by an ordinary user: runs as that user, owns nothing else.
    expect(plan().plan.ownedDirs).toEqual([]);
  });
  it("starts no source for a stream the user's own encoder publishes, and says where it publishes", () => {
    const data = localData();
    vars(data)["streams"] = [{ name: "live" }, { name: "cam", source: { type: "external" } }];
    const { plan: p } = plan(data);
    expect(p.processes.filter((x) => x.kind === "source").map((x) => x.name)).toEqual(["source-live"]);
    expect(p.ingest).toEqual([
      { stream: "live", publisher: "source", server: "rtmp://127.0.221.38:1935/live", mediaServer: "media-0" },
      { stream: "cam", publisher: "external", server: "rtmp://127.0.221.38:1936/live", mediaServer: "media-1" },
    ]);
    const router = JSON.parse(p.files.find((f) => f.path.endsWith("router.json"))?.content ?? "{}") as { streams: { name: string; publisher: string; sourceKeySha256?: string }[] };
    expect(router.streams.find((s) => s.name === "cam")).toMatchObject({ publisher: "external" });
    expect(router.streams.find((s) => s.name === "cam")?.sourceKeySha256).toBeUndefined();
  });
  it("checks every listening address before starting", () => {
    const listens = plan().plan.processes.flatMap((p) => p.listens.map((e) => `${e.host}:${e.port}`));
    expect(listens).toEqual(["127.0.221.38:6390", "127.0.221.38:8001", "127.0.221.38:8100", "127.0.221.38:1935", "127.0.221.38:8101", "127.0.221.38:1936", "127.0.221.38:8000", "127.0.222.41:8080", "127.0.223.42:8080"]);
  });
  it("gives viewers the master playlist and the first rendition's MPD with an ABR ladder", () => {
    const data = localData();
    vars(data)["media"] = { abr: [{ name: "360p", width: 640, height: 360, video_kbps: 800 }] };
    const { lab, plan: p } = plan(data);
    expect(hlsPath(lab, "live")).toBe("/hls/live.m3u8");
    expect(dashPath(lab, "live")).toBe("/dash/live_360p/index.mpd");
    expect(p.urls[0]).toEqual({ stream: "live", edge: "west-lab-k3s01", hls: "http://127.0.222.41:8080/hls/live.m3u8", dash: "http://127.0.222.41:8080/dash/live_360p/index.mpd", player: "http://127.0.222.41:8080/player/?stream=live" });
  });
  it("lets the media server pull an RTMP camera itself, and runs ffmpeg for other URLs", () => {
    const data = localData();
    vars(data)["streams"] = [{ name: "cam1", source: { type: "url", url: "rtmp://127.0.0.1:1999/cam/1" } }, { name: "cam2", source: { type: "url", url: "rtsp://127.0.0.1:8554/cam2" } }];
    const p = plan(data).plan;
    expect(p.processes.map((x) => x.name).filter((n) => n.startsWith("source-"))).toEqual(["source-cam2"]);
    expect(p.processes.find((x) => x.name === "source-cam2")?.argv).toContain("-rtsp_transport");
    const router = JSON.parse(p.files.find((f) => f.path.endsWith("router.json"))?.content ?? "{}") as { streams: { name: string; staticServer?: string }[] };
    expect(router.streams.find((s) => s.name === "cam1")).toEqual({ name: "cam1", publisher: "pull", staticServer: "media-0", playlist: "/hls/cam1/index.m3u8" });
  });
});

describe("segment file janitor", () => {
  it("deletes files older than the TTL, keeps newer ones and directories", () => {
    const dir = mkdtempSync(join(tmpdir(), "edgelab-janitor-"));
    try {
      mkdirSync(join(dir, "hls", "live"), { recursive: true });
      writeFileSync(join(dir, "hls", "live", "old.ts"), "x");
      writeFileSync(join(dir, "hls", "live", "new.ts"), "x");
      const past = new Date(Date.now() - 700_000);
      utimesSync(join(dir, "hls", "live", "old.ts"), past, past);
      expect(sweep([{ dir, maxAgeSeconds: 600 }])).toBe(1);
      expect(existsSync(join(dir, "hls", "live", "old.ts"))).toBe(false);
      expect(existsSync(join(dir, "hls", "live", "new.ts"))).toBe(true);
      expect(sweep([{ dir: join(dir, "missing"), maxAgeSeconds: 1 }])).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it("covers each edge's segment files with the segment TTL", () => {
    expect(plan().plan.janitor).toEqual([
      { dir: "/srv/lab/.edgelab/local/cache/edge-west-lab-k3s01-files", maxAgeSeconds: 600 },
      { dir: "/srv/lab/.edgelab/local/cache/edge-east-lab-k3s01-files", maxAgeSeconds: 600 },
    ]);
  });
});

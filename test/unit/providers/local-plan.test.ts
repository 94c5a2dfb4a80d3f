import { describe, expect, it } from "vitest";
import { hashKey } from "../../../src/media/keys.js";
import { defaultEnvironment } from "../../../src/render/environment.js";
import { localLayout } from "../../../src/providers/local/layout.js";
import { buildLocalPlan, dashPath, hlsPath } from "../../../src/providers/local/plan.js";
import { redactedCommand, redactSecrets, sweep } from "../../../src/providers/local/supervisor.js";
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { labFrom, localDataPlane } from "../../helpers/dataplane.js";
import { localData, vars } from "../../helpers/inventory.js";

function plan(data = localData()) {
  const lab = labFrom(data);
  const keys = new Map(lab.streams.map((s) => [s.name, `key-of-${s.name}`]));
  return {
    lab,
    plan: buildLocalPlan({
      lab,
      plane: localDataPlane(lab),
      layout: localLayout("/srv/lab"),
      env: defaultEnvironment(),
      binaries: { nginx: "/usr/sbin/nginx", redis: "/usr/bin/redis-server", ffmpeg: "/usr/bin/ffmpeg", node: "/usr/bin/node", routerScript: "/opt/edgelab/dist/media/router-server.js" },
      keys,
      keyHashes: new Map([...keys].map(([name, key]) => [name, hashKey(key)])),
      playerFiles: new Map([["index.html", "<html>"]]),
    }),
  };
}

describe("local lab plan", () => {
  it("starts processes in dependency order", () => {
    expect(plan().plan.processes.map((p) => p.name)).toEqual(["redis", "router", "media-0", "media-1", "origin", "edge-west-lab-k3s01", "edge-east-lab-k3s01", "source-live", "source-sports"]);
  });
  it("publishes each stream to its media server with its key, keyframes every fps × fragment", () => {
    const source = plan().plan.processes.find((p) => p.name === "source-sports");
    expect(source?.argv.at(-1)).toBe("rtmp://127.0.221.38:1936/live/sports?key=key-of-sports");
    expect(source?.argv.join(" ")).toContain("-g 60 -keyint_min 60 -sc_threshold 0");
    expect(source?.secretArgs).toEqual([(source?.argv.length ?? 0) - 1]);
    expect(source && redactedCommand(source)).toMatch(/\/live\/sports\?key=\*\*\*$/);
  });
  it("writes the router configuration with hashed keys only, mode 0600", () => {
    const router = plan().plan.files.find((f) => f.path.endsWith("router.json"));
    expect(router?.mode).toBe(0o600);
    expect(router?.content).not.toContain("key-of-live");
    expect(JSON.parse(router?.content ?? "{}")).toMatchObject({ servers: ["media-0", "media-1"], listen: { host: "127.0.221.38", port: 8001 }, cacheMs: 1000 });
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
    expect(router.streams.find((s) => s.name === "cam1")).toEqual({ name: "cam1", staticServer: "media-0" });
  });
});

describe("log redaction", () => {
  it("replaces stream keys in URLs", () => {
    expect(redactSecrets("rtmp://h:1935/live/live?key=PU7lcs-Vx_z: Input/output error")).toBe("rtmp://h:1935/live/live?key=***: Input/output error");
    expect(redactSecrets("a?x=1&key=abc&y=2 'key=zz'")).toBe("a?x=1&key=***&y=2 'key=zz'");
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

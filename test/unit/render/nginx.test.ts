import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { createEnvironment, defaultEnvironment } from "../../../src/render/environment.js";
import { nginxLogFiles, renderMediaNotifyConf, renderNginx } from "../../../src/render/nginx.js";
import { abrData, fixedPaths, labFrom, localDataPlane } from "../../helpers/dataplane.js";
import { at, localData, ROOT, vars } from "../../helpers/inventory.js";

const UPDATE = process.env["UPDATE_GOLDEN"] === "1";

function golden(dir: string, name: string, actual: string): void {
  const file = join(ROOT, "test", "golden", dir, name);
  if (UPDATE) writeFileSync(file, actual);
  expect(actual, `golden ${dir}/${name} (UPDATE_GOLDEN=1 to accept)`).toBe(readFileSync(file, "utf8"));
}

function render(lab: ReturnType<typeof labFrom>) {
  return renderNginx(lab, localDataPlane(lab), fixedPaths(), defaultEnvironment());
}

describe("NGINX configurations", () => {
  it("match the golden files for the local lab", () => {
    const files = render(labFrom(localData()));
    expect(files.map((f) => f.path)).toEqual(["nginx/media-0.conf", "nginx/media-1.conf", "nginx/origin.conf", "nginx/edge-west-lab-k3s01.conf", "nginx/edge-east-lab-k3s01.conf"]);
    for (const f of files) golden("nginx", f.path.slice(6), f.content);
  });
  it("match the golden files with an ABR ladder, recording, a relay and a static pull", () => {
    for (const f of render(labFrom(abrData()))) golden("nginx-abr", f.path.slice(6), f.content);
  });
  it("are deterministic: the same at another time, with other random numbers, a fresh template environment and vars in another order", () => {
    const first = render(labFrom(abrData()));
    const data = abrData();
    const all = at(data, "all");
    all["vars"] = Object.fromEntries(Object.entries(vars(data)).reverse());
    vi.useFakeTimers({ now: new Date("2031-05-17T03:04:05Z") });
    const random = vi.spyOn(Math, "random").mockReturnValue(0.987654);
    try {
      const lab = labFrom(data);
      expect(renderNginx(lab, localDataPlane(lab), fixedPaths(), createEnvironment())).toEqual(first);
    } finally {
      vi.useRealTimers();
      random.mockRestore();
    }
  });
});

describe("what the configurations say", () => {
  const files = new Map(render(labFrom(localData())).map((f) => [f.path, f.content]));
  const media = files.get("nginx/media-0.conf") ?? "";
  const origin = files.get("nginx/origin.conf") ?? "";
  const edge = files.get("nginx/edge-west-lab-k3s01.conf") ?? "";

  it("media server: one worker, HLS with system fragment names, fragment/playlist lengths, no fork-only directives", () => {
    expect(media).toMatch(/^worker_processes 1;$/m);
    expect(media).toContain("hls_fragment_naming system;");
    expect(media).toContain("hls_fragment 2s;");
    expect(media).toContain("hls_playlist_length 12s;");
    expect(media).toContain("hls_nested on;");
    expect(media).not.toMatch(/hls_allow_client_cache|dash_clock_compensation/);
    expect(media).toContain("deny play all;");
    expect(media).toContain("notify_method get;");
  });
  it("media server: callbacks with the server's secret come from an included 0600 file, never from this text", () => {
    expect(media).not.toMatch(/^\s*on_publish/m);
    expect(media).toContain("include /var/lib/edgelab/secrets/media-0-notify.conf;");
    const lab = labFrom(localData());
    const plane = localDataPlane(lab);
    const server = plane.mediaServers[0];
    if (server === undefined) throw new Error("no media server");
    expect(renderMediaNotifyConf(plane, server, "s3cr3t-Token_1").split("\n").filter((l) => !l.startsWith("#"))).toEqual([
      "on_publish http://127.0.221.38:8001/auth/publish/media-0/s3cr3t-Token_1;",
      "on_publish_done http://127.0.221.38:8001/auth/publish-done/media-0/s3cr3t-Token_1;",
      "",
    ]);
    expect(() => renderMediaNotifyConf(plane, server, "a;b\nc")).toThrow(/URL-safe/);
  });
  it("media server: its own RTMP access log, without arguments or client-chosen names", () => {
    const format = /log_format edgelab '([^']*)';\s+access_log \/var\/lib\/edgelab\/logs\/media-0\.rtmp\.log edgelab;/.exec(media)?.[1];
    expect(format).toBeDefined();
    expect(format).not.toMatch(/\$(args|name|app|tcurl|swfurl|pageurl|flashver)\b/);
    expect(format).toContain("$connection");
  });
  it("status pages only on unix sockets in the status directory, not on any public listener", () => {
    for (const [path, conf] of files) {
      const servers = conf.split(/\n {4}server \{/).slice(1);
      for (const server of servers) {
        const listen = /listen (\S+);/.exec(server)?.[1] ?? "";
        const hasStatus = /stub_status|rtmp_stat/.test(server);
        expect(hasStatus && !listen.startsWith("unix:/var/lib/edgelab/status/"), `${path}: status page on ${listen}`).toBe(false);
      }
      expect(conf, path).toMatch(/listen unix:\/var\/lib\/edgelab\/status\/[a-z0-9-]+\.sock;\s+access_log off;/);
    }
    expect(media).toMatch(/location = \/stat \{\s+rtmp_stat all;/);
  });
  it("public listeners answer GET, HEAD and OPTIONS only", () => {
    for (const [path, conf] of files) {
      const http = conf.slice(conf.indexOf("\nhttp {"));
      const publicServers = http.split(/\n {4}server \{/).slice(1).filter((server) => /listen \d/.test(server));
      expect(publicServers.length, path).toBeGreaterThan(0);
      for (const server of publicServers) expect(server, path).toContain("if ($request_method !~ ^(GET|HEAD|OPTIONS)$) { return 405; }");
    }
  });
  it("every proxied request carries the normalized path it is cached under ($uri), never the raw request URI", () => {
    for (const conf of [edge, origin]) {
      for (const line of conf.split("\n").filter((l) => l.trim().startsWith("proxy_pass "))) {
        expect(line).toMatch(/proxy_pass http:\/\/[a-z0-9_-]+(\$uri|\/);$/);
      }
    }
    expect(edge).not.toContain("$request_uri");
    expect(origin).toContain("proxy_pass http://router$uri;");
  });
  it("lists every log file the configurations write", () => {
    const lab = labFrom(localData());
    const written = [...files.values()].flatMap((conf) => [...conf.matchAll(/(?:access_log|error_log) (\/\S+?\.log)/g)].map((m) => m[1]));
    expect(written.length).toBeGreaterThan(5);
    expect(new Set(nginxLogFiles(localDataPlane(lab), fixedPaths()))).toEqual(new Set(written));
  });
  it("origin: the cache sits on the internal X-Accel-Redirect targets, not on the router location", () => {
    const routerLocation = origin.split("\n        location ").find((l) => l.startsWith('~ "^/(hls|dash)/')) ?? "";
    expect(routerLocation).toContain("proxy_pass http://router$uri;");
    expect(routerLocation).toContain('add_header X-Accel-Expires "@$edgelab_second" always;');
    expect(routerLocation).not.toContain("proxy_cache ");
    expect(origin).toMatch(/location \/_media\/media-0\/ \{\s+internal;\s+proxy_pass http:\/\/media-0\/;\s+proxy_cache origin;/);
    expect(origin).toContain("proxy_cache_lock on;");
  });
  it("edge: cache lock, stale on error, ignored origin cache headers, CORS and X-Cache-Status always", () => {
    expect(edge).toContain("proxy_cache_lock on;");
    expect(edge).toContain("proxy_cache_lock_timeout 5s;");
    expect(edge).toContain("proxy_cache_use_stale updating error timeout http_500 http_502 http_503 http_504;");
    expect(edge).toContain("proxy_cache_background_update on;");
    expect(edge).toContain("proxy_ignore_headers Cache-Control Expires Set-Cookie;");
    expect(edge).toContain("keepalive 32;");
    expect(edge).toMatch(/proxy_cache_path \S+ levels=1:2 keys_zone=edge:16m max_size=256m inactive=(\d+)s/);
    const inactive = Number(/inactive=(\d+)s/.exec(edge)?.[1]);
    expect(inactive).toBeGreaterThanOrEqual(2 * 12);
    expect(edge).toContain("proxy_cache_valid 200 1s;");
    expect(edge).toContain("proxy_cache_valid 200 600s;");
    expect(edge).toContain("proxy_cache_valid 404 1s;");
    // Every viewer-facing location that sets headers repeats CORS (add_header is not inherited).
    const publicServer = edge.slice(edge.indexOf("listen 127.0.222.41:8080;"));
    const locations = publicServer.split(/\n\s+location /).slice(1);
    expect(locations.length).toBeGreaterThanOrEqual(6);
    for (const location of locations.filter((l) => l.includes("add_header"))) expect(location).toContain('Access-Control-Allow-Origin "*" always;');
    expect(edge).not.toContain("sub_filter");
    // DASH segment names restart with the stream's timestamps: kept only for the DASH window.
    expect(publicServer).toMatch(/location ~ "\^\/dash\/[^"]*\\\.m4\[av\]\$" \{[\s\S]*?proxy_cache_valid 200 12s;/);
    expect(media).toMatch(/location ~ \\\.m4\[av\]\$ \{[\s\S]*?max-age=12/);
    // Segments the edge holds are plain files; the first request fills them through the locked cache.
    expect(publicServer).toMatch(/try_files \$uri @fill;/);
    expect(edge).toMatch(/location @fill \{[\s\S]*?proxy_pass http:\/\/segment_cache\$uri;[\s\S]*?proxy_store on;/);
    expect(edge).toMatch(/listen unix:\/var\/lib\/edgelab\/run\/edge-west-lab-k3s01\.sock;[\s\S]*?proxy_cache edge;[\s\S]*?proxy_cache_lock on;/);
    expect(edge).toMatch(/log_format edgelab [\s\S]*cache=\$upstream_cache_status rt=\$upstream_response_time/);
  });
  it("follow the inventory's fragment length, TTLs and cache size", () => {
    const data = localData();
    vars(data)["media"] = { hls: { fragment: 4, playlist_length: 24 }, fps: 25 };
    vars(data)["edge"] = { cache_mb: 64, segment_ttl: 120, playlist_ttl: 2 };
    at(data, "all.vars");
    const out = new Map(render(labFrom(data)).map((f) => [f.path, f.content]));
    expect(out.get("nginx/media-0.conf")).toContain("hls_fragment 4s;");
    expect(out.get("nginx/edge-east-lab-k3s01.conf")).toContain("max_size=64m inactive=60s");
    expect(out.get("nginx/edge-east-lab-k3s01.conf")).toContain("proxy_cache_valid 200 2s;");
    expect(out.get("nginx/edge-east-lab-k3s01.conf")).toContain("proxy_cache_valid 200 120s;");
  });
  it("ABR: one ffmpeg exec with a GOP of fps × fragment per rendition, hls_variant lines", () => {
    const abr = render(labFrom(abrData())).find((f) => f.path === "nginx/media-0.conf")?.content ?? "";
    expect(abr.match(/-g 60 -keyint_min 60 -sc_threshold 0/g)).toHaveLength(2);
    expect(abr).toContain("hls_variant _360p BANDWIDTH=896000,RESOLUTION=640x360;");
    expect(abr).toContain("hls_variant _240p BANDWIDTH=464000,RESOLUTION=426x240;");
    expect(abr).toContain("pull rtmp://127.0.0.1:19998/cam/1 name=cam static;");
    expect(abr).toContain("record_path /var/lib/edgelab/recordings;");
  });
});

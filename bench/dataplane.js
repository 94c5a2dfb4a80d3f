// Data-plane benchmarks, side by side in one run, on this machine, with the real processes:
//
//  (a) cached-segment throughput through an edge vs nginx serving the same file statically
//      (the limit) — wrk, interleaved runs, median requests/s, ratio (target >= 0.9);
//  (b) origin requests per new segment with 200 concurrent viewers across two edges:
//      edgelab's edge config vs the seed 000 edge config (target: exactly 1 per edge);
//  (c) live-edge lag at the edge vs the origin, for both configs (target <= 1 s for edgelab).
//
//   npm run build && node bench/dataplane.js [--runs 3] [--seconds 8] [--viewer-seconds 30]
//
// Writes bench/results/dataplane.json. Needs wrk (apt-get install wrk). All traffic stays on
// loopback addresses 127.0.246-249.x.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync, readdirSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { BENCH_DIR, median, option, writeResult } from "./lib.js";

const root = join(BENCH_DIR, "..");
const RUNS = option("--runs", 3);
const SECONDS = option("--seconds", 8);
const VIEWER_SECONDS = option("--viewer-seconds", 30);
const VIEWERS = 200;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (line) => process.stderr.write(`${line}\n`);

const dir = mkdtempSync(join(tmpdir(), "edgelab-bench-"));
// nginx workers (nobody) must reach the lab's files.
execFileSync("chmod", ["755", dir]);
const NET = 246; // origin 127.0.246.38, edges 127.0.247.41 + 127.0.248.41, extra servers on 127.0.249.x
const inventory = join(dir, "inventory.yml");
writeFileSync(
  inventory,
  stringify({
    all: {
      vars: {
        lab: { name: "bench", provider: "local" },
        network: { vlans: [0, 1, 2].map((i) => ({ id: 400 + i, subnet: `127.0.${NET + i}.0/24`, gateway: `127.0.${NET + i}.1` })) },
        streams: [{ name: "live" }],
        media: { servers: 1 },
        local: { ports: { edge: 20080, origin: 20000, router: 20001, redis: 20090, media_http: 20100, media_rtmp: 20935 } },
      },
      children: {
        k3s_cluster: {
          children: {
            master: { hosts: { origin0: { ansible_host: `127.0.${NET}.38`, data_vlan: 400 } } },
            node: { hosts: { west: { ansible_host: `127.0.${NET + 1}.41`, data_vlan: 401, label: "west" }, east: { ansible_host: `127.0.${NET + 2}.41`, data_vlan: 402, label: "east" } } },
          },
        },
      },
    },
  }),
);

const edgelab = (...a) => execFileSync(process.execPath, [join(root, "bin", "edgelab.cjs"), "-i", inventory, ...a], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
const state = join(dir, ".edgelab", "local");
const ORIGIN = `http://127.0.${NET}.38:20000`;
const EDGES = {
  edgelab: [`http://127.0.${NET + 1}.41:20080`, `http://127.0.${NET + 2}.41:20080`],
  seed: ["http://127.0.249.41:20081", "http://127.0.249.42:20081"],
  "seed-plain-origin": ["http://127.0.249.43:20081", "http://127.0.249.44:20081"],
};
// The seed's own origin sends no Cache-Control: this proxy in front of ours strips it (and
// X-Accel-Expires), so the seed edges behave as they did in their own lab.
const PLAIN_ORIGIN = "http://127.0.249.60:20083";
const STATIC = "http://127.0.249.50:20082";

// The seed 000 edge, as published (shared/seeds/000_*.txt), pointed at the same origin front.
function seedEdgeConf(name, listen, origin = ORIGIN) {
  const p = join(dir, "seed", name);
  for (const d of ["cache/HLS", "cache/DASH", "tmp", "logs"]) mkdirSync(join(p, d), { recursive: true });
  return `daemon off;
pid ${p}/nginx.pid;
error_log ${p}/logs/error.log;
events {}

http {
  access_log ${p}/logs/access.log;
  client_body_temp_path ${p}/tmp/body; proxy_temp_path ${p}/tmp/proxy; fastcgi_temp_path ${p}/tmp/fcgi; uwsgi_temp_path ${p}/tmp/uwsgi; scgi_temp_path ${p}/tmp/scgi;
  proxy_cache_path ${p}/cache/HLS levels=1:2 keys_zone=HLS:10m max_size=1g inactive=10s use_temp_path=off;
  proxy_cache_path ${p}/cache/DASH levels=1:2 keys_zone=DASH:10m max_size=1g inactive=10s use_temp_path=off;
  proxy_cache_key "$scheme$request_method$host$request_uri";

  server {
    listen ${listen};

    location /hls/ {
      proxy_cache HLS;
      proxy_pass ${origin}/hls/;
      proxy_set_header Host $host;
      proxy_buffering on;
      proxy_cache_valid 200 10s;  # Cache HLS responses for 10 seconds
      proxy_cache_valid 404 1m;
      add_header X-Proxy-Cache $upstream_cache_status;
      add_header X-Cache-Status $upstream_cache_status;
      sub_filter '${origin}/hls/' 'http://$host/hls/';
      sub_filter_once off;
    }

    location /dash/ {
      proxy_cache DASH;
      proxy_pass ${origin}/dash/;
      proxy_set_header Host $host;
      proxy_buffering on;
      proxy_cache_valid 200 10s;  # Cache DASH responses for 10 seconds
      proxy_cache_valid 404 1m;
      add_header X-Proxy-Cache $upstream_cache_status;
      add_header X-Cache-Status $upstream_cache_status;
      sub_filter '${origin}/dash/' 'http://$host/dash/';
      sub_filter_once off;
    }
  }
}
`;
}

function plainOriginConf(listen) {
  const p = join(dir, "plain");
  for (const d of ["tmp", "logs"]) mkdirSync(join(p, d), { recursive: true });
  return `daemon off;
pid ${p}/nginx.pid;
error_log ${p}/logs/error.log;
events {}
http {
  access_log off;
  client_body_temp_path ${p}/tmp/body; proxy_temp_path ${p}/tmp/proxy; fastcgi_temp_path ${p}/tmp/fcgi; uwsgi_temp_path ${p}/tmp/uwsgi; scgi_temp_path ${p}/tmp/scgi;
  server { listen ${listen}; location / { proxy_pass ${ORIGIN}; proxy_hide_header Cache-Control; proxy_hide_header X-Accel-Expires; proxy_ignore_headers X-Accel-Expires; } }
}
`;
}

function staticConf(listen, root) {
  const p = join(dir, "static");
  for (const d of ["tmp", "logs"]) mkdirSync(join(p, d), { recursive: true });
  // Same worker count, sendfile and access logging as the edge: only the caching differs.
  return `daemon off;
worker_processes auto;
pid ${p}/nginx.pid;
error_log ${p}/logs/error.log;
events { worker_connections 4096; }
http {
  types { video/mp2t ts; }
  access_log ${p}/logs/access.log;
  client_body_temp_path ${p}/tmp/body; proxy_temp_path ${p}/tmp/proxy; fastcgi_temp_path ${p}/tmp/fcgi; uwsgi_temp_path ${p}/tmp/uwsgi; scgi_temp_path ${p}/tmp/scgi;
  sendfile on; tcp_nopush on; keepalive_requests 10000;
  server { listen ${listen}; location /hls/ { root ${root}; } }
}
`;
}

const children = [];
function startNginx(name, conf) {
  const file = join(dir, `${name}.conf`);
  writeFileSync(file, conf);
  const child = spawn("nginx", ["-p", dir, "-e", join(dir, `${name}.err`), "-c", file], { stdio: "ignore" });
  children.push(child);
  return child;
}

async function waitHttp(url) {
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.status < 500) return;
    } catch {
      // not yet
    }
    await sleep(100);
  }
  throw new Error(`no answer from ${url}`);
}

function wrk(url) {
  const out = execFileSync("wrk", ["-t1", "-c50", `-d${SECONDS}s`, "--latency", url], { encoding: "utf8" });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p99 = /99%\s+([\d.]+\w+)/.exec(out)?.[1];
  return { rps, p99 };
}

const segmentsOf = (text) => text.split("\n").filter((l) => l && !l.startsWith("#"));

/** 200 simulated players: each reloads the playlist every target duration (random phase) and fetches new segments. */
async function viewers(edges, seconds) {
  const stop = Date.now() + seconds * 1000;
  const firstSeen = new Map(); // per edge: segment -> ms
  await Promise.all(
    Array.from({ length: VIEWERS }, async (_, i) => {
      const edge = edges[i % edges.length];
      const seen = new Set();
      await sleep(Math.random() * 2000);
      while (Date.now() < stop) {
        try {
          const list = segmentsOf(await (await fetch(`${edge}/hls/live/index.m3u8`)).text());
          const now = Date.now();
          for (const s of list) {
            const key = `${edge} ${s}`;
            if (!firstSeen.has(key)) firstSeen.set(key, now);
            if (seen.has(s)) continue;
            seen.add(s);
            if (seen.size > 3) await (await fetch(`${edge}/hls/live/${s}`)).arrayBuffer(); // players start near the live edge
          }
        } catch {
          // a failed request counts in the edge's log; the player retries
        }
        await sleep(2000);
      }
    }),
  );
  return firstSeen;
}

/**
 * Origin front requests per segment during one config's window (only that config's edges pull
 * then; on loopback every edge connects from 127.0.0.1, so they are told apart by time), and
 * playlist requests per second.
 */
function originRequests(fromLine, seconds) {
  const lines = readFileSync(join(state, "logs", "origin.access.log"), "utf8").split("\n").slice(fromLine);
  const counts = new Map();
  let playlists = 0;
  for (const line of lines) {
    if (line.includes("GET /hls/live/index.m3u8 ")) playlists += 1;
    const m = /"GET \/hls\/live\/(\d+\.ts) /.exec(line);
    if (m !== null) counts.set(m[1], (counts.get(m[1]) ?? 0) + 1);
  }
  return { perSegment: [...counts.values()], playlistsPerSecond: Number((playlists / seconds).toFixed(1)) };
}

async function originLag(edges, seconds) {
  // Poll the origin front and each edge every 50 ms; lag = first sighting at the edge - at the origin.
  const stop = Date.now() + seconds * 1000;
  const origin = new Map();
  const atEdge = edges.map(() => new Map());
  while (Date.now() < stop) {
    const [o, ...es] = await Promise.all([ORIGIN, ...edges].map((base) => fetch(`${base}/hls/live/index.m3u8`).then((r) => r.text()).catch(() => "")));
    const now = Date.now();
    for (const s of segmentsOf(o)) if (!origin.has(s)) origin.set(s, now);
    es.forEach((text, i) => {
      for (const s of segmentsOf(text)) if (!atEdge[i].has(s)) atEdge[i].set(s, now);
    });
    await sleep(50);
  }
  const start = Math.min(...origin.values());
  const lags = [];
  for (const m of atEdge) for (const [s, t] of m) {
    const o = origin.get(s);
    if (o !== undefined && o > start) lags.push((t - o) / 1000);
  }
  return { median: median(lags), max: Math.max(...lags), samples: lags.length };
}

const results = { benchmark: "dataplane", date: new Date().toISOString(), node: process.versions.node, cpus: cpus().length, cpuModel: cpus()[0]?.model, runs: RUNS, seconds: SECONDS };
try {
  log("bringing the bench lab up (1 media server, 2 edges, 1 stream)...");
  edgelab("up", "--timeout", "90");
  startNginx("seed-west", seedEdgeConf("west", "127.0.249.41:20081"));
  startNginx("seed-east", seedEdgeConf("east", "127.0.249.42:20081"));
  startNginx("plain-origin", plainOriginConf("127.0.249.60:20083"));
  startNginx("seed-plain-west", seedEdgeConf("plain-west", "127.0.249.43:20081", PLAIN_ORIGIN));
  startNginx("seed-plain-east", seedEdgeConf("plain-east", "127.0.249.44:20081", PLAIN_ORIGIN));

  // (a) a segment the edge holds vs the same bytes from disk.
  const playlist = segmentsOf(await (await fetch(`${EDGES.edgelab[0]}/hls/live/index.m3u8`)).text());
  const segment = playlist.at(-2);
  const url = `${EDGES.edgelab[0]}/hls/live/${segment}`;
  await (await fetch(url)).arrayBuffer();
  const staticRoot = join(dir, "static-root");
  mkdirSync(join(staticRoot, "hls", "live"), { recursive: true });
  const mediaDir = join(state, "media", "media-0", "hls", "live");
  copyFileSync(join(mediaDir, readdirSync(mediaDir).find((f) => f === segment) ?? segment), join(staticRoot, "hls", "live", segment));
  startNginx("static", staticConf("127.0.249.50:20082", staticRoot));
  await waitHttp(`${STATIC}/hls/live/${segment}`);
  const cacheStatus = (await fetch(url)).headers.get("x-cache-status");
  log(`(a) ${segment}: ${(readFileSync(join(staticRoot, "hls", "live", segment)).length / 1024).toFixed(0)} KiB, edge says ${cacheStatus}`);
  const edgeRps = [];
  const staticRps = [];
  for (let i = 0; i < RUNS; i++) {
    const e = wrk(url);
    const s = wrk(`${STATIC}/hls/live/${segment}`);
    edgeRps.push(e.rps);
    staticRps.push(s.rps);
    log(`(a) run ${i + 1}: edge ${e.rps.toFixed(0)} req/s (p99 ${e.p99}), static ${s.rps.toFixed(0)} req/s (p99 ${s.p99})`);
  }
  results.a = {
    segmentBytes: readFileSync(join(staticRoot, "hls", "live", segment)).length,
    wrk: "-t1 -c50",
    edgeMedianRps: Math.round(median(edgeRps)),
    staticMedianRps: Math.round(median(staticRps)),
    ratio: Number((median(edgeRps) / median(staticRps)).toFixed(3)),
    target: ">= 0.9",
    samples: { edge: edgeRps.map(Math.round), static: staticRps.map(Math.round) },
  };

  // (b) + (c): 200 viewers on two edges, one config at a time, same origin, same stream.
  for (const config of ["edgelab", "seed", "seed-plain-origin"]) {
    const edges = EDGES[config];
    const from = readFileSync(join(state, "logs", "origin.access.log"), "utf8").split("\n").length - 1;
    log(`(b) ${config}: ${VIEWERS} viewers on ${edges.length} edges for ${VIEWER_SECONDS} s...`);
    const [, lag] = await Promise.all([viewers(edges, VIEWER_SECONDS), originLag(edges, VIEWER_SECONDS)]);
    const { perSegment: counts, playlistsPerSecond } = originRequests(from, VIEWER_SECONDS);
    const perSegment = counts.map((n) => n / edges.length);
    results[`b_${config}`] = {
      viewers: VIEWERS,
      edges: edges.length,
      segments: perSegment.length,
      originRequestsPerSegmentPerEdge: { median: median(perSegment), max: Math.max(...perSegment), min: Math.min(...perSegment), mean: Number((perSegment.reduce((a, b) => a + b, 0) / perSegment.length).toFixed(2)) },
      originPlaylistRequestsPerSecond: playlistsPerSecond,
    };
    results[`c_${config}`] = { lagSeconds: { median: Number(lag.median.toFixed(2)), max: Number(lag.max.toFixed(2)) }, samples: lag.samples };
    log(`(b) ${config}: origin requests per new segment per edge: median ${median(perSegment)}, max ${Math.max(...perSegment)} over ${perSegment.length} segments; origin playlist requests ${playlistsPerSecond}/s`);
    log(`(c) ${config}: edge lag behind the origin: median ${lag.median.toFixed(2)} s, max ${lag.max.toFixed(2)} s`);
  }
} finally {
  for (const c of children) c.kill("SIGQUIT");
  await sleep(500);
  try {
    edgelab("down");
  } catch (err) {
    log(`down failed: ${err.message}`);
  }
  rmSync(dir, { recursive: true, force: true });
}
writeResult("dataplane", results);
console.log(JSON.stringify(results, null, 2));

// Data-plane benchmarks, side by side in one run, on this machine, with the real processes:
//
//  (a) cached-segment throughput through an edge vs nginx serving the same file statically
//      (the limit) — wrk, interleaved runs, median requests/s, ratio (target >= 0.9);
//  (b) origin requests per new segment with 200 concurrent viewers across two edges, counted per
//      edge (each edge's requests come from its own address): edgelab's edge config vs the seed
//      000 edge config (target: exactly 1 per edge);
//  (c) live-edge lag at the edge vs the origin, for both configs (target <= 1 s for edgelab);
//  (d) viewer lookups through the origin while bursts of 50 wrong-key publishes hit the router
//      (each from an address of its own) vs idle: p99 side by side (target: burst <= 2 x idle).
//
//   npm run build && node bench/dataplane.js [--runs 3] [--seconds 8] [--viewer-seconds 30] [--lookup-seconds 15] [--only a,b,d]
//
// Writes bench/results/dataplane.json. Needs wrk (apt-get install wrk). All traffic stays on
// loopback addresses 127.0.246-255.x.
import { execFileSync, spawn } from "node:child_process";
import { request } from "node:http";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync, readdirSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { BENCH_DIR, median, option, writeResult } from "./lib.js";

const root = join(BENCH_DIR, "..");
const RUNS = option("--runs", 3);
const SECONDS = option("--seconds", 8);
const VIEWER_SECONDS = option("--viewer-seconds", 30);
const LOOKUP_SECONDS = option("--lookup-seconds", 15);
/** --only a,b,d runs some parts ((c) is measured with (b)); default: all. */
const ONLY = process.argv.includes("--only") ? new Set((process.argv[process.argv.indexOf("--only") + 1] ?? "").split(",")) : undefined;
const ROUND_MS = 2500;
const want = (part) => ONLY === undefined || ONLY.has(part) || (part === "b" && ONLY.has("c"));
/** The poller and the lookup probes come from addresses of their own: left out of (b)'s counts. */
const POLLER_ADDRESS = "127.0.249.99";
const PROBE_ADDRESS = "127.0.249.98";
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
  # Not in the seed: its requests to the origin come from its own address, so they can be counted per edge.
  proxy_bind ${listen.split(":")[0]};
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
  access_log ${p}/logs/access.log;
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
 * Origin front requests during one config's window, per edge: the log's client address is the
 * edge's own (edges bind to it). For each edge: requests per new segment, and playlist requests
 * per second. Requests from anything else (the lag poller) are left out.
 */
function originRequests(logFile, fromLine, seconds, edgeAddresses) {
  const lines = readFileSync(logFile, "utf8").split("\n").slice(fromLine);
  const perEdge = new Map(edgeAddresses.map((a) => [a, { segments: new Map(), playlists: 0 }]));
  let others = 0;
  for (const line of lines) {
    if (line === "") continue;
    const from = line.split(" ", 1)[0];
    const edge = perEdge.get(from);
    if (edge === undefined) {
      others += 1;
      continue;
    }
    if (line.includes("GET /hls/live/index.m3u8 ")) edge.playlists += 1;
    const m = /"GET \/hls\/live\/(\d+\.ts) /.exec(line);
    if (m !== null) edge.segments.set(m[1], (edge.segments.get(m[1]) ?? 0) + 1);
  }
  return {
    edges: [...perEdge].map(([address, e]) => ({ address, perSegment: [...e.segments.values()], playlistsPerSecond: Number((e.playlists / seconds).toFixed(1)) })),
    leftOut: others,
  };
}

/** GET over HTTP from a given local address; resolves the status and the time taken (ms). */
function timedGet(url, localAddress) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = request(url, { localAddress, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode, ms: performance.now() - t0 }));
    });
    req.once("error", () => resolve({ status: -1, ms: performance.now() - t0 }));
    req.end();
  });
}

const text = (url, localAddress) =>
  new Promise((resolve) => {
    const req = request(url, { localAddress, agent: false }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve(body));
    });
    req.once("error", () => resolve(""));
    req.end();
  });

const p99 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))];

async function originLag(edges, seconds) {
  // Poll the origin front and each edge every 50 ms; lag = first sighting at the edge - at the origin.
  const stop = Date.now() + seconds * 1000;
  const origin = new Map();
  const atEdge = edges.map(() => new Map());
  while (Date.now() < stop) {
    const [o, ...es] = await Promise.all([ORIGIN, ...edges].map((base) => text(`${base}/hls/live/index.m3u8`, POLLER_ADDRESS)));
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

  if (want("a")) {
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

  }

  // (b) + (c): 200 viewers on two edges, one config at a time, same origin, same stream.
  for (const config of want("b") ? ["edgelab", "seed", "seed-plain-origin"] : []) {
    const edges = EDGES[config];
    // What the edges ask their origin: the origin front, or for the last config the plain proxy
    // standing in for the seed's own origin (the front would see that proxy, not the edges).
    const logFile = config === "seed-plain-origin" ? join(dir, "plain", "logs", "access.log") : join(state, "logs", "origin.access.log");
    const from = readFileSync(logFile, "utf8").split("\n").length - 1;
    log(`(b) ${config}: ${VIEWERS} viewers on ${edges.length} edges for ${VIEWER_SECONDS} s...`);
    const [, lag] = await Promise.all([viewers(edges, VIEWER_SECONDS), originLag(edges, VIEWER_SECONDS)]);
    const counted = originRequests(logFile, from, VIEWER_SECONDS, edges.map((e) => new URL(e).hostname));
    results[`b_${config}`] = {
      viewers: VIEWERS,
      edges: counted.edges.map((e) => ({
        edge: e.address,
        segments: e.perSegment.length,
        originRequestsPerSegment: { median: median(e.perSegment), mean: Number((e.perSegment.reduce((a, b) => a + b, 0) / e.perSegment.length).toFixed(2)), max: Math.max(...e.perSegment), min: Math.min(...e.perSegment) },
        originPlaylistRequestsPerSecond: e.playlistsPerSecond,
      })),
      originRequestsLeftOut: counted.leftOut,
    };
    results[`c_${config}`] = { lagSeconds: { median: Number(lag.median.toFixed(2)), max: Number(lag.max.toFixed(2)) }, samples: lag.samples };
    for (const e of results[`b_${config}`].edges) log(`(b) ${config} edge ${e.edge}: origin requests per new segment median ${e.originRequestsPerSegment.median}, mean ${e.originRequestsPerSegment.mean}, max ${e.originRequestsPerSegment.max} over ${e.segments} segments; playlist requests ${e.originPlaylistRequestsPerSecond}/s`);
    log(`(c) ${config}: edge lag behind the origin: median ${lag.median.toFixed(2)} s, max ${lag.max.toFixed(2)} s`);
  }

  // (d) viewer lookups through the origin (every playlist request asks the router), idle and
  // under bursts of 50 wrong-key publishes, interleaved in short rounds (the machine's other load
  // drifts; short rounds give both the same share of it).
  if (want("d")) {
  const idle = [];
  const burst = [];
  let round = 0;
  let attempts = 0;
  const until = Date.now() + LOOKUP_SECONDS * 1000;
  // The attacker is a process of its own, so its 50 RTMP handshakes do not delay this process's probes.
  const attacker = `
    const { rtmpPublish } = await import(${JSON.stringify(join(root, "dist", "media", "rtmp.js"))});
    const [first, until] = process.argv.slice(1).map(Number);
    let n = first;
    while (Date.now() < until) {
      // 50 fresh addresses per burst: no address reaches the per-address limit, every attempt costs a key check.
      const net = 250 + (Math.floor(n / 50) % 6);
      await Promise.all(Array.from({ length: 50 }, (_, i) => rtmpPublish({ host: "127.0.${NET}.38", port: 20935, app: "live", name: "live?key=wrong-" + (n + i), localAddress: "127.0." + net + "." + ((i % 250) + 1), timeoutMs: 20000 }).then((p) => p.close(), () => undefined)));
      n += 50;
    }
    process.stdout.write(String(n - first));`;
  while (Date.now() < until) {
    const bursting = round % 2 === 1;
    const roundEnd = Date.now() + ROUND_MS;
    const attack = bursting
      ? new Promise((resolve) => {
          // At the lowest priority: on a network the attacker is another machine, not a share of this one's CPU.
          const child = spawn("nice", ["-n", "19", process.execPath, "--input-type=module", "-e", attacker, String(attempts), String(roundEnd)], { stdio: ["ignore", "pipe", "inherit"] });
          let out = "";
          child.stdout.on("data", (d) => (out += d));
          child.once("exit", () => resolve(Number(out) || 0));
        })
      : Promise.resolve(0);
    if (bursting) await sleep(200); // the first attempts are in flight
    while (Date.now() < roundEnd) {
      const { status, ms } = await timedGet(`${ORIGIN}/hls/live/index.m3u8`, PROBE_ADDRESS);
      if (status === 200) (bursting ? burst : idle).push(ms);
      await sleep(20);
    }
    attempts += await attack;
    round += 1;
  }
  results.d = {
    lookups: { idle: idle.length, burst: burst.length },
    wrongKeyAttempts: attempts,
    idleP99Ms: Number(p99(idle).toFixed(1)),
    burstP99Ms: Number(p99(burst).toFixed(1)),
    idleMedianMs: Number(median(idle).toFixed(1)),
    burstMedianMs: Number(median(burst).toFixed(1)),
    burstMaxMs: Number(Math.max(...burst).toFixed(1)),
    ratioP99: Number((p99(burst) / p99(idle)).toFixed(2)),
    target: "burst p99 <= 2 x idle p99",
    loadAverage: loadavg().map((l) => Number(l.toFixed(2))),
  };
  log(`(d) origin lookups: idle p99 ${results.d.idleP99Ms} ms, during ${attempts} wrong-key attempts p99 ${results.d.burstP99Ms} ms (ratio ${results.d.ratioP99})`);
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

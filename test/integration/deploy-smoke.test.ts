/**
 * `edgelab deploy` ends with the smoke test through the Ingress. The Kubernetes API server
 * STAND-IN gives the Ingress and the RTMP Service loopback addresses where something real
 * answers: a real nginx on 127.0.149.80:80 that serves only the Host live.example.com (any
 * other Host gets 421), in front of a real local lab's edge (media server, router, origin,
 * edge and a test source publishing); and on 127.0.149.81:1935 a plain TCP forwarder to that
 * lab's media server (what a LoadBalancer does at layer 4), for the wrong-key check.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clusterLab, type ClusterLab } from "../helpers/cluster-deploy.js";
import { stageResult } from "../helpers/events.js";
import { startKubeApiserverStandin, type KubeApiserverStandin } from "../helpers/kube-apiserver-standin.js";
import { testLab, type TestLab } from "../helpers/lab.js";
import { start, waitForPort, type Started } from "../helpers/procs.js";

const NET = 141; // local lab: origin 127.0.141.38, edge 127.0.142.41
const BASE = 26000;
const INGRESS = "127.0.149.80";
const RTMP_LB = "127.0.149.81";

/** Forwards TCP connections to host:port, as a LoadBalancer Service does. */
async function forwarder(listenHost: string, listenPort: number, host: string, port: number): Promise<Server> {
  const server = createServer((client) => {
    const upstream = connect({ host, port });
    client.pipe(upstream).pipe(client);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listenPort, listenHost, resolve);
  });
  return server;
}
const HOST = "live.example.com";

describe("edgelab deploy: smoke through the Ingress by its address with the Host header", () => {
  let local: TestLab;
  let front: Started | undefined;
  let frontDir: string | undefined;
  let rtmp: Server | undefined;
  let standin: KubeApiserverStandin | undefined;
  let lab: ClusterLab | undefined;

  beforeAll(async () => {
    local = testLab({ net: NET, edges: 1, portBase: BASE, streams: [{ name: "live" }] });
    const up = await local.run(["--json", "up", "--to", "local", "--timeout", "90"]);
    if (up.code !== 0) throw new Error(`local lab: ${up.stdout}\n${up.stderr}`);
    const ingest = (stageResult(up.stdout, "local")?.details?.["ingest"] as { server: string }[] | undefined)?.[0]?.server ?? "";
    const media = new URL(ingest);
    rtmp = await forwarder(RTMP_LB, 1935, media.hostname, Number(media.port));

    const dir = mkdtempSync(join(tmpdir(), "edgelab-ingress-"));
    mkdirSync(join(dir, "tmp"));
    const edge = local.edgeUrls[0]?.replace(/^http:\/\//, "") ?? "";
    frontDir = dir;
    const conf = join(dir, "nginx.conf");
    writeFileSync(
      conf,
      `daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 256; }
http {
  client_body_temp_path ${dir}/tmp; proxy_temp_path ${dir}/tmp; fastcgi_temp_path ${dir}/tmp;
  uwsgi_temp_path ${dir}/tmp; scgi_temp_path ${dir}/tmp;
  log_format host '$host $status "$http_user_agent" $request_uri';
  server { listen ${INGRESS}:80 default_server; access_log ${dir}/other-hosts.log host; return 421; }
  server {
    listen ${INGRESS}:80; server_name ${HOST}; access_log ${dir}/ingress.log host;
    location / { proxy_pass http://${edge}; proxy_set_header Host $host; proxy_buffering off; }
  }
}
`,
    );
    front = start(["nginx", "-p", dir, "-c", conf, "-e", join(dir, "error.log")]);
    await waitForPort(INGRESS, 80);
    standin = await startKubeApiserverStandin({ rolloutDelayMs: 100, lbDelayMs: 100, lbAddresses: { "edgelab/edge": INGRESS, "edgelab/rtmp": RTMP_LB } });
    lab = clusterLab(standin);
  }, 150_000);

  afterAll(async () => {
    lab?.cleanup();
    await standin?.close();
    await front?.stop();
    await new Promise<void>((resolve) => (rtmp === undefined ? resolve() : rtmp.close(() => resolve())));
    await local.cleanup();
    if (frontDir !== undefined) rmSync(frontDir, { recursive: true, force: true });
  }, 60_000);

  it("passes every check, each request carrying the service's name", async () => {
    if (lab === undefined || frontDir === undefined) throw new Error("no lab");
    const r = await lab.deploy(["--json"]);
    const smoke = stageResult(r.stdout, "smoke");
    expect(smoke?.status, r.stdout).toBe("ok");
    expect(r.code).toBe(0);
    expect(smoke?.summary).toMatch(/^\d+ checks passed$/);
    const checks = (smoke?.details?.["results"] as { check: string; ok: boolean; edge: string | null }[]).filter((c) => c.ok).map((c) => c.check);
    for (const check of ["hls-playlist", "hls-live-edge", "hls-segment", "cache-hit-segment", "ffprobe-decode", "unknown-stream-404", "wrong-key-refused"]) expect(checks).toContain(check);
    const log = readFileSync(join(frontDir, "ingress.log"), "utf8").split("\n").filter((l) => l !== "");
    // Playlists and segments by the smoke runner, and the decoder's requests (ffprobe/ffmpeg).
    expect(log.some((l) => l.startsWith(`${HOST} 200 "edgelab-smoke" /hls/live/`) && l.endsWith(".ts"))).toBe(true);
    const decoder = log.filter((l) => l.includes('"Lavf'));
    expect(decoder.some((l) => /^live\.example\.com 20[06] "Lavf[^"]*" \/hls\/live\/index\.m3u8$/.test(l)), decoder.join("\n")).toBe(true);
    // The HLS demuxer passes the Host header on to the segments it fetches.
    expect(decoder.some((l) => /^live\.example\.com 20[06] "Lavf[^"]*" \/hls\/live\/\d+\.ts$/.test(l)), decoder.join("\n")).toBe(true);
    expect(log.some((l) => l.startsWith(`${HOST} 404 "edgelab-smoke" /hls/edgelab-smoke-no-such-stream/`))).toBe(true);
    // Nothing reached the Ingress without the Host header.
    expect(readFileSync(join(frontDir, "other-hosts.log"), "utf8")).toBe("");
  }, 120_000);

  it("edgelab smoke on the cluster lab checks the Ingress deploy recorded, with the same checks", async () => {
    if (lab === undefined || frontDir === undefined) throw new Error("no lab");
    const before = readFileSync(join(frontDir, "ingress.log"), "utf8").length;
    const r = await lab.run(["--json", "smoke", "--stream", "live"]);
    const report = JSON.parse(r.stdout) as { passed: number; failed: number; results: { check: string; ok: boolean; edge: string | null }[] };
    expect(report.failed, r.stdout).toBe(0);
    expect(r.code).toBe(0);
    expect(report.results.find((c) => c.check === "hls-live-edge")?.edge).toBe(`ingress ${HOST}`);
    expect(readFileSync(join(frontDir, "ingress.log"), "utf8").length).toBeGreaterThan(before);
    expect(readFileSync(join(frontDir, "other-hosts.log"), "utf8")).toBe("");
  }, 120_000);
});

/**
 * edgelab's built images with the CLUSTER configurations (the cluster placement of the nginx
 * renderers and the router's cluster configuration), run with podman the way the pods will run
 * them: one container each for redis, the router, media server media-0 and the origin front
 * (origin image) and an edge (edge image), read-only root filesystems, uid 10101, the writable
 * paths as tmpfs, each rendered file mounted read-only under /etc/edgelab/ as its ConfigMap will
 * be (the edge's edge-<group>.conf as /etc/edgelab/nginx/edge.conf), the Secret's files under
 * /run/secrets/edgelab/. The containers are on a podman network the test creates in
 * 198.18.0.0/15 (never podman's default 10.88.0.0/16), the Service names the configurations use
 * given to every container with --add-host. A test source on this machine publishes into media-0;
 * `edgelab smoke --edge <edge container URL>` must pass the same checks as on the local lab.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { IMAGE_GID, IMAGE_UID } from "../../src/images/spec.js";
import { generateKey, hashKey } from "../../src/media/keys.js";
import { CLUSTER_SERVICES, clusterDataPlane, mediaPodHost } from "../../src/model/dataplane.js";
import type { Lab } from "../../src/model/lab.js";
import { testSourceArgs } from "../../src/providers/local/plan.js";
import { renderDataPlane } from "../../src/render/index.js";
import { renderMediaNotifyConf } from "../../src/render/nginx.js";
import { DATA_PLANE_SECRET } from "../../src/render/router.js";
import { fixedPaths, labFrom } from "../helpers/dataplane.js";
import { BIN, builtImages, containerConfinement, sh, smokeUntilPasses, TestPodman, type BuiltImages } from "../helpers/images.js";
import { labData, vars } from "../helpers/inventory.js";
import { start, waitForPort, type Started } from "../helpers/procs.js";

const dir = mkdtempSync(join(tmpdir(), "edgelab-images-cluster-"));
const podman = TestPodman.create();
const started: Started[] = [];
let images: BuiltImages;
let lab: Lab;
let inventory: string;
let net = "";
const streamKey = generateKey();
const ip = (n: number): string => `${net}.${n}`;
const ADDRESSES = { redis: 10, router: 11, origin: 12, "media-0": 13, edge: 20 } as const;
type Component = keyof typeof ADDRESSES;
const containerName = (c: Component): string => `edgelab-cluster-${c}-${process.pid}`;

/** A /24 of 198.18.32.0/19 that this machine neither routes nor has on an interface. */
async function freeSubnet(): Promise<string> {
  const used = (await sh(["ip", "-4", "route", "show"])).stdout + (await sh(["ip", "-4", "addr", "show"])).stdout;
  const free = Array.from({ length: 32 }, (_, i) => 32 + i).filter((n) => !used.includes(`198.18.${n}.`));
  const pick = free[Math.floor(Math.random() * free.length)];
  if (pick === undefined) throw new Error("no free /24 in 198.18.32.0/19");
  return `198.18.${pick}`;
}

function write(path: string, text: string, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text, { mode });
}

beforeAll(async () => {
  images = await builtImages(dir);
  // The seed lab (provider proxmox) with one media server and one stream published by a source.
  const data = labData();
  vars(data)["media"] = { servers: 1 };
  vars(data)["streams"] = [{ name: "live", key: { env: "EDGELAB_TEST_STREAM_KEY" } }];
  inventory = join(dir, "inventory.yml");
  writeFileSync(inventory, stringify(data));
  lab = labFrom(data);
  const plane = clusterDataPlane(lab);
  const edgeGroup = plane.edges[0]?.name;
  const media = plane.mediaServers[0];
  if (edgeGroup === undefined || media === undefined || media.name !== "media-0") throw new Error("the cluster plane has no edge group or media-0");

  // The ConfigMaps (one directory per pod) and the Secret's files, as deploy will build them.
  const files = new Map(renderDataPlane(lab, fixedPaths()).map((a) => [a.path, a.content]));
  const file = (path: string): string => {
    const text = files.get(path);
    if (text === undefined) throw new Error(`render produced no ${path} (got ${[...files.keys()].join(", ")})`);
    return text;
  };
  write(join(dir, "cm", "edge", "edge.conf"), file(`nginx/edge-${edgeGroup}.conf`));
  write(join(dir, "cm", "origin", "origin.conf"), file("nginx/origin.conf"));
  write(join(dir, "cm", "media", "media-0.conf"), file("nginx/media-0.conf"));
  write(join(dir, "cm", "router", "router.json"), file("router/router.json"));
  const redisPassword = generateKey();
  const notify = generateKey();
  const secrets = join(dir, "secrets");
  write(join(secrets, DATA_PLANE_SECRET.redisPassword), redisPassword, 0o600);
  write(join(secrets, DATA_PLANE_SECRET.notifySecret), notify, 0o600);
  write(join(secrets, DATA_PLANE_SECRET.notifyInclude("media-0")), renderMediaNotifyConf(plane, media, notify), 0o600);
  write(join(secrets, DATA_PLANE_SECRET.streamKey("live")), JSON.stringify(hashKey(streamKey)), 0o600);
  write(join(secrets, "redis.conf"), `port 6379\nprotected-mode yes\nrequirepass ${redisPassword}\nsave ""\nappendonly no\ndir /tmp\nrename-command CONFIG ""\n`, 0o600);
  write(join(dir, "source.key"), `${streamKey}\n`, 0o600);
  await sh(["chown", "-R", `${IMAGE_UID}:${IMAGE_GID}`, join(dir, "cm"), secrets]);

  const originRef = await podman.load(images.images.find((i) => i.name === "origin")?.archive ?? "");
  const edgeRef = await podman.load(images.images.find((i) => i.name === "edge")?.archive ?? "");

  net = await freeSubnet();
  const network = `edgelab-test-${process.pid}`;
  await podman.network(network, `${net}.0/24`);
  // The Service names the configurations use, as cluster DNS would answer them.
  const hosts: [string, Component][] = [
    [CLUSTER_SERVICES.redis, "redis"],
    [CLUSTER_SERVICES.router, "router"],
    [CLUSTER_SERVICES.origin, "origin"],
    [CLUSTER_SERVICES.edge, "edge"],
    [CLUSTER_SERVICES.rtmp, "media-0"],
    [media.http.host, "media-0"],
    [mediaPodHost(media), "media-0"],
  ];
  const addHosts = hosts.flatMap(([name, c]) => ["--add-host", `${name}:${ip(ADDRESSES[c])}`]);
  // As in the pods: only these paths are writable (podman's own tmpfs on /run and /var/tmp is off).
  const writable = ["/tmp", "/run/edgelab", "/var/cache/edgelab", "/var/lib/edgelab"].flatMap((p) => ["--tmpfs", `${p}:rw,mode=1777`]);
  const run = async (c: Component, image: string, mounts: readonly string[], command: readonly string[] = []): Promise<void> => {
    await podman.run(containerName(c), ["--network", network, "--ip", ip(ADDRESSES[c]), ...addHosts, "--read-only", "--read-only-tmpfs=false", ...writable, ...mounts.flatMap((m) => ["--volume", `${m}:ro`])], image, command);
  };
  const ready = async (c: Component, port: number): Promise<void> => {
    try {
      await waitForPort(ip(ADDRESSES[c]), port, 30_000);
    } catch (error) {
      throw new Error(`${c} did not start: ${String(error)}\n${await podman.logs(containerName(c))}`, { cause: error });
    }
  };
  await run("redis", originRef, [`${join(secrets, "redis.conf")}:/run/secrets/edgelab/redis.conf`], ["redis-server", "/run/secrets/edgelab/redis.conf"]);
  await ready("redis", 6379);
  const routerSecrets = [DATA_PLANE_SECRET.redisPassword, DATA_PLANE_SECRET.notifySecret, DATA_PLANE_SECRET.streamKey("live")].map((k) => `${join(secrets, k)}:/run/secrets/edgelab/${k}`);
  await run("router", originRef, [`${join(dir, "cm", "router")}:/etc/edgelab/router`, ...routerSecrets], ["edgelab-router", "--config", "/etc/edgelab/router/router.json"]);
  await ready("router", 8090);
  await run("media-0", originRef, [`${join(dir, "cm", "media")}:/etc/edgelab/nginx`, `${join(secrets, DATA_PLANE_SECRET.notifyInclude("media-0"))}:/run/secrets/edgelab/${DATA_PLANE_SECRET.notifyInclude("media-0")}`], ["/usr/sbin/nginx", "-e", "stderr", "-c", "/etc/edgelab/nginx/media-0.conf"]);
  await ready("media-0", 1935);
  // The origin front and the edge run the images' default commands.
  await run("origin", originRef, [`${join(dir, "cm", "origin")}:/etc/edgelab/nginx`]);
  await ready("origin", 8080);
  await run("edge", edgeRef, [`${join(dir, "cm", "edge")}:/etc/edgelab/nginx`]);
  await ready("edge", 8080);

  const source = testSourceArgs("/usr/bin/ffmpeg", lab).slice(1);
  started.push(start([process.execPath, join(dirname(BIN), "..", "dist", "media", "publisher.js"), "--url", `rtmp://${ip(ADDRESSES["media-0"])}:1935/live/live`, "--key-file", join(dir, "source.key"), "--", "/usr/bin/ffmpeg", ...source]));
}, 40 * 60_000);

afterAll(async () => {
  for (const s of started) await s.stop();
  await podman.stop();
  rmSync(dir, { recursive: true, force: true });
}, 5 * 60_000);

describe("the built images with the cluster configurations", () => {
  it("each nginx answers /healthz on its container port, as the probes will ask", async () => {
    for (const c of ["edge", "origin", "media-0"] as const) {
      const res = await fetch(`http://${ip(ADDRESSES[c])}:8080/healthz`, { signal: AbortSignal.timeout(5000) });
      expect(res.status, c).toBe(200);
    }
    const router = await fetch(`http://${ip(ADDRESSES.router)}:8090/readyz`, { signal: AbortSignal.timeout(5000) });
    expect(router.status).toBe(200);
  });

  it("edgelab smoke --edge <edge container> passes the local lab's checks", async () => {
    const result = await smokeUntilPasses(["-i", inventory, "smoke", "--edge", `http://${ip(ADDRESSES.edge)}:8080`, "--origin", `http://${ip(ADDRESSES.origin)}:8080`, "--ingest", `rtmp://${ip(ADDRESSES["media-0"])}:1935/live`], 90_000, { ...process.env, EDGELAB_TEST_STREAM_KEY: streamKey });
    expect(result.stdout, `${result.stdout}\n${result.stderr}\n${await podman.logs(containerName("media-0"))}\n${await podman.logs(containerName("router"))}`).toMatch(/\d+ passed, 0 failed/);
    expect(result.code).toBe(0);
  }, 5 * 60_000);

  it("every container runs as uid 10101 on a read-only root filesystem", async () => {
    for (const c of Object.keys(ADDRESSES) as Component[]) {
      const name = containerName(c);
      const confined = await containerConfinement(podman, name);
      expect([confined.readonlyRootfs, confined.user, ...confined.pid1Uids], name).toEqual(["true", "10101:10101", "10101", "10101"]);
      expect(confined.write.code, name).not.toBe(0);
      expect(confined.write.stderr, name).toMatch(/Read-only file system/);
    }
  }, 120_000);
});

/**
 * edgelab's built images, run for real with podman: redis, the stream-key router, a media server
 * and the origin front from the origin image, an edge from the edge image, each its own
 * container with a read-only root filesystem, as uid 10101, the rendered configurations mounted
 * read-only under /etc/edgelab and the secrets under /run/secrets/edgelab (as the ConfigMaps and
 * the Secret will be), the writable paths as tmpfs or a shared state volume. A test source on
 * this machine publishes into the media server; `edgelab smoke --edge <edge container>` must pass
 * the same checks as on the local lab.
 *
 * The containers use the host's network on loopback addresses of their own (127.0.<n>.x,
 * picked free), as the local placement renders them (never podman's default 10.88.0.0/16).
 */
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IMAGE_GID, IMAGE_UID } from "../../src/images/spec.js";
import { generateKey, hashKey } from "../../src/media/keys.js";
import { localDataPlane } from "../../src/model/dataplane.js";
import { buildLab, type Lab } from "../../src/model/lab.js";
import { buildLocalPlan, ROUTER_DIR_FD, STATUS_DIR_FD, type LocalPlan } from "../../src/providers/local/plan.js";
import { routerConfigFile, type LocalLayout } from "../../src/providers/local/layout.js";
import { defaultEnvironment } from "../../src/render/environment.js";
import { DEBIAN_FFMPEG, DEBIAN_RTMP_MODULE } from "../../src/render/nginx.js";
import { validateInventoryText } from "../../src/inventory/validate.js";
import { BIN, builtImages, containerConfinement, sh, smokeUntilPasses, TestPodman, type BuiltImages } from "../helpers/images.js";
import { start, waitForPort, type Started } from "../helpers/procs.js";

const dir = mkdtempSync(join(tmpdir(), "edgelab-images-run-"));
const podman = TestPodman.create();
const started: Started[] = [];
let images: BuiltImages;

/** Host directories behind the container paths (bind mounts). */
const MOUNTS = { "/etc/edgelab": join(dir, "etc"), "/run/secrets/edgelab": join(dir, "secrets"), "/var/lib/edgelab": join(dir, "state") } as const;
function onHost(path: string): string {
  for (const [inside, outside] of Object.entries(MOUNTS)) if (path === inside || path.startsWith(`${inside}/`)) return outside + path.slice(inside.length);
  throw new Error(`${path} is not under a mounted directory`);
}

/** The container layout: configurations and secrets read-only, state in a shared volume. */
const LAYOUT: LocalLayout = {
  root: "/var/lib/edgelab",
  state: "/var/lib/edgelab",
  conf: "/etc/edgelab/conf",
  secrets: "/run/secrets/edgelab",
  specFile: "/var/lib/edgelab/supervisor.json",
  stateFile: "/var/lib/edgelab/state.json",
  supervisorLog: "/var/lib/edgelab/logs/supervisor.log",
  redisConf: "/run/secrets/edgelab/redis.conf",
  router: "/run/secrets/edgelab/router",
  nginx: {
    run: "/var/lib/edgelab/run",
    logs: "/var/lib/edgelab/logs",
    tmp: "/var/lib/edgelab/tmp",
    media: "/var/lib/edgelab/media",
    cache: "/var/lib/edgelab/cache",
    player: "/etc/edgelab/player",
    rtmpModule: DEBIAN_RTMP_MODULE,
    ffmpeg: DEBIAN_FFMPEG,
    state: "/var/lib/edgelab",
    status: "/var/lib/edgelab/status",
    secrets: "/run/secrets/edgelab",
    workerSecrets: "/var/lib/edgelab/transcoder",
  },
};

/** A one-server, one-worker lab on loopback addresses nothing else on this machine uses. */
async function testLab(): Promise<{ lab: Lab; inventory: string }> {
  const used = (await sh(["ip", "-4", "addr", "show", "lo"])).stdout + (await sh(["ss", "-Htln"])).stdout;
  const free = Array.from({ length: 60 }, (_, i) => 140 + i).filter((n) => !used.includes(`127.0.${n}.`) && !used.includes(`127.0.${n + 1}.`));
  const a = free[Math.floor(Math.random() * free.length)] ?? 140;
  const text = `all:
  vars:
    lab: {name: images-run, provider: local}
    ansible_connection: local
    network:
      vlans:
        - {id: ${a}, name: origin-net, subnet: 127.0.${a}.0/24, gateway: 127.0.${a}.1}
        - {id: ${a + 1}, name: edge-net, subnet: 127.0.${a + 1}.0/24, gateway: 127.0.${a + 1}.1}
    media: {servers: 1}
    streams:
      - {name: live, key: {generate: true}}
  children:
    k3s_cluster:
      children:
        master:
          hosts:
            origin-1: {ansible_host: 127.0.${a}.10, data_vlan: ${a}, label: master}
        node:
          hosts:
            edge-1: {ansible_host: 127.0.${a + 1}.20, data_vlan: ${a + 1}, label: edge}
`;
  const inventory = join(dir, "inventory.yml");
  writeFileSync(inventory, text);
  const result = validateInventoryText(text, "inventory.yml");
  if (result.facts === undefined) throw new Error(result.issues.map((i) => i.message).join("; "));
  return { lab: buildLab(result.facts), inventory };
}

let plan: LocalPlan;
let lab: Lab;
let inventory: string;
const sourceKey = generateKey();
const redisPassword = generateKey();

beforeAll(async () => {
  images = await builtImages(dir);
  ({ lab, inventory } = await testLab());
  const plane = localDataPlane(lab);
  plan = buildLocalPlan({
    lab,
    plane,
    layout: LAYOUT,
    env: defaultEnvironment(),
    binaries: { nginx: "/usr/sbin/nginx", redis: "/usr/bin/redis-server", ffmpeg: "/usr/bin/ffmpeg", node: "/usr/local/bin/node", routerScript: "/opt/edgelab/dist/media/router-server.js", publisherScript: "unused" },
    secrets: {
      keyHashes: new Map([["live", hashKey(generateKey())]]),
      sourceKeys: new Map([["live", sourceKey]]),
      mediaServers: new Map(plane.mediaServers.map((m) => [m.name, generateKey()])),
      redisPassword,
      transcoder: generateKey(),
    },
    playerFiles: new Map([["index.html", "<!doctype html><title>player</title>\n"]]),
  });
  // What the ConfigMaps, the Secret and the volumes will hold; readable by the containers' user.
  for (const d of [...plan.dirs, ...Object.keys(MOUNTS)]) mkdirSync(onHost(d), { recursive: true });
  for (const f of plan.files) {
    mkdirSync(dirname(onHost(f.path)), { recursive: true });
    // The local lab's supervisor hands the router its directories as descriptors 3 and 4; a
    // container has no supervisor, so the router's files name the mounted paths instead.
    const content = f.content.replaceAll(`/proc/self/fd/${ROUTER_DIR_FD}/`, `${LAYOUT.router}/`).replaceAll(`/proc/self/fd/${STATUS_DIR_FD}/`, `${LAYOUT.nginx.status}/`);
    writeFileSync(onHost(f.path), content, { mode: f.mode });
  }
  writeFileSync(onHost(`${LAYOUT.secrets}/source-live`), `${sourceKey}\n`, { mode: 0o600 });
  writeFileSync(onHost(`${LAYOUT.secrets}/redis-password`), `${redisPassword}\n`, { mode: 0o600 });
  for (const f of plan.logFiles) writeFileSync(onHost(f), "", { mode: 0o600 });
  await sh(["chown", "-R", `${IMAGE_UID}:${IMAGE_GID}`, ...Object.values(MOUNTS)]);
  chownSync(dir, 0, 0);

  const origin = images.images.find((i) => i.name === "origin");
  const edge = images.images.find((i) => i.name === "edge");
  if (origin === undefined || edge === undefined) throw new Error("images build did not report both images");
  const originRef = await podman.load(origin.archive);
  const edgeRef = await podman.load(edge.archive);
  expect(originRef).toBe(origin.ref);
  expect(edgeRef).toBe(edge.ref);

  const common = ["--network", "host", "--read-only", "--tmpfs", "/tmp", "--tmpfs", "/run/edgelab", "--volume", `${MOUNTS["/etc/edgelab"]}:/etc/edgelab:ro`, "--volume", `${MOUNTS["/run/secrets/edgelab"]}:/run/secrets/edgelab:ro`, "--volume", `${MOUNTS["/var/lib/edgelab"]}:/var/lib/edgelab`];
  for (const p of plan.processes) {
    if (p.kind === "source") continue;
    const name = `edgelab-test-${p.name}-${process.pid}`;
    const image = p.kind === "edge" ? edgeRef : originRef;
    // redis reads its configuration file (mounted from the Secret); the router runs through the
    // image's wrapper; nginx exactly as the local lab's supervisor starts it.
    const command = p.kind === "redis" ? ["redis-server", LAYOUT.redisConf] : p.kind === "router" ? ["edgelab-router", "--config", routerConfigFile(LAYOUT)] : p.argv;
    await podman.run(name, common, image, command);
    const ready = p.ready;
    try {
      if (ready !== undefined) await waitForPort(ready.host, ready.port, 30_000);
    } catch (error) {
      throw new Error(`${p.name} did not start: ${String(error)}\n${await podman.logs(name)}`, { cause: error });
    }
  }
  // The test source: on this machine, publishing into the media server with its key.
  const source = plan.processes.find((p) => p.kind === "source");
  if (source === undefined) throw new Error("the plan has no test source");
  const sep = source.argv.indexOf("--");
  const url = source.argv[source.argv.indexOf("--url") + 1] ?? "";
  started.push(start([process.execPath, join(dirname(BIN), "..", "dist", "media", "publisher.js"), "--url", url, "--key-file", onHost(`${LAYOUT.secrets}/source-live`), "--", "ffmpeg", ...source.argv.slice(sep + 2)]));
}, 40 * 60_000);

afterAll(async () => {
  for (const s of started) await s.stop();
  await podman.stop();
  rmSync(dir, { recursive: true, force: true });
}, 5 * 60_000);

describe("the built images, run with podman", () => {
  it("edgelab smoke --edge <edge container> passes the local lab's checks", async () => {
    const plane = localDataPlane(lab);
    const edge = plane.edges[0];
    const media = plane.mediaServers[0];
    if (edge === undefined || media === undefined) throw new Error("no edge or media server");
    // Give the source time to fill the playlist window (as `edgelab up` waits for the lab).
    const result = await smokeUntilPasses(["-i", inventory, "smoke", "--edge", `http://${edge.http.host}:${edge.http.port}`, "--origin", `http://${plane.origin.host}:${plane.origin.port}`, "--ingest", `rtmp://${media.rtmp.host}:${media.rtmp.port}/live`], 60_000);
    expect(result.stdout, result.stderr).toMatch(/\d+ passed, 0 failed/);
    expect(result.code).toBe(0);
    // The edge answered from the container: its access log (in the state volume) has the requests.
    expect(readFileSync(onHost(`${LAYOUT.nginx.logs}/edge-${edge.name}.access.log`), "utf8")).toMatch(/GET \/hls\/live\//);
  }, 5 * 60_000);

  it("every container runs as uid 10101 on a read-only root filesystem", async () => {
    const names = plan.processes.filter((p) => p.kind !== "source").map((p) => `edgelab-test-${p.name}-${process.pid}`);
    expect(names.length).toBe(5);
    for (const name of names) {
      // PID 1 of the container (nginx master, redis, node) as the kernel sees it.
      const confined = await containerConfinement(podman, name);
      expect([confined.readonlyRootfs, confined.user, ...confined.pid1Uids], name).toEqual(["true", "10101:10101", "10101", "10101"]);
      expect(confined.write.code, name).not.toBe(0);
      expect(confined.write.stderr, name).toMatch(/Read-only file system/);
    }
  }, 120_000);

  it("carries the version and source revision labels", async () => {
    const labels = JSON.parse(await podman.podman("image", "inspect", "--format", "{{json .Labels}}", images.images[1]?.ref ?? "")) as Record<string, string>;
    const pkg = JSON.parse(readFileSync(join(dirname(BIN), "..", "package.json"), "utf8")) as { version: string };
    expect(labels["org.opencontainers.image.version"]).toBe(pkg.version);
    const head = (await sh(["git", "-C", join(dirname(BIN), ".."), "rev-parse", "HEAD"])).stdout.trim();
    expect(labels["org.opencontainers.image.revision"]).toBe(head);
  });
});

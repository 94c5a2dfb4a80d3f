/**
 * The cluster placement's nginx files pass `nginx -t` exactly as rendered: the Service names they
 * use resolve through a hosts file bind-mounted over /etc/hosts in a private mount namespace, and
 * the pods' writable paths (/tmp, /run/edgelab, /var/cache/edgelab, /var/lib/edgelab) and the
 * Secret's files (/run/secrets/edgelab) are tmpfs mounts of that namespace only. Nothing of it is
 * visible outside; it goes away with the namespace.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { clusterDataPlane, mediaPodHost, type DataPlane } from "../../src/model/dataplane.js";
import { renderDataPlane } from "../../src/render/index.js";
import { renderAbrNotifyConf, renderMediaNotifyConf, renderTranscoderPreset } from "../../src/render/nginx.js";
import { transcoderCredentialOf } from "../../src/media/keys.js";
import { DATA_PLANE_SECRET } from "../../src/render/router.js";
import { CLUSTER_LABS, labOf } from "../helpers/cluster-labs.js";
import { fixedPaths } from "../helpers/dataplane.js";
import { labData, vars, type Data } from "../helpers/inventory.js";

const exec = promisify(execFile);
const base = mkdtempSync(join(tmpdir(), "edgelab-nginx-cluster-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** The seed lab with an ABR ladder, recording and DASH off: the media server's other branches. */
function abrClusterData(): Data {
  const data = labData();
  vars(data)["media"] = {
    servers: 1,
    dash: { enabled: false },
    abr: [{ name: "360p", width: 640, height: 360, video_kbps: 800 }],
    record: { path: "recordings" },
  };
  return data;
}

const SCRIPT = `
set -e
mount --make-rprivate /
mount --bind "$T" /mnt
mount --bind /mnt/hosts /etc/hosts
for d in /tmp /run /var/cache /var/lib; do mount -t tmpfs -o mode=0755 tmpfs "$d"; done
mkdir -p /run/edgelab /run/secrets/edgelab /var/cache/edgelab /var/lib/edgelab $RECORD
cp /mnt/secrets/* /run/secrets/edgelab/
set +e
# nginx's standard output is a pipe here, as a container's is (access_log /dev/stdout opens it).
for f in /mnt/conf/*; do
  echo "=== $(basename "$f")"
  out=$(nginx -t -e stderr -c "$f" 2>&1); rc=$?
  echo "$out"
  echo "=== exit $rc"
done
`;

function serviceNames(plane: DataPlane): string[] {
  return [plane.origin.host, plane.router.host, plane.redis.host, ...plane.mediaServers.flatMap((m) => [m.http.host, m.rtmp.host, mediaPodHost(m)]), ...plane.edges.map((e) => e.http.host)];
}

/** Runs nginx -t on every rendered nginx file in a private mount namespace; output per file. */
async function nginxT(name: string, data: Data, hosts: readonly string[]): Promise<Map<string, { exit: string; output: string }>> {
  const lab = labOf(data);
  const plane = clusterDataPlane(lab);
  const dir = join(base, `${name}-${hosts.length}`);
  mkdirSync(join(dir, "conf"), { recursive: true });
  mkdirSync(join(dir, "secrets"), { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, "hosts"), `127.0.0.1 localhost\n${hosts.map((h) => `127.0.0.1 ${h}`).join("\n")}\n`);
  for (const m of plane.mediaServers) writeFileSync(join(dir, "secrets", DATA_PLANE_SECRET.notifyInclude(m.name)), renderMediaNotifyConf(plane, m, "notify-secret-of-the-test"), { mode: 0o600 });
  // With an ABR ladder the Secret also holds the transcoder's preset and each server's abr include.
  if (lab.media.abr.length > 0) {
    writeFileSync(join(dir, "secrets", DATA_PLANE_SECRET.transcoderPreset), renderTranscoderPreset(transcoderCredentialOf("notify-secret-of-the-test")), { mode: 0o600 });
    for (const m of plane.mediaServers) writeFileSync(join(dir, "secrets", DATA_PLANE_SECRET.abrNotifyInclude(m.name)), renderAbrNotifyConf(plane, m, "notify-secret-of-the-test"), { mode: 0o600 });
  }
  const files = renderDataPlane(lab, fixedPaths()).filter((f) => f.path.startsWith("nginx/"));
  for (const f of files) writeFileSync(join(dir, "conf", f.path.slice("nginx/".length)), f.content);
  const record = lab.media.record === undefined ? "" : `/var/lib/edgelab/${lab.media.record.path}`;
  const { stdout } = await exec("unshare", ["-m", "sh", "-c", SCRIPT], { env: { ...process.env, T: dir, RECORD: record } });
  const results = new Map<string, { exit: string; output: string }>();
  for (const block of stdout.split(/^=== (?=\S+\n)/m).slice(1)) {
    const [file = "", ...rest] = block.split("\n");
    const text = rest.join("\n");
    results.set(file, { exit: /=== exit (\d+)/.exec(text)?.[1] ?? "?", output: text });
  }
  expect([...results.keys()].sort()).toEqual(files.map((f) => f.path.slice("nginx/".length)).sort());
  return results;
}

describe("nginx -t, cluster placement", () => {
  const labs = [...CLUSTER_LABS, { name: "abr-recording", data: abrClusterData }];
  for (const { name, data } of labs) {
    it(`accepts every file of the ${name} lab, with the Services resolving`, async () => {
      const results = await nginxT(name, data(), serviceNames(clusterDataPlane(labOf(data()))));
      expect(results.size).toBeGreaterThanOrEqual(3);
      for (const [file, r] of results) {
        expect(r.output, file).toMatch(/syntax is ok[\s\S]*test is successful/);
        expect(r.exit, file).toBe("0");
      }
    });
  }

  it("the files really name the Services: without them in the hosts file nginx refuses the origin front and the edges", async () => {
    const results = await nginxT("unresolved", labData(), []);
    for (const file of ["origin.conf", "edge-west-worker.conf", "edge-east-worker.conf", "media-0.conf"]) {
      expect(results.get(file)?.exit, file).not.toBe("0");
      expect(results.get(file)?.output, file).toMatch(/host not found/);
    }
  });
});

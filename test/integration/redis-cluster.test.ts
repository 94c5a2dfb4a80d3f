/**
 * The cluster's redis configuration (ConfigMap `redis`) with the real redis-server: it takes its
 * password from the Secret's include at /run/secrets/edgelab, so the rendered file holds none.
 * Runs in private mount and network namespaces (loopback only); both go away with the process.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { clusterRedisConf } from "../../src/render/k8s.js";

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "edgelab-redis-cluster-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SCRIPT = `
set -e
ip link set lo up
mount --make-rprivate /
mount --bind "$T" /mnt
for d in /run /tmp; do mount -t tmpfs -o mode=0755 tmpfs "$d"; done
mkdir -p /run/secrets/edgelab
cp /mnt/redis-auth.conf /run/secrets/edgelab/redis-auth.conf
redis-server /mnt/redis.conf > /mnt/redis.log 2>&1 &
pid=$!
trap 'kill $pid; wait $pid 2>/dev/null || true' EXIT
for i in $(seq 1 50); do redis-cli -p 6379 ping >/dev/null 2>&1 && break || true; sleep 0.1; done
echo "without: $(redis-cli -p 6379 ping 2>&1)"
echo "wrong: $(REDISCLI_AUTH=wrong-password redis-cli -p 6379 ping 2>&1)"
echo "with: $(REDISCLI_AUTH="$PW" redis-cli -p 6379 ping 2>&1)"
echo "config: $(REDISCLI_AUTH="$PW" redis-cli -p 6379 config get requirepass 2>&1)"
`;

describe("redis, cluster placement", () => {
  it("requires the password of the Secret's include and refuses CONFIG", async () => {
    const conf = clusterRedisConf();
    expect(conf).not.toMatch(/requirepass/);
    const password = "the-password-of-the-test";
    writeFileSync(join(dir, "redis.conf"), conf);
    writeFileSync(join(dir, "redis-auth.conf"), `requirepass ${password}\n`, { mode: 0o644 });
    const { stdout } = await exec("unshare", ["-m", "-n", "sh", "-c", SCRIPT], { env: { ...process.env, T: dir, PW: password }, timeout: 30_000 });
    expect(stdout).toMatch(/^without: NOAUTH/m);
    expect(stdout).toMatch(/^wrong: (WRONGPASS|ERR invalid password|AUTH failed)/m);
    expect(stdout).toMatch(/^with: PONG$/m);
    expect(stdout).toMatch(/^config: ERR unknown command/m);
  });
});

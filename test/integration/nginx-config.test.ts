/** Every rendered configuration passes `nginx -t` with Debian's nginx and rtmp module. */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { defaultEnvironment } from "../../src/render/environment.js";
import { abrNotifyIncludePath, nginxDirectories, notifyIncludePath, renderAbrNotifyConf, renderMediaNotifyConf, renderNginx } from "../../src/render/nginx.js";
import { abrData, fixedPaths, labFrom, localDataPlane } from "../helpers/dataplane.js";
import { localData, vars } from "../helpers/inventory.js";

const exec = promisify(execFile);
const base = mkdtempSync(join(tmpdir(), "edgelab-nginx-t-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

const variants: [string, Record<string, unknown>][] = [
  ["local lab", localData()],
  ["ABR, recording, relay, static pull", abrData()],
  ["no DASH, RTMP playback, custom TTLs", (() => {
    const d = localData();
    vars(d)["media"] = { dash: { enabled: false }, rtmp_playback: true, servers: 3 };
    vars(d)["edge"] = { playlist_ttl: 2, segment_ttl: 30, cache_mb: 32 };
    return d;
  })()],
];

describe("nginx -t", () => {
  for (const [name, data] of variants) {
    it(`accepts every configuration for: ${name}`, async () => {
      const lab = labFrom(data);
      const dir = join(base, name.replace(/\W+/g, "-"));
      const paths = fixedPaths(dir);
      const plane = localDataPlane(lab);
      for (const d of nginxDirectories(lab, plane, paths)) mkdirSync(d, { recursive: true });
      // The media servers' callbacks with their secrets: written beside the other secrets (0600).
      mkdirSync(paths.secrets, { recursive: true, mode: 0o700 });
      for (const m of plane.mediaServers) {
        writeFileSync(notifyIncludePath(paths, m), renderMediaNotifyConf(plane, m, `secret-of-${m.name}`), { mode: 0o600 });
        writeFileSync(abrNotifyIncludePath(paths, m), renderAbrNotifyConf(plane, m, `secret-of-${m.name}`), { mode: 0o600 });
      }
      const files = renderNginx(lab, plane, paths, defaultEnvironment());
      expect(files.length).toBeGreaterThanOrEqual(4);
      for (const f of files) {
        const conf = join(dir, f.path.replace("/", "-"));
        writeFileSync(conf, f.content);
        const { stderr } = await exec("nginx", ["-t", "-p", dir, "-e", join(dir, "test.err"), "-c", conf]);
        expect(stderr, f.path).toMatch(/syntax is ok[\s\S]*test is successful/);
      }
    });
  }
});

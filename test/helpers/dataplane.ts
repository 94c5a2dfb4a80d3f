/** Data-plane fixtures: a lab model, its plane and fixed paths, for renderer tests. */
import { localDataPlane } from "../../src/model/dataplane.js";
import { buildLab, type Lab } from "../../src/model/lab.js";
import { DEBIAN_FFMPEG, DEBIAN_RTMP_MODULE, type NginxPaths } from "../../src/render/nginx.js";
import { check, type Data } from "./inventory.js";

export function labFrom(data: Data | string): Lab {
  const result = check(data);
  if (result.facts === undefined) throw new Error(result.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  return buildLab(result.facts);
}

export function fixedPaths(base = "/var/lib/edgelab"): NginxPaths {
  return { run: `${base}/run`, logs: `${base}/logs`, tmp: `${base}/tmp`, media: `${base}/media`, cache: `${base}/cache`, player: `${base}/player`, rtmpModule: DEBIAN_RTMP_MODULE, ffmpeg: DEBIAN_FFMPEG, state: base };
}

export { localDataPlane };

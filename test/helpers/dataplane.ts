/** Data-plane fixtures: a lab model, its plane and fixed paths, for renderer tests. */
import { localDataPlane } from "../../src/model/dataplane.js";
import { buildLab, type Lab } from "../../src/model/lab.js";
import { DEBIAN_FFMPEG, DEBIAN_RTMP_MODULE, type NginxPaths } from "../../src/render/nginx.js";
import { check, localData, vars, type Data } from "./inventory.js";

export function labFrom(data: Data | string): Lab {
  const result = check(data);
  if (result.facts === undefined) throw new Error(result.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  return buildLab(result.facts);
}

export function fixedPaths(base = "/var/lib/edgelab"): NginxPaths {
  return { run: `${base}/run`, logs: `${base}/logs`, tmp: `${base}/tmp`, media: `${base}/media`, cache: `${base}/cache`, player: `${base}/player`, rtmpModule: DEBIAN_RTMP_MODULE, ffmpeg: DEBIAN_FFMPEG, state: base, status: `${base}/status`, secrets: `${base}/secrets`, workerSecrets: `${base}/transcoder` };
}

/** The local lab with an ABR ladder, recording, a relay and a static RTMP pull. */
export function abrData(): Data {
  const data = localData();
  vars(data)["media"] = {
    servers: 1,
    abr: [
      { name: "360p", width: 640, height: 360, video_kbps: 800 },
      { name: "240p", width: 426, height: 240, video_kbps: 400, audio_kbps: 64 },
    ],
    record: { path: "recordings" },
    push: ["rtmp://127.0.0.1:19999/relay"],
  };
  vars(data)["streams"] = [{ name: "live" }, { name: "cam", source: { type: "url", url: "rtmp://127.0.0.1:19998/cam/1" } }];
  return data;
}

export { localDataPlane };

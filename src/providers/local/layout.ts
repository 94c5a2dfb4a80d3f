/** Where the local lab keeps its files: .edgelab/ beside the inventory. Pure. */
import { join } from "node:path";
import { DEBIAN_FFMPEG, DEBIAN_RTMP_MODULE, type NginxPaths } from "../../render/nginx.js";

export interface LocalLayout {
  /** <inventory dir>/.edgelab */
  readonly root: string;
  /** <root>/local: everything the running lab uses. */
  readonly state: string;
  readonly conf: string;
  readonly secrets: string;
  /** The supervisor's process list (holds stream keys: mode 0600). */
  readonly specFile: string;
  /** What runs: written by the supervisor, read by status/down. */
  readonly stateFile: string;
  readonly supervisorLog: string;
  readonly nginx: NginxPaths;
}

export function localLayout(inventoryDir: string): LocalLayout {
  const root = join(inventoryDir, ".edgelab");
  const state = join(root, "local");
  return {
    root,
    state,
    conf: join(state, "conf"),
    secrets: join(root, "secrets"),
    specFile: join(state, "supervisor.json"),
    stateFile: join(state, "state.json"),
    supervisorLog: join(state, "logs", "supervisor.log"),
    nginx: {
      run: join(state, "run"),
      logs: join(state, "logs"),
      tmp: join(state, "tmp"),
      media: join(state, "media"),
      cache: join(state, "cache"),
      player: join(state, "player"),
      rtmpModule: DEBIAN_RTMP_MODULE,
      ffmpeg: DEBIAN_FFMPEG,
      state,
    },
  };
}

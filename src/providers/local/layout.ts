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
  /** redis's configuration, password included (0600; given to redis on its standard input). */
  readonly redisConf: string;
  /**
   * The router's own files: its configuration and redis password (0700, owned by the user the
   * router runs as). The router reaches it through a descriptor the supervisor opens for it.
   */
  readonly router: string;
  readonly nginx: NginxPaths;
}

/** Names of the lab's generated secrets (files under `secrets`, see pipeline/secrets.ts). */
export const secretIds = {
  /** The user's publishing key of a stream ({generate: true}). */
  streamKey: (stream: string): string => `stream-${stream}`,
  /** The key minted for one lab run's test source of a stream (deleted by `down`). */
  sourceKey: (stream: string): string => `source-${stream}`,
  /** A media server's secret for its callbacks to the router. */
  mediaServer: (server: string): string => `media-${server}`,
  redisPassword: "redis-password",
  /** The ABR transcoder's credential for publishing renditions. */
  transcoder: "abr-transcoder",
} as const;

export function localLayout(inventoryDir: string): LocalLayout {
  const root = join(inventoryDir, ".edgelab");
  const state = join(root, "local");
  const secrets = join(root, "secrets");
  return {
    root,
    state,
    conf: join(state, "conf"),
    secrets,
    specFile: join(state, "supervisor.json"),
    stateFile: join(state, "state.json"),
    supervisorLog: join(state, "logs", "supervisor.log"),
    redisConf: join(secrets, "redis.conf"),
    router: join(state, "router"),
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
      status: join(state, "status"),
      secrets,
      workerSecrets: join(state, "transcoder"),
    },
  };
}

/** The router's configuration file. */
export function routerConfigFile(layout: LocalLayout): string {
  return join(layout.router, "router.json");
}

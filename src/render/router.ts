/**
 * The stream-key router's configuration in the cluster placement. Pure. It names the files that
 * hold secrets (mounted from the Kubernetes Secret) instead of holding them: the rendered file
 * carries no secret and no digest of one.
 */
import type { DataPlane } from "../model/dataplane.js";
import { mediaPodHost } from "../model/dataplane.js";
import { publisherOf, type Lab } from "../model/lab.js";
import { ROUTER_DEFAULTS, type RouterConfigFile } from "../media/routing.js";
import type { Artifact } from "./artifact.js";

/** Where the cluster's pods find the Secret's files (Secret `edgelab-data-plane`, read-only). */
export const CLUSTER_SECRETS_DIR = "/run/secrets/edgelab";

/** The Kubernetes Secret deploy builds; its keys are the files under CLUSTER_SECRETS_DIR. */
export const DATA_PLANE_SECRET = {
  name: "edgelab-data-plane",
  /** redis's password (the router's redis.passwordFile). */
  redisPassword: "redis-password",
  /** The same password as redis reads it: the line `requirepass <password>` (redis.conf includes it). */
  redisAuth: "redis-auth.conf",
  /** The media servers' secret for their callbacks to the router (one for all of them). */
  notifySecret: "notify-secret",
  /** A media server's on_publish include: renderMediaNotifyConf(clusterDataPlane(lab), server, notify secret). */
  notifyInclude: (server: string): string => `${server}-notify.conf`,
  /** A media server's `abr` application include: renderAbrNotifyConf(clusterDataPlane(lab), server, notify secret). */
  abrNotifyInclude: (server: string): string => `${server}-abr-notify.conf`,
  /** The ABR transcoder's credential (transcoderCredentialOf(notify secret)); the router keeps its SHA-256. */
  transcoderCredential: "transcoder-credential",
  /** The ffmpeg preset the transcoder publishes with: renderTranscoderPreset(credential). */
  transcoderPreset: "transcoder.ffpreset",
  /** A stream's publishing key, hashed: KeyHash JSON (hashKey(key)). */
  streamKey: (stream: string): string => `stream-${stream}.key.json`,
} as const;

/** Where the router's configuration is mounted (ConfigMap `router`). */
export const CLUSTER_ROUTER_CONFIG = "/etc/edgelab/router/router.json";

/** The playlist whose advance says a stream is live (the first rendition's with ABR). */
export function watchedPlaylist(lab: Lab, stream: string): string {
  const first = lab.media.abr[0];
  return `/hls/${first === undefined ? stream : `${stream}_${first.name}`}/index.m3u8`;
}

export function clusterRouterConfig(lab: Lab, plane: DataPlane): RouterConfigFile {
  if (plane.placement !== "cluster" || plane.statusPort === undefined) throw new Error("the router's cluster configuration needs the cluster placement");
  const statusPort = plane.statusPort;
  const secret = (key: string): string => `${CLUSTER_SECRETS_DIR}/${key}`;
  return {
    listen: { host: "0.0.0.0", port: plane.router.port },
    redis: { ...plane.redis, passwordFile: secret(DATA_PLANE_SECRET.redisPassword) },
    servers: plane.mediaServers.map((m) => ({
      name: m.name,
      secretFile: secret(DATA_PLANE_SECRET.notifySecret),
      http: m.http,
      // The status port is in no Service: the pod itself, through the headless Service.
      stat: { host: mediaPodHost(m), port: statusPort },
    })),
    streams: lab.streams.map((s) => {
      const placement = plane.streams.find((p) => p.name === s.name);
      const publisher = publisherOf(s);
      return {
        name: s.name,
        publisher,
        ...(publisher === "pull" ? { staticServer: placement?.server } : { keyFile: secret(DATA_PLANE_SECRET.streamKey(s.name)) }),
        playlist: watchedPlaylist(lab, s.name),
      };
    }),
    abrSuffixes: lab.media.abr.map((r) => r.name),
    ...(lab.media.abr.length > 0 ? { transcoderFile: secret(DATA_PLANE_SECRET.transcoderCredential) } : {}),
    ...ROUTER_DEFAULTS,
  };
}

/** The Secret's keys the router reads (the files its configuration names). */
export function routerSecretKeys(config: RouterConfigFile): string[] {
  const files = [config.redis.passwordFile, ...config.servers.map((s) => s.secretFile), ...config.streams.map((s) => s.keyFile), config.transcoderFile];
  const keys = files.flatMap((f) => (f?.startsWith(`${CLUSTER_SECRETS_DIR}/`) === true ? [f.slice(CLUSTER_SECRETS_DIR.length + 1)] : []));
  return [...new Set(keys)];
}

export function renderClusterRouter(lab: Lab, plane: DataPlane): Artifact {
  return { path: "router/router.json", content: `${JSON.stringify(clusterRouterConfig(lab, plane), null, 2)}\n`, mode: 0o644, family: "nginx" };
}

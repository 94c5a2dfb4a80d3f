/**
 * What edgelab's two container images are made of, as data (pure): the Debian root filesystem
 * (packages, the unprivileged user), what edgelab adds on top (the stream-key router and its
 * Node.js runtime in the origin), and the image configuration (user, command, ports, labels).
 * `src/images/build.ts` turns these into images; the tests and the manifests rely on the same
 * constants (uid, paths, commands).
 *
 * Nothing from an inventory is baked in: the configurations are mounted under /etc/edgelab/
 * (ConfigMaps), secrets under /run/secrets/edgelab/, and the writable paths are tmpfs/emptyDir
 * over a read-only root filesystem.
 */
import type { ImageName } from "../model/images.js";
import type { RootfsSpec } from "./rootfs.js";

/** The unprivileged user and group every container runs as. */
export const IMAGE_USER = "edgelab";
export const IMAGE_UID = 10101;
export const IMAGE_GID = 10101;

/** Mounted read-only by the pods: rendered configurations, secrets. */
export const CONFIG_DIR = "/etc/edgelab";
export const SECRETS_DIR = "/run/secrets/edgelab";
/** Writable (tmpfs / emptyDir) over the read-only root filesystem. */
export const WRITABLE_PATHS = ["/tmp", "/run/edgelab", "/var/cache/edgelab", "/var/lib/edgelab"] as const;

/** Where the edge image keeps the player page (CLUSTER_NGINX_PATHS.player serves it at /player/). */
export const PLAYER_DIR = "/usr/share/edgelab/player";

/** Where the origin image keeps the router (dist/ + the production modules it imports). */
export const ROUTER_HOME = "/opt/edgelab";
export const NODE_PATH_IN_IMAGE = "/usr/local/bin/node";
export const ROUTER_WRAPPER = "/usr/local/bin/edgelab-router";
/** The router's entry point, relative to the package root (same file the local lab runs). */
export const ROUTER_ENTRY = "dist/media/router-server.js";

export const DEBIAN_SUITE = "bookworm";

/** Packages of each image's root filesystem (with their dependencies, without recommends). */
export const IMAGE_PACKAGES: Readonly<Record<ImageName, readonly string[]>> = {
  origin: ["nginx", "libnginx-mod-rtmp", "ffmpeg", "redis-server", "ca-certificates"],
  edge: ["nginx", "ca-certificates"],
};

/**
 * Shell commands for mmdebstrap's customize phase ($1 = the new root): the unprivileged user
 * (no login shell, no home), no package caches or logs, the default sites of the packages gone
 * (every nginx runs with `-c` on a mounted file; nothing should listen on :80 by accident).
 */
export function imageCustomize(): string[] {
  return [
    `echo '${IMAGE_USER}:x:${IMAGE_GID}:' >> "$1/etc/group"`,
    `echo '${IMAGE_USER}:x:${IMAGE_UID}:${IMAGE_GID}:edgelab:/nonexistent:/usr/sbin/nologin' >> "$1/etc/passwd"`,
    `echo '${IMAGE_USER}:!:19000::::::' >> "$1/etc/shadow"`,
    'rm -rf "$1"/etc/nginx/sites-enabled/* "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*.log "$1"/var/log/apt "$1"/var/cache/debconf/*-old "$1"/var/lib/dpkg/*-old',
  ];
}

/** The Debian root filesystem of an image (mmdebstrap, cached by its hash). */
export function imageRootfsSpec(name: ImageName): RootfsSpec {
  return { suite: DEBIAN_SUITE, variant: "essential", packages: [...IMAGE_PACKAGES[name]], customize: imageCustomize() };
}

/**
 * The default command: an image run without one serves its main nginx configuration. The
 * rendered configurations say `daemon off;` themselves (a second one on the command line would
 * be refused as a duplicate); `-e stderr` keeps nginx from opening its compiled-in error log
 * under the read-only /var/log before it reads the configuration.
 */
export const DEFAULT_COMMAND: Readonly<Record<ImageName, readonly string[]>> = {
  edge: ["/usr/sbin/nginx", "-e", "stderr", "-c", `${CONFIG_DIR}/nginx/edge.conf`],
  origin: ["/usr/sbin/nginx", "-e", "stderr", "-c", `${CONFIG_DIR}/nginx/origin.conf`],
};

/** Container ports (documentation in the image; the manifests declare their own). */
export const IMAGE_PORTS: Readonly<Record<ImageName, readonly string[]>> = {
  edge: ["8080/tcp"],
  origin: ["8080/tcp", "1935/tcp", "8090/tcp", "6379/tcp"],
};

export interface ImageLabels {
  readonly version: string;
  readonly revision: string;
  readonly source: string | undefined;
  /** The content hash the image was built from (the cache key). */
  readonly buildKey: string;
}

/** OCI annotations/labels of an image. */
export function imageLabels(name: ImageName, l: ImageLabels): Record<string, string> {
  return {
    "org.opencontainers.image.title": `edgelab-${name}`,
    "org.opencontainers.image.description": name === "edge" ? "edgelab edge cache: nginx" : "edgelab origin: nginx with the RTMP module, ffmpeg, the stream-key router, redis",
    "org.opencontainers.image.version": l.version,
    "org.opencontainers.image.revision": l.revision,
    "org.opencontainers.image.licenses": "GPL-3.0-or-later",
    ...(l.source !== undefined ? { "org.opencontainers.image.source": l.source } : {}),
    "dev.edgelab.build-key": l.buildKey,
  };
}

/** `buildah config` arguments for an image (after the container name is appended). */
export function buildahConfigArgs(name: ImageName, labels: Readonly<Record<string, string>>): string[] {
  return [
    "--user", `${IMAGE_UID}:${IMAGE_GID}`,
    "--workingdir", "/",
    "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "--env", "LC_ALL=C.UTF-8",
    "--stop-signal", "SIGQUIT",
    "--entrypoint", "[]",
    "--cmd", JSON.stringify(DEFAULT_COMMAND[name]),
    ...IMAGE_PORTS[name].flatMap((p) => ["--port", p]),
    ...Object.entries(labels).flatMap(([k, v]) => ["--label", `${k}=${v}`, "--annotation", `${k}=${v}`]),
  ];
}

/** The router's wrapper script: same arguments as the local lab's supervisor passes the router. */
export function routerWrapper(nodeOptions: readonly string[]): string {
  return ["#!/bin/sh", "# edgelab's stream-key router (see /opt/edgelab).", `exec ${NODE_PATH_IN_IMAGE} ${nodeOptions.join(" ")} ${ROUTER_HOME}/${ROUTER_ENTRY} "$@"`, ""].join("\n");
}

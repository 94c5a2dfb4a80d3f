/**
 * `edgelab images build`: the origin and edge images as OCI archives, cached by content.
 *
 * Default builder ("buildah"): the image's Debian root filesystem from mmdebstrap (src/images/
 * rootfs.ts, cached by its spec), edgelab's layer on top (the router and its Node.js in the
 * origin, the mount points), committed with buildah from `scratch` straight into an OCI archive.
 * No registry and no base image are needed, so this works in air-gapped labs.
 * "podman": the same layer over debian:bookworm-slim with images/<name>/Containerfile, for
 * machines that can pull that base image.
 *
 * Every build is keyed by a hash of what goes into it (the rootfs spec, the layer's files, the
 * configuration and labels, the builder); an archive for that key in the cache is reused, so a
 * second build of unchanged sources copies (hard-links) the archive and does nothing else.
 * buildah runs on its own storage under the cache (vfs driver: nothing is mounted), removed after
 * each build, so no container or image is left behind in the machine's container storage.
 */
import { createHash } from "node:crypto";
import { chmodSync, chownSync, copyFileSync, cpSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { z } from "zod";
import { EdgelabError } from "../errors.js";
import { ExecError } from "../exec/errors.js";
import { acquireLock } from "../exec/lock.js";
import { LocalExecutor } from "../exec/local.js";
import type { Executor } from "../exec/types.js";
import { ROUTER_NODE_OPTIONS } from "../media/routing.js";
import { imageArchiveName, imageRef, type ImageName } from "../model/images.js";
import type { Lab } from "../model/lab.js";
import { writeFileAtomic } from "../util/atomic-write.js";
import { stableJson } from "../util/hash.js";
import { routerBundle } from "./router-bundle.js";
import { ensureRootfs, rootfsHash } from "./rootfs.js";
import {
  buildahConfigArgs,
  CONFIG_DIR,
  IMAGE_GID,
  IMAGE_PACKAGES,
  IMAGE_UID,
  imageLabels,
  imageRootfsSpec,
  NODE_PATH_IN_IMAGE,
  PLAYER_DIR,
  ROUTER_HOME,
  ROUTER_WRAPPER,
  routerWrapper,
  SECRETS_DIR,
  WRITABLE_PATHS,
} from "./spec.js";

/** Bumped when the way an image is put together changes (so cached archives are not reused). */
const IMAGE_FORMAT = 1;

export const BUILDERS = ["buildah", "podman"] as const;
export type BuilderName = (typeof BUILDERS)[number];

/** What each builder is, for messages and the result table. */
export const BUILDER_TITLE: Readonly<Record<BuilderName, string>> = {
  buildah: "mmdebstrap + buildah from scratch",
  podman: "podman build (images/<name>/Containerfile)",
};

/** One entry of edgelab's layer: a directory, a file copied from this machine, or a file's text. */
export type LayerEntry =
  | { readonly kind: "dir"; readonly path: string; readonly mode: number; readonly owner: "root" | "edgelab" }
  | { readonly kind: "copy"; readonly path: string; readonly from: string; readonly mode: number }
  | { readonly kind: "text"; readonly path: string; readonly text: string; readonly mode: number };

export interface BuildImagesOptions {
  readonly names: readonly ImageName[];
  readonly lab: Pick<Lab, "images">;
  readonly tag: string;
  /** Absolute: where the archives are written (the inventory's images.archive_dir). */
  readonly archiveDir: string;
  /** Absolute: edgelab's cache (rootfs/ and images/ below it). */
  readonly cacheDir: string;
  /** edgelab's package root (dist/, node_modules/, images/). */
  readonly packageRoot: string;
  /** The Node.js (>= 22) binary the origin image ships. */
  readonly nodeBinary: string;
  readonly revision: string;
  readonly source: string | undefined;
  readonly builder: BuilderName;
  readonly executor?: Executor;
  readonly log: (line: string) => void;
}

export interface BuiltImage {
  readonly name: ImageName;
  readonly ref: string;
  /** The archive in archiveDir. */
  readonly archive: string;
  readonly bytes: number;
  readonly key: string;
  /** True when the archive came from the cache (nothing was built). */
  readonly cached: boolean;
  /** This call's time for the image. */
  readonly seconds: number;
  readonly builder: BuilderName;
}

const CacheManifest = z.object({
  format: z.literal(IMAGE_FORMAT),
  key: z.string(),
  name: z.enum(["origin", "edge"]),
  ref: z.string(),
  archive: z.string(),
  builder: z.enum(BUILDERS),
  builtAt: z.string(),
  buildSeconds: z.number(),
});

/** edgelab's layer of an image: mount points, and in the origin the router with its Node.js. */
export function layerEntries(name: ImageName, packageRoot: string, nodeBinary: string, version: string): LayerEntry[] {
  const entries: LayerEntry[] = [
    { kind: "dir", path: CONFIG_DIR, mode: 0o755, owner: "root" },
    { kind: "dir", path: SECRETS_DIR, mode: 0o755, owner: "root" },
    // Mount points of the writable tmpfs/emptyDir volumes. Sticky and writable by all, like /tmp:
    // podman gives a tmpfs the mode of the directory it covers (but not its owner).
    ...WRITABLE_PATHS.filter((p) => p !== "/tmp").map((path): LayerEntry => ({ kind: "dir", path, mode: 0o1777, owner: "edgelab" })),
  ];
  if (name === "edge") {
    // The player page, as the local lab serves it: the page and hls.js from edgelab's modules.
    entries.push({ kind: "copy", path: `${PLAYER_DIR}/index.html`, from: join(packageRoot, "templates", "player", "index.html"), mode: 0o644 });
    entries.push({ kind: "copy", path: `${PLAYER_DIR}/hls.min.js`, from: join(packageRoot, "node_modules", "hls.js", "dist", "hls.min.js"), mode: 0o644 });
  }
  if (name === "origin") {
    entries.push({ kind: "copy", path: NODE_PATH_IN_IMAGE, from: nodeBinary, mode: 0o755 });
    entries.push({ kind: "text", path: ROUTER_WRAPPER, text: routerWrapper(ROUTER_NODE_OPTIONS), mode: 0o755 });
    entries.push({ kind: "text", path: `${ROUTER_HOME}/package.json`, text: `${JSON.stringify({ name: "edgelab-router", version, private: true, type: "module", license: "GPL-3.0-or-later" }, null, 2)}\n`, mode: 0o644 });
    for (const f of routerBundle(packageRoot)) entries.push({ kind: "copy", path: `${ROUTER_HOME}/${f.to}`, from: f.from, mode: 0o644 });
  }
  return entries;
}

function fileDigest(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** The cache key of an image: everything that ends up in it, hashed (16 hex digits). */
export function imageKey(input: { name: ImageName; builder: BuilderName; ref: string; labels: Readonly<Record<string, string>>; layer: readonly LayerEntry[] }): string {
  const layer = input.layer.map((e) => (e.kind === "copy" ? { ...e, from: undefined, sha256: fileDigest(e.from) } : e));
  return createHash("sha256")
    .update(stableJson({ format: IMAGE_FORMAT, name: input.name, builder: input.builder, ref: input.ref, rootfs: input.builder === "buildah" ? rootfsHash(imageRootfsSpec(input.name)) : IMAGE_PACKAGES[input.name], labels: input.labels, config: buildahConfigArgs(input.name, {}), layer }))
    .digest("hex")
    .slice(0, 16);
}

/** Writes the layer's entries under `root` (a mounted container or a build context). */
export function writeLayer(root: string, entries: readonly LayerEntry[], chown: boolean): void {
  for (const e of entries) {
    const target = join(root, e.path);
    if (e.kind === "dir") {
      mkdirSync(target, { recursive: true });
      chmodSync(target, e.mode);
      if (chown && e.owner === "edgelab") chownSync(target, IMAGE_UID, IMAGE_GID);
      continue;
    }
    mkdirSync(dirname(target), { recursive: true });
    if (e.kind === "copy") copyFileSync(e.from, target);
    else writeFileSync(target, e.text);
    chmodSync(target, e.mode);
  }
}

/** A step of one image's build: its failure names the image and the step. */
async function step<T>(name: ImageName, what: string, log: (line: string) => void, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  log(`${name}: ${what}`);
  // Long steps say they are still running (mmdebstrap of the origin takes about a minute).
  const timer = setInterval(() => log(`${name}: ${what} (${Math.round((Date.now() - started) / 1000)} s)`), 15_000);
  timer.unref();
  try {
    return await work();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const hint = error instanceof EdgelabError ? error.hint : undefined;
    throw new EdgelabError(`building the ${name} image failed at step "${what}": ${message}`, { hint: hint ?? "Run `edgelab images build -v` for the full error; every external command's output is in the message.", cause: error });
  } finally {
    clearInterval(timer);
  }
}

function readManifest(file: string): z.infer<typeof CacheManifest> | undefined {
  if (!existsSync(file)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    // A torn or hand-edited manifest: the archive is rebuilt.
    return undefined;
  }
  const parsed = CacheManifest.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}

/** How many cached builds of each image are kept (older ones are removed after a new build). */
const KEPT_BUILDS = 2;

/**
 * Removes all but the newest `keep` cached builds of `name`. Archives already placed in an
 * archive directory are hard links (or copies) and stay valid.
 */
function pruneCache(dir: string, name: ImageName, keep: number, log: (line: string) => void): void {
  const builds = readdirSync(dir)
    .filter((f) => /^[0-9a-f]{16}\.json$/.test(f))
    .flatMap((f) => {
      const m = readManifest(join(dir, f));
      return m !== undefined && m.name === name ? [m] : [];
    })
    .sort((a, b) => (a.builtAt < b.builtAt ? 1 : -1));
  for (const old of builds.slice(keep)) {
    rmSync(join(dir, old.key), { recursive: true, force: true });
    rmSync(join(dir, `${old.key}.json`), { force: true });
    log(`${name}: removed the older cached build ${old.key} (${old.builtAt})`);
  }
}

/** Places `source` at `target` (a hard link when on the same filesystem, else a copy), atomically. */
function install(source: string, target: string): void {
  mkdirSync(dirname(target), { recursive: true });
  const temp = `${target}.${process.pid}.tmp`;
  rmSync(temp, { force: true });
  try {
    linkSync(source, temp);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "EXDEV" && code !== "EPERM" && code !== "EMLINK") throw error;
    copyFileSync(source, temp);
  }
  renameSync(temp, target);
}

function buildahArgs(storage: string): string[] {
  return ["buildah", "--root", join(storage, "root"), "--runroot", join(storage, "run"), "--storage-driver", "vfs"];
}

async function buildWithBuildah(o: BuildImagesOptions, name: ImageName, ref: string, labels: Record<string, string>, layer: readonly LayerEntry[], archive: string, exec: Executor): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new EdgelabError("the buildah builder needs root here (mmdebstrap builds the root filesystem as root, buildah mounts the container)", { hint: "Run `edgelab images build` as root (e.g. with sudo), or use `--builder podman` where podman can pull debian:bookworm-slim." });
  }
  const rootfs = await step(name, `Debian ${imageRootfsSpec(name).suite} root filesystem with mmdebstrap (${IMAGE_PACKAGES[name].join(", ")})`, o.log, () =>
    ensureRootfs(imageRootfsSpec(name), { cacheDir: join(o.cacheDir, "rootfs"), executor: exec, log: o.log }),
  );
  o.log(`${name}: root filesystem ${rootfs.hash} ${rootfs.built ? `built in ${rootfs.buildSeconds} s` : "from the cache"}`);
  const storage = join(o.cacheDir, "images", `.buildah-${process.pid}-${name}`);
  rmSync(storage, { recursive: true, force: true });
  mkdirSync(storage, { recursive: true, mode: 0o700 });
  const buildah = buildahArgs(storage);
  const container = `edgelab-build-${name}-${process.pid}`;
  try {
    await step(name, "buildah: container from scratch", o.log, () => exec.run([...buildah, "from", "--name", container, "scratch"]));
    const mount = (await step(name, "buildah: mount", o.log, () => exec.run([...buildah, "mount", container]))).stdout.trim();
    await step(name, "copy the root filesystem and edgelab's layer", o.log, async () => {
      await exec.run(["cp", "-a", `${rootfs.path}/.`, `${mount}/`], { timeoutMs: 10 * 60_000 });
      writeLayer(mount, layer, true);
    });
    await step(name, "buildah: configure (user, command, labels)", o.log, () => exec.run([...buildah, "config", ...buildahConfigArgs(name, labels), container]));
    await step(name, `buildah: commit to an OCI archive`, o.log, () =>
      exec.run([...buildah, "commit", "--quiet", "--format", "oci", "--disable-compression=false", "--rm", container, `oci-archive:${archive}:${ref}`], { timeoutMs: 20 * 60_000 }),
    );
  } finally {
    // Storage of this build only: its container and image go with it (vfs mounts nothing).
    await exec.run([...buildah, "rm", "--all"], { allowFailure: true }).catch((error: unknown) => o.log(`${name}: cleaning buildah's storage: ${error instanceof Error ? error.message : String(error)}`));
    rmSync(storage, { recursive: true, force: true });
  }
}

async function buildWithPodman(o: BuildImagesOptions, name: ImageName, ref: string, labels: Record<string, string>, layer: readonly LayerEntry[], archive: string, exec: Executor): Promise<void> {
  const context = join(o.cacheDir, "images", `.context-${process.pid}-${name}`);
  rmSync(context, { recursive: true, force: true });
  mkdirSync(context, { recursive: true });
  const storage = join(o.cacheDir, "images", `.podman-${process.pid}-${name}`);
  const podman = ["podman", "--root", join(storage, "root"), "--runroot", join(storage, "run"), "--storage-driver", "vfs"];
  try {
    await step(name, "build context (Containerfile and edgelab's layer)", o.log, () => {
      cpSync(join(o.packageRoot, "images", name, "Containerfile"), join(context, "Containerfile"));
      writeLayer(join(context, "layer"), layer, false);
      return Promise.resolve();
    });
    await step(name, "podman build (pulls debian:bookworm-slim)", o.log, () =>
      exec.run([...podman, "build", "--format", "oci", "--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000", ...Object.entries(labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]), "--tag", ref, context], { timeoutMs: 30 * 60_000 }),
    );
    await step(name, "podman save as an OCI archive", o.log, () => exec.run([...podman, "save", "--format", "oci-archive", "--output", archive, ref], { timeoutMs: 10 * 60_000 }));
  } finally {
    await exec.run([...podman, "rmi", "--all", "--force"], { allowFailure: true }).catch((error: unknown) => o.log(`${name}: cleaning podman's storage: ${error instanceof Error ? error.message : String(error)}`));
    rmSync(context, { recursive: true, force: true });
    rmSync(storage, { recursive: true, force: true });
  }
}

/** Builds (or takes from the cache) each image and writes its archive into archiveDir. */
export async function buildImages(o: BuildImagesOptions): Promise<BuiltImage[]> {
  const exec = o.executor ?? new LocalExecutor();
  const out: BuiltImage[] = [];
  for (const name of o.names) {
    const started = Date.now();
    const ref = imageRef(o.lab, name, o.tag);
    const layer = layerEntries(name, o.packageRoot, o.nodeBinary, o.tag);
    const labelsWithoutKey = imageLabels(name, { version: o.tag, revision: o.revision, source: o.source, buildKey: "" });
    const key = imageKey({ name, builder: o.builder, ref, labels: labelsWithoutKey, layer });
    const labels = imageLabels(name, { version: o.tag, revision: o.revision, source: o.source, buildKey: key });
    const dir = join(o.cacheDir, "images");
    const cachedArchive = join(dir, key, imageArchiveName(name, o.tag));
    const manifestFile = join(dir, `${key}.json`);
    const hit = (): boolean => readManifest(manifestFile) !== undefined && existsSync(cachedArchive);
    let cached = hit();
    if (!cached) {
      mkdirSync(dir, { recursive: true });
      const lock = await acquireLock(join(dir, `${key}.lock`), { timeoutMs: 60 * 60_000, onWait: () => o.log(`${name}: another process is building the same image; waiting`) });
      try {
        cached = hit();
        if (!cached) {
          o.log(`${name}: building ${ref} with ${BUILDER_TITLE[o.builder]} (key ${key})`);
          const temp = join(dir, `.tmp-${key}-${process.pid}.oci.tar`);
          rmSync(temp, { force: true });
          const t0 = Date.now();
          try {
            if (o.builder === "buildah") await buildWithBuildah(o, name, ref, labels, layer, temp, exec);
            else await buildWithPodman(o, name, ref, labels, layer, temp, exec);
            chmodSync(temp, 0o444);
            mkdirSync(dirname(cachedArchive), { recursive: true });
            renameSync(temp, cachedArchive);
          } finally {
            rmSync(temp, { force: true });
          }
          const manifest: z.infer<typeof CacheManifest> = { format: IMAGE_FORMAT, key, name, ref, archive: cachedArchive, builder: o.builder, builtAt: new Date().toISOString(), buildSeconds: Math.round((Date.now() - t0) / 100) / 10 };
          writeFileAtomic(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`, 0o644);
          pruneCache(dir, name, KEPT_BUILDS, o.log);
        }
      } finally {
        await lock.release();
      }
    }
    const archive = join(o.archiveDir, imageArchiveName(name, o.tag));
    await step(name, `write ${archive}`, o.log, () => {
      install(cachedArchive, archive);
      return Promise.resolve();
    });
    const bytes = statSync(archive).size;
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    o.log(`${name}: ${ref} → ${archive} (${Math.round(bytes / 1e6)} MB, ${cached ? "cached" : `built in ${seconds} s`})`);
    out.push({ name, ref, archive, bytes, key, cached, seconds, builder: o.builder });
  }
  return out;
}

/** The git commit edgelab's sources are at, or "unknown" outside a git checkout. */
export async function sourceRevision(packageRoot: string, exec: Executor = new LocalExecutor()): Promise<string> {
  if (!existsSync(join(packageRoot, ".git"))) return "unknown";
  try {
    const result = await exec.run(["git", "-C", packageRoot, "rev-parse", "HEAD"], { allowFailure: true, timeoutMs: 10_000 });
    const rev = result.stdout.trim();
    return result.exitCode === 0 && /^[0-9a-f]{40}$/.test(rev) ? rev : "unknown";
  } catch (error) {
    if (error instanceof ExecError) return "unknown";
    throw error;
  }
}

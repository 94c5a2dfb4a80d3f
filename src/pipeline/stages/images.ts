/**
 * The images stage (cluster labs), and the one path `edgelab images build` takes too: edgelab's
 * origin and edge images built (or taken from the cache) into the inventory's
 * images.archive_dir, and pushed to its registry when it has one. A lab without a registry gets
 * the archives anyway: the K3s roles import them on every node (air-gapped labs).
 *
 * The stage's inputs are what the images are made of (the image keys: sources, packages,
 * labels, builder) and where they go, so `up` skips it when none of that changed and the
 * archives are still in place.
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { packageVersion } from "../../commands/version.js";
import type { Context } from "../../context.js";
import { BUILDER_TITLE, buildImages, imageKey, layerEntries, sourceRevision, type BuilderName, type BuiltImage } from "../../images/build.js";
import { findNodeRuntime, NODE_PACKAGE, nodeRuntime } from "../../images/node-runtime.js";
import { pushImages, type PushedImage } from "../../images/push.js";
import { imageLabels } from "../../images/spec.js";
import { imageArchiveName, imageRef, IMAGE_NAMES, type ImageName } from "../../model/images.js";
import type { Lab } from "../../model/lab.js";
import { PACKAGE_ROOT } from "../../paths.js";
import { resolveSecret } from "../secrets.js";
import type { PipelineContext, Stage } from "../stage.js";

export interface ImagesRequest {
  readonly names: readonly ImageName[];
  readonly push: boolean;
  readonly builder: BuilderName;
}

export interface ImagesResult {
  readonly built: readonly BuiltImage[];
  readonly pushed: readonly PushedImage[];
  readonly builder: BuilderName;
}

/** edgelab's cache: $EDGELAB_CACHE_DIR, else .cache/ in edgelab's directory (ignored by git). */
export function cacheDir(env: Readonly<Record<string, string | undefined>>): string {
  const fromEnv = env["EDGELAB_CACHE_DIR"];
  return fromEnv !== undefined && fromEnv !== "" ? resolve(fromEnv) : join(PACKAGE_ROOT, ".cache");
}

/** The inventory's images.archive_dir, absolute (relative paths start at the inventory's directory). */
export function archiveDir(lab: Pick<Lab, "images">, inventoryPath: string): string {
  return resolve(dirname(inventoryPath), lab.images.archiveDir);
}

/** Builds the requested images into the archive dir, then pushes them when asked. */
export async function runImages(lab: Lab, inventoryPath: string, ctx: Pick<Context, "env">, request: ImagesRequest, log: (line: string) => void): Promise<ImagesResult> {
  const cache = cacheDir(ctx.env);
  const registry = lab.images.registry;
  // Credentials are resolved before the (long) build, so a missing variable fails at once.
  const password = request.push && registry?.password !== undefined ? resolveSecret(registry.password, "images.registry.password", { env: ctx.env, baseDir: dirname(inventoryPath), secretsDir: join(dirname(inventoryPath), ".edgelab", "secrets") }) : undefined;
  const built = await buildImages({
    names: request.names,
    lab,
    tag: packageVersion(),
    archiveDir: archiveDir(lab, inventoryPath),
    cacheDir: cache,
    packageRoot: PACKAGE_ROOT,
    nodeBinary: request.names.includes("origin") ? await nodeRuntime(PACKAGE_ROOT, cache, log) : "",
    revision: await sourceRevision(PACKAGE_ROOT),
    source: undefined,
    builder: request.builder,
    log,
  });
  const pushed =
    request.push && registry !== undefined
      ? await pushImages(built, { registry, password, caFile: registry.caFile === undefined ? undefined : resolve(dirname(inventoryPath), registry.caFile), log })
      : [];
  return { built, pushed, builder: request.builder };
}

/**
 * Why a lab needs edgelab's images built here: its nodes import the archives (an airgap section)
 * or pull from its registry. Undefined when it needs them; otherwise the reason it does not.
 */
export function imagesNotNeeded(lab: Pick<Lab, "airgap" | "images">): string | undefined {
  if (lab.airgap !== undefined || lab.images.registry !== undefined) return undefined;
  return "the inventory has neither an airgap section (nodes import the archives) nor images.registry (nodes pull from it); run `edgelab images build` to make the archives anyway";
}

/** What the images are made of (their keys) and where they go. */
async function consumed(p: PipelineContext): Promise<Record<string, unknown>> {
  const notNeeded = imagesNotNeeded(p.lab);
  if (notNeeded !== undefined) return { needed: false };
  const tag = packageVersion();
  const revision = await sourceRevision(PACKAGE_ROOT);
  const node = findNodeRuntime(PACKAGE_ROOT, cacheDir(p.ctx.env));
  const keys = IMAGE_NAMES.map((name) =>
    name === "origin" && node === undefined ? `origin with ${NODE_PACKAGE} still to install` : imageKey({ name, builder: "buildah", ref: imageRef(p.lab, name, tag), labels: imageLabels(name, { version: tag, revision, source: undefined, buildKey: "" }), layer: layerEntries(name, PACKAGE_ROOT, node ?? "", tag) }),
  );
  const registry = p.lab.images.registry;
  return { needed: true, keys, archiveDir: archiveDir(p.lab, p.location.path), registry: registry === undefined ? null : { address: registry.address, username: registry.username ?? null } };
}

export const imagesStage: Stage = {
  name: "images",
  title: "origin and edge images (OCI archives; pushed to the registry when the inventory has one)",

  inputs: consumed,
  verify: (p) => {
    if (imagesNotNeeded(p.lab) !== undefined) return Promise.resolve(undefined);
    const dir = archiveDir(p.lab, p.location.path);
    const missing = IMAGE_NAMES.filter((name) => !existsSync(join(dir, imageArchiveName(name, packageVersion()))));
    return Promise.resolve(missing.length > 0 ? `archive${missing.length === 1 ? "" : "s"} missing in ${dir}: ${missing.join(", ")}` : undefined);
  },
  plan: (p) => {
    const notNeeded = imagesNotNeeded(p.lab);
    if (notNeeded !== undefined) return Promise.resolve({ changes: [`nothing: ${notNeeded}`] });
    const dir = archiveDir(p.lab, p.location.path);
    const registry = p.lab.images.registry;
    return Promise.resolve({ changes: [`build ${IMAGE_NAMES.join(", ")} with ${BUILDER_TITLE.buildah} into ${dir}`, ...(registry !== undefined ? [`push them to ${registry.address}`] : [])] });
  },
  apply: async (run) => {
    const { lab, location } = run.p;
    const notNeeded = imagesNotNeeded(lab);
    if (notNeeded !== undefined) return { changes: 0, summary: "not needed by this inventory", skipped: [{ what: "building edgelab's images", reason: notNeeded }] };
    const push = lab.images.registry !== undefined;
    const result = await runImages(lab, location.path, run.p.ctx, { names: IMAGE_NAMES, push, builder: "buildah" }, (message) => run.step({ message }));
    const builtNow = result.built.filter((b) => !b.cached).length;
    return {
      changes: builtNow + result.pushed.length,
      summary: `${result.built.map((b) => `${b.name} ${b.cached ? "cached" : "built"}`).join(", ")}${push ? `, pushed to ${lab.images.registry?.address ?? ""}` : ""}`,
      outputs: Object.fromEntries(
        result.built.flatMap((b): [string, string][] => [[`${b.name}.ref`, b.ref], [`${b.name}.archive`, b.archive], [`${b.name}.key`, b.key], ...result.pushed.filter((x) => x.ref === b.ref).map((x): [string, string] => [`${b.name}.digest`, x.digest])]),
      ),
    };
  },
};

/**
 * Names of edgelab's own container images, shared by `edgelab images build` (which tags and
 * archives them), the rendered Kubernetes manifests (which run them) and the K3s roles (which
 * import the archives in air-gapped labs). Pure.
 *
 * Without a registry in the inventory the images are named under `localhost/edgelab/` — the
 * name podman gives local images, and one containerd keeps as is when K3s imports the archives
 * (a name without a registry host would be rewritten to docker.io/library/...).
 */
import type { Lab } from "./lab.js";

export const IMAGE_NAMES = ["origin", "edge"] as const;
export type ImageName = (typeof IMAGE_NAMES)[number];

export const LOCAL_IMAGE_PREFIX = "localhost/edgelab";

/** The repository an image is tagged with, e.g. `registry.example.com:5000/edgelab/edge`. */
export function imageRepository(lab: Pick<Lab, "images">, name: ImageName): string {
  const registry = lab.images.registry;
  return registry === undefined ? `${LOCAL_IMAGE_PREFIX}/${name}` : `${registry.address}/${name}`;
}

/** The full reference the manifests run: repository and tag (edgelab's version). */
export function imageRef(lab: Pick<Lab, "images">, name: ImageName, tag: string): string {
  return `${imageRepository(lab, name)}:${tag}`;
}

/** File name of an image's OCI archive in `images.archive_dir`. */
export function imageArchiveName(name: ImageName, tag: string): string {
  return `edgelab-${name}-${tag}.oci.tar`;
}

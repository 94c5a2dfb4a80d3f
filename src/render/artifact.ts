/** A rendered file: where it goes, what it holds. Renderers return these; writing is separate. */
export interface Artifact {
  /** Path relative to the output directory, with forward slashes. */
  readonly path: string;
  readonly content: string;
  /** 0o600 for anything holding a secret, else 0o644. */
  readonly mode: number;
  /** Which family produced it (lab, nginx, k3s, cilium, k8s, ansible). */
  readonly family: string;
}

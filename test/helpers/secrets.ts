/**
 * Whether a text (a log, a rendered file) gives a secret away: as it is, or inside a base64 run
 * (what Ansible's slurp, Kubernetes Secrets and many APIs return), decoded.
 */
export function revealsSecret(text: string, secret: string): boolean {
  if (text.includes(secret)) return true;
  for (const [run] of text.matchAll(/[A-Za-z0-9+/]{12,}={0,2}/g)) {
    if (Buffer.from(run, "base64").toString("latin1").includes(secret)) return true;
  }
  return false;
}

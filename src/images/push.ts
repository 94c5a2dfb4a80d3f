/**
 * Pushing the built archives to the inventory's registry with skopeo: TLS always verified (the
 * registry's ca_file added to the system's CAs), credentials from the inventory's secret
 * reference (environment, file or vault) written to a 0600 auth file in a private temporary
 * directory — never on a command line, never logged — and removed afterwards. After each push
 * the registry's manifest digest is read back and compared with what was pushed.
 */
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EdgelabError, EXIT_USAGE } from "../errors.js";
import { LocalExecutor } from "../exec/local.js";
import type { Executor } from "../exec/types.js";
import type { RegistryModel } from "../model/lab.js";
import type { BuiltImage } from "./build.js";

export interface PushOptions {
  readonly registry: RegistryModel;
  /** Resolved password (or token), when the registry has credentials. */
  readonly password: string | undefined;
  /** The CA file, resolved against the inventory's directory. */
  readonly caFile: string | undefined;
  readonly executor?: Executor;
  readonly log: (line: string) => void;
}

export interface PushedImage {
  readonly ref: string;
  readonly digest: string;
}

/** The registry host[:port] of an address such as registry.example.com:5000/edgelab. */
export function registryHost(address: string): string {
  return address.split("/")[0] ?? address;
}

/** The auth file containers/image reads (`auths` by registry host). */
export function authFile(host: string, username: string, password: string): string {
  return `${JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${username}:${password}`).toString("base64") } } })}\n`;
}

/** Removes the secret from a text (a tool's message might echo it). */
function redact(text: string, secret: string | undefined): string {
  return secret === undefined || secret === "" ? text : text.split(secret).join("***");
}

export async function pushImages(images: readonly BuiltImage[], o: PushOptions): Promise<PushedImage[]> {
  const exec = o.executor ?? new LocalExecutor();
  const host = registryHost(o.registry.address);
  if (o.registry.username !== undefined && o.password === undefined) {
    throw new EdgelabError(`registry ${host}: images.registry.username is set but no password`, { hint: "Set images.registry.password to {env: NAME} (or a file/vault reference) and export it.", exitCode: EXIT_USAGE });
  }
  if (o.caFile !== undefined && !existsSync(o.caFile)) {
    throw new EdgelabError(`registry ${host}: ca_file ${o.caFile} does not exist`, { hint: "images.registry.ca_file must name the PEM file of the CA that signed the registry's certificate.", exitCode: EXIT_USAGE });
  }
  const dir = mkdtempSync(join(tmpdir(), "edgelab-push-"));
  try {
    const args = ["--dest-tls-verify=true"];
    if (o.caFile !== undefined) {
      // containers/image trusts every *.crt of --dest-cert-dir as a CA, besides the system's.
      const certDir = join(dir, "certs");
      mkdirSync(certDir);
      copyFileSync(o.caFile, join(certDir, "ca.crt"));
      args.push("--dest-cert-dir", certDir);
    }
    if (o.registry.username !== undefined && o.password !== undefined) {
      const file = join(dir, "auth.json");
      writeFileSync(file, authFile(host, o.registry.username, o.password), { mode: 0o600 });
      args.push("--dest-authfile", file);
    } else {
      // No credentials: an empty auth file, so none of the user's stored logins is sent instead.
      const file = join(dir, "auth.json");
      writeFileSync(file, '{"auths":{}}\n', { mode: 0o600 });
      args.push("--dest-authfile", file);
    }
    const pushed: PushedImage[] = [];
    for (const image of images) {
      o.log(`${image.name}: pushing ${image.ref}`);
      const digestFile = join(dir, `${image.name}.digest`);
      const result = await exec.run(["skopeo", "copy", "--quiet", ...args, "--digestfile", digestFile, `oci-archive:${image.archive}`, `docker://${image.ref}`], { allowFailure: true, timeoutMs: 30 * 60_000 });
      if (result.exitCode !== 0) {
        const message = redact(result.stderr.trim().split("\n").slice(-3).join(" / "), o.password);
        const hint = /unauthorized|authentication required|401/i.test(message)
          ? "Check images.registry.username and the password's environment variable."
          : /x509|certificate/i.test(message)
            ? "The registry's certificate is not trusted: set images.registry.ca_file to the CA that signed it."
            : "Check the registry's address and that it is reachable.";
        throw new EdgelabError(`pushing ${image.ref} to ${host} failed: ${message || `skopeo exited with ${result.exitCode ?? "a signal"}`}`, { hint });
      }
      const digest = readFileSync(digestFile, "utf8").trim();
      // Read back: the registry must now serve this manifest under the tag.
      const inspect = await exec.run(["skopeo", "inspect", "--raw", ...args.map((a) => a.replace("--dest-", "--")), `docker://${image.ref}`], { allowFailure: true, timeoutMs: 120_000 });
      const served = inspect.exitCode === 0 ? `sha256:${createHash("sha256").update(inspect.stdout).digest("hex")}` : undefined;
      if (served !== digest) {
        throw new EdgelabError(`after pushing ${image.ref}, the registry serves ${served ?? `nothing (${redact(inspect.stderr.trim().split("\n").pop() ?? "", o.password)})`} instead of ${digest}`, { hint: "Another push to the same tag may have raced this one; push again." });
      }
      o.log(`${image.name}: pushed ${image.ref}@${digest}`);
      pushed.push({ ref: image.ref, digest });
    }
    return pushed;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

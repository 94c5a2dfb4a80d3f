/**
 * Where the Proxmox API is and how to authenticate, the way this field's tools take it:
 * PROXMOX_URL over the inventory's proxmox.url; PROXMOX_TOKEN_ID + PROXMOX_TOKEN_SECRET, or
 * bpg's combined PROXMOX_VE_API_TOKEN=user@realm!id=secret, over the inventory's token_id /
 * token_secret; the certificate pin from --tls-fingerprint, else PROXMOX_TLS_FINGERPRINT, else
 * proxmox.tls_fingerprint; the CA file from PROXMOX_CA_FILE, else proxmox.ca_file (relative to
 * the inventory's directory). A pin wins over a CA file.
 */
import { dirname, resolve } from "node:path";
import { EdgelabError, EXIT_USAGE } from "../../errors.js";
import type { Lab } from "../../model/lab.js";
import { resolveSecret } from "../../pipeline/secrets.js";
import { normalizeFingerprint, type ProxmoxEndpoint } from "./client.js";

/** What the command line says about the endpoint (parsed at the CLI edge). */
export interface EndpointFlags {
  /** Normalized "AA:BB:..." from --tls-fingerprint. */
  readonly tlsFingerprint?: string | undefined;
}

function fingerprintFrom(value: string | undefined, source: string): string | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  try {
    return normalizeFingerprint(value);
  } catch (err) {
    throw new EdgelabError(`${source}: ${(err as Error).message}`, { hint: (err as EdgelabError).hint, exitCode: EXIT_USAGE });
  }
}

export function resolveEndpoint(lab: Lab, env: Readonly<Record<string, string | undefined>>, inventoryPath: string, flags: EndpointFlags = {}): ProxmoxEndpoint {
  const px = lab.proxmox;
  if (px === undefined) throw new EdgelabError("this inventory has no Proxmox settings (lab.provider is local)", { hint: "Set lab.provider: proxmox and all.vars.proxmox.", exitCode: EXIT_USAGE });
  const url = env["PROXMOX_URL"] ?? px.url;
  let tokenId = env["PROXMOX_TOKEN_ID"] ?? px.tokenId;
  let tokenSecret = env["PROXMOX_TOKEN_SECRET"];
  const combined = env["PROXMOX_VE_API_TOKEN"];
  if (combined !== undefined && combined !== "") {
    const m = /^([^=]+@[^=!]+![^=]+)=(.+)$/.exec(combined);
    if (m === null) throw new EdgelabError("PROXMOX_VE_API_TOKEN is not of the form user@realm!tokenid=secret", { exitCode: EXIT_USAGE });
    tokenId = m[1];
    tokenSecret = m[2];
  }
  if (tokenSecret === undefined && px.tokenSecret !== undefined) {
    const base = dirname(inventoryPath);
    tokenSecret = resolveSecret(px.tokenSecret, "proxmox-token-secret", { env, baseDir: base, secretsDir: `${base}/.edgelab/secrets` });
  }
  const username = env["PROXMOX_USERNAME"] ?? env["PROXMOX_VE_USERNAME"];
  const password = env["PROXMOX_PASSWORD"] ?? env["PROXMOX_VE_PASSWORD"];
  const fingerprint = flags.tlsFingerprint ?? fingerprintFrom(env["PROXMOX_TLS_FINGERPRINT"], "PROXMOX_TLS_FINGERPRINT") ?? fingerprintFrom(px.tlsFingerprint, "proxmox.tls_fingerprint");
  const envCa = env["PROXMOX_CA_FILE"];
  const caFile = envCa !== undefined && envCa !== "" ? envCa : px.caFile === undefined ? undefined : resolve(dirname(inventoryPath), px.caFile);
  const common = { url, fingerprint, caFile, timeoutMs: 30_000 };
  if ((tokenSecret === undefined || tokenSecret === "") && username !== undefined && password !== undefined) return { ...common, username, password };
  if (tokenId === undefined || tokenSecret === undefined || tokenSecret === "") {
    throw new EdgelabError("no Proxmox API token", {
      hint: "export PROXMOX_TOKEN_ID='user@realm!name' PROXMOX_TOKEN_SECRET=<uuid> (or PROXMOX_VE_API_TOKEN='user@realm!name=<uuid>'); create one with: pveum user token add <user> edgelab --privsep 0. A ticket login (PROXMOX_USERNAME + PROXMOX_PASSWORD) works too.",
      exitCode: EXIT_USAGE,
    });
  }
  return { ...common, tokenId, tokenSecret };
}

/**
 * Resolving secret references to values at run time. Values are never printed or logged;
 * generated ones are kept in .edgelab/secrets/ with mode 0600.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { EdgelabError, EXIT_USAGE } from "../errors.js";
import type { SecretRef } from "../inventory/schema.js";
import { generateKey } from "../media/keys.js";
import { writeFileAtomic } from "./artifacts.js";

export interface SecretContext {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Directory of the inventory (relative {file} paths start here). */
  readonly baseDir: string;
  /** Where generated secrets are kept. */
  readonly secretsDir: string;
}

/** Where a generated secret named `id` is kept in the secrets directory. */
export function generatedSecretPath(secretsDir: string, id: string): string {
  return join(secretsDir, id.replace(/[^A-Za-z0-9_.-]/g, "_"));
}

/** Writes a new generated secret (atomically, 0600), replacing the old one; returns it. */
export function replaceGeneratedSecret(secretsDir: string, id: string): string {
  mkdirSync(secretsDir, { recursive: true, mode: 0o700 });
  chmodSync(secretsDir, 0o700);
  const value = generateKey();
  writeFileAtomic(generatedSecretPath(secretsDir, id), `${value}\n`, 0o600);
  return value;
}

/** Resolves `ref`; `id` names the secret in messages and in the secrets directory. */
export function resolveSecret(ref: SecretRef, id: string, ctx: SecretContext): string {
  if (typeof ref === "string") {
    throw new EdgelabError(`secret ${id} is a Jinja reference (${ref.trim()}), which only Ansible can resolve`, {
      hint: "For the local lab use {env: NAME}, {file: path} or {generate: true}.",
      exitCode: EXIT_USAGE,
    });
  }
  if ("env" in ref) {
    const value = ctx.env[ref.env];
    if (value === undefined || value === "") throw new EdgelabError(`secret ${id}: environment variable ${ref.env} is not set`, { hint: `export ${ref.env}=... (it is never printed or logged).`, exitCode: EXIT_USAGE });
    return value;
  }
  if ("file" in ref) {
    const path = isAbsolute(ref.file) ? ref.file : resolve(ctx.baseDir, ref.file);
    let mode: number;
    try {
      mode = statSync(path).mode & 0o777;
    } catch {
      throw new EdgelabError(`secret ${id}: file ${path} does not exist`, { hint: "Create it with mode 0600, holding only the secret.", exitCode: EXIT_USAGE });
    }
    if ((mode & 0o077) !== 0) throw new EdgelabError(`secret ${id}: file ${path} is readable by others (mode ${mode.toString(8)})`, { hint: `chmod 600 ${path}`, exitCode: EXIT_USAGE });
    return readFileSync(path, "utf8").trim();
  }
  if ("generate" in ref) {
    mkdirSync(dirname(ctx.secretsDir), { recursive: true });
    mkdirSync(ctx.secretsDir, { recursive: true, mode: 0o700 });
    chmodSync(ctx.secretsDir, 0o700);
    const file = generatedSecretPath(ctx.secretsDir, id);
    if (existsSync(file)) return readFileSync(file, "utf8").trim();
    const value = generateKey();
    writeFileSync(file, `${value}\n`, { mode: 0o600, flag: "wx" });
    return value;
  }
  throw new EdgelabError(`secret ${id} is Ansible Vault ciphertext, which the local lab does not decrypt`, {
    hint: "Use {env: NAME} or {generate: true} for the local lab, or decrypt with ansible-vault into an environment variable.",
    exitCode: EXIT_USAGE,
  });
}

/**
 * The SSH public keys the wizard offers for cloud-init: the user's ~/.ssh/*.pub (the home
 * directory is given, never read from the process), and any file the user names. Reads files;
 * the checks are the inventory's (util/ssh-public-key.ts), so `edgelab validate` agrees.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { fingerprint } from "../exec/known-hosts.js";
import { checkPublicKeyLine, isPrivateKeyText, publicKeyBits, type ParsedPublicKey } from "../util/ssh-public-key.js";

/** The keys offered first, in this order (what `ssh` itself tries first). */
export const PREFERRED_KEY_FILES = ["id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"] as const;

const TYPE_NAMES: Readonly<Record<string, string>> = {
  "ssh-ed25519": "ED25519",
  "ssh-rsa": "RSA",
  "ecdsa-sha2-nistp256": "ECDSA",
  "ecdsa-sha2-nistp384": "ECDSA",
  "ecdsa-sha2-nistp521": "ECDSA",
  "sk-ssh-ed25519@openssh.com": "ED25519-SK",
  "sk-ecdsa-sha2-nistp256@openssh.com": "ECDSA-SK",
};

/** The key as `ssh-keygen -lf` shows it: "256 SHA256:... you@host (ED25519)". */
export function describeKey(key: ParsedPublicKey): string {
  return `${publicKeyBits(key) ?? "?"} ${fingerprint({ blob: key.key })} ${key.comment === "" ? "no comment" : key.comment} (${TYPE_NAMES[key.type] ?? key.type})`;
}

/** The key line as written to the inventory: type, key data and comment, single-spaced. */
export function keyLine(key: ParsedPublicKey): string {
  return `${key.type} ${key.key}${key.comment === "" ? "" : ` ${key.comment}`}`;
}

export type KeyFileResult = { readonly ok: true; readonly keys: readonly ParsedPublicKey[] } | { readonly ok: false; readonly reason: string; readonly hint: string };

/** `~/x` in `home`; a relative path from `base`. */
export function expandPath(path: string, home: string | undefined, base: string): string {
  if (path === "~" || path.startsWith("~/")) {
    if (home === undefined) return path;
    return join(home, path.slice(1));
  }
  return isAbsolute(path) ? path : resolve(base, path);
}

/**
 * The public keys in a file (a .pub file, or an authorized_keys-style list: one per line, `#`
 * comments and blank lines skipped). A private key, an unreadable file or a bad line is refused
 * with the reason; nothing of the file's text is repeated.
 */
export function readPublicKeyFile(path: string): KeyFileResult {
  let text: string;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) return { ok: false, reason: `${path} is not a file`, hint: "Give the path of a .pub file, e.g. ~/.ssh/id_ed25519.pub." };
    if (stat.size > 1 << 20) return { ok: false, reason: `${path} is ${stat.size} bytes: not a public key file`, hint: "Give the path of a .pub file, e.g. ~/.ssh/id_ed25519.pub." };
    text = readFileSync(path, "utf8");
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : cause instanceof Error ? cause.message : String(cause);
    return { ok: false, reason: `cannot read ${path}: ${why}`, hint: "Give the path of a readable .pub file, e.g. ~/.ssh/id_ed25519.pub." };
  }
  if (isPrivateKeyText(text)) return { ok: false, reason: `${path}: that is a private key; give its .pub`, hint: `The public key is ${path}.pub (or \`ssh-keygen -y -f ${path}\` prints it); the private key never leaves your machine.` };
  const keys: ParsedPublicKey[] = [];
  const lines = text.split("\n");
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const checked = checkPublicKeyLine(line);
    if (!checked.ok) return { ok: false, reason: `${path} line ${i + 1}: ${checked.reason}`, hint: checked.hint };
    keys.push(checked.key);
  }
  if (keys.length === 0) return { ok: false, reason: `${path} holds no public key`, hint: "Give the path of a .pub file, e.g. ~/.ssh/id_ed25519.pub." };
  return { ok: true, keys };
}

export interface FoundKey {
  /** The .pub file's name in ~/.ssh. */
  readonly file: string;
  readonly key: ParsedPublicKey;
  /** Whether this is the key offered by default (the first of PREFERRED_KEY_FILES present). */
  readonly preferred: boolean;
}

/** The public keys in `<home>/.ssh/*.pub` (files that are not one are left out): the preferred ones first, then by name. */
export function findPublicKeys(home: string | undefined): FoundKey[] {
  if (home === undefined || home === "") return [];
  const dir = join(home, ".ssh");
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith(".pub"));
  } catch (cause) {
    // No ~/.ssh (or not readable): nothing to offer; the user pastes a key or names a file.
    if ((cause as NodeJS.ErrnoException).code === "ENOENT" || (cause as NodeJS.ErrnoException).code === "EACCES" || (cause as NodeJS.ErrnoException).code === "ENOTDIR") return [];
    throw cause;
  }
  const rank = (n: string): number => {
    const at = (PREFERRED_KEY_FILES as readonly string[]).indexOf(n);
    return at === -1 ? PREFERRED_KEY_FILES.length : at;
  };
  names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const found: { file: string; key: ParsedPublicKey }[] = [];
  for (const file of names) {
    const result = readPublicKeyFile(join(dir, file));
    if (result.ok) for (const key of result.keys) found.push({ file, key });
  }
  const preferred = found.find((f) => (PREFERRED_KEY_FILES as readonly string[]).includes(f.file));
  return found.map((f) => ({ ...f, preferred: f === preferred }));
}

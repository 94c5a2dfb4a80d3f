/**
 * Debian root filesystems made with mmdebstrap, cached by content: the spec (suite, variant,
 * packages, customize hooks) hashes to a directory name under the cache; a build happens at most
 * once per spec, under a lock shared by every process on the machine, in a temporary directory
 * renamed into place only when complete. Packages come from the machine's configured Debian
 * mirror (/etc/apt/sources.list*), so nothing else on the network is needed.
 *
 * Used for the container images (`edgelab images build`) and for the test hosts.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { writeFileAtomic } from "../util/atomic-write.js";
import { join } from "node:path";
import { z } from "zod";
import { EdgelabError } from "../errors.js";
import { acquireLock } from "../exec/lock.js";
import { LocalExecutor } from "../exec/local.js";
import type { Executor } from "../exec/types.js";

/** Bumped when the way a spec turns into a directory changes (new hooks, new options). */
const FORMAT = 1;

export interface RootfsSpec {
  /** Debian release codename, e.g. "bookworm". */
  readonly suite: string;
  /** mmdebstrap variant: "apt" = Essential packages + apt, then `packages`. */
  readonly variant: "essential" | "apt" | "minbase" | "required" | "important";
  readonly packages: readonly string[];
  /** Shell commands for mmdebstrap's customize phase; `$1` is the new root directory. */
  readonly customize?: readonly string[];
}

export interface AptSource {
  readonly uri: string;
  readonly suite: string;
  readonly components: readonly string[];
  readonly signedBy?: string;
}

export interface RootfsResult {
  /** The root filesystem directory (complete; never modify it, overlay it). */
  readonly path: string;
  readonly hash: string;
  /** True when this call built it; false when it was already in the cache. */
  readonly built: boolean;
  /** How long the build took (this call's or the cached build's). */
  readonly buildSeconds: number;
}

export interface RootfsOptions {
  /** Where built root filesystems are kept (e.g. `.cache/rootfs`). */
  readonly cacheDir: string;
  /** apt source lines ("deb URI SUITE COMPONENTS"); default: from this machine's apt sources. */
  readonly mirrors?: readonly string[];
  readonly executor?: Executor;
  /** Progress lines ("building ...", "waiting for ..."). */
  readonly log?: (line: string) => void;
  /** How long to wait for another process building the same spec (default 30 min). */
  readonly lockTimeoutMs?: number;
  readonly buildTimeoutMs?: number;
}

const Manifest = z.object({
  format: z.number(),
  hash: z.string(),
  spec: z.object({ suite: z.string(), variant: z.string(), packages: z.array(z.string()), customize: z.array(z.string()) }),
  mirrors: z.array(z.string()),
  builtAt: z.string(),
  buildSeconds: z.number(),
});

function normalized(spec: RootfsSpec): { suite: string; variant: string; packages: string[]; customize: string[] } {
  return { suite: spec.suite, variant: spec.variant, packages: [...new Set(spec.packages)].sort(), customize: [...(spec.customize ?? [])] };
}

/** The spec's content hash (16 hex digits); the package order does not matter. */
export function rootfsHash(spec: RootfsSpec): string {
  return createHash("sha256")
    .update(JSON.stringify({ format: FORMAT, ...normalized(spec) }))
    .digest("hex")
    .slice(0, 16);
}

/** The mmdebstrap command line that builds `spec` into `target` from `mirrors`. */
export function mmdebstrapArgv(spec: RootfsSpec, target: string, mirrors: readonly string[]): string[] {
  const n = normalized(spec);
  return [
    "mmdebstrap",
    `--variant=${n.variant}`,
    "--format=directory",
    ...(n.packages.length > 0 ? [`--include=${n.packages.join(",")}`] : []),
    "--aptopt=APT::Install-Recommends \"false\"",
    // Documentation, manual pages and translations are not needed in a lab image.
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    ...n.customize.map((c) => `--customize-hook=${c}`),
    n.suite,
    target,
    ...mirrors,
  ];
}

const ONE_LINE = /^\s*(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/;

/**
 * apt sources from the texts of /etc/apt/sources.list (one-line format) and
 * /etc/apt/sources.list.d/*.list / *.sources (deb822). Only binary ("deb") entries are kept.
 */
export function parseAptSources(files: readonly { path: string; text: string }[]): AptSource[] {
  const out: AptSource[] = [];
  for (const { path, text } of files) {
    if (path.endsWith(".sources")) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const fields = new Map<string, string>();
        let last: string | undefined;
        for (const raw of stanza.split("\n")) {
          if (raw.startsWith("#")) continue;
          const m = /^([A-Za-z-]+):\s*(.*)$/.exec(raw);
          if (m?.[1] !== undefined) {
            last = m[1].toLowerCase();
            fields.set(last, (m[2] ?? "").trim());
          } else if (/^\s+\S/.test(raw) && last !== undefined) fields.set(last, `${fields.get(last) ?? ""} ${raw.trim()}`);
        }
        if ((fields.get("enabled") ?? "yes").toLowerCase() === "no") continue;
        if (!(fields.get("types") ?? "").split(/\s+/).includes("deb")) continue;
        const signedBy = fields.get("signed-by");
        for (const uri of (fields.get("uris") ?? "").split(/\s+/).filter((u) => u !== "")) {
          for (const suite of (fields.get("suites") ?? "").split(/\s+/).filter((s) => s !== "")) {
            out.push({ uri, suite, components: (fields.get("components") ?? "").split(/\s+/).filter((c) => c !== ""), ...(signedBy !== undefined && !signedBy.includes("\n") && signedBy.startsWith("/") ? { signedBy } : {}) });
          }
        }
      }
    } else {
      for (const line of text.split("\n")) {
        const m = ONE_LINE.exec(line);
        if (m === null || m[1] !== "deb" || m[3] === undefined || m[4] === undefined) continue;
        const signedBy = /signed-by=(\S+)/.exec(m[2] ?? "")?.[1];
        out.push({ uri: m[3], suite: m[4], components: (m[5] ?? "").split(/\s+/).filter((c) => c !== ""), ...(signedBy === undefined ? {} : { signedBy }) });
      }
    }
  }
  return out;
}

/**
 * The apt lines for `suite` built from this machine's sources for its own release
 * (`hostCodename`): `<host>`, `<host>-updates` and `<host>-security` map to the same pockets of
 * `suite`, component "main" only. Other entries (backports, third-party) are left out.
 */
export function mirrorsFor(sources: readonly AptSource[], hostCodename: string, suite: string): string[] {
  const pockets: Record<string, string> = { [hostCodename]: suite, [`${hostCodename}-updates`]: `${suite}-updates`, [`${hostCodename}-security`]: `${suite}-security` };
  const lines: string[] = [];
  for (const s of sources) {
    const target = pockets[s.suite];
    if (target === undefined || !s.components.includes("main")) continue;
    const line = `deb ${s.signedBy === undefined ? "" : `[signed-by=${s.signedBy}] `}${s.uri} ${target} main`;
    if (!lines.includes(line)) lines.push(line);
  }
  return lines;
}

/** This machine's Debian mirror, as apt lines for `suite`. */
export function machineMirrors(suite: string): string[] {
  const files: { path: string; text: string }[] = [];
  const read = (path: string): void => {
    if (existsSync(path)) files.push({ path, text: readFileSync(path, "utf8") });
  };
  read("/etc/apt/sources.list");
  const dir = "/etc/apt/sources.list.d";
  if (existsSync(dir)) for (const name of readdirSync(dir).sort()) if (name.endsWith(".list") || name.endsWith(".sources")) read(join(dir, name));
  const codename = /^VERSION_CODENAME=(.*)$/m.exec(existsSync("/etc/os-release") ? readFileSync("/etc/os-release", "utf8") : "")?.[1]?.replace(/"/g, "") ?? "";
  const mirrors = mirrorsFor(parseAptSources(files), codename, suite);
  if (mirrors.length === 0) {
    throw new EdgelabError(`no Debian mirror for ${suite} in /etc/apt/sources.list or /etc/apt/sources.list.d/ (this machine runs '${codename || "unknown"}')`, {
      hint: "Configure apt with a Debian mirror (main component), or pass the mirror lines explicitly.",
    });
  }
  return mirrors;
}

function readManifest(file: string): z.infer<typeof Manifest> | undefined {
  if (!existsSync(file)) return undefined;
  const parsed = Manifest.safeParse(JSON.parse(readFileSync(file, "utf8")));
  return parsed.success ? parsed.data : undefined;
}

/**
 * The root filesystem for `spec`: from the cache, or built now (once, whatever the number of
 * processes asking at the same time).
 */
export async function ensureRootfs(spec: RootfsSpec, options: RootfsOptions): Promise<RootfsResult> {
  const hash = rootfsHash(spec);
  const path = join(options.cacheDir, hash);
  const manifestFile = join(options.cacheDir, `${hash}.json`);
  const cached = (): RootfsResult | undefined => {
    const manifest = existsSync(path) && statSync(path).isDirectory() ? readManifest(manifestFile) : undefined;
    return manifest === undefined ? undefined : { path, hash, built: false, buildSeconds: manifest.buildSeconds };
  };
  const hit = cached();
  if (hit !== undefined) return hit;

  mkdirSync(options.cacheDir, { recursive: true });
  const lock = await acquireLock(join(options.cacheDir, `${hash}.lock`), {
    timeoutMs: options.lockTimeoutMs ?? 30 * 60_000,
    onWait: () => options.log?.(`rootfs ${hash}: another process is building it; waiting`),
  });
  try {
    const built = cached();
    if (built !== undefined) return built;
    // Leftovers of an interrupted build of this spec (we hold the lock, so nobody else owns them).
    for (const name of readdirSync(options.cacheDir)) if (name.startsWith(`.tmp-${hash}-`)) rmSync(join(options.cacheDir, name), { recursive: true, force: true });
    rmSync(path, { recursive: true, force: true });

    const mirrors = options.mirrors ?? machineMirrors(spec.suite);
    const temp = join(options.cacheDir, `.tmp-${hash}-${process.pid}`);
    const logFile = join(options.cacheDir, `${hash}.log`);
    options.log?.(`rootfs ${hash}: building Debian ${spec.suite} (${normalized(spec).packages.length} packages) with mmdebstrap from ${mirrors.map((m) => m.split(" ").find((w) => w.includes("://")) ?? m).filter((u, i, all) => all.indexOf(u) === i).join(", ")}`);
    const started = Date.now();
    const executor = options.executor ?? new LocalExecutor();
    try {
      const result = await executor.run(mmdebstrapArgv(spec, temp, mirrors), { timeoutMs: options.buildTimeoutMs ?? 30 * 60_000, allowFailure: true, env: { ...process.env, LC_ALL: "C.UTF-8" } });
      writeFileSync(logFile, `${result.stdout}${result.stderr}`);
      if (result.exitCode !== 0) {
        throw new EdgelabError(`mmdebstrap could not build the ${spec.suite} root filesystem (exit ${result.exitCode ?? result.signal ?? "?"}): ${result.stderr.trim().split("\n").slice(-3).join(" / ")}`, {
          hint: `Full log: ${logFile}. mmdebstrap needs root (or unprivileged user namespaces) and the Debian mirror.`,
        });
      }
    } catch (error) {
      rmSync(temp, { recursive: true, force: true });
      throw error;
    }
    const buildSeconds = Math.round((Date.now() - started) / 100) / 10;
    const manifest: z.infer<typeof Manifest> = { format: FORMAT, hash, spec: normalized(spec), mirrors: [...mirrors], builtAt: new Date().toISOString(), buildSeconds };
    writeFileAtomic(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`, 0o644);
    renameSync(temp, path);
    options.log?.(`rootfs ${hash}: built in ${buildSeconds} s`);
    return { path, hash, built: true, buildSeconds };
  } finally {
    await lock.release();
  }
}

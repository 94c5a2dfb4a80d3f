/**
 * What of edgelab the origin image needs to run the stream-key router: the compiled modules the
 * router's entry point reaches (its static imports, dynamic imports and worker URLs, followed
 * from dist/media/router-server.js) and the npm packages those import, with their dependencies,
 * copied from the installed node_modules (no registry needed). Everything else of edgelab (the
 * CLI, the Kubernetes and Proxmox clients) stays out of the image.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { z } from "zod";
import { EdgelabError } from "../errors.js";
import { ROUTER_ENTRY } from "./spec.js";

export interface BundleFile {
  /** Absolute path on this machine. */
  readonly from: string;
  /** Path relative to the router's home in the image (/opt/edgelab). */
  readonly to: string;
}

const IMPORT = /(?:^|[\s;}])(?:import|export)\s*(?:[^"'`;]*?\sfrom\s*)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|new\s+URL\(\s*["']([^"']+)["']\s*,\s*import\.meta\.url\s*\)/gm;

/** Module specifiers a compiled ES module refers to (imports, re-exports, dynamic imports, worker URLs). */
export function moduleSpecifiers(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (spec !== undefined && !out.includes(spec)) out.push(spec);
  }
  return out;
}

/** The npm package a bare specifier names ("@redis/client/dist/x" → "@redis/client"), or undefined for node: builtins. */
export function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith("node:")) return undefined;
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

const PackageJson = z.object({
  name: z.string().optional(),
  dependencies: z.record(z.string(), z.string()).optional(),
  optionalDependencies: z.record(z.string(), z.string()).optional(),
});

function walkFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walkFiles(path));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** Where `name` resolves from a package directory (Node's lookup: nested node_modules, then up). */
function resolvePackage(name: string, fromDir: string, root: string): string | undefined {
  let dir = fromDir;
  for (;;) {
    const candidate = join(dir, "node_modules", name);
    if (existsSync(join(candidate, "package.json"))) return candidate;
    if (dir === root || dirname(dir) === dir) return undefined;
    dir = dirname(dir);
  }
}

/** The router's files: the compiled modules it reaches and the packages they need. Sorted by `to`. */
export function routerBundle(packageRoot: string): BundleFile[] {
  const entry = join(packageRoot, ROUTER_ENTRY);
  if (!existsSync(entry)) {
    throw new EdgelabError(`the router is not built: ${entry} is missing`, { hint: "Run `npm run build` in edgelab's directory first (the origin image ships the compiled router)." });
  }
  const files = new Map<string, string>();
  const packages = new Set<string>();
  const queue = [entry];
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    if (files.has(file)) continue;
    files.set(file, relative(packageRoot, file));
    for (const spec of moduleSpecifiers(readFileSync(file, "utf8"))) {
      if (spec.startsWith(".")) {
        const target = resolve(dirname(file), spec);
        if (!existsSync(target)) throw new EdgelabError(`${relative(packageRoot, file)} imports ${spec}, which does not exist`, { hint: "Rebuild edgelab (npm run build)." });
        queue.push(target);
      } else {
        const name = packageOf(spec);
        if (name !== undefined) packages.add(name);
      }
    }
  }
  // The packages and their dependencies, each copied whole from where Node would resolve it.
  const pkgDirs = new Map<string, string>();
  const pending = [...packages].map((name) => ({ name, from: packageRoot }));
  for (let next = pending.shift(); next !== undefined; next = pending.shift()) {
    const dir = resolvePackage(next.name, next.from, packageRoot);
    if (dir === undefined) {
      throw new EdgelabError(`the router needs the npm package ${next.name}, which is not installed under ${packageRoot}`, { hint: "Run `npm ci` in edgelab's directory." });
    }
    if (pkgDirs.has(dir)) continue;
    pkgDirs.set(dir, next.name);
    const pkg = PackageJson.parse(JSON.parse(readFileSync(join(dir, "package.json"), "utf8")));
    for (const dep of Object.keys(pkg.dependencies ?? {})) pending.push({ name: dep, from: dir });
    for (const dep of Object.keys(pkg.optionalDependencies ?? {})) if (resolvePackage(dep, dir, packageRoot) !== undefined) pending.push({ name: dep, from: dir });
  }
  const out: BundleFile[] = [...files].map(([from, to]) => ({ from, to }));
  for (const dir of pkgDirs.keys()) {
    for (const file of walkFiles(dir)) {
      const rel = relative(packageRoot, file);
      // A nested node_modules of a copied package is copied as its own package (if needed).
      if (relative(dir, file).split(sep).includes("node_modules")) continue;
      if (statSync(file).isFile()) out.push({ from: file, to: rel });
    }
  }
  return out.sort((a, b) => (a.to < b.to ? -1 : a.to > b.to ? 1 : 0));
}

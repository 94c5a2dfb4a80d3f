/**
 * The Node.js runtime the origin image ships for the stream-key router: the binary of the `node`
 * npm package, as scripts/setup.sh installs it (Debian 12's nodejs is 18, end-of-life). The copy
 * setup.sh made under .tools/node is used when it is there; otherwise the same package is
 * installed once into edgelab's cache with npm.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { EdgelabError } from "../errors.js";
import { LocalExecutor } from "../exec/local.js";
import type { Executor } from "../exec/types.js";

/** The package setup.sh installs (scripts/setup.sh: EDGELAB_NODE_PKG). */
export const NODE_PACKAGE = "node@24";

function binaryUnder(prefix: string): string {
  return join(prefix, "node_modules", "node", "bin", "node");
}

function cachePrefix(cacheDir: string): string {
  return join(cacheDir, "node", NODE_PACKAGE.replace("@", "-"));
}

/** The runtime's binary when it is already on this machine (setup.sh's copy, or the cache's). */
export function findNodeRuntime(packageRoot: string, cacheDir: string): string | undefined {
  return [binaryUnder(join(packageRoot, ".tools", "node")), binaryUnder(cachePrefix(cacheDir))].find((path) => existsSync(path));
}

/** The runtime's binary, installed into the cache with npm first when it is not on this machine. */
export async function nodeRuntime(packageRoot: string, cacheDir: string, log: (line: string) => void, exec: Executor = new LocalExecutor()): Promise<string> {
  const found = findNodeRuntime(packageRoot, cacheDir);
  if (found !== undefined) return found;
  const prefix = cachePrefix(cacheDir);
  const binary = binaryUnder(prefix);
  mkdirSync(prefix, { recursive: true });
  log(`origin: installing ${NODE_PACKAGE} (the router's Node.js) into ${prefix} with npm`);
  const result = await exec.run(["npm", "install", "--silent", "--no-save", "--no-package-lock", "--no-fund", "--no-audit", "--prefix", prefix, NODE_PACKAGE], { allowFailure: true, timeoutMs: 10 * 60_000 });
  if (result.exitCode !== 0 || !existsSync(binary)) {
    throw new EdgelabError(`could not install ${NODE_PACKAGE} (the origin image's Node.js) with npm: ${result.stderr.trim().split("\n").slice(-3).join(" / ") || `exit ${result.exitCode ?? "?"}`}`, {
      hint: "Run scripts/setup.sh (it installs it under .tools/node), or make the npm registry reachable.",
    });
  }
  return binary;
}

/**
 * Integration tests run the real `edgelab` binary, so dist/ must match src/: build once before
 * the suite (tsc is incremental-free but fast enough, ~3 s).
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";

export default function setup(): void {
  const root = join(import.meta.dirname, "..", "..");
  execFileSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "tsconfig.build.json")], { stdio: "inherit", cwd: root });
}

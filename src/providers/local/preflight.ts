/**
 * Checks before the local lab starts anything: the programs it runs exist, and the addresses
 * and ports it listens on are free (naming who holds a taken one).
 */
import { execFileSync } from "node:child_process";
import { accessSync, constants, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { basename, delimiter, join } from "node:path";
import { EdgelabError } from "../../errors.js";
import type { Endpoint } from "../../model/dataplane.js";

export interface Requirement {
  readonly name: string;
  /** An absolute path, or a program looked up on PATH. */
  readonly file: string;
  readonly pkg: string;
}

export const LOCAL_REQUIREMENTS: readonly Requirement[] = [
  { name: "nginx", file: "nginx", pkg: "nginx" },
  { name: "nginx rtmp module", file: "/usr/lib/nginx/modules/ngx_rtmp_module.so", pkg: "libnginx-mod-rtmp" },
  { name: "ffmpeg", file: "ffmpeg", pkg: "ffmpeg" },
  { name: "ffprobe", file: "ffprobe", pkg: "ffmpeg" },
  { name: "redis-server", file: "redis-server", pkg: "redis-server" },
];

const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The absolute path of a program, or undefined. sbin directories are searched too (nginx). */
export function findProgram(file: string, path: string | undefined): string | undefined {
  const candidates = file.startsWith("/") ? [file] : [...(path ?? "").split(delimiter), ...SYSTEM_PATH.split(":")].filter(Boolean).map((dir) => join(dir, file));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, file.endsWith(".so") ? constants.R_OK : constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Resolves every requirement or throws one error naming all that are missing. */
export function requirePrograms(requirements: readonly Requirement[], path: string | undefined): Map<string, string> {
  const found = new Map<string, string>();
  const missing: Requirement[] = [];
  for (const r of requirements) {
    const at = findProgram(r.file, path);
    if (at === undefined) missing.push(r);
    else found.set(r.name, at);
  }
  if (missing.length > 0) {
    const packages = [...new Set(missing.map((m) => m.pkg))].join(" ");
    throw new EdgelabError(`missing: ${missing.map((m) => `${m.name} (${m.file})`).join(", ")}`, { hint: `Install with: apt-get install ${packages}   (or run scripts/setup.sh)` });
  }
  return found;
}

function canListen(endpoint: Endpoint): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", (err: NodeJS.ErrnoException) => resolve(err));
    server.listen({ host: endpoint.host, port: endpoint.port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/** The program behind a pid, from its command line ("nginx: master process ..." -> nginx). */
function programName(pid: string): string | undefined {
  try {
    const first = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0] ?? "";
    const word = first.split(/[:\s]/)[0] ?? "";
    return word === "" ? undefined : basename(word);
  } catch {
    return undefined;
  }
}

/** Who listens on a TCP port, from `ss` (e.g. 'nginx (pid 1234)'); undefined when unknown. */
export function portHolder(port: number): string | undefined {
  try {
    const out = execFileSync("ss", ["-H", "-l", "-t", "-n", "-p", `sport = :${port}`], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    const line = out.split("\n").find((l) => l.trim() !== "");
    if (line === undefined) return undefined;
    const local = line.trim().split(/\s+/)[3] ?? "";
    const proc = /users:\(\("([^"]+)",pid=(\d+)/.exec(line);
    if (proc === null) return `a process on ${local}`;
    const pid = proc[2] ?? "?";
    return `${programName(pid) ?? proc[1] ?? "?"} (pid ${pid}) on ${local}`;
  } catch {
    return undefined;
  }
}

/** Throws one error listing every endpoint that is taken, with who holds it. */
export async function requireFreePorts(endpoints: readonly { owner: string; endpoint: Endpoint }[]): Promise<void> {
  const taken: string[] = [];
  for (const { owner, endpoint } of endpoints) {
    const err = await canListen(endpoint);
    if (err === undefined) continue;
    const where = `${endpoint.host}:${endpoint.port}`;
    if (err.code === "EADDRINUSE") taken.push(`${where} (for ${owner}) is taken by ${portHolder(endpoint.port) ?? "another process"}`);
    else if (err.code === "EADDRNOTAVAIL") taken.push(`${where} (for ${owner}) is not an address of this machine`);
    else taken.push(`${where} (for ${owner}): ${err.message}`);
  }
  if (taken.length > 0) {
    throw new EdgelabError(`cannot listen: ${taken.join("; ")}`, { hint: "Stop that process, or change the port under local.ports in the inventory." });
  }
}

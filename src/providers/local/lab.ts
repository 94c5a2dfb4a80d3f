/**
 * The local lab provider: brings the data plane up as supervised processes on loopback,
 * reports what runs, and stops what it started (and nothing else).
 */
import { spawn } from "node:child_process";
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { EdgelabError } from "../../errors.js";
import { generateKey, hashKey, verifyKey, type KeyHash } from "../../media/keys.js";
import { RouterConfig } from "../../media/routing.js";
import { localDataPlane, type DataPlane } from "../../model/dataplane.js";
import { publisherOf, type Lab } from "../../model/lab.js";
import { PACKAGE_ROOT, TEMPLATES_DIR } from "../../paths.js";
import { writeFileAtomic } from "../../pipeline/artifacts.js";
import { generatedSecretPath, resolveSecret } from "../../pipeline/secrets.js";
import { defaultEnvironment } from "../../render/environment.js";
import { TRANSCODER_CREDENTIAL_LENGTH } from "../../render/nginx.js";
import { localLayout, routerConfigFile, secretIds, type LocalLayout } from "./layout.js";
import { buildLocalPlan, type Ingest, type LocalPlan, type StreamUrls, type UnprivilegedUser } from "./plan.js";
import { LOCAL_REQUIREMENTS, requireFreePorts, requirePrograms } from "./preflight.js";
import { openLog, probe, SupervisorState, type ProcessState } from "./supervisor.js";
import { parsePlaylist, totalDuration } from "../../media/hls.js";
import { fetchRouterHealth, type RouterStreamReport } from "../../media/router-health.js";
import { sleep } from "../../util/sleep.js";

export const SUPERVISOR_SCRIPT = join(PACKAGE_ROOT, "dist", "providers", "local", "supervisor.js");
export const ROUTER_SCRIPT = join(PACKAGE_ROOT, "dist", "media", "router-server.js");
export const PUBLISHER_SCRIPT = join(PACKAGE_ROOT, "dist", "media", "publisher.js");

export interface LocalLabContext {
  readonly inventoryPath: string;
  readonly lab: Lab;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Progress lines (stderr in the CLI). */
  readonly progress: (line: string) => void;
}

export interface UpResult {
  readonly changed: "started" | "reloaded" | "unchanged";
  readonly urls: readonly StreamUrls[];
  readonly ingest: readonly Ingest[];
  readonly layout: LocalLayout;
  readonly seconds: number;
}


function requireLocal(lab: Lab): void {
  if (lab.provider !== "local") {
    throw new EdgelabError(`this inventory's provider is ${lab.provider}; the local lab needs provider local`, {
      hint: "Use inventories/local.yml, or set lab.provider: local. Cluster labs are brought up by provisioning and deploy.",
      exitCode: 2,
    });
  }
}

export function readState(layout: LocalLayout): SupervisorState | undefined {
  let text: string;
  try {
    text = readFileSync(layout.stateFile, "utf8");
  } catch {
    return undefined; // never started here
  }
  const parsed = SupervisorState.safeParse(JSON.parse(text));
  if (!parsed.success) throw new EdgelabError(`${layout.stateFile} is not a state file this version of edgelab wrote`, { hint: "Stop any lab processes by hand, then delete that file." });
  return parsed.data;
}

function cmdline(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((a) => a !== "");
  } catch {
    return undefined;
  }
}

export function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Is this pid our supervisor for this lab (not a recycled pid of something else)? */
function isOurSupervisor(layout: LocalLayout, pid: number): boolean {
  const args = cmdline(pid);
  return args !== undefined && args.some((a) => a.endsWith("supervisor.js")) && args.includes(layout.specFile);
}

/**
 * Is this pid the process we recorded? Same command line — or, for redis, which rewrites its
 * process title, the same program serving the recorded address.
 */
function isOurProcess(p: ProcessState, pid: number): boolean {
  const args = cmdline(pid);
  if (args === undefined) return false;
  if (args.join(" ") === p.command) return true;
  const program = p.command.split(" ")[0] ?? "";
  const listen = p.listens[0];
  return p.kind === "redis" && listen !== undefined && args[0] === program && args.join(" ").includes(`${listen.host}:${listen.port}`);
}

/** A system user from /etc/passwd. */
export function systemUser(name: string): UnprivilegedUser | undefined {
  let passwd: string;
  try {
    passwd = readFileSync("/etc/passwd", "utf8");
  } catch {
    return undefined;
  }
  const [, , uid, gid, , home] = passwd.split("\n").find((l) => l.startsWith(`${name}:`))?.split(":") ?? [];
  if (uid === undefined || gid === undefined) return undefined;
  return { name, uid: Number(uid), gid: Number(gid), home: home !== undefined && home !== "" && existsSync(home) ? home : undefined };
}

function nobody(): UnprivilegedUser | undefined {
  return systemUser("nobody");
}

/**
 * As root, redis runs as Debian's `redis` system user (the redis-server package creates it), or
 * nobody where there is none; as anyone else, as that user.
 */
export function redisUser(): UnprivilegedUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const user = systemUser("redis") ?? nobody();
  if (user === undefined) throw new EdgelabError("running as root, but there is neither a 'redis' nor a 'nobody' user for redis to run as", { hint: "apt-get install redis-server creates the redis user; or run edgelab as an ordinary user." });
  return user;
}

/**
 * As root, the router runs as nobody (no package makes a user for it); as anyone else, as that
 * user. It needs no path into the lab: the supervisor hands it its directories (ProcessSpec.dirs).
 */
export function routerUser(): UnprivilegedUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const user = nobody();
  if (user === undefined) throw new EdgelabError("running as root, but there is no 'nobody' user for the stream-key router to run as", { hint: "Create it (Debian has it by default), or run edgelab as an ordinary user." });
  return user;
}

function playerFiles(): Map<string, string> {
  const require = createRequire(import.meta.url);
  const hls = readFileSync(require.resolve("hls.js/dist/hls.min.js"), "utf8");
  return new Map([
    ["index.html", readFileSync(join(TEMPLATES_DIR, "player", "index.html"), "utf8")],
    ["hls.min.js", hls],
  ]);
}

/** Keys hashed once: an unchanged key keeps its stored hash, so re-running `up` changes nothing. */
function keyHashes(layout: LocalLayout, keys: ReadonlyMap<string, string>): Map<string, KeyHash> {
  let previous: RouterConfig | undefined;
  try {
    const parsed = RouterConfig.safeParse(JSON.parse(readFileSync(routerConfigFile(layout), "utf8")));
    previous = parsed.success ? parsed.data : undefined;
  } catch {
    previous = undefined; // none yet (or unreadable): hash afresh
  }
  const out = new Map<string, KeyHash>();
  for (const [name, key] of keys) {
    const old = previous?.streams.find((s) => s.name === name)?.key;
    out.set(name, old !== undefined && verifyKey(key, old) ? old : hashKey(key));
  }
  return out;
}

/** The lab's layout, with the worker user decided for this machine and caller. */
export function labLayout(inventoryPath: string): LocalLayout {
  const inventoryDir = dirname(inventoryPath);
  const base = localLayout(inventoryDir);
  return { ...base, nginx: { ...base.nginx, workerUser: workerUser(inventoryDir) } };
}

/** The user's publishing key of a stream (generated on first use for {generate: true}). */
export function streamKey(ctx: Pick<LocalLabContext, "inventoryPath" | "env">, layout: LocalLayout, stream: Lab["streams"][number]): string {
  return resolveSecret(stream.key, secretIds.streamKey(stream.name), { env: ctx.env, baseDir: dirname(ctx.inventoryPath), secretsDir: layout.secrets });
}

/**
 * Keys for the lab's own test sources, one per stream, minted when the lab starts (`fresh`) and
 * kept while it runs: never the users' keys, and gone after `down`.
 */
function sourceKeys(lab: Lab, layout: LocalLayout, fresh: boolean): Map<string, string> {
  const keys = new Map<string, string>();
  for (const stream of lab.streams) {
    if (publisherOf(stream) !== "source") continue;
    const file = generatedSecretPath(layout.secrets, secretIds.sourceKey(stream.name));
    let key: string | undefined;
    if (!fresh) {
      try {
        key = readFileSync(file, "utf8").trim();
      } catch {
        key = undefined; // not minted yet (a stream added while running)
      }
    }
    if (key === undefined || key === "") {
      key = generateKey();
      mkdirSync(layout.secrets, { recursive: true, mode: 0o700 });
      writeFileAtomic(file, `${key}\n`, 0o600);
    }
    keys.set(stream.name, key);
  }
  return keys;
}

function generated(ctx: Pick<LocalLabContext, "inventoryPath" | "env">, layout: LocalLayout, id: string): string {
  return resolveSecret({ generate: true }, id, { env: ctx.env, baseDir: dirname(ctx.inventoryPath), secretsDir: layout.secrets });
}

export function planLocalLab(ctx: LocalLabContext, fresh: boolean): { plan: LocalPlan; plane: DataPlane; layout: LocalLayout } {
  requireLocal(ctx.lab);
  return planLabProcesses(ctx, fresh, localDataPlane(ctx.lab), labLayout(ctx.inventoryPath));
}

/**
 * The lab's files and processes for a placement (a data plane and a layout): the local lab's
 * loopback placement, or the network lab's namespace placement (src/netlab/dataplane.ts).
 */
export function planLabProcesses(ctx: Pick<LocalLabContext, "inventoryPath" | "lab" | "env">, fresh: boolean, plane: DataPlane, layout: LocalLayout): { plan: LocalPlan; plane: DataPlane; layout: LocalLayout } {
  const programs = requirePrograms(LOCAL_REQUIREMENTS, ctx.env["PATH"]);
  const keys = new Map<string, string>();
  for (const stream of ctx.lab.streams) if (publisherOf(stream) !== "pull") keys.set(stream.name, streamKey(ctx, layout, stream));
  const plan = buildLocalPlan({
    lab: ctx.lab,
    plane,
    layout,
    env: defaultEnvironment(),
    binaries: {
      nginx: programs.get("nginx") ?? "nginx",
      redis: programs.get("redis-server") ?? "redis-server",
      ffmpeg: programs.get("ffmpeg") ?? "ffmpeg",
      node: process.execPath,
      routerScript: ROUTER_SCRIPT,
      publisherScript: PUBLISHER_SCRIPT,
    },
    secrets: {
      keyHashes: keyHashes(layout, keys),
      sourceKeys: sourceKeys(ctx.lab, layout, fresh),
      mediaServers: new Map(plane.mediaServers.map((m) => [m.name, generated(ctx, layout, secretIds.mediaServer(m.name))])),
      redisPassword: generated(ctx, layout, secretIds.redisPassword),
      // 31 characters of a generated secret (186 bits): all a flashVer holds in nginx-rtmp.
      transcoder: generated(ctx, layout, secretIds.transcoder).slice(0, TRANSCODER_CREDENTIAL_LENGTH),
    },
    playerFiles: playerFiles(),
    redisUser: redisUser(),
    routerUser: routerUser(),
  });
  return { plan, plane, layout };
}

/** Can users other than the owner reach this directory (every ancestor searchable by others)? */
function reachableByOthers(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    try {
      if ((statSync(d).mode & 0o001) === 0) return false;
    } catch {
      return false;
    }
    if (dirname(d) === d) return true;
  }
}

/**
 * As root, nginx runs its workers as nobody, who must reach the lab's files. When the inventory
 * lives somewhere nobody cannot enter (a 0700 home or temp directory), the workers run as root.
 */
export function workerUser(inventoryDir: string): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  return reachableByOthers(inventoryDir) && nobody() !== undefined ? undefined : "root";
}

/** Writes the plan's directories, log files and files; true when a file changed. */
export function writePlan(plan: LocalPlan, layout: LocalLayout): boolean {
  for (const dir of plan.dirs) mkdirSync(dir, { recursive: true });
  for (const dir of plan.privateDirs) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  }
  for (const { dir, owner } of plan.ownedDirs) chownSync(dir, owner.uid, owner.gid);
  // Created before nginx opens them: nginx would create them readable by everyone.
  for (const log of plan.logFiles) closeSync(openLog(log));
  // nginx workers run as nobody when the master is root: they must be able to write here.
  if (process.getuid?.() === 0 && layout.nginx.workerUser === undefined) {
    const who = nobody();
    if (who !== undefined) for (const dir of plan.workerDirs) chownSync(dir, who.uid, who.gid);
  }
  let changed = false;
  for (const file of plan.files) {
    changed = writeFileAtomic(file.path, file.content, file.mode) !== "unchanged" || changed;
    if (file.owner !== undefined) chownSync(file.path, file.owner.uid, file.owner.gid);
    if (file.worker === true && process.getuid?.() === 0 && layout.nginx.workerUser === undefined) {
      const who = nobody();
      if (who !== undefined) chownSync(file.path, who.uid, who.gid);
    }
  }
  const spec = `${JSON.stringify({ processes: plan.processes, janitor: plan.janitor }, null, 2)}\n`;
  changed = writeFileAtomic(layout.specFile, spec, 0o600) !== "unchanged" || changed;
  return changed;
}

/** Orphans of a supervisor that died: processes we recorded that still run. */
function stopOrphans(state: SupervisorState | undefined): number {
  let stopped = 0;
  for (const p of state?.processes ?? []) {
    if (p.pid !== undefined && alive(p.pid) && isOurProcess(p, p.pid)) {
      process.kill(p.pid, "SIGKILL");
      stopped += 1;
    }
  }
  return stopped;
}

async function waitForSupervisor(ctx: LocalLabContext, layout: LocalLayout, pid: number, deadline: number): Promise<SupervisorState> {
  const reported = new Map<string, string>();
  for (;;) {
    const state = readState(layout);
    if (!alive(pid)) {
      throw new EdgelabError(`the local lab's supervisor exited while starting`, { hint: `See ${layout.supervisorLog}.` });
    }
    for (const p of state?.processes ?? []) {
      const line = `${p.name}: ${p.status}${p.restarts > 0 ? ` (restarts ${p.restarts}, last ${p.lastExit ?? "?"})` : ""}`;
      if (reported.get(p.name) !== line) {
        reported.set(p.name, line);
        ctx.progress(line);
      }
      if (p.restarts >= 3) {
        const tail = readFileSync(p.log, "utf8").trim().split("\n").slice(-5).join("\n    ");
        throw new EdgelabError(`local lab: ${p.name} keeps exiting (${p.lastExit ?? "?"}, ${p.restarts} restarts)`, { hint: `Last lines of ${p.log}:\n    ${tail}` });
      }
    }
    if (state?.status === "running" && state.processes.every((p) => p.status === "running")) return state;
    if (Date.now() > deadline) {
      const waiting = (state?.processes ?? []).filter((p) => p.status !== "running").map((p) => `${p.name} (${p.status})`);
      throw new EdgelabError(`local lab: timed out starting ${waiting.join(", ") || "the supervisor"}`, { hint: `See the logs in ${layout.nginx.logs}.` });
    }
    await sleep(200);
  }
}

/**
 * A playable live playlist: 200 listing at least 3 target durations (players start 3 target
 * durations behind the live edge). A master playlist counts through its first variant.
 */
async function livePlaylist(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    const playlist = parsePlaylist(await res.text());
    if (res.status !== 200) return false;
    if (playlist.kind === "master") {
      const first = playlist.variants[0];
      return first !== undefined && (await livePlaylist(new URL(first.uri, url).href));
    }
    return playlist.kind === "media" && playlist.targetDuration !== undefined && totalDuration(playlist) >= 3 * playlist.targetDuration;
  } catch {
    return false;
  }
}

async function waitForPlaylists(ctx: LocalLabContext, urls: readonly StreamUrls[], deadline: number): Promise<void> {
  const pending = new Set(urls.map((u) => u.hls));
  if (pending.size === 0) return;
  ctx.progress(`waiting for ${pending.size} live playlist(s) at the edges`);
  while (pending.size > 0) {
    for (const url of [...pending]) {
      if (await livePlaylist(url)) {
        pending.delete(url);
        ctx.progress(`live: ${url}`);
      }
    }
    if (pending.size === 0) return;
    if (Date.now() > deadline) throw new EdgelabError(`local lab: no live playlist after waiting at ${[...pending].join(", ")}`, { hint: "Check the source-* and media-* logs under .edgelab/local/logs/." });
    await sleep(500);
  }
}

/** Is the supervisor of this lab running (and really ours)? */
function runningSupervisor(layout: LocalLayout, state: SupervisorState | undefined): number | undefined {
  return state !== undefined && alive(state.supervisorPid) && isOurSupervisor(layout, state.supervisorPid) && state.status !== "stopped" ? state.supervisorPid : undefined;
}

/** Streams `up` waits for: those the lab feeds itself. A user's encoder is waited for by nobody. */
function awaited(ctx: LocalLabContext, plan: LocalPlan): StreamUrls[] {
  const external = new Set(ctx.lab.streams.filter((s) => publisherOf(s) === "external").map((s) => s.name));
  return plan.urls.filter((u) => !external.has(u.stream));
}

export async function localUp(ctx: LocalLabContext, timeoutSeconds: number): Promise<UpResult> {
  const started = Date.now();
  const deadline = started + timeoutSeconds * 1000;
  requireLocal(ctx.lab);
  const probeLayout = labLayout(ctx.inventoryPath);
  const state = readState(probeLayout);
  const supervisor = runningSupervisor(probeLayout, state);
  const { plan, layout } = planLocalLab(ctx, supervisor === undefined);
  const result = (changed: UpResult["changed"]): UpResult => ({ changed, urls: plan.urls, ingest: plan.ingest, layout, seconds: (Date.now() - started) / 1000 });
  if (supervisor !== undefined) {
    const changed = writePlan(plan, layout);
    if (changed) {
      ctx.progress("configuration changed: reloading (nginx reloads gracefully; viewers stay connected)");
      process.kill(supervisor, "SIGHUP");
      await sleep(500);
    }
    await waitForSupervisor(ctx, layout, supervisor, deadline);
    await waitForPlaylists(ctx, awaited(ctx, plan), deadline);
    return result(changed ? "reloaded" : "unchanged");
  }
  const orphans = stopOrphans(state);
  if (orphans > 0) ctx.progress(`stopped ${orphans} process(es) left by a previous run`);
  await requireFreePorts(plan.processes.flatMap((p) => p.listens.map((endpoint) => ({ owner: p.name, endpoint }))));
  writePlan(plan, layout);
  mkdirSync(dirname(layout.supervisorLog), { recursive: true });
  const out = openLog(layout.supervisorLog);
  const child = spawn(process.execPath, [SUPERVISOR_SCRIPT, layout.specFile, layout.stateFile], { detached: true, stdio: ["ignore", out, out] });
  closeSync(out);
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new EdgelabError("could not start the local lab's supervisor", { hint: `See ${layout.supervisorLog}.` });
  ctx.progress(`supervisor started (pid ${pid})`);
  await sleep(200);
  await waitForSupervisor(ctx, layout, pid, deadline);
  await waitForPlaylists(ctx, awaited(ctx, plan), deadline);
  return result("started");
}

/**
 * Re-renders the lab's files after a key changed and, when the lab runs, has the router re-read
 * them (SIGHUP through the supervisor). Publishers already on air keep going; the new key is
 * checked on their next connection.
 */
export async function localApplyKeys(ctx: LocalLabContext): Promise<"reloaded" | "not running"> {
  requireLocal(ctx.lab);
  const probeLayout = labLayout(ctx.inventoryPath);
  const supervisor = runningSupervisor(probeLayout, readState(probeLayout));
  if (supervisor === undefined) return "not running";
  const { plan, layout } = planLocalLab(ctx, false);
  if (writePlan(plan, layout)) {
    process.kill(supervisor, "SIGHUP");
    await sleep(500);
  }
  await waitForSupervisor(ctx, layout, supervisor, Date.now() + 30_000);
  return "reloaded";
}

export interface ProcessReport extends ProcessState {
  readonly alive: boolean;
  readonly healthy: boolean;
}

export interface StatusReport {
  readonly running: boolean;
  readonly supervisorPid: number | undefined;
  readonly processes: ProcessReport[];
  /** Each stream's state, as the router reports it (undefined when the router does not answer). */
  readonly streams: readonly RouterStreamReport[] | undefined;
}

export async function localStatus(inventoryPath: string): Promise<StatusReport> {
  const layout = localLayout(dirname(inventoryPath));
  const state = readState(layout);
  if (state === undefined) return { running: false, supervisorPid: undefined, processes: [], streams: undefined };
  const supervisorUp = alive(state.supervisorPid) && isOurSupervisor(layout, state.supervisorPid);
  const processes: ProcessReport[] = [];
  for (const p of state.processes) {
    const isAlive = p.pid !== undefined && alive(p.pid);
    let healthy = isAlive;
    for (const endpoint of p.listens) healthy = healthy && (await probe({ kind: "tcp", host: endpoint.host, port: endpoint.port }));
    processes.push({ ...p, alive: isAlive, healthy });
  }
  const router = state.processes.find((p) => p.kind === "router")?.listens[0];
  const streams = supervisorUp && router !== undefined ? (await fetchRouterHealth(router))?.streams : undefined;
  return { running: supervisorUp, supervisorPid: supervisorUp ? state.supervisorPid : undefined, processes, streams };
}

export async function localDown(inventoryPath: string, progress: (line: string) => void): Promise<{ stopped: string[]; wasRunning: boolean }> {
  const layout = localLayout(dirname(inventoryPath));
  const state = readState(layout);
  if (state === undefined || !existsSync(layout.stateFile)) return { stopped: [], wasRunning: false };
  const before = state.processes.filter((p) => p.pid !== undefined && alive(p.pid)).map((p) => p.name);
  let wasRunning = false;
  if (alive(state.supervisorPid) && isOurSupervisor(layout, state.supervisorPid)) {
    wasRunning = true;
    progress(`stopping the supervisor (pid ${state.supervisorPid}) and its ${before.length} process(es)`);
    process.kill(state.supervisorPid, "SIGTERM");
    const deadline = Date.now() + 30_000;
    while (alive(state.supervisorPid) && Date.now() < deadline) await sleep(100);
    if (alive(state.supervisorPid)) process.kill(state.supervisorPid, "SIGKILL");
  }
  const orphans = stopOrphans(readState(layout) ?? state);
  if (orphans > 0) progress(`stopped ${orphans} process(es) the supervisor had left`);
  // The test sources' keys lived for this run only.
  for (const p of state.processes) if (p.kind === "source") rmSync(generatedSecretPath(layout.secrets, secretIds.sourceKey(p.name.replace(/^source-/, ""))), { force: true });
  const after = readState(layout) ?? state;
  const final: SupervisorState = { ...after, status: "stopped", updatedAt: new Date().toISOString(), processes: after.processes.map((p) => ({ ...p, pid: undefined, status: "stopped" })) };
  writeFileSync(layout.stateFile, `${JSON.stringify(final, null, 2)}\n`);
  return { stopped: before, wasRunning: wasRunning || before.length > 0 };
}

/**
 * The stream-key router service (ships in the origin image; the local lab runs it as a process).
 *
 *   GET /auth/publish/<server>/<secret>?...        on_publish from a media server: 200 or 403
 *   GET /auth/publish-done/<server>/<secret>?...   on_publish_done: ends that session's registration
 *   GET|HEAD /hls/... /dash/...                    lookup: X-Accel-Redirect to /_media/<server>/...
 *   GET /healthz                                   redis and every stream's state (JSON); 503 when
 *                                                  redis is down or a stream is stalled
 *   GET /readyz                                    200 once redis answers (process readiness)
 *
 * Only media servers can call the auth endpoints: each presents its own secret (the router knows
 * its SHA-256). A registration names the media server AND the publishing session (nginx-rtmp's
 * client id); only that session's publish-done removes it, and a publish that would displace a
 * live session is refused. Registrations live in redis so several routers agree; every second
 * they are reconciled with what the media servers' stat pages say is being published, and each
 * stream's playlist is watched to tell live, waiting and stalled streams apart. SIGHUP re-reads
 * the configuration.
 */
import { readFileSync } from "node:fs";
import { request, createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { Socket } from "node:net";
import { createClient } from "redis";
import { z } from "zod";
import { parsePlaylist } from "./hls.js";
import { KeyChecker } from "./key-checker.js";
import { matchesSha256, SCRYPT_PARAMS, verifyKeyAsync, type KeyHash } from "./keys.js";
import {
  accelRedirect,
  parsePublishCall,
  parseStat,
  parseViewerPath,
  resolveRouterConfig,
  RouterConfigFile,
  type RouterConfig,
  streamState,
  type MediaServerRef,
  type PublishCall,
  type RouterStream,
  type StreamStateName,
} from "./routing.js";

/** Who publishes a stream: a media server and its session there. */
export interface Registration {
  readonly server: string;
  readonly client: string;
}

const StoredRegistration = z.strictObject({ server: z.string().min(1), client: z.string().min(1) });

export function encodeRegistration(r: Registration): string {
  return JSON.stringify({ server: r.server, client: r.client });
}

function decodeRegistration(value: string | null): Registration | null {
  if (value === null) return null;
  try {
    const parsed = StoredRegistration.safeParse(JSON.parse(value));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

const same = (a: Registration | null, b: Registration | null): boolean => a !== null && b !== null && a.server === b.server && a.client === b.client;

/** Where registrations are kept: one interface, redis in production and in tests. */
export interface StreamRegistry {
  get(stream: string): Promise<Registration | null>;
  /** Registers only if nothing is registered; true when it did. */
  claim(stream: string, registration: Registration): Promise<boolean>;
  /** Replaces `expected` (exactly) with `next`; true when it did. */
  replace(stream: string, expected: Registration | null, next: Registration): Promise<boolean>;
  /** Removes the registration only if it is exactly this session's; true when it did. */
  release(stream: string, registration: Registration): Promise<boolean>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

const KEY_PREFIX = "edgelab:stream:";
const COMPARE_AND_DELETE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
const COMPARE_AND_SET = "local v = redis.call('GET', KEYS[1]) if v == ARGV[1] or (v == false and ARGV[1] == '') then redis.call('SET', KEYS[1], ARGV[2]) return 1 end return 0";

export async function redisRegistry(host: string, port: number, password?: string): Promise<StreamRegistry> {
  const client = createClient({
    socket: { host, port, connectTimeout: 2000, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2000) },
    ...(password === undefined ? {} : { password }),
  });
  // Connection errors are retried by the client; they surface as failed commands meanwhile.
  client.on("error", () => undefined);
  await client.connect();
  return {
    get: async (stream) => decodeRegistration(await client.get(KEY_PREFIX + stream)),
    claim: async (stream, r) => (await client.set(KEY_PREFIX + stream, encodeRegistration(r), { condition: "NX" })) === "OK",
    replace: async (stream, expected, next) =>
      Number(await client.eval(COMPARE_AND_SET, { keys: [KEY_PREFIX + stream], arguments: [expected === null ? "" : encodeRegistration(expected), encodeRegistration(next)] })) === 1,
    release: async (stream, r) => Number(await client.eval(COMPARE_AND_DELETE, { keys: [KEY_PREFIX + stream], arguments: [encodeRegistration(r)] })) === 1,
    ping: async () => {
      try {
        return (await client.ping()) === "PONG";
      } catch {
        return false;
      }
    },
    close: async () => {
      client.destroy();
      await Promise.resolve();
    },
  };
}

/** How the router reads the media servers: their stat pages and playlists. */
export interface MediaServerClient {
  /** The rtmp_stat XML, or undefined when the server does not answer. */
  stat(server: MediaServerRef): Promise<string | undefined>;
  /** A playlist's text, or undefined (not there, or no answer). */
  playlist(server: MediaServerRef, path: string): Promise<string | undefined>;
}

function httpGet(options: { socketPath?: string; host?: string; port?: number; path: string }, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request({ ...options, method: "GET", timeout: timeoutMs, agent: false, headers: { Host: "edgelab-router" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve(res.statusCode === 200 ? Buffer.concat(chunks).toString("utf8") : undefined));
      res.on("error", () => resolve(undefined));
    });
    req.once("timeout", () => req.destroy());
    req.once("error", () => resolve(undefined));
    req.end();
  });
}

export function httpMediaServerClient(timeoutMs = 800): MediaServerClient {
  return {
    stat: (server) => httpGet("socket" in server.stat ? { socketPath: server.stat.socket, path: "/stat" } : { host: server.stat.host, port: server.stat.port, path: "/stat" }, timeoutMs),
    playlist: (server, path) => httpGet({ host: server.http.host, port: server.http.port, path }, timeoutMs),
  };
}

export type Logger = (line: string) => void;

/** Runs at most `concurrency` tasks at once with at most `queue` waiting; beyond that refuses. */
export class BoundedRunner {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(
    private readonly concurrency: number,
    private readonly queue: number,
  ) {}

  get pending(): number {
    return this.running + this.waiting.length;
  }

  /** undefined when the queue is full. */
  run<T>(task: () => Promise<T>): Promise<T> | undefined {
    if (this.running >= this.concurrency && this.waiting.length >= this.queue) return undefined;
    const go = async (): Promise<T> => {
      this.running += 1;
      try {
        return await task();
      } finally {
        this.running -= 1;
        this.waiting.shift()?.();
      }
    };
    if (this.running < this.concurrency) return go();
    return new Promise<void>((resolve) => this.waiting.push(resolve)).then(go);
  }
}

/** Failed publish attempts per address; too many within the window block the address for a while. */
export class FailureLimiter {
  private readonly failures = new Map<string, number[]>();
  private readonly blocked = new Map<string, number>();
  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly blockMs: number,
    /** Most addresses remembered (oldest forgotten first). */
    private readonly maxAddresses = 10_000,
  ) {}

  blockedUntil(addr: string, now: number): number | undefined {
    const until = this.blocked.get(addr);
    if (until === undefined) return undefined;
    if (until > now) return until;
    this.blocked.delete(addr);
    return undefined;
  }

  /** Records a failure; true when it makes the address blocked. */
  fail(addr: string, now: number): boolean {
    const recent = (this.failures.get(addr) ?? []).filter((t) => now - t < this.windowMs);
    recent.push(now);
    this.failures.delete(addr);
    this.failures.set(addr, recent);
    while (this.failures.size > this.maxAddresses) {
      const oldest = this.failures.keys().next().value;
      if (oldest === undefined) break;
      this.failures.delete(oldest);
    }
    if (recent.length < this.limit) return false;
    this.failures.delete(addr);
    this.blocked.set(addr, now + this.blockMs);
    while (this.blocked.size > this.maxAddresses) {
      const oldest = this.blocked.keys().next().value;
      if (oldest === undefined) break;
      this.blocked.delete(oldest);
    }
    return true;
  }
}

interface CacheEntry {
  server: string | null;
  expires: number;
}

interface Watch {
  sessionSince: number | undefined;
  session: Registration | undefined;
  lastUri: string | undefined;
  lastAdvance: number | undefined;
  targetDuration: number | undefined;
  everLive: boolean;
  /** Rounds in a row the registration was not seen publishing. */
  unseen: number;
}

export interface StreamReport {
  readonly name: string;
  readonly state: StreamStateName;
  readonly publisher: RouterStream["publisher"];
  readonly server: string | undefined;
  readonly session: string | undefined;
  /** Seconds since the playlist last advanced (undefined: never seen advancing). */
  readonly sinceAdvance: number | undefined;
}

export interface Health {
  readonly ok: boolean;
  readonly redis: boolean;
  readonly streams: readonly StreamReport[];
}

const AUTH = /^\/auth\/(publish|publish-done)\/([A-Za-z0-9-]+)\/([A-Za-z0-9_-]+)$/;

/** The request handling, independent of how the HTTP server and registry are made. */
export class Router {
  private config: RouterConfig;
  private readonly cache = new Map<string, CacheEntry>();
  private checks: BoundedRunner;
  private limiter: FailureLimiter;
  private readonly watches = new Map<string, Watch>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    config: RouterConfig,
    private readonly registry: StreamRegistry,
    private readonly media: MediaServerClient,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    /** How a key is checked against its hash (main() uses a lower-priority thread: KeyChecker). */
    private readonly verify: (key: string, stored: KeyHash) => Promise<boolean> = verifyKeyAsync,
  ) {
    this.config = config;
    this.checks = new BoundedRunner(config.auth.concurrency, config.auth.queue);
    this.limiter = new FailureLimiter(config.auth.failures, config.auth.windowMs, config.auth.blockMs);
  }

  reconfigure(config: RouterConfig): void {
    const auth = JSON.stringify(this.config.auth) !== JSON.stringify(config.auth);
    this.config = config;
    this.cache.clear();
    // Blocked addresses stay blocked across a reload unless the limits themselves changed.
    if (auth) {
      this.checks = new BoundedRunner(config.auth.concurrency, config.auth.queue);
      this.limiter = new FailureLimiter(config.auth.failures, config.auth.windowMs, config.auth.blockMs);
    }
    for (const name of [...this.watches.keys()]) if (!config.streams.some((s) => s.name === name)) this.watches.delete(name);
  }

  private stream(name: string): RouterStream | undefined {
    return this.config.streams.find((s) => s.name === name);
  }

  private server(name: string): MediaServerRef | undefined {
    return this.config.servers.find((s) => s.name === name);
  }

  private remember(name: string, server: string | null): void {
    const ttl = server === null ? this.config.negativeCacheMs : this.config.cacheMs;
    this.cache.delete(name);
    if (ttl <= 0) return;
    this.cache.set(name, { server, expires: this.now() + ttl });
    while (this.cache.size > this.config.cacheEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
  }

  /** The media server that serves a stream, or null. Names not in the configuration cost nothing. */
  async lookup(name: string): Promise<string | null> {
    const stream = this.stream(name);
    if (stream === undefined) return null;
    const cached = this.cache.get(name);
    if (cached !== undefined && cached.expires > this.now()) return cached.server;
    let server = (await this.registry.get(name))?.server ?? stream.staticServer ?? null;
    if (server !== null && this.server(server) === undefined) server = null;
    this.remember(name, server);
    return server;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://router.invalid");
    const path = url.pathname;
    const auth = AUTH.exec(path);
    if (auth !== null) {
      const [, call = "", server = "", secret = ""] = auth;
      const ref = this.server(server);
      if (ref === undefined || !matchesSha256(secret, ref.secretSha256)) {
        this.log(`refused a ${call} callback claiming to come from media server "${server}": ${ref === undefined ? "no such media server" : "wrong media-server secret"}`);
        send(res, 403, "forbidden\n");
        return;
      }
      const parsed = parsePublishCall(url.search.slice(1));
      if (!parsed.ok) {
        this.log(`refused ${call} on ${server}: ${parsed.reason}`);
        send(res, 403, "forbidden\n");
        return;
      }
      if (call === "publish") await this.publish(ref, parsed.call, res);
      else await this.publishDone(ref, parsed.call, res);
      return;
    }
    if (path === "/readyz") {
      const ok = await this.registry.ping();
      send(res, ok ? 200 : 503, ok ? "ok\n" : "redis unreachable\n");
      return;
    }
    if (path === "/healthz") {
      const health = await this.health();
      const body = `${JSON.stringify(health)}\n`;
      res.writeHead(health.ok ? 200 : 503, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body), "Cache-Control": "no-store" });
      res.end(body);
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET, HEAD", "Content-Length": "0" });
      res.end();
      return;
    }
    const parsed = parseViewerPath(path, this.config.abrSuffixes);
    if (!parsed.ok) {
      send(res, parsed.status, `${parsed.reason}\n`);
      return;
    }
    let server: string | null;
    try {
      server = await this.lookup(parsed.stream);
    } catch (cause) {
      this.log(`lookup of stream "${parsed.stream}" failed: ${(cause as Error).message}`);
      send(res, 503, "stream registry unavailable\n");
      return;
    }
    if (server === null) {
      send(res, 404, "unknown stream\n");
      return;
    }
    res.writeHead(200, { "X-Accel-Redirect": accelRedirect(server, parsed.path), "Content-Length": "0" });
    res.end();
  }

  private async checkKey(stream: RouterStream, key: string): Promise<boolean | "busy"> {
    if (stream.sourceKeySha256 !== undefined && matchesSha256(key, stream.sourceKeySha256)) return true;
    const hash = stream.key;
    if (hash === undefined) return false;
    const check = this.checks.run(() => this.verify(key, hash));
    return check === undefined ? "busy" : check;
  }

  private async publish(server: MediaServerRef, call: PublishCall, res: ServerResponse): Promise<void> {
    const { name, addr, client } = call;
    const refuse = (reason: string): void => {
      this.log(`refused publish of stream "${name}" from ${addr} on ${server.name}: ${reason}`);
      send(res, 403, "forbidden\n");
    };
    const stream = this.stream(name);
    if (stream === undefined) return refuse("no such stream");
    if (stream.publisher === "pull") return refuse("stream is pulled, not published");
    const until = this.limiter.blockedUntil(addr, this.now());
    if (until !== undefined) return refuse(`too many failed attempts from this address (blocked for ${Math.ceil((until - this.now()) / 1000)} s more)`);
    const failed = (reason: string): void => {
      refuse(reason);
      if (this.limiter.fail(addr, this.now())) {
        const { failures, windowMs, blockMs } = this.config.auth;
        this.log(`too many failed publish attempts from ${addr} (${failures} within ${windowMs / 1000} s): refusing its publishes for ${blockMs / 1000} s`);
      }
    };
    if (call.key === undefined) return failed("no stream key");
    const verdict = await this.checkKey(stream, call.key);
    if (verdict === "busy") return refuse("too many key checks in progress, try again");
    if (!verdict) return failed("wrong stream key");

    const mine: Registration = { server: server.name, client };
    try {
      if (!(await this.registry.claim(name, mine))) {
        const current = await this.registry.get(name);
        if (!same(current, mine)) {
          if (current !== null && (await this.publishing(current, name))) {
            return refuse(`stream is already live on ${current.server} (session ${current.client}); a second publisher is not accepted`);
          }
          if (!(await this.registry.replace(name, current, mine))) return refuse("the registration changed meanwhile, try again");
          if (current !== null) this.log(`stream "${name}": session ${current.client} on ${current.server} no longer publishes; replaced`);
        }
      }
    } catch (cause) {
      this.log(`could not register stream "${name}" on ${server.name}: ${(cause as Error).message}`);
      send(res, 503, "stream registry unavailable\n");
      return;
    }
    this.remember(name, server.name);
    this.observeSession(name, mine);
    this.log(`publish of stream "${name}" from ${addr} accepted on ${server.name} (session ${client})`);
    send(res, 200, "ok\n");
  }

  /** Is this session publishing that stream, per its media server's stat page (fetched now)? */
  private async publishing(r: Registration, stream: string): Promise<boolean> {
    const ref = this.server(r.server);
    if (ref === undefined) return false;
    const xml = await this.media.stat(ref);
    if (xml === undefined) return false;
    return parseStat(xml).some((s) => s.stream === stream && s.client === r.client);
  }

  private async publishDone(server: MediaServerRef, call: PublishCall, res: ServerResponse): Promise<void> {
    const session: Registration = { server: server.name, client: call.client };
    try {
      if (await this.registry.release(call.name, session)) {
        this.cache.delete(call.name);
        const watch = this.watches.get(call.name);
        if (watch !== undefined) {
          watch.session = undefined;
          watch.sessionSince = undefined;
        }
        this.log(`stream "${call.name}" ended on ${server.name} (session ${call.client})`);
      } else if (this.stream(call.name) !== undefined) {
        this.log(`publish of stream "${call.name}" on ${server.name} ended (session ${call.client}); it was not the registered session, registration kept`);
      }
    } catch (cause) {
      this.log(`could not unregister stream "${call.name}" on ${server.name}: ${(cause as Error).message}`);
    }
    send(res, 200, "ok\n");
  }

  private watch(name: string): Watch {
    let w = this.watches.get(name);
    if (w === undefined) {
      w = { sessionSince: undefined, session: undefined, lastUri: undefined, lastAdvance: undefined, targetDuration: undefined, everLive: false, unseen: 0 };
      this.watches.set(name, w);
    }
    return w;
  }

  private observeSession(name: string, session: Registration | undefined): void {
    const w = this.watch(name);
    if (session === undefined) {
      w.session = undefined;
      w.sessionSince = undefined;
    } else if (!same(w.session ?? null, session)) {
      w.session = session;
      w.sessionSince = this.now();
    }
  }

  /**
   * One round: what each media server publishes (stat) against the registrations, fixed where
   * they disagree; then each stream's playlist, to tell live from stalled.
   */
  async reconcile(): Promise<void> {
    const { servers, streams } = this.config;
    const stats = await Promise.all(servers.map(async (s) => ({ server: s.name, xml: await this.media.stat(s) })));
    const answered = new Set(stats.filter((s) => s.xml !== undefined).map((s) => s.server));
    const published = new Map<string, Registration[]>();
    for (const { server, xml } of stats) {
      if (xml === undefined) continue;
      for (const session of parseStat(xml)) {
        const list = published.get(session.stream) ?? [];
        list.push({ server, client: session.client });
        published.set(session.stream, list);
      }
    }
    await Promise.all(
      streams.map(async (stream) => {
        const w = this.watch(stream.name);
        let serving: string | undefined;
        if (stream.publisher === "pull") {
          serving = stream.staticServer;
          const session = published.get(stream.name)?.find((r) => r.server === stream.staticServer);
          this.observeSession(stream.name, session);
        } else {
          serving = await this.reconcileStream(stream, published.get(stream.name) ?? [], answered, w);
        }
        await this.watchPlaylist(stream, serving, w);
      }),
    );
  }

  private async reconcileStream(stream: RouterStream, sessions: readonly Registration[], answered: ReadonlySet<string>, w: Watch): Promise<string | undefined> {
    const name = stream.name;
    let current: Registration | null;
    try {
      current = await this.registry.get(name);
    } catch {
      return w.session?.server;
    }
    const registeredIsLive = current !== null && sessions.some((s) => same(s, current));
    if (registeredIsLive && current !== null) {
      w.unseen = 0;
      this.observeSession(name, current);
      return current.server;
    }
    const live = sessions[0];
    if (live !== undefined) {
      // Published but not (or wrongly) registered: a lost or removed registration comes back.
      if (await this.registry.replace(name, current, live)) {
        this.cache.delete(name);
        this.log(`stream "${name}" is published on ${live.server} (session ${live.client}) but ${current === null ? "was not registered" : `was registered to session ${current.client} on ${current.server}`}: registered again`);
      }
      w.unseen = 0;
      this.observeSession(name, live);
      return live.server;
    }
    if (current !== null && answered.has(current.server)) {
      // Registered but not published there: gone without a publish-done (e.g. a media server
      // restart). Two rounds in a row, so a publish accepted a moment ago is not mistaken.
      w.unseen += 1;
      if (w.unseen >= 2 && (await this.registry.release(name, current))) {
        this.cache.delete(name);
        this.log(`stream "${name}": session ${current.client} on ${current.server} is not publishing any more; registration removed`);
        this.observeSession(name, undefined);
        w.unseen = 0;
        return undefined;
      }
      return current.server;
    }
    if (current === null) this.observeSession(name, undefined);
    return current?.server;
  }

  private async watchPlaylist(stream: RouterStream, serving: string | undefined, w: Watch): Promise<void> {
    const ref = serving === undefined ? undefined : this.server(serving);
    if (ref === undefined) return;
    const text = await this.media.playlist(ref, stream.playlist);
    if (text === undefined) return;
    const playlist = parsePlaylist(text);
    if (playlist.kind !== "media") return;
    const last = playlist.segments.at(-1)?.uri;
    if (playlist.targetDuration !== undefined) w.targetDuration = playlist.targetDuration;
    if (last !== undefined && last !== w.lastUri) {
      // The first sighting after a (re)start is a baseline, not an advance.
      if (w.lastUri !== undefined || w.sessionSince !== undefined) {
        w.lastAdvance = this.now();
        w.everLive = true;
      }
      w.lastUri = last;
    }
  }

  async health(): Promise<Health> {
    const redis = await this.registry.ping();
    const now = this.now();
    const streams = this.config.streams.map((s): StreamReport => {
      const w = this.watch(s.name);
      return {
        name: s.name,
        state: streamState({ publisher: s.publisher, sessionSince: w.sessionSince, lastAdvance: w.lastAdvance, targetDuration: w.targetDuration, everLive: w.everLive }, now),
        publisher: s.publisher,
        server: w.session?.server ?? s.staticServer,
        session: w.session?.client,
        sinceAdvance: w.lastAdvance === undefined ? undefined : Math.round((now - w.lastAdvance) / 100) / 10,
      };
    });
    return { ok: redis && streams.every((s) => s.state !== "stalled"), redis, streams };
  }

  /** Reconciles every reconcileMs until stop(). */
  start(): void {
    const round = (): void => {
      if (this.stopped) return;
      this.reconcile()
        .catch((cause: unknown) => this.log(`reconciliation failed: ${(cause as Error).message}`))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(round, this.config.reconcileMs);
        });
    };
    round();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
  }
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

export class RouterConfigError extends Error {
  override readonly name = "RouterConfigError";
}

export function readRouterConfig(file: string): RouterConfig {
  const parsed = RouterConfigFile.safeParse(JSON.parse(readFileSync(file, "utf8")));
  if (!parsed.success) throw new RouterConfigError(`${file}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  try {
    return resolveRouterConfig(parsed.data, (path) => readFileSync(path, "utf8"));
  } catch (cause) {
    throw new RouterConfigError(`${file}: ${(cause as Error).message}`, { cause });
  }
}

export function readRedisPassword(config: RouterConfig): string | undefined {
  return config.redis.passwordFile === undefined ? undefined : readFileSync(config.redis.passwordFile, "utf8").trim();
}

export function startRouterServer(router: Pick<Router, "handle">, host: string, port: number, log: Logger = () => undefined): Promise<Server> {
  const server = createServer({ keepAlive: true }, (req, res) => {
    router.handle(req, res).catch((cause: unknown) => {
      if (!res.headersSent) send(res, 500, `internal error: ${(cause as Error).message}\n`);
      else res.destroy();
    });
  });
  // A request that is not HTTP (e.g. a callback split by control characters a publisher slipped
  // into its URL) is refused and said so; nothing of it is echoed.
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    const from = socket instanceof Socket ? (socket.remoteAddress ?? "?") : "?";
    if (err.code !== "ECONNRESET") log(`refused a malformed request from ${from}: ${err.code ?? err.message}`);
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    else socket.destroy();
  });
  server.keepAliveTimeout = 65_000;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}

/** Entry point: node dist/media/router-server.js --config router.json */
export async function main(argv: readonly string[]): Promise<void> {
  const index = argv.indexOf("--config");
  const file = index >= 0 ? argv[index + 1] : undefined;
  if (file === undefined) {
    process.stderr.write("usage: router-server --config <router.json>\n");
    process.exit(2);
  }
  const log: Logger = (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);
  let config = readRouterConfig(file);
  const registry = await redisRegistry(config.redis.host, config.redis.port, readRedisPassword(config));
  const checker = new KeyChecker(SCRYPT_PARAMS);
  const router = new Router(config, registry, httpMediaServerClient(), log, Date.now, (key, hash) => checker.verify(key, hash));
  const server = await startRouterServer(router, config.listen.host, config.listen.port, log);
  router.start();
  log(`router listening on ${config.listen.host}:${config.listen.port}, ${config.servers.length} media servers, ${config.streams.length} streams`);
  void checker.verify("", { algo: "scrypt", salt: "AA==", hash: "AA==" }).then(
    async () => log(`key checks run on a thread of their own${(await checker.niced) ? " at a lower priority (nice 10)" : ""}`),
    (cause: unknown) => log(`the key checker does not work: ${(cause as Error).message}`),
  );
  process.on("SIGHUP", () => {
    try {
      config = readRouterConfig(file);
      router.reconfigure(config);
      log(`configuration reloaded: ${config.servers.length} media servers, ${config.streams.length} streams`);
    } catch (cause) {
      log(`configuration reload failed, keeping the old one: ${(cause as Error).message}`);
    }
  });
  const stop = (): void => {
    router.stop();
    void checker.close();
    server.close();
    server.closeAllConnections();
    void registry.close().then(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main(process.argv.slice(2)).catch((cause: unknown) => {
    process.stderr.write(`router: ${(cause as Error).message}\n`);
    process.exit(1);
  });
}

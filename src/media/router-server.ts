/**
 * The stream-key router service (ships in the origin image; the local lab runs it as a process).
 *
 *   GET /auth/publish/<server>?name=&key=&addr=    on_publish from a media server: 200 or 403
 *   GET /auth/publish-done/<server>?name=          on_publish_done: unregister
 *   GET /hls/... /dash/...                         lookup: X-Accel-Redirect to /_media/<server>/...
 *   GET /healthz                                   200 when redis answers
 *
 * Registrations live in redis (stream -> media server) so several routers agree; a short local
 * cache in front of redis keeps lookups off the network. SIGHUP re-reads the configuration.
 */
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createClient } from "redis";
import { verifyKey } from "./keys.js";
import { accelRedirect, parseViewerPath, type RouterConfig, type RouterStream } from "./routing.js";

/** Where registrations are kept: one interface, redis in production and in tests. */
export interface StreamRegistry {
  get(stream: string): Promise<string | null>;
  set(stream: string, server: string): Promise<void>;
  /** Removes the registration only if it still points at `server` (a newer publish wins). */
  deleteIf(stream: string, server: string): Promise<boolean>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

const KEY_PREFIX = "edgelab:stream:";
const COMPARE_AND_DELETE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

export async function redisRegistry(host: string, port: number): Promise<StreamRegistry> {
  const client = createClient({
    socket: { host, port, connectTimeout: 2000, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2000) },
  });
  // Connection errors are retried by the client; they surface as failed commands meanwhile.
  client.on("error", () => undefined);
  await client.connect();
  return {
    get: async (stream) => client.get(KEY_PREFIX + stream),
    set: async (stream, server) => {
      await client.set(KEY_PREFIX + stream, server);
    },
    deleteIf: async (stream, server) => Number(await client.eval(COMPARE_AND_DELETE, { keys: [KEY_PREFIX + stream], arguments: [server] })) === 1,
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

export type Logger = (line: string) => void;

interface CacheEntry {
  server: string | null;
  expires: number;
}

/** The request handling, independent of how the HTTP server and registry are made. */
export class Router {
  private config: RouterConfig;
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    config: RouterConfig,
    private readonly registry: StreamRegistry,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.config = config;
  }

  reconfigure(config: RouterConfig): void {
    this.config = config;
    this.cache.clear();
  }

  private stream(name: string): RouterStream | undefined {
    return this.config.streams.find((s) => s.name === name);
  }

  async lookup(name: string): Promise<string | null> {
    const cached = this.cache.get(name);
    if (cached !== undefined && cached.expires > this.now()) return cached.server;
    let server = await this.registry.get(name);
    server ??= this.stream(name)?.staticServer ?? null;
    if (server !== null && !this.config.servers.includes(server)) server = null;
    this.cache.set(name, { server, expires: this.now() + this.config.cacheMs });
    return server;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://router.invalid");
    const path = url.pathname;
    const auth = /^\/auth\/(publish|publish-done)\/([A-Za-z0-9-]+)$/.exec(path);
    if (auth !== null) {
      const server = auth[2] ?? "";
      if (auth[1] === "publish") await this.publish(server, url.searchParams, res);
      else await this.publishDone(server, url.searchParams, res);
      return;
    }
    if (path === "/healthz") {
      const ok = await this.registry.ping();
      send(res, ok ? 200 : 503, ok ? "ok\n" : "redis unreachable\n");
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

  private async publish(server: string, args: URLSearchParams, res: ServerResponse): Promise<void> {
    const name = args.get("name") ?? "";
    const addr = args.get("addr") ?? "unknown address";
    const refuse = (reason: string): void => {
      this.log(`refused publish of stream "${name}" from ${addr} on ${server}: ${reason}`);
      send(res, 403, "forbidden\n");
    };
    if (!this.config.servers.includes(server)) return refuse("unknown media server");
    const stream = this.stream(name);
    if (stream === undefined) return refuse("no such stream");
    const key = args.get("key");
    if (stream.key === undefined) return refuse("stream is pulled, not published");
    if (key === null || key === "") return refuse("no stream key");
    if (!verifyKey(key, stream.key)) return refuse("wrong stream key");
    try {
      await this.registry.set(name, server);
    } catch (cause) {
      this.log(`could not register stream "${name}" on ${server}: ${(cause as Error).message}`);
      send(res, 503, "stream registry unavailable\n");
      return;
    }
    this.cache.set(name, { server, expires: this.now() + this.config.cacheMs });
    this.log(`publish of stream "${name}" from ${addr} accepted on ${server}`);
    send(res, 200, "ok\n");
  }

  private async publishDone(server: string, args: URLSearchParams, res: ServerResponse): Promise<void> {
    const name = args.get("name") ?? "";
    try {
      const removed = await this.registry.deleteIf(name, server);
      if (removed) this.log(`stream "${name}" ended on ${server}`);
    } catch (cause) {
      this.log(`could not unregister stream "${name}" on ${server}: ${(cause as Error).message}`);
    }
    this.cache.delete(name);
    send(res, 200, "ok\n");
  }
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

export function readRouterConfig(file: string): RouterConfig {
  return JSON.parse(readFileSync(file, "utf8")) as RouterConfig;
}

export function startRouterServer(router: Router, host: string, port: number): Promise<Server> {
  const server = createServer({ keepAlive: true }, (req, res) => {
    router.handle(req, res).catch((cause: unknown) => {
      if (!res.headersSent) send(res, 500, `internal error: ${(cause as Error).message}\n`);
      else res.destroy();
    });
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
  const registry = await redisRegistry(config.redis.host, config.redis.port);
  const router = new Router(config, registry, log);
  const server = await startRouterServer(router, config.listen.host, config.listen.port);
  log(`router listening on ${config.listen.host}:${config.listen.port}, ${config.servers.length} media servers, ${config.streams.length} streams`);
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

/**
 * The transport edgelab gives the `proxmox-api` package (its ApiRequestable hook): token auth,
 * TLS verified against a CA file or a pinned SHA-256 certificate fingerprint (never by turning
 * verification off process-wide), a timeout per request, structured errors, and no blind
 * retries (a POST clone sent twice can create two VMs; retrying is the caller's decision).
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { Agent, request as httpsRequest } from "node:https";
import { connect as tlsConnect, type PeerCertificate } from "node:tls";
import { EdgelabError } from "../../errors.js";

export interface ProxmoxEndpoint {
  /** https://pve01.example.com:8006 (http:// only for a local simulator). */
  readonly url: string;
  /** API token (preferred). Without one, username + password log in for a ticket. */
  readonly tokenId?: string | undefined;
  readonly tokenSecret?: string | undefined;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  /** "AA:BB:...": 32 bytes of SHA-256. */
  readonly fingerprint?: string | undefined;
  readonly caFile?: string | undefined;
  readonly timeoutMs?: number | undefined;
  /** Retries of reads (GET) on transient failures; writes are never repeated here. */
  readonly readRetries?: number | undefined;
  readonly backoffMs?: number | undefined;
}

/** Failures worth retrying: network errors, proxy errors (595/596/599), 5xx that say so. */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof ProviderError)) return false;
  if (err.status === undefined) return ["ECONNRESET", "ETIMEDOUT", "ECONNREFUSED", "EPIPE", "EAI_AGAIN"].includes(err.reason);
  if (err.status === 595 || err.status === 596 || err.status === 599 || err.status === 502 || err.status === 503 || err.status === 504) return true;
  return err.status === 500 && /got timeout|is locked|internal error|timeout/i.test(err.reason);
}

/** An API failure with what went wrong, where, and what to do. */
export class ProviderError extends EdgelabError {
  override readonly name = "ProviderError";
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly reason: string,
    readonly resource: string,
    readonly errors: Readonly<Record<string, string>> | undefined,
    hint?: string,
  ) {
    super(message, { hint, exitCode: 1 });
  }
}

export function normalizeFingerprint(value: string): string {
  const hex = value.replace(/[^0-9a-fA-F]/g, "").toUpperCase();
  if (hex.length !== 64) throw new EdgelabError(`not a SHA-256 certificate fingerprint: ${value}`, { hint: "Expect 32 hex bytes, e.g. as printed by `openssl x509 -noout -fingerprint -sha256`.", exitCode: 2 });
  return hex.match(/../g)?.join(":") ?? hex;
}

/**
 * Fetches the server's certificate once and checks it against the pinned fingerprint; the
 * certificate then becomes the only trust anchor of an agent that accepts nothing else.
 */
export async function pinnedAgent(host: string, port: number, fingerprint: string, timeoutMs = 10_000): Promise<Agent> {
  const want = normalizeFingerprint(fingerprint);
  const cert = await new Promise<PeerCertificate>((resolve, reject) => {
    // Only the handshake: nothing is sent before the fingerprint matches.
    const socket = tlsConnect({ host, port, servername: /^\d+\.\d+\.\d+\.\d+$/.test(host) ? undefined : host, rejectUnauthorized: false, timeout: timeoutMs }, () => {
      const peer = socket.getPeerCertificate(false);
      socket.end();
      resolve(peer);
    });
    socket.once("timeout", () => socket.destroy(new Error(`TLS handshake with ${host}:${port} timed out`)));
    socket.once("error", reject);
  });
  const got = cert.fingerprint256.toUpperCase();
  if (got !== want) {
    throw new ProviderError(`TLS certificate of ${host}:${port} does not match the pinned fingerprint`, undefined, "fingerprint mismatch", `${host}:${port}`, undefined, `The server presented ${got}. If the certificate was renewed on purpose, update proxmox.tls_fingerprint / PROXMOX_TLS_FINGERPRINT; otherwise something is intercepting the connection.`);
  }
  const pem = new X509Certificate(cert.raw).toString();
  return new Agent({
    ca: pem,
    keepAlive: true,
    // The pinned certificate is the identity: its names need not match how we reach the host.
    checkServerIdentity: (_name, peer) => (peer.fingerprint256.toUpperCase() === want ? undefined : new Error("certificate changed since it was pinned")),
  });
}

export interface RawResponse {
  readonly status: number;
  readonly reason: string;
  readonly contentType: string | undefined;
  readonly body: string;
}

/** The HTTP(S) exchange alone, for the client below. */
export class ProxmoxTransport {
  private agent: Agent | undefined;
  private readonly base: URL;
  /** Ticket login (fallback when no token): cookie + CSRF token for writes. */
  private ticket: { cookie: string; csrf: string } | undefined;

  constructor(private readonly endpoint: ProxmoxEndpoint) {
    this.base = new URL(endpoint.url);
  }

  private async httpsAgent(): Promise<Agent | undefined> {
    if (this.base.protocol !== "https:") return undefined;
    if (this.agent !== undefined) return this.agent;
    if (this.endpoint.fingerprint !== undefined) {
      this.agent = await pinnedAgent(this.base.hostname, Number(this.base.port || 8006), this.endpoint.fingerprint, this.endpoint.timeoutMs);
    } else {
      const ca = this.endpoint.caFile === undefined ? undefined : readFileSync(this.endpoint.caFile, "utf8");
      this.agent = new Agent({ keepAlive: true, ...(ca === undefined ? {} : { ca }) });
    }
    return this.agent;
  }

  async send(method: string, path: string, params: Readonly<Record<string, unknown>> | undefined): Promise<RawResponse> {
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(params ?? {})) {
      if (v === undefined || v === null) continue;
      const values = Array.isArray(v) ? (v as unknown[]) : [v];
      for (const item of values) form.append(k, item === true ? "1" : item === false ? "0" : typeof item === "number" ? String(item) : typeof item === "string" ? item : JSON.stringify(item));
    }
    const hasBody = method === "POST" || method === "PUT";
    const query = hasBody || form.size === 0 ? "" : `?${form.toString()}`;
    return this.raw(method, `${path}${query}`, hasBody ? form.toString() : undefined, { Accept: "application/json", ...(await this.auth(method)) });
  }

  /** Token header, or a ticket cookie (+ CSRF token on writes), logging in when needed. */
  private async auth(method: string): Promise<Record<string, string>> {
    const { tokenId, tokenSecret, username, password } = this.endpoint;
    if (tokenId !== undefined && tokenSecret !== undefined) return { Authorization: `PVEAPIToken=${tokenId}=${tokenSecret}` };
    if (username === undefined || password === undefined) throw new ProviderError("no Proxmox credentials", undefined, "no credentials", this.endpoint.url, undefined, "Set an API token (PROXMOX_TOKEN_ID + PROXMOX_TOKEN_SECRET), or PROXMOX_USERNAME + PROXMOX_PASSWORD.");
    if (this.ticket === undefined) {
      const res = await this.raw("POST", "/access/ticket", new URLSearchParams({ username, password }).toString(), {});
      const data = (res.status === 200 ? (JSON.parse(res.body) as { data?: { ticket?: string; CSRFPreventionToken?: string } }).data : undefined) ?? {};
      if (res.status !== 200 || data.ticket === undefined) throw new ProviderError(`login as ${username} failed: ${res.status} ${res.reason}`, res.status, res.reason, "POST /access/ticket", undefined, "Check PROXMOX_USERNAME (user@realm) and PROXMOX_PASSWORD, or use an API token.");
      this.ticket = { cookie: `PVEAuthCookie=${encodeURIComponent(data.ticket)}`, csrf: data.CSRFPreventionToken ?? "" };
    }
    return method === "GET" ? { Cookie: this.ticket.cookie } : { Cookie: this.ticket.cookie, CSRFPreventionToken: this.ticket.csrf };
  }

  /** Forget the ticket (after a 401), so the next request logs in again. */
  dropTicket(): boolean {
    const had = this.ticket !== undefined;
    this.ticket = undefined;
    return had;
  }

  private async raw(method: string, path: string, body: string | undefined, headers: Record<string, string>): Promise<RawResponse> {
    const url = new URL(`/api2/json${path}`, this.base);
    const agent = await this.httpsAgent();
    const timeout = this.endpoint.timeoutMs ?? 30_000;
    const all = { ...headers, ...(body === undefined ? {} : { "Content-Type": "application/x-www-form-urlencoded", "Content-Length": String(Buffer.byteLength(body)) }) };
    return new Promise((resolve, reject) => {
      const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, { method, headers: all, agent, timeout }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, reason: res.statusMessage ?? "", contentType: res.headers["content-type"], body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      });
      req.once("timeout", () => req.destroy(Object.assign(new Error(`no answer within ${timeout} ms`), { code: "ETIMEDOUT" })));
      req.once("error", reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent?.destroy();
  }
}

/** Turns a raw response into data or a ProviderError naming the resource and the reason. */
export function interpret(method: string, path: string, res: RawResponse): unknown {
  let parsed: { data?: unknown; errors?: Record<string, string>; message?: string } = {};
  if (res.body !== "" && (res.contentType ?? "").startsWith("application/json")) {
    try {
      parsed = JSON.parse(res.body) as typeof parsed;
    } catch {
      parsed = {};
    }
  }
  if (res.status === 200) return parsed.data ?? null;
  const resource = `${method} ${path}`;
  const reason = res.reason || (parsed.message ?? "").trim() || `HTTP ${res.status}`;
  const errors = parsed.errors;
  const details = errors === undefined ? "" : `: ${Object.entries(errors).map(([k, v]) => `${k}: ${v.trim()}`).join("; ")}`;
  throw new ProviderError(`${resource} failed: ${res.status} ${reason}${details}`, res.status, reason, resource, errors, hintFor(res.status, reason));
}

export function hintFor(status: number, reason: string): string | undefined {
  if (status === 401) return "Check PROXMOX_TOKEN_ID / PROXMOX_TOKEN_SECRET (or PROXMOX_VE_API_TOKEN): the token is unknown or its secret is wrong.";
  if (status === 403) return "The token lacks a privilege: give it VM.Allocate, VM.Clone, VM.Config.*, VM.PowerMgmt, VM.GuestAgent.Audit (PVE 9) and Datastore.AllocateSpace on the target storage.";
  if (status === 595 || status === 596 || status === 599) return "The node could not reach another node (proxy error); usually transient: retrying with backoff.";
  if (/got timeout|is locked/.test(reason)) return "Another operation holds the VM or storage lock; clones from one template are serialized for this reason.";
  if (/VM uses local storage/.test(reason)) return "Clone on the template's node, or keep the template on shared storage.";
  return undefined;
}

/** A request as the proxmox-api package makes it: `doRequest(method, path, template, params)`. */
export class ProxmoxClient {
  private readonly transport: ProxmoxTransport;
  constructor(private readonly endpoint: ProxmoxEndpoint) {
    this.transport = new ProxmoxTransport(endpoint);
  }

  async doRequest(method: string, fullPath: string, template: string, params?: Readonly<Record<string, unknown>>): Promise<unknown> {
    const retries = method.toUpperCase() === "GET" ? (this.endpoint.readRetries ?? 3) : 0;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.once(method, fullPath, template, params);
      } catch (err) {
        if (attempt >= retries || !isTransient(err)) throw err;
        await new Promise((r) => setTimeout(r, (this.endpoint.backoffMs ?? 1000) * (attempt + 1)));
      }
    }
  }

  private async once(method: string, fullPath: string, _template: string, params?: Readonly<Record<string, unknown>>): Promise<unknown> {
    const upper = method.toUpperCase();
    // proxmox-api passes "/api2/json/nodes"; callers of ours may pass "/nodes".
    const path = fullPath.replace(/^\/api2\/json(?=\/)/, "");
    let res: RawResponse;
    try {
      res = await this.transport.send(upper, path, params);
      // An expired ticket: log in once more and repeat (nothing was done on the server).
      if (res.status === 401 && this.transport.dropTicket()) res = await this.transport.send(upper, path, params);
    } catch (cause) {
      if (cause instanceof ProviderError) throw cause;
      const err = cause as NodeJS.ErrnoException;
      throw new ProviderError(`${upper} ${path} failed: ${err.message}`, undefined, err.code ?? "network error", `${upper} ${path}`, undefined, err.code === "ECONNREFUSED" ? "Is the API URL right (proxmox.url / PROXMOX_URL), and is pveproxy running on port 8006?" : /certificate|self.signed|CERT/i.test(err.message) ? "Pin the certificate: proxmox.tls_fingerprint or PROXMOX_TLS_FINGERPRINT (SHA-256), or give proxmox.ca_file." : undefined);
    }
    return interpret(upper, path, res);
  }

  close(): void {
    this.transport.close();
  }
}

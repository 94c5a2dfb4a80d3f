/**
 * The transport edgelab gives the `proxmox-api` package (its ApiRequestable hook): token auth,
 * TLS verified in the handshake before anything is sent — a pinned SHA-256 of the node's
 * certificate (the trust decision, whatever issued it and whatever name the URL uses), a CA file
 * (chain and name), or the system's CAs — never by turning verification off process-wide; a
 * timeout per request, structured errors, and no blind retries (a POST clone sent twice can
 * create two VMs; retrying a write is the caller's decision).
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { Agent, request as httpsRequest, type RequestOptions } from "node:https";
import { isIP } from "node:net";
import type { Duplex } from "node:stream";
import { checkServerIdentity, connect as tlsConnect, type PeerCertificate } from "node:tls";
import { EdgelabError } from "../../errors.js";
import { retry } from "../../util/retry.js";

export interface ProxmoxEndpoint {
  /** https://pve01.example.com:8006 (http:// only for a local simulator). */
  readonly url: string;
  /** API token (preferred). Without one, username + password log in for a ticket. */
  readonly tokenId?: string | undefined;
  readonly tokenSecret?: string | undefined;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  /** Pinned SHA-256 of the node's certificate (any format normalizeFingerprint reads). Wins over caFile. */
  readonly fingerprint?: string | undefined;
  /** PEM CA that signed the node's certificate (e.g. a copy of /etc/pve/pve-root-ca.pem): chain and name are checked. */
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

/**
 * "AA:BB:...", the way users paste it: with or without colons, any case, with the
 * `sha256 Fingerprint=` prefix `openssl x509 -noout -fingerprint -sha256` prints. Throws on
 * anything that is not 32 bytes of hex.
 */
export function normalizeFingerprint(value: string): string {
  const hex = value
    .trim()
    .replace(/^(?:sha-?256\s*)?(?:fingerprint\s*)?[=:]?\s*/i, "")
    .replace(/[:\s]/g, "")
    .toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) {
    throw new EdgelabError(`not a SHA-256 certificate fingerprint: '${value}'`, { hint: "Expect 32 hex bytes (AA:BB:..., with or without colons), as printed by `openssl x509 -noout -fingerprint -sha256` or shown in the node's Certificates panel.", exitCode: 2 });
  }
  return hex.match(/../g)?.join(":") ?? hex;
}

/** How the API's certificate is trusted: a pin (the decision, whatever issued it), a CA file, or the system's CAs. */
export type TlsTrust = { readonly kind: "pin"; readonly fingerprint: string } | { readonly kind: "ca"; readonly file: string; readonly pem: string } | { readonly kind: "system" };

export function tlsTrust(endpoint: Pick<ProxmoxEndpoint, "fingerprint" | "caFile">): TlsTrust {
  if (endpoint.fingerprint !== undefined) return { kind: "pin", fingerprint: normalizeFingerprint(endpoint.fingerprint) };
  if (endpoint.caFile !== undefined) {
    let pem: string;
    try {
      pem = readFileSync(endpoint.caFile, "utf8");
    } catch (err) {
      throw new EdgelabError(`cannot read the Proxmox CA file ${endpoint.caFile}: ${(err as Error).message}`, { hint: "proxmox.ca_file (or PROXMOX_CA_FILE) names a PEM file, e.g. a copy of the cluster's /etc/pve/pve-root-ca.pem.", exitCode: 2 });
    }
    return { kind: "ca", file: endpoint.caFile, pem };
  }
  return { kind: "system" };
}

/** What a user needs to decide about a certificate. */
export interface CertificateFacts {
  readonly subject: string;
  readonly issuer: string;
  /** SHA-256, "AA:BB:..." */
  readonly fingerprint: string;
  /** "DNS:pve01, IP Address:127.0.0.1" as the certificate lists them. */
  readonly names: string;
}

export function certificateFacts(peer: PeerCertificate): CertificateFacts {
  const x509 = new X509Certificate(peer.raw);
  const oneLine = (dn: string): string => dn.split("\n").filter(Boolean).join(", ");
  return { subject: oneLine(x509.subject), issuer: oneLine(x509.issuer), fingerprint: x509.fingerprint256, names: x509.subjectAltName ?? "(none)" };
}

/** OpenSSL's verification codes, in words. */
function why(code: string | undefined): string {
  const words: Readonly<Record<string, string>> = {
    UNABLE_TO_VERIFY_LEAF_SIGNATURE: "unable to verify the first certificate: its issuer is not a trusted CA",
    UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "its issuer is not a trusted CA",
    SELF_SIGNED_CERT_IN_CHAIN: "self-signed certificate in the chain",
    DEPTH_ZERO_SELF_SIGNED_CERT: "self-signed certificate",
    CERT_HAS_EXPIRED: "certificate has expired",
    CERT_NOT_YET_VALID: "certificate is not yet valid",
  };
  return code === undefined ? "unverified" : (words[code] ?? code);
}

/**
 * Decides whether the TLS peer is the server the user trusts; undefined when it is. Pure (given
 * the handshake's outcome), so every case has one message.
 */
export function trustProblem(trust: TlsTrust, where: { host: string; port: number }, peer: PeerCertificate, chain: { authorized: boolean; error: string | undefined }): ProviderError | undefined {
  const facts = certificateFacts(peer);
  const resource = `${where.host}:${where.port}`;
  const pinHint = `--tls-fingerprint ${facts.fingerprint}`;
  if (trust.kind === "pin") {
    // The pin is the trust decision: the chain and the names do not matter.
    if (facts.fingerprint === trust.fingerprint) return undefined;
    return new ProviderError(
      `TLS certificate of ${resource} does not match the pinned fingerprint: it presented ${facts.fingerprint} (subject ${facts.subject}; issuer ${facts.issuer}), the pin is ${trust.fingerprint}; nothing was sent`,
      undefined,
      "fingerprint mismatch",
      resource,
      undefined,
      "If the node's certificate was renewed on purpose, update the pin (--tls-fingerprint, PROXMOX_TLS_FINGERPRINT or proxmox.tls_fingerprint); otherwise something is intercepting the connection.",
    );
  }
  if (!chain.authorized) {
    if (trust.kind === "ca") {
      return new ProviderError(
        `TLS certificate of ${resource} is not signed by the CA in ${trust.file} (${why(chain.error)}): subject ${facts.subject}; issuer ${facts.issuer}; SHA-256 ${facts.fingerprint}; nothing was sent`,
        undefined,
        "untrusted certificate",
        resource,
        undefined,
        `Use the cluster's CA (a copy of /etc/pve/pve-root-ca.pem) as proxmox.ca_file, or pin this certificate: ${pinHint}`,
      );
    }
    return new ProviderError(
      `TLS certificate of ${resource} is not trusted (${why(chain.error)}): subject ${facts.subject}; issuer ${facts.issuer}; SHA-256 ${facts.fingerprint}; nothing was sent. If this is your Proxmox node's certificate, pin it: ${pinHint}`,
      undefined,
      "untrusted certificate",
      resource,
      undefined,
      "Check the fingerprint on the node first (openssl x509 -noout -fingerprint -sha256 -in /etc/pve/local/pve-ssl.pem), then pin it with the flag, PROXMOX_TLS_FINGERPRINT or proxmox.tls_fingerprint; or give the cluster CA (a copy of /etc/pve/pve-root-ca.pem) as PROXMOX_CA_FILE or proxmox.ca_file.",
    );
  }
  const mismatch = checkServerIdentity(where.host, peer);
  if (mismatch === undefined) return undefined;
  return new ProviderError(
    `TLS certificate of ${resource} is signed by ${trust.kind === "ca" ? `the CA in ${trust.file}` : "a trusted CA"} but is not valid for the name '${where.host}' used in the URL: it holds ${facts.names}; nothing was sent`,
    undefined,
    "name mismatch",
    resource,
    undefined,
    `Use one of the certificate's names in proxmox.url / PROXMOX_URL, or pin the certificate instead (a pin does not check names): ${pinHint}`,
  );
}

/**
 * An HTTPS agent that verifies the server in its own handshake and hands the socket to a
 * request only when it is trusted: nothing of the request (not even its headers, which carry
 * the token) is written before the decision.
 */
export class VerifyingAgent extends Agent {
  constructor(
    private readonly trust: TlsTrust,
    private readonly handshakeTimeoutMs: number,
  ) {
    // No TLS session reuse: every connection shows its certificate and is checked.
    super({ keepAlive: true, maxCachedSessions: 0 });
  }

  override createConnection(options: RequestOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const host = (options.hostname ?? options.host ?? "localhost").replace(/^\[(.*)\]$/, "$1");
    const port = Number(options.port ?? 443);
    const socket = tlsConnect({ host, port, servername: isIP(host) === 0 ? host : undefined, rejectUnauthorized: false, ca: this.trust.kind === "ca" ? this.trust.pem : undefined, checkServerIdentity: () => undefined, ALPNProtocols: ["http/1.1"] });
    const fail = (err: Error): void => {
      socket.destroy();
      // No socket goes with an error: the request fails with exactly this error.
      callback?.(err, undefined as unknown as Duplex);
    };
    const timer = setTimeout(() => fail(Object.assign(new Error(`TLS handshake with ${host}:${port} took longer than ${this.handshakeTimeoutMs} ms`), { code: "ETIMEDOUT" })), this.handshakeTimeoutMs);
    const onError = (err: Error): void => {
      clearTimeout(timer);
      fail(err);
    };
    socket.once("error", onError);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      socket.off("error", onError);
      const problem = trustProblem(this.trust, { host, port }, socket.getPeerCertificate(false), { authorized: socket.authorized, error: socket.authorizationError instanceof Error ? socket.authorizationError.message : socket.authorizationError });
      if (problem !== undefined) fail(problem);
      else callback?.(null, socket);
    });
    return undefined;
  }
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

  private httpsAgent(): Agent | undefined {
    if (this.base.protocol !== "https:") return undefined;
    this.agent ??= new VerifyingAgent(tlsTrust(this.endpoint), this.endpoint.timeoutMs ?? 30_000);
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
    const agent = this.httpsAgent();
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
    return retry(() => this.once(method, fullPath, template, params), { retries, backoffMs: this.endpoint.backoffMs ?? 1000, retryable: isTransient });
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
      throw new ProviderError(`${upper} ${path} failed: ${err.message}`, undefined, err.code ?? "network error", `${upper} ${path}`, undefined, err.code === "ECONNREFUSED" ? "Is the API URL right (proxmox.url / PROXMOX_URL), and is pveproxy running on port 8006?" : undefined);
    }
    return interpret(upper, path, res);
  }

  close(): void {
    this.transport.close();
  }
}

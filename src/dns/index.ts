/**
 * The service's A record: written through RFC 2136 dynamic update signed with TSIG (RFC 8945),
 * as BIND, Knot and PowerDNS accept it; or, without a DNS server, the hosts-file line to add.
 *
 * Every query and update is signed and every response's signature is verified, so neither the
 * "already set" answer nor the update's result can be forged by a third party.
 */
import { randomInt } from "node:crypto";
import { lookup } from "node:dns/promises";
import { isIPv4 } from "node:net";
import type { DnsModel } from "../model/lab.js";
import { isIpv4 } from "../util/ipv4.js";
import { DEFAULT_EXCHANGE, DnsError, exchange, type DnsServer, type ExchangeOptions } from "./transport.js";
import {
  aAddress,
  aRdata,
  canonicalName,
  CLASS_IN,
  decodeMessage,
  encodeMessage,
  isTsigAlgorithm,
  OPCODE_QUERY,
  OPCODE_UPDATE,
  prereqRrsetAbsent,
  prereqRrsetEquals,
  RCODE,
  rcodeName,
  signMessage,
  TYPE_A,
  TYPE_SOA,
  updateAdd,
  updateDeleteRrset,
  verifyResponse,
  type Message,
  type TsigKey,
} from "./wire.js";

export { DnsError } from "./transport.js";

export interface RecordUpdate {
  /** Whether an update was sent (false: the server already answered exactly `ip`). */
  readonly changed: boolean;
  /** The addresses the server answered before, sorted; empty when there was no record. */
  readonly previous: readonly string[];
}

/** The line to add to /etc/hosts when the inventory names no DNS server. */
export function hostsLine(name: string, ip: string): string {
  if (!isIpv4(ip)) throw new DnsError(`not an IPv4 address: ${ip}`);
  return `${ip}\t${canonicalName(name)}`;
}

/** Whether `name` is `zone` or inside it. */
export function inZone(name: string, zone: string): boolean {
  const n = canonicalName(name);
  const z = canonicalName(zone);
  return z === "" || n === z || n.endsWith(`.${z}`);
}

function tsigKey(settings: DnsModel, secret: string): TsigKey {
  if (settings.tsig === undefined) {
    throw new DnsError(`dns.server is set but dns.tsig is not: edgelab never sends unsigned updates`, { hint: "Add dns.tsig {name, algorithm, secret} with the key the server accepts updates from (see docs/deploy.md)." });
  }
  const { name, algorithm } = settings.tsig;
  if (!isTsigAlgorithm(algorithm)) throw new DnsError(`dns.tsig.algorithm '${algorithm}' is not supported`, { hint: "Use hmac-sha256 (or hmac-sha224/384/512)." });
  const text = secret.trim();
  const decoded = Buffer.from(text, "base64");
  if (text === "" || decoded.length === 0 || decoded.toString("base64").replace(/=+$/, "") !== text.replace(/=+$/, "")) {
    throw new DnsError(`the secret of TSIG key '${name}' is not base64`, { hint: "Give the key's secret exactly as in the server's key statement (e.g. the output of `tsig-keygen -a hmac-sha256 NAME`)." });
  }
  return { name, algorithm, secret: decoded };
}

async function serverAddress(settings: DnsModel): Promise<DnsServer> {
  const server = settings.server;
  if (server === undefined) throw new DnsError("the inventory names no DNS server (dns.server)", { hint: "Without one, add the hosts-file line edgelab prints, or set dns.server and dns.tsig." });
  if (isIPv4(server)) return { address: server, port: settings.port };
  try {
    const { address } = await lookup(server, { family: 4 });
    return { address, port: settings.port };
  } catch (err) {
    throw new DnsError(`cannot resolve the DNS server's name ${server}: ${(err as Error).message}`, { hint: "Give dns.server as an IPv4 address, or fix this machine's resolver.", cause: err });
  }
}

/** Unpredictable message ids (RFC 5452), besides the signatures. */
function messageId(): number {
  return randomInt(0, 0x10000);
}

function explainTsigError(error: number, key: TsigKey, server: DnsServer): DnsError {
  const at = `${server.address}:${server.port}`;
  switch (error) {
    case RCODE.BADKEY:
      return new DnsError(`DNS server ${at} does not know TSIG key '${key.name}' with algorithm ${key.algorithm} (BADKEY)`, {
        hint: `dns.tsig.name and dns.tsig.algorithm must match a key the server has (BIND: key "${key.name}" { algorithm ${key.algorithm}; secret "..."; };).`,
      });
    case RCODE.BADSIG:
      return new DnsError(`DNS server ${at} rejected the signature made with TSIG key '${key.name}' (BADSIG): the secret differs from the server's`, {
        hint: "Give dns.tsig.secret exactly the base64 secret of the server's key of that name (the value is never printed).",
      });
    case RCODE.BADTIME:
      return new DnsError(`DNS server ${at} rejected the TSIG time (BADTIME): the clocks differ by more than 300 s`, { hint: "Synchronise this machine's clock and the DNS server's (NTP)." });
    default:
      return new DnsError(`DNS server ${at} reported TSIG error ${rcodeName(error)}`, { hint: "Check dns.tsig against the server's key." });
  }
}

interface Exchanged {
  readonly message: Message;
}

/** Signs `message`, exchanges it, verifies the response's id, opcode and signature. */
async function signedExchange(server: DnsServer, message: Message, key: TsigKey, step: string, options: ExchangeOptions): Promise<Exchanged> {
  const signed = signMessage(encodeMessage(message), key);
  const wire = await exchange(server, signed.wire, options);
  let decoded;
  try {
    decoded = decodeMessage(wire);
  } catch (err) {
    throw new DnsError(`DNS server ${server.address}:${server.port} sent a malformed response to the ${step}: ${(err as Error).message}`, { cause: err });
  }
  const response = decoded.message;
  if (!response.qr || response.opcode !== message.opcode) throw new DnsError(`DNS server ${server.address}:${server.port} sent something other than a response to the ${step}`);
  const check = verifyResponse(wire, key, signed.mac);
  if (!check.ok) {
    const tsigError = check.tsig?.error ?? 0;
    if (tsigError !== 0) throw explainTsigError(tsigError, key, server);
    if (response.rcode !== RCODE.NOERROR && response.rcode !== RCODE.NXDOMAIN) throw rcodeError(response.rcode, step, server, key, message);
    const why = { unsigned: "is not signed", "wrong-key": "is signed with another key", "bad-mac": "has a signature that does not verify", "bad-time": "was signed outside the allowed time window" }[check.reason];
    throw new DnsError(`the response of DNS server ${server.address}:${server.port} to the ${step} ${why}; it is not trusted`, {
      hint: "Something between edgelab and the server altered or forged the response, or the server does not sign with this key. Nothing was assumed from it.",
    });
  }
  // A signed response may still carry a TSIG error (BADTIME is signed).
  if (check.tsig.error !== 0) throw explainTsigError(check.tsig.error, key, server);
  return { message: response };
}

function rcodeError(rcode: number, step: string, server: DnsServer, key: TsigKey, request: Message): DnsError {
  const at = `DNS server ${server.address}:${server.port}`;
  const zone = request.questions[0]?.name ?? "";
  switch (rcode) {
    case RCODE.REFUSED:
      return new DnsError(`${at} refused the ${step} (REFUSED)`, {
        hint: `The zone ${zone} does not let key '${key.name}' update this name, or the server is not the zone's primary. BIND: update-policy { grant ${key.name} name <name>. A; }; (see docs/deploy.md).`,
      });
    case RCODE.NOTAUTH:
      return new DnsError(`${at} is not authoritative for zone ${zone} (NOTAUTH)`, { hint: "Point dns.server at the zone's primary server, and check dns.zone." });
    case RCODE.NOTZONE:
      return new DnsError(`${at}: the name is not inside zone ${zone} (NOTZONE)`, { hint: "Set dns.zone to the zone that holds dns.name." });
    case RCODE.YXRRSET:
    case RCODE.NXRRSET:
      return new DnsError(`${at}: the record changed between edgelab's query and its update (${rcodeName(rcode)}); nothing was written`, { hint: "Someone else updated it at the same time; run the command again." });
    case RCODE.NOTIMP:
    case RCODE.FORMERR:
      return new DnsError(`${at} does not accept the ${step} (${rcodeName(rcode)})`, { hint: "The server does not support RFC 2136 dynamic updates for this zone; enable them (see docs/deploy.md)." });
    case RCODE.SERVFAIL:
      return new DnsError(`${at} failed the ${step} (SERVFAIL)`, { hint: "See the DNS server's log; for BIND a common cause is a zone directory named cannot write its journal (.jnl) in." });
    default:
      return new DnsError(`${at} answered the ${step} with ${rcodeName(rcode)}`);
  }
}

function header(opcode: number): Pick<Message, "id" | "qr" | "opcode" | "aa" | "tc" | "rd" | "rcode"> {
  return { id: messageId(), qr: false, opcode, aa: false, tc: false, rd: false, rcode: 0 };
}

/** The A addresses the server holds for `name` (sorted), asked with a signed query. */
export async function queryA(server: DnsServer, name: string, key: TsigKey, options: ExchangeOptions = DEFAULT_EXCHANGE): Promise<string[]> {
  const query: Message = { ...header(OPCODE_QUERY), questions: [{ name, type: TYPE_A, class: CLASS_IN }], answers: [], authority: [], additional: [] };
  const { message } = await signedExchange(server, query, key, `query for ${name} A`, options);
  if (message.rcode === RCODE.NXDOMAIN) return [];
  if (message.rcode !== RCODE.NOERROR) throw rcodeError(message.rcode, `query for ${name} A`, server, key, query);
  if (!message.aa) {
    throw new DnsError(`DNS server ${server.address}:${server.port} is not authoritative for ${name} (its answer is not authoritative)`, { hint: "Point dns.server at the zone's primary server." });
  }
  return message.answers
    .filter((rr) => rr.type === TYPE_A && canonicalName(rr.name) === canonicalName(name))
    .map((rr) => aAddress(rr.rdata))
    .sort();
}

/** The A addresses the server holds for the service's name now (sorted), asked with a signed query. */
export async function serviceRecord(settings: DnsModel, secret: string, options: ExchangeOptions = DEFAULT_EXCHANGE): Promise<string[]> {
  const key = tsigKey(settings, secret);
  return queryA(await serverAddress(settings), canonicalName(settings.name), key, options);
}

/**
 * Makes `settings.name` resolve to exactly `ip`: creates the record, or replaces the RRset
 * (delete + add in one update) when it holds anything else; sends nothing when the server
 * already answers exactly `ip`. The update carries a prerequisite on what the query saw, so a
 * concurrent change is reported instead of overwritten. Reads the record back afterwards.
 */
export async function updateServiceRecord(settings: DnsModel, ip: string, secret: string, options: ExchangeOptions = DEFAULT_EXCHANGE): Promise<RecordUpdate> {
  if (!isIpv4(ip)) throw new DnsError(`not an IPv4 address: ${ip}`, { hint: "Give the service's address as a.b.c.d." });
  if (!inZone(settings.name, settings.zone)) {
    throw new DnsError(`dns.name ${settings.name} is not inside dns.zone ${settings.zone}`, { hint: "Set dns.zone to the zone that holds the name (or leave it out: the name without its first label)." });
  }
  const key = tsigKey(settings, secret);
  const server = await serverAddress(settings);
  const name = canonicalName(settings.name);
  const previous = await queryA(server, name, key, options);
  if (previous.length === 1 && previous[0] === ip) return { changed: false, previous };

  const update: Message = {
    ...header(OPCODE_UPDATE),
    questions: [{ name: settings.zone, type: TYPE_SOA, class: CLASS_IN }],
    answers: previous.length === 0 ? [prereqRrsetAbsent(name, TYPE_A)] : prereqRrsetEquals(name, TYPE_A, previous.map(aRdata)),
    authority: [updateDeleteRrset(name, TYPE_A), updateAdd(name, TYPE_A, settings.ttl, aRdata(ip))],
    additional: [],
  };
  const { message } = await signedExchange(server, update, key, `update of ${name} A in zone ${canonicalName(settings.zone)}`, options);
  if (message.rcode !== RCODE.NOERROR) throw rcodeError(message.rcode, `update of ${name} A`, server, key, update);

  const now = await queryA(server, name, key, options);
  if (now.length !== 1 || now[0] !== ip) {
    throw new DnsError(`DNS server ${server.address}:${server.port} accepted the update but answers ${now.length === 0 ? "no address" : now.join(", ")} for ${name} instead of ${ip}`, {
      hint: "Another writer may manage this name (a DHCP server, another tool); see the server's log.",
    });
  }
  return { changed: true, previous };
}


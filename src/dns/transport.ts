/**
 * Sending one DNS message and receiving its response: UDP first, TCP when the response is
 * truncated or the message does not fit in 512 bytes (RFC 1035 §4.2, RFC 7766).
 */
import { createSocket } from "node:dgram";
import { connect } from "node:net";
import { EdgelabError } from "../errors.js";

export interface DnsServer {
  /** IPv4 address. */
  readonly address: string;
  readonly port: number;
}

export interface ExchangeOptions {
  /** Per attempt. */
  readonly timeoutMs: number;
  /** UDP attempts before giving up. */
  readonly attempts: number;
}

export const DEFAULT_EXCHANGE: ExchangeOptions = { timeoutMs: 2000, attempts: 3 };

export class DnsError extends EdgelabError {
  override readonly name = "DnsError";
}

function where(server: DnsServer, proto: string): string {
  return `${proto} ${server.address}:${server.port}`;
}

function udpOnce(server: DnsServer, wire: Buffer, timeoutMs: number): Promise<Buffer | "timeout"> {
  const id = wire.readUInt16BE(0);
  return new Promise((resolve, reject) => {
    const socket = createSocket("udp4");
    const timer = setTimeout(() => finish(() => resolve("timeout")), timeoutMs);
    const finish = (then: () => void): void => {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on("error", () => undefined);
      socket.close();
      then();
    };
    socket.on("error", (err: NodeJS.ErrnoException) => {
      finish(() => {
        const refused = err.code === "ECONNREFUSED";
        reject(
          new DnsError(`DNS server ${where(server, "udp")}: ${refused ? "nothing listens there (connection refused)" : err.message}`, {
            hint: refused ? "Check dns.server and dns.port in the inventory, and that the server is running." : undefined,
            cause: err,
          }),
        );
      });
    });
    // A connected socket only accepts datagrams from the server, and reports ICMP errors.
    socket.on("message", (msg) => {
      if (msg.length >= 2 && msg.readUInt16BE(0) === id) finish(() => resolve(msg));
    });
    socket.connect(server.port, server.address, () => {
      socket.send(wire);
    });
  });
}

function tcpOnce(server: DnsServer, wire: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: server.address, port: server.port });
    let received = Buffer.alloc(0);
    const fail = (message: string, cause?: unknown): void => {
      socket.destroy();
      reject(new DnsError(`DNS server ${where(server, "tcp")}: ${message}`, { hint: "Check dns.server and dns.port in the inventory, and that the server accepts TCP.", cause }));
    };
    socket.setTimeout(timeoutMs, () => fail(`no response within ${timeoutMs} ms`));
    socket.on("error", (err) => fail(err.message, err));
    socket.on("connect", () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(wire.length, 0);
      socket.write(Buffer.concat([len, wire]));
    });
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) {
        socket.destroy();
        resolve(received.subarray(2, 2 + received.readUInt16BE(0)));
      }
    });
    socket.on("end", () => fail("closed the connection before a whole response arrived"));
  });
}

/** Sends `wire` and returns the raw response (with the same id). */
export async function exchange(server: DnsServer, wire: Buffer, options: ExchangeOptions = DEFAULT_EXCHANGE): Promise<Buffer> {
  if (wire.length <= 512) {
    for (let attempt = 0; attempt < options.attempts; attempt++) {
      const response = await udpOnce(server, wire, options.timeoutMs);
      if (response === "timeout") continue;
      const truncated = response.length >= 4 && (response.readUInt16BE(2) & 0x200) !== 0;
      if (!truncated) return response;
      break;
    }
  }
  try {
    return await tcpOnce(server, wire, options.timeoutMs);
  } catch (err) {
    if (wire.length <= 512 && err instanceof DnsError) {
      throw new DnsError(`DNS server ${server.address}:${server.port} did not answer over UDP (${options.attempts} attempts, ${options.timeoutMs} ms each) nor over TCP: ${err.message}`, {
        hint: "Check dns.server and dns.port in the inventory, that the server runs, and that no firewall drops port 53 traffic.",
        cause: err,
      });
    }
    throw err;
  }
}

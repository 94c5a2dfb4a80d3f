/**
 * The service's A record through RFC 2136 + TSIG against a real BIND 9 (Debian's named) on
 * loopback, configured with the named.conf snippet documented in docs/deploy.md.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostsLine, updateServiceRecord } from "../../src/dns/index.js";
import { exchange } from "../../src/dns/transport.js";
import { aRdata, CLASS_IN, decodeMessage, encodeMessage, OPCODE_UPDATE, RCODE, TYPE_A, TYPE_SOA, updateAdd } from "../../src/dns/wire.js";
import type { DnsModel } from "../../src/model/lab.js";
import { BIND_KEY, BIND_NAME, BIND_ZONE, startBind, type Bind } from "../helpers/bind.js";
import { cli } from "../helpers/cli.js";
import { rejection } from "../helpers/rejection.js";

let bind: Bind;
let settings: DnsModel;

beforeAll(async () => {
  bind = await startBind();
  settings = { name: BIND_NAME, server: "127.0.0.1", port: bind.port, zone: BIND_ZONE, ttl: 60, tsig: { name: BIND_KEY, algorithm: "hmac-sha256", secret: { env: "EDGELAB_TEST_TSIG" } } };
});

afterAll(async () => {
  const dir = bind.dir;
  await bind.stop();
  expect(existsSync(dir)).toBe(false);
});

/** Adds an address to the RRset out of band, with BIND's own nsupdate (key from a file). */
function nsupdateAdd(ip: string): void {
  const keyFile = join(bind.dir, "nsupdate.key");
  writeFileSync(keyFile, `key "${BIND_KEY}" { algorithm hmac-sha256; secret "${bind.secret}"; };\n`, { mode: 0o600 });
  execFileSync("nsupdate", ["-k", keyFile], { input: `server 127.0.0.1 ${bind.port}\nzone ${BIND_ZONE}\nupdate add ${BIND_NAME} 60 A ${ip}\nsend\n` });
}

describe("A record by dynamic update against BIND", () => {
  it("creates the record when there is none", async () => {
    expect(bind.dig(BIND_NAME)).toEqual([]);
    const result = await updateServiceRecord(settings, "198.18.0.10", bind.secret);
    expect(result).toEqual({ changed: true, previous: [] });
    expect(bind.dig(BIND_NAME)).toEqual(["198.18.0.10"]);
  });

  it("sends no update when the server already answers the same address", async () => {
    const serial = bind.serial();
    const result = await updateServiceRecord(settings, "198.18.0.10", bind.secret);
    expect(result).toEqual({ changed: false, previous: ["198.18.0.10"] });
    expect(bind.serial()).toBe(serial);
  });

  it("replaces the record when the address changes", async () => {
    const serial = bind.serial();
    const result = await updateServiceRecord(settings, "198.18.0.11", bind.secret);
    expect(result).toEqual({ changed: true, previous: ["198.18.0.10"] });
    expect(bind.dig(BIND_NAME)).toEqual(["198.18.0.11"]);
    expect(bind.serial()).toBeGreaterThan(serial);
  });

  it("never leaves two addresses: an RRset someone grew is replaced by the one address", async () => {
    nsupdateAdd("198.18.0.99");
    expect(bind.dig(BIND_NAME)).toEqual(["198.18.0.11", "198.18.0.99"]);
    const result = await updateServiceRecord(settings, "198.18.0.11", bind.secret);
    expect(result).toEqual({ changed: true, previous: ["198.18.0.11", "198.18.0.99"] });
    expect(bind.dig(BIND_NAME)).toEqual(["198.18.0.11"]);
  });

  it("reports a wrong secret as BADSIG with a hint, and changes nothing", async () => {
    const wrong = randomBytes(32).toString("base64");
    const error = await rejection(updateServiceRecord(settings, "198.18.0.12", wrong));
    expect(error.name).toBe("DnsError");
    expect(error.message).toMatch(/rejected the signature made with TSIG key 'edgelab-update' \(BADSIG\)/);
    expect(error.hint).toMatch(/dns\.tsig\.secret/);
    expect(error.message).not.toContain(wrong);
    expect(bind.dig(BIND_NAME)).toEqual(["198.18.0.11"]);
  });

  it("reports a key the server does not know as BADKEY with a hint", async () => {
    const other: DnsModel = { ...settings, tsig: { name: "someone-else", algorithm: "hmac-sha256", secret: { env: "X" } } };
    const error = await rejection(updateServiceRecord(other, "198.18.0.12", bind.secret));
    expect(error.message).toMatch(/does not know TSIG key 'someone-else' with algorithm hmac-sha256 \(BADKEY\)/);
    expect(error.hint).toMatch(/key "someone-else"/);
    expect(bind.dig(BIND_NAME)).toEqual(["198.18.0.11"]);
  });

  it("the documented zone configuration refuses an unsigned update", async () => {
    const unsigned = encodeMessage({
      id: 4242,
      qr: false,
      opcode: OPCODE_UPDATE,
      aa: false,
      tc: false,
      rd: false,
      rcode: 0,
      questions: [{ name: BIND_ZONE, type: TYPE_SOA, class: CLASS_IN }],
      answers: [],
      authority: [updateAdd(BIND_NAME, TYPE_A, 60, aRdata("198.18.0.66"))],
      additional: [],
    });
    const response = decodeMessage(await exchange({ address: "127.0.0.1", port: bind.port }, unsigned)).message;
    expect(response.rcode).toBe(RCODE.REFUSED);
    expect(bind.dig(BIND_NAME)).toEqual(["198.18.0.11"]);
  });

  it("falls back to TCP when the UDP response is truncated", async () => {
    // A loopback relay: every UDP query gets an empty truncated answer; TCP is passed to named.
    const udp: Socket = createSocket("udp4");
    udp.on("message", (msg, peer) => {
      const reply = Buffer.from(msg.subarray(0, 12));
      reply.writeUInt16BE((msg.readUInt16BE(2) & 0x7800) | 0x8000 | 0x200, 2);
      reply.fill(0, 4, 12);
      udp.send(reply, peer.port, peer.address);
    });
    await new Promise<void>((resolve) => udp.bind(0, "127.0.0.1", resolve));
    const port = udp.address().port;
    let tcpConnections = 0;
    const tcp: Server = createServer((client) => {
      tcpConnections++;
      const upstream = connect({ host: "127.0.0.1", port: bind.port });
      client.pipe(upstream).pipe(client);
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
    });
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once("error", reject);
        tcp.listen(port, "127.0.0.1", resolve);
      });
      const result = await updateServiceRecord({ ...settings, port }, "198.18.0.13", bind.secret);
      expect(result).toEqual({ changed: true, previous: ["198.18.0.11"] });
      expect(tcpConnections).toBe(3); // query, update, read-back
      expect(bind.dig(BIND_NAME)).toEqual(["198.18.0.13"]);
    } finally {
      udp.close();
      await new Promise((resolve) => tcp.close(resolve));
    }
  });

  it("refuses a forged answer that says the address is already set", async () => {
    // A loopback impostor answers the query with the address edgelab is about to set, signed
    // with a key that is not the configured one.
    const impostor = createSocket("udp4");
    impostor.on("message", (msg, peer) => {
      const query = decodeMessage(msg).message;
      const forged = encodeMessage({ ...query, qr: true, aa: true, answers: [{ name: BIND_NAME, type: TYPE_A, class: CLASS_IN, ttl: 60, rdata: aRdata("198.18.0.77") }], additional: [] });
      const tsig = msg.subarray(decodeMessage(msg).lastRecordOffset);
      const withTsig = Buffer.concat([forged, tsig]);
      withTsig.writeUInt16BE(1, 10);
      impostor.send(withTsig, peer.port, peer.address);
    });
    await new Promise<void>((resolve) => impostor.bind(0, "127.0.0.1", resolve));
    try {
      await expect(updateServiceRecord({ ...settings, port: impostor.address().port }, "198.18.0.77", bind.secret)).rejects.toThrow(/signature that does not verify; it is not trusted/);
    } finally {
      impostor.close();
    }
  });
});

describe("edgelab dns set", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "edgelab-dns-cli-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function inventory(dns: string): string {
    const local = readFileSync(new URL("../../inventories/local.yml", import.meta.url), "utf8");
    const file = join(dir, `inv-${randomBytes(4).toString("hex")}.yml`);
    writeFileSync(file, local.replace(/ {4}dns:\n {6}name: live\.localhost\n/, dns));
    return file;
  }

  it("updates the record through the inventory's dns section, with the secret from the environment", async () => {
    const file = inventory(`    dns:\n      name: ${BIND_NAME}\n      server: 127.0.0.1\n      port: ${bind.port}\n      tsig:\n        name: ${BIND_KEY}\n        secret: {env: EDGELAB_TEST_TSIG}\n`);
    const env = { EDGELAB_TEST_TSIG: bind.secret };
    const first = await cli(["dns", "set", "198.18.0.20", "-i", file, "--json"], { env });
    expect(first.stderr).toBe("");
    expect(JSON.parse(first.stdout)).toMatchObject({ name: BIND_NAME, ip: "198.18.0.20", changed: true, previous: ["198.18.0.13"] });
    expect(bind.dig(BIND_NAME)).toEqual(["198.18.0.20"]);
    const again = await cli(["dns", "set", "198.18.0.20", "-i", file], { env });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("unchanged");
    expect(again.stdout + again.stderr).not.toContain(bind.secret);
  });

  it("says which variable is missing when the secret is not in the environment", async () => {
    const file = inventory(`    dns:\n      name: ${BIND_NAME}\n      server: 127.0.0.1\n      port: ${bind.port}\n      tsig:\n        name: ${BIND_KEY}\n        secret: {env: EDGELAB_TEST_TSIG}\n`);
    const result = await cli(["dns", "set", "198.18.0.21", "-i", file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/environment variable EDGELAB_TEST_TSIG is not set/);
    expect(bind.dig(BIND_NAME)).toEqual(["198.18.0.20"]);
  });

  it("prints the hosts-file line when the inventory names no DNS server", async () => {
    const file = inventory(`    dns:\n      name: Live.Example.com\n`);
    const result = await cli(["dns", "set", "198.18.0.30", "-i", file]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("198.18.0.30\tlive.example.com\n");
    expect(hostsLine("live.example.com.", "198.18.0.30")).toBe("198.18.0.30\tlive.example.com");
  });

  it("shows examples in its help", async () => {
    for (const argv of [["dns", "--help"], ["dns", "set", "--help"]]) {
      const r = await cli(argv);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Examples:\n {2}\$ .*edgelab dns set/);
    }
  });

  it("refuses an address that is not IPv4 before reading anything", async () => {
    const result = await cli(["dns", "set", "198.18.0.300", "-i", join(dir, "missing.yml")]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/'198\.18\.0\.300' is not an IPv4 address/);
  });
});

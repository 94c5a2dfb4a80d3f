import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fingerprint, HostKeyError, parseHostKey, parseKnownHosts, renderKnownHosts, updateKnownHosts } from "../../../src/exec/known-hosts.js";

const dir = mkdtempSync(join(tmpdir(), "edgelab-knownhosts-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function keygen(name: string, type: "ed25519" | "ecdsa" | "rsa"): string {
  execFileSync("ssh-keygen", ["-q", "-t", type, ...(type === "rsa" ? ["-b", "2048"] : []), "-N", "", "-C", `root@${name}`, "-f", join(dir, name)]);
  return readFileSync(join(dir, `${name}.pub`), "utf8");
}

describe("host keys", () => {
  it("reads the public keys ssh-keygen writes and fingerprints them as OpenSSH does", () => {
    for (const type of ["ed25519", "ecdsa", "rsa"] as const) {
      const line = keygen(`fp-${type}`, type);
      const key = parseHostKey(line);
      expect(line.startsWith(`${key.type} ${key.blob} `)).toBe(true);
      const openssh = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", join(dir, `fp-${type}.pub`)]).toString().split(" ")[1];
      expect(fingerprint(key)).toBe(openssh);
    }
  });

  it("refuses a key whose data is not of the type its line claims, or is cut short", () => {
    const rsa = parseHostKey(keygen("liar", "rsa"));
    expect(() => parseHostKey(`ssh-ed25519 ${rsa.blob}`)).toThrow(new HostKeyError("host key: the key data is not a ssh-ed25519 key (it holds ssh-rsa)"));
    const ed = parseHostKey(keygen("short", "ed25519"));
    expect(() => parseHostKey(`ssh-ed25519 ${ed.blob.slice(0, 8)}`)).toThrow(/not a ssh-ed25519 key \(truncated\?\)|not base64/);
    expect(() => parseHostKey("ssh-dss AAAAB3NzaC1kc3M=")).toThrow(/unsupported key type 'ssh-dss'/);
    expect(() => parseHostKey("just-one-word")).toThrow(/expected "<type> <base64>"/);
  });
});

describe("known_hosts", () => {
  it("is a file OpenSSH finds each host in, with [host]:port for other ports", () => {
    const a = parseHostKey(keygen("a", "ed25519"));
    const b = parseHostKey(keygen("b", "ed25519"));
    const file = join(dir, "known_hosts");
    writeFileSync(file, renderKnownHosts([{ host: "198.18.0.10", port: 22, keys: [a] }, { host: "198.18.0.11", port: 2222, keys: [b] }]));
    expect(execFileSync("ssh-keygen", ["-F", "198.18.0.10", "-f", file]).toString()).toContain(`198.18.0.10 ssh-ed25519 ${a.blob}`);
    expect(execFileSync("ssh-keygen", ["-F", "[198.18.0.11]:2222", "-f", file]).toString()).toContain(`[198.18.0.11]:2222 ssh-ed25519 ${b.blob}`);
    expect(parseKnownHosts(readFileSync(file, "utf8"))).toEqual([
      { host: "198.18.0.10", port: 22, keys: [a] },
      { host: "198.18.0.11", port: 2222, keys: [b] },
    ]);
  });

  it("replaces a re-created host's keys, keeps the other hosts' entries, and is readable by its owner only", () => {
    const old = parseHostKey(keygen("old", "ed25519"));
    const renewed = parseHostKey(keygen("new", "ed25519"));
    const other = parseHostKey(keygen("other", "ecdsa"));
    const file = join(dir, "managed_known_hosts");
    writeFileSync(file, `# a comment\n|1|hashed+entry= ssh-ed25519 ${old.blob}\n198.18.0.20 ${other.type} ${other.blob}\n198.18.0.21 ssh-ed25519 ${old.blob}\n`, { mode: 0o644 });
    expect(updateKnownHosts(file, [{ host: "198.18.0.21", port: 22, keys: [renewed] }])).toBe("updated");
    expect(parseKnownHosts(readFileSync(file, "utf8"))).toEqual([
      { host: "198.18.0.20", port: 22, keys: [other] },
      { host: "198.18.0.21", port: 22, keys: [renewed] },
    ]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(updateKnownHosts(file, [{ host: "198.18.0.21", port: 22, keys: [renewed] }])).toBe("unchanged");
    expect(() => updateKnownHosts(file, [{ host: "198.18.0.22", port: 22, keys: [] }])).toThrow("no SSH host key for 198.18.0.22");
  });
});

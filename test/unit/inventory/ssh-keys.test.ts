/**
 * proxmox.ssh_keys: each entry must be an OpenSSH public key line whose key data names its type.
 * Keys are made by the real ssh-keygen; the private key refused must not be echoed back.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { at, check, labData } from "../../helpers/inventory.js";

let dir: string;
let ed25519: { pub: string; priv: string };
let rsaPub: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "edgelab-ssh-keys-"));
  const make = (type: string, name: string): { pub: string; priv: string } => {
    execFileSync("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", `${name}@inventory-test`, "-f", join(dir, name)]);
    return { pub: readFileSync(join(dir, `${name}.pub`), "utf8").trim(), priv: readFileSync(join(dir, name), "utf8") };
  };
  ed25519 = make("ed25519", "ed");
  rsaPub = make("rsa", "rsa").pub;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function keyIssues(keys: string[]): string[] {
  const data = labData();
  at(data, "all.vars.proxmox")["ssh_keys"] = keys;
  return check(data).issues.filter((i) => i.path.join(".").startsWith("all.vars.proxmox.ssh_keys")).map((i) => `${i.severity} ${i.path.join(".")}: ${i.message}`);
}

describe("proxmox.ssh_keys", () => {
  it("accepts the lines ssh-keygen writes (Ed25519, RSA), with no issue", () => {
    expect(keyIssues([ed25519.pub, rsaPub])).toEqual([]);
  });
  it("refuses a private key with the fix, without repeating its text", () => {
    const found = keyIssues([ed25519.pub, ed25519.priv]);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^error all\.vars\.proxmox\.ssh_keys\.1: that is a private key; give its \.pub/);
    const body = ed25519.priv.split("\n")[1] ?? "";
    expect(body.length).toBeGreaterThan(20);
    expect(found[0]).not.toContain(body.slice(0, 20));
  });
  it("refuses a key whose data is another type's (an RSA blob labelled ssh-ed25519)", () => {
    const blob = rsaPub.split(" ")[1] ?? "";
    expect(keyIssues([`ssh-ed25519 ${blob} mislabelled`])).toEqual(["error all.vars.proxmox.ssh_keys.0: not an OpenSSH public key: the key data is not a ssh-ed25519 key (it holds a ssh-rsa key) (Copy the whole line again from the .pub file.)"]);
  });
  it("refuses a key cut short after its type name, and one with bytes added after it", () => {
    const [type = "", blob = ""] = ed25519.pub.split(" ");
    const cut = blob.slice(0, 60);
    const padded = Buffer.concat([Buffer.from(blob, "base64"), Buffer.from([0, 0, 0, 1, 65])]).toString("base64");
    // The cut blob still names ssh-ed25519: only its length gives it away.
    expect(Buffer.from(cut, "base64").subarray(4, 15).toString()).toBe("ssh-ed25519");
    expect(keyIssues([`${type} ${cut} me@host`, `${type} ${padded}`])).toEqual([
      "error all.vars.proxmox.ssh_keys.0: not an OpenSSH public key: the key data is not a ssh-ed25519 key (truncated or damaged) (Copy the whole line again from the .pub file.)",
      "error all.vars.proxmox.ssh_keys.1: not an OpenSSH public key: the key data is not a ssh-ed25519 key (truncated or damaged) (Copy the whole line again from the .pub file.)",
    ]);
  });
  it("refuses a truncated key, a line without its type and a line that is no key", () => {
    const [type = "", blob = ""] = ed25519.pub.split(" ");
    const found = keyIssues([`${type} ${blob.slice(0, 8)}`, blob, "my-laptop-key"]);
    expect(found).toEqual([
      expect.stringMatching(/^error all\.vars\.proxmox\.ssh_keys\.0: not an OpenSSH public key: the key data is not a ssh-ed25519 key \(truncated or damaged\)/),
      expect.stringMatching(/^error all\.vars\.proxmox\.ssh_keys\.1: not an OpenSSH public key: the key type \(e\.g\. ssh-ed25519\) is missing before the key data/),
      expect.stringMatching(/^error all\.vars\.proxmox\.ssh_keys\.2: not an OpenSSH public key: expected '<type> <base64 key> \[comment\]'/),
    ]);
  });
});

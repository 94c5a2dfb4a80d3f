/**
 * The keys the wizard offers from a home directory's .ssh (a temporary one, never the real ~),
 * shown as the real `ssh-keygen -lf` shows them, and the key files it reads.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkPublicKeyLine } from "../../../src/util/ssh-public-key.js";
import { describeKey, expandPath, findPublicKeys, readPublicKeyFile } from "../../../src/wizard/ssh-keys.js";

let dir: string;
let keys: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "edgelab-wizard-keys-"));
  keys = join(dir, "made");
  mkdirSync(keys);
  for (const [type, bits, name, comment] of [["ed25519", "", "ed", "eng@wizard-test"], ["ecdsa", "384", "ec", "two words"], ["rsa", "3072", "rsa", ""]] as const) {
    execFileSync("ssh-keygen", ["-q", "-t", type, ...(bits === "" ? [] : ["-b", bits]), "-N", "", "-C", comment, "-f", join(keys, name)]);
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pub = (name: string): string => readFileSync(join(keys, `${name}.pub`), "utf8");

describe("describeKey", () => {
  it.each(["ed", "ec", "rsa"])("shows the %s key as ssh-keygen -lf does (bits, SHA256 fingerprint, comment, type)", (name) => {
    const checked = checkPublicKeyLine(pub(name));
    expect(checked.ok).toBe(true);
    if (!checked.ok) return;
    expect(describeKey(checked.key)).toBe(execFileSync("ssh-keygen", ["-lf", join(keys, `${name}.pub`)], { encoding: "utf8" }).trim());
  });
});

describe("findPublicKeys", () => {
  it("offers every key in <home>/.ssh/*.pub, id_ed25519 before id_rsa and chosen, leaving out what is not a key", () => {
    const home = join(dir, "home-a");
    mkdirSync(join(home, ".ssh"), { recursive: true });
    copyFileSync(join(keys, "rsa.pub"), join(home, ".ssh", "id_rsa.pub"));
    copyFileSync(join(keys, "ec.pub"), join(home, ".ssh", "a_work.pub"));
    copyFileSync(join(keys, "ed.pub"), join(home, ".ssh", "id_ed25519.pub"));
    writeFileSync(join(home, ".ssh", "broken.pub"), "not a key\n");
    copyFileSync(join(keys, "ed"), join(home, ".ssh", "id_ed25519"));
    const found = findPublicKeys(home);
    expect(found.map((f) => [f.file, f.preferred])).toEqual([["id_ed25519.pub", true], ["id_rsa.pub", false], ["a_work.pub", false]]);
    expect(found.map((f) => `${f.key.type} ${f.key.key}`)).toEqual(["ed", "rsa", "ec"].map((n) => pub(n).split(" ").slice(0, 2).join(" ")));
  });
  it("chooses id_rsa when it is the only preferred key, none when only other keys exist, and finds nothing without .ssh", () => {
    const home = join(dir, "home-b");
    mkdirSync(join(home, ".ssh"), { recursive: true });
    copyFileSync(join(keys, "ec.pub"), join(home, ".ssh", "deploy.pub"));
    expect(findPublicKeys(home).map((f) => [f.file, f.preferred])).toEqual([["deploy.pub", false]]);
    copyFileSync(join(keys, "rsa.pub"), join(home, ".ssh", "id_rsa.pub"));
    expect(findPublicKeys(home).map((f) => [f.file, f.preferred])).toEqual([["id_rsa.pub", true], ["deploy.pub", false]]);
    expect(findPublicKeys(join(dir, "no-such-home"))).toEqual([]);
  });
});

describe("readPublicKeyFile", () => {
  it("reads a .pub file and an authorized_keys-style list (comments and blank lines skipped)", () => {
    const list = join(dir, "authorized_keys");
    writeFileSync(list, `# team keys\n${pub("ed")}\n\n${pub("rsa")}`);
    const r = readPublicKeyFile(list);
    expect(r.ok && r.keys.map((k) => k.type)).toEqual(["ssh-ed25519", "ssh-rsa"]);
  });
  it("refuses a private key's path with the fix, a missing file, a directory and a file with a bad line", () => {
    const bad = join(dir, "bad.pub");
    writeFileSync(bad, `${pub("ed")}ssh-ed25519 AAAA\n`);
    const reasons = [join(keys, "ed"), join(dir, "missing.pub"), keys, bad].map((p) => {
      const r = readPublicKeyFile(p);
      return r.ok ? "read" : r.reason;
    });
    expect(reasons).toEqual([
      `${join(keys, "ed")}: that is a private key; give its .pub`,
      `cannot read ${join(dir, "missing.pub")}: no such file`,
      `${keys} is not a file`,
      `${bad} line 2: not an OpenSSH public key: the key data is not a ssh-ed25519 key (truncated or damaged)`,
    ]);
  });
  it("expands ~/ in the given home and resolves a relative path from the given directory", () => {
    expect(expandPath("~/.ssh/id_ed25519.pub", "/home/eng", "/work")).toBe("/home/eng/.ssh/id_ed25519.pub");
    expect(expandPath("keys/me.pub", "/home/eng", "/work/lab")).toBe("/work/lab/keys/me.pub");
    expect(expandPath("/etc/x.pub", "/home/eng", "/work")).toBe("/etc/x.pub");
  });
});

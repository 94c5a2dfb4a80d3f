import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { ExecResult, Executor } from "../../../src/exec/types.js";
import { ensureRootfs, mirrorsFor, mmdebstrapArgv, parseAptSources, rootfsHash, type RootfsSpec } from "../../../src/images/rootfs.js";
import { sleep } from "../../../src/util/sleep.js";

const dir = mkdtempSync(join(tmpdir(), "edgelab-rootfs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SPEC: RootfsSpec = { suite: "bookworm", variant: "apt", packages: ["openssh-server", "python3"], customize: ['rm -f "$1"/etc/ssh/ssh_host_*'] };

describe("apt sources", () => {
  const deb822 = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main contrib

Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main

Enabled: no
Types: deb
URIs: http://mirror.invalid/debian
Suites: bookworm
Components: main
`;
  const oneLine = "deb [arch=amd64 signed-by=/etc/apt/keyrings/local.gpg] http://apt.example.invalid/debian bookworm main non-free\n# deb http://commented.invalid/debian bookworm main\ndeb-src http://deb.debian.org/debian bookworm main\ndeb http://third.invalid/repo stable contrib\n";

  it("reads deb822 and one-line sources, keeping binary, enabled entries", () => {
    expect(parseAptSources([{ path: "/etc/apt/sources.list.d/debian.sources", text: deb822 }, { path: "/etc/apt/sources.list", text: oneLine }])).toEqual([
      { uri: "http://deb.debian.org/debian", suite: "bookworm", components: ["main"], signedBy: "/usr/share/keyrings/debian-archive-keyring.gpg" },
      { uri: "http://deb.debian.org/debian", suite: "bookworm-updates", components: ["main"], signedBy: "/usr/share/keyrings/debian-archive-keyring.gpg" },
      { uri: "http://deb.debian.org/debian-security", suite: "bookworm-security", components: ["main", "contrib"] },
      { uri: "http://deb.debian.org/debian", suite: "bookworm-backports", components: ["main"] },
      { uri: "http://apt.example.invalid/debian", suite: "bookworm", components: ["main", "non-free"], signedBy: "/etc/apt/keyrings/local.gpg" },
      { uri: "http://third.invalid/repo", suite: "stable", components: ["contrib"] },
    ]);
  });

  it("maps the machine's release pockets to the wanted suite, main only, without backports or other repositories", () => {
    const sources = parseAptSources([{ path: "x.sources", text: deb822 }]);
    expect(mirrorsFor(sources, "bookworm", "bookworm")).toEqual([
      "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main",
      "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-updates main",
      "deb http://deb.debian.org/debian-security bookworm-security main",
    ]);
    expect(mirrorsFor(sources, "bookworm", "trixie")).toEqual([
      "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main",
      "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie-updates main",
      "deb http://deb.debian.org/debian-security trixie-security main",
    ]);
    expect(mirrorsFor(sources, "trixie", "bookworm")).toEqual([]);
  });
});

describe("rootfs spec", () => {
  it("hashes the content, not the order of the packages", () => {
    expect(rootfsHash({ ...SPEC, packages: ["python3", "openssh-server", "python3"] })).toBe(rootfsHash(SPEC));
    expect(rootfsHash({ ...SPEC, packages: [...SPEC.packages, "curl"] })).not.toBe(rootfsHash(SPEC));
    expect(rootfsHash({ ...SPEC, customize: [] })).not.toBe(rootfsHash(SPEC));
    expect(rootfsHash({ ...SPEC, suite: "trixie" })).not.toBe(rootfsHash(SPEC));
  });

  it("builds with mmdebstrap from the given mirrors, without recommends or documentation", () => {
    expect(mmdebstrapArgv(SPEC, "/t", ["deb http://m/debian bookworm main"])).toEqual([
      "mmdebstrap",
      "--variant=apt",
      "--format=directory",
      "--include=openssh-server,python3",
      '--aptopt=APT::Install-Recommends "false"',
      "--dpkgopt=path-exclude=/usr/share/man/*",
      "--dpkgopt=path-exclude=/usr/share/locale/*",
      "--dpkgopt=path-exclude=/usr/share/doc/*",
      "--dpkgopt=path-include=/usr/share/doc/*/copyright",
      '--customize-hook=rm -f "$1"/etc/ssh/ssh_host_*',
      "bookworm",
      "/t",
      "deb http://m/debian bookworm main",
    ]);
  });
});

/** Stands in for mmdebstrap: makes the target directory after a while, counting builds. */
class FakeBuilder implements Executor {
  readonly host = "local";
  builds = 0;
  constructor(private readonly fail = false) {}
  async run(argv: readonly string[]): Promise<ExecResult> {
    this.builds += 1;
    const target = argv.at(-2) ?? "";
    mkdirSync(join(target, "etc"), { recursive: true });
    await sleep(300);
    if (this.fail) return { stdout: "", stderr: "E: cannot reach the mirror\n", exitCode: 1, signal: null, timedOut: false, durationMs: 300 };
    writeFileSync(join(target, "etc", "os-release"), "ID=debian\n");
    return { stdout: "", stderr: "I: success\n", exitCode: 0, signal: null, timedOut: false, durationMs: 300 };
  }
}

describe("ensureRootfs", () => {
  it("builds a spec once, however many ask at the same time, and serves it from the cache afterwards", async () => {
    const cacheDir = join(dir, "cache-once");
    const builder = new FakeBuilder();
    const options = { cacheDir, mirrors: ["deb http://m/debian bookworm main"], executor: builder };
    const [a, b] = await Promise.all([ensureRootfs(SPEC, options), ensureRootfs(SPEC, options)]);
    expect(builder.builds).toBe(1);
    expect([a.built, b.built].sort()).toEqual([false, true]);
    expect(a.path).toBe(join(cacheDir, rootfsHash(SPEC)));
    expect(existsSync(join(a.path, "etc", "os-release"))).toBe(true);
    const again = await ensureRootfs(SPEC, options);
    expect(again).toMatchObject({ built: false, path: a.path });
    expect(builder.builds).toBe(1);
  });

  it("leaves nothing behind when a build fails, and removes an interrupted build's leftovers", async () => {
    const cacheDir = join(dir, "cache-fail");
    mkdirSync(join(cacheDir, `.tmp-${rootfsHash(SPEC)}-999999`, "usr"), { recursive: true });
    await expect(ensureRootfs(SPEC, { cacheDir, mirrors: ["deb http://m/debian bookworm main"], executor: new FakeBuilder(true) })).rejects.toThrow(
      "mmdebstrap could not build the bookworm root filesystem (exit 1): E: cannot reach the mirror",
    );
    expect(readdirSync(cacheDir).filter((n) => !n.endsWith(".lock") && !n.endsWith(".log"))).toEqual([]);
  });
});

/**
 * A real BIND 9 (Debian's named) on 127.0.0.1 with a high port, its own configuration, zone and
 * TSIG key in a temporary directory. The key and zone statements are the snippet documented in
 * docs/deploy.md, so the documentation is what the tests run.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { chownSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export const BIND_ZONE = "example.com";
export const BIND_NAME = "live.example.com";
export const BIND_KEY = "edgelab-update";

export interface Bind {
  readonly port: number;
  readonly dir: string;
  /** The key's base64 secret. */
  readonly secret: string;
  /** The A addresses `dig` gets for `name` (one per line of +short output), sorted. */
  dig(name: string): string[];
  /** The zone's SOA serial as `dig` sees it. */
  serial(): number;
  stop(): Promise<void>;
}

/** The named.conf snippet documented in docs/deploy.md. */
export function documentedSnippet(): string {
  const doc = readFileSync(new URL("../../docs/deploy.md", import.meta.url), "utf8");
  const match = /<!-- named\.conf: tested by [^>]*-->\s*```\n([\s\S]*?)```/.exec(doc);
  if (match?.[1] === undefined) throw new Error("docs/deploy.md has no tested named.conf snippet");
  return match[1];
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket("udp4");
    s.once("error", reject);
    s.bind(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function bindUser(): { uid: number; gid: number } {
  const line = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith("bind:"));
  const [, , uid, gid] = line?.split(":") ?? [];
  if (uid === undefined || gid === undefined) throw new Error("no 'bind' user: install Debian's bind9 (scripts/setup.sh)");
  return { uid: Number(uid), gid: Number(gid) };
}

export async function startBind(): Promise<Bind> {
  const dir = mkdtempSync(join(tmpdir(), "edgelab-bind-"));
  const secret = randomBytes(32).toString("base64");
  let child: ChildProcess | undefined;
  let log = "";
  try {
    const snippet = documentedSnippet()
      .replace("PASTE-THE-SECRET-FROM-tsig-keygen", secret)
      .replace(`/var/lib/bind/${BIND_ZONE}.zone`, join(dir, `${BIND_ZONE}.zone`));
    const port = await freePort();
    writeFileSync(
      join(dir, "named.conf"),
      `options {
    directory "${dir}";
    listen-on port ${port} { 127.0.0.1; };
    listen-on-v6 { none; };
    pid-file "${dir}/named.pid";
    session-keyfile "${dir}/session.key";
    managed-keys-directory "${dir}";
    recursion no;
    dnssec-validation no;
};
controls { };
${snippet}`,
    );
    writeFileSync(
      join(dir, `${BIND_ZONE}.zone`),
      `$TTL 300
@ IN SOA ns.${BIND_ZONE}. hostmaster.${BIND_ZONE}. 1 3600 600 86400 60
@ IN NS ns.${BIND_ZONE}.
ns IN A 127.0.0.1
`,
    );
    const { uid, gid } = bindUser();
    chownSync(dir, uid, gid);
    for (const f of readdirSync(dir)) chownSync(join(dir, f), uid, gid);
    const started = spawn("named", ["-g", "-c", join(dir, "named.conf"), "-u", "bind"], { stdio: ["ignore", "ignore", "pipe"] });
    child = started;
    started.stderr?.on("data", (d: Buffer) => (log += d.toString()));
    const dig = (args: string[]): string => execFileSync("dig", ["@127.0.0.1", "-p", String(port), "+norecurse", "+time=2", "+tries=1", ...args], { encoding: "utf8" });
    const deadline = Date.now() + 15_000;
    while (!/running$/m.test(log)) {
      if (started.exitCode !== null) throw new Error(`named exited with ${started.exitCode}:\n${log}`);
      if (Date.now() > deadline) throw new Error(`named did not start within 15 s:\n${log}`);
      await sleep(50);
    }
    const stop = (): Promise<void> =>
      new Promise((resolve) => {
        const done = (): void => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        };
        if (started.exitCode !== null || started.signalCode !== null) return done();
        started.once("exit", done);
        started.kill("SIGTERM");
        setTimeout(() => started.kill("SIGKILL"), 5000).unref();
      });
    return {
      port,
      dir,
      secret,
      dig: (name) =>
        dig(["+short", name, "A"])
          .split("\n")
          .filter((l) => l !== "")
          .sort(),
      serial: () => Number(dig(["+short", BIND_ZONE, "SOA"]).split(" ")[2]),
      stop,
    };
  } catch (err) {
    child?.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}


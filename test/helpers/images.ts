/**
 * edgelab's images for the tests: built once per machine and per content (the CLI's own cache
 * under .cache/images, keyed by a hash of everything that goes into them; every test file that
 * needs them calls builtImages() and only the first build of new sources costs time), and a
 * podman of the test's own (its own storage in a temporary directory, vfs driver: nothing
 * mounted) that removes every container, network and image it made when stopped.
 *
 * Measured on these machines: podman 4.3 needs `--runtime runc` and explicit ulimits (crun fails
 * on the hybrid cgroup layout); its default network (10.88.0.0/16) is never used: containers run
 * with `--network host` on loopback addresses, or on a network the test creates in 198.18.0.0/15.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { z } from "zod";
import { ROOT } from "./inventory.js";

const execFileP = promisify(execFile);
export const BIN = join(ROOT, "bin", "edgelab.cjs");

/** Runs a program; resolves with its output and exit code (never rejects on a non-zero exit). */
export async function sh(argv: readonly string[], options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; cwd?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const [command, ...args] = argv;
  if (command === undefined) throw new Error("empty argv");
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    // A program that exits without reading its input closes the pipe first: that EPIPE is not
    // a failure of the program (its exit code says how it ended).
    child.stdin.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "EPIPE") reject(error);
    });
    child.stdin.end(options.input ?? "");
  });
}

const BuildJson = z.object({
  builder: z.string(),
  images: z.array(z.object({ name: z.enum(["origin", "edge"]), ref: z.string(), archive: z.string(), cached: z.boolean(), key: z.string(), bytes: z.number() })),
});
export type BuiltImages = z.infer<typeof BuildJson>;

/**
 * Both images, through the real `edgelab images build` (cached by content under .cache/), into
 * `dir`'s archive directory; `dir` holds a minimal inventory for it.
 */
export async function builtImages(dir: string): Promise<BuiltImages> {
  const inventory = join(dir, "images-inventory.yml");
  writeFileSync(inventory, readLocalInventory());
  const result = await sh([process.execPath, BIN, "--json", "-i", inventory, "images", "build"], { timeoutMs: 30 * 60_000 });
  if (result.code !== 0) throw new Error(`edgelab images build failed (${result.code}):\n${result.stdout}\n${result.stderr}`);
  return BuildJson.parse(JSON.parse(result.stdout));
}

function readLocalInventory(): string {
  // The shipped local inventory: images build reads only images.archive_dir (default .edgelab/images).
  return `all:\n  vars:\n    lab: {name: images-test, provider: local}\n    ansible_connection: local\n  children:\n    k3s_cluster:\n      children:\n        master:\n          hosts:\n            s1: {ansible_host: 127.0.0.10}\n`;
}

/** The arguments every `podman run` of the tests needs on these machines. */
export const PODMAN_RUN_BASE = ["--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000"] as const;

export class TestPodman {
  private readonly containers: string[] = [];
  private readonly networks: string[] = [];
  private constructor(readonly dir: string) {}

  static create(): TestPodman {
    return new TestPodman(mkdtempSync(join(tmpdir(), "edgelab-podman-")));
  }

  /** podman with this test's own storage. */
  argv(...args: string[]): string[] {
    return ["podman", "--root", join(this.dir, "root"), "--runroot", join(this.dir, "run"), "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", ...args];
  }

  async podman(...args: string[]): Promise<string> {
    const r = await sh(this.argv(...args), { timeoutMs: 10 * 60_000 });
    if (r.code !== 0) throw new Error(`podman ${args.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
    return r.stdout.trim();
  }

  /** Loads an OCI archive; returns the image's name as the archive says. */
  async load(archive: string): Promise<string> {
    const out = await this.podman("load", "--input", archive);
    const name = /Loaded image(?:\(s\))?: (\S+)/.exec(out)?.[1];
    if (name === undefined) throw new Error(`podman load printed no image name: ${out}`);
    return name;
  }

  /** Starts a detached container (removed by stop()). */
  async run(name: string, options: readonly string[], image: string, command: readonly string[] = []): Promise<void> {
    this.containers.push(name);
    await this.podman("run", "--detach", "--name", name, ...PODMAN_RUN_BASE, ...options, image, ...command);
  }

  async network(name: string, subnet: string): Promise<void> {
    this.networks.push(name);
    await this.podman("network", "create", "--subnet", subnet, name);
  }

  async logs(name: string): Promise<string> {
    const r = await sh(this.argv("logs", "--tail", "30", name));
    return `${r.stdout}${r.stderr}`;
  }

  /** Removes every container and network this test made, then its storage. */
  async stop(): Promise<void> {
    if (this.containers.length > 0) await sh(this.argv("rm", "--force", "--time", "2", ...this.containers), { timeoutMs: 120_000 });
    for (const n of this.networks) await sh(this.argv("network", "rm", "--force", n));
    await sh(this.argv("rmi", "--all", "--force"), { timeoutMs: 120_000 });
    // vfs mounts nothing, but a container's /run/secrets-style bind mounts may linger briefly.
    await execFileP("sh", ["-c", `grep -q ' ${this.dir}' /proc/mounts && awk '$2 ~ "^${this.dir}" {print $2}' /proc/mounts | sort -r | xargs -r umount -l || true`]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * `edgelab smoke` with these arguments, again every 3 s until it passes or `withinMs` is over (the
 * test source needs time to fill the playlist window, as `edgelab up` waits for the lab); the
 * last result.
 */
export async function smokeUntilPasses(args: readonly string[], withinMs: number, env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  const deadline = Date.now() + withinMs;
  let result = { code: -1, stdout: "", stderr: "" };
  while (Date.now() < deadline) {
    result = await sh([process.execPath, BIN, ...args], { timeoutMs: 120_000, env });
    if (result.code === 0) break;
    await new Promise((r) => setTimeout(r, 3000));
  }
  return result;
}

/**
 * How a running container is confined, as podman and the kernel report it: whether its root is
 * read-only and which user it is configured with, PID 1's real and effective uid, and what a
 * write under /usr/sbin inside it gives (exit code and message).
 */
export async function containerConfinement(podman: TestPodman, name: string): Promise<{ readonlyRootfs: string; user: string; pid1Uids: string[]; write: { code: number; stderr: string } }> {
  const [readonlyRootfs = "", user = ""] = (await podman.podman("inspect", "--format", "{{.HostConfig.ReadonlyRootfs}} {{.Config.User}}", name)).trim().split(" ");
  const status = await podman.podman("exec", name, "cat", "/proc/1/status");
  const write = await sh(podman.argv("exec", name, "sh", "-c", "touch /usr/sbin/edgelab-probe"));
  return { readonlyRootfs, user, pid1Uids: /^Uid:\s+(\d+)\s+(\d+)/m.exec(status)?.slice(1) ?? [], write: { code: write.code, stderr: write.stderr } };
}

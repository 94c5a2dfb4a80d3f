/** A local lab for tests: its own inventory in a temp dir, its own loopback subnets and ports. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import type { SupervisorState } from "../../src/providers/local/supervisor.js";
import { cli } from "./cli.js";

export interface TestLabOptions {
  /** Third octet base: hosts get 127.0.<net>.x, 127.0.<net+1>.x, ... */
  readonly net: number;
  readonly streams?: readonly Record<string, unknown>[];
  readonly media?: Record<string, unknown>;
  readonly edges?: number;
  readonly portBase?: number;
}

export interface TestLab {
  readonly dir: string;
  readonly inventory: string;
  readonly edgeUrls: string[];
  readonly origin: string;
  readonly stateDir: string;
  run(args: string[]): ReturnType<typeof cli>;
  state(): SupervisorState;
  pid(name: string): number;
  cleanup(): Promise<void>;
}

export function testLab(options: TestLabOptions): TestLab {
  const dir = mkdtempSync(join(tmpdir(), "edgelab-lab-"));
  const net = options.net;
  const edges = options.edges ?? 2;
  const base = options.portBase ?? 18000;
  const labels = ["west-worker", "east-worker", "north-worker"];
  const nodeHosts: Record<string, unknown> = {};
  for (let i = 0; i < edges; i++) nodeHosts[`edge${i}`] = { ansible_host: `127.0.${net + 1 + i}.41`, data_vlan: 300 + i + 1, label: labels[i] ?? `worker${i}` };
  const inventory = {
    all: {
      vars: {
        lab: { name: `test${net}`, provider: "local" },
        ansible_connection: "local",
        network: { vlans: Array.from({ length: edges + 1 }, (_, i) => ({ id: 300 + i, subnet: `127.0.${net + i}.0/24`, gateway: `127.0.${net + i}.1` })) },
        streams: options.streams ?? [{ name: "live" }, { name: "sports" }],
        media: options.media ?? {},
        local: { ports: { edge: base + 80, origin: base, router: base + 1, redis: base + 90, media_http: base + 100, media_rtmp: base + 935 } },
      },
      children: { k3s_cluster: { children: { master: { hosts: { origin0: { ansible_host: `127.0.${net}.38`, data_vlan: 300, label: "master" } } }, node: { hosts: nodeHosts } } } },
    },
  };
  const file = join(dir, "inventory.yml");
  writeFileSync(file, stringify(inventory));
  const stateDir = join(dir, ".edgelab", "local");
  const lab: TestLab = {
    dir,
    inventory: file,
    edgeUrls: Array.from({ length: edges }, (_, i) => `http://127.0.${net + 1 + i}.41:${base + 80}`),
    origin: `http://127.0.${net}.38:${base}`,
    stateDir,
    run: (args) => cli(["-i", file, ...args], { cwd: dir, env: process.env }),
    state: () => JSON.parse(readFileSync(join(stateDir, "state.json"), "utf8")) as SupervisorState,
    pid: (name) => {
      const p = lab.state().processes.find((x) => x.name === name);
      if (p?.pid === undefined) throw new Error(`${name} is not running`);
      return p.pid;
    },
    cleanup: async () => {
      await cli(["-i", file, "down"], { cwd: dir, env: process.env });
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return lab;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function text(url: string): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

export function segmentsOf(playlist: string): string[] {
  return playlist.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("#"));
}

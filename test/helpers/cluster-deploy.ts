/**
 * A cluster lab for `edgelab deploy` tests: the seed inventory in a temp dir (with a registry
 * whose password comes from the environment), a kubeconfig for the Kubernetes API server
 * stand-in, and the fixture manifests of test/fixtures/k8s-deploy/ in a directory of their own that
 * `edgelab deploy --manifests` applies.
 */
import { afterAll, beforeAll } from "vitest";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { cli, type CliResult } from "./cli.js";
import { labData, vars, type Data } from "./inventory.js";
import { startKubeApiserverStandin, type KubeApiserverStandin, type StandinOptions } from "./kube-apiserver-standin.js";

const FIXTURES = new URL("../fixtures/k8s-deploy/", import.meta.url).pathname;
export const REGISTRY_PASSWORD = "registry-pass-5b0d2e7f91c4";

export interface ClusterLab {
  readonly dir: string;
  readonly inventory: string;
  readonly k8s: string;
  readonly kubeconfig: string;
  deploy(args?: readonly string[], env?: Record<string, string | undefined>): Promise<CliResult>;
  /** Any edgelab command on this lab (KUBECONFIG points at the stand-in). */
  run(args: readonly string[], env?: Record<string, string | undefined>): Promise<CliResult>;
  /** Every file under the lab's directory, recursively (relative paths). */
  files(under?: string): string[];
  cleanup(): void;
}

/** The seed lab's inventory in a temp dir, a kubeconfig for the stand-in, the fixture manifests in <dir>/manifests/. */
export function clusterLab(standin: KubeApiserverStandin, mutate: (data: Data) => void = () => undefined): ClusterLab {
  const dir = mkdtempSync(join(tmpdir(), "edgelab-deploy-"));
  const data = labData();
  vars(data)["images"] = { registry: { address: "registry.example.com:5000/edgelab", username: "edgelab", password: { env: "EDGELAB_TEST_REGISTRY_PASSWORD" } } };
  mutate(data);
  const inventory = join(dir, "inventory.yml");
  writeFileSync(inventory, stringify(data));
  const kubeconfig = join(dir, "kubeconfig.yaml");
  writeFileSync(kubeconfig, standin.kubeconfig(), { mode: 0o600 });
  // The fixtures are applied with --manifests: the rendered set of the seed lab is tested by render's own tests.
  const k8s = join(dir, "manifests");
  mkdirSync(k8s, { recursive: true });
  for (const f of readdirSync(FIXTURES)) if (f.endsWith(".yaml")) copyFileSync(join(FIXTURES, f), join(k8s, f));
  const walk = (d: string, prefix: string): string[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]));
  return {
    dir,
    inventory,
    k8s,
    kubeconfig,
    deploy: (args = [], env = {}) =>
      cli(["-i", inventory, "deploy", "--kubeconfig", kubeconfig, "--manifests", k8s, "--timeout", "20", ...args], { cwd: dir, env: { PATH: process.env["PATH"], HOME: dir, EDGELAB_TEST_REGISTRY_PASSWORD: REGISTRY_PASSWORD, ...env } }),
    run: (args, env = {}) => cli(["-i", inventory, ...args], { cwd: dir, env: { PATH: process.env["PATH"], HOME: dir, KUBECONFIG: kubeconfig, EDGELAB_TEST_REGISTRY_PASSWORD: REGISTRY_PASSWORD, ...env } }),
    files: (under = "") => (existsSync(join(dir, under)) ? walk(join(dir, under), under === "" ? "" : `${under}/`) : []),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * For a describe block: an API stand-in and a cluster lab on it, made before the block's tests
 * and removed after them. Read `standin` and `lab` inside tests and hooks (they exist once the
 * block's beforeAll has run).
 */
export function clusterLabOnStandin(options: StandinOptions = {}): { readonly standin: KubeApiserverStandin; readonly lab: ClusterLab } {
  let standin: KubeApiserverStandin | undefined;
  let lab: ClusterLab | undefined;
  beforeAll(async () => {
    standin = await startKubeApiserverStandin(options);
    lab = clusterLab(standin);
  });
  afterAll(async () => {
    lab?.cleanup();
    await standin?.close();
  });
  const made = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error("the stand-in and the lab are made in the describe block's beforeAll");
    return value;
  };
  return {
    get standin() {
      return made(standin);
    },
    get lab() {
      return made(lab);
    },
  };
}

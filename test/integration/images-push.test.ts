/**
 * `edgelab images build --push` against a real registry: Debian's docker-registry on loopback,
 * started here with TLS (a CA made for the test) and basic authentication (htpasswd, bcrypt).
 * The push is read back with skopeo independently of edgelab; a wrong password, a registry whose
 * CA is not given, and a missing password variable are each refused with a clear message, and
 * the password never appears in edgelab's output.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageVersion } from "../../src/commands/version.js";
import { BIN, sh } from "../helpers/images.js";
import { start, waitForPort, type Started } from "../helpers/procs.js";

const dir = mkdtempSync(join(tmpdir(), "edgelab-registry-"));
const PASSWORD = "pw-f9c2e1d7a4b3";
const USER = "ci";
let port = 0;
let registry: Started | undefined;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}

async function must(argv: string[], input?: string): Promise<string> {
  const r = await sh(argv, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

function inventory(file: string, registryVars: string): string {
  const path = join(dir, file);
  writeFileSync(path, `all:\n  vars:\n    lab: {name: images-push, provider: local}\n    ansible_connection: local\n    images:\n      archive_dir: archives\n      registry:\n${registryVars}\n  children:\n    k3s_cluster:\n      children:\n        master:\n          hosts:\n            s1: {ansible_host: 127.0.0.10}\n`);
  return path;
}

beforeAll(async () => {
  // A CA, and the registry's certificate for 127.0.0.1 signed by it.
  await must(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=edgelab test CA", "-keyout", join(dir, "ca.key"), "-out", join(dir, "ca.pem")]);
  await must(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", join(dir, "server.key"), "-out", join(dir, "server.csr")]);
  writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1\n");
  await must(["openssl", "x509", "-req", "-in", join(dir, "server.csr"), "-CA", join(dir, "ca.pem"), "-CAkey", join(dir, "ca.key"), "-CAcreateserial", "-days", "2", "-extfile", join(dir, "san.ext"), "-out", join(dir, "server.pem")]);
  // The password on standard input, not on htpasswd's command line.
  writeFileSync(join(dir, "htpasswd"), await must(["htpasswd", "-iBn", USER], PASSWORD));
  port = await freePort();
  writeFileSync(
    join(dir, "registry.yml"),
    [
      "version: 0.1",
      "log: {level: warn}",
      `storage: {filesystem: {rootdirectory: ${join(dir, "storage")}}}`,
      `http: {addr: "127.0.0.1:${port}", tls: {certificate: ${join(dir, "server.pem")}, key: ${join(dir, "server.key")}}}`,
      `auth: {htpasswd: {realm: edgelab-test, path: ${join(dir, "htpasswd")}}}`,
      "",
    ].join("\n"),
  );
  registry = start(["docker-registry", "serve", join(dir, "registry.yml")]);
  await waitForPort("127.0.0.1", port, 20_000);
}, 120_000);

afterAll(async () => {
  await registry?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const withCredentials = (): string => `        address: "127.0.0.1:${port}/edgelab"\n        username: ${USER}\n        password: {env: EDGELAB_TEST_REGISTRY_PASSWORD}\n        ca_file: ca.pem`;

/**
 * A `skopeo` first on PATH that records each command line, and the mode of every auth file it is
 * given, then runs the real one: what a user listing processes would see.
 */
function skopeoShim(): string {
  const shim = join(dir, "shim");
  mkdirSync(shim, { recursive: true });
  writeFileSync(
    join(shim, "skopeo"),
    `#!/bin/sh\nprintf '%s\\n' "$*" >> ${join(dir, "skopeo-argv.log")}\nprev=\nfor a in "$@"; do [ "$prev" = --dest-authfile ] || [ "$prev" = --authfile ] && { stat -c '%a %n' "$a"; cat "$a"; } >> ${join(dir, "skopeo-auth.log")}; prev=$a; done\nexec /usr/bin/skopeo "$@"\n`,
    { mode: 0o755 },
  );
  return shim;
}

async function edgelab(file: string, password: string | undefined): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, PATH: `${skopeoShim()}:${process.env["PATH"] ?? ""}`, EDGELAB_TEST_REGISTRY_PASSWORD: password };
  if (password === undefined) delete env["EDGELAB_TEST_REGISTRY_PASSWORD"];
  return sh([process.execPath, BIN, "-i", file, "images", "build", "--only", "edge", "--push"], { env, timeoutMs: 30 * 60_000 });
}

describe("edgelab images build --push", () => {
  it("pushes to a registry with TLS and basic authentication; the registry then serves the image", async () => {
    const result = await edgelab(inventory("good.yml", withCredentials()), PASSWORD);
    expect(result.code, result.stderr).toBe(0);
    expect(`${result.stdout}${result.stderr}`).not.toContain(PASSWORD);
    const ref = `127.0.0.1:${port}/edgelab/edge:${packageVersion()}`;
    expect(result.stdout).toContain(ref);
    // Read back with skopeo, independently of edgelab.
    const certs = join(dir, "certs");
    await must(["mkdir", "-p", certs]);
    await must(["cp", join(dir, "ca.pem"), join(certs, "ca.crt")]);
    const inspect = JSON.parse(await must(["skopeo", "inspect", "--tls-verify=true", "--cert-dir", certs, "--creds", `${USER}:${PASSWORD}`, `docker://${ref}`])) as { Labels: Record<string, string> };
    expect(inspect.Labels["org.opencontainers.image.version"]).toBe(packageVersion());
    expect(inspect.Labels["org.opencontainers.image.title"]).toBe("edgelab-edge");
    // The password reached skopeo only in a 0600 auth file, never on a command line, and that
    // file is gone after the push.
    const argv = readFileSync(join(dir, "skopeo-argv.log"), "utf8");
    expect(argv).toMatch(/^copy .*oci-archive:.*docker:\/\/127\.0\.0\.1/m);
    expect(argv).not.toContain(PASSWORD);
    const auth = readFileSync(join(dir, "skopeo-auth.log"), "utf8");
    const files = [...auth.matchAll(/^(\d+) (\/\S+)$/gm)];
    expect(files.length).toBeGreaterThanOrEqual(2); // copy and the read-back inspect
    for (const [, mode, path] of files) {
      expect(mode).toBe("600");
      expect(existsSync(path ?? "")).toBe(false);
    }
    expect(auth).toContain(Buffer.from(`${USER}:${PASSWORD}`).toString("base64"));
  }, 30 * 60_000);

  it("a wrong password is refused by the registry, and said so without echoing it", async () => {
    const wrong = "not-the-password-5e1a";
    const result = await edgelab(inventory("wrong.yml", withCredentials()), wrong);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/pushing 127\.0\.0\.1:\d+\/edgelab\/edge:\S+ to 127\.0\.0\.1:\d+ failed/);
    expect(result.stderr).toMatch(/username and the password's environment variable/);
    expect(`${result.stdout}${result.stderr}`).not.toContain(wrong);
  }, 10 * 60_000);

  it("verifies the registry's certificate: without its CA the push fails", async () => {
    const noCa = `        address: "127.0.0.1:${port}/edgelab"\n        username: ${USER}\n        password: {env: EDGELAB_TEST_REGISTRY_PASSWORD}`;
    const result = await edgelab(inventory("no-ca.yml", noCa), PASSWORD);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/x509|certificate/);
    expect(result.stderr).toMatch(/set images\.registry\.ca_file/);
  }, 10 * 60_000);

  it("a missing password variable stops before building, naming the variable", async () => {
    const result = await edgelab(inventory("no-password.yml", withCredentials()), undefined);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/environment variable EDGELAB_TEST_REGISTRY_PASSWORD is not set/);
    expect(result.stderr).not.toMatch(/building|mmdebstrap/);
  });
});

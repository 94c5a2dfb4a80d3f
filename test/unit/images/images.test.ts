import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { imageKey, layerEntries } from "../../../src/images/build.js";
import { authFile, registryHost } from "../../../src/images/push.js";
import { moduleSpecifiers, packageOf, routerBundle } from "../../../src/images/router-bundle.js";
import { DEFAULT_COMMAND, IMAGE_PACKAGES, IMAGE_UID, imageLabels, imageRootfsSpec } from "../../../src/images/spec.js";
import { IMAGE_NAMES } from "../../../src/model/images.js";
import { imagesNotNeeded } from "../../../src/pipeline/stages/images.js";

const ROOT = join(import.meta.dirname, "..", "..", "..");
const dir = mkdtempSync(join(tmpdir(), "edgelab-images-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(path: string, text: string): void {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, text);
}

describe("the router's files in the origin image", () => {
  it("reads imports, re-exports, dynamic imports and worker URLs of compiled modules", () => {
    const source = [
      'import { a } from "./a.js";',
      'import "./side.js";',
      'export { b } from "../b.js";',
      'export * from "@scope/pkg/sub/path.js";',
      'const m = await import("./lazy.js");',
      'const w = new Worker(new URL("./worker.js", import.meta.url));',
      'import { readFileSync } from "node:fs";',
    ].join("\n");
    expect(moduleSpecifiers(source).sort()).toEqual(["../b.js", "./a.js", "./lazy.js", "./side.js", "./worker.js", "@scope/pkg/sub/path.js", "node:fs"]);
    expect(packageOf("@scope/pkg/sub/path.js")).toBe("@scope/pkg");
    expect(packageOf("zod/v4")).toBe("zod");
    expect(packageOf("node:fs")).toBeUndefined();
  });

  it("takes the modules the entry point reaches and the packages they need, with their dependencies, nothing else", () => {
    const root = join(dir, "pkg");
    write(join(root, "dist/media/router-server.js"), 'import { x } from "./helper.js";\nimport { createClient } from "wanted";\n');
    write(join(root, "dist/media/helper.js"), 'import { z } from "@scope/also";\nexport const x = 1;\n');
    write(join(root, "dist/cli.js"), 'import "unwanted";\n');
    write(join(root, "node_modules/wanted/package.json"), JSON.stringify({ name: "wanted", dependencies: { dep: "1" } }));
    write(join(root, "node_modules/wanted/index.js"), "");
    // A nested copy of dep wins over the hoisted one for `wanted`, as Node resolves it.
    write(join(root, "node_modules/wanted/node_modules/dep/package.json"), JSON.stringify({ name: "dep" }));
    write(join(root, "node_modules/dep/package.json"), JSON.stringify({ name: "dep" }));
    write(join(root, "node_modules/@scope/also/package.json"), JSON.stringify({ name: "@scope/also", optionalDependencies: { "not-installed": "1" } }));
    write(join(root, "node_modules/unwanted/package.json"), JSON.stringify({ name: "unwanted" }));
    expect(routerBundle(root).map((f) => f.to)).toEqual([
      "dist/media/helper.js",
      "dist/media/router-server.js",
      "node_modules/@scope/also/package.json",
      "node_modules/wanted/index.js",
      "node_modules/wanted/node_modules/dep/package.json",
      "node_modules/wanted/package.json",
    ]);
  });

  it("names a package the router needs that is not installed", () => {
    const root = join(dir, "missing");
    write(join(root, "dist/media/router-server.js"), 'import "absent-package";\n');
    expect(() => routerBundle(root)).toThrow(/needs the npm package absent-package, which is not installed/);
  });

  it("of edgelab itself: redis and zod, none of the CLI's packages", () => {
    const packages = new Set(routerBundle(ROOT).filter((f) => f.to.startsWith("node_modules/")).map((f) => f.to.split("/").slice(1, f.to.split("/")[1]?.startsWith("@") === true ? 3 : 2).join("/")));
    expect(packages.has("redis")).toBe(true);
    expect(packages.has("zod")).toBe(true);
    for (const cliOnly of ["@kubernetes/client-node", "proxmox-api", "commander", "listr2", "node-ssh", "nunjucks"]) expect(packages.has(cliOnly)).toBe(false);
  });
});

describe("image cache keys", () => {
  const node = join(dir, "node-binary");
  writeFileSync(node, "node v1");
  const labels = imageLabels("origin", { version: "1.0.0", revision: "abc", source: undefined, buildKey: "" });
  const key = (): string => imageKey({ name: "origin", builder: "buildah", ref: "localhost/edgelab/origin:1.0.0", labels, layer: layerEntries("origin", ROOT, node, "1.0.0") });

  it("change when a file of the layer changes, and only then", () => {
    const before = key();
    expect(key()).toBe(before);
    writeFileSync(node, "node v2");
    expect(key()).not.toBe(before);
  });

  it("change with the revision label and the reference", () => {
    const base = imageKey({ name: "edge", builder: "buildah", ref: "localhost/edgelab/edge:1.0.0", labels: imageLabels("edge", { version: "1.0.0", revision: "abc", source: undefined, buildKey: "" }), layer: [] });
    expect(imageKey({ name: "edge", builder: "buildah", ref: "localhost/edgelab/edge:1.0.0", labels: imageLabels("edge", { version: "1.0.0", revision: "def", source: undefined, buildKey: "" }), layer: [] })).not.toBe(base);
    expect(imageKey({ name: "edge", builder: "buildah", ref: "r.example:5000/edgelab/edge:1.0.0", labels: imageLabels("edge", { version: "1.0.0", revision: "abc", source: undefined, buildKey: "" }), layer: [] })).not.toBe(base);
  });
});

describe("the Containerfiles", () => {
  for (const name of IMAGE_NAMES) {
    it(`${name}: same packages, user and command as the default builder`, () => {
      const text = readFileSync(join(ROOT, "images", name, "Containerfile"), "utf8");
      const install = /apt-get install -y --no-install-recommends ([^\\\n]+)/.exec(text)?.[1]?.trim().split(/\s+/) ?? [];
      expect(install.sort()).toEqual([...IMAGE_PACKAGES[name]].sort());
      expect(imageRootfsSpec(name).packages).toEqual(IMAGE_PACKAGES[name]);
      expect(text).toContain(`USER ${IMAGE_UID}:${IMAGE_UID}`);
      const cmd: unknown = JSON.parse(/^CMD (.*)$/m.exec(text)?.[1] ?? "null");
      expect(cmd).toEqual(DEFAULT_COMMAND[name]);
    });
  }
});

describe("pushing", () => {
  it("writes the credentials as containers/image reads them, keyed by the registry host", () => {
    expect(registryHost("registry.example.com:5000/edgelab")).toBe("registry.example.com:5000");
    const parsed = JSON.parse(authFile("registry.example.com:5000", "ci", "s3cret")) as { auths: Record<string, { auth: string }> };
    expect(Buffer.from(parsed.auths["registry.example.com:5000"]?.auth ?? "", "base64").toString()).toBe("ci:s3cret");
  });
});

describe("the images stage", () => {
  const registry = { address: "r.example:5000/edgelab", username: undefined, password: undefined, caFile: undefined };
  const airgap = { k3sBinary: "k3s", k3sImages: "i.tar", k3sChecksums: undefined, ciliumChart: undefined, imageArchives: [] };
  it("runs for a lab whose nodes import archives or pull from a registry, and says why not otherwise", () => {
    expect(imagesNotNeeded({ airgap: undefined, images: { archiveDir: ".edgelab/images", registry: undefined } })).toMatch(/neither an airgap section .* nor images.registry/);
    expect(imagesNotNeeded({ airgap, images: { archiveDir: ".edgelab/images", registry: undefined } })).toBeUndefined();
    expect(imagesNotNeeded({ airgap: undefined, images: { archiveDir: ".edgelab/images", registry } })).toBeUndefined();
  });
});

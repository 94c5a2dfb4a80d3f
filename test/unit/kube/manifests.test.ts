/** Reading rendered manifests: every document, located errors, no Secrets. */
import { describe, expect, it } from "vitest";
import { parseManifests } from "../../../src/kube/manifests.js";
import { rejection } from "../../helpers/rejection.js";

describe("parseManifests", () => {
  it("returns every object of a multi-document file with where it starts, skipping empty documents", () => {
    const text = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: n}\n---\n---\n# nothing\n---\napiVersion: v1\nkind: Service\nmetadata: {name: b, namespace: n}\n";
    const found = parseManifests(text, "k8s/x.yaml");
    expect(found.map((m) => [m.object.kind, m.object.metadata.name, m.source.line])).toEqual([
      ["ConfigMap", "a", 2],
      ["Service", "b", 9],
    ]);
  });

  it("refuses a document that is not an object, naming file, line and field", async () => {
    const err = await rejection(Promise.resolve().then(() => parseManifests("apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: n}\n", "k8s/bad.yaml")));
    expect(err.message).toBe("k8s/bad.yaml:1:1: not a Kubernetes object: metadata.name: Invalid input: expected string, received undefined");
  });

  it("refuses YAML that does not parse, at the error's position", async () => {
    const err = await rejection(Promise.resolve().then(() => parseManifests("apiVersion: v1\nkind: [ConfigMap\n", "k8s/broken.yaml")));
    expect(err.message).toMatch(/^k8s\/broken\.yaml:\d+:\d+: not valid YAML: /);
  });

  it("refuses a Secret: secrets are built at deploy time, never read from files", async () => {
    const err = await rejection(Promise.resolve().then(() => parseManifests("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: dg==}\n", "k8s/s.yaml")));
    expect(err.message).toBe("k8s/s.yaml:5:1: Secret s in the render output; secrets are never rendered to files");
  });
});

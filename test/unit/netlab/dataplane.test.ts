import { describe, expect, it } from "vitest";
import { localDataPlane } from "../../../src/model/dataplane.js";
import { namespacedArgv, netnsDataPlane, netnsLayout, processNamespace, regionEdges, SERVICE_PORT } from "../../../src/netlab/dataplane.js";
import { netlabPlan } from "../../../src/netlab/plan.js";
import { localLayout } from "../../../src/providers/local/layout.js";
import { defaultEnvironment } from "../../../src/render/environment.js";
import { renderEdgeConf, renderMediaNotifyConf, renderOriginConf } from "../../../src/render/nginx.js";
import { labOf } from "../../helpers/cluster-labs.js";
import { netlabData } from "../../helpers/netlab.js";

const lab = labOf(netlabData());
const plan = netlabPlan(lab, "/labs/seed/inventory.yml");
const plane = netnsDataPlane(lab, plan);
const layout = netnsLayout(localLayout("/labs/seed"), "/labs/seed/.edgelab/netlab");

describe("the namespace placement of the data plane", () => {
  it("keeps every file of the running lab under the network lab's directory, none in the loopback lab's", () => {
    const root = "/labs/seed/.edgelab/netlab/";
    // The lab's root and the users' stream keys are the inventory's, shared by both modes; the
    // nginx module, ffmpeg and the workers' user are not the lab's files.
    const shared = new Set(["root", "secrets", "nginx.rtmpModule", "nginx.ffmpeg", "nginx.workerUser"]);
    const paths = [...Object.entries(layout).filter(([k]) => k !== "nginx"), ...Object.entries(layout.nginx).map(([k, v]) => [`nginx.${k}`, v] as const)].filter(([k]) => !shared.has(k));
    expect(paths.length).toBeGreaterThan(15);
    for (const [name, path] of paths) expect(typeof path === "string" && path.startsWith(root), `${name}: ${JSON.stringify(path)}`).toBe(true);
  });

  it("puts the origin side on the servers' mapped addresses, with the local placement's ports", () => {
    const local = localDataPlane(lab);
    expect(plane.redis).toEqual({ host: "198.18.0.38", port: local.redis.port });
    expect(plane.router).toEqual({ host: "198.18.0.38", port: local.router.port });
    expect(plane.origin).toEqual({ host: "198.18.0.38", port: local.origin.port });
    expect(plane.mediaServers.map((m) => [m.name, m.http.host, m.rtmp.host])).toEqual(local.mediaServers.map((m, i) => [m.name, ["198.18.0.38", "198.18.0.39", "198.18.0.40"][i % 3], ["198.18.0.38", "198.18.0.39", "198.18.0.40"][i % 3]]));
  });

  it("puts one edge per worker on the service address, its origin requests from the worker's own address", () => {
    expect(plane.edges).toEqual([
      { name: "west-lab-k3s01", label: "west-worker", http: { host: "198.18.3.0", port: SERVICE_PORT }, sourceAddress: "198.18.1.41" },
      { name: "west-lab-k3s02", label: "west-worker", http: { host: "198.18.3.0", port: SERVICE_PORT }, sourceAddress: "198.18.1.43" },
      { name: "east-lab-k3s01", label: "east-worker", http: { host: "198.18.3.0", port: SERVICE_PORT }, sourceAddress: "198.18.2.42" },
    ]);
  });

  it("renders with the one nginx renderer: no inventory address, no loopback address", () => {
    const env = defaultEnvironment();
    const edge = plane.edges[0];
    if (edge === undefined) throw new Error("no edge");
    const texts = [renderEdgeConf(lab, plane, edge, layout.nginx, env), renderOriginConf(lab, plane, layout.nginx, env), renderMediaNotifyConf(plane, plane.mediaServers[0] ?? { name: "x", index: 0, http: plane.router, rtmp: plane.router }, "s3cret")];
    for (const text of texts) {
      expect(text).not.toMatch(/172\.16\.|127\.0\./);
    }
    expect(texts[0]).toContain("listen 198.18.3.0:80;");
    expect(texts[0]).toContain("proxy_bind 198.18.1.41;");
    expect(texts[0]).toMatch(/server 198\.18\.0\.38:\d+;/);
  });

  it("keeps its files under .edgelab/netlab/lab (its own redis configuration), the stream keys with the local lab's", () => {
    expect(layout.state).toBe("/labs/seed/.edgelab/netlab/lab");
    expect(layout.redisConf).toBe("/labs/seed/.edgelab/netlab/lab/private/redis.conf");
    expect(layout.nginx.secrets).toBe("/labs/seed/.edgelab/netlab/lab/private");
    expect(layout.secrets).toBe("/labs/seed/.edgelab/secrets");
  });

  it("runs edges in their worker's namespace and everything else in the DC site's", () => {
    expect(processNamespace(plan, { name: "edge-west-lab-k3s02", kind: "edge" })).toBe(`${plan.prefix}-w1`);
    expect(processNamespace(plan, { name: "edge-east-lab-k3s01", kind: "edge" })).toBe(`${plan.prefix}-w2`);
    for (const kind of ["redis", "router", "media", "origin", "source"] as const) expect(processNamespace(plan, { name: kind, kind })).toBe(`${plan.prefix}-dc`);
    expect(() => processNamespace(plan, { name: "edge-nobody", kind: "edge" })).toThrow(/no worker namespace for edge-nobody/);
  });

  it("drops to a process's own user with setpriv inside the namespace", () => {
    expect(namespacedArgv("el-x-dc", { argv: ["redis-server", "-"], user: { name: "redis", uid: 101, gid: 102 } })).toEqual(["ip", "netns", "exec", "el-x-dc", "setpriv", "--reuid=101", "--regid=102", "--clear-groups", "--", "redis-server", "-"]);
    expect(namespacedArgv("el-x-w0", { argv: ["nginx", "-c", "f"], user: undefined })).toEqual(["ip", "netns", "exec", "el-x-w0", "nginx", "-c", "f"]);
  });

  it("names each region's own edges", () => {
    expect(regionEdges(plan, "region-router01")).toEqual(["west-lab-k3s01", "west-lab-k3s02"]);
    expect(regionEdges(plan, "region-router02")).toEqual(["east-lab-k3s01"]);
    expect(regionEdges(plan, "dc-router01")).toEqual([]);
  });
});

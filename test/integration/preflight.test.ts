/** Before anything starts: missing programs by name with the install command; taken ports with who holds them. */
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EdgelabError } from "../../src/errors.js";
import { findProgram, LOCAL_REQUIREMENTS, requireFreePorts, requirePrograms } from "../../src/providers/local/preflight.js";
import { testLab, type TestLab } from "../helpers/lab.js";

describe("programs", () => {
  it("finds every program the local lab needs on this machine", () => {
    const found = requirePrograms(LOCAL_REQUIREMENTS, process.env["PATH"]);
    expect([...found.keys()]).toEqual(["nginx", "nginx rtmp module", "ffmpeg", "ffprobe", "redis-server"]);
    expect(found.get("nginx")).toMatch(/^\/usr\/s?bin\/nginx$/);
  });
  it("names every missing one and the packages to install", () => {
    expect(() =>
      requirePrograms(
        [
          { name: "mediamtx", file: "edgelab-no-such-program", pkg: "mediamtx" },
          { name: "rtmp module", file: "/nonexistent/ngx_rtmp_module.so", pkg: "libnginx-mod-rtmp" },
          { name: "nginx", file: "nginx", pkg: "nginx" },
        ],
        "/nonexistent",
      ),
    ).toThrow(/missing: mediamtx \(edgelab-no-such-program\), rtmp module \(\/nonexistent\/ngx_rtmp_module\.so\)/);
    let thrown: unknown;
    try {
      requirePrograms([{ name: "x", file: "edgelab-no-such-program", pkg: "edgelab-x" }], "");
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(EdgelabError);
    expect((thrown as EdgelabError).hint).toMatch(/apt-get install edgelab-x/);
    expect(findProgram("edgelab-no-such-program", process.env["PATH"])).toBeUndefined();
  });
});

describe("ports", () => {
  let holder: Server;
  beforeAll(async () => {
    holder = createServer();
    await new Promise<void>((resolve) => holder.listen(18555, "127.0.238.1", resolve));
  });
  afterAll(() => new Promise<void>((resolve) => holder.close(() => resolve())));

  it("reports a taken port with the process that holds it", async () => {
    await expect(requireFreePorts([{ owner: "edge-west", endpoint: { host: "127.0.238.1", port: 18555 } }])).rejects.toThrow(
      new RegExp(`127\\.0\\.238\\.1:18555 \\(for edge-west\\) is taken by node \\(pid ${process.pid}\\)`),
    );
  });
  it("passes free ports", async () => {
    await expect(requireFreePorts([{ owner: "edge", endpoint: { host: "127.0.238.1", port: 18556 } }])).resolves.toBeUndefined();
  });
});

describe("edgelab up refuses to start on a taken port", () => {
  let lab: TestLab;
  let holder: Server;
  beforeAll(async () => {
    lab = testLab({ net: 251, edges: 1, portBase: 21000, streams: [{ name: "live" }] });
    holder = createServer();
    await new Promise<void>((resolve) => holder.listen(21080, "127.0.252.41", resolve)); // the edge's port
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => holder.close(() => resolve()));
    await lab.cleanup();
  });

  it("names the port, the process and what to do, and starts nothing", async () => {
    const up = await lab.run(["up"]);
    expect(up.code).toBe(1);
    expect(up.stderr).toMatch(/cannot listen: 127\.0\.252\.41:21080 \(for edge-edge0\) is taken by node \(pid \d+\)/);
    expect(up.stderr).toMatch(/hint: Stop that process, or change the port under local\.ports/);
    const status = await lab.run(["status"]);
    expect(status.stdout).toMatch(/not running/);
  });
});

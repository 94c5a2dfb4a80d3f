/** The router's cluster configuration: what the router itself accepts, secrets only by file. */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { matchesSha256, transcoderCredentialOf } from "../../../src/media/keys.js";
import { RouterConfigFile, resolveRouterConfig } from "../../../src/media/routing.js";
import { clusterDataPlane } from "../../../src/model/dataplane.js";
import { clusterRouterConfig, renderClusterRouter } from "../../../src/render/router.js";
import { labOf } from "../../helpers/cluster-labs.js";
import { labData, vars } from "../../helpers/inventory.js";

function seed() {
  const lab = labOf(labData());
  return { lab, plane: clusterDataPlane(lab) };
}

describe("the router's cluster configuration", () => {
  it("is accepted by the router's own schema", () => {
    const { lab, plane } = seed();
    const parsed = RouterConfigFile.safeParse(JSON.parse(renderClusterRouter(lab, plane).content));
    expect(parsed.success, parsed.error?.message).toBe(true);
  });

  it("holds no secret and no digest of one: secrets are files of the mounted Secret", () => {
    const { lab, plane } = seed();
    const text = renderClusterRouter(lab, plane).content;
    expect(text).not.toMatch(/secretSha256|"key"|sourceKeySha256|[0-9a-f]{64}/);
    const config = JSON.parse(text) as { servers: { secretFile: string }[]; streams: { keyFile?: string }[]; redis: { passwordFile: string } };
    for (const path of [...config.servers.map((s) => s.secretFile), ...config.streams.flatMap((s) => (s.keyFile === undefined ? [] : [s.keyFile])), config.redis.passwordFile]) {
      expect(path).toMatch(/^\/run\/secrets\/edgelab\/[a-z0-9.-]+$/);
    }
  });

  it("is resolved by the router from the files it names", () => {
    const { lab, plane } = seed();
    const hash = { algo: "scrypt", salt: "c2FsdA==", hash: "aGFzaA==" };
    const files = new Map([
      ["/run/secrets/edgelab/notify-secret", "the-notify-secret\n"],
      ["/run/secrets/edgelab/stream-live.key.json", JSON.stringify(hash)],
    ]);
    const resolved = resolveRouterConfig(clusterRouterConfig(lab, plane), (path) => {
      const content = files.get(path);
      if (content === undefined) throw new Error(`unexpected read of ${path}`);
      return content;
    });
    const digest = createHash("sha256").update("the-notify-secret").digest("hex");
    expect(resolved.servers.map((s) => s.secretSha256)).toEqual(["media-0", "media-1"].map(() => digest));
    expect(resolved.streams.find((s) => s.name === "live")?.key).toEqual(hash);
  });

  it("refuses a key file that is not a key hash", () => {
    const { lab, plane } = seed();
    expect(() => resolveRouterConfig(clusterRouterConfig(lab, plane), (path) => (path.endsWith(".json") ? '{"algo":"md5"}' : "s"))).toThrow(/stream-live\.key\.json: not a stream key hash/);
  });

  it("lets pulled streams be registered by their media server, without a key", () => {
    const data = labData();
    vars(data)["streams"] = [{ name: "cam", source: { type: "url", url: "rtmp://192.0.2.1/cam/1" } }];
    const lab = labOf(data);
    expect(clusterRouterConfig(lab, clusterDataPlane(lab)).streams).toEqual([{ name: "cam", publisher: "pull", staticServer: "media-0", playlist: "/hls/cam/index.m3u8" }]);
  });

  it("with an ABR ladder, names the transcoder's credential file; the router keeps the digest of what the media servers' preset carries", () => {
    const data = labData();
    vars(data)["media"] = { servers: 1, abr: [{ name: "360p", width: 640, height: 360, video_kbps: 800 }] };
    const lab = labOf(data);
    const config = clusterRouterConfig(lab, clusterDataPlane(lab));
    expect(config.transcoderFile).toBe("/run/secrets/edgelab/transcoder-credential");
    expect(JSON.stringify(config)).not.toMatch(/[0-9a-f]{64}/);
    const credential = transcoderCredentialOf("the-notify-secret");
    const resolved = resolveRouterConfig(config, (path) => (path === config.transcoderFile ? `${credential}\n` : path.endsWith(".json") ? JSON.stringify({ algo: "scrypt", salt: "c2FsdA==", hash: "aGFzaA==" }) : "the-notify-secret\n"));
    expect(resolved.transcoderSha256).toBeDefined();
    expect(matchesSha256(credential, resolved.transcoderSha256 ?? "")).toBe(true);
    expect(matchesSha256(transcoderCredentialOf("another-secret"), resolved.transcoderSha256 ?? "")).toBe(false);
    expect(credential).toHaveLength(31);
  });
});

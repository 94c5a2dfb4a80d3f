/**
 * Where each data-plane component listens: media servers, the stream-key router and its nginx
 * front (the origin), redis and the edges. Derived from the Lab model; pure.
 *
 * The local lab puts the origin components on the server hosts' loopback addresses and one edge
 * on each worker's. (The cluster deploy derives a plane from Kubernetes services instead.)
 */
import type { Lab } from "./lab.js";

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export interface MediaServerNode {
  /** media-0, media-1, ... */
  readonly name: string;
  readonly index: number;
  readonly http: Endpoint;
  readonly rtmp: Endpoint;
}

export interface EdgeNode {
  /** The worker host's name, e.g. west-lab-k3s01. */
  readonly name: string;
  readonly label: string;
  readonly http: Endpoint;
  /**
   * The address the edge's requests to the origin come from, when the placement sets one. The
   * local lab binds each edge to its host's address, so the origin's access log tells edges apart
   * as it would on separate machines (on loopback they would all come from 127.0.0.1).
   */
  readonly sourceAddress?: string | undefined;
}

export interface StreamPlacement {
  readonly name: string;
  /** The media server the stream's source publishes to. */
  readonly server: string;
}

export interface DataPlane {
  readonly redis: Endpoint;
  /** The stream-key router service (on_publish callbacks, lookups). */
  readonly router: Endpoint;
  /** The origin front: nginx in front of the router, what edges pull from. */
  readonly origin: Endpoint;
  readonly mediaServers: readonly MediaServerNode[];
  readonly edges: readonly EdgeNode[];
  readonly streams: readonly StreamPlacement[];
}

export function localDataPlane(lab: Lab): DataPlane {
  const ports = lab.localPorts;
  const first = lab.servers[0];
  if (first === undefined) throw new Error("a lab needs a server host");
  const mediaServers = Array.from({ length: lab.media.servers }, (_, index): MediaServerNode => {
    const host = lab.servers[index % lab.servers.length] ?? first;
    return { name: `media-${index}`, index, http: { host: host.address, port: ports.mediaHttp + index }, rtmp: { host: host.address, port: ports.mediaRtmp + index } };
  });
  // With no agents (a one-host lab) the server hosts the edge too.
  const edgeHosts = lab.agents.length > 0 ? lab.agents : [first];
  return {
    redis: { host: first.address, port: ports.redis },
    router: { host: first.address, port: ports.router },
    origin: { host: first.address, port: ports.origin },
    mediaServers,
    edges: edgeHosts.map((h) => ({ name: h.name, label: h.label, http: { host: h.address, port: ports.edge }, sourceAddress: h.address })),
    streams: lab.streams.map((s, i) => ({ name: s.name, server: mediaServers[i % mediaServers.length]?.name ?? "media-0" })),
  };
}

/**
 * Where each data-plane component listens: media servers, the stream-key router and its nginx
 * front (the origin), redis and the edges. Derived from the Lab model; pure.
 *
 * One renderer, two placements. The local lab puts the origin components on the server hosts'
 * loopback addresses and one edge on each worker's. The cluster placement names Kubernetes
 * Services (in the lab's namespace, so short names resolve) and container ports; each component
 * listens on its port on every address of its pod, and its status pages on a port no Service
 * exposes.
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

export type Placement = "local" | "cluster";

export interface DataPlane {
  readonly placement: Placement;
  /**
   * Where status pages (stub_status, rtmp_stat) listen in the cluster placement: this port on
   * every address of the pod, in no Service (a NetworkPolicy lets only the router reach it).
   * Undefined in the local placement (unix sockets, see NginxPaths.status).
   */
  readonly statusPort?: number | undefined;
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
    placement: "local",
    redis: { host: first.address, port: ports.redis },
    router: { host: first.address, port: ports.router },
    origin: { host: first.address, port: ports.origin },
    mediaServers,
    edges: edgeHosts.map((h) => ({ name: h.name, label: h.label, http: { host: h.address, port: ports.edge }, sourceAddress: h.address })),
    streams: lab.streams.map((s, i) => ({ name: s.name, server: mediaServers[i % mediaServers.length]?.name ?? "media-0" })),
  };
}

/** Container ports of the cluster placement (the same in every pod). */
export const CLUSTER_PORTS = {
  /** Edge, origin front and media servers: HTTP (and GET /healthz). */
  http: 8080,
  rtmp: 1935,
  router: 8090,
  redis: 6379,
  /** Status pages: in no Service. */
  status: 8088,
} as const;

/** Kubernetes Service names of the cluster placement (all in the lab's namespace). */
export const CLUSTER_SERVICES = {
  redis: "redis",
  router: "router",
  origin: "origin",
  edge: "edge",
  /** The media servers' headless Service (the StatefulSet's serviceName). */
  media: "media",
  /** The RTMP ingest LoadBalancer Service. */
  rtmp: "rtmp",
} as const;

/**
 * The cluster placement: every component reached through a Service of the lab's namespace.
 * Media server <name> has its own ClusterIP Service <name> (HTTP and RTMP; a stable address,
 * which nginx resolves once); its status port is reached through the headless Service
 * (<name>.media), which names the pod itself. One edge per node group with workers (a
 * Deployment each), named after the group's label.
 */
export function clusterDataPlane(lab: Lab): DataPlane {
  const mediaServers = Array.from({ length: lab.media.servers }, (_, index): MediaServerNode => {
    const name = `media-${index}`;
    return { name, index, http: { host: name, port: CLUSTER_PORTS.http }, rtmp: { host: name, port: CLUSTER_PORTS.rtmp } };
  });
  const groups = lab.edge.groups.length > 0 ? lab.edge.groups.map((g) => g.label) : [lab.servers[0]?.label ?? "edge"];
  return {
    placement: "cluster",
    statusPort: CLUSTER_PORTS.status,
    redis: { host: CLUSTER_SERVICES.redis, port: CLUSTER_PORTS.redis },
    router: { host: CLUSTER_SERVICES.router, port: CLUSTER_PORTS.router },
    origin: { host: CLUSTER_SERVICES.origin, port: CLUSTER_PORTS.http },
    mediaServers,
    edges: groups.map((label) => ({ name: label, label, http: { host: CLUSTER_SERVICES.edge, port: CLUSTER_PORTS.http } })),
    streams: lab.streams.map((s, i) => ({ name: s.name, server: mediaServers[i % mediaServers.length]?.name ?? "media-0" })),
  };
}

/** The DNS name of a media server's pod (its status port): <name>.<headless Service>. */
export function mediaPodHost(server: Pick<MediaServerNode, "name">): string {
  return `${server.name}.${CLUSTER_SERVICES.media}`;
}

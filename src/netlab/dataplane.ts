/**
 * The data plane's third placement: the network lab's namespaces. Pure.
 *
 * The same renderers as the local lab (loopback) and the cluster (Services) place the origin
 * side — redis, the stream-key router, its nginx front (the origin), the media servers — on the
 * servers' mapped addresses in the DC namespace, and one edge per worker on the service address
 * (the /32 the worker's speaker announces) in the worker's namespace, reaching the origin over
 * the lab's routers. Requests an edge sends to the origin come from the worker's own address.
 */
import { join } from "node:path";
import { localDataPlane, type DataPlane, type Endpoint } from "../model/dataplane.js";
import type { Lab } from "../model/lab.js";
import type { LocalLayout } from "../providers/local/layout.js";
import type { ProcessSpec } from "../providers/local/plan.js";
import { mapAddress, NetlabPlanError, type NetlabPlan } from "./plan.js";

/** The port an edge serves on the service address (the LoadBalancer Service's port). */
export const SERVICE_PORT = 80;

export function netnsDataPlane(lab: Lab, plan: NetlabPlan): DataPlane {
  const local = localDataPlane(lab);
  const mapped = (endpoint: Endpoint, what: string): Endpoint => {
    const host = mapAddress(plan.map, endpoint.host);
    if (host === undefined) throw new NetlabPlanError(`${what} ${endpoint.host} is in no mapped block`);
    return { host, port: endpoint.port };
  };
  return {
    // Processes on this machine as in the local lab (files, unix-socket status pages), only on
    // the namespaces' addresses: the renderers treat it as the local placement.
    placement: local.placement,
    redis: mapped(local.redis, "redis"),
    router: mapped(local.router, "the stream-key router"),
    origin: mapped(local.origin, "the origin"),
    mediaServers: local.mediaServers.map((m) => ({ ...m, http: mapped(m.http, m.name), rtmp: mapped(m.rtmp, m.name) })),
    edges: plan.speakers.map((s) => ({ name: s.host, label: s.label, http: { host: plan.serviceIp, port: SERVICE_PORT }, sourceAddress: s.address })),
    streams: local.streams,
  };
}

/**
 * Where the namespace placement keeps its files: under .edgelab/netlab/lab/, its own redis
 * configuration and callback includes; the lab's generated secrets (stream keys, the redis
 * password) are the local lab's, so `edgelab keys show` holds for both.
 */
export function netnsLayout(local: LocalLayout, netlabRoot: string): LocalLayout {
  const state = join(netlabRoot, "lab");
  const own = join(state, "private");
  return {
    ...local,
    state,
    conf: join(state, "conf"),
    specFile: join(state, "processes.json"),
    stateFile: join(state, "state.json"),
    supervisorLog: join(state, "logs", "netlab.log"),
    redisConf: join(own, "redis.conf"),
    router: join(state, "router"),
    nginx: {
      ...local.nginx,
      run: join(state, "run"),
      logs: join(state, "logs"),
      tmp: join(state, "tmp"),
      media: join(state, "media"),
      cache: join(state, "cache"),
      player: join(state, "player"),
      state,
      status: join(state, "status"),
      secrets: own,
      workerSecrets: join(state, "transcoder"),
    },
  };
}

/** The namespace a process of the lab runs in: an edge in its worker's, everything else in the DC site. */
export function processNamespace(plan: NetlabPlan, spec: Pick<ProcessSpec, "name" | "kind">): string {
  if (spec.kind === "edge") {
    const speaker = plan.speakers.find((s) => `edge-${s.host}` === spec.name);
    if (speaker === undefined) throw new NetlabPlanError(`no worker namespace for ${spec.name}`);
    return speaker.ns;
  }
  const dc = plan.namespaces.find((n) => n.role === "dc");
  if (dc === undefined) throw new NetlabPlanError("the plan has no DC namespace");
  return dc.name;
}

/**
 * The argv that runs a process in its namespace: `ip netns exec`, then — for a process that runs
 * as its own user (redis) — setpriv dropping to that user, then the process's own argv.
 */
export function namespacedArgv(ns: string, spec: Pick<ProcessSpec, "argv" | "user">): string[] {
  const drop = spec.user === undefined ? [] : ["setpriv", `--reuid=${spec.user.uid}`, `--regid=${spec.user.gid}`, "--clear-groups", "--"];
  return ["ip", "netns", "exec", ns, ...drop, ...spec.argv];
}

/** The edges serving a region router's clients: the workers on its site bridges. */
export function regionEdges(plan: NetlabPlan, routerName: string): string[] {
  const router = plan.routers.find((r) => r.name === routerName);
  if (router === undefined) return [];
  return plan.speakers.filter((s) => plan.links.some((l) => l.kind === "site" && l.a.ns === router.ns && l.b.ns === s.ns)).map((s) => s.host);
}

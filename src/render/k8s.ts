/**
 * The lab's Kubernetes objects (the `k8s` family): typed with kubernetes-models, built from the
 * Lab model and the cluster placement's rendered configurations. Pure: model + tag in, objects
 * (and their YAML files) out. No Secret objects: deploy builds `edgelab-data-plane` and the
 * registry pull secret from the environment or vault at deploy time (DATA_PLANE_SECRET).
 *
 * Every pod runs as uid/gid 10101 with a read-only root filesystem, all capabilities dropped and
 * no service account token; the paths it writes are emptyDir volumes (CLUSTER_NGINX_PATHS).
 */
import { createHash } from "node:crypto";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { Ingress } from "kubernetes-models/networking.k8s.io/v1/Ingress";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import type { INetworkPolicyIngressRule } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicyIngressRule";
import type { INetworkPolicyPeer } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicyPeer";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import type { IContainer } from "kubernetes-models/v1/Container";
import { Namespace } from "kubernetes-models/v1/Namespace";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import type { ISecurityContext } from "kubernetes-models/v1/SecurityContext";
import { Service } from "kubernetes-models/v1/Service";
import type { IVolume } from "kubernetes-models/v1/Volume";
import type { IVolumeMount } from "kubernetes-models/v1/VolumeMount";
import { stringify } from "yaml";
import { KIND_ORDER, LAB_LABEL, MANAGED_BY, MANAGED_BY_LABEL } from "../kube/apply.js";
import { CLUSTER_PORTS, CLUSTER_SERVICES, clusterDataPlane, type DataPlane } from "../model/dataplane.js";
import { imageRef } from "../model/images.js";
import type { Lab } from "../model/lab.js";
import type { Artifact } from "./artifact.js";
import { ADVERTISE_LABEL } from "./cilium.js";
import { BGP_GROUP_LABEL } from "./k3s.js";
import { CLUSTER_NGINX_PATHS, recordingPath } from "./nginx.js";
import { RouterConfigFile } from "../media/routing.js";
import { CLUSTER_ROUTER_CONFIG, CLUSTER_SECRETS_DIR, DATA_PLANE_SECRET, routerSecretKeys } from "./router.js";

/** The user and group of edgelab's images (they run as nothing else). */
export const IMAGE_UID = 10101;
/** The registry pull secret deploy builds when the inventory's registry has credentials. */
export const REGISTRY_PULL_SECRET = "edgelab-registry";
export const COMPONENT_LABEL = "app.kubernetes.io/component";
export const EDGE_GROUP_LABEL = "edgelab.dev/edge-group";
/** The pod template's annotation holding the SHA-256 of the configurations its pods mount. */
export const CONFIG_HASH_ANNOTATION = "edgelab.dev/config-hash";
/** Size of each media server's recordings volume (when recording is on). */
export const RECORDINGS_SIZE = "10Gi";
export const INGRESS_CLASS = "cilium";

/** What the objects are built from: the lab, its rendered data-plane files and the images' tag. */
export interface K8sInputs {
  readonly lab: Lab;
  /** The nginx family's artifacts in the cluster placement (nginx/*.conf, router/router.json). */
  readonly dataPlane: readonly Artifact[];
  /** The images' tag: edgelab's version. */
  readonly tag: string;
}

/** One object with its kind, name and content, as kubernetes-models built it. */
export interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels: Readonly<Record<string, string>> };
  readonly [field: string]: unknown;
}

/** The lab's namespace: edgelab-<lab>, or the lab's name when it already says edgelab. */
export function labNamespace(lab: Pick<Lab, "name">): string {
  return lab.name === "edgelab" || lab.name.startsWith("edgelab-") ? lab.name : `edgelab-${lab.name}`.slice(0, 63).replace(/-+$/, "");
}

function labels(lab: Lab, component?: string, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  return {
    [MANAGED_BY_LABEL]: MANAGED_BY,
    [LAB_LABEL]: lab.name,
    "app.kubernetes.io/name": "edgelab",
    ...(component === undefined ? {} : { [COMPONENT_LABEL]: component }),
    ...extra,
  };
}

function selector(lab: Lab, component: string, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  return { [LAB_LABEL]: lab.name, [COMPONENT_LABEL]: component, ...extra };
}

function fileOf(dataPlane: readonly Artifact[], path: string): string {
  const found = dataPlane.find((a) => a.path === path);
  if (found === undefined) throw new Error(`${path} is missing from the data plane's files`);
  return found.content;
}

function sha256(...parts: readonly string[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p).update("\0");
  return h.digest("hex");
}

/** Hash of a ConfigMap's data (keys in order), for the pod template's annotation. */
function dataHash(data: Readonly<Record<string, string>>): string {
  return sha256(...Object.keys(data).sort().flatMap((k) => [k, data[k] ?? ""]));
}

const emptyDir = (name: string, sizeLimit?: string, memory = false): IVolume => ({
  name,
  emptyDir: { ...(memory ? { medium: "Memory" } : {}), ...(sizeLimit === undefined ? {} : { sizeLimit }) },
});

/** The writable paths every pod has (root filesystem read-only). */
function writable(extra: readonly { volume: IVolume; path: string }[] = []): { volumes: IVolume[]; mounts: IVolumeMount[] } {
  const all = [{ volume: emptyDir("tmp", "64Mi"), path: CLUSTER_NGINX_PATHS.tmp }, { volume: emptyDir("run", "16Mi", true), path: CLUSTER_NGINX_PATHS.run }, ...extra];
  return { volumes: all.map((w) => w.volume), mounts: all.map((w) => ({ name: w.volume.name, mountPath: w.path })) };
}

function secretVolume(items: readonly string[]): { volume: IVolume; mount: IVolumeMount } {
  return {
    volume: { name: "secrets", secret: { secretName: DATA_PLANE_SECRET.name, defaultMode: 0o400, items: items.map((key) => ({ key, path: key })) } },
    mount: { name: "secrets", mountPath: CLUSTER_SECRETS_DIR, readOnly: true },
  };
}

function containerSecurity(): ISecurityContext {
  return { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ["ALL"] } };
}

function podSpec(lab: Lab, containers: IContainer[], volumes: IVolume[], extra: Partial<IPodSpec> = {}): IPodSpec {
  const registry = lab.images.registry;
  return {
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    securityContext: { runAsNonRoot: true, runAsUser: IMAGE_UID, runAsGroup: IMAGE_UID, fsGroup: IMAGE_UID, seccompProfile: { type: "RuntimeDefault" } },
    ...(registry?.username !== undefined && registry.password !== undefined ? { imagePullSecrets: [{ name: REGISTRY_PULL_SECRET }] } : {}),
    containers: containers.map((c) => ({ imagePullPolicy: "IfNotPresent", securityContext: containerSecurity(), ...c })),
    volumes,
    ...extra,
  };
}

/** nginx in the foreground (the configurations say `daemon off;`), errors to stderr from the start. */
function nginxCommand(conf: string): string[] {
  return ["/usr/sbin/nginx", "-e", "stderr", "-c", conf];
}

const httpProbe = (port: number, path: string, period: number) => ({ httpGet: { path, port }, periodSeconds: period, timeoutSeconds: 2, failureThreshold: 3 });

/** Ingress rules of a NetworkPolicy: ports reachable from the given peers (none: from anywhere). */
function rule(ports: readonly number[], from?: readonly INetworkPolicyPeer[]): INetworkPolicyIngressRule {
  return { ports: ports.map((port) => ({ protocol: "TCP" as const, port })), ...(from === undefined ? {} : { from: [...from] }) };
}

export function buildK8sObjects(inputs: K8sInputs): K8sObject[] {
  const { lab, dataPlane, tag } = inputs;
  const plane: DataPlane = clusterDataPlane(lab);
  const namespace = labNamespace(lab);
  const meta = (name: string, component?: string, extra: Readonly<Record<string, string>> = {}) => ({ name, namespace, labels: labels(lab, component, extra) });
  const origin = imageRef(lab, "origin", tag);
  const edgeImage = imageRef(lab, "edge", tag);
  const objects: { toJSON(): unknown; validate(): void }[] = [];
  const peer = (component: string): INetworkPolicyPeer => ({ podSelector: { matchLabels: selector(lab, component) } });

  objects.push(new Namespace({ metadata: { name: namespace, labels: { ...labels(lab), "pod-security.kubernetes.io/enforce": "restricted" } } }));

  // NetworkPolicies: each component's ingress, nothing more. The status port only from the router.
  const policy = (component: string, ingress: INetworkPolicyIngressRule[]) =>
    new NetworkPolicy({ metadata: meta(component, component), spec: { podSelector: { matchLabels: selector(lab, component) }, policyTypes: ["Ingress"], ingress } });
  objects.push(policy("redis", [rule([CLUSTER_PORTS.redis], [peer("router")])]));
  // The origin front asks the router about viewer URLs; media servers call it back on publish.
  objects.push(policy("router", [rule([CLUSTER_PORTS.router], [peer("origin"), peer("media")])]));
  objects.push(policy("media", [rule([CLUSTER_PORTS.http], [peer("origin")]), rule([CLUSTER_PORTS.rtmp]), rule([CLUSTER_PORTS.status], [peer("router")])]));
  objects.push(policy("origin", [rule([CLUSTER_PORTS.http], [peer("edge")]), rule([CLUSTER_PORTS.status], [peer("router")])]));
  objects.push(policy("edge", [rule([CLUSTER_PORTS.http]), rule([CLUSTER_PORTS.status], [peer("router")])]));

  // ConfigMaps: the rendered configurations.
  const mediaData = Object.fromEntries(plane.mediaServers.map((m) => [`${m.name}.conf`, fileOf(dataPlane, `nginx/${m.name}.conf`)]));
  const originData = { "origin.conf": fileOf(dataPlane, "nginx/origin.conf") };
  const routerData = { "router.json": fileOf(dataPlane, "router/router.json") };
  const redisData = { "redis.conf": clusterRedisConf() };
  const edgeData = new Map(plane.edges.map((e) => [e.name, { "edge.conf": fileOf(dataPlane, `nginx/edge-${e.name}.conf`) }]));
  objects.push(new ConfigMap({ metadata: meta("media", "media"), data: mediaData }));
  objects.push(new ConfigMap({ metadata: meta("origin", "origin"), data: originData }));
  objects.push(new ConfigMap({ metadata: meta("router", "router"), data: routerData }));
  objects.push(new ConfigMap({ metadata: meta("redis", "redis"), data: redisData }));
  for (const [name, data] of edgeData) objects.push(new ConfigMap({ metadata: meta(`edge-${name}`, "edge", { [EDGE_GROUP_LABEL]: name }), data }));

  // Services.
  const clusterIp = (name: string, component: string, ports: readonly { name: string; port: number }[], sel: Record<string, string>, extra: Record<string, string> = {}) =>
    new Service({ metadata: meta(name, component, extra), spec: { type: "ClusterIP", selector: sel, ports: ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.port, protocol: "TCP" })) } });
  objects.push(clusterIp(CLUSTER_SERVICES.redis, "redis", [{ name: "redis", port: CLUSTER_PORTS.redis }], selector(lab, "redis")));
  objects.push(clusterIp(CLUSTER_SERVICES.router, "router", [{ name: "http", port: CLUSTER_PORTS.router }], selector(lab, "router")));
  objects.push(clusterIp(CLUSTER_SERVICES.origin, "origin", [{ name: "http", port: CLUSTER_PORTS.http }], selector(lab, "origin")));
  objects.push(clusterIp(CLUSTER_SERVICES.edge, "edge", [{ name: "http", port: CLUSTER_PORTS.http }], selector(lab, "edge")));
  objects.push(
    new Service({
      metadata: meta(CLUSTER_SERVICES.media, "media"),
      // Headless: names each media server's pod (<name>.media) for the router's status requests.
      spec: { clusterIP: "None", publishNotReadyAddresses: true, selector: selector(lab, "media"), ports: [{ name: "http", port: CLUSTER_PORTS.http, targetPort: CLUSTER_PORTS.http, protocol: "TCP" }] },
    }),
  );
  for (const m of plane.mediaServers) {
    objects.push(
      clusterIp(
        m.name,
        "media",
        [
          { name: "http", port: CLUSTER_PORTS.http },
          { name: "rtmp", port: CLUSTER_PORTS.rtmp },
        ],
        { ...selector(lab, "media"), "statefulset.kubernetes.io/pod-name": m.name },
      ),
    );
  }
  // RTMP ingest: a LoadBalancer address from the LB pool, advertised over BGP (the pool and the
  // advertisement select this label, cilium/bgp.yaml). Publishers may reach any media server:
  // the router registers a stream where it is published.
  objects.push(
    new Service({
      metadata: meta(CLUSTER_SERVICES.rtmp, "media", { [ADVERTISE_LABEL.key]: ADVERTISE_LABEL.value }),
      spec: { type: "LoadBalancer", externalTrafficPolicy: "Cluster", selector: selector(lab, "media"), ports: [{ name: "rtmp", port: CLUSTER_PORTS.rtmp, targetPort: CLUSTER_PORTS.rtmp, protocol: "TCP" }] },
    }),
  );

  // redis: its password from the Secret (an include holding requirepass), no persistence.
  {
    const secrets = secretVolume([DATA_PLANE_SECRET.redisAuth]);
    const w = writable();
    objects.push(
      new Deployment({
        metadata: meta("redis", "redis"),
        spec: {
          replicas: 1,
          strategy: { type: "Recreate" },
          selector: { matchLabels: selector(lab, "redis") },
          template: {
            metadata: { labels: labels(lab, "redis"), annotations: { [CONFIG_HASH_ANNOTATION]: dataHash(redisData) } },
            spec: podSpec(
              lab,
              [
                {
                  name: "redis",
                  image: origin,
                  command: ["/usr/bin/redis-server", "/etc/edgelab/redis/redis.conf"],
                  ports: [{ name: "redis", containerPort: CLUSTER_PORTS.redis }],
                  readinessProbe: { tcpSocket: { port: CLUSTER_PORTS.redis }, periodSeconds: 5 },
                  livenessProbe: { tcpSocket: { port: CLUSTER_PORTS.redis }, periodSeconds: 10 },
                  resources: { requests: { cpu: "50m", memory: "32Mi" }, limits: { memory: "256Mi" } },
                  volumeMounts: [{ name: "config", mountPath: "/etc/edgelab/redis", readOnly: true }, secrets.mount, ...w.mounts],
                },
              ],
              [{ name: "config", configMap: { name: "redis" } }, secrets.volume, ...w.volumes],
            ),
          },
        },
      }),
    );
  }

  // The stream-key router.
  {
    const secrets = secretVolume(routerSecretKeys(RouterConfigFile.parse(JSON.parse(routerData["router.json"]))));
    const w = writable();
    objects.push(
      new Deployment({
        metadata: meta("router", "router"),
        spec: {
          replicas: 1,
          selector: { matchLabels: selector(lab, "router") },
          template: {
            metadata: { labels: labels(lab, "router"), annotations: { [CONFIG_HASH_ANNOTATION]: dataHash(routerData) } },
            spec: podSpec(
              lab,
              [
                {
                  name: "router",
                  image: origin,
                  command: ["/usr/local/bin/edgelab-router", "--config", CLUSTER_ROUTER_CONFIG],
                  ports: [{ name: "http", containerPort: CLUSTER_PORTS.router }],
                  readinessProbe: httpProbe(CLUSTER_PORTS.router, "/readyz", 5),
                  livenessProbe: { tcpSocket: { port: CLUSTER_PORTS.router }, periodSeconds: 10 },
                  resources: { requests: { cpu: "100m", memory: "64Mi" }, limits: { memory: "256Mi" } },
                  volumeMounts: [{ name: "config", mountPath: "/etc/edgelab/router", readOnly: true }, secrets.mount, ...w.mounts],
                },
              ],
              [{ name: "config", configMap: { name: "router" } }, secrets.volume, ...w.volumes],
            ),
          },
        },
      }),
    );
  }

  // The origin front.
  {
    const w = writable([{ volume: emptyDir("cache", `${cacheLimitMi(lab.edge.cacheMb)}Mi`), path: CLUSTER_NGINX_PATHS.cache }]);
    objects.push(
      new Deployment({
        metadata: meta("origin", "origin"),
        spec: {
          replicas: 1,
          selector: { matchLabels: selector(lab, "origin") },
          template: {
            metadata: { labels: labels(lab, "origin"), annotations: { [CONFIG_HASH_ANNOTATION]: dataHash(originData) } },
            spec: podSpec(
              lab,
              [
                {
                  name: "nginx",
                  image: origin,
                  command: nginxCommand("/etc/edgelab/nginx/origin.conf"),
                  ports: [{ name: "http", containerPort: CLUSTER_PORTS.http }, { name: "status", containerPort: CLUSTER_PORTS.status }],
                  readinessProbe: httpProbe(CLUSTER_PORTS.http, "/healthz", 5),
                  livenessProbe: httpProbe(CLUSTER_PORTS.http, "/healthz", 10),
                  resources: { requests: { cpu: "100m", memory: "64Mi" }, limits: { memory: "512Mi" } },
                  volumeMounts: [{ name: "config", mountPath: "/etc/edgelab/nginx", readOnly: true }, ...w.mounts],
                },
              ],
              [{ name: "config", configMap: { name: "origin" } }, ...w.volumes],
            ),
          },
        },
      }),
    );
  }

  // Media servers: a StatefulSet (pods media-0, media-1, ...), each running its own file.
  {
    const record = recordingPath(lab, CLUSTER_NGINX_PATHS);
    // With an ABR ladder, the transcoder's preset and each server's `abr` callback include too.
    const abr = lab.media.abr.length > 0 ? [DATA_PLANE_SECRET.transcoderPreset, ...plane.mediaServers.map((m) => DATA_PLANE_SECRET.abrNotifyInclude(m.name))] : [];
    const secrets = secretVolume([...plane.mediaServers.map((m) => DATA_PLANE_SECRET.notifyInclude(m.name)), ...abr]);
    const w = writable([{ volume: emptyDir("media", "2Gi"), path: CLUSTER_NGINX_PATHS.media }]);
    objects.push(
      new StatefulSet({
        metadata: meta("media", "media"),
        spec: {
          serviceName: CLUSTER_SERVICES.media,
          replicas: plane.mediaServers.length,
          podManagementPolicy: "Parallel",
          selector: { matchLabels: selector(lab, "media") },
          template: {
            metadata: { labels: labels(lab, "media"), annotations: { [CONFIG_HASH_ANNOTATION]: dataHash(mediaData) } },
            spec: podSpec(
              lab,
              [
                {
                  name: "nginx",
                  image: origin,
                  env: [{ name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } }],
                  // $(POD_NAME) is expanded by Kubernetes: media-0 runs nginx/media-0.conf.
                  command: nginxCommand("/etc/edgelab/nginx/$(POD_NAME).conf"),
                  ports: [
                    { name: "http", containerPort: CLUSTER_PORTS.http },
                    { name: "rtmp", containerPort: CLUSTER_PORTS.rtmp },
                    { name: "status", containerPort: CLUSTER_PORTS.status },
                  ],
                  readinessProbe: httpProbe(CLUSTER_PORTS.http, "/healthz", 5),
                  livenessProbe: httpProbe(CLUSTER_PORTS.http, "/healthz", 10),
                  resources: { requests: { cpu: lab.media.abr.length > 0 ? "1" : "200m", memory: "128Mi" }, limits: { memory: lab.media.abr.length > 0 ? "2Gi" : "512Mi" } },
                  volumeMounts: [
                    { name: "config", mountPath: "/etc/edgelab/nginx", readOnly: true },
                    secrets.mount,
                    ...w.mounts,
                    ...(record === undefined ? [] : [{ name: "recordings", mountPath: record }]),
                  ],
                },
              ],
              [{ name: "config", configMap: { name: "media" } }, secrets.volume, ...w.volumes],
            ),
          },
          ...(record === undefined
            ? {}
            : {
                volumeClaimTemplates: [
                  { metadata: { name: "recordings", labels: labels(lab, "media") }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: RECORDINGS_SIZE } } } },
                ],
              }),
        },
      }),
    );
  }

  // Edges: a Deployment per node group with workers, pinned to the group's nodes and spread over
  // them, so every subnet's workers run edges; the cache in memory, bounded by the group's size.
  for (const e of plane.edges) {
    const group = lab.edge.groups.find((g) => g.label === e.label);
    const cacheMb = group?.cacheMb ?? lab.edge.cacheMb;
    const limit = cacheLimitMi(cacheMb);
    const w = writable([{ volume: emptyDir("cache", `${limit}Mi`, true), path: CLUSTER_NGINX_PATHS.cache }]);
    const groupLabels = { [EDGE_GROUP_LABEL]: e.name };
    const data = edgeData.get(e.name) ?? {};
    objects.push(
      new Deployment({
        metadata: meta(`edge-${e.name}`, "edge", groupLabels),
        spec: {
          replicas: group?.replicas ?? 1,
          selector: { matchLabels: selector(lab, "edge", groupLabels) },
          template: {
            metadata: { labels: labels(lab, "edge", groupLabels), annotations: { [CONFIG_HASH_ANNOTATION]: dataHash(data) } },
            spec: podSpec(
              lab,
              [
                {
                  name: "nginx",
                  image: edgeImage,
                  command: nginxCommand("/etc/edgelab/nginx/edge.conf"),
                  ports: [{ name: "http", containerPort: CLUSTER_PORTS.http }, { name: "status", containerPort: CLUSTER_PORTS.status }],
                  readinessProbe: httpProbe(CLUSTER_PORTS.http, "/healthz", 5),
                  livenessProbe: httpProbe(CLUSTER_PORTS.http, "/healthz", 10),
                  // A memory-backed cache counts against the pod's memory: the limit covers it.
                  resources: { requests: { cpu: "100m", memory: `${64 + limit}Mi` }, limits: { memory: `${256 + limit}Mi` } },
                  volumeMounts: [{ name: "config", mountPath: "/etc/edgelab/nginx", readOnly: true }, ...w.mounts],
                },
              ],
              [{ name: "config", configMap: { name: `edge-${e.name}` } }, ...w.volumes],
              {
                affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: BGP_GROUP_LABEL, operator: "In", values: [e.label] }] }] } } },
                topologySpreadConstraints: [{ maxSkew: 1, topologyKey: "kubernetes.io/hostname", whenUnsatisfiable: "ScheduleAnyway", labelSelector: { matchLabels: selector(lab, "edge", groupLabels) } }],
              },
            ),
          },
        },
      }),
    );
  }

  // Viewers: Cilium's ingress (shared mode; its Service carries the advertisement's label, set in
  // the Helm values), to the edges.
  objects.push(
    new Ingress({
      metadata: meta("edge", "edge"),
      spec: {
        ingressClassName: INGRESS_CLASS,
        rules: [
          {
            ...(lab.dnsName === undefined ? {} : { host: lab.dnsName }),
            http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: CLUSTER_SERVICES.edge, port: { number: CLUSTER_PORTS.http } } } }] },
          },
        ],
      },
    }),
  );

  for (const o of objects) o.validate();
  return objects.map((o) => o.toJSON() as K8sObject);
}

/** The emptyDir limit of a cache of `cacheMb`: nginx may pass max_size briefly (a quarter, at least 16 MiB). */
function cacheLimitMi(cacheMb: number): number {
  return cacheMb + Math.max(16, Math.ceil(cacheMb / 4));
}

/** redis in the cluster: password from the Secret's include, no persistence, CONFIG disabled. */
export function clusterRedisConf(): string {
  return [
    "# redis of the data plane. Rendered by edgelab; the password is in the Secret's include.",
    "bind 0.0.0.0",
    `port ${CLUSTER_PORTS.redis}`,
    "protected-mode yes",
    `include ${CLUSTER_SECRETS_DIR}/${DATA_PLANE_SECRET.redisAuth}`,
    'save ""',
    "appendonly no",
    "daemonize no",
    'logfile ""',
    `dir ${CLUSTER_NGINX_PATHS.tmp}`,
    'rename-command CONFIG ""',
    "",
  ].join("\n");
}

function kindRank(kind: string): number {
  const i = KIND_ORDER.findIndex(([, k]) => k === kind);
  return i < 0 ? KIND_ORDER.length : i;
}

/** k8s/<NN>-<kind>-<name>.yaml, NN the kind's place in the apply order (stable across renders). */
export function k8sPath(object: Pick<K8sObject, "kind" | "metadata">): string {
  return `k8s/${String(kindRank(object.kind)).padStart(2, "0")}-${object.kind.toLowerCase()}-${object.metadata.name}.yaml`;
}

export function renderK8s(inputs: K8sInputs): Artifact[] {
  return buildK8sObjects(inputs).map((o) => ({ path: k8sPath(o), content: stringify(o, { lineWidth: 0 }), mode: 0o644, family: "k8s" }));
}

/**
 * The typed Proxmox VE API of the `proxmox-api` package, on edgelab's transport (ProxmoxClient:
 * TLS pinning, structured errors, GET retries). The provider calls the cluster only through this.
 */
import proxmoxApi, { type Proxmox } from "proxmox-api";
import type { ProxmoxClient } from "./client.js";

export type PveApi = Proxmox.Api;

export function pveApi(client: ProxmoxClient): PveApi {
  return proxmoxApi(client);
}

/** The field of GET /version by which edgelab's simulator identifies itself (a real node has none). */
export const SIMULATOR_VERSION_FIELD = "edgelab-simulator";

/**
 * The HostAccess every stage after provision goes through to contact the lab's hosts: a rehearsal
 * when the provision stage found the Proxmox API to be edgelab's simulator (recorded in its
 * outputs, so it holds when provision itself was skipped as unchanged), direct otherwise.
 */
import { HostAccess } from "../host-access.js";
import type { PipelineContext } from "../stage.js";

export function hostAccess(p: PipelineContext): HostAccess {
  const rehearsal = p.outputs.get("provision")?.["rehearsal"] ?? "";
  return rehearsal !== "" ? HostAccess.rehearsal(rehearsal) : HostAccess.direct();
}

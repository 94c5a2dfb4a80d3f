/**
 * Release arithmetic for the versions the inventory pins, and which Cilium resources each
 * release accepts (shared/reference: PeeringPolicy removed in 1.19, `cidrs` removed in 1.16,
 * BGPv2 from 1.16 as v2alpha1 and from 1.18 as v2). Pure.
 */

/** The oldest Cilium release edgelab renders for. */
export const MIN_CILIUM = "1.14.0";

/** Compares dotted numeric versions ("1.19.1" vs "1.18.0"): negative, 0 or positive. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export type BgpApi = "bgpv2" | "peering-policy";

/** `auto`: BGPv2 from Cilium 1.18 (cilium.io/v2), the legacy peering policy before. */
export function effectiveBgpApi(ciliumVersion: string, requested: "auto" | BgpApi): BgpApi {
  if (requested !== "auto") return requested;
  return compareVersions(ciliumVersion, "1.18.0") >= 0 ? "bgpv2" : "peering-policy";
}

/** The API group version of the BGPv2 kinds and of the LB IP pool for a release. */
export function ciliumApiVersion(ciliumVersion: string): "cilium.io/v2" | "cilium.io/v2alpha1" {
  return compareVersions(ciliumVersion, "1.18.0") >= 0 ? "cilium.io/v2" : "cilium.io/v2alpha1";
}

export type LbPoolField = "blocks" | "cidrs";

/** `auto`: `blocks` from Cilium 1.15, `cidrs` before. */
export function effectiveLbPoolField(ciliumVersion: string, requested: "auto" | LbPoolField): LbPoolField {
  if (requested !== "auto") return requested;
  return compareVersions(ciliumVersion, "1.15.0") >= 0 ? "blocks" : "cidrs";
}

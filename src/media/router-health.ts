/** The client side of the stream-key router's /healthz: each stream's state (status and smoke read it). */
import { z } from "zod";

export const RouterStreamReport = z.object({
  name: z.string(),
  state: z.enum(["live", "waiting for publisher", "stalled"]),
  publisher: z.enum(["source", "external", "pull"]),
  server: z.string().optional(),
  session: z.string().optional(),
  /** Seconds since the playlist last advanced. */
  sinceAdvance: z.number().optional(),
});
export type RouterStreamReport = z.infer<typeof RouterStreamReport>;

export const RouterHealth = z.object({ ok: z.boolean(), redis: z.boolean(), streams: z.array(RouterStreamReport) });
export type RouterHealth = z.infer<typeof RouterHealth>;

/** The router's answer, or undefined when it does not answer (or answers something else). */
export async function fetchRouterHealth(router: { readonly host: string; readonly port: number }, timeoutMs = 2000): Promise<RouterHealth | undefined> {
  try {
    const res = await fetch(`http://${router.host}:${router.port}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    const parsed = RouterHealth.safeParse(await res.json());
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined; // no answer: the caller reports the router as down
  }
}

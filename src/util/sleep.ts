/** Waits `ms` milliseconds (0 or less: resolves on the next turn of the event loop). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

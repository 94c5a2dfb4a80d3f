/**
 * Bounded retries with exponential backoff: the one retry loop. The caller decides what is safe
 * to repeat (`retryable`) and can re-check the world before the next attempt (`before`).
 */
import { sleep } from "./sleep.js";

/** base × 2^(attempt−1), capped at `cap` (attempt counts from 1). */
export function backoffDelay(attempt: number, base: number, cap = base * 8): number {
  return Math.min(cap, base * 2 ** Math.max(0, attempt - 1));
}

export interface RetryPolicy {
  /** Retries after the first attempt (0: no retry). */
  readonly retries: number;
  /** Delay before the first retry; doubles each time, up to 8×. */
  readonly backoffMs: number;
  /** Whether this failure may be retried. */
  readonly retryable: (err: unknown) => boolean;
  /** The delay before retry `attempt` when not the backoff (e.g. 0 after a failure that already waited). */
  readonly delayFor?: (err: unknown, attempt: number) => number | undefined;
  /** Called before sleeping for retry `attempt` (1-based): progress output. */
  readonly onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

export async function retry<T>(work: (attempt: number) => Promise<T>, policy: RetryPolicy): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await work(attempt);
    } catch (err) {
      if (attempt >= policy.retries || !policy.retryable(err)) throw err;
      const delay = policy.delayFor?.(err, attempt + 1) ?? backoffDelay(attempt + 1, policy.backoffMs);
      policy.onRetry?.(err, attempt + 1, delay);
      await sleep(delay);
    }
  }
}

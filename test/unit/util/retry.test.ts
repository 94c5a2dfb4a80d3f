import { describe, expect, it } from "vitest";
import { backoffDelay, retry } from "../../../src/util/retry.js";

describe("retry", () => {
  it("doubles the backoff up to eight times the first delay", () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, 10))).toEqual([10, 20, 40, 80, 80, 80]);
  });
  it("repeats what may be retried, at most `retries` times, and reports each retry with its delay", async () => {
    const seen: string[] = [];
    let calls = 0;
    const err = await retry(
      () => {
        calls += 1;
        return Promise.reject(new Error(`attempt ${calls}`));
      },
      { retries: 3, backoffMs: 1, retryable: () => true, onRetry: (e, attempt, delay) => seen.push(`${(e as Error).message} → retry ${attempt} in ${delay} ms`) },
    ).catch((e: unknown) => e);
    expect((err as Error).message).toBe("attempt 4");
    expect(seen).toEqual(["attempt 1 → retry 1 in 1 ms", "attempt 2 → retry 2 in 2 ms", "attempt 3 → retry 3 in 4 ms"]);
  });
  it("stops at the first failure that may not be retried, and returns the first success", async () => {
    let calls = 0;
    await expect(retry(() => Promise.reject(new Error(`no ${++calls}`)), { retries: 5, backoffMs: 1, retryable: () => false })).rejects.toThrow("no 1");
    expect(await retry((attempt) => (attempt < 2 ? Promise.reject(new Error("not yet")) : Promise.resolve(attempt)), { retries: 5, backoffMs: 1, retryable: () => true, delayFor: () => 0 })).toBe(2);
  });
});

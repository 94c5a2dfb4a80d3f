/** The error a promise rejects with; fails the test when it resolves instead. */
import { EdgelabError } from "../../src/errors.js";

export async function rejection(promise: Promise<unknown>): Promise<EdgelabError> {
  const outcome = await promise.then(
    (value: unknown) => ({ resolved: true as const, value }),
    (error: unknown) => ({ resolved: false as const, error }),
  );
  if (outcome.resolved) throw new Error(`expected a rejection, but the promise resolved with ${JSON.stringify(outcome.value)}`);
  if (outcome.error instanceof EdgelabError) return outcome.error;
  throw new Error(`expected an EdgelabError, got: ${String(outcome.error)}`, { cause: outcome.error });
}

/**
 * Typed errors. Each carries a hint for the user and the exit code it maps to; only cli.ts prints
 * them (with a stack trace only under -v).
 */
import type { LocatedIssue } from "./inventory/issue.js";

export const EXIT_OK = 0;
/** The operation was attempted and failed (an external system, a check). */
export const EXIT_FAILED = 1;
/** Bad usage or an invalid inventory: nothing was attempted. */
export const EXIT_USAGE = 2;

export class EdgelabError extends Error {
  override readonly name: string = "EdgelabError";
  readonly hint: string | undefined;
  readonly exitCode: number;
  constructor(message: string, options: { hint?: string | undefined; exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? EXIT_FAILED;
  }
}

/** Wrong command line: unknown option, missing argument, unreadable inventory path. */
export class UsageError extends EdgelabError {
  override readonly name = "UsageError";
  constructor(message: string, hint?: string) {
    super(message, { hint, exitCode: EXIT_USAGE });
  }
}

/** The inventory has errors; every one of them is in `issues` with its file:line:col. */
export class InventoryError extends EdgelabError {
  override readonly name = "InventoryError";
  readonly issues: readonly LocatedIssue[];
  constructor(file: string, issues: readonly LocatedIssue[]) {
    const errors = issues.filter((i) => i.severity === "error").length;
    super(`${file}: ${errors} error${errors === 1 ? "" : "s"}`, { hint: "Fix them and run `edgelab validate` again.", exitCode: EXIT_USAGE });
    this.issues = issues;
  }
}

/**
 * A rendered file would not be accepted by the program that reads it (an unknown K3s key, a
 * value the Cilium chart does not take, servers that disagree). Nothing is written.
 */
export class RenderError extends EdgelabError {
  override readonly name = "RenderError";
  /** The artifact the problem is in, e.g. k3s/lab-k3s01/config.yaml. */
  readonly file: string;
  constructor(file: string, message: string, hint?: string) {
    super(`${file}: ${message}`, { hint, exitCode: EXIT_FAILED });
    this.file = file;
  }
}

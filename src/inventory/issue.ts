/** A problem found in an inventory, with where it is. Pure data. */

export type PathSegment = string | number;
export type Severity = "error" | "warning";

export interface Position {
  /** 1-based line. */
  readonly line: number;
  /** 1-based column. */
  readonly col: number;
}

export interface Issue {
  readonly severity: Severity;
  /** Path of the offending value in the document, e.g. ["all","vars","k3s","token"]. */
  readonly path: readonly PathSegment[];
  readonly message: string;
  readonly hint?: string | undefined;
  /** Point at the key rather than its value (unknown keys, duplicates of a name). */
  readonly atKey?: boolean | undefined;
}

export interface LocatedIssue extends Issue {
  readonly file: string;
  readonly position: Position;
}

const PLAIN_KEY = /^[A-Za-z0-9_-]+$/;

/** Renders a path as `all.children.k3s_cluster.hosts["web.example.com"].vmid` / `vlans[0].id`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (PLAIN_KEY.test(segment)) out += out === "" ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out === "" ? "(document)" : out;
}

export function error(path: readonly PathSegment[], message: string, hint?: string, atKey?: boolean): Issue {
  return { severity: "error", path, message, hint, atKey };
}

export function warning(path: readonly PathSegment[], message: string, hint?: string, atKey?: boolean): Issue {
  return { severity: "warning", path, message, hint, atKey };
}

export function compareLocated(a: LocatedIssue, b: LocatedIssue): number {
  return (
    a.position.line - b.position.line ||
    a.position.col - b.position.col ||
    (a.severity === b.severity ? 0 : a.severity === "error" ? -1 : 1) ||
    a.message.localeCompare(b.message)
  );
}

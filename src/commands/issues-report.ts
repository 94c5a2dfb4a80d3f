/** How inventory issues are shown: one line each, file:line:col first; or JSON. */
import type { LocatedIssue } from "../inventory/issue.js";
import { formatPath } from "../inventory/issue.js";
import { plural, type Style } from "../output.js";

export function issueLine(issue: LocatedIssue, s: Style): string {
  const where = `${issue.file}:${issue.position.line}:${issue.position.col}`;
  const message = issue.severity === "warning" ? `${s.yellow("warning:")} ${issue.message}` : issue.message;
  const hint = issue.hint === undefined ? "" : `  ${s.dim(`(${issue.hint})`)}`;
  return `${s.bold(where)}  ${s.cyan(formatPath(issue.path))}  ${message}${hint}`;
}

export function issueCounts(issues: readonly LocatedIssue[]): { errors: number; warnings: number } {
  const errors = issues.filter((i) => i.severity === "error").length;
  return { errors, warnings: issues.length - errors };
}

export function issuesSummary(file: string, issues: readonly LocatedIssue[], s: Style): string {
  const { errors, warnings } = issueCounts(issues);
  const parts = [errors > 0 ? s.red(plural(errors, "error")) : undefined, warnings > 0 ? s.yellow(plural(warnings, "warning")) : undefined].filter(Boolean);
  return `${parts.join(", ")} in ${file}`;
}

export function issueJson(issue: LocatedIssue): Record<string, unknown> {
  return {
    file: issue.file,
    line: issue.position.line,
    col: issue.position.col,
    severity: issue.severity,
    path: formatPath(issue.path),
    message: issue.message,
    ...(issue.hint === undefined ? {} : { hint: issue.hint }),
  };
}

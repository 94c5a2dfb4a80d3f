/** Smoke results as a table, JSON or JUnit XML. Pure. */
import type { CheckResult } from "./run.js";

function xml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c] ?? c);
}

export function junit(results: readonly CheckResult[], suite = "edgelab smoke"): string {
  const failures = results.filter((r) => !r.ok).length;
  const seconds = results.reduce((s, r) => s + r.ms, 0) / 1000;
  const cases = results.map((r) => {
    const classname = ["smoke", r.stream, r.edge].filter(Boolean).join(".");
    const head = `  <testcase classname="${xml(classname)}" name="${xml(r.check)}" time="${(r.ms / 1000).toFixed(3)}">`;
    const body = r.ok ? `\n    <system-out>${xml(r.value)}</system-out>` : `\n    <failure message="${xml(r.value)}">${xml(r.value)}</failure>`;
    return `${head}${body}\n  </testcase>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="${xml(suite)}" tests="${results.length}" failures="${failures}" errors="0" time="${seconds.toFixed(3)}">\n${cases.join("\n")}\n</testsuite>\n`;
}

export function summary(results: readonly CheckResult[]): { passed: number; failed: number } {
  const failed = results.filter((r) => !r.ok).length;
  return { passed: results.length - failed, failed };
}

/**
 * A live list of rows (one per item, its current state) redrawn in place on a terminal; on
 * anything else each change is printed as a line. Used for per-VM provisioning progress.
 */
import type { Output } from "./context.js";

export class LiveRows {
  private readonly rows = new Map<string, string>();
  private drawn = 0;

  constructor(
    private readonly out: Output,
    private readonly started: number = Date.now(),
  ) {}

  update(key: string, text: string, at: number = Date.now()): void {
    this.rows.set(key, text);
    if (!this.out.isTTY) {
      this.out.write(`  [${((at - this.started) / 1000).toFixed(1).padStart(6)}s] ${key.padEnd(24)} ${text}\n`);
      return;
    }
    // Move to the first row drawn, clear to the end of the screen, draw every row again.
    const up = this.drawn > 0 ? `\u001b[${this.drawn}F` : "";
    const width = Math.max(...[...this.rows.keys()].map((k) => k.length), 4);
    const body = [...this.rows].map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join("\n");
    this.out.write(`${up}\u001b[J${body}\n`);
    this.drawn = this.rows.size;
  }
}

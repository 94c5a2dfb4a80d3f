/** Types of bench/gen-inventory.js (imported by the parser tests). */
export function generateInventory(edges: number, options?: { labels?: number; brokenEvery?: number }): string;

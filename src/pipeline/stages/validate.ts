/** The validate stage: the inventory was loaded and validated before any stage; this reports it. */
import type { Stage } from "../stage.js";

export const validateStage: Stage = {
  name: "validate",
  title: "inventory: syntax, schema, cross-field rules",

  always: true,
  inputs: (p) => ({ inventory: p.inventoryText }),
  apply: (run) => {
    for (const w of run.p.warnings) run.warn(w);
    const n = run.p.warnings.length;
    return Promise.resolve({ changes: 0, summary: n === 0 ? "valid" : `valid, ${n} warning${n === 1 ? "" : "s"}` });
  },
};

#!/usr/bin/env node
// edgelab launcher. Plain JavaScript that any Node.js can parse, so that an old runtime gets a
// clear message (or is swapped for the one scripts/setup.sh installed) instead of a syntax error.
"use strict";
const path = require("node:path");
const fs = require("node:fs");
const childProcess = require("node:child_process");

const MIN_MAJOR = 22;
const root = path.join(__dirname, "..");
const major = Number(process.versions.node.split(".")[0]);

if (major < MIN_MAJOR) {
  const local = path.join(root, ".tools", "node", "node_modules", "node", "bin", "node");
  if (fs.existsSync(local) && process.env.EDGELAB_REEXEC !== "1") {
    const result = childProcess.spawnSync(local, [__filename].concat(process.argv.slice(2)), {
      stdio: "inherit",
      env: Object.assign({}, process.env, { EDGELAB_REEXEC: "1" }),
    });
    process.exit(result.status === null ? 1 : result.status);
  }
  process.stderr.write(
    "edgelab: error: Node.js " + MIN_MAJOR + " or newer is required (this is " + process.version + ")\n" +
    "  hint: run scripts/setup.sh (installs Node.js 24 into .tools/ without touching the system one), or install Node.js >= " + MIN_MAJOR + "\n",
  );
  process.exit(2);
}

const entry = path.join(root, "dist", "cli.js");
if (!fs.existsSync(entry)) {
  process.stderr.write("edgelab: error: " + entry + " is missing\n  hint: run `npm ci` (or `npm run build`) in " + root + "\n");
  process.exit(1);
}
import(require("node:url").pathToFileURL(entry).href).then((m) => m.main());

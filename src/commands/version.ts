/** `edgelab version`. */
import { Command } from "commander";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../paths.js";
import { println, type App } from "./app.js";

export function packageVersion(): string {
  const pkg: unknown = JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8"));
  return typeof pkg === "object" && pkg !== null && "version" in pkg && typeof pkg.version === "string" ? pkg.version : "0.0.0";
}

export function versionCommand(app: App): Command {
  return new Command("version").description("print edgelab's version and the Node.js it runs on").action((_options: unknown, cmd: Command) => {
    const ctx = app.context(cmd);
    const info = { edgelab: packageVersion(), node: process.versions.node, platform: `${process.platform}-${process.arch}` };
    println(ctx.stdout, ctx.options.json ? JSON.stringify(info) : `edgelab ${info.edgelab} (node ${info.node}, ${info.platform})`);
  });
}

/**
 * What every command gets: its Context (built from the global options) and a way to say how
 * the run ended. Commands print results; errors are thrown and printed by cli.ts.
 */
import type { Command } from "commander";
import type { Context, Output } from "../context.js";
import { style, type Style } from "../output.js";

export interface Io {
  readonly stdout: Output;
  readonly stderr: Output;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

export interface App {
  readonly io: Io;
  /** The context for this invocation, from the global options as parsed for `cmd`. */
  context(cmd: Command): Context;
  style(ctx: Context): Style;
  /** The exit code the run ends with (0 unless a command sets it). */
  exitCode: number;
}

interface RawGlobals {
  inventory?: unknown;
  json?: unknown;
  verbose?: unknown;
  color?: unknown;
}

export function createApp(io: Io): App {
  return {
    io,
    exitCode: 0,
    context(cmd: Command): Context {
      const raw = cmd.optsWithGlobals<RawGlobals>();
      const noColorEnv = io.env["NO_COLOR"] !== undefined && io.env["NO_COLOR"] !== "";
      return {
        cwd: io.cwd,
        env: io.env,
        stdout: io.stdout,
        stderr: io.stderr,
        options: {
          inventory: typeof raw.inventory === "string" ? raw.inventory : undefined,
          json: raw.json === true,
          verbose: raw.verbose === true,
          color: raw.color !== false && !noColorEnv && io.stdout.isTTY,
        },
      };
    },
    style(ctx: Context): Style {
      return style(ctx.options.color);
    },
  };
}

export function println(out: Output, text = ""): void {
  out.write(`${text}\n`);
}

/** `edgelab keys show|rotate <stream>`: the key an encoder publishes a stream with. */
import { Command } from "commander";
import { EdgelabError, UsageError } from "../errors.js";
import { localDataPlane } from "../model/dataplane.js";
import { publisherOf, type Lab } from "../model/lab.js";
import { loadLab } from "../pipeline/inventory-file.js";
import { replaceGeneratedSecret } from "../pipeline/secrets.js";
import { secretIds } from "../providers/local/layout.js";
import { labLayout, localApplyKeys, streamKey } from "../providers/local/lab.js";
import { ingestFor } from "../providers/local/plan.js";
import { println, type App } from "./app.js";

function findStream(lab: Lab, name: string): Lab["streams"][number] {
  const stream = lab.streams.find((s) => s.name === name);
  if (stream === undefined) throw new UsageError(`stream '${name}' is not in the inventory`, `Streams: ${lab.streams.map((s) => s.name).join(", ") || "(none)"}.`);
  if (publisherOf(stream) === "pull") throw new UsageError(`stream '${name}' is pulled by its media server from ${stream.source.type === "url" ? stream.source.url : "a URL"}: nobody publishes it, so it has no key`);
  return stream;
}

export function keysCommand(app: App): Command {
  const keys = new Command("keys").description("show or rotate the key an encoder publishes a stream with");

  keys.addCommand(
    new Command("show")
      .description("print a stream's publishing key, with the RTMP server and the OBS fields")
      .argument("<stream>", "stream name (from the inventory's streams)")
      .option("--url", "print only the full publish URL (rtmp://.../live/<stream>?key=...), for scripts")
      .addHelpText(
        "after",
        `
The key is a secret: it is printed here because you asked, and nowhere else (not by up, not in
any log). Keys of {generate: true} streams live in .edgelab/secrets/ beside the inventory (0600).

OBS (Settings > Stream, Service: Custom): Server = "server", Stream Key = "stream key".

Examples:
  $ edgelab keys show cam
  $ edgelab keys show cam --json | jq -r .key
  $ ffmpeg -re -i input.mp4 -c copy -f flv "$(edgelab keys show cam --url)"`,
      )
      .action((name: string, options: { url?: boolean }, cmd: Command) => {
        const ctx = app.context(cmd);
        const s = app.style(ctx);
        const { lab, location } = loadLab(ctx);
        const stream = findStream(lab, name);
        const key = streamKey({ inventoryPath: location.path, env: ctx.env }, labLayout(location.path), stream);
        const ingest = lab.provider === "local" ? ingestFor(lab, localDataPlane(lab)).find((i) => i.stream === name) : undefined;
        const streamKeyField = `${name}?key=${encodeURIComponent(key)}`;
        const url = ingest === undefined ? undefined : `${ingest.server}/${streamKeyField}`;
        if (options.url === true) {
          if (url === undefined) throw new UsageError(`stream '${name}' has no local ingest: the inventory's provider is ${lab.provider}`);
          println(ctx.stdout, url);
          return;
        }
        if (ctx.options.json) {
          println(ctx.stdout, JSON.stringify({ stream: name, key, server: ingest?.server, streamKey: streamKeyField, url }));
          return;
        }
        const rows: [string, string][] = [];
        if (ingest !== undefined) rows.push(["server", ingest.server]);
        rows.push(["stream key", streamKeyField], ["key", key]);
        if (url !== undefined) rows.push(["publish URL", url]);
        for (const [label, value] of rows) println(ctx.stdout, `${s.bold(label.padEnd(13))}${value}`);
        if (publisherOf(stream) === "source") println(ctx.stderr, s.dim(`  (the lab's test source publishes '${name}' with a key of its own; a second publisher is refused while it is on air)`));
      }),
  );

  keys.addCommand(
    new Command("rotate")
      .description("replace a stream's generated key; the old one is refused from now on")
      .argument("<stream>", "stream name (its key must be {generate: true}, the default)")
      .addHelpText(
        "after",
        `
Only keys edgelab generated can be rotated here; a key from {env: NAME} or {file: path} is
changed where it lives (then run edgelab up). When the lab runs, the router picks the new key
up at once. Publishers already on air keep going until they reconnect; then they need the new key.

Examples:
  $ edgelab keys rotate cam && edgelab keys show cam`,
      )
      .action(async (name: string, _options: unknown, cmd: Command) => {
        const ctx = app.context(cmd);
        const { lab, location } = loadLab(ctx);
        const stream = findStream(lab, name);
        const ref = stream.key;
        if (typeof ref !== "object" || !("generate" in ref)) {
          const where = typeof ref === "object" && "env" in ref ? `the environment variable ${ref.env}` : typeof ref === "object" && "file" in ref ? `the file ${ref.file}` : "Ansible Vault";
          throw new UsageError(`the key of stream '${name}' comes from ${where}, not from edgelab`, "Change it there, then run edgelab up (the router picks it up).");
        }
        const layout = labLayout(location.path);
        replaceGeneratedSecret(layout.secrets, secretIds.streamKey(name));
        let applied: "reloaded" | "not running";
        try {
          applied = await localApplyKeys({ inventoryPath: location.path, lab, env: ctx.env, progress: () => undefined });
        } catch (cause) {
          throw new EdgelabError(`the new key of '${name}' is saved, but the running lab did not take it: ${(cause as Error).message}`, { hint: "Run edgelab up to apply it.", cause });
        }
        if (ctx.options.json) {
          println(ctx.stdout, JSON.stringify({ stream: name, rotated: true, lab: applied }));
          return;
        }
        println(ctx.stdout, `new key for '${name}'${applied === "reloaded" ? ": the router refuses the old one from now on (publishers on air keep going until they reconnect)" : " (the lab is not running; up will use it)"}`);
        println(ctx.stdout, `show it: edgelab${ctx.options.inventory !== undefined ? ` -i ${location.display}` : ""} keys show ${name}`);
      }),
  );
  return keys;
}

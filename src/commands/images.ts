/** `edgelab images build [--push]`: edgelab's origin and edge images as OCI archives. */
import { Command, Option } from "commander";
import { UsageError } from "../errors.js";
import { table } from "../output.js";
import { BUILDER_TITLE, BUILDERS, type BuilderName } from "../images/build.js";
import { IMAGE_NAMES, type ImageName } from "../model/images.js";
import { loadLab } from "../pipeline/inventory-file.js";
import { runImages } from "../pipeline/stages/images.js";
import { println, type App } from "./app.js";

interface BuildFlags {
  push?: boolean;
  only?: string;
  builder: string;
}

function parseNames(only: string | undefined): ImageName[] {
  if (only === undefined) return [...IMAGE_NAMES];
  const names = only.split(",").map((s) => s.trim()).filter((s) => s !== "");
  const out: ImageName[] = [];
  for (const name of names) {
    const known = IMAGE_NAMES.find((n) => n === name);
    if (known === undefined) throw new UsageError(`--only: unknown image '${name}'`, `Images: ${IMAGE_NAMES.join(", ")}.`);
    if (!out.includes(known)) out.push(known);
  }
  if (out.length === 0) throw new UsageError("--only: no image named", `Images: ${IMAGE_NAMES.join(", ")}.`);
  return out;
}

function parseBuilder(value: string): BuilderName {
  const builder = BUILDERS.find((b) => b === value);
  if (builder === undefined) throw new UsageError(`--builder: unknown builder '${value}'`, `Builders: ${BUILDERS.map((b) => `${b} (${BUILDER_TITLE[b]})`).join(", ")}.`);
  return builder;
}

export function imagesCommand(app: App): Command {
  const images = new Command("images").description("edgelab's container images (origin, edge)");
  images.addCommand(
    new Command("build")
      .description("build the origin and edge images into the inventory's images.archive_dir (OCI archives); --push sends them to its registry")
      .option("--push", "also push them to images.registry (credentials: images.registry.username and .password, from the environment)")
      .option("--only <images>", `build only these images (comma-separated: ${IMAGE_NAMES.join(", ")})`)
      .addOption(new Option("--builder <name>", "how to build: buildah = Debian root filesystem with mmdebstrap, committed with buildah from scratch (no registry needed); podman = images/<name>/Containerfile over debian:bookworm-slim (needs to pull it)").default("buildah"))
      .addHelpText(
        "after",
        `
The images take no configuration from the inventory: the rendered nginx, router and redis
configurations are mounted at run time (/etc/edgelab/...), so a configuration change never
needs a rebuild. The inventory only says where the archives go (images.archive_dir) and which
registry --push uses (images.registry; its password from images.registry.password, e.g.
{env: EDGELAB_REGISTRY_PASSWORD}; TLS always verified, images.registry.ca_file trusted).

Builds are cached by content under .cache/images (or $EDGELAB_CACHE_DIR): building again with
unchanged sources takes seconds. The buildah builder runs as root (mmdebstrap, buildah mount).

Examples:
  $ sudo edgelab images build -i lab.yml
  $ sudo edgelab images build -i lab.yml --only edge
  $ EDGELAB_REGISTRY_PASSWORD=... edgelab images build -i lab.yml --push
  $ edgelab images build -i lab.yml --builder podman --json`,
      )
      .action(async (flags: BuildFlags, cmd: Command) => {
        const ctx = app.context(cmd);
        const s = app.style(ctx);
        const names = parseNames(flags.only);
        const builder = parseBuilder(flags.builder);
        const { lab, location } = loadLab(ctx);
        if (flags.push === true && lab.images.registry === undefined) {
          throw new UsageError(`--push: ${location.display} has no images.registry`, "Add images.registry (address, username, password) to the inventory, or build without --push.");
        }
        const started = Date.now();
        const result = await runImages(lab, location.path, ctx, { names, push: flags.push === true, builder }, (line) => {
          if (!ctx.options.json) println(ctx.stderr, s.dim(`  ${line}`));
        });
        const seconds = Math.round((Date.now() - started) / 100) / 10;
        if (ctx.options.json) {
          println(ctx.stdout, JSON.stringify({ builder, builderTitle: BUILDER_TITLE[builder], seconds, images: result.built, pushed: result.pushed }));
          return;
        }
        println(ctx.stdout, `Builder: ${builder} (${BUILDER_TITLE[builder]})`);
        println(
          ctx.stdout,
          table([
            ["IMAGE", "REFERENCE", "ARCHIVE", "SIZE", "BUILD", "PUSHED"].map((h) => s.bold(h)),
            ...result.built.map((b) => [b.name, b.ref, b.archive, `${Math.round(b.bytes / 1e6)} MB`, b.cached ? `cached (key ${b.key})` : `built in ${b.seconds} s`, result.pushed.find((x) => x.ref === b.ref)?.digest ?? "-"]),
          ]),
        );
        println(ctx.stdout, `\nDone in ${seconds} s.`);
      }),
  );
  return images;
}

/**
 * A test source's publisher: runs an encoder (ffmpeg writing FLV to its stdout) and publishes
 * what it writes over RTMP with the stream key read from a file. The key never appears in any
 * process's argv (ffmpeg's included) nor in any log.
 *
 *   node dist/media/publisher.js --url rtmp://host:port/app/stream --key-file <0600 file> -- ffmpeg ... -f flv -
 *
 * Exits when the encoder exits or the media server drops the connection (the supervisor
 * restarts it); SIGTERM stops both.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { FlvReader, FLV_AUDIO, FLV_VIDEO } from "./flv.js";
import { MSG_AUDIO, MSG_DATA_AMF0, MSG_VIDEO, parseRtmpUrl, RtmpError, rtmpPublish } from "./rtmp.js";

export interface PublisherArgs {
  readonly url: string;
  readonly keyFile: string;
  readonly encoder: readonly string[];
}

export function parsePublisherArgs(argv: readonly string[]): PublisherArgs | string {
  const dashes = argv.indexOf("--");
  const own = dashes >= 0 ? argv.slice(0, dashes) : argv;
  const encoder = dashes >= 0 ? argv.slice(dashes + 1) : [];
  const value = (flag: string): string | undefined => {
    const i = own.indexOf(flag);
    return i >= 0 ? own[i + 1] : undefined;
  };
  const url = value("--url");
  const keyFile = value("--key-file");
  if (url === undefined || keyFile === undefined || encoder.length === 0) return "usage: publisher --url rtmp://host:port/app/stream --key-file <file> -- <encoder argv writing FLV to stdout>";
  return { url, keyFile, encoder };
}

const log = (line: string): void => void process.stderr.write(`${new Date().toISOString()} publisher: ${line}\n`);

export async function main(argv: readonly string[]): Promise<number> {
  const args = parsePublisherArgs(argv);
  if (typeof args === "string") {
    process.stderr.write(`${args}\n`);
    return 2;
  }
  const target = parseRtmpUrl(args.url);
  let key: string;
  try {
    key = readFileSync(args.keyFile, "utf8").trim();
  } catch (cause) {
    log(`cannot read the stream key file ${args.keyFile}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`);
    return 1;
  }
  const where = `rtmp://${target.host}:${target.port}/${target.app}/${target.name}`;
  let publisher;
  try {
    publisher = await rtmpPublish({ ...target, name: `${target.name}?key=${encodeURIComponent(key)}` });
  } catch (cause) {
    log(cause instanceof RtmpError ? cause.message : `publishing to ${where} failed: ${(cause as Error).message}`);
    return 1;
  }
  log(`publishing to ${where}`);
  const [command, ...rest] = args.encoder;
  if (command === undefined) return 2;
  const encoder = spawn(command, rest, { stdio: ["ignore", "pipe", "inherit"] });
  const reader = new FlvReader();
  let stopping = false;
  const stop = (): void => {
    stopping = true;
    encoder.kill("SIGTERM");
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  void publisher.closed.then((reason) => {
    if (!stopping) log(`the media server closed the connection (${reason})`);
    encoder.kill("SIGTERM");
  });
  const stdout = encoder.stdout;
  stdout.on("data", (chunk: Buffer) => {
    let tags;
    try {
      tags = reader.push(chunk);
    } catch (cause) {
      log(`the encoder's output is not FLV: ${(cause as Error).message}`);
      encoder.kill("SIGTERM");
      return;
    }
    let full = false;
    for (const tag of tags) {
      const type = tag.type === FLV_AUDIO ? MSG_AUDIO : tag.type === FLV_VIDEO ? MSG_VIDEO : MSG_DATA_AMF0;
      if (!publisher.send(type, tag.timestamp, tag.data)) full = true;
    }
    if (full) {
      stdout.pause();
      void publisher.drain().then(() => stdout.resume());
    }
  });
  const code = await new Promise<number>((resolve) => {
    encoder.once("error", (err) => {
      log(`cannot start the encoder ${command}: ${err.message}`);
      resolve(1);
    });
    encoder.once("exit", (exitCode, signal) => {
      if (!stopping) log(`the encoder exited (${signal !== null ? `signal ${signal}` : `exit ${exitCode ?? "?"}`})`);
      resolve(stopping ? 0 : exitCode === 0 ? 0 : 1);
    });
  });
  await publisher.close();
  return code;
}

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (cause: unknown) => {
      log((cause as Error).message);
      process.exit(1);
    },
  );
}

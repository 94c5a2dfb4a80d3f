/** FLV as ffmpeg writes it to a pipe (`-f flv -`): header, then tags. Incremental; pure. */

export const FLV_AUDIO = 8;
export const FLV_VIDEO = 9;
export const FLV_SCRIPT = 18;

export interface FlvTag {
  readonly type: typeof FLV_AUDIO | typeof FLV_VIDEO | typeof FLV_SCRIPT;
  /** Milliseconds. */
  readonly timestamp: number;
  readonly data: Buffer;
}

export class FlvError extends Error {
  override readonly name = "FlvError";
}

export class FlvReader {
  private pending: Buffer = Buffer.alloc(0);
  /** Bytes still to skip: the file header and PreviousTagSize0 come first. */
  private headerDone = false;

  push(data: Buffer): FlvTag[] {
    this.pending = this.pending.length === 0 ? data : Buffer.concat([this.pending, data]);
    const tags: FlvTag[] = [];
    if (!this.headerDone) {
      if (this.pending.length < 9) return tags;
      if (this.pending.toString("latin1", 0, 3) !== "FLV") throw new FlvError("not an FLV stream (no FLV signature)");
      const offset = this.pending.readUInt32BE(5);
      if (this.pending.length < offset + 4) return tags;
      this.pending = this.pending.subarray(offset + 4);
      this.headerDone = true;
    }
    for (;;) {
      if (this.pending.length < 11) break;
      const type = (this.pending[0] ?? 0) & 0x1f;
      const size = this.pending.readUIntBE(1, 3);
      const total = 11 + size + 4;
      if (this.pending.length < total) break;
      const timestamp = ((this.pending[7] ?? 0) << 24) | this.pending.readUIntBE(4, 3);
      const data = Buffer.from(this.pending.subarray(11, 11 + size));
      this.pending = this.pending.subarray(total);
      if (type === FLV_AUDIO || type === FLV_VIDEO || type === FLV_SCRIPT) tags.push({ type, timestamp: timestamp >>> 0, data });
    }
    return tags;
  }
}

// Length-prefixed frames on a byte stream: a 4-byte big-endian length, then that many bytes.
// The reader refuses a declared length over its limit before buffering any of it.

export const FRAME_HEADER_BYTES = 4;

export class FrameTooLarge extends Error {
  override readonly name = 'FrameTooLarge';
  constructor(
    readonly declared: number,
    readonly limit: number,
  ) {
    super(`a frame of ${declared} bytes is larger than the limit of ${limit}`);
  }
}

/** One frame of `parts` laid end to end (a payload and its tag), copied once. */
export function frame(...parts: Uint8Array[]): Buffer {
  const length = parts.reduce((sum, part) => sum + part.length, 0);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  out.writeUInt32BE(length, 0);
  let offset = FRAME_HEADER_BYTES;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private declared: number | undefined;

  constructor(public limit: number) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next whole frame's payload, undefined until one has arrived; throws FrameTooLarge. */
  next(): Buffer | undefined {
    if (this.declared === undefined) {
      if (this.buffered < FRAME_HEADER_BYTES) return undefined;
      const declared = this.take(FRAME_HEADER_BYTES).readUInt32BE(0);
      if (declared > this.limit) throw new FrameTooLarge(declared, this.limit);
      this.declared = declared;
    }
    if (this.buffered < this.declared) return undefined;
    const payload = this.take(this.declared);
    this.declared = undefined;
    return payload;
  }

  /** Copies only when the bytes span chunks, so a large frame is assembled once. */
  private take(count: number): Buffer {
    this.buffered -= count;
    const first = this.chunks[0];
    if (first && first.length >= count) {
      if (first.length === count) this.chunks.shift();
      else this.chunks[0] = first.subarray(count);
      return first.subarray(0, count);
    }
    const out = Buffer.allocUnsafe(count);
    let filled = 0;
    while (filled < count) {
      const chunk = this.chunks[0]!;
      const used = Math.min(chunk.length, count - filled);
      chunk.copy(out, filled, 0, used);
      filled += used;
      if (used === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(used);
    }
    return out;
  }
}

/**
 * A byte source over an async iterable of chunks, for parsers that read fixed
 * amounts (tar headers) and stream the rest (tar bodies) without copying.
 */
export class ByteSource {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private pending: Buffer = Buffer.alloc(0);
  private ended = false;
  /** Bytes handed out so far. */
  position = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    while (this.pending.length === 0 && !this.ended) {
      const next = await this.iterator.next();
      if (next.done) this.ended = true;
      else this.pending = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    }
    return this.pending.length > 0;
  }

  /** Up to `max` bytes (at least one), or undefined at the end. */
  async chunk(max: number): Promise<Buffer | undefined> {
    if (!(await this.fill())) return undefined;
    const out = this.pending.subarray(0, Math.min(max, this.pending.length));
    this.pending = this.pending.subarray(out.length);
    this.position += out.length;
    return out;
  }

  /** Exactly `n` bytes; fewer only when the source ends first (the caller decides what that means). */
  async read(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n) {
      const c = await this.chunk(n - got);
      if (!c) break;
      parts.push(c);
      got += c.length;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, got);
  }

  /** Stream `n` bytes as they arrive; stops early only when the source ends. */
  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      const c = await this.chunk(left);
      if (!c) return;
      left -= c.length;
      yield c;
    }
  }

  /** Let the source release what it holds (a file handle, a decompressor). */
  async close(): Promise<void> {
    await this.iterator.return?.();
  }
}

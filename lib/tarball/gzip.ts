/**
 * gzip streams in and out: decompression with typed errors (a file that is
 * not gzip, or ends early, is an invalid input, not a crash), and the
 * compressor of the tarballs we write.
 */
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import { Duplex, Readable, Transform, TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { EnvironmentError, InvalidStemcellError, isSystemError, systemErrorReason, UsageError } from '../errors';

/** A pass-through that refuses input not starting with the gzip magic bytes. */
class GzipMagicCheck extends Transform {
  private seen = Buffer.alloc(0);
  private checked = false;

  constructor(private readonly what: string) {
    super();
  }

  _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (!this.checked) {
      this.seen = Buffer.concat([this.seen, chunk]);
      if (this.seen.length < 2) return done();
      this.checked = true;
      if (this.seen[0] !== 0x1f || this.seen[1] !== 0x8b) {
        return done(new InvalidStemcellError(`${this.what} is not a gzip file: stemcells, their images and OS images are gzip-compressed tar files (.tgz)`));
      }
      chunk = this.seen;
    }
    done(null, chunk);
  }

  _flush(done: TransformCallback): void {
    done(this.checked ? null : new InvalidStemcellError(`${this.what} is not a gzip file: it is empty or shorter than a gzip header`));
  }
}

/** The errors of reading a file or stream, as errors the user can act on. */
export function readError(e: unknown, what: string): Error {
  if (e instanceof InvalidStemcellError || e instanceof EnvironmentError || e instanceof UsageError) return e;
  const error = e as NodeJS.ErrnoException;
  if ((typeof error.code === 'string' && error.code.startsWith('Z_')) || /unexpected end of file/i.test(error.message ?? '')) {
    return new InvalidStemcellError(`${what}: corrupt or truncated gzip data (${error.message})`);
  }
  if (isSystemError(e)) return new EnvironmentError(`${e.path ?? what}: ${systemErrorReason(e)}`);
  return e instanceof Error ? e : new Error(String(e));
}

/**
 * The decompressed bytes of a gzip stream, as they come. Refuses input that
 * is not gzip or ends early (the gzip trailer's length and CRC are checked).
 */
export async function* gunzip(source: Readable | AsyncIterable<Uint8Array>, what: string): AsyncGenerator<Buffer> {
  const input = source instanceof Readable ? source : Readable.from(source, { objectMode: false });
  const unzip = createGunzip({ chunkSize: 256 * 1024 });
  const done = pipeline(input, new GzipMagicCheck(what), unzip);
  done.catch(() => undefined);
  try {
    for await (const chunk of unzip) yield chunk as Buffer;
    // zlib can report a truncated stream after its last chunk.
    await done.catch((e: NodeJS.ErrnoException) => {
      // zlib ends at zero bytes after the last member (padding, which gzip -t accepts) and the
      // pipeline then aborts the input it no longer reads; the data itself was complete.
      if (e.name !== 'AbortError' && e.code !== 'ABORT_ERR' && e.code !== 'ERR_STREAM_PREMATURE_CLOSE') throw e;
    });
  } catch (e) {
    throw readError(e, what);
  } finally {
    input.destroy();
    unzip.destroy();
  }
}

export interface GzipOptions {
  /** 0 (stored: gzip framing only, for content compressed already), 1 (fast) to 9 (small). @default 6 */
  readonly level?: number;
  /**
   * Compress with pigz on every core instead of Node's zlib. pigz output does
   * not depend on the number of threads, so the bytes stay the same.
   * @default false
   */
  readonly pigz?: boolean;
}

/** A gzip compressor without file name or timestamp: Node's zlib, or a pigz process on every core. */
export function gzipStream(options: GzipOptions = {}): Duplex {
  const level = options.level ?? 6;
  if (!options.pigz) return createGzip({ level });
  const child = spawn('pigz', ['--no-name', `-${level}`, '--processes', String(os.availableParallelism())], { stdio: ['pipe', 'pipe', 'inherit'] });
  const duplex = Duplex.from({ writable: child.stdin, readable: child.stdout });
  child.on('error', (e) => duplex.destroy(e));
  child.on('exit', (code) => {
    if (code !== 0) duplex.destroy(new Error(`pigz exited with ${code}`));
  });
  return duplex;
}

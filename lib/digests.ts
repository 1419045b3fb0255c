/**
 * Digests of files, streams and bytes: the sha1 a stemcell manifest carries,
 * the sha256 of build records and light stemcells, the checksums the EBS
 * direct APIs want. One place computes them all.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { Transform } from 'node:stream';

export type DigestAlgorithm = 'sha1' | 'sha256';
/** What digestOf computes: the set above, and MD5 for S3's Content-MD5. */
type OneDigest = DigestAlgorithm | 'md5';
export type DigestSet = Readonly<Record<DigestAlgorithm, string>>;

/** Digests computed incrementally, in one pass, over bytes that are never all in memory. */
export class Digests {
  private readonly sha1 = createHash('sha1');
  private readonly sha256 = createHash('sha256');
  private finished?: DigestSet;

  update(chunk: Uint8Array): void {
    this.sha1.update(chunk);
    this.sha256.update(chunk);
  }

  /** Hex digests; the same value on every call. */
  digest(): DigestSet {
    this.finished ??= { sha1: this.sha1.digest('hex'), sha256: this.sha256.digest('hex') };
    return this.finished;
  }
}

/** Hex digests of a file, read once; its name may be bytes (not UTF-8). */
export async function digestFile(file: fs.PathLike): Promise<DigestSet> {
  const digests = new Digests();
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1024 * 1024 })) digests.update(chunk as Buffer);
  return digests.digest();
}

/** One hex digest of a file, read once (half the work of digestFile when one is all that is needed). */
export async function digestFileOne(file: fs.PathLike, algorithm: OneDigest): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * A file's chunks for a consumer to read, digested on the way, so that a file
 * read anyway is not read a second time to be hashed. `digest` hashes what the
 * consumer left unread (it may stop before the end) and gives the digest of
 * the whole file.
 */
export function readDigesting(file: fs.PathLike, algorithm: OneDigest): { chunks: AsyncGenerator<Buffer>; digest: () => Promise<string> } {
  const hash = createHash(algorithm);
  let offset = 0;
  let ended = false;
  async function* chunks(): AsyncGenerator<Buffer> {
    for await (const chunk of fs.createReadStream(file, { highWaterMark: 1024 * 1024 })) {
      hash.update(chunk as Buffer);
      offset += (chunk as Buffer).length;
      yield chunk as Buffer;
    }
    ended = true;
  }
  const digest = async (): Promise<string> => {
    if (!ended) for await (const chunk of fs.createReadStream(file, { start: offset, highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
    return hash.digest('hex');
  };
  return { chunks: chunks(), digest };
}

/** One digest of bytes in memory. */
export function digestOf(data: Uint8Array | string, algorithm: OneDigest = 'sha256', encoding: 'hex' | 'base64' = 'hex'): string {
  return createHash(algorithm).update(data).digest(encoding);
}

/**
 * The digests of a file about to be uploaded, in one read: sha1 and sha256,
 * and the base64 MD5 that S3's Content-MD5 wants (S3 refuses an upload whose
 * bytes do not match it).
 */
export async function digestFileForUpload(file: string): Promise<DigestSet & { readonly contentMd5: string }> {
  const digests = new Digests();
  const md5 = createHash('md5');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1024 * 1024 })) {
    digests.update(chunk as Buffer);
    md5.update(chunk as Buffer);
  }
  return { ...digests.digest(), contentMd5: md5.digest('base64') };
}

/**
 * A pass-through that digests what flows through it, so that bytes being
 * written or read anyway are not read a second time to be hashed.
 */
export class DigestingStream extends Transform {
  private readonly hash;
  private bytesSeen = 0;
  private finished?: string;

  constructor(algorithm: OneDigest = 'sha256') {
    super();
    this.hash = createHash(algorithm);
  }

  _transform(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null, data?: Buffer) => void): void {
    this.hash.update(chunk);
    this.bytesSeen += chunk.length;
    done(null, chunk);
  }

  /** Bytes passed so far. */
  get bytes(): number {
    return this.bytesSeen;
  }

  /** The hex digest of everything that passed; call it once the stream has ended. */
  digest(): string {
    this.finished ??= this.hash.digest('hex');
    return this.finished;
  }
}

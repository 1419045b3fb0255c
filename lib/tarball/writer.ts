/**
 * Deterministic gzip tarballs of top-level files (stemcells): entries in a
 * fixed order (stemcell.MF first, so a reader meets the manifest before a
 * multi-gigabyte image, then by name), owner 0:0, mode 0644, one fixed mtime,
 * gzip without a file name or timestamp. Same inputs, same bytes. A file on
 * disk appears complete or not at all, and an existing file is never replaced.
 */
import * as fs from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { DigestingStream } from '../digests';
import { EnvironmentError } from '../errors';
import { fsReason } from '../output';
import { partialOutput } from '../scratch';
import { gzipStream, GzipOptions } from './gzip';
import { normalizeEntryName } from './reader';

export interface TarballFile {
  /** Entry name at the top level of the tarball. */
  readonly name: string;
  /** Read the content from this file... */
  readonly path?: string;
  /** ...or take it from memory. */
  readonly data?: Buffer | string;
}

export interface WriteTarballOptions extends GzipOptions {
  /**
   * Modification time written for every entry.
   * @default - the Unix epoch, so that output depends on content alone
   */
  readonly mtime?: Date;
  /** The file that comes first. @default 'stemcell.MF' */
  readonly first?: string;
}

/** Entry order of every tarball we write: `first` (stemcell.MF), then by code point. */
export function orderEntries<T extends { name: string }>(files: readonly T[], first = 'stemcell.MF'): T[] {
  return [...files].sort((a, b) => {
    if (a.name === first || b.name === first) return a.name === first ? -1 : 1;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
}

const FLAT = { what: 'a tarball we write', layout: 'flat', maxEntries: 64, maxFileBytes: Number.MAX_SAFE_INTEGER } as const;

/** Write a deterministic gzip tarball of `files` to a stream. */
export async function writeTarballToStream(files: readonly TarballFile[], destination: Writable, options: WriteTarballOptions = {}): Promise<void> {
  const names = new Set<string>();
  for (const file of files) {
    if (normalizeEntryName(FLAT, file.name, false) !== file.name) throw new Error(`tarball entry '${file.name}' is not a plain file name`);
    if (names.has(file.name)) throw new Error(`tarball entry ${file.name} given twice`);
    names.add(file.name);
    if ((file.path === undefined) === (file.data === undefined)) throw new Error(`tarball entry ${file.name} needs exactly one of path or data`);
  }
  const pack = tar.pack();
  const writing = pipeline(pack, gzipStream(options), destination);
  try {
    for (const file of orderEntries(files, options.first)) {
      const header = { name: file.name, mode: 0o644, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: options.mtime ?? new Date(0), type: 'file' as const };
      if (file.data !== undefined) {
        const data = Buffer.from(file.data);
        await new Promise<void>((resolve, reject) => pack.entry({ ...header, size: data.length }, data, (e) => (e ? reject(e) : resolve())));
      } else {
        const size = (await fs.promises.stat(file.path!)).size;
        // Large chunks: a disk image passes through in a few hundred reads, not thousands.
        await pipeline(fs.createReadStream(file.path!, { highWaterMark: 1024 * 1024 }), pack.entry({ ...header, size }));
      }
    }
    pack.finalize();
    await writing;
  } catch (e) {
    pack.destroy(e as Error);
    await writing.catch(() => undefined);
    throw e;
  }
}

/** Throw an actionable error when `file` exists, before any work is done. */
export function refuseExisting(file: string): void {
  if (fs.existsSync(file)) throw new EnvironmentError(`${file} already exists; remove it or write elsewhere`);
}

export interface WrittenTarball {
  readonly bytes: number;
  readonly sha256: string;
}

/**
 * Write a deterministic gzip tarball to `outFile` under a partial name, then
 * link it into place: the file appears complete or not at all, whatever
 * stops the write (an error, a full disk, a signal), and an existing file is
 * never replaced. Returns its size and sha256.
 */
export async function writeTarball(outFile: string, files: readonly TarballFile[], options: WriteTarballOptions = {}): Promise<WrittenTarball> {
  refuseExisting(outFile);
  const partial = partialOutput(outFile);
  try {
    // Hashed on the way to the disk: a build record needs the sha256, and the file is not read back for it.
    const digesting = new DigestingStream('sha256');
    const toFile = pipeline(digesting, fs.createWriteStream(partial.path, { flags: 'wx', mode: 0o644 }));
    toFile.catch(() => undefined);
    await Promise.all([writeTarballToStream(files, digesting, options), toFile]);
    await partial.commit();
    return { bytes: digesting.bytes, sha256: digesting.digest() };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new EnvironmentError(`${outFile} already exists; remove it or write elsewhere`);
    // The output's file system gave out while writing (a full disk, a read-only remount).
    // (Errors reading an input name that input; a write error names nothing or the output.)
    const where = (e as NodeJS.ErrnoException).path;
    if (code && ['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'EIO', 'EFBIG'].includes(code) && (where === undefined || where.startsWith(outFile))) {
      throw new EnvironmentError(`cannot write ${outFile} (${fsReason(e)}); nothing was written`);
    }
    throw e;
  } finally {
    partial.release();
  }
}

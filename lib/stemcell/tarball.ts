/**
 * Stemcell tarballs: written deterministically, read defensively.
 *
 * Writing: entries in a fixed order (stemcell.MF first so a reader meets the
 * manifest before a multi-gigabyte image, then by name), owner 0:0, mode 0644,
 * one fixed mtime, and gzip without a file name or timestamp. Same inputs, same
 * bytes.
 *
 * Reading: a stemcell holds a handful of regular files at its top level and
 * nothing else. Absolute paths, `..`, nested paths, links, devices, duplicate
 * entries, non-gzip or truncated input and an oversized stemcell.MF are refused
 * with an InvalidStemcellError. Extraction only ever creates new files inside
 * the target directory and removes what it wrote when the tarball turns out bad.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Duplex, Readable, Transform, TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { EnvironmentError, InvalidStemcellError } from './errors';
import { ImageDigests, parseManifest, StemcellManifest } from './manifest';

export const MANIFEST_FILE = 'stemcell.MF';
export const IMAGE_FILE = 'image';
/** Real manifests are about 1 KiB; anything near this limit is an attack or an accident. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;
/** packages.txt, dev_tools_file_list.txt and SBOMs are kept in memory; they are far smaller. */
export const MAX_SIDE_FILE_BYTES = 64 * 1024 * 1024;
/** Upstream stemcells hold six files. */
export const MAX_ENTRIES = 64;

export interface TarballFile {
  /** Entry name at the top level of the tarball. */
  readonly name: string;
  /** Read the content from this file... */
  readonly path?: string;
  /** ...or take it from memory. */
  readonly data?: Buffer | string;
}

export interface WriteTarballOptions {
  /**
   * Modification time written for every entry.
   * @default - the Unix epoch, so that output depends on content alone
   */
  readonly mtime?: Date;
  /**
   * gzip level, 1 (fast) to 9 (small).
   * @default 6
   */
  readonly gzipLevel?: number;
  /**
   * Compress with pigz on every core instead of Node's zlib. pigz output does
   * not depend on the number of threads, so the bytes stay the same.
   * @default false
   */
  readonly pigz?: boolean;
}

/** A gzip stream: Node's zlib, or a pigz process on every core. */
function gzipStream(options: WriteTarballOptions): Duplex {
  const level = options.gzipLevel ?? 6;
  if (!options.pigz) return createGzip({ level });
  const child = spawn('pigz', ['--no-name', `-${level}`, '--processes', String(os.availableParallelism())], { stdio: ['pipe', 'pipe', 'inherit'] });
  const duplex = Duplex.from({ writable: child.stdin, readable: child.stdout });
  child.on('error', (e) => duplex.destroy(e));
  child.on('exit', (code) => {
    if (code !== 0) duplex.destroy(new Error(`pigz exited with ${code}`));
  });
  return duplex;
}

/** Entry order of every tarball we write: stemcell.MF first, then by code point. */
export function orderEntries<T extends { name: string }>(files: readonly T[]): T[] {
  return [...files].sort((a, b) => {
    if (a.name === MANIFEST_FILE || b.name === MANIFEST_FILE) return a.name === MANIFEST_FILE ? -1 : 1;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
}

/** Write a deterministic gzip tarball of `files` to a stream. */
export async function writeTarballToStream(files: readonly TarballFile[], destination: Writable, options: WriteTarballOptions = {}): Promise<void> {
  const names = new Set<string>();
  for (const file of files) {
    checkEntryName(file.name);
    if (names.has(file.name)) throw new Error(`tarball entry ${file.name} given twice`);
    names.add(file.name);
    if ((file.path === undefined) === (file.data === undefined)) throw new Error(`tarball entry ${file.name} needs exactly one of path or data`);
  }
  const pack = tar.pack();
  const writing = pipeline(pack, gzipStream(options), destination);
  try {
    for (const file of orderEntries(files)) {
      const header = {
        name: file.name,
        mode: 0o644,
        uid: 0,
        gid: 0,
        uname: 'root',
        gname: 'root',
        mtime: options.mtime ?? new Date(0),
        type: 'file' as const,
      };
      if (file.data !== undefined) {
        const data = Buffer.from(file.data);
        await new Promise<void>((resolve, reject) => pack.entry({ ...header, size: data.length }, data, (e) => (e ? reject(e) : resolve())));
      } else {
        const size = (await fs.promises.stat(file.path!)).size;
        await pipeline(fs.createReadStream(file.path!), pack.entry({ ...header, size }));
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

/**
 * Write a deterministic gzip tarball to `outFile`. The file appears complete
 * or not at all, and an existing file is never replaced.
 */
export async function writeTarball(outFile: string, files: readonly TarballFile[], options: WriteTarballOptions = {}): Promise<void> {
  refuseExisting(outFile);
  const partial = `${outFile}.partial-${process.pid}`;
  try {
    await writeTarballToStream(files, fs.createWriteStream(partial, { flags: 'wx', mode: 0o644 }), options);
    // link(2) fails if outFile appeared meanwhile, where rename(2) would replace it.
    await fs.promises.link(partial, outFile).catch((e: NodeJS.ErrnoException) => {
      throw e.code === 'EEXIST' ? new EnvironmentError(`${outFile} already exists; remove it or write elsewhere`) : e;
    });
  } finally {
    await fs.promises.rm(partial, { force: true });
  }
}

/** Throw an actionable error when `file` exists, before any work is done. */
export function refuseExisting(file: string): void {
  if (fs.existsSync(file)) throw new EnvironmentError(`${file} already exists; remove it or write elsewhere`);
}

/**
 * Validate an entry name and return it without a leading `./`. Stemcell
 * tarballs hold only top-level files; anything else is refused.
 */
export function checkEntryName(raw: string): string {
  if (raw.includes('\0') || raw.includes('\\')) throw new InvalidStemcellError(`refusing entry ${JSON.stringify(raw)}: NUL or backslash in the name`);
  if (raw.startsWith('/')) throw new InvalidStemcellError(`refusing entry '${raw}': absolute paths are not allowed`);
  const name = raw.replace(/^(\.\/)+/, '');
  const parts = name.split('/');
  if (parts.includes('..')) throw new InvalidStemcellError(`refusing entry '${raw}': '..' would leave the target directory`);
  if (name === '' || name === '.' || parts.length > 1) {
    throw new InvalidStemcellError(`refusing entry '${raw}': a stemcell holds files at its top level only`);
  }
  return name;
}

/** A pass-through that refuses input not starting with the gzip magic bytes. */
class GzipMagicCheck extends Transform {
  private seen = Buffer.alloc(0);
  private checked = false;

  _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (!this.checked) {
      this.seen = Buffer.concat([this.seen, chunk]);
      if (this.seen.length < 2) return done();
      this.checked = true;
      if (this.seen[0] !== 0x1f || this.seen[1] !== 0x8b) return done(new InvalidStemcellError('not a gzip file: a stemcell is a .tgz (gzip-compressed tar)'));
      chunk = this.seen;
    }
    done(null, chunk);
  }

  _flush(done: TransformCallback): void {
    done(this.checked ? null : new InvalidStemcellError('not a gzip file: the input is empty or shorter than a gzip header'));
  }
}

function translateStreamError(e: unknown): Error {
  if (e instanceof InvalidStemcellError || e instanceof EnvironmentError) return e;
  const error = e as NodeJS.ErrnoException;
  if (typeof error.code === 'string' && error.code.startsWith('Z_')) {
    return new InvalidStemcellError(`corrupt or truncated gzip data (${error.message})`);
  }
  if (/unexpected end of data/i.test(error.message)) return new InvalidStemcellError('truncated tarball: the archive ends in the middle of an entry');
  if (/invalid tar header|not a tar|invalid header/i.test(error.message)) return new InvalidStemcellError(`not a tar archive inside the gzip data (${error.message})`);
  if (error.code === 'ENOENT') return new EnvironmentError(`no such file: ${error.path ?? error.message}`);
  if (error.code === 'EACCES') return new EnvironmentError(`permission denied: ${error.path ?? error.message}`);
  return error;
}

export interface TarEntry {
  readonly name: string;
  readonly size: number;
}

export interface ReadStemcellOptions {
  /**
   * Extract every file into this existing directory. Files already there are
   * never replaced (the read fails instead), and files written by a read that
   * fails are removed again.
   * @default - nothing is written to disk
   */
  readonly extractTo?: string;
}

export interface StemcellTarballContents {
  readonly manifest: StemcellManifest;
  readonly manifestText: string;
  /** Entries in archive order. */
  readonly entries: readonly TarEntry[];
  readonly imageSize: number;
  readonly imageDigests: { readonly sha1: string; readonly sha256: string };
  /** Whether the manifest's `sha1` field matches the `image` entry. */
  readonly sha1Matches: boolean;
  /** Contents of every entry but `image` (packages.txt, dev_tools_file_list.txt, SBOMs, stemcell.MF). */
  readonly sideFiles: ReadonlyMap<string, Buffer>;
}

type EntryType = tar.Header['type'];

function checkEntryType(name: string, type: EntryType): 'file' | 'skip' {
  if (type === 'file' || type === 'contiguous-file') return 'file';
  if (type === 'directory') {
    if (['', '.'].includes(name.replace(/^(\.\/)+/, '').replace(/\/$/, ''))) return 'skip';
    throw new InvalidStemcellError(`refusing entry '${name}': a stemcell holds files at its top level only, not directories`);
  }
  if (type === 'symlink' || type === 'link') throw new InvalidStemcellError(`refusing entry '${name}': links are not allowed in a stemcell`);
  if (type === 'character-device' || type === 'block-device' || type === 'fifo') {
    throw new InvalidStemcellError(`refusing entry '${name}': device and FIFO entries are not allowed in a stemcell`);
  }
  throw new InvalidStemcellError(`refusing entry '${name}': entries of type ${String(type)} are not allowed; a stemcell holds regular files only`);
}

async function writeChunk(out: fs.WriteStream | undefined, chunk: Buffer): Promise<void> {
  if (out && !out.write(chunk)) await once(out, 'drain');
}

/**
 * Read a stemcell tarball from a file or stream in one pass: validate every
 * entry, parse stemcell.MF, digest `image` (never held in memory) and keep the
 * small side files.
 */
export async function readStemcellTarball(source: string | Readable, options: ReadStemcellOptions = {}): Promise<StemcellTarballContents> {
  const input = typeof source === 'string' ? fs.createReadStream(source) : source;
  const target = options.extractTo === undefined ? undefined : path.resolve(options.extractTo);
  const extract = tar.extract();
  const gunzip = createGunzip();
  // zlib can report a truncated stream only after it has emitted 'end', when
  // pipeline() has already resolved; its 'close' comes after either outcome.
  let gunzipError: Error | undefined;
  gunzip.on('error', (e) => (gunzipError = e));
  const gunzipClosed = new Promise((resolve) => gunzip.on('close', resolve));
  const reading = pipeline(input, new GzipMagicCheck(), gunzip, extract);
  const entries: TarEntry[] = [];
  const sideFiles = new Map<string, Buffer>();
  const written: string[] = [];
  const digests = new ImageDigests();
  let imageSize = 0;
  try {
    for await (const entry of extract) {
      const header = entry.header;
      if (checkEntryType(header.name, header.type) === 'skip') {
        entry.resume();
        continue;
      }
      const name = checkEntryName(header.name);
      const size = header.size ?? 0;
      if (entries.some((e) => e.name === name)) throw new InvalidStemcellError(`refusing tarball: entry '${name}' appears twice`);
      if (entries.length >= MAX_ENTRIES) throw new InvalidStemcellError(`refusing tarball: more than ${MAX_ENTRIES} entries`);
      if (name === MANIFEST_FILE && size > MAX_MANIFEST_BYTES) {
        throw new InvalidStemcellError(`refusing tarball: stemcell.MF is ${size} bytes, more than the ${MAX_MANIFEST_BYTES} allowed`);
      }
      if (name !== IMAGE_FILE && size > MAX_SIDE_FILE_BYTES) {
        throw new InvalidStemcellError(`refusing tarball: '${name}' is ${size} bytes, more than the ${MAX_SIDE_FILE_BYTES} allowed for files beside the image`);
      }
      entries.push({ name, size });

      let out: fs.WriteStream | undefined;
      if (target) {
        const file = path.join(target, name);
        if (path.dirname(file) !== target) throw new InvalidStemcellError(`refusing entry '${header.name}': it would be written outside ${target}`);
        out = fs.createWriteStream(file, { flags: 'wx', mode: 0o644 });
        await once(out, 'open').catch((e: NodeJS.ErrnoException) => {
          throw e.code === 'EEXIST' ? new EnvironmentError(`${file} already exists; extract into an empty directory`) : e;
        });
        written.push(file);
      }
      const chunks: Buffer[] = [];
      for await (const chunk of entry as AsyncIterable<Buffer>) {
        if (name === IMAGE_FILE) {
          digests.update(chunk);
          imageSize += chunk.length;
        } else {
          chunks.push(chunk);
        }
        await writeChunk(out, chunk);
      }
      if (out) {
        out.end();
        await once(out, 'finish');
      }
      if (name !== IMAGE_FILE) sideFiles.set(name, Buffer.concat(chunks));
    }
    await reading;
    await gunzipClosed;
    if (gunzipError) throw gunzipError;
    return summarize(entries, sideFiles, digests, imageSize);
  } catch (e) {
    input.destroy();
    extract.destroy();
    await reading.catch(() => undefined);
    await Promise.all(written.map((f) => fs.promises.rm(f, { force: true })));
    throw translateStreamError(e);
  }
}

function summarize(entries: TarEntry[], sideFiles: Map<string, Buffer>, digests: ImageDigests, imageSize: number): StemcellTarballContents {
  const manifestBytes = sideFiles.get(MANIFEST_FILE);
  const missing = [MANIFEST_FILE, IMAGE_FILE].filter((f) => !entries.some((e) => e.name === f));
  if (missing.length > 0 || !manifestBytes) {
    throw new InvalidStemcellError(`not a stemcell: ${missing.join(' and ')} missing (found: ${entries.map((e) => e.name).join(', ') || 'nothing'})`);
  }
  const manifestText = manifestBytes.toString('utf8');
  const manifest = parseManifest(manifestText);
  return {
    manifest,
    manifestText,
    entries,
    imageSize,
    imageDigests: digests.digest(),
    sha1Matches: digests.matches(manifest.sha1),
    sideFiles,
  };
}

/**
 * Stemcell tarballs, read defensively and written deterministically
 * (docs/formats.md).
 *
 * Reading goes through the one tar reader (lib/tarball/reader.ts) at both
 * levels: the stemcell holds regular files at its top level only, and its
 * `image` (a gzip tar itself) is read in the same pass, vetted by the same
 * rules and checked against the layout its stemcell format calls for. Nothing
 * is held in memory but the small side files; the image is digested as it
 * streams by, and its disk can be written out (sparse) for a boot test or a
 * check. A stemcell is told by its manifest, not by the order of its entries.
 */
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { DigestSet, Digests } from '../digests';
import { EnvironmentError, InvalidStemcellError } from '../errors';
import { gunzip, readError } from '../tarball/gzip';
import { fileRegions, readTar, TarEntry, TarRules } from '../tarball/reader';
import { checkImageLayout, DISK_FILE, ImageEntry, imageLayout, OVA_DISK_FILE } from './image';
import { digestsMatch, MAX_MANIFEST_BYTES, parseManifest, StemcellManifest } from './manifest';

export { orderEntries, refuseExisting, writeTarball, writeTarballToStream } from '../tarball/writer';
export type { TarballFile, WriteTarballOptions } from '../tarball/writer';

export const MANIFEST_FILE = 'stemcell.MF';
export const IMAGE_FILE = 'image';
/** packages.txt, dev_tools_file_list.txt and SBOMs are kept in memory, all of them together at most this; they are far smaller. */
export const MAX_SIDE_FILE_BYTES = 64 * 1024 * 1024;
/** Upstream stemcells hold six files. */
export const MAX_ENTRIES = 64;
/** Upstream disks are 3-5 GiB; this leaves room for custom ones and none for nonsense. */
export const MAX_DISK_BYTES = 256 * 1024 ** 3;

/** A file at the top level of a stemcell. */
export interface StemcellFile {
  readonly name: string;
  readonly size: number;
}

export interface ReadStemcellOptions {
  /** What to call the tarball in messages. @default - its path, or 'the stemcell' for a stream */
  readonly name?: string;
  /**
   * Extract every top-level file into this existing directory. Files already
   * there are never replaced (the read fails instead), and files written by a
   * read that fails are removed again.
   * @default - nothing is written to disk
   */
  readonly extractTo?: string;
  /**
   * Write the disk inside the image (`root.img`) into this existing
   * directory, sparse, as `root.img`. Removed again if the read fails.
   * @default - the disk is not written
   */
  readonly diskTo?: string;
}

export interface StemcellTarballContents {
  readonly manifest: StemcellManifest;
  readonly manifestText: string;
  /** Top-level files in archive order. */
  readonly entries: readonly StemcellFile[];
  readonly imageSize: number;
  readonly imageDigests: DigestSet;
  /** Whether the manifest's `sha1` field matches the `image` entry. */
  readonly sha1Matches: boolean;
  /** The files inside `image`, for stemcell formats whose image layout we know (none for a light stemcell). */
  readonly imageEntries: readonly ImageEntry[];
  /** Contents of every entry but `image` (packages.txt, dev_tools_file_list.txt, SBOMs, stemcell.MF). */
  readonly sideFiles: ReadonlyMap<string, Buffer>;
}

function stemcellRules(what: string): TarRules {
  return { what, layout: 'flat', maxEntries: MAX_ENTRIES, maxFileBytes: MAX_DISK_BYTES };
}

/** An image holds a disk (sparse, as `tar --sparse` stores it), an OVA's few files, or another format's handful. */
function imageRules(what: string): TarRules {
  return { what, layout: 'flat', maxEntries: MAX_ENTRIES, maxFileBytes: MAX_DISK_BYTES, sparse: true };
}

/** A file being extracted; a write error (a full disk) is kept and thrown by the next write or the finish. */
interface Extracting {
  readonly stream: fs.WriteStream;
  error?: Error;
}

function extracting(stream: fs.WriteStream): Extracting {
  const out: Extracting = { stream };
  stream.on('error', (e) => (out.error ??= e));
  return out;
}

async function writeChunk(out: Extracting | undefined, chunk: Buffer): Promise<void> {
  if (!out) return;
  if (out.error) throw out.error;
  if (!out.stream.write(chunk)) await once(out.stream, 'drain');
}

async function finishWriting(out: Extracting): Promise<void> {
  if (out.error) throw out.error;
  out.stream.end();
  await once(out.stream, 'finish');
}

const ZEROS = Buffer.alloc(64 * 1024);

/** A file entry written to `file` with holes where it has zeros, so a 5 GiB disk takes its data's space. */
async function writeSparse(entry: TarEntry, file: string): Promise<void> {
  const handle = await fs.promises.open(file, 'wx', 0o600);
  try {
    for await (const { offset, data } of fileRegions(entry)) {
      for (let at = 0; at < data.length; at += ZEROS.length) {
        const piece = data.subarray(at, at + ZEROS.length);
        if (!piece.equals(ZEROS.subarray(0, piece.length))) await handle.write(piece, 0, piece.length, offset + at);
      }
    }
    await handle.truncate(entry.size);
  } finally {
    await handle.close();
  }
}

type InnerResult = { entries: ImageEntry[] } | { error: Error };

/** The files of an image, vetted; the disk written out when asked. */
async function listImage(feed: Readable, what: string, diskTo: string | undefined, written: string[]): Promise<ImageEntry[]> {
  const entries: ImageEntry[] = [];
  for await (const entry of readTar(gunzip(feed, what), imageRules(what))) {
    entries.push({ name: entry.path, size: entry.size, storedSize: entry.storedSize, sparse: entry.sparse !== undefined });
    // The disk: root.img alone, or an OVA's first .vmdk (after its .ovf). The layout is checked once the manifest says which.
    const disk = entry.path === DISK_FILE && entries.length === 1 ? DISK_FILE : entry.path.endsWith('.vmdk') && entries.length === 2 ? OVA_DISK_FILE : undefined;
    if (diskTo !== undefined && disk !== undefined) {
      const file = path.join(diskTo, disk);
      written.push(file);
      await writeSparse(entry, file).catch((e: NodeJS.ErrnoException) => {
        throw e.code === 'EEXIST' ? new EnvironmentError(`${file} already exists; write the disk into an empty directory`) : e;
      });
    }
  }
  return entries;
}

/**
 * The `image` entry: digested, copied to `out` when extracting, and read as a
 * tarball in the same pass. The inner result is kept, not thrown, until the
 * manifest says what the image should be.
 */
async function readImage(entry: TarEntry, what: string, out: Extracting | undefined, diskTo: string | undefined, written: string[]): Promise<{ digests: DigestSet; size: number; inner: InnerResult }> {
  const digests = new Digests();
  let size = 0;
  if (entry.storedSize === 0) return { digests: digests.digest(), size, inner: { entries: [] } };
  const feed = new PassThrough({ highWaterMark: 4 * 1024 * 1024 });
  // The inner reader reports its own error; writes after it stopped must not crash the process.
  feed.on('error', () => undefined);
  let settled = false;
  const inner: Promise<InnerResult> = listImage(feed, what, diskTo, written).then(
    (entries) => ({ entries }),
    (error: Error) => ({ error }),
  );
  void inner.finally(() => (settled = true));
  for await (const chunk of entry.body()) {
    digests.update(chunk);
    size += chunk.length;
    await writeChunk(out, chunk);
    if (!settled && !feed.write(chunk)) {
      await Promise.race([once(feed, 'drain').catch(() => undefined), inner]);
    }
  }
  feed.end();
  return { digests: digests.digest(), size, inner: await inner };
}

/**
 * Read a stemcell tarball from a file or stream in one pass: vet every entry
 * at both levels, parse stemcell.MF, digest `image` (never held in memory) and
 * keep the small side files.
 */
export async function readStemcellTarball(source: string | Readable, options: ReadStemcellOptions = {}): Promise<StemcellTarballContents> {
  const name = options.name ?? (typeof source === 'string' ? source : 'the stemcell');
  const input = typeof source === 'string' ? fs.createReadStream(source) : source;
  const target = options.extractTo === undefined ? undefined : path.resolve(options.extractTo);
  const entries: StemcellFile[] = [];
  const sideFiles = new Map<string, Buffer>();
  const written: string[] = [];
  let image: Awaited<ReturnType<typeof readImage>> | undefined;
  let sideBytes = 0;
  try {
    for await (const entry of readTar(gunzip(input, name), stemcellRules(name))) {
      const file = entry.path;
      if (file === MANIFEST_FILE && entry.size > MAX_MANIFEST_BYTES) {
        throw new InvalidStemcellError(`${name}: refusing tarball: stemcell.MF is ${entry.size} bytes, more than the ${MAX_MANIFEST_BYTES} allowed`);
      }
      if (file !== IMAGE_FILE) {
        sideBytes += entry.size;
        if (sideBytes > MAX_SIDE_FILE_BYTES) {
          throw new InvalidStemcellError(`${name}: refusing tarball: the files beside the image add up to more than the ${MAX_SIDE_FILE_BYTES} bytes allowed (at ${JSON.stringify(file)})`);
        }
      }
      entries.push({ name: file, size: entry.size });

      let out: Extracting | undefined;
      if (target) {
        const destination = path.join(target, file);
        const stream = fs.createWriteStream(destination, { flags: 'wx', mode: 0o644 });
        await once(stream, 'open').catch((e: NodeJS.ErrnoException) => {
          throw e.code === 'EEXIST' ? new EnvironmentError(`${destination} already exists; extract into an empty directory`) : e;
        });
        written.push(destination);
        out = extracting(stream);
      }
      if (file === IMAGE_FILE) {
        image = await readImage(entry, `${name}: image`, out, options.diskTo, written);
      } else {
        const chunks: Buffer[] = [];
        for await (const chunk of entry.body()) {
          chunks.push(chunk);
          await writeChunk(out, chunk);
        }
        sideFiles.set(file, Buffer.concat(chunks));
      }
      if (out) await finishWriting(out);
    }
    return summarize(name, entries, sideFiles, image);
  } catch (e) {
    input.destroy();
    await Promise.all(written.map((f) => fs.promises.rm(f, { force: true })));
    throw readError(e, name);
  }
}

/**
 * Stream the disk (`root.img`) of a heavy stemcell to `use`, through the one
 * reader at both levels, without writing anything: the entry carries the
 * sparse map, and fileRegions() gives its bytes where they belong. Also
 * returns the digests of the `image` it read, so a caller that checked the
 * stemcell in an earlier pass can tell that this pass read the same image.
 */
export async function withStemcellDisk<T>(file: string, use: (disk: TarEntry) => Promise<T>): Promise<{ value: T; imageDigests: DigestSet }> {
  let result: { value: T } | undefined;
  const digests = new Digests();
  async function* digested(body: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of body) {
      digests.update(chunk);
      yield chunk;
    }
  }
  try {
    for await (const outer of readTar(gunzip(fs.createReadStream(file), file), stemcellRules(file))) {
      if (outer.path !== IMAGE_FILE) continue;
      const what = `${file}: image`;
      for await (const inner of readTar(gunzip(digested(outer.body()), what), imageRules(what))) {
        if (inner.path !== DISK_FILE || result) throw new InvalidStemcellError(`${what}: must hold exactly one file, ${DISK_FILE}; it holds ${JSON.stringify(inner.path)}`);
        result = { value: await use(inner) };
      }
    }
  } catch (e) {
    throw readError(e, file);
  }
  if (!result) throw new InvalidStemcellError(`${file}: no ${DISK_FILE} in its image; is it a heavy AWS stemcell?`);
  return { value: result.value, imageDigests: digests.digest() };
}

function summarize(name: string, entries: StemcellFile[], sideFiles: Map<string, Buffer>, image: Awaited<ReturnType<typeof readImage>> | undefined): StemcellTarballContents {
  const manifestBytes = sideFiles.get(MANIFEST_FILE);
  const missing = [MANIFEST_FILE, IMAGE_FILE].filter((f) => !entries.some((e) => e.name === f));
  if (missing.length > 0 || !manifestBytes || !image) {
    const found = entries.map((e) => JSON.stringify(e.name)).join(', ') || 'nothing';
    throw new InvalidStemcellError(`${name}: not a stemcell: ${missing.join(' and ')} missing (found: ${found})`);
  }
  const manifestText = manifestBytes.toString('utf8');
  let manifest: StemcellManifest;
  try {
    manifest = parseManifest(manifestText);
  } catch (e) {
    throw new InvalidStemcellError(`${name}: ${(e as Error).message}`);
  }
  const layout = imageLayout(manifest.stemcell_formats ?? []);
  let imageEntries: ImageEntry[] = [];
  if ('error' in image.inner) {
    // Formats we only read may pack their image differently; ours may not.
    if (layout !== 'other') throw image.inner.error;
  } else {
    imageEntries = image.inner.entries;
  }
  checkImageLayout(`${name}: image`, layout, image.size, imageEntries);
  return {
    manifest,
    manifestText,
    entries,
    imageSize: image.size,
    imageDigests: image.digests,
    sha1Matches: digestsMatch(manifest.sha1, image.digests),
    imageEntries,
    sideFiles,
  };
}

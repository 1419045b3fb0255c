/**
 * OS images: the hardened root file system a stemcell is built from, as a
 * gzip tar (docs/formats.md). Their name, the rules the one tar reader applies
 * to them, and the check a stemcell build makes before GNU tar unpacks one.
 */
import { once } from 'node:events';
import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import { readDigesting } from '../digests';
import { EnvironmentError, InvalidStemcellError, isSystemError, systemErrorReason } from '../errors';
import { onExit } from '../scratch';
import { gunzip, readError } from '../tarball/gzip';
import { entryBytes, readTar, TarEntry, TarRules } from '../tarball/reader';

/** `bosh-debian-bookworm-os-image.tgz` */
export function osImageTarballName(os: string): string {
  return `bosh-${os}-os-image.tgz`;
}

/** A Debian or Ubuntu root file system has some 20-40 thousand entries. */
export const MAX_OS_IMAGE_ENTRIES = 200_000;
/** No file of a root file system comes near this. */
export const MAX_OS_IMAGE_FILE_BYTES = 16 * 1024 ** 3;

export function osImageRules(what: string): TarRules {
  return { what, layout: 'tree', maxEntries: MAX_OS_IMAGE_ENTRIES, maxFileBytes: MAX_OS_IMAGE_FILE_BYTES };
}

/** The entries of an OS image tarball, vetted as they stream by. */
export function readOsImage(source: string | Readable, what = typeof source === 'string' ? source : 'the OS image'): AsyncGenerator<TarEntry> {
  const input = typeof source === 'string' ? fs.createReadStream(source) : source;
  return readTar(gunzip(input, what), osImageRules(what));
}

const OS_RELEASE = ['etc/os-release', 'usr/lib/os-release'];

/** `debian-bookworm` from an os-release file (ID and VERSION_CODENAME). */
export function osFromRelease(osRelease: string): string | undefined {
  const field = (name: string): string | undefined => new RegExp(`^${name}="?([a-z0-9._-]+)"?$`, 'm').exec(osRelease)?.[1];
  const id = field('ID');
  const codename = field('VERSION_CODENAME');
  return id && codename ? `${id}-${codename}` : undefined;
}

export interface VetOptions {
  /**
   * Also write the decompressed tar here, as it is read: GNU tar then unpacks
   * exactly the bytes the reader vetted, and does not decompress them again.
   * Removed when the OS image is refused.
   * @default - nothing is written
   */
  readonly tarTo?: string;
}

/** The chunks of `source`, each also written to `out` (waiting when it is behind). */
async function* copiedTo(source: AsyncIterable<Buffer>, out: fs.WriteStream): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    if (out.errored) throw out.errored;
    // once() rejects when the stream fails while it waits.
    if (!out.write(chunk)) await once(out, 'drain');
    yield chunk;
  }
}

/**
 * Read a whole OS image with the reader's rules, so that GNU tar may unpack it
 * afterwards: nothing in it can be written outside the target. Also refuses a
 * tarball that is no root file system, or one of another OS than `os`.
 * Returns the newest modification time of its entries: the OS image build
 * clamps every time to its SOURCE_DATE_EPOCH and touches files at its end, so
 * this is that epoch, which a stemcell built from it takes on; and the
 * sha256 of the file.
 */
export async function vetOsImage(file: string, os: string, name = file, options: VetOptions = {}): Promise<{ newestMtime: number; sha256: string }> {
  const tarTo = options.tarTo;
  if (tarTo === undefined) return vet(file, os, name);
  fs.rmSync(tarTo, { force: true });
  const partial = `${tarTo}.partial`;
  // A signal ends the process without unwinding this function: the half-written tar goes then too.
  const release = onExit(`the unpacked OS image ${partial}`, () => fs.rmSync(partial, { force: true }));
  const tar = fs.createWriteStream(partial, { mode: 0o600 });
  const closed = once(tar, 'close');
  closed.catch(() => undefined);
  try {
    const vetted = await vet(file, os, name, tar);
    tar.end();
    await closed;
    fs.renameSync(partial, tarTo);
    return vetted;
  } catch (e) {
    tar.destroy();
    await closed.catch(() => undefined);
    // The write failed (a full work directory): name the file being written, not the OS image.
    if (tar.errored !== null && isSystemError(tar.errored)) throw new EnvironmentError(`cannot write ${tarTo}: ${systemErrorReason(tar.errored)}`);
    throw readError(e, name);
  } finally {
    release();
  }
}

async function vet(file: string, os: string, name: string, tar?: fs.WriteStream): Promise<{ newestMtime: number; sha256: string }> {
  const releases = new Map<string, string>();
  let found = false;
  let newestMtime = 0;
  // The build record names the OS image by sha256: taken in this read, not a second one. gzip
  // may end before the file does (zero bytes after it, which gzip -t accepts too): the digest
  // still covers the whole file.
  const source = readDigesting(file, 'sha256');
  let sha256: string;
  try {
    const plain = gunzip(source.chunks, name);
    for await (const entry of readTar(tar ? copiedTo(plain, tar) : plain, osImageRules(name))) {
      newestMtime = Math.max(newestMtime, entry.mtime);
      if (OS_RELEASE.includes(entry.path) && entry.kind === 'file' && entry.size <= 64 * 1024) releases.set(entry.path, (await entryBytes(entry)).toString('utf8'));
      if (entry.path === 'var/lib/dpkg/status') found = true;
    }
    sha256 = await source.digest();
  } catch (e) {
    throw readError(e, name);
  }
  const release = releases.get('etc/os-release') ?? releases.get('usr/lib/os-release');
  if (!found || release === undefined) {
    throw new InvalidStemcellError(`${name} is not an OS image: it has no ${found ? 'os-release file' : 'dpkg database (var/lib/dpkg/status)'}; build one with stemcell build-os-image`);
  }
  const actual = osFromRelease(release);
  if (actual !== os) {
    throw new InvalidStemcellError(`${name} is an OS image of ${actual ?? 'an unknown system'}, not ${os}; pass --os ${actual ?? '...'} or another --os-image`);
  }
  // The stemcell takes this time on; one from the future is no build's (and ext4 cannot hold every time).
  if (newestMtime > Date.now() / 1000 + DAY_SECONDS) {
    throw new InvalidStemcellError(`${name} holds files dated ${new Date(newestMtime * 1000).toISOString().slice(0, 10)}, in the future; no OS image build writes that: build the OS image again`);
  }
  return { newestMtime, sha256 };
}

const DAY_SECONDS = 86_400;

/** Whether `file` names a gzip tar of a root file system rather than a stemcell: decided by its first entries. */
export async function isOsImageTarball(file: string): Promise<boolean> {
  try {
    for await (const entry of readOsImage(file)) {
      // A stemcell holds top-level files only, among them its manifest.
      if (entry.path === 'stemcell.MF') return false;
      if (entry.kind !== 'file' || entry.path.includes('/')) return true;
    }
  } catch (e) {
    throw readError(e, file);
  }
  throw new InvalidStemcellError(`${file} is neither a stemcell (it has no stemcell.MF) nor an OS image (it holds top-level files only)`);
}

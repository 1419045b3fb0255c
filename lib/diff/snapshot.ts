/**
 * What `stemcell diff` compares, read from a tarball: a stemcell through the
 * stemcell reader (its disk mounted read-only for the files), an OS image
 * through the one tar reader in place. Files are kept as digests, never
 * contents; only the dpkg database (status, package file lists) is held in
 * memory, and that is bounded.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DirectoryView, entryTypeOf, FsView, resolveInRoot } from '../check/fs-view';
import { withStemcellRoot } from '../check/stemcell-root';
import { Digests, digestFile } from '../digests';
import { InvalidStemcellError, UsageError } from '../errors';
import { DPKG_STATUS, parseDpkgStatus } from '../stemcell/dpkg';
import { isOsImageTarball, MAX_OS_IMAGE_ENTRIES, osFromRelease, readOsImage } from '../stemcell/os-image';
import { parsePackagesTxt } from '../stemcell/packages-txt';
import { readStemcellTarball, StemcellTarballContents } from '../stemcell/tarball';
import { readError } from '../tarball/gzip';
import { TarEntry } from '../tarball/reader';
import { FileRecord, Snapshot, SnapshotKind } from './diff';

export interface SnapshotOptions {
  /** Read the files (for a stemcell: mount its disk, as root). @default true */
  readonly files?: boolean;
  readonly installHostPackages?: boolean;
}

/** `/var/lib/dpkg/info/<package>[:<arch>].list`: the paths a package installed. */
const PACKAGE_LIST = /^\/var\/lib\/dpkg\/info\/([^/]+)\.list$/;
const OS_RELEASE = ['/etc/os-release', '/usr/lib/os-release'];
/** The status file and the package lists of a real image come to a few MiB. */
export const MAX_DPKG_DATABASE_BYTES = 64 * 1024 * 1024;
const NO_FILES_NOTE = 'files not read (--no-files)';

/** Whether a tarball is a stemcell or an OS image: as `stemcell check` tells them, a .tgz with a stemcell.MF is a stemcell. */
export async function snapshotKind(file: string): Promise<SnapshotKind> {
  return (await isOsImageTarball(file)) ? 'os-image' : 'stemcell';
}

/** The dpkg database files read into memory, and how many bytes they hold together. */
class DpkgDatabase {
  status?: string;
  /** List file name (`libc6:amd64`) -> its text. */
  readonly lists = new Map<string, string>();
  private bytes = 0;

  constructor(private readonly what: string) {}

  /** Whether `p` is a file of the database this keeps. */
  static wants(p: string): boolean {
    return p === DPKG_STATUS || PACKAGE_LIST.test(p);
  }

  /** Count a file of `size` bytes before reading it, and refuse it if the database would grow past its bound. */
  reserve(size: number): void {
    this.bytes += size;
    if (this.bytes > MAX_DPKG_DATABASE_BYTES) {
      throw new InvalidStemcellError(`${this.what}: its dpkg database (status and package lists) holds more than ${MAX_DPKG_DATABASE_BYTES} bytes; a root file system's holds a few MiB`);
    }
  }

  keep(p: string, bytes: Buffer): void {
    if (p === DPKG_STATUS) this.status = bytes.toString('utf8');
    else this.lists.set(PACKAGE_LIST.exec(p)![1], bytes.toString('utf8'));
  }
}

/** Paths the package lists name: a real image's come to some hundred thousand. */
export const MAX_OWNED_PATHS = 1_000_000;

/**
 * Path -> names of the packages that list it. A list names paths as the
 * package ships them (`/lib/x86_64-linux-gnu/libc.so.6`); on a merged-/usr
 * system that file lives under /usr/lib, through the /lib symlink. Each path
 * is recorded as listed and with its directory's symlinks resolved, so it is
 * found wherever the walk meets it.
 */
export function packageOwners(lists: ReadonlyMap<string, string>, root: Pick<FsView, 'lstat'>, what: string): Map<string, Set<string>> {
  const owners = new Map<string, Set<string>>();
  const resolvedDirs = new Map<string, string>();
  const own = (p: string, name: string): void => {
    const names = owners.get(p);
    if (names) names.add(name);
    else if (owners.size >= MAX_OWNED_PATHS) throw new InvalidStemcellError(`${what}: its package lists name more than ${MAX_OWNED_PATHS} paths; a root file system's name some hundred thousand`);
    else owners.set(p, new Set([name]));
  };
  for (const [list, text] of lists) {
    const name = list.replace(/:[^:]*$/, '');
    for (const line of text.split('\n')) {
      if (!line.startsWith('/')) continue;
      // dpkg writes plain absolute paths; one climbing with .. could claim any file.
      if (line.split('/').includes('..')) throw new InvalidStemcellError(`${what}: the package list of ${name} names ${JSON.stringify(line)}, a path with ..; dpkg never writes one`);
      const listed = path.posix.normalize(line);
      own(listed, name);
      const dir = path.posix.dirname(listed);
      if (!resolvedDirs.has(dir)) resolvedDirs.set(dir, resolveInRoot(root, dir) ?? dir);
      own(path.posix.join(resolvedDirs.get(dir)!, path.posix.basename(listed)), name);
    }
  }
  return owners;
}

function lookup(files: ReadonlyMap<string, FileRecord>): Pick<FsView, 'lstat'> {
  return { lstat: (p) => files.get(p) };
}

// ---- OS images ------------------------------------------------------------

/** The entry's body: digested as it streams by, and kept when asked. */
async function consume(entry: TarEntry, keep: boolean): Promise<{ sha256: string; bytes?: Buffer }> {
  const digests = new Digests();
  const chunks: Buffer[] = [];
  for await (const chunk of entry.body()) {
    digests.update(chunk);
    if (keep) chunks.push(chunk);
  }
  return { sha256: digests.digest().sha256, ...(keep ? { bytes: Buffer.concat(chunks) } : {}) };
}

/** The record of a tar entry; a hard link has the content of the file it shares. */
function recordOf(entry: TarEntry, p: string, sha256: string | undefined, files: ReadonlyMap<string, FileRecord>): FileRecord {
  const linked = entry.kind === 'hardlink' ? files.get(`/${entry.linkTarget}`) : undefined;
  const digest = sha256 ?? linked?.sha256;
  return {
    path: p,
    type: entryTypeOf(entry.kind),
    mode: entry.mode,
    uid: entry.uid,
    gid: entry.gid,
    size: linked?.size ?? entry.size,
    ...(entry.kind === 'symlink' ? { linkTarget: entry.linkTarget } : {}),
    ...(digest !== undefined ? { sha256: digest } : {}),
  };
}

/** An OS image read in place: every entry recorded (files digested), the dpkg database and os-release kept. */
export async function readOsImageSnapshot(file: string, options: SnapshotOptions = {}): Promise<Snapshot> {
  const withFiles = options.files ?? true;
  const files = new Map<string, FileRecord>();
  const dpkg = new DpkgDatabase(file);
  const releases = new Map<string, string>();
  try {
    for await (const entry of readOsImage(file)) {
      const p = entry.path === '.' ? '/' : `/${entry.path}`;
      const isFile = entry.kind === 'file';
      // Package lists tell owners of files: needed only when files are compared.
      const keepDpkg = isFile && DpkgDatabase.wants(p) && (withFiles || p === DPKG_STATUS);
      const keepRelease = isFile && OS_RELEASE.includes(p) && entry.size <= 64 * 1024;
      if (keepDpkg) dpkg.reserve(entry.size);
      const body = isFile && (withFiles || keepDpkg || keepRelease) ? await consume(entry, keepDpkg || keepRelease) : undefined;
      if (keepDpkg) dpkg.keep(p, body!.bytes!);
      if (keepRelease) releases.set(p, body!.bytes!.toString('utf8'));
      if (withFiles) files.set(p, recordOf(entry, p, body?.sha256, files));
    }
  } catch (e) {
    throw readError(e, file);
  }
  if (dpkg.status === undefined) throw new InvalidStemcellError(`${file} is not an OS image: it has no dpkg database (var/lib/dpkg/status)`);
  const os = osFromRelease(releases.get('/etc/os-release') ?? releases.get('/usr/lib/os-release') ?? '');
  return {
    source: file,
    kind: 'os-image',
    label: `OS image of ${os ?? 'an unknown system'}`,
    packages: parseDpkgStatus(dpkg.status, `${file}: var/lib/dpkg/status`),
    ...(withFiles ? { files, owners: packageOwners(dpkg.lists, lookup(files), file) } : {}),
    notes: withFiles ? [] : [NO_FILES_NOTE],
  };
}

// ---- stemcells ------------------------------------------------------------

/** Every entry of a mounted root, regular files digested, without following a symlink. */
async function readMountedRoot(view: DirectoryView, what: string): Promise<{ files: Map<string, FileRecord>; owners: Map<string, Set<string>> }> {
  const files = new Map<string, FileRecord>();
  const dpkg = new DpkgDatabase(what);
  const root = view.lstat('/');
  if (root) files.set('/', root);
  for (const { entry, real } of view.walk()) {
    if (files.size > MAX_OS_IMAGE_ENTRIES) throw new InvalidStemcellError(`${what}: its disk holds more than ${MAX_OS_IMAGE_ENTRIES} files; a root file system has some tens of thousands`);
    // A name that is not UTF-8 is shown escaped, which a real name could spell
    // out; its key holds its bytes, so the two never share an entry.
    const key = entry.nameNotUtf8 ? `${entry.path}\u0000${real.toString('hex')}` : entry.path;
    if (entry.type !== 'file') {
      files.set(key, entry);
      continue;
    }
    // The walk saw a regular file with lstat, on a read-only mount: opening it cannot follow a link.
    files.set(key, { ...entry, sha256: (await digestFile(real)).sha256 });
    if (DpkgDatabase.wants(entry.path)) {
      dpkg.reserve(entry.size);
      dpkg.keep(entry.path, fs.readFileSync(real));
    }
  }
  return { files, owners: packageOwners(dpkg.lists, lookup(files), what) };
}

function stemcellSnapshot(file: string, contents: StemcellTarballContents, notes: string[], read?: { files: Map<string, FileRecord>; owners: Map<string, Set<string>> }): Snapshot {
  const { manifest } = contents;
  const packagesTxt = contents.sideFiles.get('packages.txt');
  return {
    source: file,
    kind: 'stemcell',
    label: `${manifest.name} ${manifest.version}`,
    manifest: manifest as unknown as Record<string, unknown>,
    infrastructure: typeof manifest.cloud_properties?.infrastructure === 'string' ? manifest.cloud_properties.infrastructure : undefined,
    packages: packagesTxt ? parsePackagesTxt(packagesTxt.toString('utf8'), `${file}: packages.txt`) : [],
    topLevelFiles: contents.sideFiles,
    ...(read ?? {}),
    notes: [...(packagesTxt ? [] : ['no packages.txt: its packages are not compared']), ...notes],
  };
}

/**
 * A stemcell: manifest, packages.txt and the other top-level files, and the
 * files of its disk, mounted read-only (as root). The tarball is read once,
 * by the mount, unless it has no disk to mount.
 */
export async function readStemcellSnapshot(file: string, options: SnapshotOptions = {}): Promise<Snapshot> {
  if (options.files === false) return stemcellSnapshot(file, await readVerifiedStemcell(file), [NO_FILES_NOTE]);
  try {
    return await withStemcellRoot(file, async (view, contents) => stemcellSnapshot(file, contents, [], await readMountedRoot(view, `${file}: its disk`)), options.installHostPackages);
  } catch (e) {
    // The mount refuses, as a usage error, a stemcell with no disk it reads: a
    // light stemcell, a format we only read. Those are compared without files.
    if (!(e instanceof UsageError)) throw e;
    const contents = await readVerifiedStemcell(file);
    const formats = (contents.manifest.stemcell_formats ?? []).join(', ') || 'unknown';
    return stemcellSnapshot(file, contents, [`a stemcell of format ${formats}: no disk to read files from`]);
  }
}

async function readVerifiedStemcell(file: string): Promise<StemcellTarballContents> {
  const contents = await readStemcellTarball(file);
  if (!contents.sha1Matches) throw new InvalidStemcellError(`${file}: image does not match the manifest's sha1`);
  return contents;
}

/** The snapshot of a stemcell or an OS image. */
export async function readSnapshot(file: string, kind: SnapshotKind, options: SnapshotOptions = {}): Promise<Snapshot> {
  return kind === 'stemcell' ? readStemcellSnapshot(file, options) : readOsImageSnapshot(file, options);
}

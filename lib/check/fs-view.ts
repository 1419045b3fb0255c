/**
 * A read-only view of a root file system, from a directory (a chroot, a
 * mounted image) or straight from an OS image tarball, so the checks read
 * modes, owners and config files the same way from either.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidStemcellError } from '../errors';
import { DPKG_STATUS } from '../stemcell/dpkg';
import { readOsImage } from '../stemcell/os-image';
import { readError } from '../tarball/gzip';
import { entryBytes, EntryKind } from '../tarball/reader';

export type EntryType = 'file' | 'directory' | 'symlink' | 'other';

export interface FsEntry {
  /** Absolute path inside the root, e.g. /etc/shadow. */
  readonly path: string;
  readonly type: EntryType;
  /** Permission bits including setuid, setgid and sticky (07777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly linkTarget?: string;
  /** Set when the name on disk is not UTF-8; `path` then shows its bytes as \xNN. */
  readonly nameNotUtf8?: true;
}

export interface FsView {
  /** Entry at `p`, not following a final symlink. */
  lstat(p: string): FsEntry | undefined;
  /** Text of a regular file, following symlinks inside the root. */
  read(p: string): string | undefined;
  /** Names directly inside directory `p`, sorted. */
  list(p: string): string[];
  /** Every entry, for scans such as setuid or world-writable files. */
  entries(): Iterable<FsEntry>;
}

const MAX_LINKS = 16;

/** Resolve symlinks of `p` inside the root (absolute targets are relative to the root). */
export function resolveInRoot(view: Pick<FsView, 'lstat'>, p: string): string | undefined {
  let current = path.posix.normalize(p);
  for (let hops = 0; hops < MAX_LINKS; hops++) {
    const parts = current.split('/').filter((x) => x !== '');
    let resolved = '';
    let changed = false;
    for (let i = 0; i < parts.length; i++) {
      const candidate = `${resolved}/${parts[i]}`;
      const entry = view.lstat(candidate);
      if (entry?.type === 'symlink' && entry.linkTarget !== undefined) {
        const target = entry.linkTarget.startsWith('/') ? entry.linkTarget : path.posix.join(resolved || '/', entry.linkTarget);
        current = path.posix.normalize([target, ...parts.slice(i + 1)].join('/'));
        changed = true;
        break;
      }
      resolved = candidate;
    }
    if (!changed) return resolved || '/';
  }
  return undefined;
}

/**
 * Size of the regular file at `p`, following symlinks inside the root as
 * `read` does: so a caller can refuse a file too large to read before reading it.
 */
export function fileSizeInRoot(view: FsView, p: string): number | undefined {
  const resolved = resolveInRoot(view, p);
  const entry = resolved === undefined ? undefined : view.lstat(resolved);
  return entry?.type === 'file' ? entry.size : undefined;
}

export class DirectoryView implements FsView {
  constructor(private readonly root: string) {}

  private real(p: string): string {
    return path.join(this.root, path.posix.normalize(`/${p}`));
  }

  lstat(p: string): FsEntry | undefined {
    try {
      return entryOf(path.posix.normalize(`/${p}`), fs.lstatSync(this.real(p)), () => fs.readlinkSync(this.real(p)));
    } catch {
      return undefined;
    }
  }

  read(p: string): string | undefined {
    const resolved = resolveInRoot(this, p);
    if (resolved === undefined || this.lstat(resolved)?.type !== 'file') return undefined;
    return fs.readFileSync(this.real(resolved), 'utf8');
  }

  list(p: string): string[] {
    try {
      return fs.readdirSync(this.real(p)).sort();
    } catch {
      return [];
    }
  }

  /**
   * Every entry below the root, on the root's file system only (like find
   * -xdev). Walked by bytes, not strings: a name that is not UTF-8 would
   * otherwise turn into U+FFFD, fail its lstat and hide, with everything
   * below it, from the scans (a setuid shell named `sh\xff`, say).
   */
  *entries(): Iterable<FsEntry> {
    for (const { entry } of this.walk()) yield entry;
  }

  /**
   * entries(), each with its name on the host, as bytes: for readers of
   * contents (stemcell diff digests every file), which cannot get back from
   * a shown name that is not UTF-8 to the file.
   */
  *walk(): Iterable<{ entry: FsEntry; real: Buffer }> {
    const rootDev = fs.lstatSync(this.root).dev;
    const stack: { real: Buffer; shown: string; utf8: boolean }[] = [{ real: Buffer.from(this.root), shown: '/', utf8: true }];
    while (stack.length > 0) {
      const dir = stack.pop()!;
      let names: Buffer[];
      try {
        names = fs.readdirSync(dir.real, { encoding: 'buffer' });
      } catch (e) {
        if (vanished(e)) continue;
        throw unreadable(dir.shown, e);
      }
      for (const name of names.sort(Buffer.compare)) {
        const real = Buffer.concat([dir.real, Buffer.from('/'), name]);
        let stat: fs.Stats;
        try {
          stat = fs.lstatSync(real);
        } catch (e) {
          if (vanished(e)) continue;
          throw unreadable(path.posix.join(dir.shown, utf8Name(name) ?? escapedName(name)), e);
        }
        const decoded = utf8Name(name);
        const shown = path.posix.join(dir.shown, decoded ?? escapedName(name));
        const utf8 = dir.utf8 && decoded !== undefined;
        const entry = {
          ...entryOf(shown, stat, () => fs.readlinkSync(real).toString()),
          ...(utf8 ? {} : { nameNotUtf8: true as const }),
        };
        yield { entry, real };
        if (stat.isDirectory() && stat.dev === rootDev) stack.push({ real, shown, utf8 });
      }
    }
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

const vanished = (e: unknown): boolean => (e as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * A scan that skipped what it cannot read would pass what it never saw (a
 * setuid shell nested deeper than PATH_MAX, an unreadable directory): the
 * whole view is refused instead.
 */
function unreadable(shown: string, e: unknown): InvalidStemcellError {
  const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  const where = shown.length > 160 ? `${shown.slice(0, 80)}...${shown.slice(-60)} (${Buffer.byteLength(shown)} bytes)` : shown;
  return new InvalidStemcellError(`cannot read ${where} (${code}); a file system that cannot be read in full is not one we check or compare`);
}

function utf8Name(name: Buffer): string | undefined {
  try {
    return strictUtf8.decode(name);
  } catch {
    return undefined;
  }
}

/** A name's bytes, printable ones as they are and the rest as \xNN. */
function escapedName(name: Buffer): string {
  return [...name].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
}

function entryOf(p: string, s: fs.Stats, link: () => string): FsEntry {
  const type: EntryType = s.isFile() ? 'file' : s.isDirectory() ? 'directory' : s.isSymbolicLink() ? 'symlink' : 'other';
  return { path: p, type, mode: s.mode & 0o7777, uid: s.uid, gid: s.gid, size: s.size, linkTarget: type === 'symlink' ? link() : undefined };
}

/** What a tar entry is in a view: a hard link is the file it shares. */
export function entryTypeOf(kind: EntryKind): EntryType {
  return kind === 'file' || kind === 'hardlink' ? 'file' : kind === 'directory' ? 'directory' : kind === 'symlink' ? 'symlink' : 'other';
}

/** Contents kept in memory when reading a tarball: configuration, not programs. */
function keepContent(p: string): boolean {
  return p.startsWith('/etc/') || p.startsWith('/var/vcap/') || p === DPKG_STATUS || p.startsWith('/usr/sbin/policy-rc.d') || p.startsWith('/home/') || p.startsWith('/root/');
}

/** One configuration file larger than this is not configuration. */
export const MAX_KEPT_FILE_BYTES = 4 * 1024 * 1024;
/** All kept files together: a real image has a few MiB of them. */
export const MAX_KEPT_BYTES = 64 * 1024 * 1024;
/** The index's paths together: a real image's come to a few MiB. */
export const MAX_INDEX_PATH_BYTES = 128 * 1024 * 1024;

export class TarballView implements FsView {
  private constructor(
    private readonly index: Map<string, FsEntry>,
    private readonly contents: Map<string, Buffer>,
    private readonly children: Map<string, string[]>,
  ) {}

  /**
   * Read an OS image tarball (gzip tar of a root file system) into an index,
   * with the one tar reader's rules. Memory is bounded: the index by the
   * reader's entry limit, kept contents by MAX_KEPT_BYTES.
   */
  static async fromFile(file: string): Promise<TarballView> {
    const index = new Map<string, FsEntry>();
    const contents = new Map<string, Buffer>();
    let kept = 0;
    let pathBytes = 0;
    try {
      for await (const entry of readOsImage(file)) {
        const p = entry.path === '.' ? '/' : `/${entry.path}`;
        pathBytes += p.length;
        if (pathBytes > MAX_INDEX_PATH_BYTES) throw new InvalidStemcellError(`${file}: its paths add up to more than ${MAX_INDEX_PATH_BYTES} bytes; this is not a root file system a check reads`);
        const type = entryTypeOf(entry.kind);
        const target = entry.kind === 'hardlink' ? `/${entry.linkTarget}` : undefined;
        const size = target ? index.get(target)?.size ?? 0 : entry.size;
        index.set(p, { path: p, type, mode: entry.mode, uid: entry.uid, gid: entry.gid, size, linkTarget: entry.kind === 'symlink' ? entry.linkTarget : undefined });
        if (entry.kind === 'file' && keepContent(p)) {
          if (entry.size > MAX_KEPT_FILE_BYTES) continue;
          kept += entry.size;
          if (kept > MAX_KEPT_BYTES) throw new InvalidStemcellError(`${file}: more than ${MAX_KEPT_BYTES} bytes of configuration files; this is not a root file system a check reads`);
          contents.set(p, await entryBytes(entry));
        } else if (target && contents.has(target)) {
          contents.set(p, contents.get(target)!);
        }
      }
    } catch (e) {
      throw readError(e, file);
    }
    const children = new Map<string, string[]>();
    for (const p of index.keys()) {
      if (p === '/') continue;
      const parent = path.posix.dirname(p);
      const names = children.get(parent);
      if (names) names.push(path.posix.basename(p));
      else children.set(parent, [path.posix.basename(p)]);
    }
    for (const names of children.values()) names.sort();
    return new TarballView(index, contents, children);
  }

  lstat(p: string): FsEntry | undefined {
    return this.index.get(path.posix.normalize(`/${p}`).replace(/\/$/, '') || '/');
  }

  read(p: string): string | undefined {
    const resolved = resolveInRoot(this, p);
    return resolved === undefined ? undefined : this.contents.get(resolved)?.toString('utf8');
  }

  list(p: string): string[] {
    return this.children.get(path.posix.normalize(`/${p}`).replace(/\/$/, '') || '/') ?? [];
  }

  entries(): Iterable<FsEntry> {
    return this.index.values();
  }
}

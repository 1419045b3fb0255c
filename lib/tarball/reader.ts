/**
 * The one tar reader: every tarball the project reads goes through it (the
 * stemcell, the `image` inside it, OS images, the root.img that publish-light
 * uploads), and nothing untrusted reaches GNU tar before it has vetted every
 * entry.
 *
 * It streams: memory holds one header, the extended headers of the next entry
 * (at most 1 MiB) and the chunk in flight, whatever the archive's size; a
 * tree also remembers its names (at most 64 MiB) to vet its links. It reads
 * ustar, GNU and PAX headers, GNU long names and GNU sparse files (how
 * `tar --sparse` stores a stemcell's root.img), and refuses with an
 * InvalidStemcellError whatever a stemcell, its image or an OS image has no
 * business holding:
 *
 * - names that are absolute, hold `..`, control characters, are not UTF-8,
 *   or are too long; the same name twice;
 * - in a flat archive (a stemcell, a disk image): anything but regular files
 *   at the top level;
 * - in a tree (an OS image): hard links to anything but an earlier regular
 *   file of the archive, any entry below a symlink or a file of the archive
 *   (which would lead extraction elsewhere), block devices, and character
 *   devices or FIFOs outside dev/;
 * - header types we do not know, PAX sparse formats, malformed numbers,
 *   corrupt checksums, data after the end, an archive that ends mid-entry;
 * - more entries, or larger files, than the rules allow.
 */
import { InvalidStemcellError } from '../errors';
import { hasControlCharacters } from '../text';
import { ByteSource } from './bytes';

const BLOCK = 512;

export type EntryKind = 'file' | 'directory' | 'symlink' | 'hardlink' | 'character-device' | 'block-device' | 'fifo';

/** A run of stored bytes of a sparse file; everything outside the runs reads as zeros. */
export interface Region {
  readonly offset: number;
  readonly length: number;
}

export interface TarEntry {
  /** Normalized: no leading `./`, no trailing `/`; `.` for the archive's root directory (reported in a tree only). */
  readonly path: string;
  readonly kind: EntryKind;
  /** Permission bits with setuid, setgid and sticky (07777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** A file's length as extracted (a sparse file's full length); 0 for other kinds. */
  readonly size: number;
  /** Bytes stored in the archive (less than `size` for a sparse file). */
  readonly storedSize: number;
  /** A symlink's target as stored; a hard link's target as a normalized path of the archive. */
  readonly linkTarget?: string;
  /** Where a sparse file's stored bytes belong; undefined for an ordinary file. */
  readonly sparse?: readonly Region[];
  /** Names of the extended attributes recorded for the entry (PAX SCHILY.xattr). */
  readonly xattrs: readonly string[];
  /** Modification time, whole seconds since the epoch. */
  readonly mtime: number;
  /** The stored bytes. Read them before asking for the next entry, or they are skipped. */
  body(): AsyncGenerator<Buffer>;
}

export interface TarRules {
  /** What the archive is, for messages: `the stemcell`, `the stemcell's image`, `the OS image`. */
  readonly what: string;
  /** `flat`: regular files at the top level only. `tree`: a root file system. */
  readonly layout: 'flat' | 'tree';
  readonly maxEntries: number;
  /** The largest file (as extracted) the archive may hold. */
  readonly maxFileBytes: number;
  /**
   * Accept GNU sparse files (a disk image). Elsewhere they are refused: a
   * consumer reading a file's body would miss its holes.
   * @default false
   */
  readonly sparse?: boolean;
}

const MAX_PATH_BYTES = 4096;
const MAX_COMPONENT_BYTES = 255;
const MAX_PAX_BYTES = 1024 * 1024;
const MAX_SPARSE_REGIONS = 262_144;
const MAX_TRAILING_BYTES = 16 * 1024 * 1024;
/** All names of a tree remembered at once: a real root file system needs a few MiB... */
const MAX_TREE_NAME_BYTES = 64 * 1024 * 1024;
/** ...and some tens of thousands of path components (directories implied by deep paths count too). */
const MAX_TREE_NODES = 1_000_000;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function refuse(rules: TarRules, problem: string): never {
  throw new InvalidStemcellError(`${rules.what}: ${problem}`);
}

/** JSON quoting keeps a hostile name to one harmless line in a message. */
const quote = (name: string): string => JSON.stringify(name);

function decodeText(rules: TarRules, bytes: Buffer, field: string): string {
  const end = bytes.indexOf(0);
  const raw = end < 0 ? bytes : bytes.subarray(0, end);
  try {
    return utf8.decode(raw);
  } catch {
    return refuse(rules, `refusing an entry whose ${field} is not UTF-8 (${quote(raw.toString('latin1'))})`);
  }
}

/** An octal field, or GNU's base-256 form for large values. */
function parseNumber(rules: TarRules, bytes: Buffer, field: string): number {
  if (bytes[0] & 0x80) {
    if (bytes[0] !== 0x80) refuse(rules, `refusing a header with a negative or oversized ${field}`);
    let value = 0;
    for (let i = 1; i < bytes.length; i++) value = value * 256 + bytes[i];
    if (!Number.isSafeInteger(value)) refuse(rules, `refusing a header whose ${field} is too large`);
    return value;
  }
  const text = bytes.toString('latin1').replace(/[\0 ]+$/, '').replace(/^ +/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) refuse(rules, `refusing a corrupt header: ${field} ${quote(text)} is not an octal number`);
  const value = parseInt(text, 8);
  if (!Number.isSafeInteger(value)) refuse(rules, `refusing a header whose ${field} is too large`);
  return value;
}

function checksumOk(header: Buffer): boolean {
  const stored = header.subarray(148, 156).toString('latin1').replace(/[\0 ]+$/, '').trim();
  if (!/^[0-7]+$/.test(stored)) return false;
  let unsigned = 8 * 32;
  let signed = 8 * 32;
  for (let i = 0; i < BLOCK; i++) {
    if (i >= 148 && i < 156) continue;
    unsigned += header[i];
    signed += (header[i] << 24) >> 24;
  }
  const expected = parseInt(stored, 8);
  return expected === unsigned || expected === signed;
}

const isZeroBlock = (block: Buffer): boolean => block.every((b) => b === 0);

/** PAX records: `<length> <key>=<value>\n`, each length counting the whole record. */
function parsePax(rules: TarRules, data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const lengthText = space < 0 ? '' : data.subarray(at, space).toString('latin1');
    const length = Number(lengthText);
    if (!/^[1-9][0-9]*$/.test(lengthText) || at + length > data.length || data[at + length - 1] !== 0x0a) {
      refuse(rules, 'refusing a corrupt PAX extended header');
    }
    const record = decodeText(rules, data.subarray(space + 1, at + length - 1), 'PAX record');
    const eq = record.indexOf('=');
    if (eq <= 0) refuse(rules, 'refusing a corrupt PAX extended header');
    records.set(record.slice(0, eq), record.slice(eq + 1));
    at += length;
  }
  return records;
}

function paxNumber(rules: TarRules, value: string, key: string): number {
  if (!/^[0-9]{1,16}$/.test(value) || !Number.isSafeInteger(Number(value))) refuse(rules, `refusing a PAX header whose ${key} is ${quote(value)}`);
  return Number(value);
}

/** A member's name, made relative and normalized; refused when it could leave the target or mislead a reader. */
export function normalizeEntryName(rules: TarRules, raw: string, isDirectory: boolean): string {
  if (raw === '') refuse(rules, 'refusing an entry with an empty name');
  if (hasControlCharacters(raw)) refuse(rules, `refusing entry ${quote(raw)}: control characters in the name`);
  if (Buffer.byteLength(raw) > MAX_PATH_BYTES) refuse(rules, `refusing an entry whose name is longer than ${MAX_PATH_BYTES} bytes`);
  if (raw.startsWith('/')) refuse(rules, `refusing entry ${quote(raw)}: absolute paths are not allowed`);
  let name = raw.replace(/^(\.\/)+/, '');
  if (isDirectory || name.endsWith('/')) name = name.replace(/\/+$/, '');
  if (name === '' || name === '.') return '.';
  const parts = name.split('/');
  if (parts.includes('..')) refuse(rules, `refusing entry ${quote(raw)}: '..' would leave the target directory`);
  if (parts.some((p) => p === '' || p === '.')) refuse(rules, `refusing entry ${quote(raw)}: the name is not normalized`);
  if (parts.some((p) => Buffer.byteLength(p) > MAX_COMPONENT_BYTES)) refuse(rules, `refusing entry ${quote(raw)}: a name component is longer than ${MAX_COMPONENT_BYTES} bytes`);
  if (rules.layout === 'flat') {
    if (parts.length > 1) refuse(rules, `refusing entry ${quote(raw)}: it holds files at its top level only`);
    if (name.includes('\\')) refuse(rules, `refusing entry ${quote(raw)}: backslash in the name`);
  }
  return name;
}

const TYPES: Record<string, EntryKind> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  S: 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'character-device',
  '4': 'block-device',
  '5': 'directory',
  '6': 'fifo',
};

interface Pending {
  pax: Map<string, string>;
  longName?: string;
  longLink?: string;
  /** Bytes of metadata gathered for the next entry: a run of extended headers may not add up without bound. */
  bytes: number;
}

/** A path component remembered by the tree rules: its kind, or a directory only implied by deeper entries. */
interface Node {
  readonly id: number;
  kind: EntryKind | 'implied';
}

/**
 * What the tree rules remember of earlier entries: each path component once,
 * keyed by its parent's number, so looking a path up costs its length, not
 * its length times its depth (a deep hostile path must not make it slow).
 */
class TreeIndex {
  private readonly nodes = new Map<string, Node>();
  private nextId = 1;
  private nameBytes = 0;

  /** The node of every component of `path`, or undefined from the first that is not there. */
  private walk(path: string): (Node | undefined)[] {
    const found: (Node | undefined)[] = [];
    let parent = 0;
    for (const component of path.split('/')) {
      const node = parent < 0 ? undefined : this.nodes.get(`${parent}/${component}`);
      found.push(node);
      parent = node ? node.id : -1;
    }
    return found;
  }

  check(rules: TarRules, entry: { path: string; kind: EntryKind; linkTarget?: string }): void {
    const { path, kind } = entry;
    const components = path.split('/');
    const nodes = this.walk(path);
    for (let i = 0; i < components.length - 1; i++) {
      const node = nodes[i];
      if (node && node.kind !== 'directory' && node.kind !== 'implied') {
        refuse(rules, `refusing entry ${quote(path)}: it lies below ${quote(components.slice(0, i + 1).join('/'))}, which is a ${node.kind}, not a directory`);
      }
    }
    const existing = nodes[nodes.length - 1];
    if (existing && !(existing.kind === 'implied' && kind === 'directory')) {
      refuse(rules, `refusing tarball: entry ${quote(path)} appears twice${existing.kind === 'implied' ? ' (after entries below it)' : ''}`);
    }
    if (kind === 'hardlink' && this.walk(entry.linkTarget!).at(-1)?.kind !== 'file') {
      refuse(rules, `refusing hard link ${quote(path)}: its target ${quote(entry.linkTarget!)} is not a regular file earlier in the archive`);
    }
    if (kind === 'block-device') refuse(rules, `refusing entry ${quote(path)}: block devices are not allowed`);
    if ((kind === 'character-device' || kind === 'fifo') && !/^dev\/[^/]+$/.test(path)) {
      refuse(rules, `refusing entry ${quote(path)}: device and FIFO entries are allowed only in dev/`);
    }
    // Remember the entry, and the directories its path implies.
    let parent = 0;
    components.forEach((component, i) => {
      const key = `${parent}/${component}`;
      let node = this.nodes.get(key);
      if (!node) {
        this.nameBytes += Buffer.byteLength(key);
        if (this.nameBytes > MAX_TREE_NAME_BYTES) refuse(rules, `refusing tarball: its names add up to more than ${MAX_TREE_NAME_BYTES} bytes`);
        if (this.nextId > MAX_TREE_NODES) refuse(rules, `refusing tarball: its paths hold more than ${MAX_TREE_NODES} directories and files`);
        node = { id: this.nextId++, kind: 'implied' };
        this.nodes.set(key, node);
      }
      if (i === components.length - 1) node.kind = kind;
      parent = node.id;
    });
  }
}

/** An old-GNU sparse map: 24-byte (offset, length) pairs in the header and in extension blocks. */
async function readSparseMap(rules: TarRules, source: ByteSource, header: Buffer, storedSize: number): Promise<{ regions: Region[]; size: number }> {
  const regions: Region[] = [];
  const take = (bytes: Buffer, count: number, name: string): void => {
    for (let i = 0; i < count; i++) {
      const pair = bytes.subarray(i * 24, i * 24 + 24);
      if (pair[0] === 0) continue;
      regions.push({ offset: parseNumber(rules, pair.subarray(0, 12), `${name} sparse offset`), length: parseNumber(rules, pair.subarray(12, 24), `${name} sparse length`) });
    }
  };
  take(header.subarray(386, 482), 4, 'header');
  let extended = header[482] !== 0;
  while (extended) {
    const block = await source.read(BLOCK);
    if (block.length < BLOCK) refuse(rules, 'truncated tarball: the archive ends in the middle of a sparse map');
    take(block.subarray(0, 504), 21, 'extended');
    extended = block[504] !== 0;
    if (regions.length > MAX_SPARSE_REGIONS) refuse(rules, `refusing a sparse file of more than ${MAX_SPARSE_REGIONS} data runs`);
  }
  const size = parseNumber(rules, header.subarray(483, 495), 'sparse real size');
  let end = 0;
  let stored = 0;
  for (const r of regions) {
    if (r.offset < end || r.offset + r.length > size) refuse(rules, 'refusing a sparse file whose map overlaps, goes backwards or runs past its size');
    end = r.offset + r.length;
    stored += r.length;
  }
  if (stored !== storedSize) refuse(rules, `refusing a sparse file whose map holds ${stored} bytes but which stores ${storedSize}`);
  return { regions: regions.filter((r) => r.length > 0), size };
}

/**
 * The vetted entries of an (uncompressed) tar stream. Each entry's body must
 * be read, or is skipped, before the next entry is produced.
 */
export async function* readTar(input: AsyncIterable<Uint8Array>, rules: TarRules): AsyncGenerator<TarEntry> {
  const source = new ByteSource(input);
  const tree = rules.layout === 'tree' ? new TreeIndex() : undefined;
  const seen = new Set<string>();
  let count = 0;
  let pending: Pending = { pax: new Map(), bytes: 0 };

  /** The data of a metadata entry (PAX header, long name), bounded. */
  const metadata = async (size: number, limit: number, what: string): Promise<Buffer> => {
    if (size > limit) refuse(rules, `refusing a ${what} of ${size} bytes (at most ${limit})`);
    pending.bytes += size;
    if (pending.bytes > MAX_PAX_BYTES) refuse(rules, `refusing more than ${MAX_PAX_BYTES} bytes of extended headers for one entry`);
    const data = await source.read(size);
    if (data.length < size) refuse(rules, 'truncated tarball: the archive ends in the middle of an entry');
    await skipPadding(size);
    return data;
  };
  const skipPadding = async (size: number): Promise<void> => {
    const padding = (BLOCK - (size % BLOCK)) % BLOCK;
    if (padding > 0 && (await source.read(padding)).length < padding) refuse(rules, 'truncated tarball: the archive ends in the middle of an entry');
  };

  try {
    for (;;) {
      const header = await source.read(BLOCK);
      if (header.length === 0) return; // no end-of-archive blocks; gzip's trailer vouches for completeness
      if (header.length < BLOCK) refuse(rules, 'truncated tarball: the archive ends in the middle of a header');
      if (isZeroBlock(header)) {
        await expectOnlyZeros(rules, source);
        if (pending.pax.size > 0 || pending.longName !== undefined || pending.longLink !== undefined) refuse(rules, 'refusing tarball: an extended header without an entry');
        return;
      }
      if (!checksumOk(header)) refuse(rules, 'not a tar archive, or a corrupt one (a header checksum does not match)');
      const magic = header.subarray(257, 263).toString('latin1');
      const gnu = magic === 'ustar ' && header[263] === 0x20;
      if (magic !== 'ustar\0' && !gnu) refuse(rules, 'not a ustar, GNU or PAX tar archive (a header has no ustar magic)');
      const typeflag = String.fromCharCode(header[156]);
      const storedSize = parseNumber(rules, header.subarray(124, 136), 'size');

      if (typeflag === 'x' || typeflag === 'g') {
        const records = parsePax(rules, await metadata(storedSize, MAX_PAX_BYTES, 'PAX extended header'));
        if ([...records.keys()].some((k) => k.startsWith('GNU.sparse.'))) refuse(rules, 'refusing a PAX sparse file; store sparse files in the GNU format (GNU tar --sparse --format=gnu)');
        if (typeflag === 'g') {
          if (['path', 'linkpath', 'size'].some((k) => records.has(k))) refuse(rules, 'refusing a global PAX header that renames or resizes entries');
        } else {
          for (const [k, v] of records) pending.pax.set(k, v);
        }
        continue;
      }
      if (typeflag === 'L' || typeflag === 'K') {
        const text = decodeText(rules, await metadata(storedSize, MAX_PATH_BYTES + 1, 'GNU long name'), 'long name');
        if (typeflag === 'L') pending.longName = text;
        else pending.longLink = text;
        continue;
      }
      const kind = TYPES[typeflag];
      if (!kind) refuse(rules, `refusing an entry of tar type ${quote(typeflag)}; only files, directories, links and (in OS images) devices are allowed`);

      const pax = pending.pax;
      let rawName = pax.get('path') ?? pending.longName;
      if (rawName === undefined) {
        rawName = decodeText(rules, header.subarray(0, 100), 'name');
        const prefix = gnu ? '' : decodeText(rules, header.subarray(345, 500), 'name prefix');
        if (prefix !== '') rawName = `${prefix}/${rawName}`;
      }
      const rawLink = pax.get('linkpath') ?? pending.longLink ?? decodeText(rules, header.subarray(157, 257), 'link name');
      const xattrs = [...pax.keys()].filter((k) => k.startsWith('SCHILY.xattr.')).map((k) => k.slice('SCHILY.xattr.'.length));
      const dataSize = pax.has('size') ? paxNumber(rules, pax.get('size')!, 'size') : storedSize;
      const uid = pax.has('uid') ? paxNumber(rules, pax.get('uid')!, 'uid') : parseNumber(rules, header.subarray(108, 116), 'uid');
      const gid = pax.has('gid') ? paxNumber(rules, pax.get('gid')!, 'gid') : parseNumber(rules, header.subarray(116, 124), 'gid');
      // PAX times may carry a fraction of a second; only whole seconds matter here.
      const mtime = pax.has('mtime') ? paxNumber(rules, pax.get('mtime')!.replace(/\.\d{1,9}$/, ''), 'mtime') : parseNumber(rules, header.subarray(136, 148), 'mtime');
      pending = { pax: new Map(), bytes: 0 };

      const path = normalizeEntryName(rules, rawName, kind === 'directory');
      if (path === '.' && kind !== 'directory') refuse(rules, `refusing entry ${quote(rawName)}: the archive's root can only be a directory`);
      if (rules.layout === 'flat' && kind !== 'file' && path !== '.') {
        refuse(rules, `refusing entry ${quote(path)}: a ${kind}; it holds regular files only`);
      }
      if (kind !== 'file' && dataSize !== 0) refuse(rules, `refusing entry ${quote(path)}: a ${kind} with ${dataSize} bytes of data`);

      let linkTarget: string | undefined;
      if (kind === 'symlink') {
        if (rawLink === '' || hasControlCharacters(rawLink) || Buffer.byteLength(rawLink) > MAX_PATH_BYTES) refuse(rules, `refusing symlink ${quote(path)}: its target is empty, too long or holds control characters`);
        linkTarget = rawLink;
      } else if (kind === 'hardlink') {
        linkTarget = normalizeEntryName(rules, rawLink, false);
      }

      let size = kind === 'file' ? dataSize : 0;
      let sparse: Region[] | undefined;
      if (typeflag === 'S') {
        if (!rules.sparse) refuse(rules, `refusing entry ${quote(path)}: a sparse file, where only regular files are expected`);
        if (!gnu) refuse(rules, `refusing entry ${quote(path)}: a sparse file in a non-GNU header`);
        const map = await readSparseMap(rules, source, header, dataSize);
        sparse = map.regions;
        size = map.size;
      }
      if (size > rules.maxFileBytes) refuse(rules, `refusing entry ${quote(path)}: ${size} bytes, more than the ${rules.maxFileBytes} allowed`);

      if (path === '.') {
        // The root directory entry (`./`) of archives made with `tar -C dir .`:
        // a tree reports it (GNU tar gives its mode and owner to the target).
        if (seen.has('.')) refuse(rules, 'refusing tarball: entry "." appears twice');
        seen.add('.');
        if (!tree) continue;
      } else {
        if (++count > rules.maxEntries) refuse(rules, `refusing tarball: more than ${rules.maxEntries} entries`);
        if (tree) tree.check(rules, { path, kind, linkTarget });
        else if (seen.has(path)) refuse(rules, `refusing tarball: entry ${quote(path)} appears twice`);
        else seen.add(path);
      }

      const state = { left: dataSize, finished: false };
      yield {
        path,
        kind,
        mode: parseNumber(rules, header.subarray(100, 108), 'mode') & 0o7777,
        uid,
        gid,
        size,
        storedSize: dataSize,
        linkTarget,
        sparse,
        xattrs,
        mtime,
        body: async function* body() {
          if (state.finished) throw new Error(`the body of ${quote(path)} was asked for after the next entry`);
          while (state.left > 0) {
            const chunk = await source.chunk(state.left);
            if (!chunk) refuse(rules, `truncated tarball: the archive ends in the middle of ${quote(path)}`);
            state.left -= chunk.length;
            yield chunk;
          }
        },
      };
      // Whatever the consumer left unread is skipped, then the padding to the next block.
      state.finished = true;
      const rest = state.left + ((BLOCK - (dataSize % BLOCK)) % BLOCK);
      let skipped = 0;
      for await (const chunk of source.take(rest)) skipped += chunk.length;
      if (skipped < rest) refuse(rules, `truncated tarball: the archive ends in the middle of ${quote(path)}`);
    }
  } finally {
    await source.close();
  }
}

/** After the end-of-archive block, GNU tar pads with zeros; anything else is hidden data. */
async function expectOnlyZeros(rules: TarRules, source: ByteSource): Promise<void> {
  let total = 0;
  for (;;) {
    const chunk = await source.chunk(64 * 1024);
    if (!chunk) return;
    total += chunk.length;
    if (!chunk.every((b) => b === 0)) refuse(rules, 'refusing tarball: it holds data after the end of the archive');
    if (total > MAX_TRAILING_BYTES) refuse(rules, 'refusing tarball: more than 16 MiB after the end of the archive');
  }
}

/** All stored bytes of a (small) entry, read into memory. */
export async function entryBytes(entry: TarEntry): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of entry.body()) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/**
 * A file entry's bytes where they belong: `{offset, data}` pieces in order.
 * Holes of a sparse file are not produced; they read as zeros.
 */
export async function* fileRegions(entry: TarEntry): AsyncGenerator<{ offset: number; data: Buffer }> {
  const regions = entry.sparse ?? [{ offset: 0, length: entry.storedSize }];
  let index = 0;
  let within = 0;
  for await (const chunk of entry.body()) {
    let at = 0;
    while (at < chunk.length) {
      while (index < regions.length && within === regions[index].length) {
        index++;
        within = 0;
      }
      const region = regions[index];
      const n = Math.min(chunk.length - at, region.length - within);
      yield { offset: region.offset + within, data: chunk.subarray(at, at + n) };
      within += n;
      at += n;
    }
  }
}

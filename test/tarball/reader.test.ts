/**
 * The one tar reader, on archives made by GNU tar (which it must read,
 * sparse files included) and on archives made by hand to attack it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidStemcellError } from '../../lib/errors';
import { gunzip } from '../../lib/tarball/gzip';
import { fileRegions, readTar, TarEntry, TarRules } from '../../lib/tarball/reader';
import { tempDir } from '../helpers/stemcells';
import { archive, chunks, entry, gnuTar, header, pax, sparseFile, tgz } from '../helpers/tar';

const flat: TarRules = { what: 'test.tgz', layout: 'flat', maxEntries: 64, maxFileBytes: 1024 ** 4 };
const tree: TarRules = { ...flat, layout: 'tree', maxEntries: 10_000 };
/** A disk image's rules: sparse files welcome. */
const disk: TarRules = { ...flat, sparse: true };

interface Read {
  path: string;
  kind: string;
  size: number;
  linkTarget?: string;
  data?: Buffer;
  sparse: boolean;
  xattrs: readonly string[];
}

/** Every entry, with the bytes of each file as extracted (holes filled with zeros). */
async function readAll(bytes: Buffer, rules: TarRules, chunkSize = 777): Promise<Read[]> {
  const out: Read[] = [];
  for await (const e of readTar(chunks(bytes, chunkSize), rules)) {
    const read: Read = { path: e.path, kind: e.kind, size: e.size, linkTarget: e.linkTarget, sparse: e.sparse !== undefined, xattrs: e.xattrs };
    if (e.kind === 'file') read.data = await extract(e);
    out.push(read);
  }
  return out;
}

async function extract(e: TarEntry): Promise<Buffer> {
  const data = Buffer.alloc(e.size);
  for await (const piece of fileRegions(e)) piece.data.copy(data, piece.offset);
  return data;
}

async function refusal(bytes: Buffer, rules: TarRules): Promise<string> {
  const error = await readAll(bytes, rules).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InvalidStemcellError);
  return (error as Error).message;
}

let dir: string;
beforeAll(() => (dir = tempDir('reader-')));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('what GNU tar writes', () => {
  it('reads files, directories, symlinks, hard links and long names as a root file system', async () => {
    const root = fs.mkdtempSync(path.join(dir, 'root-'));
    const long = `usr/share/${'a-long-directory-name/'.repeat(6)}file-beyond-one-hundred-bytes`;
    fs.mkdirSync(path.join(root, path.dirname(long)), { recursive: true });
    fs.writeFileSync(path.join(root, long), 'deep');
    fs.mkdirSync(path.join(root, 'etc'));
    fs.writeFileSync(path.join(root, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/bash\n');
    fs.linkSync(path.join(root, 'etc', 'passwd'), path.join(root, 'etc', 'passwd.hard'));
    fs.symlinkSync('/usr/lib/os-release', path.join(root, 'etc', 'os-release'));
    fs.writeFileSync(path.join(root, 'etc', 'systemd-dev-disk-by\\x2dlabel.device'), 'unit');
    for (const format of ['gnu', 'posix']) {
      const entries = await readAll(gnuTar(root, `--format=${format}`, '--sort=name', '.'), tree);
      const byPath = new Map(entries.map((e) => [e.path, e]));
      expect(byPath.get(long)).toMatchObject({ kind: 'file', size: 4, data: Buffer.from('deep') });
      expect(byPath.get('etc')).toMatchObject({ kind: 'directory' });
      expect(byPath.get('etc/os-release')).toMatchObject({ kind: 'symlink', linkTarget: '/usr/lib/os-release' });
      const [first, second] = ['etc/passwd', 'etc/passwd.hard'].map((p) => byPath.get(p)!);
      expect([first.kind, second.kind].sort()).toEqual(['file', 'hardlink']);
      expect((first.kind === 'hardlink' ? first : second).linkTarget).toMatch(/^etc\/passwd(\.hard)?$/);
      expect(byPath.get('etc/systemd-dev-disk-by\\x2dlabel.device')?.kind).toBe('file');
      // The root entry (./) is reported in a tree: GNU tar gives its mode to the target.
      expect(byPath.get('.')).toMatchObject({ kind: 'directory' });
    }
  });

  it('reports modification times, whole seconds from a PAX time with a fraction', async () => {
    const bytes = archive(entry({ name: 'a', mtime: 1_795_227_046 }, 'a'), pax({ mtime: '1795227047.123456789' }), entry({ name: 'b' }, 'b'));
    const times: number[] = [];
    for await (const e of readTar(chunks(bytes, 512), tree)) times.push(e.mtime);
    expect(times).toEqual([1_795_227_046, 1_795_227_047]);
    expect(await refusal(archive(pax({ mtime: '-1e9' }), entry({ name: 'c' }, 'c')), tree)).toMatch(/PAX header whose mtime is "-1e9"/);
  });

  it('reports extended attributes recorded in PAX headers', async () => {
    const bytes = archive(pax({ 'SCHILY.xattr.security.capability': 'x' }), entry({ name: 'usr/bin/ping' }, 'ping'));
    expect((await readAll(bytes, tree))[0].xattrs).toEqual(['security.capability']);
  });

  it.each([
    ['two islands', 4 * 1024 * 1024, [0, 3 * 1024 * 1024]],
    ['fifty islands (extended sparse headers)', 64 * 1024 * 1024, Array.from({ length: 50 }, (_, i) => i * 1024 * 1024 + 4096)],
    ['data at the very end', 1024 * 1024, [1024 * 1024 - 200]],
    ['only a hole', 8 * 1024 * 1024, []],
  ])('reads a GNU sparse file with %s, byte for byte, storing only its data', async (_what, size, offsets) => {
    const src = fs.mkdtempSync(path.join(dir, 'sparse-'));
    const original = sparseFile(path.join(src, 'root.img'), size, offsets);
    const bytes = gnuTar(src, '--sparse', 'root.img');
    const [e] = await readAll(bytes, disk, 65536);
    expect(e).toMatchObject({ path: 'root.img', kind: 'file', size, sparse: true });
    expect(e.data!.equals(original)).toBe(true);
    expect(bytes.length).toBeLessThan(size / 4 + 64 * 1024);
  });

  it('streams a sparse file as pieces at their offsets, never the holes', async () => {
    const src = fs.mkdtempSync(path.join(dir, 'pieces-'));
    sparseFile(path.join(src, 'root.img'), 16 * 1024 * 1024, [8192, 12 * 1024 * 1024]);
    let stored = 0;
    for await (const e of readTar(chunks(gnuTar(src, '--sparse', 'root.img')), disk)) {
      for await (const piece of fileRegions(e)) {
        stored += piece.data.length;
        expect(piece.offset === 8192 || piece.offset >= 12 * 1024 * 1024 || piece.offset < 8192 + 4096).toBe(true);
      }
    }
    expect(stored).toBeLessThanOrEqual(2 * 4096 * 2);
  });

  it('reads through gzip, and skips bodies the consumer does not read', async () => {
    const bytes = tgz(archive(entry({ name: 'a' }, 'x'.repeat(5000)), entry({ name: 'b' }, 'second')));
    const seen: string[] = [];
    for await (const e of readTar(gunzip(chunks(bytes), 'test.tgz'), flat)) seen.push(`${e.path}:${e.size}`);
    expect(seen).toEqual(['a:5000', 'b:6']);
  });

  it('reads past zero bytes after the gzip stream, as gzip -t does, and refuses other trailing bytes', async () => {
    const bytes = tgz(archive(entry({ name: 'a' }, 'x'.repeat(5000))));
    const names = async (input: Buffer) => {
      const seen: string[] = [];
      for await (const e of readTar(gunzip(chunks(input), 'test.tgz'), flat)) seen.push(e.path);
      return seen;
    };
    expect(await names(Buffer.concat([bytes, Buffer.alloc(4096)]))).toEqual(['a']);
    await expect(names(Buffer.concat([bytes, Buffer.from('trailing garbage')]))).rejects.toThrow(InvalidStemcellError);
  });
});

describe('hostile archives', () => {
  const file = (name: string | Buffer, data = 'x') => entry({ name }, data);
  const refusals: [string, () => Buffer, TarRules, RegExp][] = [
    ['an absolute path', () => archive(file('/etc/cron.d/evil')), tree, /absolute paths are not allowed/],
    ['a .. path', () => archive(file('a/../../evil')), tree, /'\.\.' would leave the target directory/],
    ['a path that is not normalized', () => archive(file('a//b')), tree, /not normalized/],
    ['an escape sequence in a name', () => archive(file('evil\x1b[2J\x1b[Hstemcell: OK')), flat, /control characters in the name/],
    ['a newline in a name', () => archive(file('image\nstemcell: all checks passed')), flat, /control characters in the name/],
    ['a right-to-left override in a name', () => archive(file('gpj.\u202eexe')), flat, /control characters/],
    ['a name that is not UTF-8', () => archive(file(Buffer.from([0x69, 0x6d, 0xff, 0xfe]))), flat, /not UTF-8/],
    ['a PAX path longer than 4096 bytes', () => archive(pax({ path: 'a/'.repeat(2100) + 'b' }), file('short')), tree, /longer than 4096 bytes/],
    ['a name component longer than 255 bytes', () => archive(pax({ path: `${'x'.repeat(256)}` }), file('short')), flat, /longer than 255 bytes/],
    ['a backslash in a flat name', () => archive(file('..\\evil')), flat, /backslash/],
    ['a nested path in a flat archive', () => archive(file('sub/file')), flat, /top level only/],
    ['a directory in a flat archive', () => archive(entry({ name: 'sub/', type: '5' })), flat, /a directory; it holds regular files only/],
    ['a symlink in a flat archive', () => archive(entry({ name: 'root.img', type: '2', linkname: '/dev/vda' })), flat, /a symlink; it holds regular files only/],
    ['a hard link in a flat archive', () => archive(file('image'), entry({ name: 'root.img', type: '1', linkname: 'image' })), flat, /refusing entry "root.img": a hardlink; it holds regular files only/],
    ['a hard link to an absolute path', () => archive(entry({ name: 'root.img', type: '1', linkname: '/etc/shadow' })), tree, /refusing entry "\/etc\/shadow": absolute paths are not allowed/],
    ['a device in a flat archive', () => archive(entry({ name: 'root.img', type: '4' })), flat, /a block-device; it holds regular files only/],
    ['a hard link to a file outside the archive', () => archive(entry({ name: 'etc/shadow', type: '1', linkname: 'etc/passwd' })), tree, /not a regular file earlier in the archive/],
    ['a hard link leaving the target', () => archive(entry({ name: 'x', type: '1', linkname: '../../etc/shadow' })), tree, /would leave the target/],
    ['a hard link to a directory', () => archive(entry({ name: 'etc/', type: '5' }), entry({ name: 'x', type: '1', linkname: 'etc' })), tree, /not a regular file/],
    ['an entry below a symlink', () => archive(entry({ name: 'etc', type: '2', linkname: '/etc' }), file('etc/cron.d/evil')), tree, /below "etc", which is a symlink/],
    ['an entry below a file', () => archive(file('bin'), file('bin/sh')), tree, /below "bin", which is a file/],
    ['a block device', () => archive(entry({ name: 'dev/', type: '5' }), entry({ name: 'dev/vda', type: '4' })), tree, /block devices are not allowed/],
    ['a character device outside dev/', () => archive(entry({ name: 'etc/kmem', type: '3' })), tree, /only in dev\//],
    ['a duplicate entry', () => archive(file('etc/passwd'), file('./etc/passwd')), tree, /"etc\/passwd" appears twice/],
    ['a duplicate in a flat archive', () => archive(file('image'), file('./image')), flat, /"image" appears twice/],
    ['a volume header', () => archive(entry({ name: 'vol', type: 'V' })), flat, /tar type "V"/],
    ['a GNU dump directory', () => archive(entry({ name: 'd', type: 'D' })), tree, /tar type "D"/],
    ['a PAX sparse file', () => archive(pax({ 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0' }), file('root.img')), flat, /PAX sparse file/],
    ['a global header that renames entries', () => archive(pax({ path: 'evil' }, 'g'), file('a')), flat, /global PAX header/],
    ['a corrupt PAX record', () => archive(entry({ name: 'p', type: 'x' }, '99 path=a\n'), file('a')), flat, /corrupt PAX/],
    ['a PAX header of 2 MiB', () => archive(entry({ name: 'p', type: 'x' }, Buffer.alloc(2 * 1024 * 1024, 0x41)), file('a')), flat, /PAX extended header of \d+ bytes/],
    ['extended headers piling up for one entry', () => archive(...Array.from({ length: 3 }, (_, i) => pax({ [`k${i}`]: 'v'.repeat(600 * 1024) })), file('a')), flat, /more than 1048576 bytes of extended headers for one entry/],
    ['a GNU long name of 8 KiB', () => archive(entry({ name: '././@LongLink', type: 'L' }, 'a'.repeat(8192)), file('a')), flat, /GNU long name of 8192 bytes/],
    ['a corrupt checksum', () => archive(header({ name: 'a', size: 0, badChecksum: true })), flat, /checksum does not match/],
    ['a header without ustar magic', () => archive(header({ name: 'a', magic: 'none' })), flat, /no ustar magic/],
    ['a size that is not octal', () => archive(header({ name: 'a', sizeField: Buffer.from('00000000999\0') })), flat, /size "00000000999" is not an octal number/],
    ['an archive cut in a header', () => archive(file('a'), file('b')).subarray(0, 1300), flat, /in the middle of a header/],
    ['an archive cut in a file', () => entry({ name: 'a' }, 'x'.repeat(3000)).subarray(0, 1500), flat, /in the middle of "a"/],
    ['data after the end of the archive', () => Buffer.concat([archive(file('a')), Buffer.from('hidden payload')]), flat, /data after the end/],
    ['more entries than allowed', () => archive(...Array.from({ length: 65 }, (_, i) => file(`f${i}`))), flat, /more than 64 entries/],
    ['a file larger than allowed', () => archive(header({ name: 'big', size: 2 ** 33 - 1 })), { ...flat, maxFileBytes: 2 ** 32 }, /8589934591 bytes, more than the 4294967296 allowed/],
    ['a symlink with data', () => archive(entry({ name: 'l', type: '2', linkname: 'x' }, 'payload')), tree, /a symlink with 7 bytes of data/],
    ['a root that is a file', () => archive(file('./')), tree, /the archive's root can only be a directory/],
  ];

  it.each(refusals)('refuses %s', async (_what, make, rules, message) => {
    expect(await refusal(make(), rules)).toMatch(message);
  });

  it('names the archive in every refusal, with hostile names quoted on one line', async () => {
    const message = await refusal(archive(file('evil\n\x1b[31mFAKE')), flat);
    expect(message).toMatch(/^test\.tgz: refusing entry "evil\\n\\u001b\[31mFAKE": control characters/);
    expect(message).not.toContain('\n');
  });

  function sparseHeader(regions: [number, number][], realSize: number, stored: number, extended = false): Buffer {
    const block = header({ name: 'root.img', type: 'S', magic: 'gnu', size: stored });
    regions.slice(0, 4).forEach(([offset, length], i) => {
      block.write(`${offset.toString(8).padStart(11, '0')}\0`, 386 + i * 24, 'latin1');
      block.write(`${length.toString(8).padStart(11, '0')}\0`, 398 + i * 24, 'latin1');
    });
    block[482] = extended ? 1 : 0;
    block.write(`${realSize.toString(8).padStart(11, '0')}\0`, 483, 'latin1');
    block.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of block) sum += b;
    block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    return block;
  }

  it.each([
    ['regions that overlap', [[0, 1024], [512, 512]] as [number, number][], 4096, 1536, /overlaps, goes backwards/],
    ['a region past the real size', [[4096, 1024]] as [number, number][], 4096, 1024, /runs past its size/],
    ['a map that does not add up to the stored bytes', [[0, 512]] as [number, number][], 4096, 1024, /holds 512 bytes but which stores 1024/],
  ])('refuses a sparse file whose map has %s', async (_what, regions, realSize, stored, message) => {
    const bytes = Buffer.concat([sparseHeader(regions, realSize, stored), Buffer.alloc(Math.ceil(stored / 512) * 512, 0x41), Buffer.alloc(1024)]);
    expect(await refusal(bytes, disk)).toMatch(message);
  });

  it('refuses a sparse map that ends before its extension block', async () => {
    expect(await refusal(sparseHeader([[0, 512]], 4096, 512, true), disk)).toMatch(/in the middle of a sparse map/);
  });

  it('refuses a sparse file where only regular files belong: its body alone would miss the holes', async () => {
    const src = fs.mkdtempSync(path.join(dir, 'not-here-'));
    sparseFile(path.join(src, 'image'), 1024 * 1024, [4096]);
    expect(await refusal(gnuTar(src, '--sparse', 'image'), flat)).toMatch(/refusing entry "image": a sparse file, where only regular files are expected/);
  });

  it('refuses a tree whose paths would fill memory (deep paths are read in time proportional to their length)', async () => {
    // 600 entries, each 1,990 directories deep on a path of its own: 1.2 million directories implied.
    async function* deep(): AsyncGenerator<Buffer> {
      const dirs = 'd/'.repeat(1990);
      for (let i = 0; i < 600; i++) {
        yield pax({ path: `${i}/${dirs}f` });
        yield header({ name: 'f', type: '5' });
      }
      yield Buffer.alloc(1024);
    }
    const error = await (async () => {
      for await (const _ of readTar(deep(), tree)) void _;
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidStemcellError);
    expect((error as Error).message).toMatch(/its paths hold more than 1000000 directories and files/);
  });

  it('reads a hostile gigabyte in bounded memory', async () => {
    // One file of 1 GiB of zeros, streamed: nothing of it may be kept.
    async function* huge(): AsyncGenerator<Buffer> {
      yield header({ name: 'root.img', size: 2 ** 30 });
      const chunk = Buffer.alloc(1024 * 1024);
      for (let i = 0; i < 1024; i++) yield chunk;
      yield Buffer.alloc(1024);
    }
    const before = process.memoryUsage().rss;
    let peak = before;
    let total = 0;
    for await (const e of readTar(huge(), flat)) {
      for await (const piece of e.body()) {
        total += piece.length;
        if (total % (64 * 1024 * 1024) === 0) peak = Math.max(peak, process.memoryUsage().rss);
      }
    }
    expect(total).toBe(2 ** 30);
    expect(peak - before).toBeLessThan(100 * 1024 * 1024);
  });
});

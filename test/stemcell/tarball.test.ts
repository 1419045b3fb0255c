import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import {
  EnvironmentError,
  InvalidStemcellError,
  MAX_MANIFEST_BYTES,
  parseAmiPairs,
  readStemcellTarball,
  validateAmiMap,
  withStemcellDisk,
  writeTarball,
} from '../../lib/stemcell';
import { isOsImageTarball } from '../../lib/stemcell/os-image';
import { fileRegions } from '../../lib/tarball/reader';
import { archive, entry, tgz } from '../helpers/tar';
import { makeHeavyStemcell, makeImage, tempDir } from '../helpers/stemcells';

const sha256 = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

interface RawEntry {
  name: string;
  type?: tar.Header['type'];
  data?: string | Buffer;
  linkname?: string;
}

/** A tar built byte by byte from what the test says, malicious or not. */
async function rawTar(entries: RawEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  for (const e of entries) {
    const data = Buffer.from(e.data ?? '');
    const type = e.type ?? 'file';
    const header: Partial<tar.Header> & { name: string } = { name: e.name, type, mode: 0o644, ...(e.linkname ? { linkname: e.linkname } : {}) };
    if (type === 'character-device') Object.assign(header, { devmajor: 1, devminor: 3 });
    await new Promise<void>((resolve, reject) =>
      type === 'file' ? pack.entry({ ...header, size: data.length }, data, (err) => (err ? reject(err) : resolve())) : pack.entry(header, (err) => (err ? reject(err) : resolve())),
    );
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

let dir: string;
let heavy: string;
let manifestText: string;
/** A well-formed image (a gzip tar of root.img), but not the one the manifest describes. */
let otherImage: Buffer;
beforeAll(async () => {
  dir = tempDir();
  heavy = await makeHeavyStemcell(dir);
  manifestText = (await readStemcellTarball(heavy)).manifestText;
  otherImage = fs.readFileSync(await makeImage(fs.mkdtempSync(path.join(dir, 'other-')), 8192));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function tgzFile(entries: RawEntry[]): Promise<string> {
  const file = path.join(fs.mkdtempSync(path.join(dir, 'evil-')), 'evil.tgz');
  fs.writeFileSync(file, gzipSync(await rawTar(entries)));
  return file;
}

const goodEntries = (): RawEntry[] => [
  { name: 'stemcell.MF', data: manifestText },
  { name: 'image', data: otherImage },
];

describe('writing', () => {
  it('gives the same bytes for the same inputs, whatever the source files look like on disk', async () => {
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    fs.mkdirSync(a);
    fs.mkdirSync(b);
    fs.writeFileSync(path.join(a, 'payload'), 'same content');
    fs.writeFileSync(path.join(b, 'payload'), 'same content');
    fs.utimesSync(path.join(b, 'payload'), new Date('2001-02-03'), new Date('2001-02-03'));
    fs.chmodSync(path.join(b, 'payload'), 0o600);
    await writeTarball(path.join(a, 'out.tgz'), [{ name: 'zeta', data: 'z' }, { name: 'image', path: path.join(a, 'payload') }, { name: 'stemcell.MF', data: 'x' }]);
    await writeTarball(path.join(b, 'out.tgz'), [{ name: 'stemcell.MF', data: 'x' }, { name: 'image', path: path.join(b, 'payload') }, { name: 'zeta', data: 'z' }]);
    expect(sha256(path.join(a, 'out.tgz'))).toBe(sha256(path.join(b, 'out.tgz')));
  });

  it('gives the same bytes with pigz on every core as with one', async () => {
    const files = [{ name: 'stemcell.MF', data: 'x' }, { name: 'image', data: Buffer.alloc(3 * 2 ** 20, 7) }];
    const written = await writeTarball(path.join(dir, 'pigz-a.tgz'), files, { pigz: true });
    await writeTarball(path.join(dir, 'pigz-b.tgz'), files, { pigz: true });
    expect(sha256(path.join(dir, 'pigz-a.tgz'))).toBe(sha256(path.join(dir, 'pigz-b.tgz')));
    // What it reports is what it wrote.
    expect(written).toEqual({ bytes: fs.statSync(path.join(dir, 'pigz-a.tgz')).size, sha256: sha256(path.join(dir, 'pigz-a.tgz')) });
    const contents = await readStemcellTarball(path.join(dir, 'pigz-a.tgz')).catch((e: Error) => e);
    expect((contents as Error).message).toMatch(/stemcell.MF: expected a YAML mapping/);
    const bytes = fs.readFileSync(path.join(dir, 'pigz-a.tgz'));
    expect(bytes[3] & 0x08).toBe(0);
    expect(bytes.readUInt32LE(4)).toBe(0);
  });

  it('writes gzip without name or timestamp, stemcell.MF first, owner 0 and a fixed mtime', async () => {
    const bytes = fs.readFileSync(heavy);
    expect(bytes.subarray(0, 3)).toEqual(Buffer.from([0x1f, 0x8b, 8]));
    expect(bytes[3] & 0x08).toBe(0); // FLG.FNAME unset
    expect(bytes.readUInt32LE(4)).toBe(0); // MTIME
    const listing = execFileSync('tar', ['-tzvf', heavy, '--numeric-owner', '--full-time'], { encoding: 'utf8' }).trim().split('\n');
    expect(listing.map((l) => l.split(/\s+/).pop())).toEqual(['stemcell.MF', 'dev_tools_file_list.txt', 'image', 'packages.txt']);
    for (const line of listing) expect(line).toMatch(/^-rw-r--r-- 0\/0 .* 1970-01-01 00:00:00 /);
  });

  it('never replaces an existing file and leaves no partial file behind', async () => {
    await expect(writeTarball(heavy, [{ name: 'image', data: '' }])).rejects.toThrow(EnvironmentError);
    const out = path.join(dir, 'failed.tgz');
    await expect(writeTarball(out, [{ name: 'image', path: path.join(dir, 'does-not-exist') }])).rejects.toThrow(/ENOENT/);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('failed'))).toEqual([]);
  });
});

describe('reading', () => {
  it('reads a generated heavy stemcell and checks the image sha1', async () => {
    const contents = await readStemcellTarball(heavy);
    expect(contents.sha1Matches).toBe(true);
    expect(contents.manifest.name).toBe('bosh-aws-xen-hvm-ubuntu-jammy-go_agent');
    expect(contents.entries.map((e) => e.name)).toEqual(['stemcell.MF', 'dev_tools_file_list.txt', 'image', 'packages.txt']);
    expect([...contents.sideFiles.keys()].sort()).toEqual(['dev_tools_file_list.txt', 'packages.txt', 'stemcell.MF']);
  });

  it('reads tarballs made by GNU tar, with or without ./ prefixes', async () => {
    const src = fs.mkdtempSync(path.join(dir, 'gnu-'));
    const extracted = fs.mkdtempSync(path.join(dir, 'x-'));
    await readStemcellTarball(heavy, { extractTo: extracted });
    for (const args of [['-czf', path.join(src, 'plain.tgz'), '-C', extracted, 'stemcell.MF', 'image', 'packages.txt'], ['-czf', path.join(src, 'dot.tgz'), '-C', extracted, '.']]) {
      execFileSync('tar', args);
      const contents = await readStemcellTarball(args[1]);
      expect(contents.sha1Matches).toBe(true);
    }
  });

  it('reports an image that does not match the manifest', async () => {
    const contents = await readStemcellTarball(await tgzFile(goodEntries()));
    expect(contents.sha1Matches).toBe(false);
  });

  const refused: [string, () => Promise<string>, RegExp][] = [
    ['an absolute path', () => tgzFile([...goodEntries(), { name: '/etc/cron.d/evil', data: 'x' }]), /absolute paths are not allowed/],
    ['a .. path', () => tgzFile([{ name: '../evil', data: 'x' }, ...goodEntries()]), /'\.\.' would leave the target directory/],
    ['a ./.. path', () => tgzFile([{ name: './../../evil', data: 'x' }, ...goodEntries()]), /'\.\.' would leave the target directory/],
    ['a nested path', () => tgzFile([...goodEntries(), { name: 'sub/file', data: 'x' }]), /top level only/],
    ['a nested directory', () => tgzFile([{ name: 'sub/', type: 'directory' }, ...goodEntries()]), /a directory; it holds regular files only/],
    ['a symlink', () => tgzFile([{ name: 'stemcell.MF', data: manifestText }, { name: 'image', type: 'symlink', linkname: '/etc/shadow' }]), /a symlink; it holds regular files only/],
    ['a hard link', () => tgzFile([...goodEntries(), { name: 'packages.txt', type: 'link', linkname: 'image' }]), /a hardlink; it holds regular files only/],
    ['a device', () => tgzFile([...goodEntries(), { name: 'null', type: 'character-device' }]), /a character-device; it holds regular files only/],
    ['a FIFO', () => tgzFile([...goodEntries(), { name: 'pipe', type: 'fifo' }]), /a fifo; it holds regular files only/],
    ['a duplicate entry', () => tgzFile([...goodEntries(), { name: 'stemcell.MF', data: 'name: evil' }]), /entry "stemcell.MF" appears twice/],
    ['a duplicate hidden behind ./', () => tgzFile([...goodEntries(), { name: './image', data: 'other' }]), /entry "image" appears twice/],
    ['an oversized stemcell.MF', () => tgzFile([{ name: 'stemcell.MF', data: `${manifestText}#${'x'.repeat(MAX_MANIFEST_BYTES)}` }, { name: 'image' }]), /stemcell.MF is \d+ bytes, more than the 65536 allowed/],
    ['a tarball without image', () => tgzFile([{ name: 'stemcell.MF', data: manifestText }]), /not a stemcell: image missing/],
    ['an empty tarball', () => tgzFile([]), /stemcell.MF and image missing \(found: nothing\)/],
    ['a broken manifest', () => tgzFile([{ name: 'stemcell.MF', data: 'name: x\nversion: 1\nsha1: 1\n' }, { name: 'image' }]), /'version' must be a non-empty string/],
  ];
  it.each(refused)('refuses %s', async (_what, make, message) => {
    const file = await make();
    const error = await readStemcellTarball(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidStemcellError);
    expect((error as Error).message).toMatch(message);
  });

  it.each([
    ['a plain tar', async () => rawTar(goodEntries()), /not a gzip file/],
    ['a text file', async () => Buffer.from('hello, I am not a stemcell\n'), /not a gzip file/],
    ['an empty file', async () => Buffer.alloc(0), /is not a gzip file: it is empty/],
    ['a gzip stream cut in half', async () => fs.readFileSync(heavy).subarray(0, fs.statSync(heavy).size / 2), /corrupt or truncated gzip data|truncated tarball/],
    ...[1, 4, 6, 8].map((cut): [string, () => Promise<Buffer>, RegExp] => [
      `a gzip stream missing the last ${cut} bytes of its trailer`,
      async () => fs.readFileSync(heavy).subarray(0, fs.statSync(heavy).size - cut),
      /corrupt or truncated gzip data/,
    ]),
    ['corrupt gzip data', async () => Buffer.concat([fs.readFileSync(heavy).subarray(0, 20), Buffer.alloc(4000, 0xff)]), /corrupt or truncated gzip data/],
    ['a truncated tar inside valid gzip', async () => gzipSync((await rawTar([{ name: 'stemcell.MF', data: manifestText }, { name: 'image', data: 'x'.repeat(5000) }])).subarray(0, 3000)), /truncated tarball/],
    ['gzip of something that is not tar', async () => gzipSync(Buffer.alloc(2048, 0x41)), /not a tar archive/],
  ])('refuses %s', async (_what, bytes, message) => {
    const file = path.join(fs.mkdtempSync(path.join(dir, 'bad-')), 'bad.tgz');
    fs.writeFileSync(file, await bytes());
    await expect(readStemcellTarball(file)).rejects.toThrow(message);
  });
});

describe('extracting', () => {
  it('writes the files into the target', async () => {
    const target = fs.mkdtempSync(path.join(dir, 'target-'));
    await readStemcellTarball(heavy, { extractTo: target });
    expect(fs.readdirSync(target).sort()).toEqual(['dev_tools_file_list.txt', 'image', 'packages.txt', 'stemcell.MF']);
  });

  it('writes nothing outside the target and removes what it wrote when a later entry is bad', async () => {
    const root = fs.mkdtempSync(path.join(dir, 'root-'));
    const target = path.join(root, 'target');
    fs.mkdirSync(target);
    const evil = await tgzFile([{ name: 'stemcell.MF', data: manifestText }, { name: 'image', data: 'x' }, { name: '../escaped', data: 'x' }]);
    await expect(readStemcellTarball(evil, { extractTo: target })).rejects.toThrow(/would leave the target/);
    expect(fs.readdirSync(root)).toEqual(['target']);
    expect(fs.readdirSync(target)).toEqual([]);
  });

  it('does not follow a symlink planted in the target', async () => {
    const target = fs.mkdtempSync(path.join(dir, 'planted-'));
    const victim = path.join(dir, 'victim');
    fs.writeFileSync(victim, 'precious');
    fs.symlinkSync(victim, path.join(target, 'packages.txt'));
    await expect(readStemcellTarball(heavy, { extractTo: target })).rejects.toThrow(/already exists; extract into an empty directory/);
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious');
    expect(fs.readdirSync(target)).toEqual(['packages.txt']);
  });
});

describe("the stemcell's image, read by the same reader", () => {
  /** A heavy AWS stemcell whose image is `image` (a gzip tar made by hand) and whose manifest matches it. */
  async function withImage(image: Buffer): Promise<string> {
    return makeHeavyStemcell(fs.mkdtempSync(path.join(dir, 'inner-')), { image });
  }

  it('lists what the image holds: exactly root.img, sparse as GNU tar packs it', async () => {
    const rootImg = Buffer.alloc(8 * 1024 * 1024);
    rootImg.write('boot sector', 0);
    rootImg.write('superblock', 5 * 1024 * 1024);
    const sparse = await makeHeavyStemcell(fs.mkdtempSync(path.join(dir, 'sparse-')), { rootImg, sparse: true });
    const contents = await readStemcellTarball(sparse);
    expect(contents.imageEntries).toEqual([{ name: 'root.img', size: 8 * 1024 * 1024, storedSize: 8192, sparse: true }]);
    expect(contents.sha1Matches).toBe(true);
  });

  it('writes the disk out sparse, byte for byte, when asked', async () => {
    const rootImg = Buffer.alloc(8 * 1024 * 1024);
    rootImg.write('boot sector', 0);
    rootImg.write('superblock', 5 * 1024 * 1024 + 17);
    const sparse = await makeHeavyStemcell(fs.mkdtempSync(path.join(dir, 'disk-')), { rootImg, sparse: true });
    const target = fs.mkdtempSync(path.join(dir, 'disk-to-'));
    await readStemcellTarball(sparse, { diskTo: target });
    const written = path.join(target, 'root.img');
    expect(fs.readFileSync(written).equals(rootImg)).toBe(true);
    // Two 4 KiB blocks of data, the rest holes.
    expect(fs.statSync(written).blocks * 512).toBeLessThanOrEqual(64 * 1024);
  });

  it('reads a valid stemcell whose image comes before its manifest', async () => {
    const first = await makeHeavyStemcell(fs.mkdtempSync(path.join(dir, 'first-')), { imageFirst: true });
    const contents = await readStemcellTarball(first);
    expect(contents.entries[0].name).toBe('image');
    expect(contents.imageEntries.map((e) => e.name)).toEqual(['root.img']);
    expect(await isOsImageTarball(first)).toBe(false);
  });

  const hostileImages: [string, () => Buffer, RegExp][] = [
    ['root.img as a symlink to a host file', () => tgz(archive(entry({ name: 'root.img', type: '2', linkname: '/etc/hostname' }))), /image: refusing entry "root.img": a symlink/],
    ['root.img as a symlink to the host disk', () => tgz(archive(entry({ name: 'root.img', type: '2', linkname: '/dev/vda' }))), /a symlink; it holds regular files only/],
    ['root.img as a hard link', () => tgz(archive(entry({ name: 'root.img', type: '1', linkname: 'etc/shadow' }))), /a hardlink; it holds regular files only/],
    ['root.img as a block device', () => tgz(archive(entry({ name: 'root.img', type: '4' }))), /a block-device; it holds regular files only/],
    ['an entry leaving the target', () => tgz(archive(entry({ name: '../../root.img' }, 'x'))), /'\.\.' would leave the target/],
    ['a second file', () => tgz(archive(entry({ name: 'root.img' }, 'disk'), entry({ name: 'extra' }, 'x'))), /must hold exactly one file, root\.img; it holds "root\.img", "extra"/],
    ['another name', () => tgz(archive(entry({ name: 'disk.raw' }, 'disk'))), /must hold exactly one file, root\.img; it holds "disk\.raw"/],
    ['no gzip', () => archive(entry({ name: 'root.img' }, 'disk')), /image is not a gzip file/],
    ['a truncated inner tarball', () => tgz(archive(entry({ name: 'root.img' }, 'x'.repeat(4000))).subarray(0, 2000)), /truncated tarball/],
    ['nothing', () => Buffer.alloc(0), /image: empty, but a heavy stemcell's image holds its disk/],
  ];
  it.each(hostileImages)('refuses an image holding %s', async (_what, image, message) => {
    const stemcell = await withImage(image());
    const error = await readStemcellTarball(stemcell).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidStemcellError);
    expect((error as Error).message).toMatch(message);
  });

  it('refuses an image stored sparse at the top level: GNU tar would unpack other bytes than those digested', async () => {
    const src = fs.mkdtempSync(path.join(dir, 'outer-sparse-'));
    await readStemcellTarball(heavy, { extractTo: src });
    // Holes in front of the real image: tar -x gives zeros, then the gzip.
    const image = fs.readFileSync(path.join(src, 'image'));
    fs.rmSync(path.join(src, 'image'));
    fs.writeFileSync(path.join(src, 'image'), '');
    fs.truncateSync(path.join(src, 'image'), 1024 * 1024 + image.length);
    const fd = fs.openSync(path.join(src, 'image'), 'r+');
    fs.writeSync(fd, image, 0, image.length, 1024 * 1024);
    fs.closeSync(fd);
    const evil = path.join(dir, 'outer-sparse.tgz');
    execFileSync('tar', ['--create', '--gzip', '--sparse', '--file', evil, '-C', src, 'stemcell.MF', 'image']);
    await expect(readStemcellTarball(evil)).rejects.toThrow(/refusing entry "image": a sparse file, where only regular files are expected/);
  });

  it('leaves no disk behind when the image turns out bad after it was written', async () => {
    const bad = await withImage(tgz(archive(entry({ name: 'root.img' }, 'disk'), entry({ name: 'root.img.2' }, 'x'))));
    const target = fs.mkdtempSync(path.join(dir, 'leftover-'));
    await expect(readStemcellTarball(bad, { diskTo: target })).rejects.toThrow(/exactly one file/);
    expect(fs.readdirSync(target)).toEqual([]);
  });

  it("streams a sparse disk through withStemcellDisk, holes and all", async () => {
    const rootImg = Buffer.alloc(4 * 1024 * 1024);
    rootImg.write('data', 3 * 1024 * 1024);
    const sparse = await makeHeavyStemcell(fs.mkdtempSync(path.join(dir, 'stream-')), { rootImg, sparse: true });
    const rebuilt = await withStemcellDisk(sparse, async (disk) => {
      const out = Buffer.alloc(disk.size);
      for await (const piece of fileRegions(disk)) piece.data.copy(out, piece.offset);
      return out;
    });
    expect(rebuilt.value.equals(rootImg)).toBe(true);
    // The image it read, digested: what publish-light compares with its first pass.
    expect(rebuilt.imageDigests.sha1).toBe((await readStemcellTarball(sparse)).imageDigests.sha1);
  });
});

describe('manifests a reader must survive', () => {
  async function withManifest(text: string): Promise<string> {
    return tgzFile([{ name: 'stemcell.MF', data: text }, { name: 'image', data: otherImage }]);
  }
  const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`)].join('\n');

  const hostileManifests: [string, (m: string) => string, RegExp][] = [
    ['a YAML alias bomb', (m) => `${m}\n${bomb}\n`, /too many YAML aliases/],
    ['a version that is a path', (m) => m.replace(/^version: .*$/m, "version: '../../x'"), /invalid stemcell version "\.\.\/\.\.\/x"/],
    ['a name with an escape sequence', (m) => m.replace(/^name: .*$/m, 'name: "bosh\\e[2Jfake"'), /invalid stemcell name "bosh\\u001b\[2Jfake"/],
    ['deep nesting', (m) => `${m}\nx: ${'['.repeat(5000)}${']'.repeat(5000)}\n`, /stemcell\.MF: /],
    ['an operating system with a newline', (m) => m.replace(/^operating_system: .*$/m, 'operating_system: "ubuntu\\nPASS"'), /'operating_system' must be a name like ubuntu-jammy/],
  ];
  it.each(hostileManifests)('refuses %s with a one-line message', async (_what, edit, message) => {
    const error = await readStemcellTarball(await withManifest(edit(manifestText))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidStemcellError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });

  it('will not write a manifest it could not read back', () => {
    const amis = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`us-east-${i + 1}`, 'ami-0123456789abcdef0']));
    expect(() => parseAmiPairs(Object.entries(amis).map(([r, a]) => `${r}=${a}`))).toThrow(/no partition has more than 64/);
    expect(() => validateAmiMap(amis)).toThrow(/no partition has more than 64/);
  });
});

/**
 * Reading stemcells and OS images into what stemcell diff compares: real
 * tarballs of small root file systems with a dpkg database on a merged /usr,
 * hostile ones refused, and (as root) stemcells whose real ext4 disks are
 * mounted.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { diffSnapshots, FileDiff } from '../../lib/diff/diff';
import { MAX_DPKG_DATABASE_BYTES, MAX_OWNED_PATHS, packageOwners, readOsImageSnapshot, readSnapshot, readStemcellSnapshot, snapshotKind } from '../../lib/diff/snapshot';
import { InvalidStemcellError } from '../../lib/errors';
import { scratchOfEndedProcesses } from '../helpers/root';
import { IS_ROOT, osImageOf, PackageSpec, RootSpec, stemcellWithDisk, writeRoot } from '../helpers/root-fs';
import { makeHeavyStemcell, tempDir } from '../helpers/stemcells';
import { archive, entry, header, tgz } from '../helpers/tar';

const OLD_PACKAGES: PackageSpec[] = [
  { name: 'libc6', version: '2.36-9+deb12u8', multiArch: true, files: { '/lib/x86_64-linux-gnu/libc.so.6': 'libc 8' } },
  { name: 'libssl3', version: '3.0.15-1~deb12u1', multiArch: true, files: { '/lib/x86_64-linux-gnu/libssl.so.3': 'ssl' } },
  { name: 'openssh-server', version: '1:9.2p1-2+deb12u3', files: { '/etc/ssh/sshd_config': 'PermitRootLogin yes\n', '/usr/sbin/sshd': 'sshd' } },
  { name: 'telnet', version: '0.17-44', files: { '/usr/bin/telnet': 'telnet' } },
  { name: 'tzdata', version: '2024a-0+deb12u1', architecture: 'all', files: { '/usr/share/zoneinfo/UTC': 'utc 2024a' } },
];
const NEW_PACKAGES: PackageSpec[] = [
  { name: 'curl', version: '7.88.1-10+deb12u8', files: { '/usr/bin/curl': 'curl' } },
  { name: 'libc6', version: '2.36-9+deb12u9', multiArch: true, files: { '/lib/x86_64-linux-gnu/libc.so.6': 'libc 9' } },
  { name: 'libssl3', version: '3.0.15-1~deb12u1', multiArch: true, files: { '/lib/x86_64-linux-gnu/libssl.so.3': 'ssl' } },
  { name: 'openssh-server', version: '1:9.2p1-2+deb12u3', files: { '/etc/ssh/sshd_config': 'PermitRootLogin yes\n', '/usr/sbin/sshd': 'sshd' } },
  { name: 'tzdata', version: '2023c-5+deb12u1', architecture: 'all', files: { '/usr/share/zoneinfo/UTC': 'utc 2023c' } },
];

/** A week of changes: packages updated, added, removed, one downgraded; hardening and clean-up outside them. */
const OLD: RootSpec = {
  packages: OLD_PACKAGES,
  files: {
    '/etc/machine-id': 'abc\n',
    '/etc/hostname': 'old\n',
    '/usr/bin/helper': { content: 'x', mode: 0o755 },
    '/etc/alternatives/editor': { symlink: '/usr/bin/vim' },
    '/etc/old-link': { symlink: 'hostname' },
    '/etc/unchanged': 'same',
  },
};
const NEW: RootSpec = {
  packages: NEW_PACKAGES,
  files: {
    '/etc/machine-id': '',
    '/usr/bin/helper': { content: 'x', mode: 0o775, uid: 1000, gid: 1000 },
    '/etc/alternatives/editor': { symlink: '/usr/bin/nano' },
    '/etc/old-link': 'now a file',
    '/etc/unchanged': 'same',
    '/etc/new-file': 'new',
    // A hardening stage edits a conffile of a package whose version stayed...
    '/etc/ssh/sshd_config': { content: 'PermitRootLogin no\n', mode: 0o600 },
    // ...and a file that package lists under /lib, which lives under /usr/lib.
    '/usr/lib/x86_64-linux-gnu/libssl.so.3': 'patched',
  },
};

/** What the diff must find between OLD and NEW, however they were packed. */
function expectWeeklyChanges(files: FileDiff | undefined): void {
  expect(files?.added.map((f) => f.path)).toEqual(['/etc/new-file']);
  expect(files?.removed.map((f) => f.path)).toEqual(['/etc/hostname']);
  expect(files?.changed.map((f) => [f.path, f.changed, f.packages])).toEqual([
    ['/etc/alternatives/editor', ['link target'], []],
    ['/etc/machine-id', ['content'], []],
    ['/etc/old-link', ['type'], []],
    ['/etc/ssh/sshd_config', ['content', 'mode'], ['openssh-server']],
    ['/usr/bin/helper', IS_ROOT ? ['mode', 'owner'] : ['mode'], []],
    ['/usr/lib/x86_64-linux-gnu/libssl.so.3', ['content'], ['libssl3']],
  ]);
  const helper = files!.changed.find((f) => f.path === '/usr/bin/helper')!;
  expect([helper.from.mode, helper.to.mode]).toEqual(['0755', '0775']);
  if (IS_ROOT) expect([helper.from.owner, helper.to.owner]).toEqual(['0:0', '1000:1000']);
}

let dir: string;
let oldRoot: string;
let newRoot: string;
let oldImage: string;
let newImage: string;
beforeAll(() => {
  dir = tempDir('diff-snapshot-');
  oldRoot = writeRoot(fs.mkdtempSync(path.join(dir, 'old-')), OLD);
  newRoot = writeRoot(fs.mkdtempSync(path.join(dir, 'new-')), NEW);
  oldImage = osImageOf(oldRoot, path.join(dir, 'old-os-image.tgz'));
  newImage = osImageOf(newRoot, path.join(dir, 'new-os-image.tgz'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const put = (name: string, bytes: Buffer): string => {
  const file = path.join(fs.mkdtempSync(path.join(dir, 'x-')), name);
  fs.writeFileSync(file, bytes);
  return file;
};

describe('OS images, read in place', () => {
  it('are told from stemcells as stemcell check tells them', async () => {
    expect(await snapshotKind(oldImage)).toBe('os-image');
    expect(await snapshotKind(await makeHeavyStemcell(fs.mkdtempSync(path.join(dir, 's-'))))).toBe('stemcell');
  });

  it('give packages from var/lib/dpkg/status and every file with its digest', async () => {
    const s = await readOsImageSnapshot(oldImage);
    expect(s.kind).toBe('os-image');
    expect(s.packages.map((p) => `${p.name} ${p.version} ${p.architecture}`)).toEqual(OLD_PACKAGES.map((p) => `${p.name} ${p.version} ${p.architecture ?? 'amd64'}`));
    expect(s.files?.get('/lib')).toMatchObject({ type: 'symlink', linkTarget: 'usr/lib' });
    expect(s.files?.get('/usr/bin/helper')).toMatchObject({ type: 'file', mode: 0o755, sha256: '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881' });
    expect(s.owners?.get('/usr/lib/x86_64-linux-gnu/libssl.so.3')).toEqual(new Set(['libssl3']));
    expect(s.owners?.get('/lib/x86_64-linux-gnu/libssl.so.3')).toEqual(new Set(['libssl3']));
  });

  it('show what a weekly rebuild changed outside its package updates', async () => {
    const diff = diffSnapshots(await readOsImageSnapshot(oldImage), await readOsImageSnapshot(newImage));
    expect(diff.notes).toEqual([]);
    expect(diff.packages.added.map((p) => p.name)).toEqual(['curl']);
    expect(diff.packages.removed.map((p) => p.name)).toEqual(['telnet']);
    expect(diff.packages.upgraded.map((p) => p.name)).toEqual(['libc6']);
    expect(diff.packages.downgraded.map((p) => p.name)).toEqual(['tzdata']);
    expectWeeklyChanges(diff.files);
  });

  it('give a hard link the content of its target', async () => {
    const root = writeRoot(fs.mkdtempSync(path.join(dir, 'links-')), { packages: [], files: { '/usr/bin/a': 'one' } });
    fs.linkSync(path.join(root, 'usr/bin/a'), path.join(root, 'usr/bin/b'));
    const s = await readOsImageSnapshot(osImageOf(root, path.join(dir, 'links.tgz')));
    expect(s.files?.get('/usr/bin/b')?.sha256).toBe(s.files?.get('/usr/bin/a')?.sha256);
    expect(s.files?.get('/usr/bin/b')?.type).toBe('file');
  });

  it('with --no-files, give packages only, and say so', async () => {
    const s = await readOsImageSnapshot(oldImage, { files: false });
    expect(s.files).toBeUndefined();
    expect(s.packages).toHaveLength(OLD_PACKAGES.length);
    expect(diffSnapshots(s, await readOsImageSnapshot(newImage, { files: false })).notes).toEqual(['files not read (--no-files)']);
  });
});

describe('hostile OS images are refused with the reader\'s one-line message', () => {
  const status = 'Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n';
  it.each([
    ['a path with ..', () => tgz(archive(entry({ name: 'var/lib/dpkg/status' }, status), entry({ name: 'etc/../../escape' }, 'x'))), /'\.\.' would leave the target directory/],
    ['a symlink, then a file below it', () => tgz(archive(entry({ name: 'etc', type: '2', linkname: '/etc' }), entry({ name: 'etc/cron.d/x' }, 'x'))), /below "etc", which is a symlink/],
    ['a truncated gzip', () => fs.readFileSync(oldImage).subarray(0, 700), /corrupt or truncated gzip data|truncated tarball/],
    ['no dpkg database', () => tgz(archive(entry({ name: 'etc/hostname' }, 'x'))), /is not an OS image: it has no dpkg database/],
    ['a dpkg status that is not one', () => tgz(archive(entry({ name: 'var/lib/dpkg/status' }, 'Package: a\nnonsense\n'))), /var\/lib\/dpkg\/status: line 2/],
  ])('%s', async (_what, bytes, message) => {
    const error = await readOsImageSnapshot(put('evil.tgz', bytes())).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidStemcellError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toMatch(/\n/);
  });

  it('a tiny tarball whose dpkg database would unpack into gigabytes of memory (refused before it is read)', async () => {
    const file = path.join(dir, 'bomb.tgz');
    async function* tar(): AsyncGenerator<Buffer> {
      const size = 2 * 1024 ** 3;
      yield header({ name: 'var/lib/dpkg/status', size });
      const zeros = Buffer.alloc(4 * 1024 * 1024);
      for (let at = 0; at < size; at += zeros.length) yield zeros;
      yield Buffer.alloc(1024);
    }
    // Only the start is written: the reader must refuse from the header, before the body.
    const source = tar();
    const head = [(await source.next()).value as Buffer, ...(await Promise.all([source.next(), source.next()])).map((r) => r.value as Buffer)];
    await pipeline(Readable.from(head), createGzip({ level: 1 }), fs.createWriteStream(file));
    const before = process.memoryUsage().rss;
    const error = await readOsImageSnapshot(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidStemcellError);
    expect((error as Error).message).toMatch(new RegExp(`dpkg database \\(status and package lists\\) holds more than ${MAX_DPKG_DATABASE_BYTES} bytes`));
    expect(process.memoryUsage().rss - before).toBeLessThan(128 * 1024 * 1024);
  });
});

describe('packageOwners', () => {
  it('finds a listed path behind a symlinked directory, and keeps the path as listed', () => {
    const lookup = (p: string) => (p === '/lib' ? { path: p, type: 'symlink' as const, mode: 0o777, uid: 0, gid: 0, size: 7, linkTarget: 'usr/lib' } : undefined);
    const owners = packageOwners(new Map([['libc6:amd64', '/.\n/lib\n/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu/libc.so.6\n'], ['base-files', '/.\n/usr\n']]), { lstat: lookup }, 'x');
    expect(owners.get('/lib/x86_64-linux-gnu/libc.so.6')).toEqual(new Set(['libc6']));
    expect(owners.get('/usr/lib/x86_64-linux-gnu/libc.so.6')).toEqual(new Set(['libc6']));
    expect(owners.get('/')).toEqual(new Set(['libc6', 'base-files']));
  });

  it('refuses a list line that climbs with .., which could claim any file', () => {
    expect(() => packageOwners(new Map([['evil:amd64', '/.\n/usr/share/doc/../../../etc/shadow\n']]), { lstat: () => undefined }, 'evil.tgz')).toThrow(
      'evil.tgz: the package list of evil names "/usr/share/doc/../../../etc/shadow", a path with ..; dpkg never writes one',
    );
  });

  it('refuses lists that name more paths than a root file system has, before they fill memory', () => {
    const many = Array.from({ length: MAX_OWNED_PATHS + 1 }, (_, i) => `/${i.toString(36)}`).join('\n');
    expect(() => packageOwners(new Map([['a', many]]), { lstat: () => undefined }, 'evil.tgz')).toThrow(new RegExp(`evil\\.tgz: its package lists name more than ${MAX_OWNED_PATHS} paths`));
  });
});

describe('stemcells without their files (--no-files)', () => {
  it('give the manifest, packages.txt and the other top-level files', async () => {
    const file = await stemcellWithDisk(fs.mkdtempSync(path.join(dir, 's-')), oldRoot, OLD_PACKAGES);
    const s = await readStemcellSnapshot(file, { files: false });
    expect(s).toMatchObject({ kind: 'stemcell', label: 'bosh-aws-xen-hvm-ubuntu-jammy-go_agent 1.260', infrastructure: 'aws', notes: ['files not read (--no-files)'] });
    expect(s.manifest).toMatchObject({ version: '1.260', stemcell_formats: ['aws-raw'] });
    expect(s.packages.map((p) => p.name)).toEqual(OLD_PACKAGES.map((p) => p.name));
    expect([...(s.topLevelFiles?.keys() ?? [])].sort()).toEqual(['dev_tools_file_list.txt', 'packages.txt', 'stemcell.MF']);
    expect(s.files).toBeUndefined();
  });

  it('refuse a stemcell whose image does not match its sha1', async () => {
    const file = await makeHeavyStemcell(fs.mkdtempSync(path.join(dir, 's-')), { tamper: (m) => ({ ...m, sha1: '0'.repeat(40) }) });
    await expect(readStemcellSnapshot(file, { files: false })).rejects.toThrow(/image does not match the manifest's sha1/);
  });
});

const asRoot = IS_ROOT ? describe : describe.skip;

asRoot('stemcells with their files: real ext4 disks, mounted read-only (root)', () => {
  let oldStemcell: string;
  let newStemcell: string;
  beforeAll(async () => {
    oldStemcell = await stemcellWithDisk(fs.mkdtempSync(path.join(dir, 'so-')), oldRoot, OLD_PACKAGES, { version: '1.260' });
    newStemcell = await stemcellWithDisk(fs.mkdtempSync(path.join(dir, 'sn-')), newRoot, NEW_PACKAGES, { version: '1.261' });
  });

  it('find the same changes in the mounted disks as in the OS images, and the manifest fields', async () => {
    const diff = diffSnapshots(await readSnapshot(oldStemcell, 'stemcell'), await readSnapshot(newStemcell, 'stemcell'));
    expect(diff.notes).toEqual([]);
    expect(diff.manifest?.map((c) => c.field)).toEqual(['version', 'sha1', 'cloud_properties.version']);
    expect(diff.packages.upgraded.map((p) => `${p.name} ${p.from} -> ${p.to}`)).toEqual(['libc6 2.36-9+deb12u8 -> 2.36-9+deb12u9']);
    expect(diff.packages.downgraded.map((p) => p.name)).toEqual(['tzdata']);
    expectWeeklyChanges(diff.files);
    expect(diff.topLevelFiles).toEqual([]);
    expect(scratchOfEndedProcesses().mounts.filter((m) => m.includes(`-${process.pid}-`))).toEqual([]);
  });

  it('compare a stemcell with an OS image of the same files: nothing changed but the disk\'s own lost+found', async () => {
    const diff = diffSnapshots(await readSnapshot(newStemcell, 'stemcell'), await readSnapshot(newImage, 'os-image'));
    expect(diff.notes).toEqual(['comparing a stemcell with an OS image: packages and files only']);
    expect(diff.packages).toEqual({ added: [], removed: [], upgraded: [], downgraded: [] });
    expect(diff.files).toEqual({ added: [], removed: [expect.objectContaining({ path: '/lost+found', type: 'directory' })], changed: [] });
  });

  it('compare a light stemcell without files, and say why', async () => {
    const light = await makeHeavyStemcell(fs.mkdtempSync(path.join(dir, 'l-')), {
      image: Buffer.alloc(0),
      tamper: (m) => ({ ...m, sha1: 'da39a3ee5e6b4b0d3255bfef95601890afd80709', stemcell_formats: ['aws-light'], cloud_properties: { infrastructure: 'aws', ami: { 'us-east-1': 'ami-0123456789abcdef0' } } }),
    });
    const diff = diffSnapshots(await readSnapshot(oldStemcell, 'stemcell'), await readSnapshot(light, 'stemcell'));
    expect(diff.files).toBeUndefined();
    expect(diff.notes).toEqual(['new: a stemcell of format aws-light: no disk to read files from']);
    expect(diff.manifest?.map((c) => c.field)).toContain('stemcell_formats');
  });
});

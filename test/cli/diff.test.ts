/**
 * `stemcell diff` as a real process: what a security team reads after a
 * weekly rebuild, the same as JSON, and every refusal as one line with the
 * documented exit code.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { scratchOfEndedProcesses } from '../helpers/root';
import { IS_ROOT, osImageOf, PackageSpec, stemcellWithDisk, writeRoot } from '../helpers/root-fs';
import { makeHeavyStemcell, tempDir } from '../helpers/stemcells';
import { archive, entry, header, tgz } from '../helpers/tar';

const CLI = path.join(__dirname, '..', '..', 'bin', 'stemcell.js');

interface Result {
  code: number;
  out: string;
  err: string;
}

/** Run as a user who is not root: nobody, when the tests run as root. */
const NOT_ROOT = IS_ROOT ? { uid: 65534 } : {};

function stemcell(args: string[], as: { uid?: number } = {}): Result {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', ...(as.uid !== undefined ? { uid: as.uid, gid: as.uid } : {}) });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** One line on stderr, no stack trace, nothing on stdout. */
function expectRefused(r: Result, code: number, message: RegExp): void {
  expect(r.err).toMatch(message);
  expect(r.code).toBe(code);
  expect(r.err.trimEnd().split('\n')).toHaveLength(1);
  expect(r.err).not.toMatch(/^\s+at /m);
  expect(r.out).toBe('');
}

const OLD: PackageSpec[] = [
  { name: 'libc6', version: '2.36-9+deb12u8', multiArch: true, files: { '/lib/x86_64-linux-gnu/libc.so.6': 'libc 8' } },
  { name: 'openssh-server', version: '1:9.2p1-2+deb12u3', files: { '/etc/ssh/sshd_config': 'PermitRootLogin yes\n' } },
  { name: 'telnet', version: '0.17-44', files: { '/usr/bin/telnet': 'telnet' } },
];
const NEW: PackageSpec[] = [
  { name: 'curl', version: '7.88.1-10+deb12u8', files: { '/usr/bin/curl': 'curl' } },
  { name: 'libc6', version: '2.36-9+deb12u9', multiArch: true, files: { '/lib/x86_64-linux-gnu/libc.so.6': 'libc 9' } },
  { name: 'openssh-server', version: '1:9.2p1-2+deb12u3', files: { '/etc/ssh/sshd_config': 'PermitRootLogin yes\n' } },
];

let dir: string;
let oldImage: string;
let newImage: string;
let oldStemcell: string;
let newStemcell: string;
let oldRoot: string;
let newRoot: string;
beforeAll(async () => {
  dir = tempDir('diff-cli-');
  // Readable by anyone: the tests run the CLI as nobody too.
  fs.chmodSync(dir, 0o755);
  oldRoot = writeRoot(fs.mkdtempSync(path.join(dir, 'old-')), { packages: OLD, files: { '/etc/machine-id': 'abc\n' } });
  newRoot = writeRoot(fs.mkdtempSync(path.join(dir, 'new-')), { packages: NEW, files: { '/etc/machine-id': '', '/etc/ssh/sshd_config': { content: 'PermitRootLogin no\n', mode: 0o600 } } });
  oldImage = osImageOf(oldRoot, path.join(dir, 'old-os-image.tgz'));
  newImage = osImageOf(newRoot, path.join(dir, 'new-os-image.tgz'));
  oldStemcell = await stemcellWithDisk(fs.mkdtempSync(path.join(dir, 'so-')), oldRoot, OLD, { version: '1.260' });
  newStemcell = await stemcellWithDisk(fs.mkdtempSync(path.join(dir, 'sn-')), newRoot, NEW, { version: '1.261' });
  for (const f of [oldImage, newImage, oldStemcell, newStemcell]) {
    fs.chmodSync(path.dirname(f), 0o755);
    fs.chmodSync(f, 0o644);
  }
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A tar size field in GNU's base-256 form, for sizes beyond the 11 octal digits. */
function base256(n: number): Buffer {
  const field = Buffer.alloc(12);
  field.writeBigUInt64BE(BigInt(n), 4);
  field[0] = 0x80;
  return field;
}

const put = (name: string, bytes: Buffer): string => {
  const file = path.join(fs.mkdtempSync(path.join(dir, 'x-')), name);
  fs.writeFileSync(file, bytes);
  return file;
};

describe('stemcell diff of two OS images', () => {
  it('prints packages and the files no package change explains', () => {
    const r = stemcell(['diff', oldImage, newImage]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Old  OS image of an unknown system  \(.*old-os-image\.tgz\)$/m);
    expect(r.out).not.toMatch(/^Manifest/m);
    expect(r.out).toContain(
      [
        'Packages: 1 added, 1 removed, 1 upgraded, 0 downgraded',
        '  added       curl 7.88.1-10+deb12u8',
        '  removed     telnet 0.17-44',
        '  upgraded    libc6 2.36-9+deb12u8 -> 2.36-9+deb12u9',
        '',
        'Files outside packages: 0 added, 0 removed, 2 changed',
        '  changed  /etc/machine-id  content',
        '  changed  /etc/ssh/sshd_config  content; mode 0644 -> 0600  (package openssh-server, same version)',
        '',
      ].join('\n'),
    );
    expect(r.out).not.toMatch(/Other files/);
  });

  it('prints the same as JSON for scripts', () => {
    const r = stemcell(['diff', '--json', oldImage, newImage]);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.out);
    expect(json.a).toEqual({ source: oldImage, kind: 'os-image', label: 'OS image of an unknown system' });
    expect(json.packages.upgraded).toEqual([{ name: 'libc6', architecture: 'amd64', from: '2.36-9+deb12u8', to: '2.36-9+deb12u9' }]);
    expect(json.files.changed[1]).toMatchObject({ path: '/etc/ssh/sshd_config', changed: ['content', 'mode'], from: { mode: '0644' }, to: { mode: '0600' }, packages: ['openssh-server'] });
    expect(json.manifest).toBeUndefined();
  });

  it('finds nothing between an image and itself, and exits 0', () => {
    const r = stemcell(['diff', oldImage, oldImage]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Packages: 0 added, 0 removed, 0 upgraded, 0 downgraded\n\nFiles outside packages: 0 added, 0 removed, 0 changed\n$/m);
  });

  it('needs no root for OS images', () => {
    const r = stemcell(['diff', oldImage, newImage], NOT_ROOT);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
  });
});

describe('stemcell diff of stemcells without their files', () => {
  it('compares manifests, packages.txt and the other top-level files, with no root', () => {
    const r = stemcell(['diff', '--no-files', oldStemcell, newStemcell], NOT_ROOT);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Old  bosh-aws-xen-hvm-ubuntu-jammy-go_agent 1\.260  \(/m);
    expect(r.out).toMatch(/^note: files not read \(--no-files\)$/m);
    expect(r.out).toMatch(/^Manifest: 3 fields changed\n  version: 1\.260 -> 1\.261\n  sha1: [0-9a-f]{40} -> [0-9a-f]{40}\n  cloud_properties\.version: 1\.260 -> 1\.261\n/m);
    expect(r.out).toMatch(/^Packages: 1 added, 1 removed, 1 upgraded, 0 downgraded$/m);
    expect(r.out).toMatch(/^Files outside packages: not compared$/m);
    expect(r.out).toMatch(/^Other files: no changes$/m);
  });

  it('says in one line that stemcells of two infrastructures differ by design', async () => {
    const openstack = await makeHeavyStemcell(fs.mkdtempSync(path.join(dir, 'os-')), { infrastructure: 'openstack' });
    const aws = await makeHeavyStemcell(fs.mkdtempSync(path.join(dir, 'aws-')));
    const r = stemcell(['diff', '--no-files', aws, openstack]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^note: the stemcells are for different infrastructures \(aws and openstack\): their manifests, disks and agent settings differ by design$/m);
    expect(r.out).toMatch(/^  stemcell_formats: \["aws-raw"\] -> \["openstack-qcow2"\]$/m);
  });

  it('escapes text from the stemcells before it reaches the terminal', async () => {
    const evil = await makeHeavyStemcell(fs.mkdtempSync(path.join(dir, 'evil-')), {
      packagesTxt: 'ii  evil\u001b[2J\u001b[H 1.0 amd64 x\n',
      tamper: (m) => ({ ...m, cloud_properties: { ...m.cloud_properties, disk_format: 'raw\u009b31m' } }),
    });
    const r = stemcell(['diff', '--no-files', oldStemcell, evil]);
    expect(r.code).toBe(0);
    expect(r.out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(r.out).toMatch(/^  added       evil\\x1b\[2J\\x1b\[H 1\.0$/m);
    expect(r.out).toMatch(/^  cloud_properties\.disk_format: raw -> raw\\x9b31m$/m);
  });
});

describe('refusals', () => {
  it('without root, a stemcell\'s files: exit 3, saying what --no-files compares', () => {
    const r = stemcell(['diff', oldStemcell, newStemcell], NOT_ROOT);
    expectRefused(r, 3, /^stemcell: comparing the files of a stemcell needs root, to mount its disk read-only; run it with sudo, or pass --no-files to compare manifests, packages and the other top-level files only$/m);
    expectRefused(stemcell(['diff', oldImage, oldStemcell], NOT_ROOT), 3, /needs root/);
  });

  it('a missing file or a directory: exit 3', () => {
    expectRefused(stemcell(['diff', oldImage, path.join(dir, 'nope.tgz')]), 3, /stemcell or OS image .*nope\.tgz does not exist; give the path of a stemcell or OS image \.tgz/);
    expectRefused(stemcell(['diff', dir, oldImage]), 3, /is a directory/);
  });

  it('one argument, or an unknown option: exit 2', () => {
    expect(stemcell(['diff', oldImage]).code).toBe(2);
    expect(stemcell(['diff', oldImage, newImage, '--yaml']).code).toBe(2);
  });

  const status = 'Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n';
  it.each([
    ['an OS image with a path holding ..', () => put('dots.tgz', tgz(archive(entry({ name: 'var/lib/dpkg/status' }, status), entry({ name: 'etc/../../x' }, 'x')))), /'\.\.' would leave the target directory/],
    ['an OS image with a symlink, then a file below it', () => put('below.tgz', tgz(archive(entry({ name: 'etc', type: '2', linkname: '/etc' }), entry({ name: 'etc/cron.d/x' }, 'x')))), /below "etc", which is a symlink/],
    ['a truncated OS image', () => put('cut.tgz', fs.readFileSync(newImage).subarray(0, 700)), /corrupt or truncated gzip data|truncated tarball/],
    ['a truncated stemcell', () => put('cut.tgz', fs.readFileSync(newStemcell).subarray(0, 2000)), /corrupt or truncated gzip data|truncated tarball/],
    [
      'a stemcell whose image is a tarball bomb (a root.img of 300 GiB)',
      () => makeHeavyStemcell(fs.mkdtempSync(path.join(dir, 'bomb-')), { image: tgz(header({ name: 'root.img', sizeField: base256(300 * 1024 ** 3) })) }),
      /refusing entry "root\.img": 322122547200 bytes, more than the \d+ allowed/,
    ],
  ])('%s: exit 1, one line, nothing written or left behind', async (_what, make, message) => {
    const file = await make();
    const before = new Set(scratchOfEndedProcesses().dirs);
    // As root the first reads a stemcell through the mount; without root, both stop before it.
    for (const args of [['diff', ...(IS_ROOT ? [] : ['--no-files']), file, newImage], ['diff', '--no-files', newImage, file]]) {
      expectRefused(stemcell(args), 1, message);
    }
    expect(scratchOfEndedProcesses().dirs.filter((d) => !before.has(d))).toEqual([]);
    expect(fs.readdirSync(path.dirname(file))).toEqual([path.basename(file)]);
  });
});

const asRoot = IS_ROOT ? describe : describe.skip;

asRoot('stemcell diff of stemcells with their files (root: the disks are mounted)', () => {
  it('prints every section', () => {
    const r = stemcell(['diff', oldStemcell, newStemcell]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Manifest: 3 fields changed$/m);
    expect(r.out).toMatch(/^Packages: 1 added, 1 removed, 1 upgraded, 0 downgraded$/m);
    expect(r.out).toContain('Files outside packages: 0 added, 0 removed, 2 changed\n  changed  /etc/machine-id  content\n  changed  /etc/ssh/sshd_config  content; mode 0644 -> 0600  (package openssh-server, same version)\n');
    expect(r.out).toMatch(/^Other files: no changes$/m);
    expect(r.out).not.toMatch(/^note:/m);
  });
});

/**
 * Reading an OS image tarball for the checks: the one reader's rules, and
 * memory bounded whatever the archive claims.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createGzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { DirectoryView, MAX_KEPT_BYTES, TarballView } from '../../lib/check/fs-view';
import { runChecks } from '../../lib/check/run-checks';
import { InvalidStemcellError } from '../../lib/errors';
import { tempDir } from '../helpers/stemcells';
import { archive, entry, gnuTar, header, tgz } from '../helpers/tar';

let dir: string;
beforeAll(() => (dir = tempDir('fs-view-')));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, bytes: Buffer): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return file;
}

describe('TarballView', () => {
  it('reads what GNU tar packed: modes, owners, links, contents of configuration files', async () => {
    const root = fs.mkdtempSync(path.join(dir, 'root-'));
    fs.mkdirSync(path.join(root, 'etc', 'ssh'), { recursive: true });
    fs.writeFileSync(path.join(root, 'etc', 'ssh', 'sshd_config'), 'PermitRootLogin no\n', { mode: 0o600 });
    fs.writeFileSync(path.join(root, 'etc', 'shadow'), 'root:!:1::::::\n');
    fs.chmodSync(path.join(root, 'etc', 'shadow'), 0o000);
    fs.linkSync(path.join(root, 'etc', 'shadow'), path.join(root, 'etc', 'shadow.hard'));
    fs.symlinkSync('ssh/sshd_config', path.join(root, 'etc', 'sshd_link'));
    const view = await TarballView.fromFile(write('root.tgz', tgz(gnuTar(root, '--sort=name', '.'))));
    expect(view.read('/etc/ssh/sshd_config')).toBe('PermitRootLogin no\n');
    expect(view.read('/etc/sshd_link')).toBe('PermitRootLogin no\n');
    expect(view.lstat('/etc/shadow')).toMatchObject({ type: 'file', mode: 0, uid: 0 });
    expect(view.read('/etc/shadow.hard')).toBe('root:!:1::::::\n');
    expect(view.list('/etc')).toEqual(['shadow', 'shadow.hard', 'ssh', 'sshd_link']);
  });

  it('refuses an OS image whose entries would escape a root file system', async () => {
    const evil = write('evil.tgz', tgz(archive(entry({ name: 'etc', type: '2', linkname: '/etc' }), entry({ name: 'etc/cron.d/x' }, '* * * * * root sh'))));
    await expect(TarballView.fromFile(evil)).rejects.toThrow(/below "etc", which is a symlink/);
  });

  it('refuses a tiny archive that would unpack gigabytes of "configuration" into memory', async () => {
    // 400 files of 4 MiB of zeros under /etc: 1.6 GiB kept, from a file of about 1.6 MiB.
    const file = path.join(dir, 'bomb.tgz');
    async function* tar(): AsyncGenerator<Buffer> {
      const zeros = Buffer.alloc(4 * 1024 * 1024);
      for (let i = 0; i < 400; i++) {
        yield header({ name: `etc/f${i}`, size: zeros.length });
        yield zeros;
      }
      yield Buffer.alloc(1024);
    }
    await pipeline(Readable.from(tar()), createGzip({ level: 1 }), fs.createWriteStream(file));
    expect(fs.statSync(file).size).toBeLessThan(16 * 1024 * 1024);
    const before = process.memoryUsage().rss;
    const error = await TarballView.fromFile(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidStemcellError);
    expect((error as Error).message).toMatch(new RegExp(`more than ${MAX_KEPT_BYTES} bytes of configuration files`));
    expect(process.memoryUsage().rss - before).toBeLessThan(256 * 1024 * 1024);
  });
});

describe('DirectoryView', () => {
  it('refuses a tree it cannot read in full, rather than pass what it never saw', () => {
    const root = fs.mkdtempSync(path.join(dir, 'deep-'));
    // Deeper than PATH_MAX: lstat of the absolute path fails with ENAMETOOLONG.
    // Made by walking down (relative names stay short); the worker's own directory is restored.
    const cwd = process.cwd();
    const level = 'd'.repeat(250);
    try {
      process.chdir(root);
      for (let i = 0; i < 20; i++) {
        fs.mkdirSync(level);
        process.chdir(level);
      }
      fs.writeFileSync('sh', '#!/bin/sh\n');
      fs.chmodSync('sh', 0o4755);
    } finally {
      process.chdir(cwd);
    }
    try {
      expect(() => [...new DirectoryView(root).entries()]).toThrow(/^cannot read \/d+\.\.\.d+ \(\d+ bytes\) \(ENAMETOOLONG\); a file system that cannot be read in full is not one we check or compare$/);
    } finally {
      // GNU rm walks by directory handles; Node's rmSync would meet the same ENAMETOOLONG.
      spawnSync('rm', ['-rf', root]);
    }
  });

  it('sees files whose names are not UTF-8, so the scans cannot miss them', () => {
    const root = fs.mkdtempSync(path.join(dir, 'names-'));
    fs.chmodSync(root, 0o755);
    const bin = path.join(root, 'usr', 'bin');
    fs.mkdirSync(bin, { recursive: true });
    const hidden = Buffer.concat([Buffer.from(`${bin}/sh`), Buffer.from([0xff])]);
    fs.writeFileSync(hidden, '#!/bin/sh\n');
    fs.chmodSync(hidden, 0o4755);
    const hiddenDir = Buffer.concat([Buffer.from(`${root}/hid`), Buffer.from([0xfe])]);
    fs.mkdirSync(hiddenDir);
    const writable = Buffer.concat([hiddenDir, Buffer.from('/anyone-writes')]);
    fs.writeFileSync(writable, 'x');
    fs.chmodSync(writable, 0o666);
    const results = Object.fromEntries(runChecks(new DirectoryView(root), root).results.map((r) => [r.id, r]));
    expect(results['files.setuid-allowlist']).toMatchObject({ ok: false, detail: 'also on: /usr/bin/sh\\xff (4755)' });
    expect(results['files.no-world-writable-files']).toMatchObject({ ok: false, detail: '/hid\\xfe/anyone-writes' });
    expect(results['files.names-utf8']).toMatchObject({ ok: false, detail: expect.stringMatching(/^not UTF-8: /) });
    expect(results['files.names-utf8'].detail.replace('not UTF-8: ', '').split(', ').sort()).toEqual(['/hid\\xfe', '/hid\\xfe/anyone-writes', '/usr/bin/sh\\xff']);
    expect(results['files.root-directory']).toMatchObject({ ok: true });
  });
});

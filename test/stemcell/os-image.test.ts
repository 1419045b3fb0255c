/** Vetting an OS image before a stemcell build unpacks it, and the time the stemcell takes on. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { EnvironmentError } from '../../lib/errors';
import { pendingReleases } from '../../lib/scratch';
import { vetOsImage } from '../../lib/stemcell/os-image';
import { writeRoot } from '../helpers/root-fs';
import { tempDir } from '../helpers/stemcells';

const OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n';

function osImage(mtime: string): string {
  const dir = tempDir('vet-');
  const root = writeRoot(fs.mkdtempSync(path.join(dir, 'root-')), { packages: [{ name: 'base-files', version: '12.4+deb12u13' }], files: { 'etc/os-release': OS_RELEASE } });
  const file = path.join(dir, 'os.tgz');
  fs.writeFileSync(file, gzipSync(execFileSync('tar', ['--create', '--numeric-owner', '--sort=name', `--mtime=${mtime}`, '--directory', root, '.'])));
  return file;
}

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe('vetOsImage', () => {
  it("gives the newest time of the image's files: the OS image build's clock, which the stemcell takes on", async () => {
    const file = osImage('@1795227046');
    expect(await vetOsImage(file, 'debian-bookworm')).toEqual({ newestMtime: 1_795_227_046, sha256: sha256(file) });
  });

  it('digests the whole file, a trailer past the tar stream included', async () => {
    const file = osImage('@1795227046');
    // A second gzip member after the first: gunzip reads on, so the digest must cover it.
    fs.appendFileSync(file, gzipSync(Buffer.alloc(10240)));
    expect((await vetOsImage(file, 'debian-bookworm')).sha256).toBe(sha256(file));
  });

  it('writes the tar it vetted, decompressed, for GNU tar to unpack', async () => {
    const file = osImage('@1795227046');
    const tar = path.join(path.dirname(file), 'os-image.tar');
    await vetOsImage(file, 'debian-bookworm', file, { tarTo: tar });
    expect(fs.readFileSync(tar).equals(gunzipSync(fs.readFileSync(file)))).toBe(true);
  });

  it.each([
    ['another OS', (file: string) => file, 'ubuntu-noble', /is an OS image of debian-bookworm, not ubuntu-noble/],
    ['a truncated file', (file: string) => (fs.truncateSync(file, 300), file), 'debian-bookworm', /corrupt or truncated gzip data/],
  ])('leaves no tar behind when it refuses %s', async (_what, spoil, os, message) => {
    const file = spoil(osImage('@1795227046'));
    const tar = path.join(path.dirname(file), 'os-image.tar');
    await expect(vetOsImage(file, os, file, { tarTo: tar })).rejects.toThrow(message);
    expect(fs.existsSync(tar)).toBe(false);
  });

  it('names the tar it cannot write, as a fault of the machine', async () => {
    const file = osImage('@1795227046');
    const error = await vetOsImage(file, 'debian-bookworm', file, { tarTo: '/nonexistent/os-image.tar' }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(EnvironmentError);
    expect((error as Error).message).toBe('cannot write /nonexistent/os-image.tar: no such file or directory');
  });

  it('accepts zero bytes after the gzip stream, as gzip -t does, and digests them too', async () => {
    const file = osImage('@1795227046');
    fs.appendFileSync(file, Buffer.alloc(1024));
    const tar = path.join(path.dirname(file), 'os-image.tar');
    expect(await vetOsImage(file, 'debian-bookworm', file, { tarTo: tar })).toEqual({ newestMtime: 1_795_227_046, sha256: sha256(file) });
    expect(fs.existsSync(`${tar}.partial`)).toBe(false);
  });

  it('leaves the half-written tar to the exit handlers while it reads, and takes it back after', async () => {
    const file = osImage('@1795227046');
    const tar = path.join(path.dirname(file), 'os-image.tar');
    const vetting = vetOsImage(file, 'debian-bookworm', file, { tarTo: tar });
    expect(pendingReleases()).toContain(`the unpacked OS image ${tar}.partial`);
    await vetting;
    expect(pendingReleases()).not.toContain(`the unpacked OS image ${tar}.partial`);
  });

  it('refuses an OS image with files from the future, before any stage runs', async () => {
    await expect(vetOsImage(osImage('@4102444800'), 'debian-bookworm', 'future.tgz')).rejects.toThrow(
      'future.tgz holds files dated 2100-01-01, in the future; no OS image build writes that: build the OS image again',
    );
  });
});

/**
 * The root file system inside a stemcell tarball, mounted read-only (no
 * devices, no setuid, no execution) at its partition's offset for the checks,
 * then unmounted and detached, and the scratch space removed, on every way
 * out (lib/scratch.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { partitionTable, run, unpackDisk } from '../boot/disk';
import { ensureHostPackages, requireRoot } from '../builder/host';
import { InvalidStemcellError } from '../errors';
import { onExit, SCRATCH_ROOT, withScratch } from '../scratch';
import { rootPartitionOf, SECTOR_BYTES } from '../stemcell/disk-layout';
import { StemcellTarballContents } from '../stemcell/tarball';
import { DirectoryView } from './fs-view';

/**
 * `use` gets the mounted root and what the one read of the tarball found
 * (manifest, side files, the image's digests). `scratchRoot`: where the disk
 * is written out and mounted. @default /var/tmp
 */
export async function withStemcellRoot<T>(
  tarball: string,
  use: (view: DirectoryView, contents: StemcellTarballContents) => Promise<T> | T,
  installHostPackages = false,
  scratchRoot = SCRATCH_ROOT,
): Promise<T> {
  requireRoot('checking a stemcell (it mounts the image read-only)');
  ensureHostPackages(['check'], installHostPackages);
  return withScratch('check', async (scratch) => {
    const disk = await unpackDisk(tarball, scratch);
    let raw = disk.file;
    if (disk.format !== 'raw') {
      raw = path.join(scratch, 'root.raw');
      run('qemu-img', ['convert', '-f', disk.format, '-O', 'raw', disk.file, raw]);
      fs.rmSync(disk.file);
    }
    const root = rootPartitionOf(partitionTable(raw, 'raw'));
    if (!root) throw new InvalidStemcellError(`${tarball}: the disk has no Linux partition`);
    const loop = run('losetup', ['--find', '--show', '--read-only', '--offset', String(root.start * SECTOR_BYTES), '--sizelimit', String(root.size * SECTOR_BYTES), raw], 'host').trim();
    const detach = onExit(`loop device ${loop}`, () => run('losetup', ['--detach', loop], 'host'));
    const mnt = path.join(scratch, 'root');
    fs.mkdirSync(mnt);
    try {
      run('mount', ['-o', 'ro,noload,nodev,nosuid,noexec', '-t', 'ext4', loop, mnt]);
      const unmount = onExit(`mount ${mnt}`, () => run('umount', [mnt], 'host'));
      try {
        return await use(new DirectoryView(mnt), disk.contents);
      } finally {
        unmount();
      }
    } finally {
      detach();
    }
  }, scratchRoot);
}

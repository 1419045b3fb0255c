/**
 * The root file system inside a stemcell tarball, mounted read-only at its
 * partition's offset for the checks, and unmounted and detached afterwards.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { unpackDisk } from '../boot/disk';
import { requireRoot } from '../build/host';
import { InvalidStemcellError } from '../stemcell/errors';
import { DirectoryView, FsView } from './fs-view';

const LINUX_TYPES = ['83', '0FC63DAF-8483-4772-8E79-3D69D8477DE4'];

function run(command: string, args: string[]): string {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new InvalidStemcellError(`${command} ${args.join(' ')} failed: ${(r.stderr || String(r.error)).trim()}`);
  return r.stdout;
}

/** Whether a .tgz is a stemcell (stemcell.MF first) rather than an OS image. */
export function isStemcellTarball(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(64 * 1024);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    let tar: Buffer;
    try {
      tar = gunzipSync(head.subarray(0, n), { finishFlush: 2 /* Z_SYNC_FLUSH: accept a partial stream */ });
    } catch {
      return false;
    }
    const name = tar.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '').replace(/^\.\//, '');
    return name === 'stemcell.MF';
  } finally {
    fs.closeSync(fd);
  }
}

export async function withStemcellRoot<T>(tarball: string, use: (view: FsView) => Promise<T> | T): Promise<T> {
  requireRoot('checking a stemcell (it mounts the image read-only)');
  const scratch = fs.mkdtempSync('/var/tmp/stemcell-check-');
  const mnt = path.join(scratch, 'root');
  fs.mkdirSync(mnt);
  let loop: string | undefined;
  let mounted = false;
  try {
    const disk = await unpackDisk(tarball, path.join(scratch, 'unpacked'), true);
    let raw = disk.file;
    if (disk.format === 'qcow2') {
      raw = path.join(scratch, 'root.raw');
      run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', disk.file, raw]);
    }
    const table = JSON.parse(run('sfdisk', ['--json', raw])).partitiontable as { partitions: { start: number; size: number; type: string }[] };
    const root = table.partitions.filter((p) => LINUX_TYPES.includes(p.type.toUpperCase())).pop();
    if (!root) throw new InvalidStemcellError(`${tarball}: the disk has no Linux partition`);
    loop = run('losetup', ['--find', '--show', '--read-only', '--offset', String(root.start * 512), '--sizelimit', String(root.size * 512), raw]).trim();
    run('mount', ['-o', 'ro,noload', '-t', 'ext4', loop, mnt]);
    mounted = true;
    return await use(new DirectoryView(mnt));
  } finally {
    if (mounted) spawnSync('umount', [mnt]);
    if (loop) spawnSync('losetup', ['--detach', loop]);
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

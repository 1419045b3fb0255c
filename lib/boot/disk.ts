/**
 * The disk inside a stemcell, written out (sparse) into a scratch directory
 * by the one tar reader, with its format and boot firmware worked out. A
 * qcow2 disk that would make QEMU open another file (a backing file, an
 * external data file) is refused before any QEMU tool reads it.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EnvironmentError, InvalidStemcellError, UsageError } from '../errors';
import { hasEfiSystemPartition, PartitionEntry, SECTOR_BYTES } from '../stemcell/disk-layout';
import { DISK_FILE } from '../stemcell/image';
import { readStemcellTarball, StemcellTarballContents } from '../stemcell/tarball';

export interface StemcellDisk {
  readonly contents: StemcellTarballContents;
  readonly file: string;
  readonly format: 'raw' | 'qcow2';
  readonly firmware: 'bios' | 'efi';
}

const FORMATS: Record<string, 'raw' | 'qcow2'> = { 'aws-raw': 'raw', 'openstack-raw': 'raw', 'openstack-qcow2': 'qcow2' };

/**
 * Run a host tool on the stemcell's disk. A refusal is the disk's fault
 * (`disk`, exit 1) or the machine's (`host`: no free loop device, exit 3); a
 * tool that cannot start or is killed is always the machine's.
 */
export function run(command: string, args: string[], blame: 'disk' | 'host' = 'disk'): string {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  if (r.error) throw new EnvironmentError(`${command} could not run (${r.error.message}); see stemcell doctor`);
  if (r.signal) throw new EnvironmentError(`${command} was stopped by ${r.signal}`);
  if (r.status !== 0) {
    const message = `${command} ${args.join(' ')} failed: ${r.stderr.trim()}`;
    throw blame === 'disk' ? new InvalidStemcellError(`the stemcell's disk: ${message}`) : new EnvironmentError(message);
  }
  return r.stdout;
}

/**
 * Refuse a qcow2 file that names another file: a backing file (which QEMU
 * would open, whatever it is: /etc/shadow, /dev/vda) or an external data file.
 * Read from the header itself; `qemu-img info` would already open them.
 */
export function checkQcow2(file: string): void {
  const fd = fs.openSync(file, 'r');
  const header = Buffer.alloc(104);
  try {
    fs.readSync(fd, header, 0, header.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (header.readUInt32BE(0) !== 0x514649fb) throw new InvalidStemcellError(`${DISK_FILE} of an openstack-qcow2 stemcell is not a qcow2 file`);
  const version = header.readUInt32BE(4);
  if (version !== 2 && version !== 3) throw new InvalidStemcellError(`${DISK_FILE} is qcow2 version ${version}; versions 2 and 3 are known`);
  if (header.readBigUInt64BE(8) !== 0n) throw new InvalidStemcellError(`${DISK_FILE} names a backing file; a stemcell's disk must stand alone`);
  if (version === 3 && (header.readBigUInt64BE(72) & 4n) !== 0n) throw new InvalidStemcellError(`${DISK_FILE} keeps its data in an external file; a stemcell's disk must stand alone`);
}

/** The partition table of a disk (raw, or qcow2 already checked), as sfdisk reads it. */
export function partitionTable(file: string, format: 'raw' | 'qcow2'): PartitionEntry[] {
  let raw = file;
  if (format === 'qcow2') {
    // The tables (MBR, GPT) lie in the first 34 sectors.
    raw = path.join(path.dirname(file), 'head.bin');
    run('qemu-img', ['dd', '-f', 'qcow2', '-O', 'raw', `bs=${SECTOR_BYTES}`, 'count=2048', `if=${file}`, `of=${raw}`]);
  }
  try {
    return (JSON.parse(run('sfdisk', ['--json', raw])).partitiontable?.partitions ?? []) as PartitionEntry[];
  } finally {
    if (raw !== file) fs.rmSync(raw, { force: true });
  }
}

/**
 * Write the stemcell's disk into `scratch` (an empty directory), check it, and
 * tell its format and firmware.
 */
export async function unpackDisk(tarball: string, scratch: string): Promise<StemcellDisk> {
  const contents = await readStemcellTarball(tarball, { diskTo: scratch });
  if (!contents.sha1Matches) throw new InvalidStemcellError(`${tarball}: image does not match the manifest's sha1`);
  const formats = contents.manifest.stemcell_formats ?? [];
  const known = formats.find((f) => f in FORMATS);
  if (!known) throw new UsageError(`${formats.join(', ') || 'unknown'} stemcells hold no disk this command reads; ${Object.keys(FORMATS).join(', ')} stemcells do`);
  const format = FORMATS[known];
  const file = path.join(scratch, DISK_FILE);
  if (format === 'qcow2') checkQcow2(file);
  const firmware = contents.manifest.cloud_properties?.boot_mode === 'uefi-preferred' || hasEfiSystemPartition(partitionTable(file, format)) ? 'efi' : 'bios';
  return { contents, file, format, firmware };
}

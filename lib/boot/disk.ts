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
import { DISK_FILE, OVA_DISK_FILE } from '../stemcell/image';
import { readStemcellTarball, StemcellTarballContents } from '../stemcell/tarball';

export type DiskFormat = 'raw' | 'qcow2' | 'vmdk';

export interface StemcellDisk {
  readonly contents: StemcellTarballContents;
  readonly file: string;
  readonly format: DiskFormat;
  readonly firmware: 'bios' | 'efi';
}

/** The disk of each stemcell format, and the name it is written out under. */
const FORMATS: Record<string, { format: DiskFormat; file: string }> = {
  'aws-raw': { format: 'raw', file: DISK_FILE },
  'openstack-raw': { format: 'raw', file: DISK_FILE },
  'openstack-qcow2': { format: 'qcow2', file: DISK_FILE },
  'vsphere-ova': { format: 'vmdk', file: OVA_DISK_FILE },
  'vcloud-ova': { format: 'vmdk', file: OVA_DISK_FILE },
};

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

/**
 * Refuse a VMDK that is not one streamOptimized file: a descriptor that names
 * a parent or other extent files would make QEMU open them. Read from the
 * sparse extent header and its embedded descriptor.
 */
export function checkVmdk(file: string): void {
  const fd = fs.openSync(file, 'r');
  try {
    const header = Buffer.alloc(512);
    fs.readSync(fd, header, 0, header.length, 0);
    if (header.readUInt32LE(0) !== 0x564d444b) throw new InvalidStemcellError(`the OVA's disk is not a sparse VMDK (no KDMV header); the farm writes streamOptimized VMDKs`);
    const descriptorAt = Number(header.readBigUInt64LE(28)) * SECTOR_BYTES;
    const descriptorBytes = Number(header.readBigUInt64LE(36)) * SECTOR_BYTES;
    if (descriptorAt === 0 || descriptorBytes === 0 || descriptorBytes > 64 * 1024) throw new InvalidStemcellError(`the OVA's disk has no embedded descriptor; a stemcell's disk must stand alone`);
    const descriptor = Buffer.alloc(descriptorBytes);
    fs.readSync(fd, descriptor, 0, descriptorBytes, descriptorAt);
    const text = descriptor.toString('latin1').replace(/\0+$/, '');
    const extents = text.split('\n').filter((l) => /^(RW|RDONLY|NOACCESS)\s/.test(l));
    if (!/^createType="streamOptimized"/m.test(text) || /^parentFileNameHint/m.test(text) || extents.length !== 1) {
      throw new InvalidStemcellError(`the OVA's disk is not one streamOptimized VMDK (it names a parent or other extents); a stemcell's disk must stand alone`);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** The partition table of a disk (raw, or a qcow2 or VMDK already checked), as sfdisk reads it. */
export function partitionTable(file: string, format: DiskFormat): PartitionEntry[] {
  let raw = file;
  if (format !== 'raw') {
    // The tables (MBR, GPT) lie in the first 34 sectors.
    raw = path.join(path.dirname(file), 'head.bin');
    run('qemu-img', ['dd', '-f', format, '-O', 'raw', `bs=${SECTOR_BYTES}`, 'count=2048', `if=${file}`, `of=${raw}`]);
  }
  try {
    return (JSON.parse(run('sfdisk', ['--json', raw])).partitiontable?.partitions ?? []) as PartitionEntry[];
  } finally {
    if (raw !== file) fs.rmSync(raw, { force: true });
  }
}

/**
 * Write the stemcell's disk into `scratch` (an empty directory), check it, and
 * tell its format and firmware. Only disks of the `accept`ed formats are read.
 */
export async function unpackDisk(tarball: string, scratch: string, accept: readonly DiskFormat[] = ['raw', 'qcow2', 'vmdk']): Promise<StemcellDisk> {
  const contents = await readStemcellTarball(tarball, { diskTo: scratch });
  if (!contents.sha1Matches) throw new InvalidStemcellError(`${tarball}: image does not match the manifest's sha1`);
  const formats = contents.manifest.stemcell_formats ?? [];
  const readable = Object.keys(FORMATS).filter((f) => accept.includes(FORMATS[f].format));
  const known = formats.find((f) => readable.includes(f));
  if (!known) throw new UsageError(`${formats.join(', ') || 'unknown'} stemcells hold no disk this command reads; ${readable.join(', ')} stemcells do`);
  const { format, file: name } = FORMATS[known];
  const file = path.join(scratch, name);
  if (!fs.existsSync(file)) throw new InvalidStemcellError(`${tarball}: its image holds no disk`);
  if (format === 'qcow2') checkQcow2(file);
  if (format === 'vmdk') checkVmdk(file);
  const firmware = contents.manifest.cloud_properties?.boot_mode === 'uefi-preferred' || hasEfiSystemPartition(partitionTable(file, format)) ? 'efi' : 'bios';
  return { contents, file, format, firmware };
}

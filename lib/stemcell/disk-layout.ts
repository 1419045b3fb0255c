/**
 * The partition layout of a stemcell's disk (docs/formats.md), written once:
 * the image_create stage partitions with the sfdisk script rendered here, and
 * `stemcell check` and `stemcell boot-test` find the root partition and tell
 * BIOS from EFI disks with the same numbers.
 *
 * BIOS: an MBR with one bootable Linux partition from 1 MiB to the end.
 * EFI: a GPT with a 128 MiB EFI system partition from 1 MiB, then the root.
 */
import { createHash } from 'node:crypto';
import type { Firmware } from './matrix';

export const SECTOR_BYTES = 512;
/** Partitions start at 1 MiB, aligned for every storage in use. */
const FIRST_SECTOR = 2048;
const ESP_SECTORS = (128 * 1024 * 1024) / SECTOR_BYTES;

/** Partition type codes as sfdisk prints and takes them. */
export const PARTITION_TYPES = {
  /** MBR: Linux */
  linuxMbr: '83',
  /** GPT: Linux file system */
  linuxGpt: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
  /** GPT: EFI system partition */
  efiSystem: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
} as const;

/**
 * The identifiers a disk's tools would otherwise draw at random: the
 * partition table's, the partitions', the file systems'. Derived from what
 * names the stemcell (name, version, build time), so that a rebuild gives the
 * same bytes, and two stemcells differ.
 */
export interface DiskIdentity {
  /** MBR disk signature (0x and 8 hex digits) or GPT disk GUID. */
  readonly diskId: string;
  readonly rootPartitionUuid: string;
  readonly espPartitionUuid: string;
  readonly rootFsUuid: string;
  /** ext4's seed for directory hashes. */
  readonly rootHashSeed: string;
  /** FAT volume id of the EFI system partition, 8 hex digits. */
  readonly espVolumeId: string;
}

export function diskIdentity(firmware: Firmware, seed: string): DiskIdentity {
  const bytes = (purpose: string) => createHash('sha256').update(`stemcell-disk\n${purpose}\n${seed}`).digest();
  const uuid = (purpose: string): string => {
    const b = bytes(purpose).subarray(0, 16);
    // Shaped as a random (version 4, RFC 4122) UUID, as the tools would draw one.
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const hex = b.toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  };
  // A zero MBR signature means "none"; keep the top bit set so it never is.
  const signature = (bytes('mbr').readUInt32BE(0) | 0x80000000) >>> 0;
  return {
    diskId: firmware === 'efi' ? uuid('gpt') : `0x${signature.toString(16).padStart(8, '0')}`,
    rootPartitionUuid: uuid('root-partition'),
    espPartitionUuid: uuid('esp-partition'),
    rootFsUuid: uuid('root-fs'),
    rootHashSeed: uuid('root-hash-seed'),
    espVolumeId: bytes('esp-volume').toString('hex').slice(0, 8),
  };
}

export interface DiskLayout {
  /** The partition table as an sfdisk script. */
  readonly sfdiskScript: string;
  /** 1-based number of the root partition. */
  readonly rootPartition: number;
  /** 1-based number of the EFI system partition, on EFI disks. */
  readonly espPartition?: number;
}

/** The layout, with the identity's ids in the table when one is given (sfdisk draws them otherwise). */
export function diskLayout(firmware: Firmware, identity?: DiskIdentity): DiskLayout {
  const labelId = identity ? `label-id: ${identity.diskId}\n` : '';
  const uuid = (u: string | undefined) => (u ? `, uuid=${u}` : '');
  if (firmware === 'efi') {
    return {
      sfdiskScript:
        `label: gpt\n${labelId}` +
        `start=${FIRST_SECTOR}, size=${ESP_SECTORS}, type=${PARTITION_TYPES.efiSystem}, name="EFI"${uuid(identity?.espPartitionUuid)}\n` +
        `start=${FIRST_SECTOR + ESP_SECTORS}, type=${PARTITION_TYPES.linuxGpt}, name="root"${uuid(identity?.rootPartitionUuid)}\n`,
      rootPartition: 2,
      espPartition: 1,
    };
  }
  return { sfdiskScript: `label: dos\n${labelId}start=${FIRST_SECTOR}, type=${PARTITION_TYPES.linuxMbr}, bootable\n`, rootPartition: 1 };
}

/** A partition as `sfdisk --json` reports it (start and size in sectors). */
export interface PartitionEntry {
  readonly start: number;
  readonly size: number;
  readonly type: string;
}

/** The root partition of a stemcell disk: its last Linux partition. */
export function rootPartitionOf(partitions: readonly PartitionEntry[]): PartitionEntry | undefined {
  const linux: string[] = [PARTITION_TYPES.linuxMbr, PARTITION_TYPES.linuxGpt];
  return partitions.filter((p) => linux.includes(p.type.toUpperCase())).pop();
}

/** Whether a partition table has an EFI system partition: the disk boots with UEFI. */
export function hasEfiSystemPartition(partitions: readonly PartitionEntry[]): boolean {
  return partitions.some((p) => p.type.toUpperCase() === PARTITION_TYPES.efiSystem);
}

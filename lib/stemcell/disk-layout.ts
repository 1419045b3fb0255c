/**
 * The partition layout of a stemcell's disk (docs/formats.md), written once:
 * the image_create stage partitions with the sfdisk script rendered here, and
 * `stemcell check` and `stemcell boot-test` find the root partition and tell
 * BIOS from EFI disks with the same numbers.
 *
 * BIOS: an MBR with one bootable Linux partition from 1 MiB to the end.
 * EFI: a GPT with a 128 MiB EFI system partition from 1 MiB, then the root.
 */
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

export interface DiskLayout {
  /** The partition table as an sfdisk script. */
  readonly sfdiskScript: string;
  /** 1-based number of the root partition. */
  readonly rootPartition: number;
  /** 1-based number of the EFI system partition, on EFI disks. */
  readonly espPartition?: number;
}

export function diskLayout(firmware: Firmware): DiskLayout {
  if (firmware === 'efi') {
    return {
      sfdiskScript:
        'label: gpt\n' +
        `start=${FIRST_SECTOR}, size=${ESP_SECTORS}, type=${PARTITION_TYPES.efiSystem}, name="EFI"\n` +
        `start=${FIRST_SECTOR + ESP_SECTORS}, type=${PARTITION_TYPES.linuxGpt}, name="root"\n`,
      rootPartition: 2,
      espPartition: 1,
    };
  }
  return { sfdiskScript: `label: dos\nstart=${FIRST_SECTOR}, type=${PARTITION_TYPES.linuxMbr}, bootable\n`, rootPartition: 1 };
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

/**
 * settings.env: the contract between the TypeScript side and the stage
 * scripts. A build renders one typed settings object into this file, and
 * every stage sources it; no stage writes settings for another. The lists
 * below are every variable a stage may read (a test holds the stages to them).
 *
 * run.sh adds, per stage: STEMCELL_WORK, STEMCELL_CHROOT, STEMCELL_SETTINGS,
 * STEMCELL_STAGE, STEMCELL_STAGE_DIR, STEMCELL_LIB (and passes on
 * STEMCELL_STAGES_PATH and STEMCELL_DRY_RUN from its environment).
 */
import { shellQuote } from './shell';

/** Every build: the OS, apt's proxy, snapshot and cache, and the build's clock. */
const COMMON = [
  /** `debian-bookworm`, `ubuntu-jammy`, ... */
  'STEMCELL_OS',
  /** `debian` or `ubuntu` */
  'STEMCELL_OS_DISTRO',
  /** A snapshot time (`20251101T000000Z`), or empty for the live archives. */
  'STEMCELL_SNAPSHOT',
  /** HTTP proxy for apt during the build, or empty. */
  'STEMCELL_PROXY',
  /** Directory of downloaded packages shared by builds of this OS. */
  'STEMCELL_PACKAGE_CACHE',
  /** Seconds since the epoch: every mtime the build writes is clamped to it. */
  'SOURCE_DATE_EPOCH',
] as const;

/** OS image builds. */
export const OS_IMAGE_SETTINGS = [
  ...COMMON,
  /** `bookworm`, `jammy`, ... */
  'STEMCELL_OS_CODENAME',
  /** Archive URL of the release and updates pockets (a stemcell build installs from the OS image's own sources). */
  'STEMCELL_MIRROR',
  /** Archive URL of the security pocket. */
  'STEMCELL_SECURITY_MIRROR',
  /** Archive components, space-separated (`main`, `main universe`). */
  'STEMCELL_COMPONENTS',
  /** More packages for the base set, space-separated. */
  'STEMCELL_EXTRA_PACKAGES',
  /** The operator's --customize script (absolute path), or empty. */
  'STEMCELL_CUSTOMIZE_SCRIPT',
  /** `mmdebstrap` or `debootstrap`. */
  'STEMCELL_BOOTSTRAP_TOOL',
  /** The OS image tarball to write (absolute path). */
  'STEMCELL_OS_IMAGE_OUT',
] as const;

/** Stemcell builds. */
export const STEMCELL_SETTINGS = [
  ...COMMON,
  /** The OS image tarball the build starts from (absolute path, vetted). */
  'STEMCELL_OS_IMAGE',
  /** `aws`, `openstack`, `vsphere`, `vcloud` */
  'STEMCELL_INFRASTRUCTURE',
  /** `bosh-aws-xen-hvm-ubuntu-jammy-go_agent` */
  'STEMCELL_NAME',
  'STEMCELL_VERSION',
  /** `raw`, `qcow2` or `ovf` */
  'STEMCELL_DISK_FORMAT',
  'STEMCELL_DISK_SIZE_MIB',
  /** `bios` or `efi` */
  'STEMCELL_FIRMWARE',
  /** The partition table, as an sfdisk script (lib/stemcell/disk-layout.ts). */
  'STEMCELL_PARTITION_TABLE',
  /** The number of the root partition in that table. */
  'STEMCELL_ROOT_PARTITION',
  /** The number of the EFI system partition in that table, or empty (BIOS). */
  'STEMCELL_ESP_PARTITION',
  /** The root file system's UUID and directory hash seed (lib/stemcell/disk-layout.ts diskIdentity). */
  'STEMCELL_ROOT_FS_UUID',
  'STEMCELL_ROOT_HASH_SEED',
  /** The EFI system partition's FAT volume id (8 hex digits), or empty (BIOS). */
  'STEMCELL_ESP_VOLUME_ID',
  /** GRUB's superuser password hash, made from no password (lib/builder/stemcell.ts lockedGrubPassword). */
  'STEMCELL_GRUB_PASSWORD_HASH',
  /** A bosh-agent executable (absolute path), or empty for the pinned release. */
  'STEMCELL_AGENT_BINARY',
  /** bosh-blobstore-* executables (absolute paths), space-separated. */
  'STEMCELL_BLOBSTORE_CLIS',
  /** Where the stages leave image, packages.txt and dev_tools_file_list.txt. */
  'STEMCELL_OUTPUT_DIR',
] as const;

export type OsImageStageSettings = Readonly<Record<(typeof OS_IMAGE_SETTINGS)[number], string>>;
export type StemcellStageSettings = Readonly<Record<(typeof STEMCELL_SETTINGS)[number], string>>;

/** The variables of a settings object, in the contract's order. */
function variables(settings: OsImageStageSettings | StemcellStageSettings): [string, string][] {
  const names: readonly string[] = 'STEMCELL_OS_IMAGE_OUT' in settings ? OS_IMAGE_SETTINGS : STEMCELL_SETTINGS;
  return names.map((name) => [name, (settings as Record<string, string>)[name]]);
}

/** settings.env: `export NAME='value'` lines, sourced by every stage. */
export function renderSettingsEnv(settings: OsImageStageSettings | StemcellStageSettings): string {
  const lines = variables(settings).map(([name, value]) => {
    if (typeof value !== 'string') throw new Error(`settings.env: ${name} is not set`);
    return `export ${name}=${shellQuote(value)}`;
  });
  return `# Rendered by the stemcell CLI for one build; every stage reads it. Do not edit.\n${lines.join('\n')}\n`;
}

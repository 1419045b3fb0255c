/**
 * AMIs of AWS stemcells: their names, descriptions and tags, and the
 * RegisterImage parameters the AWS CPI and the official light-stemcell builder
 * use. Shared by the Lambdas (which tag and find AMIs by these tags), the CLI
 * and the farm stack (whose IAM conditions name the same tag keys).
 */
import { digestOf } from '../digests';
import { UsageError } from '../errors';
import { validateVersion } from './naming';

/** Tag keys on every AMI and snapshot the farm makes. */
export const AMI_TAG = {
  /** `stemcell-farm`: what IAM conditions and the cleanup select on. */
  managedBy: 'managed-by',
  stemcellName: 'stemcell-name',
  stemcellVersion: 'stemcell-version',
  operatingSystem: 'stemcell-os',
  buildId: 'build-id',
  /** `false` until the light stemcell naming the AMI is written, then `true` (as upstream). */
  published: 'published',
  /** On copies: the AMI they were copied from, and its region. */
  sourceImage: 'source-image-id',
  sourceRegion: 'source-region',
} as const;

export const MANAGED_BY = 'stemcell-farm';

/** On builder instances: the farm stack that launched them, so that each farm's sweeper keeps to its own builders. */
export const FARM_STACK_TAG = 'stemcell-farm-stack';

export type BootMode = 'legacy-bios' | 'uefi-preferred' | 'uefi';
export const BOOT_MODES: readonly BootMode[] = ['legacy-bios', 'uefi-preferred', 'uefi'];

/** What an AMI is of: the fields of the heavy stemcell's manifest it is named after. */
export interface AmiStemcell {
  /** `bosh-aws-xen-hvm-ubuntu-jammy-go_agent` */
  readonly name: string;
  readonly version: string;
  /** `ubuntu-jammy` */
  readonly operatingSystem: string;
  /** @default 'legacy-bios' */
  readonly bootMode?: BootMode;
}

// AMI names: 3-128 characters of letters, digits and ()[] ./-'@_
const AMI_NAME_PATTERN = /^[A-Za-z0-9()[\] ./'@_-]{3,128}$/;
// Build ids end up in AMI names and idempotency tokens.
const BUILD_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$/;

export function validateBuildId(buildId: string): string {
  if (!BUILD_ID_PATTERN.test(buildId)) {
    throw new UsageError(`invalid build id '${buildId}': use up to 48 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. 20261122T0500)`);
  }
  return buildId;
}

export function validateAmiStemcell(stemcell: AmiStemcell): AmiStemcell {
  if (!/^bosh-aws-[a-z0-9_-]+$/.test(stemcell.name)) {
    throw new UsageError(`stemcell name '${stemcell.name}' is not an AWS stemcell name like bosh-aws-xen-hvm-ubuntu-jammy-go_agent`);
  }
  validateVersion(stemcell.version);
  if (!/^[a-z0-9][a-z0-9.-]*$/.test(stemcell.operatingSystem)) {
    throw new UsageError(`operating system '${stemcell.operatingSystem}' is not like ubuntu-jammy`);
  }
  if (stemcell.bootMode !== undefined && !BOOT_MODES.includes(stemcell.bootMode)) {
    throw new UsageError(`boot mode '${String(stemcell.bootMode)}' is not one of ${BOOT_MODES.join(', ')}`);
  }
  return stemcell;
}

/**
 * `bosh-aws-xen-hvm-ubuntu-jammy-go_agent 1.260 build 20261122T0500`: unique per
 * build, so a rebuild of the same version gets its own AMI and a re-run of the
 * same build finds the one it made.
 */
export function amiName(stemcell: AmiStemcell, buildId: string): string {
  const name = `${stemcell.name} ${stemcell.version} build ${validateBuildId(buildId)}`;
  if (!AMI_NAME_PATTERN.test(name)) {
    throw new UsageError(`AMI name '${name}' is not valid: at most 128 of letters, digits, spaces and ()[]./-'@_`);
  }
  return name;
}

export function amiDescription(stemcell: AmiStemcell): string {
  return `BOSH stemcell ${stemcell.version} (${stemcell.operatingSystem}), built by Stemcell Farm`;
}

export interface Tag {
  readonly Key: string;
  readonly Value: string;
}

/** Tags of a newly registered AMI and its snapshot: unpublished until the light stemcell is written. */
export function stemcellTags(stemcell: AmiStemcell, buildId: string): Tag[] {
  return [
    { Key: AMI_TAG.managedBy, Value: MANAGED_BY },
    { Key: AMI_TAG.stemcellName, Value: stemcell.name },
    { Key: AMI_TAG.stemcellVersion, Value: stemcell.version },
    { Key: AMI_TAG.operatingSystem, Value: stemcell.operatingSystem },
    { Key: AMI_TAG.buildId, Value: buildId },
    { Key: AMI_TAG.published, Value: 'false' },
  ];
}

/**
 * An EC2 idempotency token (at most 64 ASCII characters) for one operation on
 * one input: the same input always gives the same token, so a retried or
 * re-run call returns the resource the first call made.
 */
export function idempotencyToken(...parts: string[]): string {
  return digestOf(parts.join('\0')).slice(0, 64);
}

/** The stemcell an AMI is of, from its heavy stemcell's manifest fields. */
export function amiStemcellFromManifest(manifest: {
  readonly name: string;
  readonly version: string;
  readonly operating_system?: string;
  readonly cloud_properties?: Record<string, unknown>;
}): AmiStemcell {
  const bootMode = manifest.cloud_properties?.boot_mode;
  return validateAmiStemcell({
    name: manifest.name,
    version: manifest.version,
    operatingSystem: manifest.operating_system ?? '',
    bootMode: bootMode === undefined ? undefined : (String(bootMode) as BootMode),
  });
}

/**
 * The stemcells we know how to build: infrastructure x hypervisor x OS x disk
 * format x stemcell format. The values mirror the upstream
 * bosh-linux-stemcell-builder definitions so names and manifests match what
 * BOSH directors and CPIs already accept.
 *
 * To add an infrastructure or an OS, add one entry to the tables below; the
 * names, manifests, CLI choices and tests all derive from them.
 */
import { UsageError } from '../errors';

export type InfrastructureName = 'aws' | 'openstack' | 'vsphere' | 'vcloud';
export type OperatingSystemName = 'ubuntu-jammy' | 'ubuntu-noble' | 'debian-bookworm';
export type DiskFormat = 'raw' | 'qcow2' | 'ovf';
export type Firmware = 'bios' | 'efi';

/** One way an infrastructure can carry the disk image. */
export interface DiskFormatSpec {
  /** `cloud_properties.disk_format` and, when not the default, a suffix of the stemcell name. */
  readonly diskFormat: DiskFormat;
  /** The `stemcell_formats` entry of a heavy stemcell in this disk format. */
  readonly stemcellFormat: string;
}

export interface Infrastructure {
  readonly name: InfrastructureName;
  /** The hypervisor as it appears in the stemcell name (`xen-hvm` for AWS). */
  readonly hypervisor: string;
  /** The hypervisor as it appears in `cloud_properties.hypervisor` (`xen` for AWS). */
  readonly cloudHypervisor: string;
  /** Root disk size in MiB (`cloud_properties.disk`). */
  readonly defaultDiskSizeMiB: number;
  /** Supported disk formats; the first is the default and adds no name suffix. */
  readonly diskFormats: readonly DiskFormatSpec[];
  /** The stemcell format of a light stemcell, where the infrastructure has one. */
  readonly lightStemcellFormat?: string;
  /** Extra `cloud_properties` upstream writes for this infrastructure. */
  readonly extraCloudProperties: Readonly<Record<string, string | boolean>>;
  /** Whether the CPI reads `boot_mode` from the stemcell (AWS RegisterImage does). */
  readonly declaresBootMode: boolean;
}

export interface OperatingSystem {
  /** `operating_system` in stemcell.MF, e.g. `ubuntu-jammy`. */
  readonly name: OperatingSystemName;
  /** `cloud_properties.os_distro`. */
  readonly distro: 'ubuntu' | 'debian';
  readonly codename: string;
  /** os-release's VERSION_ID (`12`, `22.04`): the `distro` of package URLs in the SBOMs. */
  readonly versionId: string;
  /** How images of this OS boot unless the build asks otherwise. */
  readonly defaultFirmware: Firmware;
}

export const INFRASTRUCTURES: Readonly<Record<InfrastructureName, Infrastructure>> = {
  aws: {
    name: 'aws',
    hypervisor: 'xen-hvm',
    cloudHypervisor: 'xen',
    defaultDiskSizeMiB: 5120,
    diskFormats: [{ diskFormat: 'raw', stemcellFormat: 'aws-raw' }],
    lightStemcellFormat: 'aws-light',
    extraCloudProperties: { root_device_name: '/dev/sda1' },
    declaresBootMode: true,
  },
  openstack: {
    name: 'openstack',
    hypervisor: 'kvm',
    cloudHypervisor: 'kvm',
    defaultDiskSizeMiB: 5120,
    diskFormats: [
      { diskFormat: 'qcow2', stemcellFormat: 'openstack-qcow2' },
      { diskFormat: 'raw', stemcellFormat: 'openstack-raw' },
    ],
    extraCloudProperties: { auto_disk_config: true },
    declaresBootMode: false,
  },
  vsphere: {
    name: 'vsphere',
    hypervisor: 'esxi',
    cloudHypervisor: 'esxi',
    defaultDiskSizeMiB: 5120,
    diskFormats: [{ diskFormat: 'ovf', stemcellFormat: 'vsphere-ova' }],
    extraCloudProperties: { root_device_name: '/dev/sda1' },
    declaresBootMode: false,
  },
  vcloud: {
    name: 'vcloud',
    hypervisor: 'esxi',
    cloudHypervisor: 'esxi',
    defaultDiskSizeMiB: 5120,
    diskFormats: [{ diskFormat: 'ovf', stemcellFormat: 'vcloud-ova' }],
    extraCloudProperties: { root_device_name: '/dev/sda1' },
    declaresBootMode: false,
  },
};

export const OPERATING_SYSTEMS: Readonly<Record<OperatingSystemName, OperatingSystem>> = {
  'ubuntu-jammy': { name: 'ubuntu-jammy', distro: 'ubuntu', codename: 'jammy', versionId: '22.04', defaultFirmware: 'bios' },
  'ubuntu-noble': { name: 'ubuntu-noble', distro: 'ubuntu', codename: 'noble', versionId: '24.04', defaultFirmware: 'efi' },
  'debian-bookworm': { name: 'debian-bookworm', distro: 'debian', codename: 'bookworm', versionId: '12', defaultFirmware: 'bios' },
};

/**
 * Every `stemcell_formats` value a BOSH director may meet, ours and upstream's,
 * so that `stemcell inspect` reads any published stemcell.
 */
export const KNOWN_STEMCELL_FORMATS: readonly string[] = [
  'aws-raw', 'aws-light',
  'openstack-qcow2', 'openstack-raw',
  'vsphere-ova', 'vsphere-ovf',
  'vcloud-ova', 'vcloud-ovf',
  'google-rawdisk', 'google-light',
  'azure-vhd', 'azure-light',
  'alicloud-raw', 'alicloud-light',
  'softlayer-ovf', 'cloudstack-vhdx', 'warden-tar', 'docker',
];

/** A fully resolved cell of the matrix: everything needed to name and describe a stemcell. */
export interface StemcellDefinition {
  readonly infrastructure: Infrastructure;
  readonly hypervisor: string;
  readonly os: OperatingSystem;
  readonly diskFormat: DiskFormatSpec;
  readonly firmware: Firmware;
}

export interface StemcellDefinitionRequest {
  readonly infrastructure: string;
  readonly os: string;
  /** @default - the infrastructure's hypervisor */
  readonly hypervisor?: string;
  /** @default - the infrastructure's first disk format */
  readonly diskFormat?: string;
  /** @default - the OS's default firmware */
  readonly firmware?: string;
}

export const infrastructureNames = (): InfrastructureName[] => Object.keys(INFRASTRUCTURES) as InfrastructureName[];
export const operatingSystemNames = (): OperatingSystemName[] => Object.keys(OPERATING_SYSTEMS) as OperatingSystemName[];

function choice<T extends string>(what: string, value: string, valid: readonly T[]): T {
  if ((valid as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`unsupported ${what} '${value}'; choose one of: ${valid.join(', ')}`);
}

/**
 * Resolve a request to one cell of the matrix, or throw an error that lists
 * the valid choices for the part that does not fit.
 */
export function defineStemcell(request: StemcellDefinitionRequest): StemcellDefinition {
  const infrastructure = INFRASTRUCTURES[choice('infrastructure', request.infrastructure, infrastructureNames())];
  const os = OPERATING_SYSTEMS[choice('operating system', request.os, operatingSystemNames())];
  const hypervisor = choice(`hypervisor for ${infrastructure.name}`, request.hypervisor ?? infrastructure.hypervisor, [infrastructure.hypervisor]);
  const formats = infrastructure.diskFormats.map((f) => f.diskFormat);
  const diskFormatName = choice(`disk format for ${infrastructure.name}`, request.diskFormat ?? formats[0], formats);
  const diskFormat = infrastructure.diskFormats.find((f) => f.diskFormat === diskFormatName)!;
  const firmware = choice<Firmware>('firmware', request.firmware ?? os.defaultFirmware, ['bios', 'efi']);
  return { infrastructure, hypervisor, os, diskFormat, firmware };
}

/** Every cell of the matrix with default firmware: the set the tests walk. */
export function allStemcellDefinitions(): StemcellDefinition[] {
  return infrastructureNames().flatMap((infrastructure) =>
    operatingSystemNames().flatMap((os) =>
      INFRASTRUCTURES[infrastructure].diskFormats.map((f) => defineStemcell({ infrastructure, os, diskFormat: f.diskFormat })),
    ),
  );
}

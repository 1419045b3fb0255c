/**
 * What `stemcell inspect` reports about a tarball, as plain data (the CLI
 * prints it as a table or as JSON).
 */
import { CloudProperties } from './manifest';
import { definitionForStemcellName } from './naming';
import { ImageEntry } from './image';
import { StemcellFile, StemcellTarballContents } from './tarball';

export interface StemcellSummary {
  readonly name: string;
  readonly version: string;
  readonly kind: 'heavy' | 'light';
  readonly operatingSystem?: string;
  readonly infrastructure?: string;
  readonly hypervisor?: string;
  readonly stemcellFormats: readonly string[];
  readonly diskFormat?: string;
  readonly diskSizeMiB?: number;
  readonly bootMode?: string;
  /** Whether our build matrix has this stemcell. */
  readonly builtByStemcellFarm: boolean;
  readonly files: readonly StemcellFile[];
  /** The files inside `image` (a disk's `root.img`, an OVA's descriptor and disks); none for a light stemcell. */
  readonly image: readonly ImageEntry[];
  readonly sha1: { readonly manifest: string; readonly image: string; readonly matches: boolean };
  /** Region -> AMI, for light stemcells. */
  readonly amis?: Readonly<Record<string, string>>;
}

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

export function summarizeStemcell(contents: StemcellTarballContents): StemcellSummary {
  const m = contents.manifest;
  const cloud: CloudProperties = m.cloud_properties ?? {};
  const def = definitionForStemcellName(m.name);
  const formats = m.stemcell_formats ?? [];
  const light = formats.some((f) => f.endsWith('-light'));
  return {
    name: m.name,
    version: m.version,
    kind: light ? 'light' : 'heavy',
    operatingSystem: m.operating_system,
    infrastructure: str(cloud.infrastructure) ?? def?.infrastructure.name,
    // The name carries the hypervisor as operators know it (xen-hvm); the
    // cloud properties only the short form (xen).
    hypervisor: def?.hypervisor ?? str(cloud.hypervisor),
    stemcellFormats: formats,
    diskFormat: str(cloud.disk_format),
    diskSizeMiB: typeof cloud.disk === 'number' ? cloud.disk : undefined,
    bootMode: str(cloud.boot_mode),
    builtByStemcellFarm: def !== undefined,
    files: contents.entries,
    image: contents.imageEntries,
    sha1: { manifest: m.sha1, image: contents.imageDigests.sha1, matches: contents.sha1Matches },
    amis: light && cloud.ami && typeof cloud.ami === 'object' ? (cloud.ami as Record<string, string>) : undefined,
  };
}

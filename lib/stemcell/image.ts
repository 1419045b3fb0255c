/**
 * What a stemcell's `image` holds, by stemcell format (docs/formats.md):
 *
 * - a disk: a gzip tar holding exactly one regular file, `root.img` (AWS raw,
 *   OpenStack raw or qcow2); the CPIs run `tar -xzf image -O root.img`;
 * - an OVA: a gzip tar of an OVF descriptor first, then its disks (vSphere, vCloud);
 * - nothing: light stemcells, whose image is empty;
 * - something else, for formats we only read (a Google raw disk, an Azure VHD,
 *   a warden root file system): any safe tarball.
 */
import { InvalidStemcellError } from '../errors';

export const DISK_FILE = 'root.img';
/** The name an OVA's first disk is written out under, to check it (its name inside the OVA is the builder's). */
export const OVA_DISK_FILE = 'disk.vmdk';

export type ImageLayout = 'disk' | 'ova' | 'empty' | 'other';

const DISK_FORMATS = ['aws-raw', 'openstack-raw', 'openstack-qcow2'];
const OVA_FORMATS = ['vsphere-ova', 'vcloud-ova'];

/** A file inside `image`. */
export interface ImageEntry {
  readonly name: string;
  /** Its length when extracted. */
  readonly size: number;
  /** Bytes stored (less than `size` for a sparse file). */
  readonly storedSize: number;
  readonly sparse: boolean;
}

export function imageLayout(stemcellFormats: readonly string[]): ImageLayout {
  if (stemcellFormats.some((f) => f.endsWith('-light'))) return 'empty';
  if (stemcellFormats.some((f) => DISK_FORMATS.includes(f))) return 'disk';
  if (stemcellFormats.some((f) => OVA_FORMATS.includes(f))) return 'ova';
  return 'other';
}

/** Refuse an image whose files do not fit its layout; `what` names the image in messages. */
export function checkImageLayout(what: string, layout: ImageLayout, imageSize: number, entries: readonly ImageEntry[]): void {
  const names = entries.map((e) => JSON.stringify(e.name)).join(', ') || 'nothing';
  if (layout === 'empty') {
    if (imageSize !== 0) throw new InvalidStemcellError(`${what}: a light stemcell's image must be empty, this one has ${imageSize} bytes`);
    return;
  }
  if (layout === 'other') return;
  if (imageSize === 0) throw new InvalidStemcellError(`${what}: empty, but a heavy stemcell's image holds its disk`);
  if (layout === 'disk' && (entries.length !== 1 || entries[0].name !== DISK_FILE)) {
    throw new InvalidStemcellError(`${what}: must hold exactly one file, ${DISK_FILE}; it holds ${names}`);
  }
  if (layout === 'ova') {
    const ovf = entries.filter((e) => e.name.endsWith('.ovf'));
    if (ovf.length !== 1 || entries[0] !== ovf[0] || !entries.slice(1).every((e) => /\.(vmdk|mf|cert)$/.test(e.name))) {
      throw new InvalidStemcellError(`${what}: an OVA holds one .ovf descriptor first, then .vmdk disks (and optionally .mf, .cert); it holds ${names}`);
    }
  }
}

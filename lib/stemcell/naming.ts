/**
 * Stemcell and tarball names, exactly as upstream writes them:
 *
 *   name:   bosh-aws-xen-hvm-ubuntu-jammy-go_agent
 *   heavy:  bosh-stemcell-1.260-aws-xen-hvm-ubuntu-jammy-go_agent.tgz
 *   light:  light-bosh-stemcell-1.260-aws-xen-hvm-ubuntu-jammy-go_agent.tgz
 *
 * A non-default disk format is appended (`...-go_agent-raw`), as upstream does.
 */
import { UsageError } from '../errors';
import { allStemcellDefinitions, StemcellDefinition } from './matrix';

// Versions end up in file names and S3 keys, so keep them to characters that are
// safe in both; upstream versions ('1.260', '621.125') and suffixed custom
// builds ('1.260-acme.3') fit.
export const VERSION_PATTERN = /^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$/;

/** Throw unless `version` is usable as a stemcell version. Returns it for chaining. */
export function validateVersion(version: string): string {
  if (!VERSION_PATTERN.test(version) || version.includes('..')) {
    throw new UsageError(
      `invalid stemcell version ${JSON.stringify(version)}: use letters, digits, '.', '_', '+' or '-' (at most 64 characters), e.g. '1.260'`,
    );
  }
  return version;
}

// Stemcell names, in manifests and in tarball names alike: bosh-aws-xen-hvm-ubuntu-jammy-go_agent.
const NAME_PATTERN = /^bosh-[a-z0-9][a-z0-9_-]{0,122}$/;

/** Throw unless `name` is a stemcell name as BOSH writes them. Returns it for chaining. */
export function validateStemcellName(name: string): string {
  if (!NAME_PATTERN.test(name)) {
    throw new UsageError(
      `invalid stemcell name ${JSON.stringify(name)}: expected bosh- and lower-case letters, digits, '_' or '-' (at most 128 characters), e.g. bosh-aws-xen-hvm-ubuntu-jammy-go_agent`,
    );
  }
  return name;
}

/** `aws-xen-hvm-ubuntu-jammy-go_agent`: the stemcell name without its `bosh-` prefix. */
function nameStem(def: StemcellDefinition): string {
  const parts = [def.infrastructure.name, def.hypervisor, def.os.name, 'go_agent'];
  if (def.diskFormat !== def.infrastructure.diskFormats[0]) parts.push(def.diskFormat.diskFormat);
  return parts.join('-');
}

/** `name` in stemcell.MF, e.g. `bosh-aws-xen-hvm-ubuntu-jammy-go_agent`. */
export function stemcellName(def: StemcellDefinition): string {
  return `bosh-${nameStem(def)}`;
}

/**
 * The tarball file name for a stemcell name and version, for any stemcell
 * named the BOSH way (`bosh-...`), including ones outside our matrix.
 */
export function tarballName(name: string, version: string, kind: 'heavy' | 'light'): string {
  validateStemcellName(name);
  const heavy = `bosh-stemcell-${validateVersion(version)}-${name.slice('bosh-'.length)}.tgz`;
  return kind === 'light' ? `light-${heavy}` : heavy;
}

/** The heavy tarball: `bosh-stemcell-<ver>-aws-xen-hvm-ubuntu-jammy-go_agent.tgz`. */
export function heavyTarballName(def: StemcellDefinition, version: string): string {
  return tarballName(stemcellName(def), version, 'heavy');
}

/** The light tarball: `light-bosh-stemcell-<ver>-aws-xen-hvm-ubuntu-jammy-go_agent.tgz`. */
export function lightTarballName(def: StemcellDefinition, version: string): string {
  if (!def.infrastructure.lightStemcellFormat) {
    throw new UsageError(`${def.infrastructure.name} has no light stemcells; only ${lightInfrastructures().join(', ')} do`);
  }
  return tarballName(stemcellName(def), version, 'light');
}

function lightInfrastructures(): string[] {
  return [...new Set(allStemcellDefinitions().filter((d) => d.infrastructure.lightStemcellFormat).map((d) => d.infrastructure.name))];
}

/**
 * The matrix cell a stemcell name stands for, or undefined for stemcells we do
 * not build (an upstream Google stemcell, say). Firmware is not part of the
 * name, so the OS default is returned.
 */
export function definitionForStemcellName(name: string): StemcellDefinition | undefined {
  return allStemcellDefinitions().find((def) => stemcellName(def) === name);
}

/**
 * AWS identifiers that stemcells carry: region names and AMI ids, and the
 * region -> AMI map of a light stemcell.
 */
import { UsageError } from './errors';

// Covers the commercial, GovCloud, China and ISO partitions:
// us-east-1, us-gov-west-1, cn-north-1, eu-central-2, us-isob-east-1, ap-southeast-7.
const REGION_PATTERN = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$/;
// Old AMI ids have 8 hex digits, current ones 17.
const AMI_PATTERN = /^ami-([0-9a-f]{8}|[0-9a-f]{17})$/;

export type AmiMap = Readonly<Record<string, string>>;

export function isRegionName(value: string): boolean {
  return REGION_PATTERN.test(value);
}

export function isAmiId(value: string): boolean {
  return AMI_PATTERN.test(value);
}

/** Throw unless `region` looks like an AWS region name. */
export function validateRegion(region: string): string {
  if (!isRegionName(region)) {
    throw new UsageError(`'${region}' is not an AWS region name; expected something like us-east-1 or eu-central-2`);
  }
  return region;
}

/**
 * Check a region -> AMI map: at least one entry, region names and AMI ids well
 * formed. Returns a copy with the regions in sorted order, so manifests built
 * from it are stable.
 */
export function validateAmiMap(amis: AmiMap): AmiMap {
  const regions = Object.keys(amis).sort();
  if (regions.length === 0) {
    throw new UsageError('the AMI map is empty: give at least one REGION=AMI pair, e.g. us-east-1=ami-0123456789abcdef0');
  }
  const sorted: Record<string, string> = {};
  for (const region of regions) {
    validateRegion(region);
    const ami = amis[region];
    if (typeof ami !== 'string' || !isAmiId(ami)) {
      throw new UsageError(`'${String(ami)}' (for ${region}) is not an AMI id; expected ami- followed by 8 or 17 hex digits`);
    }
    sorted[region] = ami;
  }
  return sorted;
}

/** Parse `REGION=AMI` pairs (as given on a command line) into a validated map. */
export function parseAmiPairs(pairs: readonly string[]): AmiMap {
  const amis: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`'${pair}' is not REGION=AMI, e.g. us-east-1=ami-0123456789abcdef0`);
    const region = pair.slice(0, eq).trim();
    const ami = pair.slice(eq + 1).trim();
    if (region in amis) throw new UsageError(`region ${region} is given twice`);
    amis[region] = ami;
  }
  return validateAmiMap(amis);
}

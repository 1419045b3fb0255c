/**
 * The region -> AMI map of a light stemcell (`cloud_properties.ami`): its
 * rules, on top of the AWS identifiers (lib/aws/identifiers.ts).
 */
import { UsageError } from '../errors';
import { EXAMPLES, isAmiId, MAX_REGIONS, parseRegionPairs, validateRegion } from '../aws/identifiers';

export type AmiMap = Readonly<Record<string, string>>;

/**
 * Check a region -> AMI map: one to MAX_REGIONS entries, region names and AMI
 * ids well formed. Returns a copy with the regions in sorted order, so
 * manifests built from it are stable.
 */
export function validateAmiMap(amis: AmiMap): AmiMap {
  const regions = Object.keys(amis).sort();
  if (regions.length === 0) {
    throw new UsageError(`the AMI map is empty: give at least one REGION=AMI pair, e.g. ${EXAMPLES.region}=${EXAMPLES.ami}`);
  }
  if (regions.length > MAX_REGIONS) throw new UsageError(`the AMI map names ${regions.length} regions; no partition has more than ${MAX_REGIONS}`);
  const sorted: Record<string, string> = {};
  for (const region of regions) {
    validateRegion(region);
    const ami = amis[region];
    if (typeof ami !== 'string' || !isAmiId(ami)) {
      throw new UsageError(`${JSON.stringify(String(ami))} (for ${region}) is not an AMI id; expected ami- followed by 8 or 17 hex digits`);
    }
    sorted[region] = ami;
  }
  return sorted;
}

/** Parse `REGION=AMI` pairs into a validated map. */
export function parseAmiPairs(pairs: readonly string[]): AmiMap {
  return validateAmiMap(Object.fromEntries(parseRegionPairs(pairs, 'AMI', `${EXAMPLES.region}=${EXAMPLES.ami}`)));
}


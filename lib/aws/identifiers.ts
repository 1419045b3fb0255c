/**
 * AWS identifiers the farm and stemcells carry, each recognised in one place:
 * region names, AMI and snapshot ids, account ids, organization and
 * organizational-unit ARNs, KMS keys. Every partition counts (aws, aws-cn,
 * aws-us-gov, aws-iso*).
 */
import { UsageError } from '../errors';

// us-east-1, us-gov-west-1, cn-north-1, eu-central-2, us-isob-east-1, ap-southeast-7.
export const REGION = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$/;
// Old ids have 8 hex digits, current ones 17.
export const AMI_ID = /^ami-([0-9a-f]{8}|[0-9a-f]{17})$/;
const SNAPSHOT_ID = /^snap-([0-9a-f]{8}|[0-9a-f]{17})$/;
export const ACCOUNT_ID = /^[0-9]{12}$/;
const PARTITION = 'arn:aws(-cn|-us-gov|-iso[a-z]?)?';
export const ORGANIZATION_ARN = new RegExp(`^${PARTITION}:organizations::[0-9]{12}:organization/o-[a-z0-9]{10,32}$`);
export const OU_ARN = new RegExp(`^${PARTITION}:organizations::[0-9]{12}:ou/o-[a-z0-9]{10,32}/ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}$`);
const KMS_KEY_ARN = new RegExp(`^${PARTITION}:kms:[a-z0-9-]+:[0-9]{12}:key/(mrk-[0-9a-f]{32}|[0-9a-f-]{36})$`);
const KMS_ALIAS_ARN = new RegExp(`^${PARTITION}:kms:[a-z0-9-]+:[0-9]{12}:alias/[A-Za-z0-9/_-]{1,250}$`);
// A key id (uuid or multi-region mrk-), an alias/NAME, or an ARN of either.
const KMS_KEY_ID = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32}|alias\/[A-Za-z0-9/_-]{1,250})$/;

/** Systems Manager's ids of Automation executions and Run Command commands: UUIDs. */
const EXECUTION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// What SNS takes as an email endpoint, roughly: one @, a dot in the domain, no spaces.
const EMAIL_ADDRESS = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

/** More regions than any partition has; a longer AMI map is a mistake, not a publication. */
export const MAX_REGIONS = 64;

export const isRegionName = (value: string): boolean => REGION.test(value);
export const isExecutionId = (value: string): boolean => EXECUTION_ID.test(value);
export const isEmailAddress = (value: string): boolean => EMAIL_ADDRESS.test(value);
/** The partition a region is in. */
export const partitionOf = (region: string): string => (region.startsWith('cn-') ? 'aws-cn' : region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws');
export const isAmiId = (value: string): boolean => AMI_ID.test(value);
export const isSnapshotId = (value: string): boolean => SNAPSHOT_ID.test(value);
export const isAccountId = (value: string): boolean => ACCOUNT_ID.test(value);
export const isOrganizationArn = (value: string): boolean => ORGANIZATION_ARN.test(value);
export const isOrganizationalUnitArn = (value: string): boolean => OU_ARN.test(value);
/** A KMS key as EC2 takes it for CopyImage: id, alias/NAME, key ARN or alias ARN. */
export const isKmsKeyReference = (value: string): boolean => KMS_KEY_ID.test(value) || KMS_KEY_ARN.test(value) || KMS_ALIAS_ARN.test(value);
/** A KMS key ARN (what IAM policies name). */
export const isKmsKeyArn = (value: string): boolean => KMS_KEY_ARN.test(value);

export const EXAMPLES = {
  region: 'us-east-1',
  ami: 'ami-0123456789abcdef0',
  snapshot: 'snap-0123456789abcdef0',
  account: '111122223333',
  organizationArn: 'arn:aws:organizations::111122223333:organization/o-abcdefghij',
  organizationalUnitArn: 'arn:aws:organizations::111122223333:ou/o-abcdefghij/ou-ab12-cdefgh34',
  kmsKey: 'alias/stemcells, a key id or a key ARN',
  kmsKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
} as const;

/** Throw unless `region` looks like an AWS region name. */
export function validateRegion(region: string): string {
  if (!isRegionName(region)) {
    throw new UsageError(`${JSON.stringify(region)} is not an AWS region name; expected something like us-east-1 or eu-central-2`);
  }
  return region;
}

/** Who a `shared` AMI is shared with, told apart by form: account ids, organization ARNs, OU ARNs. */
export interface ShareWith {
  readonly accounts: readonly string[];
  readonly organizationArns: readonly string[];
  readonly organizationalUnitArns: readonly string[];
}

/** Sort a list of account ids and organization or OU ARNs; anything else is refused by name. */
export function parseShareWith(values: readonly string[]): ShareWith {
  const bad = values.filter((v) => !isAccountId(v) && !isOrganizationArn(v) && !isOrganizationalUnitArn(v));
  if (bad.length > 0) {
    throw new UsageError(
      `cannot share with ${bad.map((b) => JSON.stringify(b)).join(', ')}: give 12-digit account ids (${EXAMPLES.account}), organization ARNs (${EXAMPLES.organizationArn}) or OU ARNs (${EXAMPLES.organizationalUnitArn})`,
    );
  }
  return {
    accounts: values.filter(isAccountId),
    organizationArns: values.filter(isOrganizationArn),
    organizationalUnitArns: values.filter(isOrganizationalUnitArn),
  };
}

/** Parse `REGION=VALUE` pairs (as given on a command line); every region once. */
export function parseRegionPairs(pairs: readonly string[], what: string, example: string): Map<string, string> {
  const parsed = new Map<string, string>();
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`${JSON.stringify(pair)} is not REGION=${what}, e.g. ${example}`);
    const region = validateRegion(pair.slice(0, eq).trim());
    if (parsed.has(region)) throw new UsageError(`region ${region} is given twice`);
    parsed.set(region, pair.slice(eq + 1).trim());
  }
  if (parsed.size > MAX_REGIONS) throw new UsageError(`${parsed.size} regions given; no partition has more than ${MAX_REGIONS}`);
  return parsed;
}

/** Parse `REGION=KEY` pairs: the KMS key of AMI copies in each region. */
export function parseKmsKeyPairs(pairs: readonly string[]): Record<string, string> {
  const keys = parseRegionPairs(pairs, 'KEY', 'eu-west-1=alias/stemcells');
  for (const [region, key] of keys) {
    if (!isKmsKeyReference(key)) throw new UsageError(`${JSON.stringify(key)} (for ${region}) is not a KMS key; give ${EXAMPLES.kmsKey}`);
  }
  return Object.fromEntries(keys);
}

/**
 * The build runbook's parameters: the console form an operator fills in. One
 * list says, for each, its type, default, allowed values or pattern and
 * description; the runbook construct renders it into the document, and Prepare
 * (and the CLI) check a filled-in form against the same list, then against the
 * rules that tie parameters together.
 */
import { ACCOUNT_ID, AMI_ID, MAX_REGIONS, ORGANIZATION_ARN, OU_ARN, parseShareWith, REGION, ShareWith } from '../aws/identifiers';
import { PACKAGE_NAME, SNAPSHOT, snapshotTime } from '../builder/os-image-settings';
import { UsageError } from '../errors';
import { Firmware, InfrastructureName, infrastructureNames, OperatingSystemName, operatingSystemNames } from '../stemcell/matrix';
import { validateVersion, VERSION_PATTERN } from '../stemcell/naming';
import { isSafeKey, MAX_KEY_LENGTH } from '../aws/s3';
import { CUSTOMIZE_PREFIX, CUSTOMIZE_SCRIPT_URI, FarmBuckets, isOsImageKeyOf, OS_IMAGE_KEY } from './keys';
import { Visibility, VISIBILITIES } from '../publish/copy-ami';

/** Automation parameter types the form uses. */
export type ParameterType = 'String' | 'StringList' | 'Boolean';

export interface RunbookParameter {
  readonly type: ParameterType;
  readonly description: string;
  readonly default: string | readonly string[] | boolean;
  readonly allowedValues?: readonly string[];
  /** RE2, as Automation checks it: of the value, or of each item of a list. */
  readonly allowedPattern?: string;
  /** Lists only. */
  readonly maxItems?: number;
}

/** A pattern's body without its anchors, to combine it with others. */
const body = (re: RegExp): string => re.source.replace(/^\^/, '').replace(/\$$/, '');
const anyOf = (...res: RegExp[]): string => `^(${res.map(body).join('|')})$`;
const orEmpty = (re: RegExp): string => `^(${body(re)})?$`;

/** Instance sizes with the memory (16 GiB and up) and disk throughput a build needs. */
export const BUILDER_INSTANCE_TYPES = ['m6i.xlarge', 'm6i.2xlarge', 'm7i.xlarge', 'm7i.2xlarge', 'c6i.2xlarge', 'c7i.2xlarge', 'm6a.xlarge', 'm6a.2xlarge'] as const;
export type BuilderInstanceType = (typeof BUILDER_INSTANCE_TYPES)[number];

export const OS_IMAGE_CHOICES = ['build', 'latest'] as const;
const FIRMWARE_CHOICES = ['default', 'bios', 'efi'] as const;

export const RUNBOOK_PARAMETERS = {
  OperatingSystem: {
    type: 'String',
    description: 'Operating system of the stemcell. ubuntu-noble boots with EFI.',
    default: 'ubuntu-jammy',
    allowedValues: operatingSystemNames(),
  },
  Infrastructures: {
    type: 'StringList',
    description: 'Clouds to build a stemcell for, all from one OS image. aws also makes the AMIs and the light stemcell (see PublishLight).',
    default: ['aws'],
    allowedValues: infrastructureNames(),
    maxItems: infrastructureNames().length,
  },
  Version: {
    type: 'String',
    description: "Stemcell version, e.g. 1.260. Empty: the farm numbers the build. A version already built for this OS is refused, never overwritten.",
    default: '',
    allowedPattern: orEmpty(VERSION_PATTERN),
  },
  OsImage: {
    type: 'String',
    description: "OS image to build from: 'build' (a fresh one, with today's security fixes), 'latest' (the newest in the OS image bucket for this OS), or a key in the OS image bucket.",
    default: 'build',
    allowedPattern: `^(${OS_IMAGE_CHOICES.join('|')}|${OS_IMAGE_KEY})$`,
  },
  ExtraPackages: {
    type: 'StringList',
    description: 'Debian or Ubuntu packages to add to the OS image (only with OsImage build).',
    default: [],
    allowedPattern: PACKAGE_NAME.source,
    maxItems: 100,
  },
  CustomizeScript: {
    type: 'String',
    description: `Script run as root inside the OS image before hardening, as an S3 URI in the farm's OS image bucket below ${CUSTOMIZE_PREFIX} (only with OsImage build). Empty: none.`,
    default: '',
    allowedPattern: orEmpty(new RegExp(CUSTOMIZE_SCRIPT_URI)),
  },
  Firmware: {
    type: 'String',
    description: "Boot firmware of the stemcells: 'default' (the OS's: BIOS, EFI on ubuntu-noble), 'bios' or 'efi'.",
    default: 'default',
    allowedValues: FIRMWARE_CHOICES,
  },
  PublishLight: {
    type: 'Boolean',
    description: 'With aws among the infrastructures: register the AMI, copy it to the regions and write the light stemcell.',
    default: true,
  },
  Regions: {
    type: 'StringList',
    description: 'Regions to copy the AMI to. Empty: every region this account has enabled.',
    default: [],
    allowedPattern: REGION.source,
    maxItems: MAX_REGIONS,
  },
  ExcludeRegions: {
    type: 'StringList',
    description: 'Regions to leave out when copying to every enabled region (only when Regions is empty).',
    default: [],
    allowedPattern: REGION.source,
    maxItems: MAX_REGIONS,
  },
  Visibility: {
    type: 'String',
    description: "Who may launch the AMIs: 'private' (this account), 'shared' (the accounts, organizations or OUs in ShareWith) or 'public'.",
    default: 'private',
    allowedValues: VISIBILITIES,
  },
  ShareWith: {
    type: 'StringList',
    description: 'With Visibility shared: 12-digit account ids, organization ARNs or organizational unit ARNs.',
    default: [],
    allowedPattern: anyOf(ACCOUNT_ID, ORGANIZATION_ARN, OU_ARN),
    maxItems: 100,
  },
  Encrypt: {
    type: 'Boolean',
    description: "Encrypt the AMI copies with the account's default EBS key in each region (not with Visibility public).",
    default: false,
  },
  ImdsV2: {
    type: 'Boolean',
    description: 'Instances launched from the AMIs must use IMDSv2 (the BOSH agent supports it).',
    default: true,
  },
  InstanceType: {
    type: 'String',
    description: 'Builder instance size: 4 vCPUs and 16 GiB or more. Larger sizes shorten builds of several infrastructures.',
    default: 'm6i.xlarge',
    allowedValues: BUILDER_INSTANCE_TYPES,
  },
  Snapshot: {
    type: 'String',
    description: 'Build the OS image from the distribution snapshot archive at this UTC time, e.g. 20261101T000000Z, for a reproducible build. Empty: the live archives.',
    default: '',
    allowedPattern: orEmpty(SNAPSHOT),
  },
  BuilderAmi: {
    type: 'String',
    description: "AMI of the builder instance. Empty: the farm's builder image.",
    default: '',
    allowedPattern: orEmpty(AMI_ID),
  },
} as const satisfies Record<string, RunbookParameter>;

export type ParameterName = keyof typeof RUNBOOK_PARAMETERS;

/** A checked form: what Prepare turns into the build request. */
export interface BuildParameters {
  readonly operatingSystem: OperatingSystemName;
  readonly infrastructures: readonly InfrastructureName[];
  /** Undefined: the farm picks the next version. */
  readonly version?: string;
  /** 'build', 'latest' or a key in the OS image bucket. */
  readonly osImage: string;
  readonly extraPackages: readonly string[];
  /** { bucket, key } of the customization script. */
  readonly customizeScript?: { readonly bucket: string; readonly key: string };
  /** Undefined: the OS's default. */
  readonly firmware?: Firmware;
  readonly publishLight: boolean;
  readonly regions: readonly string[];
  readonly excludeRegions: readonly string[];
  readonly visibility: Visibility;
  readonly shareWith: ShareWith;
  readonly encrypt: boolean;
  readonly imdsV2: boolean;
  readonly instanceType: BuilderInstanceType;
  readonly snapshot?: string;
  readonly builderAmi?: string;
}

/** A form that cannot start a build; the message names the parameter. */
export class InvalidParameterError extends UsageError {
  constructor(readonly parameter: string, problem: string) {
    super(`${parameter}: ${problem}`);
    this.name = 'InvalidParameter';
  }
}

/** A form value as the form's type: Automation hands list and boolean parameters over as JSON values; a CLI, an event or cdk.json may give strings (lists comma-separated). */
function valueOf(name: ParameterName, raw: unknown): string | string[] | boolean {
  const spec: RunbookParameter = RUNBOOK_PARAMETERS[name];
  const shown = JSON.stringify(raw)?.slice(0, 200);
  if (raw === undefined || raw === null) return spec.default as string | string[] | boolean;
  if (spec.type === 'Boolean') {
    if (raw === true || raw === 'true') return true;
    if (raw === false || raw === 'false') return false;
    throw new InvalidParameterError(name, `expected true or false, got ${shown}`);
  }
  if (spec.type === 'StringList') {
    const list = typeof raw === 'string' ? (raw.trim() === '' ? [] : raw.split(',').map((s) => s.trim())) : raw;
    if (!Array.isArray(list) || list.some((v) => typeof v !== 'string')) throw new InvalidParameterError(name, `expected a list of strings, got ${shown}`);
    return list as string[];
  }
  if (typeof raw !== 'string') throw new InvalidParameterError(name, `expected a string, got ${shown}`);
  return raw;
}

/**
 * Check a form before the farm's bucket names are known (at synthesis, or
 * before the CLI has found the farm). Only CustomizeScript names a bucket:
 * Prepare checks that it is the farm's OS image bucket. Here the script's own
 * bucket stands in for it, so that the rest of its rule (below customize/, a
 * safe key) and every other rule are checked now.
 */
export function checkFormWithoutBuckets(form: Record<string, unknown>, now = Date.now()): BuildParameters {
  const scriptBucket = typeof form.CustomizeScript === 'string' ? /^s3:\/\/([^/]+)\//.exec(form.CustomizeScript)?.[1] : undefined;
  return parseBuildParameters(form, { osImageBucket: scriptBucket ?? 'placeholder-os-images', stemcellBucket: 'placeholder-stemcells' }, now);
}

/**
 * A form (already checked) as StartAutomationExecution's `Parameters`, which a
 * schedule and `stemcell farm build` send: every value a list of strings
 * (Booleans "true" or "false"). An empty value that is the default is left
 * out: it means the same, and Automation may refuse an empty list.
 */
export function automationParameters(form: Record<string, unknown>): Record<string, string[]> {
  const parameters: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(form)) {
    const spec: RunbookParameter = RUNBOOK_PARAMETERS[name as ParameterName];
    const v = valueOf(name as ParameterName, value);
    const items = Array.isArray(v) ? v : [String(v)];
    const emptyDefault = items.length === 0 ? Array.isArray(spec.default) && spec.default.length === 0 : items.length === 1 && items[0] === '' && spec.default === '';
    if (!emptyDefault) parameters[name] = items;
  }
  return parameters;
}

/** The checks the console form makes (allowed values, pattern, list length), made again: a schedule or API call skips the form. */
function checkAgainstSpec(name: ParameterName, value: string | string[] | boolean): void {
  const spec: RunbookParameter = RUNBOOK_PARAMETERS[name];
  const items = Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
  if (spec.maxItems !== undefined && Array.isArray(value) && value.length > spec.maxItems) {
    throw new InvalidParameterError(name, `at most ${spec.maxItems} items, got ${value.length}`);
  }
  for (const item of items) {
    const shown = JSON.stringify(item.length > 200 ? `${item.slice(0, 200)}...` : item);
    if (spec.allowedValues && !spec.allowedValues.includes(item)) throw new InvalidParameterError(name, `${shown} is not one of ${spec.allowedValues.join(', ')}`);
    if (spec.allowedPattern && !new RegExp(spec.allowedPattern).test(item)) throw new InvalidParameterError(name, `${shown} is not valid. ${spec.description}`);
  }
  if (Array.isArray(value) && new Set(value).size !== value.length) throw new InvalidParameterError(name, 'lists an item twice');
}

/**
 * Check a filled-in form: each parameter against its spec, then the rules
 * between them. Unknown parameter names are refused (a typo in a schedule
 * would otherwise be a silent default). `now` bounds snapshot times.
 */
export function parseBuildParameters(raw: Record<string, unknown>, buckets: FarmBuckets, now = Date.now()): BuildParameters {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new InvalidParameterError('parameters', 'expected the form as an object of parameter names and values');
  const known = Object.keys(RUNBOOK_PARAMETERS);
  const unknown = Object.keys(raw).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw new InvalidParameterError(/^[A-Za-z0-9_]{1,80}$/.test(unknown[0]) ? unknown[0] : JSON.stringify(unknown[0].slice(0, 80)), `no such parameter; the parameters are ${known.join(', ')}`);
  const v = {} as Record<ParameterName, string | string[] | boolean>;
  for (const name of known as ParameterName[]) {
    v[name] = valueOf(name, raw[name]);
    checkAgainstSpec(name, v[name]);
  }
  const str = (name: ParameterName): string => v[name] as string;
  const list = (name: ParameterName): string[] => v[name] as string[];
  const bool = (name: ParameterName): boolean => v[name] as boolean;

  const infrastructures = list('Infrastructures') as InfrastructureName[];
  if (infrastructures.length === 0) throw new InvalidParameterError('Infrastructures', `choose at least one of ${infrastructureNames().join(', ')}`);
  const osImage = str('OsImage');
  const operatingSystem = str('OperatingSystem') as OperatingSystemName;
  const building = osImage === 'build';
  if (!building && osImage !== 'latest' && !isOsImageKeyOf(osImage, operatingSystem)) {
    throw new InvalidParameterError('OsImage', `${JSON.stringify(osImage.slice(0, 200))} is not the key of an OS image of ${operatingSystem}: ${operatingSystem}/<folders>/<name>.tgz, at most ${MAX_KEY_LENGTH} characters, no '.' or '..' parts`);
  }
  if (str('Version') !== '') {
    try {
      validateVersion(str('Version'));
    } catch (e) {
      throw new InvalidParameterError('Version', (e as Error).message);
    }
  }
  if (!building && list('ExtraPackages').length > 0) throw new InvalidParameterError('ExtraPackages', "packages are added when the OS image is built: set OsImage to 'build', or leave ExtraPackages empty");
  if (!building && str('Snapshot') !== '') throw new InvalidParameterError('Snapshot', "a snapshot time applies when the OS image is built: set OsImage to 'build', or leave Snapshot empty");

  let customizeScript: BuildParameters['customizeScript'];
  if (str('CustomizeScript') !== '') {
    if (!building) throw new InvalidParameterError('CustomizeScript', "a script customizes the OS image as it is built: set OsImage to 'build', or leave CustomizeScript empty");
    const [, bucket, key] = /^s3:\/\/([^/]+)\/(.+)$/.exec(str('CustomizeScript'))!;
    if (bucket !== buckets.osImageBucket || !key.startsWith(CUSTOMIZE_PREFIX) || !isSafeKey(key)) {
      throw new InvalidParameterError('CustomizeScript', `upload the script to the farm's OS image bucket below ${CUSTOMIZE_PREFIX}, e.g. s3://${buckets.osImageBucket}/${CUSTOMIZE_PREFIX}my-script.sh`);
    }
    customizeScript = { bucket, key };
  }
  let snapshot: string | undefined;
  if (str('Snapshot') !== '') {
    try {
      snapshotTime(str('Snapshot'), now);
    } catch (e) {
      throw new InvalidParameterError('Snapshot', (e as Error).message);
    }
    snapshot = str('Snapshot');
  }

  const aws = infrastructures.includes('aws');
  const publishLight = bool('PublishLight') && aws;
  const visibility = str('Visibility') as Visibility;
  const shareWith = parseShareWith(list('ShareWith'));
  const publishingOnly: ParameterName[] = ['Regions', 'ExcludeRegions', 'ShareWith'];
  if (!publishLight) {
    const given = publishingOnly.find((name) => list(name).length > 0);
    if (given) throw new InvalidParameterError(given, `applies only when publishing AMIs (aws among Infrastructures and PublishLight true)`);
  }
  // Who may launch the AMIs matters only when there are AMIs.
  if (publishLight) {
    if (list('Regions').length > 0 && list('ExcludeRegions').length > 0) throw new InvalidParameterError('ExcludeRegions', 'give Regions or ExcludeRegions, not both');
    if (visibility === 'shared' && list('ShareWith').length === 0) throw new InvalidParameterError('ShareWith', 'Visibility shared needs at least one account, organization or OU to share with');
    if (visibility !== 'shared' && list('ShareWith').length > 0) throw new InvalidParameterError('ShareWith', `is only for Visibility shared (Visibility is ${visibility})`);
    if (bool('Encrypt') && visibility === 'public') throw new InvalidParameterError('Encrypt', 'encrypted AMIs cannot be public; choose Visibility private or shared, or Encrypt false');
  }

  const firmware = str('Firmware');
  return {
    operatingSystem,
    infrastructures,
    version: str('Version') === '' ? undefined : str('Version'),
    osImage,
    extraPackages: list('ExtraPackages'),
    customizeScript,
    firmware: firmware === 'default' ? undefined : (firmware as Firmware),
    publishLight,
    regions: list('Regions'),
    excludeRegions: list('ExcludeRegions'),
    visibility,
    shareWith,
    encrypt: bool('Encrypt'),
    imdsV2: bool('ImdsV2'),
    instanceType: str('InstanceType') as BuilderInstanceType,
    snapshot,
    builderAmi: str('BuilderAmi') === '' ? undefined : str('BuilderAmi'),
  };
}

/**
 * A farm build as Prepare writes it down (`request.json`) and the builder
 * reads it back: what to build, from which OS image, under which S3 keys. The
 * keys of everything a build writes are made in keys.ts. The
 * builder treats the document as hostile input: it is parsed and checked
 * field by field, as any event is.
 */
import { isRegionName } from '../aws/identifiers';
import { eventObject, InvalidInputError, isoTime, jsonDocument, optionalString, optionalStringList, requiredString } from '../aws/input';
import { PACKAGE_NAME, SNAPSHOT } from '../builder/os-image-settings';
import { validateBuildId } from '../stemcell/ami';
import { defineStemcell, Firmware, InfrastructureName, infrastructureNames, OperatingSystemName, operatingSystemNames } from '../stemcell/matrix';
import { heavyTarballName, validateVersion } from '../stemcell/naming';
import { osImageTarballName } from '../stemcell/os-image';
import { isBucketName, isSafeKey } from '../aws/s3';
import { CUSTOMIZE_PREFIX, FarmBuckets, isOsImageKeyOf, osImageKey, stemcellKey } from './keys';

export const REQUEST_SCHEMA = 'stemcell-farm/build-request/v1';
/** A request is a few kilobytes; anything much bigger is not one. */
export const MAX_REQUEST_BYTES = 64 * 1024;

export const buildPrefix = (buildId: string): string => `builds/${validateBuildId(buildId)}/`;

export interface StemcellTarget {
  readonly infrastructure: InfrastructureName;
  /** The heavy stemcell's file name and its key in the stemcell bucket. */
  readonly fileName: string;
  readonly key: string;
}

export interface BuildRequest {
  readonly schema: typeof REQUEST_SCHEMA;
  readonly buildId: string;
  readonly executionId: string;
  readonly createdAt: string;
  /** Where the snapshots are made. */
  readonly region: string;
  readonly buckets: FarmBuckets;
  readonly operatingSystem: OperatingSystemName;
  readonly version: string;
  /** @default - the OS's */
  readonly firmware?: Firmware;
  /** Build a new OS image (and upload it to `key`), or use the one at `key`. */
  readonly osImage: { readonly build: boolean; readonly key: string };
  readonly extraPackages: readonly string[];
  /** In the OS image bucket, below customize/. */
  readonly customizeScriptKey?: string;
  readonly snapshot?: string;
  readonly stemcells: readonly StemcellTarget[];
}

/** The stemcells of a build: one per infrastructure, named as upstream names them. */
export function stemcellTargets(os: string, infrastructures: readonly string[], version: string, firmware?: string): StemcellTarget[] {
  return infrastructures.map((infrastructure) => {
    const fileName = heavyTarballName(defineStemcell({ infrastructure, os, firmware }), version);
    return { infrastructure: infrastructure as InfrastructureName, fileName, key: stemcellKey(os, version, fileName) };
  });
}


function extraPackages(e: Record<string, unknown>): string[] {
  const list = optionalStringList(e, 'extraPackages', (p) => PACKAGE_NAME.test(p), '["jq"]');
  if (!list) throw new InvalidInputError("'extraPackages' is required: a list of package names, empty for none");
  return list;
}

/** Read a request document; anything that does not fit is refused, naming the field. */
export function parseBuildRequest(text: string): BuildRequest {
  const e = jsonDocument(text, 'the build request', MAX_REQUEST_BYTES, REQUEST_SCHEMA);
  const buckets = eventObject(e.buckets, "build request 'buckets'");
  const os = requiredString(e, 'operatingSystem', (v) => (operatingSystemNames() as string[]).includes(v), operatingSystemNames().join(', ')) as OperatingSystemName;
  const version = requiredString(e, 'version');
  const buildId = requiredString(e, 'buildId');
  try {
    validateVersion(version);
    validateBuildId(buildId);
  } catch (err) {
    throw new InvalidInputError((err as Error).message);
  }
  const firmware = optionalString(e, 'firmware', /^(bios|efi)$/, 'bios or efi') as Firmware | undefined;
  const osImage = eventObject(e.osImage, "build request 'osImage'");
  if (typeof osImage.build !== 'boolean') throw new InvalidInputError("'osImage.build' must be true or false");
  const imageKey = requiredString({ 'osImage.key': osImage.key }, 'osImage.key', (k) => isOsImageKeyOf(k, os), `${os}/<build id>/${osImageTarballName(os)}`);
  if (osImage.build && imageKey !== osImageKey(os, buildId)) throw new InvalidInputError(`'osImage.key' of a built OS image must be ${osImageKey(os, buildId)}`);
  if (!Array.isArray(e.stemcells)) throw new InvalidInputError("'stemcells' must be a list");
  const stemcells = (e.stemcells as unknown[]).map((s, i) => eventObject(s, `build request 'stemcells[${i}]'`));
  const names = stemcells.map((s) => requiredString(s, 'infrastructure', (v) => (infrastructureNames() as string[]).includes(v), infrastructureNames().join(', ')));
  if (names.length === 0 || new Set(names).size !== names.length) throw new InvalidInputError("'stemcells' must name each infrastructure once, at least one");
  const expected = stemcellTargets(os, names, version, firmware);
  stemcells.forEach((s, i) => {
    if (s.fileName !== expected[i].fileName || s.key !== expected[i].key) throw new InvalidInputError(`'stemcells[${i}]' must be ${JSON.stringify(expected[i])}`);
  });
  const customizeScriptKey = optionalString(e, 'customizeScriptKey', (k) => isSafeKey(k) && k.startsWith(CUSTOMIZE_PREFIX), `${CUSTOMIZE_PREFIX}my-script.sh`);
  if (customizeScriptKey !== undefined && !osImage.build) throw new InvalidInputError("'customizeScriptKey' needs 'osImage.build'");
  return {
    schema: REQUEST_SCHEMA,
    buildId,
    executionId: requiredString(e, 'executionId', (v) => v === buildId, `the build id (${buildId})`),
    createdAt: isoTime(e, 'createdAt'),
    region: requiredString(e, 'region', isRegionName, 'us-east-1'),
    buckets: {
      osImageBucket: requiredString({ 'buckets.osImageBucket': buckets.osImageBucket }, 'buckets.osImageBucket', isBucketName),
      stemcellBucket: requiredString({ 'buckets.stemcellBucket': buckets.stemcellBucket }, 'buckets.stemcellBucket', isBucketName),
    },
    operatingSystem: os,
    version,
    firmware,
    osImage: { build: osImage.build, key: imageKey },
    extraPackages: extraPackages(e),
    customizeScriptKey,
    snapshot: optionalString(e, 'snapshot', SNAPSHOT, '20261101T000000Z'),
    stemcells: expected,
  };
}

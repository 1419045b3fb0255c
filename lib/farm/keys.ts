/**
 * Where a farm build reads and writes in S3, and what a key or a bucket name
 * may look like. Every key of the farm is made here; every key that comes
 * from outside (a form, a request, a result, a listing) is checked here (the
 * shape of any S3 key or bucket name is lib/aws/s3.ts's).
 */
import { BUCKET_RE2, isSafeKey, KEY_SEGMENT as SEGMENT } from '../aws/s3';
import { validateBuildId } from '../stemcell/ami';
import { validateVersion } from '../stemcell/naming';
import { osImageTarballName } from '../stemcell/os-image';

/**
 * Object metadata (x-amz-meta-*) of what the farm stores: which build made a
 * stemcell or OS image, and every tarball's sha1 (light stemcells too), which
 * `stemcell farm fetch` checks what it downloads against.
 */
export const OBJECT_METADATA = { buildId: 'build-id', sha1: 'sha1', checksPassed: 'checks-passed' } as const;

export interface FarmBuckets {
  readonly osImageBucket: string;
  readonly stemcellBucket: string;
}

/** Customization scripts live in the OS image bucket, below this prefix. */
export const CUSTOMIZE_PREFIX = 'customize/';
/** `s3://<bucket>/customize/<script>`, in RE2 for the console. */
export const CUSTOMIZE_SCRIPT_URI = `^s3://${BUCKET_RE2}/${CUSTOMIZE_PREFIX}${SEGMENT}(/${SEGMENT}){0,7}$`;
/** An OS image in the OS image bucket, by key: `<os>/.../<name>.tgz`, in RE2 for the console. */
export const OS_IMAGE_KEY = `[a-z0-9-]+(/${SEGMENT}){0,7}/[A-Za-z0-9_-][A-Za-z0-9._-]{0,123}\\.tgz`;
/** What the Run Command document and `stemcell farm-build` take: the request Prepare wrote. */
export const REQUEST_URI = `^s3://${BUCKET_RE2}/builds/[A-Za-z0-9][A-Za-z0-9._-]{0,47}/request\\.json$`;

/** Where a build writes, in the stemcell bucket: builds/<build id>/. */
export const buildPrefix = (buildId: string): string => `builds/${validateBuildId(buildId)}/`;
export const requestKey = (buildId: string): string => `${buildPrefix(buildId)}request.json`;
export const resultKey = (buildId: string): string => `${buildPrefix(buildId)}result.json`;
/** A stemcell, in the stemcell bucket: <os>/<version>/bosh-stemcell-<version>-<...>.tgz (the light one goes beside it). */
export const stemcellKey = (os: string, version: string, fileName: string): string => `${os}/${validateVersion(version)}/${fileName}`;
/** An OS image built by a farm build, in the OS image bucket: <os>/<build id>/bosh-<os>-os-image.tgz. */
export const osImageKey = (os: string, buildId: string): string => `${os}/${validateBuildId(buildId)}/${osImageTarballName(os)}`;
/** Its build record, beside it. */
export const osImageRecordKey = (imageKey: string): string => imageKey.replace(/\.tgz$/, '.build.json');
/** Whether a key of the OS image bucket holds an OS image of `os` (built by the farm or uploaded by hand). */
export const isOsImageKeyOf = (key: string, os: string): boolean => isSafeKey(key) && new RegExp(`^${OS_IMAGE_KEY}$`).test(key) && key.startsWith(`${os}/`);
/** Whether a key is one `latest` may pick: a farm-named OS image of `os`. */
export const isFarmOsImageKeyOf = (key: string, os: string): boolean => isOsImageKeyOf(key, os) && key.endsWith(`/${osImageTarballName(os)}`);

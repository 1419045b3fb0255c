/**
 * light-stemcell: the light stemcell of a heavy AWS stemcell in the stemcell
 * bucket, with the AMI map the copies made; written beside the heavy one and
 * never over an existing object (a conditional write). Refuses a map that
 * misses regions unless the caller allows a partial one. Then the AMIs are
 * tagged `published=true`, which keeps them from the cleanup.
 */
import { CreateTagsCommand } from '@aws-sdk/client-ec2';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { digestOf } from '../digests';
import { AMI_TAG } from '../stemcell/ami';
import { AmiMap, validateAmiMap } from '../stemcell/aws';
import { FailedError, InvalidStemcellError, UsageError } from '../errors';
import { checkPublishable, LightStemcell, lightStemcellFrom, Publication } from '../stemcell/light';
import { readStemcellTarball, writeTarballToStream } from '../stemcell/tarball';
import { Ec2ForRegion } from '../aws/clients';
import { eventObject, InvalidInputError, optionalBoolean, optionalString, regionList, requiredString } from '../aws/input';
import { mapWithConcurrency } from '../aws/pool';
import { withRetries } from '../aws/retry';
import { isSafeKey, putNewObject, readObjectBytes } from '../aws/s3';
import { OBJECT_METADATA } from '../farm/keys';
import { RunOptions } from '../aws/runtime';

export interface LightStemcellInput extends Publication {
  /** Key of the heavy AWS stemcell in the stemcell bucket. */
  readonly heavyKey: string;
  /** @default - the light stemcell's file name beside the heavy one */
  readonly lightKey?: string;
}

export interface LightStemcellResult {
  readonly bucket: string;
  readonly key: string;
  readonly fileName: string;
  readonly amis: AmiMap;
  /** sha256 of the tarball. */
  readonly sha256: string;
  /** True when an earlier call wrote the same tarball. */
  readonly alreadyWritten: boolean;
}

// The farm's role may only write light-*.tgz objects.
const isLightKey = (key: string): boolean => isSafeKey(key) && /(^|\/)light-[A-Za-z0-9._+-]+\.tgz$/.test(key);

/** Check an input event; throws InvalidInputError, before any AWS call. */
export function parseLightStemcellEvent(event: unknown): LightStemcellInput {
  const e = eventObject(event, 'light-stemcell');
  const heavyKey = requiredString(e, 'heavyKey', isSafeKey, 'stemcells/bosh-stemcell-1.260-aws-xen-hvm-ubuntu-jammy-go_agent.tgz');
  const amisEvent = eventObject(e.amis, "light-stemcell 'amis'");
  const failedEvent = e.failed === undefined ? {} : eventObject(e.failed, "light-stemcell 'failed'");
  let amis: AmiMap;
  try {
    amis = validateAmiMap(amisEvent as Record<string, string>);
  } catch (err) {
    throw err instanceof UsageError ? new InvalidInputError(`'amis': ${err.message}`) : err;
  }
  return {
    heavyKey,
    lightKey: optionalString(e, 'lightKey', isLightKey, 'stemcells/light-bosh-stemcell-1.260-aws-xen-hvm-ubuntu-jammy-go_agent.tgz (a file name light-*.tgz)'),
    amis,
    failed: Object.fromEntries(Object.entries(failedEvent).map(([r, why]) => [r, String(why)])),
    allowPartial: optionalBoolean(e, 'allowPartial', false),
    requiredRegions: regionList(e, 'requiredRegions') ?? [],
  };
}

/** The light stemcell of a heavy stemcell stream, and its tarball bytes. */
export async function lightTarball(heavy: Readable, amis: AmiMap): Promise<{ light: LightStemcell; body: Buffer }> {
  const light = lightStemcellFrom(await readStemcellTarball(heavy), amis);
  const sink = new PassThrough();
  const chunks: Buffer[] = [];
  sink.on('data', (c: Buffer) => chunks.push(c));
  await writeTarballToStream(light.files, sink);
  return { light, body: Buffer.concat(chunks) };
}

/** Write `body` unless the key exists; an identical existing object is fine (a re-run). */
async function putOnce(s3: S3Client, bucket: string, key: string, body: Buffer, options: RunOptions): Promise<boolean> {
  const metadata = { [OBJECT_METADATA.sha1]: digestOf(body, 'sha1') };
  if ((await putNewObject(s3, bucket, key, { body, contentType: 'application/gzip', metadata }, options.clock)) === 'written') return false;
  // Anything longer than ours differs from it: no need to read it whole.
  const existing = await readObjectBytes(s3, bucket, key, body.length, options.clock).catch((e: unknown) => {
    if (e instanceof InvalidInputError) return undefined;
    throw e;
  });
  if (existing === undefined || !existing.equals(body)) {
    throw new FailedError(`s3://${bucket}/${key} already exists with different contents; not overwriting it. Publish under another key (lightKey) or another stemcell version`);
  }
  return true;
}

/** Tag every AMI of the map `published=true`. */
export async function markPublished(clients: Ec2ForRegion, amis: AmiMap, options: RunOptions): Promise<void> {
  await mapWithConcurrency(Object.entries(amis), 8, ([r, imageId]) =>
    withRetries(() => clients(r).send(new CreateTagsCommand({ Resources: [imageId], Tags: [{ Key: AMI_TAG.published, Value: 'true' }] })), options.clock),
  );
}

export async function publishLightStemcell(s3: S3Client, clients: Ec2ForRegion, bucket: string, input: LightStemcellInput, options: RunOptions): Promise<LightStemcellResult> {
  checkPublishable(input);
  const heavy = await withRetries(() => s3.send(new GetObjectCommand({ Bucket: bucket, Key: input.heavyKey })), options.clock);
  let built;
  try {
    built = await lightTarball(heavy.Body as Readable, input.amis);
  } catch (err) {
    if (err instanceof UsageError || err instanceof InvalidStemcellError) throw new InvalidInputError(`s3://${bucket}/${input.heavyKey}: ${(err as Error).message}`);
    throw err;
  }
  const dir = path.posix.dirname(input.heavyKey);
  const key = input.lightKey ?? (dir === '.' ? built.light.fileName : `${dir}/${built.light.fileName}`);
  if (key === input.heavyKey) throw new InvalidInputError(`the light stemcell's key ${key} is the heavy stemcell's; choose another lightKey`);
  const alreadyWritten = await putOnce(s3, bucket, key, built.body, options);
  await markPublished(clients, input.amis, options);
  return {
    bucket,
    key,
    fileName: built.light.fileName,
    amis: input.amis,
    sha256: digestOf(built.body),
    alreadyWritten,
  };
}

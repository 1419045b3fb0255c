/**
 * `stemcell farm fetch`: a build's stemcells (or light stemcell) from the
 * stemcell bucket into a directory, each checked against the sha1 the farm
 * recorded on the object. A file whose sha1 does not match is removed, never
 * left looking complete; an existing file is never replaced.
 */
import { S3Client } from '@aws-sdk/client-s3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isExecutionId } from '../aws/identifiers';
import { Clock } from '../aws/runtime';
import { downloadObject, headObject, isSafeKey } from '../aws/s3';
import { digestFile } from '../digests';
import { EnvironmentError, FailedError, InvalidStemcellError, UsageError } from '../errors';
import { partialOutput } from '../scratch';
import { operatingSystemNames } from '../stemcell/matrix';
import { VERSION_PATTERN } from '../stemcell/naming';
import { OBJECT_METADATA } from './keys';
import { BuildRecord } from './records';

/** What to fetch: a build by its execution id, or a line's version (`ubuntu-jammy@1.42`). */
export type FetchTarget = { readonly executionId: string } | { readonly line: string; readonly version: string };

export function parseFetchTarget(text: string): FetchTarget {
  const at = /^([a-z0-9-]+)@(.+)$/.exec(text);
  if (at) {
    const lines: readonly string[] = operatingSystemNames();
    if (!lines.includes(at[1])) throw new UsageError(`${JSON.stringify(at[1])} is not a stemcell line; the lines are ${lines.join(', ')}`);
    if (!VERSION_PATTERN.test(at[2])) throw new UsageError(`${JSON.stringify(at[2].slice(0, 80))} is not a stemcell version`);
    return { line: at[1], version: at[2] };
  }
  if (isExecutionId(text)) return { executionId: text };
  throw new UsageError(`${JSON.stringify(text.slice(0, 80))} is neither a build id (an execution id, as stemcell farm list shows) nor <line>@<version>, e.g. ubuntu-jammy@1.42`);
}

/** The keys to fetch from a build's record: its stemcells, or its light stemcell. */
export function keysToFetch(record: BuildRecord, light: boolean): string[] {
  const what = `build ${record.executionId} (${record.line}${record.version ? ` ${record.version}` : ''}, ${record.status})`;
  // Keys come from a record, which is input too: a stemcell's key, with a stemcell's file name.
  const stemcellKey = (key: string, prefix: string): boolean => isSafeKey(key) && new RegExp(`^${prefix}bosh-stemcell-[A-Za-z0-9._+-]+\\.tgz$`).test(path.posix.basename(key));
  if (record.status !== 'Success') throw new FailedError(`${what} did not succeed: nothing of it is fetched`);
  if (light) {
    if (!record.lightKey || !stemcellKey(record.lightKey, 'light-')) throw new FailedError(`${what} has no light stemcell: only a build of aws with PublishLight writes one`);
    return [record.lightKey];
  }
  const keys = (record.stemcellKeys ?? []).filter((k) => stemcellKey(k, ''));
  if (keys.length === 0) throw new FailedError(`${what} stored no stemcells to fetch`);
  return keys;
}

export interface Fetched {
  readonly key: string;
  readonly file: string;
  readonly bytes: number;
  readonly sha1: string;
}

/** Download `key` into `dir`, checked against its recorded sha1. */
export async function fetchObject(s3: S3Client, bucket: string, key: string, dir: string, clock: Clock): Promise<Fetched> {
  const file = path.join(dir, path.basename(key));
  if (fs.existsSync(file)) throw new EnvironmentError(`${file} already exists; remove it or fetch into another --out`);
  const head = await headObject(s3, bucket, key, clock);
  if (!head) throw new FailedError(`s3://${bucket}/${key} does not exist (deleted, or the record is wrong)`);
  const expected = head.Metadata?.[OBJECT_METADATA.sha1];
  if (!expected || !/^[0-9a-f]{40}$/.test(expected)) throw new FailedError(`s3://${bucket}/${key} carries no sha1 (x-amz-meta-${OBJECT_METADATA.sha1}) to check it against; it was not stored by the farm`);
  const partial = partialOutput(file);
  try {
    const bytes = await downloadObject(s3, bucket, key, partial.path, clock).catch((e: unknown) => {
      // A stream that broke off mid-way: nothing is kept, and a new try starts over.
      if ((e as { $metadata?: unknown }).$metadata !== undefined) throw e;
      throw new FailedError(`the download of s3://${bucket}/${key} broke off (${e instanceof Error ? e.message : String(e)}); nothing was kept: run the same command again`);
    });
    const { sha1 } = await digestFile(partial.path);
    if (sha1 !== expected) throw new InvalidStemcellError(`s3://${bucket}/${key}: the download's sha1 is ${sha1}, not the ${expected} the farm recorded; nothing was kept`);
    await partial.commit();
    return { key, file, bytes, sha1 };
  } finally {
    partial.release();
  }
}

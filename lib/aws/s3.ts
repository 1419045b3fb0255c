/**
 * The S3 calls of the farm, each in one place: look for an object, read a
 * small one, download one, and write a new one that never replaces an
 * existing object (a conditional write, If-None-Match: *).
 */
import { GetObjectCommand, HeadObjectCommand, HeadObjectCommandOutput, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { digestFileForUpload, digestOf } from '../digests';
import { InvalidInputError } from './input';
import { errorCode, withRetries } from './retry';
import { Clock } from './runtime';

/** S3 bucket names: 3-63 of lower-case letters, digits, dots and dashes, not an IP address, not xn--. */
export const BUCKET = /^(?!xn--)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** The same rule in RE2, for the console (which has no lookahead); the code checks the rest. */
export const BUCKET_RE2 = '[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]';
export const isBucketName = (name: string): boolean => BUCKET.test(name) && !name.includes('..') && !/^\d+\.\d+\.\d+\.\d+$/.test(name);

/** One part of a key: letters, digits, '.', '_', '+', '-' (stemcell versions may hold '+'), not starting with '.' (so never '.' or '..'). */
export const KEY_SEGMENT = '[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,127}';
/** Keys are at most this long, well below S3's 1024 bytes. */
export const MAX_KEY_LENGTH = 900;
const KEY = new RegExp(`^${KEY_SEGMENT}(/${KEY_SEGMENT}){0,15}$`);
/** A key the farm will read or write: plain segments, no empty, '.' or '..' parts. */
export const isSafeKey = (key: string): boolean => key.length <= MAX_KEY_LENGTH && KEY.test(key);

/** PutObject's limit: larger objects would need a multipart upload. */
export const MAX_PUT_BYTES = 5 * 1024 ** 3;

const statusOf = (e: unknown): number | undefined => (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
export const isMissing = (e: unknown): boolean => ['NotFound', 'NoSuchKey'].includes(errorCode(e)) || statusOf(e) === 404;
export const isPreconditionFailed = (e: unknown): boolean => errorCode(e) === 'PreconditionFailed' || statusOf(e) === 412;

/** `s3://bucket/key` split, or an error naming what is wrong: a bucket name S3 allows, a key of plain segments (lib/farm/keys.ts). */
export function parseS3Uri(uri: unknown, what: string): { bucket: string; key: string } {
  const m = typeof uri === 'string' ? /^s3:\/\/([^/]+)\/(.+)$/.exec(uri) : null;
  if (!m || !isBucketName(m[1]) || !isSafeKey(m[2])) {
    throw new InvalidInputError(`${what} ${JSON.stringify(String(uri).slice(0, 200))} is not an S3 URI like s3://bucket/folder/file (a bucket name, then letters, digits, '.', '_', '-' and '/')`);
  }
  return { bucket: m[1], key: m[2] };
}

/** The object's metadata, or undefined when there is none. */
export async function headObject(s3: S3Client, bucket: string, key: string, clock: Clock): Promise<HeadObjectCommandOutput | undefined> {
  try {
    return await withRetries(() => s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })), clock);
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
}

/** A small object as text, undefined when missing; an object over `maxBytes` is refused unread. */
export async function readObjectText(s3: S3Client, bucket: string, key: string, maxBytes: number, clock: Clock): Promise<string | undefined> {
  return (await readObjectBytes(s3, bucket, key, maxBytes, clock))?.toString('utf8');
}

/** A small object's bytes, undefined when missing; an object over `maxBytes` is refused. */
export async function readObjectBytes(s3: S3Client, bucket: string, key: string, maxBytes: number, clock: Clock): Promise<Buffer | undefined> {
  let out;
  try {
    out = await withRetries(() => s3.send(new GetObjectCommand({ Bucket: bucket, Key: key })), clock);
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
  const body = out.Body as Readable;
  if ((out.ContentLength ?? 0) > maxBytes) {
    body.destroy();
    throw new InvalidInputError(`s3://${bucket}/${key} is ${out.ContentLength} bytes, over the ${maxBytes} such a file may have`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      body.destroy();
      throw new InvalidInputError(`s3://${bucket}/${key} is over the ${maxBytes} bytes such a file may have`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Download an object into `file` (which the caller made a partial output). */
export async function downloadObject(s3: S3Client, bucket: string, key: string, file: string, clock: Clock): Promise<number> {
  const out = await withRetries(() => s3.send(new GetObjectCommand({ Bucket: bucket, Key: key })), clock);
  await pipeline(out.Body as Readable, fs.createWriteStream(file, { flags: 'wx' }));
  return fs.statSync(file).size;
}

export interface NewObject {
  /** Bytes, or the path of a file streamed from disk. */
  readonly body: Buffer | string;
  readonly contentType: string;
  /** x-amz-meta-*: what a later run reads back without downloading. @default - none */
  readonly metadata?: Record<string, string>;
  /** The body's base64 MD5, when the caller has it already. @default - computed here */
  readonly contentMd5?: string;
}

/**
 * Write an object unless the key exists: 'written', or 'exists' when another
 * write got there first (S3 answers 412). Content-MD5 makes S3 check the bytes.
 */
export async function putNewObject(s3: S3Client, bucket: string, key: string, object: NewObject, clock: Clock): Promise<'written' | 'exists'> {
  const isFile = typeof object.body === 'string';
  const length = isFile ? fs.statSync(object.body as string).size : (object.body as Buffer).length;
  if (length > MAX_PUT_BYTES) throw new InvalidInputError(`${isFile ? object.body : 'the object'} is ${length} bytes, over the ${MAX_PUT_BYTES} one upload takes`);
  const md5 = object.contentMd5 ?? (isFile ? (await digestFileForUpload(object.body as string)).contentMd5 : digestOf(object.body as Buffer, 'md5', 'base64'));
  try {
    await withRetries(
      () =>
        s3.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            // A stream is read once: each attempt opens the file again.
            Body: isFile ? fs.createReadStream(object.body as string) : (object.body as Buffer),
            ContentLength: length,
            ContentMD5: md5,
            ContentType: object.contentType,
            Metadata: object.metadata,
            IfNoneMatch: '*',
          }),
        ),
      clock,
    );
    return 'written';
  } catch (e) {
    if (isPreconditionFailed(e)) return 'exists';
    throw e;
  }
}

/**
 * An S3 of a few buckets behind aws-sdk-client-mock, as the farm uses it:
 * objects with metadata, HEAD (404 without the object), GET (NoSuchKey),
 * listings by prefix, and conditional writes: If-None-Match: * on an existing
 * key is refused with 412 PreconditionFailed, as S3 does, and a Content-MD5
 * that does not match the bytes with BadDigest.
 */
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { Clock } from '../../lib/aws/runtime';

export interface FakeObject {
  readonly body: Buffer;
  readonly metadata: Record<string, string>;
  readonly contentType?: string;
  readonly lastModified: Date;
}

export function s3Error(name: string, status: number, message: string): S3ServiceException {
  return new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status, requestId: 'req-1' }, message });
}

async function bytesOf(body: unknown): Promise<Buffer> {
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body);
  const chunks: Buffer[] = [];
  for await (const chunk of body as Readable) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

export class FakeS3 {
  readonly mock = mockClient(S3Client);
  readonly buckets = new Map<string, Map<string, FakeObject>>();
  /** "Command bucket/key": fail the next such call with this error. */
  readonly faults = new Map<string, Error>();
  /** Every write, as "bucket/key". */
  readonly writes: string[] = [];

  constructor(
    readonly clock: Pick<Clock, 'now'>,
    bucketNames: readonly string[],
  ) {
    for (const b of bucketNames) this.buckets.set(b, new Map());
    const bucket = (name: string | undefined): Map<string, FakeObject> => {
      const found = this.buckets.get(name ?? '');
      if (!found) throw s3Error('NoSuchBucket', 404, `The specified bucket does not exist: ${name}`);
      return found;
    };
    const fault = (command: string, b?: string, k?: string): void => {
      const key = `${command} ${b}/${k ?? ''}`;
      const error = this.faults.get(key);
      if (error) {
        this.faults.delete(key);
        throw error;
      }
    };
    this.mock.on(PutObjectCommand).callsFake(async (input) => {
      fault('PutObject', input.Bucket, input.Key);
      const objects = bucket(input.Bucket);
      const body = await bytesOf(input.Body);
      if (input.ContentMD5 && createHash('md5').update(body).digest('base64') !== input.ContentMD5) throw s3Error('BadDigest', 400, 'The Content-MD5 you specified did not match what we received.');
      if (input.ContentLength !== undefined && input.ContentLength !== body.length) throw s3Error('IncompleteBody', 400, 'You did not provide the number of bytes specified by the Content-Length HTTP header');
      if (input.IfNoneMatch === '*' && objects.has(input.Key!)) throw s3Error('PreconditionFailed', 412, 'At least one of the pre-conditions you specified did not hold');
      objects.set(input.Key!, { body, metadata: { ...(input.Metadata ?? {}) }, contentType: input.ContentType, lastModified: new Date(this.clock.now()) });
      this.writes.push(`${input.Bucket}/${input.Key}`);
      return { ETag: `"${createHash('md5').update(body).digest('hex')}"`, $metadata: { httpStatusCode: 200 } };
    });
    this.mock.on(HeadObjectCommand).callsFake(async (input) => {
      fault('HeadObject', input.Bucket, input.Key);
      const o = bucket(input.Bucket).get(input.Key!);
      if (!o) throw s3Error('NotFound', 404, 'Not Found');
      return { ContentLength: o.body.length, Metadata: o.metadata, LastModified: o.lastModified, ContentType: o.contentType, $metadata: { httpStatusCode: 200 } };
    });
    this.mock.on(GetObjectCommand).callsFake(async (input) => {
      fault('GetObject', input.Bucket, input.Key);
      const o = bucket(input.Bucket).get(input.Key!);
      if (!o) throw s3Error('NoSuchKey', 404, 'The specified key does not exist.');
      return { Body: Readable.from([o.body]), ContentLength: o.body.length, Metadata: o.metadata, LastModified: o.lastModified, $metadata: { httpStatusCode: 200 } };
    });
    this.mock.on(ListObjectsV2Command).callsFake(async (input) => {
      const keys = [...bucket(input.Bucket).entries()].filter(([k]) => k.startsWith(input.Prefix ?? '')).sort(([a], [b]) => a.localeCompare(b));
      return { Contents: keys.map(([Key, o]) => ({ Key, Size: o.body.length, LastModified: o.lastModified })), KeyCount: keys.length, IsTruncated: false, $metadata: { httpStatusCode: 200 } };
    });
  }

  put(bucket: string, key: string, body: Buffer | string, metadata: Record<string, string> = {}): void {
    this.buckets.get(bucket)!.set(key, { body: Buffer.from(body), metadata, lastModified: new Date(this.clock.now()) });
  }

  get(bucket: string, key: string): FakeObject | undefined {
    return this.buckets.get(bucket)?.get(key);
  }

  keys(bucket: string): string[] {
    return [...(this.buckets.get(bucket)?.keys() ?? [])].sort();
  }
}

/**
 * The `root.img` of a heavy AWS stemcell, streamed into a new EBS snapshot
 * with the EBS direct APIs: no instance, no volume, no import role. Blocks of
 * zeros are not sent (a 5 GiB stemcell disk is mostly empty), every block
 * carries its sha256, and a snapshot left unfinished by a failure is deleted.
 */
import { CompleteSnapshotCommand, EBSClient, PutSnapshotBlockCommand, StartSnapshotCommand } from '@aws-sdk/client-ebs';
import { DeleteSnapshotCommand, EC2Client } from '@aws-sdk/client-ec2';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { Tag } from '../stemcell/ami';
import { InvalidStemcellError } from '../stemcell/errors';
import { IMAGE_FILE } from '../stemcell/tarball';
import { withRetries } from '../../lambda/shared/retry';
import { Clock } from '../../lambda/shared/runtime';

/** The EBS direct APIs' block size. */
export const BLOCK_SIZE = 512 * 1024;
const GIB = 1024 ** 3;

export interface UploadOptions {
  readonly tags: readonly Tag[];
  readonly description: string;
  /** Same token, same snapshot: a retried StartSnapshot does not make a second one. */
  readonly clientToken: string;
  /** Blocks in flight at once. @default 16 */
  readonly concurrency?: number;
  readonly clock: Clock;
}

export interface UploadResult {
  readonly snapshotId: string;
  readonly volumeSizeGiB: number;
  readonly imageBytes: number;
  /** Blocks sent; the rest were zeros. */
  readonly changedBlocks: number;
}

/** The entries of a gzip tar stream, each as a stream with its name and size. */
async function* tarEntries(source: Readable): AsyncGenerator<{ name: string; size: number; stream: Readable }> {
  const extract = tar.extract();
  const done = pipeline(source, createGunzip(), extract);
  done.catch(() => undefined);
  for await (const entry of extract) {
    yield { name: entry.header.name.replace(/^\.\//, ''), size: entry.header.size ?? 0, stream: entry as unknown as Readable };
    entry.resume();
  }
  await done;
}

/** Fixed-size blocks of a stream, the last one padded with zeros. */
async function* blocks(stream: Readable): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    pending.push(chunk);
    length += chunk.length;
    while (length >= BLOCK_SIZE) {
      const all = Buffer.concat(pending);
      yield all.subarray(0, BLOCK_SIZE);
      pending = [all.subarray(BLOCK_SIZE)];
      length -= BLOCK_SIZE;
    }
  }
  if (length > 0) {
    const last = Buffer.alloc(BLOCK_SIZE);
    Buffer.concat(pending).copy(last);
    yield last;
  }
}

const isZero = (block: Buffer): boolean => {
  for (let i = 0; i < block.length; i += 8) if (block.readBigUInt64LE(i) !== 0n) return false;
  return true;
};

export async function uploadRootImage(heavyPath: string, region: string, ebs: EBSClient, ec2: EC2Client, options: UploadOptions): Promise<UploadResult> {
  const concurrency = options.concurrency ?? 16;
  let snapshotId: string | undefined;
  const heavy = fs.createReadStream(heavyPath);
  try {
    for await (const outer of tarEntries(heavy)) {
      if (outer.name !== IMAGE_FILE) continue;
      for await (const inner of tarEntries(outer.stream)) {
        if (inner.name !== 'root.img') continue;
        const volumeSizeGiB = Math.max(1, Math.ceil(inner.size / GIB));
        const started = await withRetries(
          () =>
            ebs.send(
              new StartSnapshotCommand({ VolumeSize: volumeSizeGiB, Tags: [...options.tags], Description: options.description, ClientToken: options.clientToken, Timeout: 60 }),
            ),
          options.clock,
        );
        const id = started.SnapshotId!;
        snapshotId = id;
        const inFlight = new Set<Promise<void>>();
        let failure: { error: unknown } | undefined;
        let index = 0;
        let changedBlocks = 0;
        for await (const block of blocks(inner.stream)) {
          if (failure) throw failure.error;
          const blockIndex = index++;
          if (isZero(block)) continue;
          changedBlocks++;
          const data = Buffer.from(block);
          const put: Promise<void> = withRetries(
            () =>
              ebs.send(
                new PutSnapshotBlockCommand({
                  SnapshotId: id,
                  BlockIndex: blockIndex,
                  BlockData: data,
                  DataLength: BLOCK_SIZE,
                  Checksum: createHash('sha256').update(data).digest('base64'),
                  ChecksumAlgorithm: 'SHA256',
                }),
              ),
            options.clock,
          ).then(
            () => undefined,
            (error: unknown) => {
              failure ??= { error };
            },
          );
          const tracked: Promise<void> = put.finally(() => inFlight.delete(tracked));
          inFlight.add(tracked);
          if (inFlight.size >= concurrency) await Promise.race(inFlight);
        }
        await Promise.all(inFlight);
        if (failure) throw failure.error;
        await withRetries(() => ebs.send(new CompleteSnapshotCommand({ SnapshotId: id, ChangedBlocksCount: changedBlocks })), options.clock);
        return { snapshotId: id, volumeSizeGiB, imageBytes: inner.size, changedBlocks };
      }
      throw new InvalidStemcellError(`${heavyPath}: its image holds no root.img; is it a heavy AWS stemcell?`);
    }
    throw new InvalidStemcellError(`${heavyPath}: no image entry`);
  } catch (e) {
    if (snapshotId) {
      const id = snapshotId;
      await withRetries(() => ec2.send(new DeleteSnapshotCommand({ SnapshotId: id })), options.clock).catch(() => undefined);
      (e as Error).message += ` (the unfinished snapshot ${id} in ${region} was deleted)`;
    }
    throw e;
  } finally {
    heavy.destroy();
  }
}

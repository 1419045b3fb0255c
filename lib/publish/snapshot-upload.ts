/**
 * The `root.img` of a heavy AWS stemcell, streamed into a new EBS snapshot
 * with the EBS direct APIs: no instance, no volume, no import role. The disk
 * is read through the one tar reader (sparse files included: that is how
 * `tar --sparse` stores it); blocks of zeros are not sent (a 5 GiB stemcell
 * disk is mostly empty), every block carries its sha256, and a snapshot left
 * unfinished by a failure is deleted.
 */
import { CompleteSnapshotCommand, EBSClient, PutSnapshotBlockCommand, StartSnapshotCommand } from '@aws-sdk/client-ebs';
import { DeleteSnapshotCommand, DescribeSnapshotsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { withRetries } from '../aws/retry';
import { Clock } from '../aws/runtime';
import { digestOf } from '../digests';
import { AMI_TAG, MANAGED_BY, Tag } from '../stemcell/ami';
import { InvalidStemcellError } from '../errors';
import { withStemcellDisk } from '../stemcell/tarball';
import { fileRegions, TarEntry } from '../tarball/reader';

/** The EBS direct APIs' block size. */
export const BLOCK_SIZE = 512 * 1024;
const GIB = 1024 ** 3;

export interface UploadOptions {
  /** sha1 of the heavy stemcell's `image` as checked before: the upload must read the same. */
  readonly imageSha1: string;
  readonly tags: readonly Tag[];
  readonly description: string;
  /**
   * Same token, same snapshot: a StartSnapshot retried within this upload does
   * not make a second one. One per upload, never reused after a failure (EBS
   * would hand back the failed snapshot).
   */
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

/** The disk's blocks that hold any stored data, in order, each BLOCK_SIZE long (holes and padding are zeros). */
async function* dataBlocks(disk: TarEntry): AsyncGenerator<{ index: number; data: Buffer }> {
  let current: { index: number; data: Buffer } | undefined;
  for await (const { offset, data } of fileRegions(disk)) {
    for (let at = 0; at < data.length; ) {
      const position = offset + at;
      const index = Math.floor(position / BLOCK_SIZE);
      if (current?.index !== index) {
        if (current) yield current;
        current = { index, data: Buffer.alloc(BLOCK_SIZE) };
      }
      const within = position - index * BLOCK_SIZE;
      const n = Math.min(BLOCK_SIZE - within, data.length - at);
      data.copy(current.data, within, at, at + n);
      at += n;
    }
  }
  if (current) yield current;
}

const isZero = (block: Buffer): boolean => {
  for (let i = 0; i < block.length; i += 8) if (block.readBigUInt64LE(i) !== 0n) return false;
  return true;
};

export async function uploadRootImage(heavyPath: string, region: string, ebs: EBSClient, ec2: EC2Client, options: UploadOptions): Promise<UploadResult> {
  const concurrency = options.concurrency ?? 16;
  let snapshotId: string | undefined;
  try {
    const read = await withStemcellDisk(heavyPath, async (disk) => {
      const volumeSizeGiB = Math.max(1, Math.ceil(disk.size / GIB));
      const started = await withRetries(
        () => ebs.send(new StartSnapshotCommand({ VolumeSize: volumeSizeGiB, Tags: [...options.tags], Description: options.description, ClientToken: options.clientToken, Timeout: 60 })),
        options.clock,
      );
      const id = started.SnapshotId!;
      snapshotId = id;
      const inFlight = new Set<Promise<void>>();
      let failure: { error: unknown } | undefined;
      let changedBlocks = 0;
      for await (const block of dataBlocks(disk)) {
        if (failure) throw failure.error;
        if (isZero(block.data)) continue;
        changedBlocks++;
        const put: Promise<void> = withRetries(
          () =>
            ebs.send(
              new PutSnapshotBlockCommand({
                SnapshotId: id,
                BlockIndex: block.index,
                BlockData: block.data,
                DataLength: BLOCK_SIZE,
                Checksum: digestOf(block.data, 'sha256', 'base64'),
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
      return { snapshotId: id, volumeSizeGiB, imageBytes: disk.size, changedBlocks };
    });
    // The file was checked in an earlier pass; a snapshot is completed only of that same image.
    if (read.imageDigests.sha1 !== options.imageSha1) {
      throw new InvalidStemcellError(`${heavyPath} changed while it was being published (its image no longer has the sha1 checked before); nothing was registered`);
    }
    const { snapshotId: id, changedBlocks } = read.value;
    await withRetries(() => ebs.send(new CompleteSnapshotCommand({ SnapshotId: id, ChangedBlocksCount: changedBlocks })), options.clock);
    return read.value;
  } catch (e) {
    if (snapshotId) {
      const id = snapshotId;
      const deleted = await withRetries(() => ec2.send(new DeleteSnapshotCommand({ SnapshotId: id })), options.clock).then(
        () => true,
        () => false,
      );
      if (e instanceof Error) e.message += deleted ? ` (the unfinished snapshot ${id} in ${region} was deleted)` : ` (the unfinished snapshot ${id} in ${region} could not be deleted; delete it by hand: aws ec2 delete-snapshot --region ${region} --snapshot-id ${id})`;
    }
    throw e;
  }
}

/**
 * The completed, farm-tagged snapshot an earlier run of this build made (of
 * this stemcell, when a build makes several), if any: a re-run uses it
 * instead of uploading again.
 */
export async function findBuildSnapshot(ec2: EC2Client, buildId: string, clock: Clock, stemcellName?: string): Promise<string | undefined> {
  const filters = [
    { Name: `tag:${AMI_TAG.managedBy}`, Values: [MANAGED_BY] },
    { Name: `tag:${AMI_TAG.buildId}`, Values: [buildId] },
    ...(stemcellName ? [{ Name: `tag:${AMI_TAG.stemcellName}`, Values: [stemcellName] }] : []),
    { Name: 'status', Values: ['completed'] },
  ];
  const out = await withRetries(() => ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: filters })), clock);
  return out.Snapshots?.[0]?.SnapshotId;
}

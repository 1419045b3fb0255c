/**
 * The EBS direct APIs behind aws-sdk-client-mock, storing snapshots in a
 * FakeEc2 (so DescribeSnapshots and DeleteSnapshot see them): StartSnapshot
 * makes a pending snapshot with its tags, PutSnapshotBlock checks each
 * block's sha256 and keeps its bytes, CompleteSnapshot completes it.
 */
import { CompleteSnapshotCommand, EBSClient, PutSnapshotBlockCommand, StartSnapshotCommand } from '@aws-sdk/client-ebs';
import { mockClient } from 'aws-sdk-client-mock';
import { createHash } from 'node:crypto';
import { BLOCK_SIZE } from '../../lib/publish/snapshot-upload';
import { FakeEc2 } from './fake-ec2';

export class FakeEbs {
  readonly mock = mockClient(EBSClient);
  /** Blocks received: snapshot -> index -> bytes. */
  readonly received = new Map<string, Map<number, Buffer>>();
  /** How long each PutSnapshotBlock takes, in real time (for benchmarks). @default 0 */
  blockLatencyMs = 0;
  /** Fail the next PutSnapshotBlock with this error. */
  failNextBlock?: Error;

  constructor(readonly ec2: FakeEc2) {
    this.mock.on(StartSnapshotCommand).callsFake(async (input, getClient) => {
      const region = await (getClient() as EBSClient).config.region();
      const id = ec2.addSnapshot(region, 'pending');
      ec2.region(region).snapshots.get(id)!.Tags = input.Tags;
      this.received.set(id, new Map());
      return { SnapshotId: id, Status: 'pending', VolumeSize: input.VolumeSize, BlockSize: BLOCK_SIZE, Tags: input.Tags };
    });
    this.mock.on(PutSnapshotBlockCommand).callsFake(async (input) => {
      if (this.blockLatencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.blockLatencyMs));
      const fault = this.failNextBlock;
      this.failNextBlock = undefined;
      if (fault) throw fault;
      const data = Buffer.from(input.BlockData as Uint8Array);
      if (createHash('sha256').update(data).digest('base64') !== input.Checksum) throw new Error('checksum mismatch');
      this.received.get(input.SnapshotId!)!.set(input.BlockIndex!, data);
      return { Checksum: input.Checksum, ChecksumAlgorithm: 'SHA256' };
    });
    this.mock.on(CompleteSnapshotCommand).callsFake(async (input) => {
      for (const data of ec2.regions.values()) {
        const snapshot = data.snapshots.get(input.SnapshotId!);
        if (snapshot) snapshot.State = 'completed';
      }
      return { Status: 'completed' };
    });
  }
}

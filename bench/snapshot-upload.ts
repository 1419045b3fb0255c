/**
 * Benchmark of the EBS direct upload of a stemcell's root.img (what
 * `stemcell farm-build` and `publish-light` do): a real heavy AWS stemcell
 * streamed into a snapshot against a simulated EBS whose PutSnapshotBlock
 * takes 30 ms, at the default concurrency (16 blocks in flight) and one block
 * at a time. Measures and prints; asserts nothing.
 * Run: npm run bench:snapshot-upload [-- <heavy AWS stemcell .tgz>]
 * (default: the quick start's out/bosh-stemcell-0.0.1-aws-xen-hvm-debian-bookworm-go_agent.tgz)
 */
import { EBSClient } from '@aws-sdk/client-ebs';
import { EC2Client } from '@aws-sdk/client-ec2';
import * as fs from 'node:fs';
import { systemClock } from '../lib/aws/runtime';
import { uploadRootImage } from '../lib/publish/snapshot-upload';
import { readStemcellTarball } from '../lib/stemcell/tarball';
import { FakeClock, FakeEc2 } from '../test/helpers/fake-ec2';
import { FakeEbs } from '../test/helpers/fake-ebs';

const LATENCY_MS = 30;
const REGION = 'eu-west-1';

async function main(): Promise<void> {
  const heavy = process.argv[2] ?? 'out/bosh-stemcell-0.0.1-aws-xen-hvm-debian-bookworm-go_agent.tgz';
  if (!fs.existsSync(heavy)) {
    process.stderr.write(`no ${heavy}: build one with "npx stemcell build" (see README) or pass the path of a heavy AWS stemcell\n`);
    process.exitCode = 3;
    return;
  }
  const contents = await readStemcellTarball(heavy);
  const ec2 = new FakeEc2(new FakeClock());
  const ebs = new FakeEbs(ec2);
  ebs.blockLatencyMs = LATENCY_MS;
  const credentials = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'secret' };
  console.log(`${heavy}: image ${(contents.imageSize / 2 ** 20).toFixed(0)} MiB (tar, sparse root.img inside); ${LATENCY_MS} ms per PutSnapshotBlock`);
  console.log('concurrency  seconds  blocks sent  volume GiB  MiB/s of blocks');
  for (const concurrency of [16, 4, 1]) {
    const started = process.hrtime.bigint();
    const result = await uploadRootImage(heavy, REGION, new EBSClient({ region: REGION, credentials }), new EC2Client({ region: REGION, credentials }), {
      imageSha1: contents.imageDigests.sha1,
      tags: [{ Key: 'managed-by', Value: 'stemcell-farm' }],
      description: 'benchmark',
      clientToken: `bench-${concurrency}`,
      concurrency,
      clock: systemClock,
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const mib = (result.changedBlocks * 0.5) / seconds;
    console.log(`${String(concurrency).padStart(11)}  ${seconds.toFixed(1).padStart(7)}  ${String(result.changedBlocks).padStart(11)}  ${String(result.volumeSizeGiB).padStart(10)}  ${mib.toFixed(1).padStart(15)}`);
  }
  ebs.mock.restore();
  ec2.mock.restore();
}

void main();

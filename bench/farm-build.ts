/**
 * Benchmark of `stemcell farm-build` (as root): stemcells for aws, openstack
 * and vsphere from one OS image in one request, against three separate builds
 * (each its own OS image and one stemcell), against an S3 server on localhost
 * with the EBS direct APIs simulated (no latency). The package cache is warmed
 * by a first OS image build that is not counted. Measures and prints; asserts
 * nothing. Run: sudo npm run bench:farm-build
 */
import { EBSClient } from '@aws-sdk/client-ebs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { systemClock } from '../lib/aws/runtime';
import { buildOsImage } from '../lib/builder/os-image';
import { farmBuild } from '../lib/farm/build';
import { prepareBuild, timestampVersions } from '../lib/farm/prepare';
import { FakeClock, FakeEc2 } from '../test/helpers/fake-ec2';
import { FakeEbs } from '../test/helpers/fake-ebs';
import { startS3Server } from '../test/helpers/s3-server';

const REGION = 'eu-west-1';
const BUCKETS = { stemcellBucket: 'bench-stemcells', osImageBucket: 'bench-os-images' };
const AGENT = path.join(__dirname, '..', 'test', 'fixtures', 'agent-stand-in', 'bosh-agent');

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('the benchmark builds OS images and stemcells: run it as root\n');
    process.exitCode = 3;
    return;
  }
  const root = fs.mkdtempSync('/var/tmp/stemcell-bench-farm-');
  const cache = path.join(root, 'cache');
  const server = await startS3Server(Object.values(BUCKETS));
  const ec2 = new FakeEc2(new FakeClock());
  const ebs = new FakeEbs(ec2);
  const ssm = mockClient(SSMClient);
  ssm.on(GetParameterCommand).resolves({ Parameter: { Value: 'ami-0123456789abcdef0' } });
  const credentials = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'secret' };
  const s3 = server.client();
  const quiet = (): void => undefined;
  let n = 0;
  const build = async (infrastructures: string[]): Promise<number> => {
    const state = await prepareBuild(
      { s3, ssm: new SSMClient({ region: REGION, credentials }), ec2: new EC2Client({ region: REGION, credentials }) },
      { region: REGION, ...BUCKETS, builderImageParameter: '/bench', subnetIds: ['subnet-0123456789abcdef0'] },
      { executionId: `bench-${++n}`, parameters: { OperatingSystem: 'debian-bookworm', Infrastructures: infrastructures, Version: `0.0.${n}` } },
      timestampVersions,
      systemClock,
    );
    const started = process.hrtime.bigint();
    await farmBuild(
      { s3, ebs: new EBSClient({ region: REGION, credentials }), ec2: new EC2Client({ region: REGION, credentials }) },
      { requestUri: state.requestUri, region: REGION, agentBinary: AGENT, packageCacheRoot: cache, scratchRoot: root, say: quiet, clock: systemClock },
    );
    return Number(process.hrtime.bigint() - started) / 1e9;
  };
  try {
    await buildOsImage({ os: 'debian-bookworm', outDir: path.join(root, 'warm'), work: path.join(root, 'warm-work'), packageCacheRoot: cache, say: quiet });
    const together = await build(['aws', 'openstack', 'vsphere']);
    const separate: Record<string, number> = {};
    for (const infrastructure of ['aws', 'openstack', 'vsphere']) separate[infrastructure] = await build([infrastructure]);
    const sum = Object.values(separate).reduce((a, b) => a + b, 0);
    const one = sum / 3;
    console.log('farm-build, debian-bookworm, warm package cache');
    console.log(`  one request, aws + openstack + vsphere from one OS image: ${together.toFixed(1)} s`);
    for (const [infrastructure, seconds] of Object.entries(separate)) console.log(`  separate build, ${infrastructure.padEnd(9)} (OS image + stemcell): ${seconds.toFixed(1)} s`);
    console.log(`  three separate builds: ${sum.toFixed(1)} s; one request takes ${(together / one).toFixed(2)}x one build (target: at most 2x)`);
  } finally {
    await server.close();
    ebs.mock.restore();
    ec2.mock.restore();
    ssm.restore();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

void main();

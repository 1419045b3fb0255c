/**
 * What only a real AWS account proves: the AMI Lambdas, deployed with their
 * least-privilege roles, register an AMI from a farm-tagged snapshot, copy it
 * to a second region, report the copies, write a light stemcell to S3 with a
 * conditional write, and clean up. The unit tests cover the same cores against
 * a simulated EC2; this checks the IAM conditions, the tag keys EC2 really
 * evaluates, and S3's if-none-match, none of which a mock can.
 *
 * Run (deploys into the caller's account, then destroys):
 *   npx integ-runner --directory test/integ --language typescript \
 *     --app 'npx tsx {filePath}' --parallel-regions eu-west-1 --update-on-failed
 * Costs a few cents: a 1 GiB snapshot and two AMIs for some minutes.
 */
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import * as cr from 'aws-cdk-lib/custom-resources';
import { ExpectedResult, IntegTest } from '@aws-cdk/integ-tests-alpha';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AmiPublishing } from '../../lib/constructs/ami-publishing';
import { defineStemcell, heavyManifest, heavyTarballName, renderManifest, writeTarball, writeTarballToStream } from '../../lib/stemcell';
import { AMI_TAG, MANAGED_BY } from '../../lib/stemcell/ami';
import { teardownFunction } from './teardown';

const BUILD_ID = 'integ-ami-publishing';
const COPY_REGION = 'eu-central-1';
const STEMCELL = { name: 'bosh-aws-xen-hvm-debian-bookworm-go_agent', version: '0.0.1-integ', operatingSystem: 'debian-bookworm' };

/** A small but real heavy AWS stemcell (a 1 MiB root.img), for the light-stemcell Lambda to read. */
async function heavyStemcellDir(): Promise<{ dir: string; fileName: string; cleanUp: () => void }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'integ-heavy-'));
  const rootImg = path.join(dir, 'root.img');
  fs.writeFileSync(rootImg, Buffer.alloc(1024 * 1024, 1));
  const image = path.join(dir, 'image');
  await writeTarballToStream([{ name: 'root.img', path: rootImg }], fs.createWriteStream(image));
  const def = defineStemcell({ infrastructure: 'aws', os: 'debian-bookworm' });
  const manifest = heavyManifest(def, { version: STEMCELL.version, imageSha1: createHash('sha1').update(fs.readFileSync(image)).digest('hex') });
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'integ-upload-'));
  const fileName = heavyTarballName(def, STEMCELL.version);
  await writeTarball(path.join(out, fileName), [
    { name: 'stemcell.MF', data: renderManifest(manifest) },
    { name: 'image', path: image },
    { name: 'packages.txt', data: 'ii  integ 1 amd64 integration test\n' },
  ]);
  return { dir: out, fileName, cleanUp: () => [dir, out].forEach((d) => fs.rmSync(d, { recursive: true, force: true })) };
}

const invoke = (integ: IntegTest, fn: lambda.IFunction, payload: unknown) =>
  integ.assertions.invokeFunction({ functionName: fn.functionName, payload: JSON.stringify(payload) });

async function main(): Promise<void> {
  const app = new App();
  const stack = new Stack(app, 'StemcellFarmAmiPublishingInteg');
  const bucket = new s3.Bucket(stack, 'Stemcells', { removalPolicy: RemovalPolicy.DESTROY, autoDeleteObjects: true, enforceSSL: true, versioned: true });
  const publishing = new AmiPublishing(stack, 'AmiPublishing', { stemcellBucket: bucket });

  const heavy = await heavyStemcellDir();
  new s3deploy.BucketDeployment(stack, 'Heavy', { destinationBucket: bucket, destinationKeyPrefix: 'stemcells', sources: [s3deploy.Source.asset(heavy.dir)] });

  // An empty 1 GiB snapshot, tagged as the build runbook tags its snapshots.
  const tags = [
    { Key: AMI_TAG.managedBy, Value: MANAGED_BY },
    { Key: AMI_TAG.buildId, Value: BUILD_ID },
  ];
  const snapshotPolicy = cr.AwsCustomResourcePolicy.fromStatements([
    new iam.PolicyStatement({ actions: ['ebs:StartSnapshot', 'ebs:CompleteSnapshot', 'ec2:CreateTags'], resources: ['*'] }),
  ]);
  const start = new cr.AwsCustomResource(stack, 'StartSnapshot', {
    onCreate: { service: 'EBS', action: 'startSnapshot', parameters: { VolumeSize: 1, Tags: tags, Description: 'stemcell farm integ test' }, physicalResourceId: cr.PhysicalResourceId.fromResponse('SnapshotId') },
    policy: snapshotPolicy,
  });
  const snapshotId = start.getResponseField('SnapshotId');
  new cr.AwsCustomResource(stack, 'CompleteSnapshot', {
    onCreate: { service: 'EBS', action: 'completeSnapshot', parameters: { SnapshotId: snapshotId, ChangedBlocksCount: 0 }, physicalResourceId: cr.PhysicalResourceId.of(`${BUILD_ID}-complete`) },
    policy: snapshotPolicy,
  });

  // Test harness only: removes what the test made, in both regions, by its build id.
  const teardown = teardownFunction(stack);

  const integ = new IntegTest(app, 'AmiPublishing', { testCases: [stack], regions: ['eu-west-1'], diffAssets: false });
  const region = stack.region;

  const register = invoke(integ, publishing.registerAmi, { region, snapshotId, buildId: BUILD_ID, stemcell: STEMCELL, imdsSupport: 'v2.0' });
  register.expect(ExpectedResult.objectLike({ Payload: { state: 'available', reused: false } }));
  const imageId = register.getAttString('Payload.imageId');

  const copyEvent = { sourceRegion: region, sourceImageId: imageId, includeRegions: [COPY_REGION] };
  const copy = invoke(integ, publishing.copyAmi, copyEvent);
  copy.expect(ExpectedResult.objectLike({ Payload: { done: true, failed: {} } })).waitForAssertions({ totalTimeout: Duration.minutes(60), interval: Duration.minutes(1) });

  const check = invoke(integ, publishing.checkAmiCopies, copyEvent);
  check.expect(ExpectedResult.objectLike({ Payload: { done: true, pending: [] } }));

  const light = invoke(integ, publishing.lightStemcell, {
    heavyKey: `stemcells/${heavy.fileName}`,
    amis: { [region]: imageId, [COPY_REGION]: copy.getAttString(`Payload.amis.${COPY_REGION}`) },
  });
  light.expect(ExpectedResult.objectLike({ Payload: { key: `stemcells/light-${heavy.fileName}`, alreadyWritten: false } }));
  // The same call again: the conditional write finds its own object.
  const again = invoke(integ, publishing.lightStemcell, {
    heavyKey: `stemcells/${heavy.fileName}`,
    amis: { [region]: imageId, [COPY_REGION]: copy.getAttString(`Payload.amis.${COPY_REGION}`) },
  });
  again.expect(ExpectedResult.objectLike({ Payload: { alreadyWritten: true } }));

  const cleanup = invoke(integ, publishing.cleanup, { olderThanDays: 0, includeRegions: [region, COPY_REGION] });
  cleanup.expect(ExpectedResult.objectLike({ Payload: { dryRun: true, failedRegions: {} } }));

  const remove = invoke(integ, teardown, { buildId: BUILD_ID, regions: [region, COPY_REGION] });
  register.next(copy).next(check).next(light).next(again).next(cleanup).next(remove);
  app.synth();
  heavy.cleanUp();
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exitCode = 1;
});

import { GetObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { InvalidInputError } from '../../lib/aws/input';
import { RunOptions } from '../../lib/aws/runtime';
import { parseLightStemcellEvent, publishLightStemcell } from '../../lib/publish/light-stemcell';
import { FakeClock, FakeEc2, freshFakeEc2, testClients } from '../helpers/fake-ec2';
import { makeHeavyStemcell, tempDir } from '../helpers/stemcells';

const CLI = path.join(__dirname, '..', '..', 'bin', 'stemcell.js');
const BUCKET = 'stemcellfarm-stemcells-111122223333';
const HEAVY_KEY = 'stemcells/ubuntu-jammy/bosh-stemcell-1.260-aws-xen-hvm-ubuntu-jammy-go_agent.tgz';
const LIGHT_KEY = 'stemcells/ubuntu-jammy/light-bosh-stemcell-1.260-aws-xen-hvm-ubuntu-jammy-go_agent.tgz';
const clients = testClients;

let dir: string;
let heavy: string;
let clock: FakeClock;
let ec2: FakeEc2;
let amis: Record<string, string>;
const s3Mock = mockClient(S3Client);
/** The bucket: key -> bytes. */
let objects: Map<string, Buffer>;

beforeAll(async () => {
  dir = tempDir();
  heavy = await makeHeavyStemcell(dir);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

beforeEach(() => {
  ({ clock, ec2 } = freshFakeEc2());
  amis = {
    'us-east-1': ec2.putImage('us-east-1', { Name: 'a', Tags: [{ Key: 'published', Value: 'false' }] }).ImageId!,
    'eu-west-1': ec2.putImage('eu-west-1', { Name: 'a', Tags: [{ Key: 'published', Value: 'false' }] }).ImageId!,
  };
  objects = new Map([[HEAVY_KEY, fs.readFileSync(heavy)]]);
  s3Mock.reset();
  s3Mock.on(GetObjectCommand).callsFake((input) => {
    const body = objects.get(input.Key);
    if (!body) throw new S3ServiceException({ name: 'NoSuchKey', $fault: 'client', $metadata: { httpStatusCode: 404 }, message: 'The specified key does not exist.' });
    return { Body: Readable.from([body]), ContentLength: body.length, ETag: '"etag"' };
  });
  s3Mock.on(PutObjectCommand).callsFake((input) => {
    if (input.IfNoneMatch === '*' && objects.has(input.Key)) {
      throw new S3ServiceException({ name: 'PreconditionFailed', $fault: 'client', $metadata: { httpStatusCode: 412 }, message: 'At least one of the pre-conditions you specified did not hold' });
    }
    objects.set(input.Key, Buffer.from(input.Body as Buffer));
    return { ETag: '"new"', ChecksumSHA256: 'x' };
  });
});
afterEach(() => ec2.mock.restore());

const run = (): RunOptions => ({ clock, deadline: clock.now() + 600_000, pollMs: 5000 });
const publish = (extra: Record<string, unknown> = {}) => publishLightStemcell(new S3Client({ region: 'us-east-1' }), clients, BUCKET, parseLightStemcellEvent({ heavyKey: HEAVY_KEY, amis, ...extra }), run());

describe('light-stemcell', () => {
  it('writes the light stemcell beside the heavy one, only if absent, and stemcell inspect accepts it', async () => {
    const result = await publish();
    expect(result).toMatchObject({ bucket: BUCKET, key: LIGHT_KEY, fileName: path.basename(LIGHT_KEY), alreadyWritten: false, amis: { 'eu-west-1': amis['eu-west-1'], 'us-east-1': amis['us-east-1'] } });
    const put = s3Mock.commandCalls(PutObjectCommand)[0].args[0].input;
    expect(put).toMatchObject({ Bucket: BUCKET, Key: LIGHT_KEY, IfNoneMatch: '*', ContentType: 'application/gzip', ContentMD5: expect.any(String) });

    const file = path.join(dir, path.basename(LIGHT_KEY));
    fs.writeFileSync(file, objects.get(LIGHT_KEY)!);
    const inspect = spawnSync(process.execPath, [CLI, 'inspect', '--json', file], { encoding: 'utf8' });
    expect(inspect.status).toBe(0);
    const summary = JSON.parse(inspect.stdout);
    expect(summary).toMatchObject({ kind: 'light', name: 'bosh-aws-xen-hvm-ubuntu-jammy-go_agent', version: '1.260', stemcellFormats: ['aws-light'], sha1: { matches: true } });
    expect(summary.amis).toEqual({ 'eu-west-1': amis['eu-west-1'], 'us-east-1': amis['us-east-1'] });
    fs.rmSync(file);
  });

  it('tags every AMI published=true in its own region', async () => {
    await publish();
    for (const [r, ami] of Object.entries(amis)) expect(ec2.tagsOf(r, ami).published).toBe('true');
    expect(ec2.calls('CreateTags').sort()).toEqual(['eu-west-1', 'us-east-1']);
  });

  it('a re-run finds its own tarball and finishes; a different object under the key is never overwritten', async () => {
    const first = await publish();
    const again = await publish();
    expect(again).toEqual({ ...first, alreadyWritten: true });

    objects.set(LIGHT_KEY, Buffer.from('someone else\'s stemcell'));
    for (const [r, ami] of Object.entries(amis)) ec2.region(r).images.get(ami)!.Tags = [{ Key: 'published', Value: 'false' }];
    await expect(publish()).rejects.toThrow(/already exists with different contents; not overwriting it/);
    expect(objects.get(LIGHT_KEY)!.toString()).toBe('someone else\'s stemcell');
    for (const [r, ami] of Object.entries(amis)) expect(ec2.tagsOf(r, ami).published).toBe('false');
  });

  it('refuses to publish when a region failed, unless a partial map is allowed', async () => {
    const failed = { 'ap-southeast-1': 'copy ami-0aaa is failed: Copy of snapshot failed' };
    await expect(publish({ failed })).rejects.toThrow(/not publishing: the copy failed in ap-southeast-1 \(ap-southeast-1: copy ami-0aaa is failed.*allowPartial/);
    expect(s3Mock.calls()).toHaveLength(0);
    expect(ec2.log).toEqual([]);
    expect((await publish({ failed, allowPartial: true })).key).toBe(LIGHT_KEY);
  });

  it('never publishes without a required region, partial or not', async () => {
    await expect(publish({ allowPartial: true, requiredRegions: ['us-east-1', 'eu-central-1'] })).rejects.toThrow(/required regions eu-central-1 have no AMI/);
    expect(s3Mock.calls()).toHaveLength(0);
  });

  it('writes to the key it is given', async () => {
    expect((await publish({ lightKey: 'light/light-custom.tgz' })).key).toBe('light/light-custom.tgz');
    expect(objects.has('light/light-custom.tgz')).toBe(true);
    expect(() => parseLightStemcellEvent({ heavyKey: HEAVY_KEY, amis, lightKey: 'light/custom.tgz' })).toThrow(/'lightKey' is 'light\/custom.tgz', which is not valid/);
  });

  it('refuses a heavy stemcell that is not for AWS, naming the object', async () => {
    const openstack = await makeHeavyStemcell(dir, { infrastructure: 'openstack' });
    objects.set('os.tgz', fs.readFileSync(openstack));
    await expect(publish({ heavyKey: 'os.tgz' })).rejects.toThrow(/s3:\/\/stemcellfarm-stemcells-111122223333\/os.tgz: bosh-openstack-kvm-ubuntu-jammy-go_agent is a stemcell for openstack; light stemcells are made from heavy AWS stemcells/);
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it.each([
    ['no heavy key', { heavyKey: undefined }, /'heavyKey' is required/],
    ['no AMI map', { amis: undefined }, /'amis'.*must be a JSON object/],
    ['an empty AMI map', { amis: {} }, /'amis': the AMI map is empty/],
    ['a bad AMI id', { amis: { 'us-east-1': 'ami-xyz' } }, /"ami-xyz" \(for us-east-1\) is not an AMI id/],
    ['a bad region', { amis: { 'us-east': 'ami-0123456789abcdef0' } }, /"us-east" is not an AWS region name/],
    ['a bad required region', { requiredRegions: ['mars-1'] }, /'requiredRegions' holds 'mars-1'/],
  ])('rejects %s before any AWS call', (_what, change, message) => {
    const bad = { heavyKey: HEAVY_KEY, amis, ...change };
    expect(() => parseLightStemcellEvent(bad)).toThrow(message);
    expect(() => parseLightStemcellEvent(bad)).toThrow(InvalidInputError);
    expect(ec2.log).toEqual([]);
    expect(s3Mock.calls()).toHaveLength(0);
  });
});

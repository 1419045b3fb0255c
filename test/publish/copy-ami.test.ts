import { CopyImageCommand, EC2Client } from '@aws-sdk/client-ec2';
import { checkCopies, copyAmi, parseCheckEvent, parseCopyAmiEvent, PublicSharingBlockedError } from '../../lib/publish/copy-ami';
import { InvalidInputError } from '../../lib/aws/input';
import { RunOptions } from '../../lib/aws/runtime';
import { stemcellTags } from '../../lib/stemcell/ami';
import { awsError, FakeClock, FakeEc2, freshFakeEc2, testClients } from '../helpers/fake-ec2';

const clients = testClients;
const ENABLED_TARGETS = ['af-south-1', 'ap-northeast-1', 'ap-southeast-1', 'eu-central-1', 'eu-west-1', 'us-east-2', 'us-west-1', 'us-west-2'];
const STEMCELL = { name: 'bosh-aws-xen-hvm-ubuntu-jammy-go_agent', version: '1.260', operatingSystem: 'ubuntu-jammy' };
const NAME = 'bosh-aws-xen-hvm-ubuntu-jammy-go_agent 1.260 build 20261122T0500';

let clock: FakeClock;
let ec2: FakeEc2;
let source: string;
beforeEach(() => {
  ({ clock, ec2 } = freshFakeEc2());
  source = ec2.putImage('us-east-1', { Name: NAME, Description: 'BOSH stemcell 1.260 (ubuntu-jammy), built by Stemcell Farm', Tags: stemcellTags(STEMCELL, '20261122T0500') }).ImageId!;
});
afterEach(() => ec2.mock.restore());

const run = (minutes = 14): RunOptions => ({ clock, deadline: clock.now() + minutes * 60_000, pollMs: 15_000 });
const copyEvent = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ sourceRegion: 'us-east-1', sourceImageId: source, ...extra });
const copy = (extra: Record<string, unknown> = {}, options = run()) => copyAmi(clients, parseCopyAmiEvent(copyEvent(extra)), options);

async function regionOf(client: EC2Client): Promise<string> {
  return client.config.region();
}

describe('copy-ami', () => {
  it('copies to every enabled region (opted-in ones too), calling CopyImage in the destination with SourceRegion', async () => {
    const result = await copy();
    expect(result.done).toBe(true);
    expect(Object.keys(result.amis)).toEqual(['us-east-1', ...ENABLED_TARGETS].sort());
    expect(result.amis['us-east-1']).toBe(source);
    expect(result.failed).toEqual({});
    expect(result.pending).toEqual([]);

    const calls = ec2.mock.commandCalls(CopyImageCommand);
    const regions = await Promise.all(calls.map((c) => regionOf(c.thisValue as EC2Client)));
    expect(regions.sort()).toEqual(ENABLED_TARGETS);
    for (const call of calls) {
      const destination = await regionOf(call.thisValue as EC2Client);
      const tags = [
        { Key: 'managed-by', Value: 'stemcell-farm' },
        { Key: 'stemcell-name', Value: STEMCELL.name },
        { Key: 'stemcell-version', Value: '1.260' },
        { Key: 'stemcell-os', Value: 'ubuntu-jammy' },
        { Key: 'build-id', Value: '20261122T0500' },
        { Key: 'published', Value: 'false' },
        { Key: 'source-image-id', Value: source },
        { Key: 'source-region', Value: 'us-east-1' },
      ];
      expect(call.args[0].input).toEqual({
        SourceRegion: 'us-east-1',
        SourceImageId: source,
        Name: NAME,
        Description: 'BOSH stemcell 1.260 (ubuntu-jammy), built by Stemcell Farm',
        ClientToken: expect.stringMatching(/^[0-9a-f]{64}$/),
        TagSpecifications: [
          { ResourceType: 'image', Tags: tags },
          { ResourceType: 'snapshot', Tags: tags },
        ],
      });
      const copyId = result.amis[destination];
      expect(ec2.image(destination, copyId).State).toBe('available');
      expect(ec2.tagsOf(destination, copyId)).toMatchObject({ 'source-image-id': source, published: 'false', 'stemcell-version': '1.260' });
      // Private: nobody was granted anything.
      expect(ec2.launchPermissions(destination, copyId)).toEqual([]);
    }
    expect(new Set(calls.map((c) => c.args[0].input.ClientToken)).size).toBe(ENABLED_TARGETS.length);
  });

  it('keeps at most `concurrency` copies in flight', async () => {
    ec2.copyDuration = (r) => 60_000 + r.length * 1000;
    const result = await copy({ concurrency: 3 });
    expect(result.done).toBe(true);
    expect(ec2.maxCopiesInFlight).toBe(3);
  });

  it('limits to an include list or leaves out an exclude list', async () => {
    expect(Object.keys((await copy({ includeRegions: ['eu-west-1', 'us-west-2'] })).amis)).toEqual(['eu-west-1', 'us-east-1', 'us-west-2']);
    const excluded = await copy({ excludeRegions: ['af-south-1', 'ap-northeast-1'] });
    expect(Object.keys(excluded.amis)).toEqual(['ap-southeast-1', 'eu-central-1', 'eu-west-1', 'us-east-1', 'us-east-2', 'us-west-1', 'us-west-2']);
  });

  it('refuses regions that do not exist or are not enabled, before copying anything', async () => {
    await expect(copy({ includeRegions: ['eu-west-9'] })).rejects.toThrow(/eu-west-9: no such region in this partition/);
    await expect(copy({ includeRegions: ['ap-east-1', 'eu-west-1'] })).rejects.toThrow(/ap-east-1: not enabled in this account \(opt-in region\)/);
    expect(ec2.calls('CopyImage')).toEqual([]);
  });

  it('retries throttling, then succeeds', async () => {
    ec2.fail('CopyImage', awsError('RequestLimitExceeded', 'Request limit exceeded.', 503), 3, 'eu-west-1');
    const result = await copy({ includeRegions: ['eu-west-1'] });
    expect(result.amis['eu-west-1']).toMatch(/^ami-/);
    expect(ec2.calls('CopyImage')).toEqual(['eu-west-1', 'eu-west-1', 'eu-west-1', 'eu-west-1']);
    expect(ec2.images('eu-west-1')).toHaveLength(1);
  });

  it('backs off while the region has too many copies in flight, then copies', async () => {
    const limit = awsError('ResourceLimitExceeded', 'You have exceeded the maximum number of concurrent snapshot copies for this Region.');
    ec2.fail('CopyImage', limit, 5, 'us-west-2');
    const result = await copy({ includeRegions: ['us-west-2'] });
    expect(result.done).toBe(true);
    expect(result.amis['us-west-2']).toMatch(/^ami-/);
    // 1 + 2 + 4 + 8 + 16 s ceilings (base 2 s), jittered to half.
    expect(clock.sleeps.slice(0, 5)).toEqual([1000, 2000, 4000, 8000, 16000]);
  });

  it('reports a region that fails for good, and finishes the others', async () => {
    ec2.failingCopies.add('ap-southeast-1');
    const result = await copy();
    expect(result.done).toBe(true);
    expect(result.failed).toEqual({ 'ap-southeast-1': expect.stringMatching(/^copy ami-[0-9a-f]+ is failed: Copy of snapshot failed/) });
    expect(result.amis['ap-southeast-1']).toBeUndefined();
    expect(Object.keys(result.amis)).toHaveLength(ENABLED_TARGETS.length);
    expect(result.regions.find((r) => r.region === 'ap-southeast-1')).toMatchObject({ state: 'failed' });
  });

  it('reports a region whose CopyImage is refused, and finishes the others', async () => {
    ec2.fail('CopyImage', awsError('UnauthorizedOperation', 'You are not authorized to perform this operation.', 403), 1, 'af-south-1');
    const result = await copy();
    expect(result.failed).toEqual({ 'af-south-1': 'UnauthorizedOperation: You are not authorized to perform this operation.' });
    expect(Object.keys(result.amis)).toHaveLength(ENABLED_TARGETS.length);
  });

  it('replaces a failed copy only when asked to', async () => {
    ec2.failingCopies.add('eu-west-1');
    const first = await copy({ includeRegions: ['eu-west-1'] });
    const failedCopy = first.regions.find((r) => r.region === 'eu-west-1')!.imageId!;
    ec2.failingCopies.clear();
    expect((await copy({ includeRegions: ['eu-west-1'] })).failed['eu-west-1']).toMatch(/is failed/);
    const retried = await copy({ includeRegions: ['eu-west-1'], retryFailed: true });
    expect(retried.failed).toEqual({});
    expect(retried.amis['eu-west-1']).not.toBe(failedCopy);
    expect(ec2.images('eu-west-1').map((i) => i.ImageId)).toEqual([retried.amis['eu-west-1']]);
  });

  it('returns before its deadline with copies pending, and the next call finishes them without duplicates', async () => {
    ec2.copyDuration = () => 20 * 60_000;
    const first = await copy({}, run(14));
    expect(first.done).toBe(false);
    expect(first.pending).toEqual(ENABLED_TARGETS);
    expect(clock.now()).toBeLessThanOrEqual(Date.parse('2026-11-22T05:14:00Z'));
    const second = await copy({}, run(14));
    expect(second.done).toBe(true);
    expect(Object.keys(second.amis)).toHaveLength(ENABLED_TARGETS.length + 1);
    expect(ec2.calls('CopyImage')).toHaveLength(ENABLED_TARGETS.length);
    for (const r of ENABLED_TARGETS) expect(ec2.images(r)).toHaveLength(1);
  });

  it('does not make a second copy when the Lambda timed out right after CopyImage, before tagging was visible', async () => {
    // The copy is made, the response is lost; the retry carries the same client token.
    ec2.loseResponse.add('CopyImage eu-central-1');
    const result = await copy({ includeRegions: ['eu-central-1'] });
    expect(result.amis['eu-central-1']).toMatch(/^ami-/);
    expect(ec2.calls('CopyImage')).toEqual(['eu-central-1', 'eu-central-1']);
    expect(ec2.images('eu-central-1')).toHaveLength(1);
  });

  it('starts no more copies once out of time, and reports them not started', async () => {
    ec2.copyDuration = () => 10 * 60_000;
    const result = await copy({ concurrency: 2 }, run(12));
    expect(result.done).toBe(false);
    expect(result.regions.filter((r) => r.state === 'not-started').map((r) => r.region)).toEqual(ENABLED_TARGETS.slice(4));
    expect(ec2.calls('CopyImage')).toHaveLength(4);
  });

  it('shares with accounts and organizations, and lets the accounts read the snapshots', async () => {
    const shareWith = { accounts: ['444455556666'], organizationArns: ['arn:aws:organizations::111122223333:organization/o-abcdefghij'] };
    const result = await copy({ includeRegions: ['eu-west-1'], visibility: 'shared', shareWith });
    for (const [r, imageId] of Object.entries(result.amis)) {
      expect(ec2.launchPermissions(r, imageId)).toEqual([{ UserId: '444455556666' }, { OrganizationArn: 'arn:aws:organizations::111122223333:organization/o-abcdefghij' }]);
      const snapshot = ec2.image(r, imageId).BlockDeviceMappings![0].Ebs!.SnapshotId!;
      expect(ec2.snapshotPermissions(r, snapshot)).toEqual(['444455556666']);
    }
    expect(Object.keys(result.amis)).toEqual(['eu-west-1', 'us-east-1']);
  });

  it('makes the AMIs public, leaving their snapshots private', async () => {
    const result = await copy({ includeRegions: ['eu-west-1'], visibility: 'public' });
    for (const [r, imageId] of Object.entries(result.amis)) {
      expect(ec2.launchPermissions(r, imageId)).toEqual([{ Group: 'all' }]);
      expect(ec2.image(r, imageId).Public).toBe(true);
      expect(ec2.snapshotPermissions(r, ec2.image(r, imageId).BlockDeviceMappings![0].Ebs!.SnapshotId!)).toEqual([]);
    }
  });

  it('refuses to go public where the account blocks public AMIs, before copying anything', async () => {
    ec2.region('eu-central-1').blockPublicAccess = 'block-new-sharing';
    ec2.region('us-west-2').blockPublicAccess = 'block-new-sharing';
    const attempt = copy({ visibility: 'public' });
    await expect(attempt).rejects.toThrow(PublicSharingBlockedError);
    await expect(copy({ visibility: 'public' })).rejects.toThrow(
      /block public access for AMIs is on in eu-central-1, us-west-2.*aws ec2 disable-image-block-public-access --region REGION.*excludeRegions.*'private' or 'shared'/,
    );
    expect(ec2.calls('CopyImage')).toEqual([]);
  });

  it('turns a refusal to share publicly during the copy into the same clear error', async () => {
    // Switched on after the check: the refusal comes from ModifyImageAttribute.
    ec2.before.set('ModifyImageAttribute eu-west-1', () => (ec2.region('eu-west-1').blockPublicAccess = 'block-new-sharing'));
    await expect(copy({ includeRegions: ['eu-west-1'], visibility: 'public' })).rejects.toThrow(/block public access for AMIs is on in eu-west-1/);
  });

  it('encrypts the copies with the KMS key of each region', async () => {
    const kmsKeyIds = { 'eu-west-1': 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab', 'us-west-2': 'alias/stemcells' };
    await copy({ includeRegions: ['eu-west-1', 'us-west-2', 'us-east-2'], kmsKeyIds, encrypted: true });
    const byRegion = Object.fromEntries(
      await Promise.all(ec2.mock.commandCalls(CopyImageCommand).map(async (c) => [await regionOf(c.thisValue as EC2Client), c.args[0].input] as const)),
    );
    expect(byRegion['eu-west-1']).toMatchObject({ Encrypted: true, KmsKeyId: kmsKeyIds['eu-west-1'] });
    expect(byRegion['us-west-2']).toMatchObject({ Encrypted: true, KmsKeyId: 'alias/stemcells' });
    expect(byRegion['us-east-2']).toMatchObject({ Encrypted: true });
    expect(byRegion['us-east-2'].KmsKeyId).toBeUndefined();
  });

  it('refuses a source AMI that is not available', async () => {
    const pending = ec2.putImage('us-east-1', { Name: 'other', State: 'pending' }).ImageId!;
    await expect(copyAmi(clients, parseCopyAmiEvent({ sourceRegion: 'us-east-1', sourceImageId: pending }), run())).rejects.toThrow(/is pending, not available/);
    await expect(copyAmi(clients, parseCopyAmiEvent({ sourceRegion: 'us-east-1', sourceImageId: 'ami-0123456789abcdef0' }), run())).rejects.toThrow(/does not exist in us-east-1/);
  });

  it.each([
    ['no source image', { sourceImageId: undefined }, /'sourceImageId' is required/],
    ['a bad region in the include list', { includeRegions: ['us-east-1', 'Frankfurt'] }, /'includeRegions' holds 'Frankfurt', not valid/],
    ['include and exclude lists', { includeRegions: ['us-east-1'], excludeRegions: ['eu-west-1'] }, /not both/],
    ['an unknown visibility', { visibility: 'friends' }, /'visibility' is 'friends'; use one of private, shared, public/],
    ['shared with nobody', { visibility: 'shared' }, /needs 'shareWith'/],
    ['a bad account id', { visibility: 'shared', shareWith: { accounts: ['1234'] } }, /'accounts' holds '1234'/],
    ['public and encrypted', { visibility: 'public', encrypted: true }, /encrypted AMIs cannot be made public/],
    ['keys for a bad region', { kmsKeyIds: { europe: 'alias/x' } }, /'kmsKeyIds' names 'europe'/],
    ['keys without encryption', { kmsKeyIds: { 'eu-west-1': 'alias/x' }, encrypted: false }, /'encrypted' is false/],
    ['a concurrency of 0', { concurrency: 0 }, /'concurrency' must be a whole number from 1 to 50/],
  ])('rejects %s before any AWS call', (_what, change, message) => {
    const bad = { ...copyEvent(), ...change };
    expect(() => parseCopyAmiEvent(bad)).toThrow(message);
    expect(() => parseCopyAmiEvent(bad)).toThrow(InvalidInputError);
    expect(ec2.log).toEqual([]);
  });
});

describe('copy-ami check', () => {
  it('reports progress and changes nothing', async () => {
    ec2.copyDuration = (r) => (r.startsWith('eu-') ? 60_000 : 30 * 60_000);
    await copy({}, run(5));
    const before = ec2.log.length;
    const report = await checkCopies(clients, parseCheckEvent({ sourceRegion: 'us-east-1', sourceImageId: source }), run());
    expect(report.done).toBe(false);
    expect(Object.keys(report.amis)).toEqual(['eu-central-1', 'eu-west-1', 'us-east-1']);
    expect(report.pending).toEqual(ENABLED_TARGETS.filter((r) => !r.startsWith('eu-')));
    const made = ec2.log.slice(before).map((l) => l.split(' ')[0]);
    expect(new Set(made)).toEqual(new Set(['DescribeRegions', 'DescribeImages']));
  });
});

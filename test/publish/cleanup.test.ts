import { cleanup, parseCleanupEvent } from '../../lib/publish/cleanup';
import { RunOptions } from '../../lib/aws/runtime';
import { awsError, FakeClock, FakeEc2, freshFakeEc2, testClients } from '../helpers/fake-ec2';

const clients = testClients;
const DAY = 24 * 60 * 60 * 1000;
let clock: FakeClock;
let ec2: FakeEc2;
beforeEach(() => {
  ({ clock, ec2 } = freshFakeEc2());
});
afterEach(() => ec2.mock.restore());

const run = (): RunOptions => ({ clock, deadline: clock.now() + 600_000, pollMs: 5000 });
const ours = (published: string) => [
  { Key: 'managed-by', Value: 'stemcell-farm' },
  { Key: 'published', Value: published },
];

/** An AMI created `daysAgo` days before now. */
function ami(region: string, daysAgo: number, tags: { Key: string; Value: string }[]): { imageId: string; snapshotId: string } {
  const image = ec2.putImage(region, { Name: `stemcell ${region} ${daysAgo}`, Tags: tags, CreationDate: new Date(clock.now() - daysAgo * DAY).toISOString() });
  return { imageId: image.ImageId!, snapshotId: image.BlockDeviceMappings![0].Ebs!.SnapshotId! };
}

describe('cleanup', () => {
  it('lists old unpublished AMIs in every enabled region on a dry run, the default, and changes nothing', async () => {
    const old = [ami('us-east-1', 10, ours('false')), ami('af-south-1', 30, ours('false'))];
    ami('us-east-1', 2, ours('false'));
    ami('eu-west-1', 100, ours('true'));
    ami('eu-west-1', 100, [{ Key: 'published', Value: 'false' }]); // not ours
    const result = await cleanup(clients, 'us-east-1', parseCleanupEvent({}), run());
    expect(result.dryRun).toBe(true);
    expect(result.olderThanDays).toBe(7);
    expect(result.images.map((i) => [i.region, i.imageId, i.action, i.snapshotIds])).toEqual([
      ['af-south-1', old[1].imageId, 'would-deregister', [old[1].snapshotId]],
      ['us-east-1', old[0].imageId, 'would-deregister', [old[0].snapshotId]],
    ]);
    expect(ec2.calls('DeregisterImage')).toEqual([]);
    expect(ec2.calls('DeleteSnapshot')).toEqual([]);
    // Regions not opted in are not asked.
    expect(ec2.calls('DescribeImages')).not.toContain('ap-east-1');
  });

  it('deregisters them and deletes their snapshots when dryRun is false', async () => {
    const old = ami('eu-west-1', 8, ours('false'));
    const young = ami('eu-west-1', 1, ours('false'));
    const published = ami('eu-west-1', 50, ours('true'));
    const result = await cleanup(clients, 'us-east-1', parseCleanupEvent({ dryRun: false, olderThanDays: 7 }), run());
    expect(result.images).toEqual([{ region: 'eu-west-1', imageId: old.imageId, name: 'stemcell eu-west-1 8', created: expect.any(String), snapshotIds: [old.snapshotId], action: 'deregistered' }]);
    expect(ec2.images('eu-west-1').map((i) => i.ImageId).sort()).toEqual([young.imageId, published.imageId].sort());
    expect(ec2.region('eu-west-1').snapshots.has(old.snapshotId)).toBe(false);
    expect(ec2.region('eu-west-1').snapshots.has(published.snapshotId)).toBe(true);
  });

  it('reports what it could not remove and carries on', async () => {
    const first = ami('us-west-2', 9, ours('false'));
    const second = ami('us-west-2', 9, ours('false'));
    ec2.fail('DeregisterImage', awsError('UnauthorizedOperation', 'You are not authorized to perform this operation.', 403), 1, 'us-west-2');
    const result = await cleanup(clients, 'us-east-1', parseCleanupEvent({ dryRun: false, includeRegions: ['us-west-2'] }), run());
    const actions = Object.fromEntries(result.images.map((i) => [i.imageId, i.action]));
    const failedOne = [first.imageId, second.imageId].sort()[0];
    expect(actions[failedOne]).toBe('failed');
    expect(Object.values(actions).sort()).toEqual(['deregistered', 'failed']);
  });

  it('reports a region it cannot list', async () => {
    ec2.fail('DescribeImages', awsError('AuthFailure', 'AWS was not able to validate the provided access credentials', 401), 1, 'af-south-1');
    const result = await cleanup(clients, 'us-east-1', parseCleanupEvent({}), run());
    expect(result.failedRegions).toEqual({ 'af-south-1': 'AuthFailure: AWS was not able to validate the provided access credentials' });
  });

  it('rejects bad input before any AWS call', () => {
    expect(() => parseCleanupEvent({ olderThanDays: -1 })).toThrow(/'olderThanDays' must be a whole number from 0 to 3650/);
    expect(() => parseCleanupEvent({ dryRun: 'no' })).toThrow(/'dryRun' must be true or false/);
    expect(() => parseCleanupEvent({ includeRegions: ['moon-1a'] })).toThrow(/'includeRegions' holds 'moon-1a'/);
    expect(ec2.log).toEqual([]);
  });
});

import { RegisterImageCommand } from '@aws-sdk/client-ec2';
import { InvalidInputError } from '../../lib/aws/input';
import { RunOptions } from '../../lib/aws/runtime';
import { parseRegisterAmiEvent, registerAmi, RegisterAmiInput } from '../../lib/publish/register-ami';
import { awsError, FakeClock, FakeEc2, freshFakeEc2, testClients } from '../helpers/fake-ec2';

const clients = testClients;
let clock: FakeClock;
let ec2: FakeEc2;
beforeEach(() => {
  ({ clock, ec2 } = freshFakeEc2());
});
afterEach(() => ec2.mock.restore());

const run = (minutes = 10): RunOptions => ({ clock, deadline: clock.now() + minutes * 60_000, pollMs: 5000 });

function event(snapshotId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    region: 'us-east-1',
    snapshotId,
    buildId: '20261122T0500',
    stemcell: { name: 'bosh-aws-xen-hvm-ubuntu-jammy-go_agent', version: '1.260', operatingSystem: 'ubuntu-jammy' },
    ...extra,
  };
}

const input = (snapshotId: string, extra: Record<string, unknown> = {}): RegisterAmiInput => parseRegisterAmiEvent(event(snapshotId, extra));

describe('register-ami', () => {
  it('registers with every parameter the AWS CPI uses, tags AMI and snapshot, and waits until available', async () => {
    const snapshot = ec2.addSnapshot('us-east-1');
    const result = await registerAmi(clients('us-east-1'), input(snapshot), run());

    const calls = ec2.mock.commandCalls(RegisterImageCommand);
    expect(calls).toHaveLength(1);
    const tags = [
      { Key: 'managed-by', Value: 'stemcell-farm' },
      { Key: 'stemcell-name', Value: 'bosh-aws-xen-hvm-ubuntu-jammy-go_agent' },
      { Key: 'stemcell-version', Value: '1.260' },
      { Key: 'stemcell-os', Value: 'ubuntu-jammy' },
      { Key: 'build-id', Value: '20261122T0500' },
      { Key: 'published', Value: 'false' },
    ];
    expect(calls[0].args[0].input).toEqual({
      Name: 'bosh-aws-xen-hvm-ubuntu-jammy-go_agent 1.260 build 20261122T0500',
      Description: 'BOSH stemcell 1.260 (ubuntu-jammy), built by Stemcell Farm',
      Architecture: 'x86_64',
      VirtualizationType: 'hvm',
      RootDeviceName: '/dev/xvda',
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: snapshot, DeleteOnTermination: true } }],
      EnaSupport: true,
      SriovNetSupport: 'simple',
      BootMode: 'legacy-bios',
      TagSpecifications: [{ ResourceType: 'image', Tags: tags }],
    });
    expect(result).toEqual({ region: 'us-east-1', name: 'bosh-aws-xen-hvm-ubuntu-jammy-go_agent 1.260 build 20261122T0500', imageId: expect.stringMatching(/^ami-[0-9a-f]{17}$/), state: 'available', snapshotId: snapshot, reused: false });
    expect(ec2.image('us-east-1', result.imageId!).State).toBe('available');
    expect(ec2.tagsOf('us-east-1', snapshot)).toEqual(Object.fromEntries(tags.map((t) => [t.Key, t.Value])));
    // Waited by polling, not by a single long sleep.
    expect(clock.sleeps.every((ms) => ms === 5000)).toBe(true);
  });

  it('sets the EFI boot mode of the stemcell and IMDSv2 when asked', async () => {
    const snapshot = ec2.addSnapshot('us-east-1');
    const efi = input(snapshot, { imdsSupport: 'v2.0', stemcell: { name: 'bosh-aws-xen-hvm-ubuntu-noble-go_agent', version: '1.5', operatingSystem: 'ubuntu-noble', bootMode: 'uefi-preferred' } });
    await registerAmi(clients('us-east-1'), efi, run());
    expect(ec2.mock.commandCalls(RegisterImageCommand)[0].args[0].input).toMatchObject({ BootMode: 'uefi-preferred', ImdsSupport: 'v2.0' });
  });

  it('run twice with the same input gives the same AMI, not two', async () => {
    const snapshot = ec2.addSnapshot('us-east-1');
    const first = await registerAmi(clients('us-east-1'), input(snapshot), run());
    const second = await registerAmi(clients('us-east-1'), input(snapshot), run());
    expect(second).toEqual({ ...first, reused: true });
    expect(ec2.mock.commandCalls(RegisterImageCommand)).toHaveLength(1);
    expect(ec2.images('us-east-1')).toHaveLength(1);
  });

  it('returns pending when the AMI is not available within the time it has, and a second call finishes', async () => {
    const snapshot = ec2.addSnapshot('us-east-1');
    const first = await registerAmi(clients('us-east-1'), input(snapshot), { clock, deadline: clock.now() + 8000, pollMs: 5000 });
    expect(first.state).toBe('pending');
    expect(first.imageId).toMatch(/^ami-/);
    const second = await registerAmi(clients('us-east-1'), input(snapshot), run());
    expect(second).toMatchObject({ state: 'available', imageId: first.imageId, reused: true });
    expect(ec2.mock.commandCalls(RegisterImageCommand)).toHaveLength(1);
  });

  it('waits for a snapshot that is still being completed, or says so when out of time', async () => {
    const snapshot = ec2.addSnapshot('us-east-1', 'pending');
    const first = await registerAmi(clients('us-east-1'), input(snapshot), { clock, deadline: clock.now() + 12_000, pollMs: 5000 });
    expect(first.state).toBe('snapshot-pending');
    expect(first.imageId).toBeUndefined();
    expect(ec2.mock.commandCalls(RegisterImageCommand)).toHaveLength(0);
    ec2.region('us-east-1').snapshots.get(snapshot)!.State = 'completed';
    expect((await registerAmi(clients('us-east-1'), input(snapshot), run())).state).toBe('available');
  });

  it('retries throttling with growing, jittered delays', async () => {
    const snapshot = ec2.addSnapshot('us-east-1');
    ec2.fail('RegisterImage', awsError('RequestLimitExceeded', 'Request limit exceeded.', 503), 2);
    const result = await registerAmi(clients('us-east-1'), input(snapshot), run());
    expect(result.state).toBe('available');
    expect(ec2.calls('RegisterImage')).toEqual(['us-east-1', 'us-east-1', 'us-east-1']);
    // Full jitter at random() = 0.5: half of 1 s, then half of 2 s.
    expect(clock.sleeps.slice(0, 2)).toEqual([500, 1000]);
  });

  it('takes over an AMI another call registered at the same moment', async () => {
    const snapshot = ec2.addSnapshot('us-east-1');
    const name = 'bosh-aws-xen-hvm-ubuntu-jammy-go_agent 1.260 build 20261122T0500';
    // The other call's AMI appears after our look and before our request.
    let other = '';
    ec2.before.set('RegisterImage us-east-1', () => {
      other = ec2.putImage('us-east-1', { Name: name }).ImageId!;
      ec2.region('us-east-1').images.get(other)!.BlockDeviceMappings![0].Ebs!.SnapshotId = snapshot;
    });
    const result = await registerAmi(clients('us-east-1'), input(snapshot), run());
    expect(result).toMatchObject({ imageId: other, reused: true, state: 'available' });
    expect(ec2.images('us-east-1')).toHaveLength(1);
  });

  it('refuses an AMI name that is taken by another snapshot', async () => {
    const snapshot = ec2.addSnapshot('us-east-1');
    ec2.putImage('us-east-1', { Name: 'bosh-aws-xen-hvm-ubuntu-jammy-go_agent 1.260 build 20261122T0500' });
    await expect(registerAmi(clients('us-east-1'), input(snapshot), run())).rejects.toThrow(/already exists, made from snapshot snap-.*give this build its own build id/);
    expect(ec2.mock.commandCalls(RegisterImageCommand)).toHaveLength(0);
  });

  it('says clearly when the snapshot does not exist', async () => {
    await expect(registerAmi(clients('us-east-1'), input('snap-0123456789abcdef0'), run())).rejects.toThrow(/snapshot snap-0123456789abcdef0 does not exist/);
    expect(ec2.mock.commandCalls(RegisterImageCommand)).toHaveLength(0);
  });

  it.each([
    ['no snapshot id', { snapshotId: undefined }, /'snapshotId' is required/],
    ['no stemcell', { stemcell: undefined }, /'stemcell' is required: \{ name, version, operatingSystem, bootMode\? \} from the heavy stemcell's stemcell.MF/],
    ['a malformed snapshot id', { snapshotId: 'snapshot-1' }, /'snapshotId' is 'snapshot-1', which is not valid; expected something like snap-/],
    ['a bad region', { region: 'us-east' }, /'region' is 'us-east', which is not an AWS region name/],
    ['an unknown boot mode', { stemcell: { name: 'bosh-aws-xen-hvm-ubuntu-jammy-go_agent', version: '1.260', operatingSystem: 'ubuntu-jammy', bootMode: 'bios' } }, /'stemcell.bootMode' is 'bios'/],
    ['an unsafe version', { stemcell: { name: 'bosh-aws-xen-hvm-ubuntu-jammy-go_agent', version: '1 260', operatingSystem: 'ubuntu-jammy' } }, /invalid stemcell version/],
    ['a non-AWS stemcell', { stemcell: { name: 'bosh-openstack-kvm-ubuntu-jammy-go_agent', version: '1.260', operatingSystem: 'ubuntu-jammy' } }, /not an AWS stemcell name/],
    ['a bad build id', { buildId: 'build #5' }, /invalid build id/],
    ['IMDS v1', { imdsSupport: 'v1.0' }, /'imdsSupport' can only be 'v2.0'/],
  ])('rejects %s before any AWS call', (_what, change, message) => {
    expect(() => parseRegisterAmiEvent({ ...event('snap-0123456789abcdef0'), ...change })).toThrow(message);
    expect(() => parseRegisterAmiEvent({ ...event('snap-0123456789abcdef0'), ...change })).toThrow(InvalidInputError);
    expect(ec2.log).toEqual([]);
  });

  it('rejects an event that is not an object', () => {
    expect(() => parseRegisterAmiEvent('snap-0123456789abcdef0')).toThrow(/must be a JSON object, got string/);
  });
});

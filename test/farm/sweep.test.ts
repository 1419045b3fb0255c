import { DescribeInstancesCommand, DescribeInstancesCommandOutput, EC2Client, Instance, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { PublishCommand, SNSClient, SNSServiceException } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { RunOptions } from '../../lib/aws/runtime';
import { SweepConfig, sweepBuilders, sweepConfigFromEnvironment } from '../../lib/farm/sweep';
import { ACCOUNT, awsError, FakeClock } from '../helpers/fake-ec2';

const ec2Mock = mockClient(EC2Client);
const snsMock = mockClient(SNSClient);
const clients = { ec2: new EC2Client({ region: 'eu-central-1', maxAttempts: 1 }), sns: new SNSClient({ region: 'eu-central-1', maxAttempts: 1 }) };
const TOPIC = `arn:aws:sns:eu-central-1:${ACCOUNT}:StemcellFarm-Notifications`;
const config: SweepConfig = { maxBuildMinutes: 240, graceMinutes: 30, topicArn: TOPIC, stackName: 'StemcellFarm' };
const MINUTE = 60_000;

let clock: FakeClock;
const run = (): RunOptions => ({ clock, deadline: clock.now() + 100_000, pollMs: 5000 });

beforeEach(() => {
  ec2Mock.reset();
  snsMock.reset();
  clock = new FakeClock();
  snsMock.on(PublishCommand).resolves({ MessageId: '7b3f6b7e-6c1a-5d0e-9a1b-2f0c8e4d5a6b', $metadata: {} });
  ec2Mock.on(TerminateInstancesCommand).callsFake((input: { InstanceIds: string[] }) => ({
    TerminatingInstances: input.InstanceIds.map((id) => ({ InstanceId: id, CurrentState: { Code: 32, Name: 'shutting-down' }, PreviousState: { Code: 16, Name: 'running' } })),
    $metadata: {},
  }));
});
afterAll(() => {
  ec2Mock.restore();
  snsMock.restore();
});

const buildIdOf = (i: Instance): string | undefined => i.Tags!.find((t) => t.Key === 'build-id')?.Value;

let serial = 0;
/** An instance as DescribeInstances describes it, launched `minutesAgo` before the clock's now. */
function instance(minutesAgo: number, options: { farm?: boolean; buildId?: string; state?: string; stack?: string } = {}): Instance {
  const id = `i-0${(++serial).toString(16).padStart(16, '0')}`;
  const farm = options.farm ?? true;
  const buildId = options.buildId ?? `4105a4fc-f944-11e6-9d32-0000000000${serial.toString().padStart(2, '0')}`;
  const state = options.state ?? 'running';
  return {
    InstanceId: id,
    ImageId: 'ami-0abcdef1234567890',
    InstanceType: 'm6i.xlarge',
    LaunchTime: new Date(clock.now() - minutesAgo * MINUTE),
    State: { Code: { pending: 0, running: 16, stopping: 64, stopped: 80 }[state], Name: state as 'running' },
    SubnetId: 'subnet-0123456789abcdef0',
    VpcId: 'vpc-0123456789abcdef0',
    PrivateIpAddress: '10.0.1.23',
    Tags: farm
      ? [
          { Key: 'managed-by', Value: 'stemcell-farm' },
          { Key: 'stemcell-farm-stack', Value: options.stack ?? 'StemcellFarm' },
          ...(buildId ? [{ Key: 'build-id', Value: buildId }] : []),
          { Key: 'execution-id', Value: buildId },
          { Key: 'Name', Value: `stemcell-farm builder ${buildId}` },
        ]
      : [{ Key: 'Name', Value: 'somebody else' }],
  };
}

/** DescribeInstances answers, one page per list; each reservation holds one instance, as RunInstances with MaxCount 1 makes them. */
function pages(...lists: Instance[][]): void {
  lists.forEach((list, i) => {
    const out: DescribeInstancesCommandOutput = {
      Reservations: list.map((inst, j) => ({ ReservationId: `r-0${i}${j}abcdef012345678`, OwnerId: ACCOUNT, Instances: [inst] })),
      NextToken: i + 1 < lists.length ? `token-${i + 1}` : undefined,
      $metadata: { httpStatusCode: 200 },
    };
    ec2Mock.on(DescribeInstancesCommand, { NextToken: i === 0 ? undefined : `token-${i}` }).resolves(out);
  });
}

const terminatedIds = (): string[] => ec2Mock.commandCalls(TerminateInstancesCommand).flatMap((c) => c.args[0].input.InstanceIds ?? []);

describe('sweepBuilders', () => {
  it('terminates farm builders older than the maximum build time and the grace, keeps young ones, and reports them', async () => {
    const old = instance(300);
    const stopped = instance(2000, { state: 'stopped' });
    const young = instance(200);
    const atTheLimit = instance(270);
    pages([young, old, atTheLimit, stopped]);

    const report = await sweepBuilders(clients, config, run());

    expect(report.terminated).toEqual(
      [old, stopped].map((i) => ({ instanceId: i.InstanceId, buildId: i.Tags!.find((t) => t.Key === 'build-id')!.Value, launchedAt: i.LaunchTime!.toISOString(), ageMinutes: Math.round((clock.now() - i.LaunchTime!.getTime()) / MINUTE) })),
    );
    expect(report.failed).toEqual([]);
    expect(report.kept.sort()).toEqual([young.InstanceId, atTheLimit.InstanceId].sort());
    expect(terminatedIds().sort()).toEqual([old.InstanceId, stopped.InstanceId].sort());
    // Only farm instances that still exist are asked for.
    expect(ec2Mock.commandCalls(DescribeInstancesCommand)[0].args[0].input.Filters).toEqual([
      { Name: 'tag:managed-by', Values: ['stemcell-farm'] },
      { Name: 'tag:stemcell-farm-stack', Values: ['StemcellFarm'] },
      { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
    ]);

    expect(report.notified).toBe(true);
    const published = snsMock.commandCalls(PublishCommand).map((c) => c.args[0].input);
    expect(published).toHaveLength(1);
    expect(published[0].TopicArn).toBe(TOPIC);
    expect(published[0].Subject).toBe('Stemcell Farm: terminated 2 builders past the maximum build time');
    const body = published[0].Message!;
    expect(body).toContain('at most 240 minutes');
    expect(body).toContain('still there after 270');
    for (const i of [old, stopped]) expect(body).toContain(`${i.InstanceId}  build ${buildIdOf(i)}  launched ${i.LaunchTime!.toISOString()}`);
    expect(body).toContain('(300 minutes ago)');
    expect(body).not.toContain(young.InstanceId);
  });

  it('never touches an instance without the farm tag, whatever EC2 answers', async () => {
    const theirs = instance(5000, { farm: false });
    const ours = instance(5000);
    pages([theirs, ours]);
    const report = await sweepBuilders(clients, config, run());
    expect(terminatedIds()).toEqual([ours.InstanceId]);
    expect(report.kept).toEqual([]);
    expect(JSON.stringify(report)).not.toContain(theirs.InstanceId);
  });

  it("never touches another farm stack's builders, nor one whose launch time it cannot read", async () => {
    const otherFarm = instance(5000, { stack: 'StemcellFarmBuildRunbookInteg' });
    const undated = { ...instance(5000), LaunchTime: new Date(Number.NaN) };
    const ours = instance(5000);
    pages([otherFarm, undated, ours]);
    const report = await sweepBuilders(clients, config, run());
    expect(terminatedIds()).toEqual([ours.InstanceId]);
    expect(report.kept).toEqual([undated.InstanceId]);
    expect(report.notified).toBe(true);
  });

  it('reads every page', async () => {
    const first = instance(1000);
    const second = instance(10);
    const third = instance(1000, { buildId: '' });
    pages([first], [second], [third]);
    const report = await sweepBuilders(clients, config, run());
    expect(ec2Mock.commandCalls(DescribeInstancesCommand).map((c) => c.args[0].input.NextToken)).toEqual([undefined, 'token-1', 'token-2']);
    expect(report.terminated.map((b) => [b.instanceId, b.buildId])).toEqual([
      [first.InstanceId, buildIdOf(first)],
      [third.InstanceId, ''],
    ]);
    expect(report.kept).toEqual([second.InstanceId]);
    expect(snsMock.commandCalls(PublishCommand)[0].args[0].input.Message).toContain(`${third.InstanceId}  build (no build-id tag)`);
  });

  it('reports a builder it cannot terminate, terminates the others, and retries what passes', async () => {
    const protectedOne = instance(400);
    const throttledOne = instance(400);
    pages([protectedOne, throttledOne]);
    ec2Mock
      .on(TerminateInstancesCommand, { InstanceIds: [protectedOne.InstanceId!] })
      .rejects(awsError('OperationNotPermitted', `The instance '${protectedOne.InstanceId}' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.`));
    ec2Mock
      .on(TerminateInstancesCommand, { InstanceIds: [throttledOne.InstanceId!] })
      .rejectsOnce(awsError('RequestLimitExceeded', 'Request limit exceeded.', 503))
      .resolves({ TerminatingInstances: [{ InstanceId: throttledOne.InstanceId, CurrentState: { Code: 32, Name: 'shutting-down' } }], $metadata: {} });

    const report = await sweepBuilders(clients, config, run());

    expect(report.terminated.map((b) => b.instanceId)).toEqual([throttledOne.InstanceId]);
    expect(report.failed).toEqual([expect.objectContaining({ instanceId: protectedOne.InstanceId, reason: expect.stringMatching(/^OperationNotPermitted: The instance .* may not be terminated/) })]);
    expect(ec2Mock.commandCalls(TerminateInstancesCommand, { InstanceIds: [protectedOne.InstanceId!] })).toHaveLength(1);
    expect(clock.sleeps).toHaveLength(1);
    const { Subject, Message } = snsMock.commandCalls(PublishCommand)[0].args[0].input;
    expect(Subject).toBe('Stemcell Farm: 1 builder past the maximum build time could not be terminated');
    expect(Subject!.length).toBeLessThanOrEqual(100);
    expect(Message).toMatch(new RegExp(`Terminated:\\n  ${throttledOne.InstanceId} .*\\n\\nCould not terminate .*:\\n  ${protectedOne.InstanceId} .*\\n    OperationNotPermitted: `));
  });

  it('sends nothing when there is nothing to report', async () => {
    pages([instance(30), instance(269)]);
    const report = await sweepBuilders(clients, config, run());
    expect(report).toEqual({ terminated: [], failed: [], kept: expect.any(Array), notified: false });
    expect(report.kept).toHaveLength(2);
    pages([]);
    expect(await sweepBuilders(clients, config, run())).toEqual({ terminated: [], failed: [], kept: [], notified: false });
    expect(snsMock.commandCalls(PublishCommand)).toEqual([]);
    expect(ec2Mock.commandCalls(TerminateInstancesCommand)).toEqual([]);
  });

  it('fails, with the report in the error, when the topic cannot be told', async () => {
    const old = instance(600);
    pages([old]);
    snsMock.on(PublishCommand).rejects(new SNSServiceException({ name: 'AuthorizationError', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'User is not authorized to perform: SNS:Publish' }));
    await expect(sweepBuilders(clients, config, run())).rejects.toThrow(new RegExp(`could not publish to ${TOPIC} \\(AuthorizationError: .*\\):\\n[^]*${old.InstanceId}`));
    expect(terminatedIds()).toEqual([old.InstanceId]);
  });

  it('fails when it cannot list, terminating nothing', async () => {
    ec2Mock.on(DescribeInstancesCommand).rejects(awsError('UnauthorizedOperation', 'You are not authorized to perform this operation.', 403));
    await expect(sweepBuilders(clients, config, run())).rejects.toThrow(/not authorized/);
    expect(ec2Mock.commandCalls(TerminateInstancesCommand)).toEqual([]);
  });
});

describe('sweepConfigFromEnvironment', () => {
  it('reads what the stack sets, with a default grace', () => {
    expect(sweepConfigFromEnvironment({ MAX_BUILD_MINUTES: '240', TOPIC_ARN: TOPIC, FARM_STACK_NAME: 'StemcellFarm' })).toEqual({ maxBuildMinutes: 240, graceMinutes: 30, topicArn: TOPIC, stackName: 'StemcellFarm' });
    expect(sweepConfigFromEnvironment({ MAX_BUILD_MINUTES: '90', GRACE_MINUTES: '0', TOPIC_ARN: 'arn:aws-cn:sns:cn-north-1:111122223333:farm.fifo', FARM_STACK_NAME: 'Farm2' }).graceMinutes).toBe(0);
  });

  it.each([
    [{ TOPIC_ARN: TOPIC }, /MAX_BUILD_MINUTES must be a whole number of minutes, got undefined/],
    [{ MAX_BUILD_MINUTES: '4h', TOPIC_ARN: TOPIC }, /MAX_BUILD_MINUTES must be a whole number/],
    [{ MAX_BUILD_MINUTES: '0', TOPIC_ARN: TOPIC }, /MAX_BUILD_MINUTES must be more than 0/],
    [{ MAX_BUILD_MINUTES: '240', GRACE_MINUTES: '-5', TOPIC_ARN: TOPIC, FARM_STACK_NAME: 'StemcellFarm' }, /GRACE_MINUTES must be a whole number/],
    [{ MAX_BUILD_MINUTES: '240' }, /TOPIC_ARN must be an SNS topic ARN, got undefined/],
    [{ MAX_BUILD_MINUTES: '240', TOPIC_ARN: 'StemcellFarm-Notifications' }, /TOPIC_ARN must be an SNS topic ARN/],
    [{ MAX_BUILD_MINUTES: '240', TOPIC_ARN: TOPIC }, /FARM_STACK_NAME must be a stack name, got undefined/],
  ])('refuses %j', (env, message) => {
    expect(() => sweepConfigFromEnvironment(env)).toThrow(message);
  });
});

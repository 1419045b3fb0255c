/**
 * The build runbook as synthesized, executed step by step (test/helpers/automation.ts)
 * against the simulated farm (test/helpers/fake-farm.ts): the document's own
 * steps, references and branches; the Lambdas' own handlers; EC2, S3 and SSM
 * fakes. Time is fake: a two-hour copy costs milliseconds.
 */
import { RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { PublishCommand } from '@aws-sdk/client-sns';
import { SendCommandCommand } from '@aws-sdk/client-ssm';
import { BuildRecord, recordFromItem } from '../../lib/farm/records';
import { AutomationExecution, ExecutionResult, fromApiParameters, Value } from '../helpers/automation';
import { resolveIntrinsics } from '../helpers/cfn';
import { DEPLOYMENT } from '../helpers/fake-farm';
import { awsError, COMMERCIAL_REGIONS, FakeEc2 } from '../helpers/fake-ec2';
import { BUILDER_AMI, FakeFarm } from '../helpers/fake-farm';
import { FakeS3, s3Error } from '../helpers/fake-s3';
import { farmApp } from '../helpers/farm';

const EXECUTION = '4105a4fc-f944-11e6-9d32-0123456789ab';
const { stack } = farmApp();

let farm: FakeFarm;
let ec2: FakeEc2;

function newFarm(regions: Record<string, string> = COMMERCIAL_REGIONS): void {
  ec2 = new FakeEc2({ now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)), random: () => 0.5 }, regions);
  farm = new FakeFarm(stack, ec2, (buckets) => new FakeS3({ now: () => Date.now() }, buckets));
}

beforeEach(() => {
  jest.useFakeTimers({ now: Date.parse('2026-11-22T05:00:00Z'), doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
  newFarm();
});
afterEach(() => {
  ec2.mock.restore();
  farm.s3.mock.restore();
  farm.ssm.restore();
  farm.cleanUp();
  jest.useRealTimers();
});

async function execute(parameters: Record<string, Value> = {}, cancelAt?: string): Promise<ExecutionResult> {
  return new AutomationExecution(farm.runbook(), parameters, farm.environment(EXECUTION, { cancelAt })).run();
}

const ran = (r: ExecutionResult): string[] => r.steps.map((s) => s.name);
const record = (executionId: string): BuildRecord | undefined => farm.dynamodb.items(farm.tableName('HistoryBuilds')).map(recordFromItem).find((x) => x.executionId === executionId);
const published = () => farm.sns.commandCalls(PublishCommand).map((c) => c.args[0].input);
const instances = () => [...ec2.instances.values()];

describe('the build runbook, executed', () => {
  it('builds, terminates the builder, registers, copies and writes the light stemcell, wiring each output into the next step', async () => {
    const r = await execute({ OperatingSystem: 'ubuntu-jammy', Infrastructures: ['aws', 'openstack'], Version: '1.260', Regions: ['eu-central-1', 'us-east-1'] });
    expect(r.failure).toBeUndefined();
    expect(r.status).toBe('Success');
    expect(ran(r)).toEqual(['Prepare', 'Decode', 'LaunchBuilder', 'WaitForBuilder', 'BuildOnHost', 'TerminateBuilder', 'ReadResult', 'ChoosePublish', 'RegisterAmi', 'Register', 'CopyAmi', 'Copy', 'LightStemcell', 'Published']);

    // One builder, launched as the launch template says, with Prepare's choices, and terminated.
    expect(instances()).toHaveLength(1);
    const [builder] = instances();
    const launch = ec2.mock.commandCalls(RunInstancesCommand)[0].args[0].input;
    expect(launch).toMatchObject({
      ImageId: BUILDER_AMI,
      InstanceType: 'm6i.xlarge',
      ClientToken: EXECUTION,
      LaunchTemplate: { LaunchTemplateId: expect.stringMatching(/^lt-/), Version: '1' },
      BlockDeviceMappings: [{ DeviceName: '/dev/sda1', Ebs: { VolumeSize: 40, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true } }],
    });
    expect(launch.SubnetId).toMatch(/^subnet-/);
    for (const spec of launch.TagSpecifications!) expect(spec.Tags).toEqual(expect.arrayContaining([{ Key: 'managed-by', Value: 'stemcell-farm' }, { Key: 'build-id', Value: EXECUTION }, { Key: 'execution-id', Value: EXECUTION }]));
    expect(builder.state).toBe('terminated');

    // The build command: the request Prepare wrote, logged to CloudWatch.
    const command = farm.ssm.commandCalls(SendCommandCommand)[0].args[0].input;
    expect(command).toMatchObject({ DocumentName: farm.buildDocumentName(), InstanceIds: [builder.instanceId], Parameters: { RequestUri: [`s3://${farm.stemcellBucket}/builds/${EXECUTION}/request.json`] } });
    expect(command.CloudWatchOutputConfig).toEqual({ CloudWatchLogGroupName: expect.any(String), CloudWatchOutputEnabled: true });

    // The snapshot of result.json was registered, that AMI copied, the copies named in the light stemcell.
    const register = r.steps.find((s) => s.name === 'Register')!;
    const state = JSON.parse((register.inputs as { InputPayload: { state: string } }).InputPayload.state);
    const snapshotId = state.snapshotId;
    expect(snapshotId).toMatch(/^snap-/);
    const source = ec2.images('eu-west-1').find((i) => i.BlockDeviceMappings?.[0].Ebs?.SnapshotId === snapshotId)!;
    expect(source.Name).toBe(`bosh-aws-xen-hvm-ubuntu-jammy-go_agent 1.260 build ${EXECUTION}`);
    expect(source.ImdsSupport).toBe('v2.0');
    const amis = r.outputs['Published.Amis'] as Record<string, string>;
    expect(Object.keys(amis).sort()).toEqual(['eu-central-1', 'eu-west-1', 'us-east-1']);
    expect(amis['eu-west-1']).toBe(source.ImageId);
    expect(r.outputs['Decode.StemcellKeys']).toEqual(['ubuntu-jammy/1.260/bosh-stemcell-1.260-aws-xen-hvm-ubuntu-jammy-go_agent.tgz', 'ubuntu-jammy/1.260/bosh-stemcell-1.260-openstack-kvm-ubuntu-jammy-go_agent.tgz']);
    expect(r.outputs['Published.LightStemcellKey']).toBe('ubuntu-jammy/1.260/light-bosh-stemcell-1.260-aws-xen-hvm-ubuntu-jammy-go_agent.tgz');
    expect(farm.s3.get(farm.stemcellBucket, r.outputs['Published.LightStemcellKey'] as string)).toBeDefined();
    for (const [region, ami] of Object.entries(amis)) expect(ec2.tagsOf(region, ami).published).toBe('true');
  });

  it('builds without publishing when aws is not among the infrastructures, and ends after ReadResult', async () => {
    const r = await execute({ OperatingSystem: 'debian-bookworm', Infrastructures: ['vsphere'], Version: '2.1' });
    expect(r.status).toBe('Success');
    expect(ran(r)).toEqual(['Prepare', 'Decode', 'LaunchBuilder', 'WaitForBuilder', 'BuildOnHost', 'TerminateBuilder', 'ReadResult', 'ChoosePublish', 'Built']);
    expect(r.outputs['Decode.StemcellKeys']).toEqual(['debian-bookworm/2.1/bosh-stemcell-2.1-vsphere-esxi-debian-bookworm-go_agent.tgz']);
    expect(instances()[0].state).toBe('terminated');
  });

  it('copies to 30 regions over two hours within the loop limits, each call within its step limit', async () => {
    const thirty = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`xx-test-${i + 1}`, 'opt-in-not-required']));
    newFarm({ 'eu-west-1': 'opt-in-not-required', ...thirty });
    ec2.copyDuration = () => 30 * 60_000;
    const started = Date.now();
    const r = await execute({ Infrastructures: ['aws'], Version: '1.261' });
    expect(r.failure).toBeUndefined();
    expect(r.status).toBe('Success');
    const copy = r.steps.find((s) => s.name === 'CopyAmi')!;
    expect(copy.endedAt! - copy.startedAt).toBeGreaterThanOrEqual(2 * 3600_000);
    expect(copy.outputs!.CurrentIteration).toBeLessThanOrEqual(100);
    expect(Object.keys(r.outputs['Published.Amis'] as object)).toHaveLength(31);
    // One copy-ami call per iteration, each within aws:invokeLambdaFunction's 300 s (the executor fails a step that runs longer).
    const calls = r.steps.filter((s) => s.name === 'Copy');
    expect(calls).toHaveLength(copy.outputs!.CurrentIteration as number);
    for (const call of calls) expect(call.endedAt! - call.startedAt).toBeLessThanOrEqual(300_000);
    expect(Date.now() - started).toBeGreaterThan(2 * 3600_000);
  });

  type Fault = [string, () => void];
  const faults: Fault[] = [
    ['WaitForBuilder', () => (ec2.bootDuration = 24 * 3600_000)],
    ['BuildOnHost', () => (farm.builder.fail = true)],
    ['TerminateBuilder', () => ec2.fail('TerminateInstances', awsError('InternalError', 'An internal error has occurred', 500), 3)],
    ['ReadResult', () => (farm.builder.noResult = true)],
    ['RegisterAmi', () => ec2.fail('RegisterImage', awsError('InvalidParameterValue', 'Value of BlockDeviceMapping is invalid'), 20)],
    ['LightStemcell', () => farm.s3.faults.set(`PutObject ${farm.stemcellBucket}/ubuntu-jammy/1.300/light-bosh-stemcell-1.300-aws-xen-hvm-ubuntu-jammy-go_agent.tgz`, s3Error('AccessDenied', 403, 'Access Denied'))],
  ];

  it.each(faults)('a failure at %s fails the execution, terminates the builder and runs nothing later', async (step, inject) => {
    inject();
    const r = await execute({ Infrastructures: ['aws'], Version: '1.300' });
    expect(r.status).toMatch(/Failed|TimedOut/);
    expect(r.failure).toMatch(new RegExp(`^${step}`));
    const order = ran(r);
    const failedAt = order.indexOf(step);
    const later = order.slice(failedAt + 1).filter((s) => s !== 'TerminateAfterFailure' && s !== 'Register');
    expect(later).toEqual([]);
    expect(instances()).toHaveLength(1);
    expect(instances()[0].state).toBe('terminated');
    if (['WaitForBuilder', 'BuildOnHost', 'TerminateBuilder'].includes(step)) {
      expect(order[order.length - 1]).toBe('TerminateAfterFailure');
      expect(ec2.mock.commandCalls(TerminateInstancesCommand).at(-1)!.args[0].input.InstanceIds).toEqual([instances()[0].instanceId]);
    }
    // The status event records the failure, naming the step, and tells the topic.
    await farm.executionEnded(EXECUTION, r);
    expect(record(EXECUTION)).toMatchObject({ line: 'ubuntu-jammy', version: '1.300', status: r.status, failedStep: step });
    expect(published().at(-1)!.Subject).toMatch(new RegExp(`^Stemcell Farm: ubuntu-jammy 1\\.300 (FAILED|TIMED OUT) at ${step}$`));
  });

  it.each(['WaitForBuilder', 'BuildOnHost', 'TerminateBuilder', 'ReadResult', 'RegisterAmi', 'CopyAmi', 'LightStemcell'])('a cancel during %s ends cancelled with the builder terminated and nothing later run', async (step) => {
    const r = await execute({ Infrastructures: ['aws'], Version: '1.301' }, step);
    expect(r.status).toBe('Cancelled');
    const order = ran(r);
    expect(order.slice(order.indexOf(step) + 1).filter((s) => s !== 'TerminateAfterFailure')).toEqual([]);
    expect(instances()[0].state).toBe('terminated');
    await farm.executionEnded(EXECUTION, r);
    expect(record(EXECUTION)).toMatchObject({ version: '1.301', status: 'Cancelled' });
  });

  it.each([
    [{ Visibility: 'shared' }, /^Prepare: .*ShareWith: Visibility shared needs/],
    [{ OsImage: 'latest' }, /^Prepare: .*OsImage: the OS image bucket holds no ubuntu-jammy OS image yet/],
    [{ CustomizeScript: 's3://elsewhere/customize/x.sh' }, /^Prepare: .*CustomizeScript: upload the script to the farm's OS image bucket/],
    [{ Snapshot: '20991231T000000Z' }, /^Prepare: .*Snapshot: snapshot 20991231T000000Z is in the future/],
  ])('refuses %j in Prepare, before anything is launched', async (parameters, message) => {
    const r = await execute({ Infrastructures: ['aws'], ...parameters });
    expect(r.status).toBe('Failed');
    expect(r.failure).toMatch(message);
    expect(ran(r)).toEqual(['Prepare']);
    expect(ec2.mock.commandCalls(RunInstancesCommand)).toHaveLength(0);
  });

  it('refuses a version already built, naming the stemcell in S3', async () => {
    farm.s3.put(farm.stemcellBucket, 'ubuntu-jammy/1.260/bosh-stemcell-1.260-aws-xen-hvm-ubuntu-jammy-go_agent.tgz', 'x');
    const r = await execute({ Infrastructures: ['aws'], Version: '1.260' });
    expect(r.failure).toMatch(/^Prepare: .*Version: 1\.260 of ubuntu-jammy is already built/);
    expect(ec2.mock.commandCalls(RunInstancesCommand)).toHaveLength(0);
  });

  it('refuses a form the console would refuse, before the execution starts', () => {
    expect(() => new AutomationExecution(farm.runbook(), { Infrastructures: ['gcp'] }, farm.environment(EXECUTION))).toThrow(/Infrastructures: "gcp" is not an allowed value/);
    expect(() => new AutomationExecution(farm.runbook(), { Regions: ['mars-1'] }, farm.environment(EXECUTION))).toThrow(/Regions/);
  });
});

describe('versions, records and notifications of executed builds', () => {
  const SECOND = '4105a4fc-f944-11e6-9d32-0123456789ac';
  const run = (executionId: string, parameters: Record<string, Value>) => new AutomationExecution(farm.runbook(), parameters, farm.environment(executionId)).run();

  it('numbers a build, records it as it starts and completes the record from the status event on success', async () => {
    const r = await run(EXECUTION, { OperatingSystem: 'ubuntu-jammy', Infrastructures: ['aws', 'openstack'], Regions: ['eu-central-1'] });
    expect(r.status).toBe('Success');
    expect(r.outputs['Decode.Version']).toBe('1.1');
    expect(record(EXECUTION)).toMatchObject({ status: 'InProgress', version: '1.1', line: 'ubuntu-jammy' });

    const [delivered] = await farm.executionEnded(EXECUTION, r);
    expect(delivered).toMatchObject({ record: { status: 'Success' } });
    const amis = r.outputs['Published.Amis'] as Record<string, string>;
    const done = record(EXECUTION)!;
    expect(done).toMatchObject({
      line: 'ubuntu-jammy',
      version: '1.1',
      status: 'Success',
      stemcellKeys: r.outputs['Decode.StemcellKeys'],
      lightKey: r.outputs['Published.LightStemcellKey'],
      amis,
      snapshotId: expect.stringMatching(/^snap-/),
      checks: { passed: 258, failed: 0 },
      stageSeconds: { bootstrap: 40, bosh_agent: 24 },
      requestKey: `builds/${EXECUTION}/request.json`,
    });
    expect(done.failedStep).toBeUndefined();
    expect(Date.parse(done.endedAt!) - Date.parse(done.startedAt)).toBe(done.durationSeconds! * 1000);
    expect(Object.keys(amis).sort()).toEqual(['eu-central-1', 'eu-west-1']);

    const [mail] = published();
    expect(mail.Subject).toBe('Stemcell Farm: ubuntu-jammy 1.1 built');
    expect(mail.Message).toContain(`https://eu-west-1.console.aws.amazon.com/systems-manager/automation/execution/${EXECUTION}?region=eu-west-1`);
    expect(mail.Message).toContain(`Light stemcell: s3://${farm.stemcellBucket}/ubuntu-jammy/1.1/light-bosh-stemcell-1.1-aws-xen-hvm-ubuntu-jammy-go_agent.tgz`);
    expect(mail.Message).toContain(`eu-central-1 ${amis['eu-central-1']}`);
  });

  it('records a failed build with its step and burns its version: the next build takes the next number', async () => {
    farm.builder.fail = true;
    const failed = await run(EXECUTION, { Infrastructures: ['openstack'] });
    expect(failed.status).toBe('Failed');
    await farm.executionEnded(EXECUTION, failed);
    expect(record(EXECUTION)).toMatchObject({ version: '1.1', status: 'Failed', failedStep: 'BuildOnHost' });
    expect(published()[0].Subject).toBe('Stemcell Farm: ubuntu-jammy 1.1 FAILED at BuildOnHost');
    expect(published()[0].Message).toMatch(/Version 1\.1 is not used again/);

    farm.builder.fail = false;
    const next = await run(SECOND, { Infrastructures: ['openstack'] });
    expect(next.status).toBe('Success');
    expect(next.outputs['Decode.Version']).toBe('1.2');
    await farm.executionEnded(SECOND, next);
    expect(record(SECOND)).toMatchObject({ version: '1.2', status: 'Success', checks: { passed: 129, failed: 0 } });
  });

  it('records a build refused in Prepare, without a version, from the form it was given', async () => {
    const r = await run(EXECUTION, { OperatingSystem: 'ubuntu-noble', Visibility: 'shared' });
    expect(r.status).toBe('Failed');
    await farm.executionEnded(EXECUTION, r);
    const refused = record(EXECUTION)!;
    expect(refused).toMatchObject({ line: 'ubuntu-noble', status: 'Failed', failedStep: 'Prepare', failure: expect.stringMatching(/ShareWith/) });
    expect(refused.version).toBeUndefined();
    expect(published()[0].Subject).toBe('Stemcell Farm: ubuntu-noble FAILED at Prepare');
  });

  it('records and announces a build once when EventBridge delivers its event again', async () => {
    const r = await run(EXECUTION, { Infrastructures: ['openstack'] });
    await farm.executionEnded(EXECUTION, r);
    const first = record(EXECUTION)!;
    expect(first.notifiedAt).toBeDefined();
    const [again] = await farm.executionEnded(EXECUTION, r);
    expect(again).toMatchObject({ ignored: expect.stringMatching(/recorded \(Success\) and announced already/) });
    expect(record(EXECUTION)).toEqual(first);
    expect(published()).toHaveLength(1);
    expect(farm.dynamodb.items(farm.tableName('HistoryBuilds'))).toHaveLength(1);
  });
});

describe('a scheduled build', () => {
  it("runs the runbook as each cdk.json line's schedule starts it: the Input, typed as StartAutomationExecution types it, passes the form and builds the line's first version", async () => {
    const schedules = Object.values(farm.template.Resources).filter((r) => r.Type === 'AWS::Scheduler::Schedule' && String(r.Properties.Name).startsWith('build-'));
    expect(schedules.length).toBeGreaterThan(0);
    for (const [i, schedule] of schedules.entries()) {
      const target = resolveIntrinsics(schedule.Properties.Target, farm.template, DEPLOYMENT) as { Arn: string; Input: string };
      expect(target.Arn).toBe('arn:aws:scheduler:::aws-sdk:ssm:startAutomationExecution');
      const input = JSON.parse(target.Input) as { DocumentName: string; Parameters: Record<string, string[]> };
      const document = farm.runbook();
      expect(input.DocumentName).toBe(farm.runbookName());
      const executionId = `4105a4fc-f944-11e6-9d32-00000000000${i}`;
      const r = await new AutomationExecution(document, fromApiParameters(document, input.Parameters), farm.environment(executionId)).run();
      expect(r.failure).toBeUndefined();
      expect(r.status).toBe('Success');
      expect(r.outputs['Decode.Version']).toBe('1.1');
      expect(r.parameters.OperatingSystem).toBe(input.Parameters.OperatingSystem[0]);
    }
  });
});


/**
 * `stemcell farm` against a simulated farm: CloudFormation (the stack's
 * outputs), Systems Manager (an execution that moves on with a fake clock),
 * CloudWatch Logs (the builder's log), DynamoDB (the build records) and S3
 * (stemcells with their recorded sha1), through aws-sdk-client-mock. The
 * progress view is checked in terminal and log mode under the fake clock.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient, DescribeLogStreamsCommand, FilterLogEventsCommand, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { AutomationExecution, GetAutomationExecutionCommand, SSMClient, SSMServiceException, StartAutomationExecutionCommand, StopAutomationExecutionCommand } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FarmDeps } from '../../lib/cli/farm';
import { main } from '../../lib/cli/main';
import { digestOf } from '../../lib/digests';
import { FARM_OUTPUTS } from '../../lib/farm/farm-outputs';
import { OBJECT_METADATA } from '../../lib/farm/keys';
import { BuildRecord, recordItem } from '../../lib/farm/records';
import { FakeDynamoDB } from '../helpers/fake-dynamodb';
import { FakeClock } from '../helpers/fake-ec2';
import { FakeS3 } from '../helpers/fake-s3';

const ID = '4105a4fc-f944-11e6-9d32-0123456789ab';
const COMMAND = 'c0ffee00-0000-4000-8000-000000000001';
const BUCKETS = { stemcell: 'farm-stemcells', osImage: 'farm-os-images' };
const T0 = Date.parse('2026-11-22T05:00:00Z');
const MIN = 60_000;

const cfn = mockClient(CloudFormationClient);
const ssm = mockClient(SSMClient);
const logs = mockClient(CloudWatchLogsClient);
let clock: FakeClock;
let dynamodb: FakeDynamoDB;
let s3: FakeS3;
let out: string;
let err: string;
let interrupt: ((signal: 'SIGINT' | 'SIGTERM' | 'SIGHUP') => void) | undefined;

const deps = (tty = false): FarmDeps => ({
  clock,
  tty,
  credentials: () => async () => ({ accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'secret' }),
  defaultRegion: async () => 'eu-west-1',
  onInterrupt: (stop) => {
    interrupt = stop;
    return () => (interrupt = undefined);
  },
  columns: 120,
});
const run = async (args: string[], tty = false): Promise<number> => main(['farm', ...args], { out: (t) => (out += t), err: (t) => (err += t) }, deps(tty));

/** A build's steps and when (minutes after T0) each starts and ends; the last may fail. */
type Plan = { name: string; from: number; to: number; status?: 'Failed' | 'TimedOut' | 'Cancelled'; failure?: string }[];
const SUCCESS: Plan = [
  { name: 'Prepare', from: 0, to: 0.1 },
  { name: 'Decode', from: 0.1, to: 0.2 },
  { name: 'LaunchBuilder', from: 0.2, to: 0.3 },
  { name: 'WaitForBuilder', from: 0.3, to: 2 },
  { name: 'BuildOnHost', from: 2, to: 27 },
  { name: 'TerminateBuilder', from: 27, to: 27.2 },
  { name: 'ReadResult', from: 27.2, to: 27.3 },
  { name: 'RegisterAmi', from: 27.3, to: 30 },
  { name: 'CopyAmi', from: 30, to: 50 },
  { name: 'LightStemcell', from: 50, to: 50.5 },
  { name: 'Published', from: 50.5, to: 50.6 },
];
const KEYS = ['ubuntu-jammy/1.7/bosh-stemcell-1.7-aws-xen-hvm-ubuntu-jammy-go_agent.tgz'];
const LIGHT = 'ubuntu-jammy/1.7/light-bosh-stemcell-1.7-aws-xen-hvm-ubuntu-jammy-go_agent.tgz';

/** GetAutomationExecution as Systems Manager answers at the clock's time. */
function executionAt(plan: Plan, now: number): AutomationExecution {
  const at = (m: number) => new Date(T0 + m * MIN);
  const minutes = (now - T0) / MIN;
  const steps = plan.filter((s) => s.from <= minutes).map((s) => {
    const over = s.to <= minutes;
    return {
      StepName: s.name,
      Action: 'aws:x',
      StepStatus: (over ? (s.status ?? 'Success') : 'InProgress') as never,
      ExecutionStartTime: at(s.from),
      ...(over ? { ExecutionEndTime: at(s.to) } : {}),
      ...(over && s.failure ? { FailureMessage: s.failure } : {}),
      ...(s.name === 'BuildOnHost' ? { Outputs: { CommandId: [COMMAND] } } : {}),
      ...(s.name === 'CopyAmi' && minutes >= 40 ? {} : {}),
    };
  });
  if (minutes >= 40 && minutes < 50) steps.push({ StepName: 'Copy', Action: 'aws:invokeLambdaFunction', StepStatus: 'Success' as never, ExecutionStartTime: at(40), ExecutionEndTime: at(40.1), Outputs: { Payload: [JSON.stringify({ amis: { 'eu-west-1': 'ami-0123456789abcdef0', 'eu-central-1': 'ami-0fedcba9876543210' }, copied: false })] } } as never);
  const last = plan[plan.length - 1];
  const ended = last.to <= minutes;
  const status = ended ? (last.status ?? 'Success') : 'InProgress';
  return {
    AutomationExecutionId: ID,
    DocumentName: 'StemcellFarm-Build',
    AutomationExecutionStatus: status as never,
    ExecutionStartTime: at(0),
    ...(ended ? { ExecutionEndTime: at(last.to) } : {}),
    Parameters: { OperatingSystem: ['ubuntu-jammy'] },
    Outputs: {
      'Decode.Version': ['1.7'],
      'Decode.StemcellKeys': KEYS,
      'Published.LightStemcellKey': [ended && status === 'Success' ? LIGHT : 'No output available yet because the step is not successfully executed'],
      'Published.Amis': [ended && status === 'Success' ? JSON.stringify({ 'eu-west-1': 'ami-0123456789abcdef0', 'eu-central-1': 'ami-0fedcba9876543210' }) : 'No output available yet'],
    },
    ...(ended && last.failure ? { FailureMessage: last.failure } : {}),
    StepExecutions: steps,
  };
}

/** The builder's log: a line a minute while it builds. */
function logEventsUntil(now: number) {
  const events = [];
  for (let m = 3; m <= 26 && T0 + m * MIN <= now; m++) events.push({ eventId: `e${m}`, logStreamName: `${COMMAND}/i-0abc/Build/stdout`, timestamp: T0 + m * MIN, message: m === 26 ? 'stemcell: stage bosh_agent failed (exit 1)\n' : `stemcell: stage ${m} done\n` });
  return events;
}

function simulate(plan: Plan): void {
  ssm.on(StartAutomationExecutionCommand).resolves({ AutomationExecutionId: ID });
  ssm.on(GetAutomationExecutionCommand).callsFake(async () => ({ AutomationExecution: executionAt(plan, clock.now()) }));
  logs.on(FilterLogEventsCommand).callsFake(async (input) => ({ events: logEventsUntil(clock.now()).filter((e) => e.logStreamName.startsWith(input.logStreamNamePrefix) && e.timestamp >= (input.startTime ?? 0)) }));
  logs.on(DescribeLogStreamsCommand).callsFake(async (input) => ({ logStreams: [...new Set(logEventsUntil(clock.now()).map((e) => e.logStreamName))].filter((n) => n.startsWith(input.logStreamNamePrefix)).map((logStreamName) => ({ logStreamName })) }));
  logs.on(GetLogEventsCommand).callsFake(async (input) => {
    const events = logEventsUntil(clock.now()).filter((e) => e.logStreamName === input.logStreamName);
    return { events: input.startFromHead === false ? events.slice(-(input.limit ?? 10_000)) : events.slice(0, input.limit) };
  });
}

const record = (over: Partial<BuildRecord> = {}): BuildRecord => ({ executionId: ID, line: 'ubuntu-jammy', version: '1.7', status: 'Success', startedAt: '2026-11-22T05:00:00.000Z', endedAt: '2026-11-22T05:50:36.000Z', durationSeconds: 3036, stemcellKeys: KEYS, lightKey: LIGHT, ...over });

beforeEach(() => {
  clock = new FakeClock(T0);
  out = '';
  err = '';
  cfn.reset();
  ssm.reset();
  logs.reset();
  cfn.on(DescribeStacksCommand, { StackName: 'StemcellFarm' }).resolves({
    Stacks: [
      {
        StackName: 'StemcellFarm',
        CreationTime: new Date('2026-01-05T10:00:00Z'),
        StackStatus: 'UPDATE_COMPLETE',
        Outputs: [
          { OutputKey: FARM_OUTPUTS.runbookName, OutputValue: 'StemcellFarm-Build' },
          { OutputKey: FARM_OUTPUTS.buildLogGroup, OutputValue: 'StemcellFarm-BuilderBuildLogs1234-abcd' },
          { OutputKey: FARM_OUTPUTS.buildsTable, OutputValue: 'StemcellFarm-HistoryBuilds-XYZ' },
          { OutputKey: FARM_OUTPUTS.stemcellBucket, OutputValue: BUCKETS.stemcell },
          { OutputKey: FARM_OUTPUTS.osImageBucket, OutputValue: BUCKETS.osImage },
        ],
      },
    ],
  });
  cfn.on(DescribeStacksCommand, { StackName: 'Elsewhere' }).rejects(Object.assign(new Error('Stack with id Elsewhere does not exist'), { name: 'ValidationError', $metadata: { httpStatusCode: 400 } }));
  dynamodb = new FakeDynamoDB();
  dynamodb.addTable('StemcellFarm-HistoryBuilds-XYZ', { partitionKey: 'executionId', indexes: { ByLine: { partitionKey: 'line', sortKey: 'startedAt' }, ByMonth: { partitionKey: 'startedMonth', sortKey: 'startedAt' } } });
  s3 = new FakeS3(clock, [BUCKETS.stemcell, BUCKETS.osImage]);
});
afterEach(() => {
  dynamodb.restore();
  s3.mock.restore();
});
afterAll(() => {
  cfn.restore();
  ssm.restore();
  logs.restore();
});

describe('stemcell farm build', () => {
  it("starts the runbook with the form as Automation's lists, checked first, and prints the id and the console link", async () => {
    simulate(SUCCESS);
    expect(await run(['build', '--os', 'ubuntu-noble', '--infrastructure', 'aws,openstack', '--regions', 'eu-west-1', '--publish-light', 'true'])).toBe(0);
    expect(ssm.commandCalls(StartAutomationExecutionCommand)[0].args[0].input).toEqual({
      DocumentName: 'StemcellFarm-Build',
      Parameters: { OperatingSystem: ['ubuntu-noble'], Infrastructures: ['aws', 'openstack'], Regions: ['eu-west-1'], PublishLight: ['true'] },
      // One token for all tries of the start.
      ClientToken: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(out).toBe(`${ID}\nhttps://eu-west-1.console.aws.amazon.com/systems-manager/automation/execution/${ID}?region=eu-west-1\n`);
  });

  it.each([
    [['--os', 'ubuntu-focal'], /--os: "ubuntu-focal" is not one of ubuntu-jammy, ubuntu-noble, debian-bookworm/],
    [['--visibility', 'shared'], /--share-with: Visibility shared needs/],
    [['--customize-script', 's3://elsewhere/customize/x.sh'], /--customize-script: upload the script to the farm's OS image bucket/],
    [['--publish-light', 'maybe'], /--publish-light: expected true or false/],
    [['--regions', 'eu-west-1', '--exclude-regions', 'us-east-1'], /--regions|--exclude-regions/],
  ])('refuses %j before anything starts (exit 2, naming the flag)', async (flags, message) => {
    simulate(SUCCESS);
    expect(await run(['build', ...flags])).toBe(2);
    expect(err).toMatch(message);
    expect(ssm.commandCalls(StartAutomationExecutionCommand)).toHaveLength(0);
    // Only the script's bucket needs the farm's outputs to be checked; the rest is refused before any AWS call.
    if (flags[0] !== '--customize-script') expect(cfn.commandCalls(DescribeStacksCommand)).toHaveLength(0);
  });

  it('follows a build to its end in log mode: a line per change, the log, the copies, then the outputs', async () => {
    simulate(SUCCESS);
    const warnings: string[] = [];
    const warn = (w: Error) => warnings.push(w.name);
    process.on('warning', warn);
    expect(await run(['build', '--follow'])).toBe(0);
    process.off('warning', warn);
    // Hundreds of polls leave no listener behind (Node would warn of a leak).
    expect(warnings).toEqual([]);
    expect(err).toContain(`stemcell: started build ${ID}: https://`);
    expect(err).toContain('05:00:00 build 4105a4fc-f944-11e6-9d32-0123456789ab (ubuntu-jammy): InProgress');
    expect(err).toMatch(/\d\d:\d\d:\d\d WaitForBuilder: Success after 1m 42s/);
    expect(err).toMatch(/BuildOnHost: Success after 25m 00s/);
    expect(err).toContain('  | stemcell: stage 3 done');
    expect(err).toMatch(/copies: 2 regions done/);
    // Each log line once, however often it was polled.
    expect(err.split('stemcell: stage 10 done').length).toBe(2);
    expect(err).not.toContain('\x1b[');
    expect(out).toBe(
      [
        `build ${ID}: Success after 50m 36s`,
        'version: 1.7',
        `stemcell: s3://farm-stemcells/${KEYS[0]}`,
        `light stemcell: s3://farm-stemcells/${LIGHT}`,
        'AMIs: eu-central-1=ami-0fedcba9876543210 eu-west-1=ami-0123456789abcdef0',
        '',
      ].join('\n'),
    );
  });

  it('draws a block redrawn in place on a terminal: each step with its state and time, and the log tail', async () => {
    simulate(SUCCESS);
    expect(await run(['build', '--follow'], true)).toBe(0);
    const frames = err.split('\x1b[J');
    expect(frames.length).toBeGreaterThan(5);
    const mid = frames.find((f) => f.includes('BuildOnHost') && f.includes('InProgress') && f.includes('stage 10 done'))!;
    expect(mid).toMatch(/ok WaitForBuilder\s+Success\s+1m 42s/);
    expect(mid).toMatch(/\.\. BuildOnHost\s+InProgress\s+\d+m \d\ds/);
    expect(mid).toMatch(/ {2}\| stemcell: stage 10 done/);
    // Up over the last block, as many lines as it had.
    expect(err).toMatch(/\x1b\[\d+F/);
  });

  it('fails with exit 4 when the build fails at a step, naming it, with the end of its log', async () => {
    simulate([...SUCCESS.slice(0, 4), { name: 'BuildOnHost', from: 2, to: 26.5, status: 'Failed', failure: 'the command ended Failed (exit 4)' }, { name: 'TerminateAfterFailure', from: 26.5, to: 26.6, status: undefined }]);
    // The execution's own last step is the clean-up; its status is the failed one.
    ssm.on(GetAutomationExecutionCommand).callsFake(async () => {
      const e = executionAt([...SUCCESS.slice(0, 4), { name: 'BuildOnHost', from: 2, to: 26.5, status: 'Failed', failure: 'the command ended Failed (exit 4)' }, { name: 'TerminateAfterFailure', from: 26.5, to: 26.6, status: 'Failed' }], clock.now());
      if (e.StepExecutions!.at(-1)?.StepName === 'TerminateAfterFailure') e.StepExecutions!.at(-1)!.StepStatus = 'Success';
      return { AutomationExecution: e };
    });
    expect(await run(['build', '--follow'])).toBe(4);
    expect(err).toContain(`stemcell: build ${ID} ended Failed at BuildOnHost: the command ended Failed (exit 4)`);
    expect(err).toContain("the end of the build's log");
    expect(err).toContain('  | stemcell: stage bosh_agent failed (exit 1)');
    expect(out).toContain('failed step: BuildOnHost');
  });

  it('escapes what the execution and the log say before it reaches the terminal', async () => {
    const hostile = 'stage\x1b[2J\x1b]0;pwned\x07 failed\r\nroot# ';
    // The start as usual; the execution and the log are the attacker's.
    ssm.on(StartAutomationExecutionCommand).resolves({ AutomationExecutionId: ID });
    ssm.on(GetAutomationExecutionCommand).callsFake(async () => {
      const e = executionAt([...SUCCESS.slice(0, 4), { name: 'BuildOnHost', from: 2, to: 26.5, status: 'Failed', failure: hostile }], clock.now());
      e.StepExecutions![0].StepName = 'Prepare\x1b[31m';
      return { AutomationExecution: e };
    });
    logs.on(FilterLogEventsCommand).resolves({ events: [{ eventId: 'x', logStreamName: `${COMMAND}/i-0abc/Build/stdout`, timestamp: T0 + 3 * MIN, message: `${hostile}\n` }] });
    expect(await run(['build', '--follow'])).toBe(4);
    expect(await run(['status', ID])).toBe(4);
    expect(err).toContain('failed\\r\\nroot#');
    expect(`${out}${err}`).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
  });

  it('keeps following through throttling, backing off', async () => {
    simulate(SUCCESS);
    const throttled = new SSMServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'Rate exceeded' });
    const real = executionAt;
    let calls = 0;
    ssm.on(GetAutomationExecutionCommand).callsFake(async () => {
      calls++;
      if (calls % 3 === 0) throw throttled;
      return { AutomationExecution: real(SUCCESS, clock.now()) };
    });
    expect(await run(['build', '--follow'])).toBe(0);
    expect(out).toContain(`build ${ID}: Success`);
    expect(clock.sleeps.some((ms) => ms !== 5000)).toBe(true);
  });

  it('stops following on Ctrl-C, not the build (exit 130, and how to go on)', async () => {
    simulate(SUCCESS);
    ssm.on(GetAutomationExecutionCommand).callsFake(async () => {
      if (clock.now() - T0 > 10 * MIN) interrupt?.('SIGINT');
      return { AutomationExecution: executionAt(SUCCESS, clock.now()) };
    });
    expect(await run(['build', '--follow'])).toBe(130);
    expect(err).toContain(`stopped following (SIGINT); build ${ID} goes on: stemcell farm status ${ID}, or stemcell farm cancel ${ID}`);
    expect(ssm.commandCalls(StopAutomationExecutionCommand)).toHaveLength(0);
  });

  it('stops following on SIGTERM and SIGHUP too, with their exit codes', async () => {
    for (const [signal, code] of [['SIGTERM', 143], ['SIGHUP', 129]] as const) {
      clock.time = T0;
      simulate(SUCCESS);
      ssm.on(GetAutomationExecutionCommand).callsFake(async () => {
        if (clock.now() - T0 > 10 * MIN) interrupt?.(signal);
        return { AutomationExecution: executionAt(SUCCESS, clock.now()) };
      });
      expect(await run(['build', '--follow'])).toBe(code);
      expect(err).toContain(`stopped following (${signal})`);
      clock.time = T0;
      expect(await run(['logs', ID, '--follow'])).toBe(code);
    }
  });

  it('stops following, saying the build goes on, when AWS keeps refusing', async () => {
    simulate(SUCCESS);
    ssm.on(GetAutomationExecutionCommand).rejects(new SSMServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'Rate exceeded' }));
    expect(await run(['build', '--follow'])).toBe(4);
    expect(err).toBe(`stemcell: started build ${ID}: https://eu-west-1.console.aws.amazon.com/systems-manager/automation/execution/${ID}?region=eu-west-1\nstemcell: stopped following build ${ID}, which goes on (stemcell farm status ${ID}): ThrottlingException: Rate exceeded\n`);
    expect(ssm.commandCalls(StartAutomationExecutionCommand)).toHaveLength(1);
  });

  it('refuses a profile region that is no region (exit 3)', async () => {
    const odd: FarmDeps = { ...deps(), defaultRegion: async () => 'evil.example.com/' };
    expect(await main(['farm', 'list'], { out: (t) => (out += t), err: (t) => (err += t) }, odd)).toBe(3);
    expect(err).toContain('is not a region name; pass --region');
  });

  it('says how to set credentials when there are none (exit 3), and finds no farm in the wrong stack (exit 3)', async () => {
    cfn.on(DescribeStacksCommand).rejects(Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }));
    expect(await run(['list'])).toBe(3);
    expect(err).toMatch(/no AWS credentials: .*Set AWS_PROFILE/);
    cfn.reset();
    cfn.on(DescribeStacksCommand).rejects(Object.assign(new Error('Stack with id Elsewhere does not exist'), { name: 'ValidationError', $metadata: { httpStatusCode: 400 } }));
    err = '';
    expect(await run(['list', '--stack', 'Elsewhere'])).toBe(3);
    expect(err).toContain('stemcell: no stack Elsewhere in eu-west-1: deploy the farm there (npx cdk deploy), or name its stack with --stack and its region with --region');
  });
});

describe('stemcell farm status, logs, cancel', () => {
  it('shows a running build and exits 0; a failed one exits 4 with its step', async () => {
    simulate(SUCCESS);
    clock.time = T0 + 10 * MIN;
    expect(await run(['status', ID])).toBe(0);
    expect(out).toMatch(/\.\. BuildOnHost\s+InProgress\s+8m 00s/);
    out = '';
    expect(await run(['status', ID, '--json'])).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ id: ID, status: 'InProgress', done: false, commandId: COMMAND });
    expect(await run(['status', 'not-an-id'])).toBe(2);
    expect(await run(['status', 'ubuntu-jammy@1.7'])).toBe(2);
    expect(await run(['logs', 'ubuntu-jammy@1.7'])).toBe(2);
    // Ended: cancelled during the copies.
    simulate([...SUCCESS.slice(0, 8), { name: 'CopyAmi', from: 30, to: 31, status: 'Cancelled', failure: 'cancelled during CopyAmi' }]);
    clock.time = T0 + 60 * MIN;
    out = '';
    err = '';
    expect(await run(['status', ID])).toBe(4);
    expect(out).toMatch(/xx CopyAmi\s+Cancelled\s+1m 00s/);
    expect(err).toContain(`stemcell: build ${ID} was cancelled at CopyAmi: cancelled during CopyAmi`);
  });

  it('prints the log, and follows it to the end', async () => {
    simulate(SUCCESS);
    clock.time = T0 + 5 * MIN;
    expect(await run(['logs', ID])).toBe(0);
    expect(out).toBe('stemcell: stage 3 done\nstemcell: stage 4 done\nstemcell: stage 5 done\n');
    out = '';
    expect(await run(['logs', ID, '--follow'])).toBe(0);
    expect(out.split('\n').filter((l) => l.startsWith('stemcell: stage')).length).toBe(24);
  });

  it('cancels a running build, and refuses one that ended', async () => {
    simulate(SUCCESS);
    clock.time = T0 + 10 * MIN;
    ssm.on(StopAutomationExecutionCommand).resolves({});
    expect(await run(['cancel', ID])).toBe(0);
    expect(ssm.commandCalls(StopAutomationExecutionCommand)[0].args[0].input).toEqual({ AutomationExecutionId: ID, Type: 'Cancel' });
    clock.time = T0 + 60 * MIN;
    expect(await run(['cancel', ID])).toBe(4);
    expect(err).toContain('has ended already (Success)');
    // Ending between the look and the cancel.
    clock.time = T0 + 10 * MIN;
    ssm.on(StopAutomationExecutionCommand).rejects(new SSMServiceException({ name: 'InvalidAutomationStatusUpdateException', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'The execution is not in a cancellable state' }));
    err = '';
    expect(await run(['cancel', ID])).toBe(4);
    expect(err).toContain('has ended already (just now)');
  });
});

describe('stemcell farm list', () => {
  const put = (r: BuildRecord) => dynamodb.tables.get('StemcellFarm-HistoryBuilds-XYZ')!.items.set(JSON.stringify([{ S: r.executionId }]), recordItem(r));

  it('lists the records newest first, by line or across lines since a time, as lines or JSON', async () => {
    put(record());
    put(record({ executionId: '4105a4fc-f944-11e6-9d32-000000000002', version: '1.6', status: 'Failed', failedStep: 'BuildOnHost', startedAt: '2026-10-30T03:00:00.000Z', durationSeconds: 900 }));
    put(record({ executionId: '4105a4fc-f944-11e6-9d32-000000000003', line: 'ubuntu-noble', version: '1.2', startedAt: '2026-11-20T03:00:00.000Z' }));
    put(record({ executionId: '4105a4fc-f944-11e6-9d32-000000000004', version: '1.1', startedAt: '2026-08-01T03:00:00.000Z' }));
    expect(await run(['list'])).toBe(0);
    expect(out.split('\n').filter(Boolean)).toEqual([
      `2026-11-22 05:00  ${ID}  ubuntu-jammy     1.7       Success     51m`,
      '2026-11-20 03:00  4105a4fc-f944-11e6-9d32-000000000003  ubuntu-noble     1.2       Success     51m',
      '2026-10-30 03:00  4105a4fc-f944-11e6-9d32-000000000002  ubuntu-jammy     1.6       Failed      15m  at BuildOnHost',
    ]);
    out = '';
    expect(await run(['list', '--line', 'ubuntu-jammy', '--since', '2026-01-01', '--json'])).toBe(0);
    expect((JSON.parse(out) as BuildRecord[]).map((r) => r.version)).toEqual(['1.7', '1.6', '1.1']);
    expect(await run(['list', '--since', 'yesterday'])).toBe(2);
    expect(await run(['list', '--since', '2026-02-31'])).toBe(2);
    expect(await run(['list', '--since', '2026-11-01T03:00'])).toBe(2);
    out = '';
    expect(await run(['list', '--since', '2026-11-21T00:00Z', '--json'])).toBe(0);
    expect((JSON.parse(out) as BuildRecord[]).map((r) => r.version)).toEqual(['1.7']);
    expect(await run(['list', '--line', 'windows'])).toBe(2);
  });
});

describe('stemcell farm fetch', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'farm-fetch-'));
    dynamodb.tables.get('StemcellFarm-HistoryBuilds-XYZ')!.items.set(JSON.stringify([{ S: ID }]), recordItem(record()));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const body = Buffer.from('a stemcell, in this test');

  it('downloads the stemcells of a build, or of line@version, checked against their sha1', async () => {
    s3.put(BUCKETS.stemcell, KEYS[0], body, { [OBJECT_METADATA.sha1]: digestOf(body, 'sha1') });
    expect(await run(['fetch', ID, '--out', dir])).toBe(0);
    const file = path.join(dir, path.basename(KEYS[0]));
    expect(fs.readFileSync(file)).toEqual(body);
    expect(out).toBe(`${file}  sha1 ${digestOf(body, 'sha1')}\n`);
    // Never over an existing file.
    expect(await run(['fetch', 'ubuntu-jammy@1.7', '--out', dir])).toBe(3);
    expect(err).toContain('already exists');
    s3.put(BUCKETS.stemcell, LIGHT, body, { [OBJECT_METADATA.sha1]: digestOf(body, 'sha1') });
    out = '';
    expect(await run(['fetch', 'ubuntu-jammy@1.7', '--light', '--out', dir, '--json'])).toBe(0);
    expect(JSON.parse(out)).toEqual([{ key: LIGHT, file: path.join(dir, path.basename(LIGHT)), bytes: body.length, sha1: digestOf(body, 'sha1') }]);
  });

  it('refuses an object whose sha1 does not match, and leaves no file', async () => {
    s3.put(BUCKETS.stemcell, KEYS[0], body, { [OBJECT_METADATA.sha1]: 'f'.repeat(40) });
    expect(await run(['fetch', ID, '--out', dir])).toBe(1);
    expect(err).toContain(`not the ${'f'.repeat(40)} the farm recorded; nothing was kept`);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('fetches nothing of a build that failed, and no key that is not a stemcell', async () => {
    dynamodb.tables.get('StemcellFarm-HistoryBuilds-XYZ')!.items.set(JSON.stringify([{ S: ID }]), recordItem(record({ status: 'Failed' })));
    expect(await run(['fetch', ID, '--light', '--out', dir])).toBe(4);
    expect(err).toContain('did not succeed');
    dynamodb.tables.get('StemcellFarm-HistoryBuilds-XYZ')!.items.set(JSON.stringify([{ S: ID }]), recordItem(record({ stemcellKeys: ['ubuntu-jammy/1.7/../../../etc/passwd', 'x/\x1bevil.tgz'], lightKey: 'dir/' })));
    expect(await run(['fetch', ID, '--out', dir])).toBe(4);
    expect(await run(['fetch', ID, '--light', '--out', dir])).toBe(4);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('refuses what it cannot check or find', async () => {
    s3.put(BUCKETS.stemcell, KEYS[0], body);
    expect(await run(['fetch', ID, '--out', dir])).toBe(4);
    expect(err).toContain('carries no sha1');
    expect(await run(['fetch', 'ubuntu-jammy@9.9', '--out', dir])).toBe(4);
    expect(await run(['fetch', 'jammy@1.7', '--out', dir])).toBe(2);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

/**
 * build-status: the runbook's status events (shaped as AWS's documented
 * samples of "EC2 Automation Execution Status-change Notification"), the
 * record they complete and the message operators read, for each final status;
 * and events that are not ours, or not events at all.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { AutomationExecution, AutomationExecutionStatus, GetAutomationExecutionCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { buildStatus, failedStep, finishedRecord } from '../../lib/farm/build-status';
import { executionConsoleUrl, parseStatusEvent, renderNotification } from '../../lib/farm/notification';
import { BuildRecord, FINAL_STATUSES } from '../../lib/farm/records';
import { FakeDynamoDB } from '../helpers/fake-dynamodb';
import { FakeClock } from '../helpers/fake-ec2';
import { FakeS3 } from '../helpers/fake-s3';

const EXECUTION = '333ba70b-2333-48db-b17e-a5e69c6f4d1c';

/** AWS's sample event (Systems Manager user guide, "Amazon EventBridge event examples"), with this farm's runbook and a status. */
function sample(status: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: '0',
    id: 'd290ece9-1088-4383-9df6-cd5b4ac42b99',
    'detail-type': 'EC2 Automation Execution Status-change Notification',
    source: 'aws.ssm',
    account: '123456789012',
    time: '2026-11-29T19:43:35Z',
    region: 'us-east-2',
    resources: [`arn:aws:ssm:us-east-2:123456789012:automation-execution/${EXECUTION}`, 'arn:aws:ssm:us-east-2:123456789012:automation-definition/StemcellFarm-Build:1'],
    detail: { ExecutionId: EXECUTION, Definition: 'StemcellFarm-Build', DefinitionVersion: 1.0, Status: status, StartTime: 'Nov 29, 2026 6:31:20 PM', EndTime: 'Nov 29, 2026 7:43:26 PM', Time: 4326000.0, ExecutedBy: 'arn:aws:iam::123456789012:user/operator' },
    ...overrides,
  };
}

const STARTED: BuildRecord = { executionId: EXECUTION, line: 'ubuntu-jammy', version: '1.42', status: 'InProgress', startedAt: '2026-11-29T18:31:20.000Z', requestKey: `builds/${EXECUTION}/request.json` };

function execution(status: string, failedAt?: string): AutomationExecution {
  const steps = ['Prepare', 'Decode', 'LaunchBuilder', 'WaitForBuilder', 'BuildOnHost', 'TerminateBuilder'];
  const until = failedAt ? steps.indexOf(failedAt) : steps.length - 1;
  return {
    AutomationExecutionId: EXECUTION,
    DocumentName: 'StemcellFarm-Build',
    AutomationExecutionStatus: status as AutomationExecutionStatus,
    ExecutionStartTime: new Date('2026-11-29T18:31:20Z'),
    ExecutionEndTime: new Date('2026-11-29T19:43:26Z'),
    Parameters: { OperatingSystem: ['ubuntu-jammy'], Infrastructures: ['aws'] },
    Outputs: {
      'Decode.Version': ['1.42'],
      'Published.LightStemcellKey': [status === 'Success' ? 'ubuntu-jammy/1.42/light-bosh-stemcell-1.42-aws-xen-hvm-ubuntu-jammy-go_agent.tgz' : 'No output available yet because the step is not successfully executed'],
    },
    FailureMessage: failedAt ? `Step fails when it is Executing. Fail message: ${failedAt} ended ${status}` : undefined,
    StepExecutions: [
      ...steps.slice(0, until + 1).map((name, i) => ({ StepName: name, StepStatus: (i === until && failedAt ? status : 'Success') as AutomationExecutionStatus, ...(i === until && failedAt ? { FailureMessage: `the builder's command ended ${status}: stage bosh_agent failed` } : {}) })),
      ...(failedAt ? [{ StepName: 'TerminateAfterFailure', StepStatus: 'Success' as AutomationExecutionStatus }] : []),
    ],
  };
}

describe('status events', () => {
  it.each(FINAL_STATUSES)('reads the %s sample', (status) => {
    expect(parseStatusEvent(sample(status))).toEqual({ executionId: EXECUTION, definition: 'StemcellFarm-Build', status, region: 'us-east-2', partition: 'aws', time: '2026-11-29T19:43:35.000Z' });
  });

  it.each([
    ['a step event', sample('Success', { 'detail-type': 'EC2 Automation Step Status-change Notification' }), /expected an 'EC2 Automation Execution Status-change Notification' event/],
    ['another source', sample('Success', { source: 'aws.ec2' }), /from "aws\.ec2"/],
    ['a status that is not final', sample('InProgress'), /Status' must be one of Success, Failed, TimedOut, Cancelled/],
    ['no detail', sample('Success', { detail: 'x' }), /'detail'/],
    ['a crafted execution id', sample('Success', { detail: { ...(sample('Success').detail as object), ExecutionId: '../../etc' } }), /ExecutionId' must be an Automation execution id/],
    ['no region', sample('Success', { region: 5 }), /'region'/],
    ['not an object', 'Success', /build-status/],
    ['null', null, /build-status/],
  ])('refuses %s', (_what, event, message) => {
    expect(() => parseStatusEvent(event)).toThrow(message);
  });

  it('links to the console of the partition', () => {
    expect(parseStatusEvent(sample('Success', { region: 'cn-north-1', resources: [`arn:aws-cn:ssm:cn-north-1:123456789012:automation-execution/${EXECUTION}`] })).partition).toBe('aws-cn');
    expect(executionConsoleUrl('aws-cn', 'cn-north-1', EXECUTION)).toBe(`https://console.amazonaws.cn/systems-manager/automation/execution/${EXECUTION}?region=cn-north-1`);
    expect(executionConsoleUrl('aws-us-gov', 'us-gov-west-1', EXECUTION)).toMatch(/^https:\/\/console\.amazonaws-us-gov\.com\//);
  });
});

describe('the notification of each status, from the sample events', () => {
  const render = (status: string, failedAt?: string) => {
    const event = parseStatusEvent(sample(status));
    const record = finishedRecord(event, execution(status, failedAt), STARTED, undefined, status === 'Success' ? { 'us-east-2': 'ami-0123456789abcdef0', 'eu-west-1': 'ami-0fedcba9876543210' } : undefined);
    return { record, mail: renderNotification(record, event, 'farm-stemcells') };
  };

  it('Success: the stemcell, the link, the light stemcell and its AMIs', () => {
    const { record, mail } = render('Success');
    expect(record).toMatchObject({ status: 'Success', durationSeconds: 4326, lightKey: 'ubuntu-jammy/1.42/light-bosh-stemcell-1.42-aws-xen-hvm-ubuntu-jammy-go_agent.tgz' });
    expect(mail.subject).toBe('Stemcell Farm: ubuntu-jammy 1.42 built');
    expect(mail.message).toBe(
      [
        'ubuntu-jammy 1.42: the build succeeded.',
        '',
        `Execution: ${EXECUTION}`,
        `  https://us-east-2.console.aws.amazon.com/systems-manager/automation/execution/${EXECUTION}?region=us-east-2`,
        'Started 2026-11-29T18:31:20.000Z, ended 2026-11-29T19:43:26.000Z (1 h 12 min).',
        '',
        'Light stemcell: s3://farm-stemcells/ubuntu-jammy/1.42/light-bosh-stemcell-1.42-aws-xen-hvm-ubuntu-jammy-go_agent.tgz',
        'AMIs in 2 regions: eu-west-1 ami-0fedcba9876543210, us-east-2 ami-0123456789abcdef0',
        '',
      ].join('\n'),
    );
  });

  it.each([
    ['Failed', 'BuildOnHost', 'FAILED'],
    ['TimedOut', 'WaitForBuilder', 'TIMED OUT'],
    ['Cancelled', 'BuildOnHost', 'cancelled'],
  ])('%s: the step, what went wrong, the burned version, where the logs are', (status, step, outcome) => {
    const { record, mail } = render(status, step);
    expect(record).toMatchObject({ status, failedStep: step, failure: `the builder's command ended ${status}: stage bosh_agent failed` });
    expect(record.lightKey).toBeUndefined();
    expect(mail.subject).toBe(`Stemcell Farm: ubuntu-jammy 1.42 ${outcome} at ${step}`);
    expect(mail.message).toContain(`What went wrong: the builder's command ended ${status}`);
    expect(mail.message).toContain('Version 1.42 is not used again');
    expect(mail.message).toContain('BuildLogGroupName');
    expect(mail.message).not.toContain('Light stemcell');
  });

  it('keeps the subject SNS-safe and the failure short, whatever the step said', () => {
    const long = execution('Failed', 'BuildOnHost');
    long.StepExecutions![4].FailureMessage = `ünïcode ${'x'.repeat(5000)}`;
    expect(failedStep(long).failure!.length).toBeLessThanOrEqual(600);
    const record = finishedRecord(parseStatusEvent(sample('Failed')), long, { ...STARTED, version: `1.${'9'.repeat(60)}` }, undefined, undefined);
    const mail = renderNotification(record, parseStatusEvent(sample('Failed')), 'farm-stemcells');
    expect(mail.subject.length).toBeLessThan(100);
    expect(mail.subject).toMatch(/^[\x20-\x7e]+$/);
  });

  it('names the step that failed, not the clean-up after it; without a failed step, the execution failure', () => {
    expect(failedStep(execution('Failed', 'WaitForBuilder')).step).toBe('WaitForBuilder');
    expect(failedStep({ FailureMessage: 'Execution timed out' })).toEqual({ failure: 'Execution timed out' });
  });
});

describe('build-status', () => {
  const ssm = mockClient(SSMClient);
  const sns = mockClient(SNSClient);
  let s3: FakeS3;
  let dynamodb: FakeDynamoDB;
  const clients = () => ({ ssm: new SSMClient({}), s3: new S3Client({}), dynamodb: new DynamoDBClient({}), sns: new SNSClient({}) });
  const config = { runbookName: 'StemcellFarm-Build', buildsTable: 'builds', stemcellBucket: 'farm-stemcells', topicArn: 'arn:aws:sns:us-east-2:123456789012:farm' };

  beforeEach(() => {
    ssm.reset();
    sns.reset();
    s3 = new FakeS3(new FakeClock(), ['farm-stemcells']);
    dynamodb = new FakeDynamoDB();
    dynamodb.addTable('builds', { partitionKey: 'executionId' });
  });
  afterEach(() => {
    dynamodb.restore();
    s3.mock.restore();
  });

  it('ignores executions of other runbooks without a call', async () => {
    const r = await buildStatus(clients(), config, sample('Success', { detail: { ...(sample('Success').detail as object), Definition: 'AWS-UpdateLinuxAmi' } }), new FakeClock());
    expect(r.ignored).toMatch(/AWS-UpdateLinuxAmi/);
    expect(ssm.calls()).toHaveLength(0);
    expect(sns.calls()).toHaveLength(0);
  });

  it('records and notifies a failure even when the builder wrote nothing', async () => {
    ssm.on(GetAutomationExecutionCommand).resolves({ AutomationExecution: execution('Failed', 'BuildOnHost') });
    sns.on(PublishCommand).resolves({ MessageId: '1' });
    const r = await buildStatus(clients(), config, sample('Failed'), new FakeClock());
    expect(r.record).toMatchObject({ executionId: EXECUTION, line: 'ubuntu-jammy', version: '1.42', status: 'Failed', failedStep: 'BuildOnHost' });
    expect(dynamodb.items('builds')).toHaveLength(1);
    expect(sns.commandCalls(PublishCommand)[0].args[0].input).toMatchObject({ TopicArn: config.topicArn, Subject: 'Stemcell Farm: ubuntu-jammy 1.42 FAILED at BuildOnHost' });
  });

  it('announces a build once: a publish that failed is made by the retry, a later event of another status changes nothing', async () => {
    ssm.on(GetAutomationExecutionCommand).resolves({ AutomationExecution: execution('Failed', 'BuildOnHost') });
    sns.on(PublishCommand).rejectsOnce(Object.assign(new Error('KMS key is disabled'), { name: 'KMSDisabled', $metadata: { httpStatusCode: 400 } })).resolves({ MessageId: '1' });
    await expect(buildStatus(clients(), config, sample('Failed'), new FakeClock())).rejects.toThrow(/KMS key is disabled/);
    // Recorded, not announced: Lambda's retry announces it.
    const retried = await buildStatus(clients(), config, sample('Failed'), new FakeClock());
    expect(retried.notification!.subject).toBe('Stemcell Farm: ubuntu-jammy 1.42 FAILED at BuildOnHost');
    expect(retried.record).toMatchObject({ status: 'Failed' });
    // A stray later event (another status) neither rewrites the record nor mails again.
    const stray = await buildStatus(clients(), config, sample('Success'), new FakeClock());
    expect(stray.ignored).toMatch(/recorded \(Failed\) and announced already/);
    expect(sns.commandCalls(PublishCommand)).toHaveLength(2);
    expect(dynamodb.items('builds')).toHaveLength(1);
    expect(dynamodb.items('builds')[0]).toMatchObject({ status: { S: 'Failed' }, notifiedAt: { S: expect.any(String) } });
  });

  it('leaves out of the record what it cannot read: a result.json of another build', async () => {
    ssm.on(GetAutomationExecutionCommand).resolves({ AutomationExecution: execution('Failed', 'BuildOnHost') });
    s3.put('farm-stemcells', `builds/${EXECUTION}/result.json`, JSON.stringify({ schema: 'stemcell-farm/build-result/v1', buildId: 'someone-else' }));
    sns.on(PublishCommand).resolves({ MessageId: '1' });
    const r = await buildStatus(clients(), config, sample('Failed'), new FakeClock());
    expect(r.record!.stemcellKeys).toBeUndefined();
    expect(r.record!.checks).toBeUndefined();
  });
});

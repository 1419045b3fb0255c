import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { AwsSolutionsChecks } from 'cdk-nag';
import { IConstruct } from 'constructs';
import { BuildSchedules, BuildSchedulesProps } from '../../lib/constructs/build-schedules';
import { FarmFunction } from '../../lib/constructs/farm-function';
import { parseStemcellLines } from '../../lib/farm/lines';
import { parseCleanupEvent } from '../../lib/publish/cleanup';
import { Deployment, resolveIntrinsics } from '../helpers/cfn';

const LINES = parseStemcellLines({
  'ubuntu-noble': { schedule: 'cron(0 3 ? * MON *)', timeZone: 'Europe/Berlin', parameters: { Infrastructures: ['aws', 'openstack'], Visibility: 'public', ImdsV2: true } },
  'ubuntu-jammy': { schedule: 'rate(7 days)', enabled: false, versionFormat: '{major}.{n}', major: 2 },
});

interface Built {
  readonly app: App;
  readonly stack: Stack;
  readonly schedules: BuildSchedules;
  readonly t: Template;
  readonly template: { Resources: Record<string, { Type: string; Properties: Record<string, any>; DependsOn?: string[] }> };
}

/** A small stack with what the farm stack gives BuildSchedules: a named runbook and its role, the cleanup function, a topic. */
function build(overrides: Partial<BuildSchedulesProps> = {}, options: { encryptedTopic?: boolean; bundleTo?: string } = {}): Built {
  const app = new App({ context: options.bundleTo ? { 'aws:cdk:enable-asset-metadata': true } : { 'aws:cdk:bundling-stacks': [] }, outdir: options.bundleTo });
  const stack = new Stack(app, 'Farm');
  const runbookRole = new iam.Role(stack, 'RunbookRole', { assumedBy: new iam.ServicePrincipal('ssm.amazonaws.com') });
  const runbook = new ssm.CfnDocument(stack, 'Runbook', {
    documentType: 'Automation',
    name: 'Farm-Build',
    updateMethod: 'NewVersion',
    content: { schemaVersion: '0.3', mainSteps: [{ name: 'Wait', action: 'aws:sleep', inputs: { Duration: 'PT1M' } }] },
  });
  const cleanup = new FarmFunction(stack, 'CleanupAmis', { folder: 'cleanup', description: 'Deregisters unpublished farm AMIs', timeout: Duration.minutes(5), statements: [], logRetention: 90 });
  const topic =
    options.encryptedTopic === false
      ? new sns.Topic(stack, 'Notifications', { enforceSSL: true })
      : new sns.Topic(stack, 'Notifications', { enforceSSL: true, masterKey: new kms.Key(stack, 'NotificationsKey', { enableKeyRotation: true }) });
  const schedules = new BuildSchedules(stack, 'Schedules', {
    runbookName: runbook.ref,
    runbookRole,
    lines: LINES,
    cleanupFunction: cleanup,
    maxBuildTime: Duration.hours(4),
    notifications: topic,
    ...overrides,
  });
  const t = Template.fromStack(stack);
  return { app, stack, schedules, t, template: t.toJSON() as Built['template'] };
}

const DEPLOYMENT: Deployment = { region: 'eu-central-1', account: '111122223333', partition: 'aws' };

const built = build();
const { template } = built;
const resources = (type: string): [string, Built['template']['Resources'][string]][] => Object.entries(template.Resources).filter(([, r]) => r.Type === type);
const logicalId = (prefix: string, type?: string): string => {
  const found = Object.entries(template.Resources).filter(([id, r]) => id.startsWith(prefix) && (type === undefined || r.Type === type));
  expect(found).toHaveLength(1);
  return found[0][0];
};
const schedule = (name: string): Record<string, any> => resources('AWS::Scheduler::Schedule').find(([, r]) => r.Properties.Name === name)![1].Properties;
const scheduleIdNamed = (name: string): string => resources('AWS::Scheduler::Schedule').find(([, r]) => r.Properties.Name === name)![0];
const statementsOf = (roleId: string): unknown[] => {
  const policies = resources('AWS::IAM::Policy').filter(([, p]) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleId));
  expect(policies).toHaveLength(1);
  return policies[0][1].Properties.PolicyDocument.Statement;
};
const resolved = (value: unknown, d: Deployment = DEPLOYMENT): any => resolveIntrinsics(value, template, d);

const GROUP = logicalId('SchedulesGroup');
const arn = (...parts: unknown[]) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ...parts]] });
const schedulerTrust = {
  Statement: [
    {
      Action: 'sts:AssumeRole',
      Effect: 'Allow',
      Principal: { Service: 'scheduler.amazonaws.com' },
      Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' }, 'aws:SourceArn': { 'Fn::GetAtt': [GROUP, 'Arn'] } } },
    },
  ],
  Version: '2012-10-17',
};

describe('build schedules', () => {
  it('are in one schedule group named after the stack: a schedule per line, the cleanup and the sweeper, nothing else', () => {
    expect(resources('AWS::Scheduler::ScheduleGroup').map(([, g]) => g.Properties)).toEqual([{ Name: 'Farm' }]);
    const all = resources('AWS::Scheduler::Schedule').map(([, s]) => s.Properties);
    expect(all.map((s) => s.Name).sort()).toEqual(['build-ubuntu-jammy', 'build-ubuntu-noble', 'cleanup-amis', 'sweep-builders']);
    for (const s of all) {
      expect(s.GroupName).toEqual({ Ref: GROUP });
      expect(s.FlexibleTimeWindow).toEqual({ Mode: 'OFF' });
    }
  });

  it.each(LINES.map((l) => [l.line, l] as const))('%s: starts the runbook with the line’s form, in its time zone, with retries', (line, config) => {
    const s = schedule(`build-${line}`);
    expect(s).toMatchObject({
      ScheduleExpression: config.schedule,
      ScheduleExpressionTimezone: config.timeZone,
      State: config.enabled ? 'ENABLED' : 'DISABLED',
      Target: { RoleArn: { 'Fn::GetAtt': [logicalId('SchedulesBuildRole', 'AWS::IAM::Role'), 'Arn'] }, RetryPolicy: { MaximumEventAgeInSeconds: 6 * 3600, MaximumRetryAttempts: 10 } },
    });
    expect(resolved(s.Target.Arn)).toBe('arn:aws:scheduler:::aws-sdk:ssm:startAutomationExecution');
    expect(resolved(s.Target.Arn, { ...DEPLOYMENT, partition: 'aws-cn', region: 'cn-north-1' })).toBe('arn:aws-cn:scheduler:::aws-sdk:ssm:startAutomationExecution');
    // The StartAutomationExecution request, as deployed.
    expect(JSON.parse(resolved(s.Target.Input))).toEqual({ DocumentName: 'Farm-Build', Parameters: config.parameters });
    expect(s.Description).toBe(`Builds ${line} stemcells, versions ${config.versionFormat.format} (major ${config.versionFormat.major})`);
    // Not before its role may act.
    expect(template.Resources[scheduleIdNamed(`build-${line}`)].DependsOn).toContain(logicalId('SchedulesBuildRoleDefaultPolicy'));
  });

  it('hand the runbook lists of strings for every parameter', () => {
    const noble = JSON.parse(resolved(schedule('build-ubuntu-noble').Target.Input));
    expect(noble.Parameters).toEqual({ OperatingSystem: ['ubuntu-noble'], Infrastructures: ['aws', 'openstack'], Visibility: ['public'], ImdsV2: ['true'] });
    expect(JSON.parse(resolved(schedule('build-ubuntu-jammy').Target.Input)).Parameters).toEqual({ OperatingSystem: ['ubuntu-jammy'] });
  });

  it('act as a role that Scheduler assumes for this group only, and that may only start this runbook and pass its role to Systems Manager', () => {
    const roleId = logicalId('SchedulesBuildRole', 'AWS::IAM::Role');
    expect(template.Resources[roleId].Properties.AssumeRolePolicyDocument).toEqual(schedulerTrust);
    expect(template.Resources[roleId].Properties.ManagedPolicyArns).toBeUndefined();
    const ssmArn = (resource: unknown[]) => arn(':ssm:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ...resource);
    expect(statementsOf(roleId)).toEqual([
      { Action: 'ssm:StartAutomationExecution', Effect: 'Allow', Resource: [ssmArn([':automation-definition/', { Ref: 'Runbook' }, ':*']), ssmArn([':document/', { Ref: 'Runbook' }])] },
      { Action: 'iam:PassRole', Effect: 'Allow', Resource: { 'Fn::GetAtt': [logicalId('RunbookRole', 'AWS::IAM::Role'), 'Arn'] }, Condition: { StringEquals: { 'iam:PassedToService': 'ssm.amazonaws.com' } } },
    ]);
    expect(resolved(statementsOf(roleId)[0])).toMatchObject({
      Resource: ['arn:aws:ssm:eu-central-1:111122223333:automation-definition/Farm-Build:*', 'arn:aws:ssm:eu-central-1:111122223333:document/Farm-Build'],
    });
  });
});

describe('AMI cleanup schedule', () => {
  it('runs the cleanup daily at 04:00 UTC for real, on AMIs older than 7 days, as a role that may invoke only it', () => {
    const s = schedule('cleanup-amis');
    expect(s).toMatchObject({ ScheduleExpression: 'cron(0 4 * * ? *)', ScheduleExpressionTimezone: 'UTC', State: 'ENABLED' });
    const cleanupId = logicalId('CleanupAmis', 'AWS::Lambda::Function');
    expect(s.Target.Arn).toEqual({ 'Fn::GetAtt': [cleanupId, 'Arn'] });
    expect(JSON.parse(s.Target.Input)).toEqual({ dryRun: false, olderThanDays: 7 });
    expect(parseCleanupEvent(JSON.parse(s.Target.Input))).toEqual({ dryRun: false, olderThanDays: 7 });
    const roleId = s.Target.RoleArn['Fn::GetAtt'][0];
    expect(roleId).toMatch(/^SchedulesCleanupRole/);
    expect(template.Resources[roleId].Properties.AssumeRolePolicyDocument).toEqual(schedulerTrust);
    expect(statementsOf(roleId)).toEqual([{ Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: { 'Fn::GetAtt': [cleanupId, 'Arn'] } }]);
  });

  it('takes another time and age', () => {
    const t = build({ cleanupSchedule: 'cron(30 1 ? * SUN *)', cleanupOlderThanDays: 30 }).template;
    const s = Object.values(t.Resources).find((r) => r.Properties?.Name === 'cleanup-amis')!.Properties;
    expect(s.ScheduleExpression).toBe('cron(30 1 ? * SUN *)');
    expect(JSON.parse(s.Target.Input)).toEqual({ dryRun: false, olderThanDays: 30 });
  });
});

describe('builder sweeper', () => {
  const fnId = logicalId('SchedulesSweeper', 'AWS::Lambda::Function');
  const fn = template.Resources[fnId].Properties;

  it('is a farm function told the maximum build time, the grace and the topic', () => {
    expect(fn).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], Timeout: 120, Environment: { Variables: { MAX_BUILD_MINUTES: '240', FARM_STACK_NAME: 'Farm', GRACE_MINUTES: '30', TOPIC_ARN: { Ref: logicalId('Notifications', 'AWS::SNS::Topic') } } } });
    expect(template.Resources[logicalId('SchedulesSweeperLogs')].Properties.RetentionInDays).toBe(90);
    const t = build({ maxBuildTime: Duration.minutes(90), sweepGrace: Duration.minutes(15) }).template;
    const vars = Object.values(t.Resources).find((r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Environment?.Variables?.MAX_BUILD_MINUTES)!.Properties.Environment.Variables;
    expect(vars).toMatchObject({ MAX_BUILD_MINUTES: '90', GRACE_MINUTES: '15' });
  });

  it('may describe instances, terminate only farm-tagged ones, and publish only to the topic', () => {
    const roleId = fn.Role['Fn::GetAtt'][0];
    expect(template.Resources[roleId].Properties.ManagedPolicyArns).toBeUndefined();
    expect(statementsOf(roleId)).toEqual([
      { Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Effect: 'Allow', Resource: { 'Fn::GetAtt': [logicalId('SchedulesSweeperLogs'), 'Arn'] } },
      { Action: 'ec2:DescribeInstances', Effect: 'Allow', Resource: '*' },
      {
        Action: 'ec2:TerminateInstances',
        Effect: 'Allow',
        Resource: arn(':ec2:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':instance/*'),
        Condition: { StringEquals: { 'aws:ResourceTag/managed-by': 'stemcell-farm' } },
      },
      { Action: 'sns:Publish', Effect: 'Allow', Resource: { Ref: logicalId('Notifications', 'AWS::SNS::Topic') } },
      // The topic is encrypted: publishing needs its key.
      { Action: ['kms:Decrypt', 'kms:GenerateDataKey*'], Effect: 'Allow', Resource: { 'Fn::GetAtt': [logicalId('NotificationsKey'), 'Arn'] } },
    ]);
  });

  it('runs hourly, by a role that may invoke only the sweeper', () => {
    const s = schedule('sweep-builders');
    expect(s).toMatchObject({ ScheduleExpression: 'rate(1 hour)', State: 'ENABLED', Target: { Arn: { 'Fn::GetAtt': [fnId, 'Arn'] }, Input: '{}' } });
    const roleId = s.Target.RoleArn['Fn::GetAtt'][0];
    expect(roleId).toMatch(/^SchedulesSweepRole/);
    expect(template.Resources[roleId].Properties.AssumeRolePolicyDocument).toEqual(schedulerTrust);
    expect(statementsOf(roleId)).toEqual([{ Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: { 'Fn::GetAtt': [fnId, 'Arn'] } }]);
  });
});

describe('alarms', () => {
  it('tell the topic when Scheduler gives up on a target, and when the sweeper or the cleanup fails', () => {
    const topic = { Ref: logicalId('Notifications', 'AWS::SNS::Topic') };
    const alarms = resources('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    expect(alarms.map((a) => [a.Namespace, a.MetricName, a.Dimensions])).toEqual([
      ['AWS/Scheduler', 'InvocationDroppedCount', [{ Name: 'ScheduleGroup', Value: { Ref: GROUP } }]],
      ['AWS/Lambda', 'Errors', [{ Name: 'FunctionName', Value: { Ref: logicalId('SchedulesSweeper', 'AWS::Lambda::Function') } }]],
      ['AWS/Lambda', 'Errors', [{ Name: 'FunctionName', Value: { Ref: logicalId('CleanupAmis', 'AWS::Lambda::Function') } }]],
    ]);
    for (const a of alarms) {
      expect(a).toMatchObject({ AlarmActions: [topic], Statistic: 'Sum', Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'notBreaching', Period: 3600 });
    }
  });
});

describe('cdk-nag AwsSolutions', () => {
  /** Findings under the schedules, as rule ids; with `raw`, acknowledgments ignored. */
  function findings(app: App, raw = false): string[] {
    const checks = new AwsSolutionsChecks(app);
    if (raw) Object.defineProperty(checks, 'isAcknowledged', { value: () => false });
    return checks
      .validateScope(app)
      .violations.flatMap((v) => v.violatingResources.map((r) => ({ rule: v.ruleName, path: r.constructPath })))
      .filter((f) => (f.path ?? '').startsWith('Farm/Schedules/'))
      .map((f) => f.rule);
  }
  /** What the schedules acknowledge, by rule id. */
  function acknowledged(scope: IConstruct): string[] {
    return scope.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY).flatMap((m) => Object.keys(m.data as object)))
      .map((id) => id.replace(/^annotation::/i, ''));
  }

  it.each([true, false])('has no unacknowledged findings, and acknowledges only findings it has (encrypted topic: %s)', (encryptedTopic) => {
    const b = encryptedTopic ? built : build({}, { encryptedTopic });
    expect(findings(b.app)).toEqual([]);
    expect(new Set(findings(b.app, true))).toEqual(new Set(acknowledged(b.schedules)));
    expect(findings(b.app, true).length).toBeGreaterThanOrEqual(3);
  });
});

describe('BuildSchedules refuses', () => {
  it.each([
    ['a line twice', { lines: [...LINES, LINES[0]] }, /line ubuntu-noble is given twice/],
    ['a cleanup schedule with * in both day fields', { cleanupSchedule: 'cron(0 4 * * * *)' }, /cleanupSchedule: .*give '\?' in exactly one of day-of-month and day-of-week/],
    ['a cleanup schedule every ten minutes', { cleanupSchedule: 'rate(10 minutes)' }, /cleanupSchedule: .*more often than once an hour/],
    ['a negative age for the cleanup', { cleanupOlderThanDays: -1 }, /'olderThanDays' must be a whole number from 0 to 3650/],
  ])('%s', (_, overrides, message) => {
    expect(() => build(overrides)).toThrow(message);
  });
});

describe('the sweeper bundle', () => {
  it('is bundled by esbuild during synth, loads, and refuses to run without its configuration', async () => {
    // Inside the project, so the bundle finds the AWS SDK the Lambda runtime would provide.
    const outdir = fs.mkdtempSync(path.join(__dirname, '..', '..', '.bundle-test-schedules-'));
    try {
      const b = build({}, { bundleTo: outdir });
      b.app.synth();
      const fn = Template.fromStack(b.stack).toJSON().Resources[logicalId('SchedulesSweeper', 'AWS::Lambda::Function')];
      expect(fn.Metadata['aws:asset:is-bundled']).toBe(true);
      const { handler } = require(path.join(outdir, fn.Metadata['aws:asset:path'], 'index.js'));
      await expect(handler({}, { getRemainingTimeInMillis: () => 60_000 })).rejects.toThrow(/MAX_BUILD_MINUTES must be a whole number of minutes, got undefined; the farm stack sets it/);
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });
});

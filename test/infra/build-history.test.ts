/**
 * The farm's memory and voice as synthesized: the versions and builds tables
 * (keys, indexes, point-in-time recovery, encryption, kept on delete), the
 * encrypted topic and its optional subscription, the rule on the runbook's
 * final statuses and build-status's least privilege; Prepare's new grants.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { BUILDS_TABLE, FINAL_STATUSES } from '../../lib/farm/records';
import { farmApp } from '../helpers/farm';
import { list, templateReader } from '../helpers/template';

const t = Template.fromStack(farmApp().stack);
const { json, byPrefix, statementsOf, actions } = templateReader(t);
const actionsOf = (roleId: string): string[] => actions(statementsOf(roleId));

describe('the versions and builds tables', () => {
  it.each(['HistoryVersions', 'HistoryBuilds'])('%s is on demand, encrypted, recoverable to any point, protected and kept', (prefix) => {
    const [, table] = byPrefix('AWS::DynamoDB::Table', prefix);
    expect(table.Properties).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      DeletionProtectionEnabled: true,
    });
    expect(table.DeletionPolicy).toBe('Retain');
    expect(table.UpdateReplacePolicy).toBe('Retain');
  });

  it('keys the versions by line and entry, the builds by execution, indexed by line and by month', () => {
    expect(byPrefix('AWS::DynamoDB::Table', 'HistoryVersions')[1].Properties.KeySchema).toEqual([
      { AttributeName: 'line', KeyType: 'HASH' },
      { AttributeName: 'entry', KeyType: 'RANGE' },
    ]);
    const builds = byPrefix('AWS::DynamoDB::Table', 'HistoryBuilds')[1].Properties;
    expect(builds.KeySchema).toEqual([{ AttributeName: 'executionId', KeyType: 'HASH' }]);
    expect(builds.GlobalSecondaryIndexes).toEqual(
      Object.values(BUILDS_TABLE.indexes).map((i) => ({
        IndexName: i.name,
        KeySchema: [
          { AttributeName: i.partitionKey, KeyType: 'HASH' },
          { AttributeName: i.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      })),
    );
    t.hasOutput('BuildsTableName', {});
    t.hasOutput('VersionsTableName', {});
  });

  it("lets Prepare read and conditionally write the versions, and write the build's first record", () => {
    const [roleId] = byPrefix('AWS::IAM::Role', 'BuildRunbookPrepareRole');
    const [versions] = byPrefix('AWS::DynamoDB::Table', 'HistoryVersions');
    const [builds] = byPrefix('AWS::DynamoDB::Table', 'HistoryBuilds');
    const dynamo = statementsOf(roleId).filter((s) => list(s.Action).some((a) => a.startsWith('dynamodb:')));
    expect(dynamo).toEqual([
      { Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], Resource: { 'Fn::GetAtt': [versions, 'Arn'] } },
      { Effect: 'Allow', Action: 'dynamodb:PutItem', Resource: { 'Fn::GetAtt': [builds, 'Arn'] } },
    ]);
    const [, fn] = byPrefix('AWS::Lambda::Function', 'BuildRunbookPrepare');
    expect((fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables).toMatchObject({ VERSIONS_TABLE: { Ref: versions }, BUILDS_TABLE: { Ref: builds }, VERSION_FORMATS: expect.any(String) });
  });
});

describe('notifications', () => {
  it('go to a topic encrypted with a rotated key, published only over TLS', () => {
    const [keyId, key] = byPrefix('AWS::KMS::Key', 'NotificationsKey');
    expect(key.Properties.EnableKeyRotation).toBe(true);
    const [topicId, topic] = byPrefix('AWS::SNS::Topic', 'NotificationsTopic');
    expect(topic.Properties.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
    const [, policy] = byPrefix('AWS::SNS::TopicPolicy', 'NotificationsTopicPolicy');
    expect(JSON.stringify(policy.Properties.PolicyDocument)).toContain('"aws:SecureTransport":"false"');
    expect((policy.Properties.Topics as unknown[])[0]).toEqual({ Ref: topicId });
    t.resourceCountIs('AWS::SNS::Subscription', 0);
    t.hasOutput('NotificationTopicArn', {});
  });

  it("take this account's CloudWatch alarms: the topic's policy and its key let CloudWatch publish, for this account's alarms only", () => {
    const [keyId, key] = byPrefix('AWS::KMS::Key', 'NotificationsKey');
    const [topicId] = byPrefix('AWS::SNS::Topic', 'NotificationsTopic');
    const conditions = {
      StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
      ArnLike: { 'aws:SourceArn': { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':cloudwatch:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':alarm:*']] } },
    };
    const [, policy] = byPrefix('AWS::SNS::TopicPolicy', 'NotificationsTopicPolicy');
    expect((policy.Properties.PolicyDocument as { Statement: unknown[] }).Statement).toContainEqual(expect.objectContaining({ Effect: 'Allow', Action: 'sns:Publish', Principal: { Service: 'cloudwatch.amazonaws.com' }, Resource: { Ref: topicId }, Condition: conditions }));
    expect((key.Properties.KeyPolicy as { Statement: unknown[] }).Statement).toContainEqual(expect.objectContaining({ Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey*'], Principal: { Service: 'cloudwatch.amazonaws.com' }, Condition: conditions }));
    // Every alarm of the farm goes to that topic.
    const alarms = Object.values(json.Resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm');
    expect(alarms.map((a) => (a.Properties.AlarmDescription as string).split(':')[0])).toHaveLength(5);
    for (const a of alarms) expect(a.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
    expect(keyId).toBeDefined();
  });

  it("keep what build-status failed on: Lambda's retries end in the Undelivered queue, and both its errors and that queue raise alarms", () => {
    const [fnId] = byPrefix('AWS::Lambda::Function', 'NotificationsBuildStatus');
    const [queueId] = byPrefix('AWS::SQS::Queue', 'NotificationsUndelivered');
    const [, config] = byPrefix('AWS::Lambda::EventInvokeConfig', 'NotificationsBuildStatusEventInvokeConfig');
    expect(config.Properties).toMatchObject({ FunctionName: { Ref: fnId }, MaximumRetryAttempts: 2, DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } } } });
    const alarms = Object.values(json.Resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm').map((a) => a.Properties);
    expect(alarms).toContainEqual(expect.objectContaining({ MetricName: 'Errors', Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId } }] }));
    expect(alarms).toContainEqual(expect.objectContaining({ MetricName: 'ApproximateNumberOfMessagesVisible', Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }] }));
  });

  it('come with a dashboard of the builds, charting every stemcell line from the metrics build-status writes', () => {
    t.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    t.hasOutput('DashboardName', {});
    const body = JSON.stringify(byPrefix('AWS::CloudWatch::Dashboard', 'Dashboard')[1].Properties.DashboardBody);
    for (const line of ['ubuntu-jammy', 'ubuntu-noble', 'debian-bookworm']) expect(body).toContain(line);
    expect(body).toContain('StemcellFarm');
  });

  it('subscribe the configured email address', () => {
    const withEmail = Template.fromStack(farmApp({ notificationEmail: 'platform@example.com' }).stack);
    withEmail.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'platform@example.com' });
    expect(() => farmApp({ notificationEmail: 'platform at example' })).toThrow(/cdk context 'notificationEmail': expected an email address/);
  });

  it("follow the runbook's final statuses only, through build-status, with retries and a dead-letter queue", () => {
    const [, rule] = byPrefix('AWS::Events::Rule', 'NotificationsStatusRule');
    const [docId] = byPrefix('AWS::SSM::Document', 'BuildRunbookDocument');
    expect(rule.Properties.EventPattern).toEqual({
      source: ['aws.ssm'],
      'detail-type': ['EC2 Automation Execution Status-change Notification'],
      detail: { Definition: [{ Ref: docId }], Status: [...FINAL_STATUSES] },
    });
    const [fnId] = byPrefix('AWS::Lambda::Function', 'NotificationsBuildStatus');
    const [queueId, queue] = byPrefix('AWS::SQS::Queue', 'NotificationsUndelivered');
    expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
    expect(rule.Properties.Targets).toEqual([
      expect.objectContaining({ Arn: { 'Fn::GetAtt': [fnId, 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 21600 }, DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId, 'Arn'] } } }),
    ]);
  });

  it('build-status may read executions, results and light stemcells, write records, publish and send what it failed on to its queue, and nothing else', () => {
    const [roleId] = byPrefix('AWS::IAM::Role', 'NotificationsBuildStatusRole');
    expect(actionsOf(roleId)).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'kms:Decrypt', 'kms:GenerateDataKey*', 'logs:CreateLogStream', 'logs:PutLogEvents', 's3:GetObject', 's3:ListBucket', 'sns:Publish', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage', 'ssm:GetAutomationExecution']);
    const statements = statementsOf(roleId);
    const s3Get = statements.find((s) => list(s.Action).includes('s3:GetObject'))!;
    expect(JSON.stringify(s3Get.Resource)).toContain('/builds/*/result.json');
    expect(JSON.stringify(s3Get.Resource)).toContain('/*/light-bosh-stemcell-*.tgz');
    expect(JSON.stringify(statements.find((s) => list(s.Action).includes('ssm:GetAutomationExecution'))!.Resource)).toContain(':automation-execution/*');
    const [topicId] = byPrefix('AWS::SNS::Topic', 'NotificationsTopic');
    expect(statements.find((s) => list(s.Action).includes('sns:Publish'))!.Resource).toEqual({ Ref: topicId });
  });
});
